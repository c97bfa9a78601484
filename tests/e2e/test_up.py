"""``orchestra up`` in a subprocess, on the process runtime, driven by the real kubectl.

The cluster runs the repository's examples (``examples/web`` and ``examples/job``); every check
reads the cluster through kubectl, as a user would.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from orchestra.cli.demo import http_get
from orchestra.cli.up import READY_MESSAGE
from orchestra.controllers.manager import CONTROLLERS
from tests.support.kubectl import Kubectl, find_kubectl, requires_kubectl

pytestmark = [requires_kubectl, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
APP = "examples/web/app.py"
#: Upper bound on any wait (a failure report, not a performance assertion).
WAIT = 60.0


class UpProcess:
    """``orchestra up`` running in a subprocess, its output collected line by line."""

    def __init__(self, data_dir: Path, *args: str) -> None:
        self.data_dir = data_dir
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orchestra", "up", "--data-dir", str(data_dir), "--port", "0", *args],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for_line(self, prefix: str) -> str:
        """The first output line starting with ``prefix``; fails with the output if it never comes."""
        deadline = time.monotonic() + WAIT
        for line in self.lines:
            if line.startswith(prefix):
                return line
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if line.startswith(prefix):
                return line
        pytest.fail(f"orchestra up never printed {prefix!r}; output:\n" + "\n".join(self.lines))

    def output(self) -> str:
        """Everything printed so far (after the process ended: everything)."""
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return "\n".join(self.lines)
            if line is None:
                return "\n".join(self.lines)
            self.lines.append(line)

    def terminate(self) -> int:
        """SIGTERM, then the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail("orchestra up did not exit within a minute of SIGTERM:\n" + self.output())

    def children(self, marker: str) -> list[int]:
        """The pids of this process's children whose command line holds ``marker``."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and _parent(entry) == self.process.pid and marker in _cmdline(entry):
                found.append(int(entry.name))
        return found


def _parent(entry: Path) -> int | None:
    try:
        return int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _cmdline(entry: Path) -> str:
    try:
        return (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def eventually(check: Callable[[], Any], what: str | Callable[[], str]) -> Any:
    """Poll ``check()`` until it returns something truthy; fail naming ``what`` (or ``what()``) and the last value."""
    deadline = time.monotonic() + WAIT
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    pytest.fail(f"{what() if callable(what) else what} did not happen within {WAIT:g} s (last: {last!r})")


def _ready(pod: dict) -> bool:
    return pod["status"].get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or ())


@pytest.fixture(scope="module")
def up(tmp_path_factory) -> UpProcess:
    """``orchestra up -f examples/web -f examples/job``, ready."""
    process = UpProcess(tmp_path_factory.mktemp("up"), "-f", "examples/web", "-f", "examples/job")
    process.wait_for_line(READY_MESSAGE)
    yield process
    process.terminate()


@pytest.fixture(scope="module")
def kubectl(up, tmp_path_factory) -> Kubectl:
    """kubectl with the kubeconfig ``orchestra up`` wrote."""
    return Kubectl(find_kubectl(), up.data_dir / "kubeconfig", tmp_path_factory.mktemp("kubectl-home"))


def _get(kubectl: Kubectl, *args: str) -> dict:
    return json.loads(kubectl.run("get", *args, "-o", "json").stdout)


def _web_pods(kubectl: Kubectl) -> list[dict]:
    return [p for p in _get(kubectl, "pods", "-l", "app=web")["items"] if not p["metadata"].get("deletionTimestamp")]


def _ready_web_pods(kubectl: Kubectl, count: int) -> list[dict] | None:
    pods = _web_pods(kubectl)
    return pods if len(pods) == count and all(_ready(p) for p in pods) else None


def test_prints_how_to_use_it(up):
    up.wait_for_line("Use it:")
    text = up.output()
    assert f"kubeconfig          {up.data_dir / 'kubeconfig'}" in text
    assert "deployment.apps/web created" in text
    assert "service/web created" in text
    assert "job.batch/work created" in text


def test_orchestra_kubeconfig_prints_the_written_kubeconfig(up):
    printed = subprocess.run([sys.executable, "-m", "orchestra", "kubeconfig", "--data-dir", str(up.data_dir)],
                             capture_output=True, text=True, check=True).stdout
    assert printed == (up.data_dir / "kubeconfig").read_text()
    assert "server: https://127.0.0.1:" in printed


def test_the_node_is_ready(kubectl):
    node = _get(kubectl, "node", "node-1")
    conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conditions["Ready"] == "True"


def test_the_example_pods_run_ready_and_answer_with_their_names(kubectl):
    pods = eventually(lambda: _ready_web_pods(kubectl, 3), "3 ready web pods")
    for pod in pods:
        status, body = _http(pod["status"]["podIP"], 8080)
        assert (status, body.strip()) == (200, f"hello from {pod['metadata']['name']}")


def test_a_deleted_pod_is_replaced(kubectl):
    before = eventually(lambda: _ready_web_pods(kubectl, 3), "3 ready web pods")
    victim = before[0]["metadata"]["name"]
    kubectl.run("delete", "pod", victim)
    after = eventually(lambda: _ready_web_pods(kubectl, 3), "a replacement for the deleted pod")
    assert victim not in {p["metadata"]["name"] for p in after}


def test_scale_up_and_down(kubectl):
    kubectl.run("scale", "deployment", "web", "--replicas=5")
    eventually(lambda: _ready_web_pods(kubectl, 5), "5 ready web pods")
    kubectl.run("scale", "deployment", "web", "--replicas=3")
    eventually(lambda: _ready_web_pods(kubectl, 3), "back to 3 web pods")
    deployment = _get(kubectl, "deployment", "web")
    assert deployment["status"]["readyReplicas"] == 3


@pytest.mark.skipif("job" not in CONTROLLERS, reason="this installation has no Job controller")
def test_the_job_completes(kubectl):
    seen: list[dict] = []

    def complete() -> dict | None:
        job = _get(kubectl, "job", "work")
        seen[:] = [job["status"]]
        done = any(c["type"] == "Complete" and c["status"] == "True" for c in job["status"].get("conditions") or ())
        return job if done else None

    job = eventually(complete, lambda: f"job work Complete (its status: {seen}; pods: "
                                       f"{kubectl.run('get', 'pods', '-l', 'job-name=work').stdout})")
    assert job["status"]["succeeded"] == 5


def test_requests_to_the_cluster_ip_reach_every_pod(up, kubectl):
    if "proxy               running" not in up.output() or "endpoints" not in CONTROLLERS:
        pytest.skip("this installation has no service proxy or no Endpoints controller")
    eventually(lambda: _ready_web_pods(kubectl, 3), "3 ready web pods")
    cluster_ip = _get(kubectl, "service", "web")["spec"]["clusterIP"]
    names = {p["metadata"]["name"] for p in _web_pods(kubectl)}

    def every_pod_answered() -> set[str] | None:
        answers = set()
        for _ in range(30):
            try:
                status, body = _http(cluster_ip, 80)
            except OSError:
                continue
            if status == 200:
                answers.add(body.strip().removeprefix("hello from "))
        return answers if answers == names else None

    eventually(every_pod_answered, f"answers from all of {sorted(names)} through {cluster_ip}:80")


def _http(host: str, port: int) -> tuple[int, str]:
    import asyncio

    return asyncio.run(http_get(host, port))


def test_sigterm_stops_the_cluster_and_its_pods(tmp_path):
    process = UpProcess(tmp_path, "-f", "examples/web")
    process.wait_for_line(READY_MESSAGE)
    pids = eventually(lambda: (found if len(found := process.children(APP)) == 3 else None), "3 app processes")
    assert process.terminate() == 0
    assert [pid for pid in pids if _running(pid)] == []
    assert "shutting down" in process.output()


def test_a_restart_keeps_the_cluster_state(tmp_path):
    first = UpProcess(tmp_path, "--nodes", "0")
    first.wait_for_line(READY_MESSAGE)
    home = tmp_path / "home"
    home.mkdir()
    kubectl = Kubectl(find_kubectl(), tmp_path / "kubeconfig", home)
    kubectl.run("create", "configmap", "kept", "--from-literal=k=v")
    assert first.terminate() == 0
    second = UpProcess(tmp_path, "--nodes", "0")
    second.wait_for_line(READY_MESSAGE)
    try:
        assert _get(kubectl, "configmap", "kept")["data"] == {"k": "v"}
    finally:
        second.terminate()
