"""``orchestra scheduler``: bad configurations refused up front; a real run binds a pod over HTTPS."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from orchestra.apiserver.request import UserInfo
from orchestra.client import Client


def test_bad_config_is_refused_with_file_and_field(orchestra, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("profiles:\n  - plugins: {score: {enabled: [{name: Nope}]}}\n")
    out = orchestra("scheduler", "--config", str(path))
    assert out.code == 1
    assert f"Error: {path}: profiles[0]: profile default-scheduler: plugins.score: unknown plugin 'Nope'" in out.err
    assert "Traceback" not in out.err


def test_a_bad_profile_is_refused_before_the_kubeconfig_is_read(orchestra, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("profiles:\n  - plugins: {score: {enabled: [{name: NodeAffinity, weight: 300}]}}\n")
    out = orchestra("scheduler", "--kubeconfig", str(tmp_path / "absent-kubeconfig"), "--config", str(path),
                   kubeconfig=False)
    assert out.code == 1
    assert "plugins.score.enabled[0] (NodeAffinity): weight must be an integer 1..100, not 300" in out.err
    assert "kubeconfig" not in out.err and "Traceback" not in out.err


def test_unreadable_config(orchestra, tmp_path):
    out = orchestra("scheduler", "--config", str(tmp_path / "absent.yaml"))
    assert out.code == 1 and "cannot read scheduler configuration" in out.err


def test_scheduler_binds_a_pod_and_stops_on_sigterm(cluster, unique):
    node, pod = unique("node"), unique("pod")

    def call(fn):
        return cluster.call(lambda server: fn(Client.in_process(server, UserInfo("admin"))))

    call(lambda c: c.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node},
                             "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"}}}))
    call(lambda c: c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod, "namespace": "default"},
                             "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
    proc = subprocess.Popen([sys.executable, "-m", "orchestra", "scheduler", "--kubeconfig", str(cluster.kubeconfig)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        bound_to = None
        while time.monotonic() < deadline and bound_to is None:
            got = call(lambda c: c.get("pods", pod, namespace="default", raw=True))
            bound_to = got["spec"].get("nodeName")
            if bound_to is None:
                time.sleep(0.1)
        assert bound_to is not None, "the scheduler did not bind the pod"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "orchestra scheduler running: profiles default-scheduler" in err


def test_leader_election_options_are_checked(orchestra):
    out = orchestra("scheduler", "--leader-elect-lease-duration", "5")
    assert out.code == 1 and "--leader-elect-* options need --leader-elect" in out.err
    out = orchestra("scheduler", "--leader-elect", "--leader-elect-lease-duration", "1")
    assert out.code == 1 and "lease_duration > renew_deadline > retry_period" in out.err
    assert "Traceback" not in out.err


def test_an_elected_scheduler_holds_the_lease_binds_and_gives_the_lease_up(cluster, unique):
    node, pod = unique("node"), unique("pod")

    def call(fn):
        return cluster.call(lambda server: fn(Client.in_process(server, UserInfo("admin"))))

    call(lambda c: c.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node},
                             "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"}}}))
    call(lambda c: c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod, "namespace": "default"},
                             "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
    lease_name = unique("lease")
    proc = subprocess.Popen([sys.executable, "-m", "orchestra", "scheduler", "--kubeconfig", str(cluster.kubeconfig),
                             "--leader-elect", "--leader-elect-resource-name", lease_name,
                             "--leader-elect-lease-duration", "3", "--leader-elect-renew-deadline", "2",
                             "--leader-elect-retry-period", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        bound_to = None
        while time.monotonic() < deadline and bound_to is None:
            got = call(lambda c: c.get("pods", pod, namespace="default", raw=True))
            bound_to = got["spec"].get("nodeName")
            if bound_to is None:
                time.sleep(0.1)
        assert bound_to == node, "the elected scheduler did not bind the pod"
        lease = call(lambda c: c.get("leases", lease_name, namespace="kube-system", raw=True))
        assert lease["spec"]["holderIdentity"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"leader election for kube-system/{lease_name} as {lease['spec']['holderIdentity']}" in err
    released = call(lambda c: c.get("leases", lease_name, namespace="kube-system", raw=True))
    assert released["spec"]["holderIdentity"] == ""
