"""Zero-downtime rollouts and pod replacement on a real ``orchestra up`` (process runtime), driven by kubectl.

One ``orchestra up`` runs the example web application (``examples/web``: 3 replicas behind a
readiness probe, Service ``web``) while a thread sends requests to the Service's ClusterIP the
whole time, each on a new connection. Every rollout — a changed environment variable by
``kubectl apply``, then by ``kubectl set env``, then ``kubectl rollout undo`` — must pass with no
failed request; deleting a pod must fail none either, and killing a pod's process may fail only
the requests that were open on it.
"""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml

from orchestra.cli.up import READY_MESSAGE
from orchestra.controllers.manager import CONTROLLERS
from tests.e2e.test_up import REPO, UpProcess, _get, _ready, eventually
from tests.support.kubectl import Kubectl, find_kubectl, requires_kubectl

pytestmark = [
    requires_kubectl,
    pytest.mark.slow,
    pytest.mark.skipif("endpoints" not in CONTROLLERS, reason="this installation has no Endpoints controller"),
]

APP = "examples/web/app.py"
#: Seconds one request may take before it counts as failed.
REQUEST_TIMEOUT = 5.0


class RequestLoop:
    """Sends ``GET /`` to ``host:port`` on a new connection after another, recording each outcome."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        #: ``(monotonic time, body)`` of every answered request.
        self.answers: list[tuple[float, str]] = []
        #: ``(monotonic time, what went wrong)`` of every failed request.
        self.failures: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "RequestLoop":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(REQUEST_TIMEOUT * 2)

    def _run(self) -> None:
        while not self._stop.is_set():
            connection = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
            began = time.monotonic()
            try:
                connection.request("GET", "/")
                response = connection.getresponse()
                body = response.read().decode()
                if response.status == 200:
                    self.answers.append((began, body.strip()))
                else:
                    self.failures.append((began, f"HTTP {response.status}: {body.strip()}"))
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append((began, f"{type(exc).__name__}: {exc}"))
            finally:
                connection.close()
            time.sleep(0.01)

    def since(self, began: float) -> tuple[list[str], list[str]]:
        """The answers and the failures of the requests sent since ``began``."""
        return ([body for at, body in list(self.answers) if at >= began],
                [what for at, what in list(self.failures) if at >= began])


@pytest.fixture(scope="module")
def up(tmp_path_factory) -> UpProcess:
    """``orchestra up`` with no workload yet, ready."""
    process = UpProcess(tmp_path_factory.mktemp("rollout"))
    process.wait_for_line(READY_MESSAGE)
    yield process
    process.terminate()


@pytest.fixture(scope="module")
def kubectl(up, tmp_path_factory) -> Kubectl:
    """kubectl with the kubeconfig ``orchestra up`` wrote."""
    return Kubectl(find_kubectl(), up.data_dir / "kubeconfig", tmp_path_factory.mktemp("kubectl-home"))


def _live_pods(kubectl: Kubectl) -> list[dict]:
    return [p for p in _get(kubectl, "pods", "-l", "app=web")["items"] if not p["metadata"].get("deletionTimestamp")]


def _settled(kubectl: Kubectl) -> list[dict] | None:
    """The web pods once exactly 3 exist, all Ready, all of one template; else None."""
    pods = _get(kubectl, "pods", "-l", "app=web")["items"]
    hashes = {p["metadata"]["labels"].get("pod-template-hash") for p in pods}
    if len(pods) == 3 and len(hashes) == 1 and all(_ready(p) for p in pods):
        return pods
    return None


def _env(pod: dict, name: str) -> str | None:
    for variable in pod["spec"]["containers"][0].get("env") or ():
        if variable["name"] == name:
            return variable.get("value")
    return None


def _replica_set_of_revision(kubectl: Kubectl, revision: int) -> dict:
    for rs in _get(kubectl, "replicasets", "-l", "app=web")["items"]:
        if rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision") == str(revision):
            return rs
    raise AssertionError(f"no ReplicaSet of web has revision {revision}")


def _rollout_status(kubectl: Kubectl) -> str:
    return kubectl.run("rollout", "status", "deployment/web", "--timeout=60s").stdout


@pytest.fixture(scope="module")
def service(up, kubectl, tmp_path_factory) -> tuple[str, int]:
    """The web application deployed by ``kubectl apply``, all 3 pods answering through the ClusterIP."""
    kubectl.run("apply", "-f", str(REPO / "examples/web"))
    eventually(lambda: _settled(kubectl), "3 ready web pods")
    cluster_ip = _get(kubectl, "service", "web")["spec"]["clusterIP"]
    names = {p["metadata"]["name"] for p in _live_pods(kubectl)}
    seen: set[str] = set()

    def every_pod_answers() -> bool:
        with RequestLoop(cluster_ip, 80) as loop:
            time.sleep(0.5)
        seen.update(body.rsplit(" ", 1)[-1] for _, body in loop.answers)
        return names <= seen

    eventually(every_pod_answers, lambda: f"answers from all of {sorted(names)} (seen {sorted(seen)})")
    return cluster_ip, 80


def _greetings(answers: list[str]) -> set[str]:
    return {body.split(" from ", 1)[0] for body in answers}


def test_rollouts_by_apply_set_env_and_undo_fail_no_request(up, kubectl, service, tmp_path):
    manifest = yaml.safe_load((REPO / "examples/web/deployment.yaml").read_text())
    manifest["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "GREETING", "value": "hi"})
    changed = tmp_path / "deployment.yaml"
    changed.write_text(yaml.safe_dump(manifest))

    with RequestLoop(*service) as loop:
        began = time.monotonic()
        kubectl.run("apply", "-f", str(changed))
        assert "successfully rolled out" in _rollout_status(kubectl)
        pods = eventually(lambda: _settled(kubectl), "3 ready pods of the applied template")
        assert {_env(p, "GREETING") for p in pods} == {"hi"}
        eventually(lambda: _greetings(loop.since(time.monotonic() - 0.5)[0]) == {"hi"}, "answers greeting 'hi'")

        kubectl.run("set", "env", "deployment/web", "GREETING=howdy")
        assert "successfully rolled out" in _rollout_status(kubectl)
        pods = eventually(lambda: _settled(kubectl), "3 ready pods after set env")
        assert {_env(p, "GREETING") for p in pods} == {"howdy"}
        eventually(lambda: _greetings(loop.since(time.monotonic() - 0.5)[0]) == {"howdy"}, "answers greeting 'howdy'")

        history = kubectl.run("rollout", "history", "deployment/web").stdout
        revisions = [line.split()[0] for line in history.splitlines()[2:] if line.strip()]
        assert revisions == ["1", "2", "3"], history

        second = _replica_set_of_revision(kubectl, 2)
        kubectl.run("rollout", "undo", "deployment/web")
        assert "successfully rolled out" in _rollout_status(kubectl)
        pods = eventually(lambda: _settled(kubectl), "3 ready pods after undo")
        assert {_env(p, "GREETING") for p in pods} == {"hi"}
        assert {p["metadata"]["labels"]["pod-template-hash"] for p in pods} == {
            second["metadata"]["labels"]["pod-template-hash"]}
        eventually(lambda: _greetings(loop.since(time.monotonic() - 0.5)[0]) == {"hi"}, "answers greeting 'hi' again")
        answers, failures = loop.since(began)

    assert failures == []
    assert len(answers) > 50  # the loop ran through every rollout
    history = kubectl.run("rollout", "history", "deployment/web").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "3", "4"], history
    assert _get(kubectl, "deployment", "web")["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"


def _replaced(kubectl: Kubectl, gone: str) -> list[dict] | None:
    """The 3 live (not terminating) web pods once all are Ready and ``gone`` is not among them."""
    pods = _live_pods(kubectl)
    names = {p["metadata"]["name"] for p in pods}
    return pods if len(pods) == 3 and gone not in names and all(_ready(p) for p in pods) else None


def test_a_deleted_pod_is_replaced_and_no_request_fails(up, kubectl, service):
    victim = eventually(lambda: _settled(kubectl), "3 ready web pods")[0]["metadata"]["name"]
    with RequestLoop(*service) as loop:
        time.sleep(0.3)
        began = time.monotonic()
        kubectl.run("delete", "pod", victim, "--wait=false")
        pods = eventually(lambda: _replaced(kubectl, victim), f"a ready replacement for {victim}")
        replaced_after = time.monotonic() - began
        eventually(lambda: victim not in {p["metadata"]["name"] for p in _get(kubectl, "pods", "-l", "app=web")["items"]},
                   f"{victim} gone")
        time.sleep(0.3)
        answers, failures = loop.since(began)
    print(f"deleted pod replaced and Ready {replaced_after:.2f} s after kubectl delete")
    assert failures == []
    assert {body.rsplit(" ", 1)[-1] for body in answers} >= {p["metadata"]["name"] for p in pods} - {victim}


def test_a_killed_pod_process_fails_only_its_open_requests(up, kubectl, service):
    pods = eventually(lambda: _settled(kubectl), "3 ready web pods")
    by_ip = {p["status"]["podIP"]: p["metadata"]["name"] for p in pods}
    processes = {pid: ip for pid in up.children(APP)
                 if (ip := _pod_ip_of(pid)) in by_ip}
    assert len(processes) == 3, processes
    pid, ip = next(iter(processes.items()))
    victim = by_ip[ip]
    restarts = {p["metadata"]["name"]: p["status"]["containerStatuses"][0]["restartCount"] for p in pods}
    with RequestLoop(*service) as loop:
        time.sleep(0.3)
        began = time.monotonic()
        os.kill(pid, signal.SIGKILL)

        def restarted_and_ready() -> bool:
            pod = _get(kubectl, "pod", victim)
            return _ready(pod) and pod["status"]["containerStatuses"][0]["restartCount"] > restarts[victim]

        eventually(restarted_and_ready, f"{victim}'s container restarted and Ready")
        ready_after = time.monotonic() - began
        time.sleep(0.3)
        answers, failures = loop.since(began)
    print(f"killed container restarted and Ready {ready_after:.2f} s after SIGKILL")
    # one request at a time: at most the one open on the killed process when it died fails
    assert len(failures) <= 1, failures
    assert victim in {body.rsplit(" ", 1)[-1] for body in answers}


def _pod_ip_of(pid: int) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for entry in environ:
        if entry.startswith(b"POD_IP="):
            return entry[len(b"POD_IP="):].decode()
    return None
