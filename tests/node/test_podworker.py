"""PodWorker: the status it writes builds on the newest copy of its pod it has seen; a deletion ends the pod."""

from __future__ import annotations

import asyncio
import signal

import pytest

from orchestra.apiserver import APIServer
from orchestra.apiserver.request import UserInfo
from orchestra.client import ApiStatusError, Client
from orchestra.node.backoff import Backoff
from orchestra.node.events import EventRecorder
from orchestra.node.podworker import PodContext, PodWorker
from orchestra.node.runtime import ContainerState, ExecResult
from orchestra.plugins.runtimes.simulated import SimulatedConfig, SimulatedRuntime


def _pod(resource_version: str, initialized_at: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "uid": "u-1", "resourceVersion": resource_version},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "busybox"}]},
        "status": {"conditions": [{"type": "Initialized", "status": "True", "lastTransitionTime": initialized_at}]},
    }


def _worker(watched: dict) -> PodWorker:
    # status() reads only the pod, the view and the host IP: the other parts are never touched.
    context = PodContext(client=None, runtime=None, events=None, node_name="node-1", host_ip="10.0.0.1",
                         crash_backoff=None, image_backoff=None, get_object=None)
    return PodWorker(context, watched)


def _initialized_at(status: dict) -> str:
    (condition,) = [c for c in status["conditions"] if c["type"] == "Initialized"]
    return condition["lastTransitionTime"]


def test_a_lagging_watched_pod_does_not_undo_the_workers_own_last_write():
    worker = _worker(_pod("5", "2026-01-01T00:00:00Z"))
    worker._written_pod = _pod("7", "2026-01-01T00:00:01Z")
    assert _initialized_at(worker.status()) == "2026-01-01T00:00:01Z"


def test_a_watched_pod_newer_than_the_last_write_wins():
    worker = _worker(_pod("9", "2026-01-01T00:00:02Z"))
    worker._written_pod = _pod("7", "2026-01-01T00:00:01Z")
    assert _initialized_at(worker.status()) == "2026-01-01T00:00:02Z"


def test_before_any_write_the_watched_pod_is_used():
    worker = _worker(_pod("5", "2026-01-01T00:00:00Z"))
    assert _initialized_at(worker.status()) == "2026-01-01T00:00:00Z"


class HeldProbeRuntime(SimulatedRuntime):
    """The simulated runtime, except that the first exec (a probe's first attempt) answers when the
    test says, awaited through ``asyncio.wait_for`` as the process runtime awaits its command."""

    def __init__(self, config: SimulatedConfig) -> None:
        super().__init__(config)
        self.asked = asyncio.Event()
        self.answer: asyncio.Future | None = None

    async def exec_in_container(self, container_id: str, command: list[str], timeout: float = 10.0) -> ExecResult:
        """Hold the first command until :attr:`answer` is set; answer the others at once."""
        if self.answer is None:
            self.answer = asyncio.get_running_loop().create_future()
            self.asked.set()
            await asyncio.wait_for(self.answer, timeout)
        return await super().exec_in_container(container_id, command, timeout)


async def test_a_deletion_that_arrives_as_a_probe_attempt_completes_still_ends_the_pod(tmp_path):
    # The deletion's first step stops the container's probes. On Python 3.11, when that stop lands
    # after a probe attempt completed but before the probe's task resumed, asyncio.wait_for drops
    # the cancellation: the probe probed on, the worker waited for it for ever, and the pod was
    # never killed, never given a terminating status, never deleted (a rollout left a 4th pod).
    server = await APIServer.create("memory://", data_dir=tmp_path / "cluster")
    client = Client.in_process(server, UserInfo("admin"))
    runtime = HeldProbeRuntime(SimulatedConfig(log_root=str(tmp_path / "logs")))

    async def no_objects(kind: str, namespace: str, name: str) -> None:
        return None

    context = PodContext(client=client, runtime=runtime, events=EventRecorder(client, "node-1"), node_name="node-1",
                         host_ip="127.0.0.1", crash_backoff=Backoff(10.0, 300.0, 600.0),
                         image_backoff=Backoff(10.0, 300.0), get_object=no_objects)
    container = {"name": "app", "image": "busybox",
                 "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1}}
    pod = await client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
                               "spec": {"nodeName": "node-1", "containers": [container]}}, raw=True)
    worker = PodWorker(context, pod)
    worker.start()
    try:
        await runtime.asked.wait()  # the container runs and its readiness probe's first attempt is under way
        deleting = await client.delete("pods", "web", namespace="default", grace_period_seconds=30, raw=True)
        assert deleting["metadata"]["deletionTimestamp"]
        runtime.answer.set_result(None)  # the attempt completes ...
        worker.update(deleting)  # ... and the deletion arrives in the same turn of the loop
        await asyncio.wait_for(asyncio.shield(worker._ending), 60.0)  # a deadline against a hang, not a timing
        stopped = await runtime.inspect_container(worker.runners["app"].container_id)
        assert stopped.state is ContainerState.EXITED and stopped.exit_code == 128 + signal.SIGTERM
        with pytest.raises(ApiStatusError) as gone:
            await client.get("pods", "web", namespace="default", raw=True)
        assert gone.value.code == 404  # the worker confirmed the deletion
    finally:
        await worker.stop()
        await runtime.close()
        await server.close()
