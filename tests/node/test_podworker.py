"""PodWorker: the status it writes builds on the newest copy of its pod it has seen; a deletion ends the pod.

The deletion tests run a worker on a real API server (memory store) and the simulated runtime, and
deliver the pod's deletion to the worker themselves, as the agent's informer does, at the exact
point each of them is about.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import signal
from typing import AsyncIterator

import attrs

from orchestra.apiserver import APIServer
from orchestra.apiserver.request import UserInfo
from orchestra.client import ApiStatusError, Client, TransportError
from orchestra.client.transport import InProcessTransport
from orchestra.node import podworker
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


class HeldStopRuntime(SimulatedRuntime):
    """The simulated runtime, except that a graceful stop of a sandbox waits until :attr:`release` is set."""

    def __init__(self, config: SimulatedConfig) -> None:
        super().__init__(config)
        self.stopping = asyncio.Event()
        self.release = asyncio.Event()

    async def stop_sandbox(self, sandbox_id: str, timeout: float = 30.0) -> None:
        """Hang (until released) before stopping the sandbox, when ``timeout`` is not 0."""
        if timeout > 0:
            self.stopping.set()
            await self.release.wait()
        await super().stop_sandbox(sandbox_id, timeout)


class FaultyTransport(InProcessTransport):
    """The in-process transport, except that requests :meth:`fail` names raise an error instead."""

    def __init__(self, server: APIServer, user: UserInfo) -> None:
        super().__init__(server, user)
        self.faults: dict[tuple[str, str], list] = {}
        self.calls: collections.Counter[tuple[str, str]] = collections.Counter()

    def fail(self, method: str, path: str, error: Exception, times: int = 1) -> None:
        """The next ``times`` requests ``method path`` raise ``error``."""
        self.faults[method, path] = [error, times]

    def _check(self, method: str, path: str) -> None:
        self.calls[method, path] += 1
        fault = self.faults.get((method, path))
        if fault is not None and fault[1] > 0:
            fault[1] -= 1
            raise fault[0]

    async def request(self, method: str, path: str, **kwargs):
        """Raise an armed fault, or pass the request on."""
        self._check(method, path)
        return await super().request(method, path, **kwargs)

    async def request_without_body(self, method: str, path: str, **kwargs):
        """Raise an armed fault, or pass the request on."""
        self._check(method, path)
        return await super().request_without_body(method, path, **kwargs)


POD_PATH = "/api/v1/namespaces/default/pods/web"


@attrs.define
class Running:
    """A worker running pod ``web`` on a real API server."""

    client: Client
    runtime: SimulatedRuntime
    worker: PodWorker

    async def delete(self, grace: int) -> dict:
        """Delete the pod gracefully through the API; returns it with its deletionTimestamp (not yet delivered)."""
        deleting = await self.client.delete("pods", "web", namespace="default", grace_period_seconds=grace, raw=True)
        assert deleting["metadata"]["deletionTimestamp"]
        return deleting

    async def ended(self) -> None:
        """Wait for the worker's termination to end (a deadline against a hang, not a timing assertion)."""
        await asyncio.wait_for(asyncio.shield(self.worker._ending), 60.0)

    async def pod_gone(self) -> bool:
        """Whether the pod is gone from the API server."""
        try:
            await self.client.get("pods", "web", namespace="default", raw=True)
        except ApiStatusError as exc:
            if exc.code == 404:
                return True
            raise
        return False


@contextlib.asynccontextmanager
async def running_pod(tmp_path, runtime: SimulatedRuntime, container: dict,
                      transport: type[InProcessTransport] = InProcessTransport) -> AsyncIterator[Running]:
    """Pod ``web`` with ``container``, bound to node-1 and run by a worker on ``runtime``."""
    server = await APIServer.create("memory://", data_dir=tmp_path / "cluster")
    client = Client(transport(server, UserInfo("admin")))

    async def no_objects(kind: str, namespace: str, name: str) -> None:
        return None

    context = PodContext(client=client, runtime=runtime, events=EventRecorder(client, "node-1"), node_name="node-1",
                         host_ip="127.0.0.1", crash_backoff=Backoff(10.0, 300.0, 600.0),
                         image_backoff=Backoff(10.0, 300.0), get_object=no_objects)
    pod = await client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
                               "spec": {"nodeName": "node-1", "containers": [container]}}, raw=True)
    worker = PodWorker(context, pod)
    worker.start()
    try:
        yield Running(client, runtime, worker)
    finally:
        await worker.stop()
        await runtime.close()
        await server.close()


def _simulated(runtime: type[SimulatedRuntime], tmp_path) -> SimulatedRuntime:
    return runtime(SimulatedConfig(log_root=str(tmp_path / "logs")))

async def wait_for(check, what: str) -> None:
    """Poll ``check()`` until it is true; fail after a generous deadline (no timing is asserted)."""
    deadline = asyncio.get_running_loop().time() + 60.0
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_a_deletion_that_arrives_as_a_probe_attempt_completes_still_ends_the_pod(tmp_path):
    # The deletion's first step stops the container's probes. On Python 3.11, when that stop lands
    # after a probe attempt completed but before the probe's task resumed, asyncio.wait_for drops
    # the cancellation: the probe probed on, the worker waited for it for ever, and the pod was
    # never killed, never given a terminating status, never deleted (a rollout left a 4th pod).
    runtime = _simulated(HeldProbeRuntime, tmp_path)
    container = {"name": "app", "image": "busybox",
                 "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1}}
    async with running_pod(tmp_path, runtime, container) as running:
        await runtime.asked.wait()  # the container runs and its readiness probe's first attempt is under way
        deleting = await running.delete(grace=30)
        runtime.answer.set_result(None)  # the attempt completes ...
        running.worker.update(deleting)  # ... and the deletion arrives in the same turn of the loop
        await running.ended()
        stopped = await runtime.inspect_container(running.worker.runners["app"].container_id)
        assert stopped.state is ContainerState.EXITED and stopped.exit_code == 128 + signal.SIGTERM
        assert await running.pod_gone()  # the worker confirmed the deletion


async def test_a_termination_past_its_grace_period_is_reported_with_the_step_it_is_in(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(podworker, "TERMINATION_WARNING_MARGIN", 0.0)
    runtime = _simulated(HeldStopRuntime, tmp_path)
    async with running_pod(tmp_path, runtime, {"name": "app", "image": "busybox"}) as running:
        await wait_for(lambda: running.worker.container_running("app"), "the container running")
        running.worker.update(await running.delete(grace=1))
        await runtime.stopping.wait()
        with caplog.at_level(logging.WARNING, logger="orchestra.node.podworker"):
            await wait_for(lambda: any("termination not finished" in r.getMessage() for r in caplog.records),
                           "the warning")
        (warning,) = [r.getMessage() for r in caplog.records if "termination not finished" in r.getMessage()]
        assert warning == ("pod default/web: termination not finished 1s after it began (grace period 1s); "
                           "still stopping the containers (SIGTERM, SIGKILL after 1s)")
        runtime.release.set()
        await running.ended()
        assert await running.pod_gone()


async def test_a_deletion_confirmation_that_does_not_get_through_is_tried_again(tmp_path):
    # It used to be logged and dropped: the pod then kept its deletionTimestamp for ever.
    runtime = _simulated(SimulatedRuntime, tmp_path)
    async with running_pod(tmp_path, runtime, {"name": "app", "image": "busybox"}, FaultyTransport) as running:
        await wait_for(lambda: running.worker.container_running("app"), "the container running")
        deleting = await running.delete(grace=30)
        transport = running.client.transport
        transport.fail("DELETE", POD_PATH, TransportError("connection reset by peer"))
        running.worker.update(deleting)
        await running.ended()
        assert transport.calls["DELETE", POD_PATH] == 3  # the test's own, the lost confirmation, the one tried again
        assert await running.pod_gone()


async def test_an_unexpected_error_writing_the_status_is_logged_and_the_writer_goes_on(tmp_path, caplog):
    # It used to end the status writer without a word: no status was written for the pod again.
    runtime = _simulated(SimulatedRuntime, tmp_path)
    async with running_pod(tmp_path, runtime, {"name": "app", "image": "busybox"}, FaultyTransport) as running:
        transport = running.client.transport
        transport.fail("PATCH", POD_PATH + "/status", ValueError("an unforeseen failure"))

        async def running_status() -> bool:
            pod = await running.client.get("pods", "web", namespace="default", raw=True)
            return any("running" in c["state"] for c in pod.get("status", {}).get("containerStatuses") or ())

        with caplog.at_level(logging.ERROR, logger="orchestra.node.podworker"):
            deadline = asyncio.get_running_loop().time() + 60.0
            while not await running_status():
                assert asyncio.get_running_loop().time() < deadline, "the running status was never written"
                await asyncio.sleep(0.05)
        (record,) = [r for r in caplog.records if "status write failed" in r.getMessage()]
        assert record.exc_info[0] is ValueError
