"""``orchestra proxy``: option errors, and a real process forwarding a Service's ClusterIP."""

from __future__ import annotations

import os
import re
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request

from orchestra.apiserver.request import UserInfo
from orchestra.client import Client


def test_unknown_mode_is_a_clean_error(orchestra):
    outcome = orchestra("proxy", "--mode", "ipvs")
    assert outcome.code == 1
    assert "no proxy mode called 'ipvs' (known modes: userspace)" in outcome.err and "Traceback" not in outcome.err


class _Greeter(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(b"backend\n")


def test_proxy_forwards_cluster_ip_to_endpoints(cluster, unique):
    backend = socketserver.ThreadingTCPServer(("127.115.0.1", 0), _Greeter)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    name = unique("px")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestra", "proxy", "--kubeconfig", str(cluster.kubeconfig), "--healthz-port", "0"],
        stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stderr.readline()
        match = re.search(r"health on (http://\S+?/healthz)", line)
        assert match, line
        with urllib.request.urlopen(match.group(1), timeout=10) as response:
            assert response.read() == b"ok"

        async def create(server):
            client = Client.in_process(server, UserInfo("admin"))
            service = await client.create({
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
                "spec": {"selector": {"app": name}, "ports": [{"name": "tcp", "port": 18200}]},
            }, raw=True)
            await client.create({
                "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": "default"},
                "subsets": [{"addresses": [{"ip": "127.115.0.1"}],
                             "ports": [{"name": "tcp", "port": backend.server_address[1]}]}],
            })
            return service["spec"]["clusterIP"]

        cluster_ip = cluster.call(create)
        deadline = time.monotonic() + 30  # a deadlock guard, not a measured expectation
        while True:
            try:
                with socket.create_connection((cluster_ip, 18200), timeout=10) as conn:
                    if conn.makefile("rb").readline() == b"backend\n":
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the proxy never forwarded the ClusterIP"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        backend.shutdown()
        backend.server_close()
