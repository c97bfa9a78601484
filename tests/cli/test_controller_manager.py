"""``orchestra controller-manager``: option checks, and a real process serving health and working."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from tests.support.cli_server import deployment


def test_unknown_controller_is_a_usage_error(orchestra):
    outcome = orchestra("controller-manager", "--controllers", "replicaset,bogus")
    assert outcome.code == 2
    assert "unknown controller 'bogus'" in outcome.err and "Traceback" not in outcome.err


def test_leader_election_timing_is_checked(orchestra):
    outcome = orchestra("controller-manager", "--leader-elect", "--leader-elect-lease-duration", "1",
                        "--leader-elect-renew-deadline", "5")
    assert outcome.code == 2 and "lease duration > renew deadline > retry period" in outcome.err


def test_controller_settings_are_checked(orchestra):
    outcome = orchestra("controller-manager", "--concurrent-syncs", "bogus=2")
    assert outcome.code == 2 and "--concurrent-syncs" in outcome.err and "unknown controller 'bogus'" in outcome.err
    outcome = orchestra("controller-manager", "--concurrent-syncs", "deployment")
    assert outcome.code == 2 and "expected CONTROLLER=N" in outcome.err
    outcome = orchestra("controller-manager", "--node-monitor-grace-period", "-1")
    assert outcome.code == 2 and "--node-monitor-grace-period" in outcome.err and "Traceback" not in outcome.err


def test_controller_settings_from_the_options():
    from orchestra.cli.controller_manager import controller_settings

    settings = controller_settings(5.0, ("deployment=7", "job=2"))
    assert settings.node_monitor_grace_period == 5.0
    assert settings.constructor_kwargs("deployment")["workers"] == 7
    assert settings.constructor_kwargs("nodelifecycle")["grace_period"] == 5.0


def test_runs_controllers_and_serves_health(cluster, unique):
    name = unique("cm")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestra", "controller-manager", "--kubeconfig", str(cluster.kubeconfig),
         "--bind-address", "127.0.0.1", "--port", "0", "--leader-elect", "--leader-elect-lease-duration", "3",
         "--leader-elect-renew-deadline", "2", "--leader-elect-retry-period", "0.5"],
        stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stderr.readline()
        match = re.search(r"health and metrics on (http://\S+?);", line)
        assert match, line
        url = match.group(1)
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:
            assert response.read() == b"ok"

        async def create(server):
            from orchestra.apiserver.request import UserInfo
            from orchestra.client import Client

            client = Client.in_process(server, UserInfo("test", role="admin"))
            await client.create(deployment(name, replicas=2))

        async def count(server):
            from orchestra.apiserver.request import UserInfo
            from orchestra.client import Client

            client = Client.in_process(server, UserInfo("test", role="admin"))
            return len((await client.list("pods", namespace="default", label_selector=f"app={name}")).items)

        cluster.call(create)
        deadline = time.monotonic() + 30  # a deadlock guard, not a measured expectation
        while cluster.call(count) != 2:
            assert time.monotonic() < deadline, "the controller manager never created the pods"
            time.sleep(0.1)
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
            text = response.read().decode()
        assert 'leader_election_master_status{name="kube-controller-manager"} 1' in text
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
