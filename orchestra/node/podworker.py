"""One worker per pod: sandbox, init containers in order, app containers, status, stop, eviction.

The worker owns everything the agent does for one pod (by uid):

1. starts the pod sandbox (pod IP, emptyDir volumes);
2. runs the init containers one after another, each to success (a failing one is retried per
   the restart policy; with ``Never`` the pod fails);
3. runs the app containers side by side, each in a :class:`~orchestra.node.runner.ContainerRunner`;
4. once every container is done for good (``Succeeded``/``Failed`` pods) stops the sandbox,
   keeping its logs until the pod is deleted;
5. writes the pod's status through ``pods/status`` whenever it changed (one write at a time,
   coalescing bursts);
6. when the pod gets a ``deletionTimestamp``: SIGTERM to every container, SIGKILL after the
   grace period, the final status, then deletes the pod with grace 0 (the API server keeps a
   graceful pod until its node confirms this way; a failed confirmation is tried again). A
   termination still under way :data:`TERMINATION_WARNING_MARGIN` seconds after its grace period
   is logged, naming the step it is in;
7. :meth:`PodWorker.evict` ends the pod as the kubelet's eviction manager does (phase
   ``Failed``, reason ``Evicted``, a ``DisruptionTarget`` condition, containers killed at once).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from typing import Any, Awaitable, Callable

import attrs

from orchestra.aio import wait_for
from orchestra.client import ApiStatusError, Client, TransportError
from orchestra.node.backoff import Backoff
from orchestra.node.events import NORMAL, WARNING, EventRecorder, container_field_path, pod_reference, rfc3339
from orchestra.node.runner import ContainerRunner
from orchestra.node.runtime import (
    REASON_EVICTED,
    ContainerRuntimeError,
    EmptyDirLimitExceeded,
    EmptyDirVolume,
    Runtime,
    Sandbox,
    SandboxSpec,
    container_log_path,
)
from orchestra.node.status import (
    WAITING_CONTAINER_CREATING,
    WAITING_POD_INITIALIZING,
    ContainerView,
    PodView,
    build_pod_status,
    waiting,
)

__all__ = ["PodContext", "PodWorker", "empty_dir_volumes", "DEFAULT_GRACE_SECONDS", "TERMINATION_WARNING_MARGIN"]

log = logging.getLogger(__name__)

#: ``terminationGracePeriodSeconds`` when the pod does not say.
DEFAULT_GRACE_SECONDS = 30.0
#: Seconds past its grace period after which a pod's termination still under way is logged (a warning
#: naming the step it is in): the containers must be dead by then and the deletion soon confirmed.
TERMINATION_WARNING_MARGIN = 15.0
_STATUS_RETRY = 1.0
#: Longest wait between two tries to confirm a deletion the API server refused or did not answer.
_CONFIRM_RETRY_MAX = 30.0


@attrs.define
class PodContext:
    """What every pod worker of one agent shares."""

    client: Client
    runtime: Runtime
    events: EventRecorder
    node_name: str
    host_ip: str
    crash_backoff: Backoff
    image_backoff: Backoff
    #: ``await get_object(kind, namespace, name)`` → dict or None (ConfigMaps, Secrets for env).
    get_object: Callable[[str, str, str], Awaitable[dict | None]]
    #: Called with the worker once its pod is gone and its sandbox removed.
    on_removed: Callable[["PodWorker"], None] = lambda worker: None
    #: Where the agent writes pods' configMap volumes (``<root>/<uid>/volumes/…``); None: it cannot provide them.
    pods_root: str | None = None


def empty_dir_volumes(pod: dict) -> list[EmptyDirVolume]:
    """The pod's emptyDir volumes with their sizeLimit in bytes."""
    from orchestra.api.quantity import Quantity, QuantityError

    volumes = []
    for volume in (pod.get("spec") or {}).get("volumes") or ():
        if "emptyDir" not in volume:
            continue
        source = volume.get("emptyDir") or {}
        limit = source.get("sizeLimit")
        limit_bytes = None
        if limit is not None:
            try:
                limit_bytes = Quantity.decode(limit).value()
            except QuantityError:
                limit_bytes = None
        volumes.append(EmptyDirVolume(volume.get("name") or "", limit_bytes, str(limit) if limit is not None else None,
                                      source.get("medium") or ""))
    return volumes


class PodWorker:
    """Runs one pod on this node (see the module docstring).

    :attr:`pod` is the informer's object, in the API server's process the server's own:
    the worker and its runners read it and never change it (nor anything nested in it).
    """

    def __init__(self, context: PodContext, pod: dict) -> None:
        self.context = context
        self.pod = pod
        meta = pod.get("metadata") or {}
        self.uid: str = meta.get("uid") or ""
        self.namespace: str = meta.get("namespace") or "default"
        self.name: str = meta.get("name") or ""
        spec = pod.get("spec") or {}
        has_init = bool(spec.get("initContainers"))
        self.view = PodView(host_ip=context.host_ip)
        self.view.init_containers = [ContainerView(c.get("name") or "", c.get("image") or "", init=True,
                                                   state=waiting(WAITING_POD_INITIALIZING))
                                     for c in spec.get("initContainers") or ()]
        self.view.containers = [ContainerView(c.get("name") or "", c.get("image") or "",
                                              state=waiting(WAITING_POD_INITIALIZING if has_init
                                                            else WAITING_CONTAINER_CREATING))
                                for c in spec.get("containers") or ()]
        self.sandbox: Sandbox | None = None
        self.runners: dict[str, ContainerRunner] = {}
        self.stopping = False
        self.deleted = False
        self._stop_event = asyncio.Event()
        self._dirty = asyncio.Event()
        self._version = 0
        self._written_version = 0
        self._written_status: dict | None = None
        self._written_pod: dict | None = None
        self._flushed = asyncio.Condition()
        self._lifecycle: asyncio.Task[None] | None = None
        self._status_task: asyncio.Task[None] | None = None
        self._ending: asyncio.Task[None] | None = None
        #: What the termination is doing now (named by the warning when it takes too long).
        self._ending_step = ""
        self._runner_tasks: list[asyncio.Task[Any]] = []
        self._cleaned = False

    # ------------------------------------------------------------------ public

    @property
    def key(self) -> str:
        """``namespace/name`` of the pod."""
        return f"{self.namespace}/{self.name}"

    def start(self) -> None:
        """Start running the pod and writing its status."""
        loop = asyncio.get_running_loop()
        self.view.start_time = self.view.start_time or rfc3339()
        self._status_task = loop.create_task(self._write_statuses(), name=f"status-{self.key}")
        self._lifecycle = loop.create_task(self._run(), name=f"pod-{self.key}")
        self.changed()
        if (self.pod.get("metadata") or {}).get("deletionTimestamp"):
            self.update(self.pod)

    def update(self, pod: dict) -> None:
        """The pod object changed on the server (a new spec version, readiness gates, deletion)."""
        self.pod = pod
        if (pod.get("metadata") or {}).get("deletionTimestamp") and self._ending is None:
            self._ending = asyncio.get_running_loop().create_task(self._terminate(delete=True),
                                                                  name=f"terminate-{self.key}")
        else:
            self.changed()

    def removed(self, pod: dict) -> None:
        """The pod is gone from the server (force delete, or our own confirmation)."""
        self.pod = pod
        self.deleted = True
        if self._ending is None:
            self._ending = asyncio.get_running_loop().create_task(self._terminate(delete=False),
                                                                  name=f"terminate-{self.key}")
        else:
            asyncio.get_running_loop().create_task(self._cleanup_after(self._ending))

    async def evict(self, message: str) -> None:
        """End the pod as the eviction manager does: kill its containers at once, phase Failed, reason Evicted."""
        if self.stopping:
            return
        self.context.events.record(pod_reference(self.pod), WARNING, REASON_EVICTED, message)
        self.view.terminal_phase = "Failed"
        self.view.reason = REASON_EVICTED
        self.view.message = message
        self.view.disruption = {"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
                                "lastTransitionTime": rfc3339(), "reason": "TerminationByKubelet",
                                "message": message}
        await self._stop_containers(grace=0.0, announce=False)
        self.changed()

    async def check_volumes(self) -> None:
        """Evict the pod when an emptyDir is over its sizeLimit."""
        if self.sandbox is None or self.stopping:
            return
        try:
            await self.context.runtime.check_volume_limits(self.sandbox.id)
        except EmptyDirLimitExceeded as exc:
            await self.evict(exc.message)
        except LookupError:
            pass

    async def stop(self) -> None:
        """Stop the worker's tasks without touching containers (the agent is shutting down)."""
        for task in (self._lifecycle, self._status_task, self._ending, *self._runner_tasks):
            if task is not None and not task.done():
                task.cancel()
        for runner in self.runners.values():
            await runner.stop()
        for task in (self._lifecycle, self._status_task, self._ending, *self._runner_tasks):
            if task is not None:
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass

    def log_path(self, container: str, previous: bool = False) -> str | None:
        """The log file of ``container``'s current (or previous) instance; None when there is none."""
        runner = self.runners.get(container)
        if runner is None or self.sandbox is None or runner.instances == 0:
            return None
        attempt = runner.instances - (2 if previous else 1)
        if attempt < 0:
            return None
        return container_log_path(self.sandbox.log_directory, container, attempt)

    def container_running(self, container: str) -> bool:
        """Whether the current instance of ``container`` is running."""
        view = next((v for v in self.view.containers + self.view.init_containers if v.name == container), None)
        return view is not None and view.running

    def termination_grace(self) -> float:
        """Seconds between SIGTERM and SIGKILL: the deletion's grace period, else the pod's."""
        meta = self.pod.get("metadata") or {}
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = (self.pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        return DEFAULT_GRACE_SECONDS if grace is None else max(0.0, float(grace))

    # ------------------------------------------------------------------ status

    def changed(self) -> None:
        """Something in the pod's status may have changed: write it soon."""
        self._version += 1
        self._dirty.set()

    async def flush_status(self, timeout: float = 5.0) -> None:
        """Wait until the status as it is now has been written (or ``timeout`` passed)."""
        wanted = self._version

        async def written() -> None:
            async with self._flushed:
                await self._flushed.wait_for(lambda: self._written_version >= wanted or self.deleted)

        try:
            await wait_for(written(), timeout)
        except asyncio.TimeoutError:
            pass

    def status(self) -> dict:
        """The status the worker would write now."""
        return build_pod_status(self._newest_pod(), self.view, terminating=self.stopping)

    def _newest_pod(self) -> dict:
        # Conditions keep their lastTransitionTime from the pod's current status. The watched copy
        # may lag behind this worker's own last write; built on it, a condition's transition time
        # flips between two seconds write after write (a write storm that starved 30,000-pod runs).
        written = self._written_pod
        if written is None or _revision(self.pod) >= _revision(written):
            return self.pod
        return written

    async def _write_statuses(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if self.deleted:
                return
            version = self._version
            try:
                fresh = self.status()
                if fresh != self._written_status:
                    self._written_pod = await self.context.client.patch(
                        "pods", self.name, [{"op": "add", "path": "/status", "value": fresh}], namespace=self.namespace,
                        patch_type="json", subresource="status", raw=True)
                    self._written_status = fresh
            except ApiStatusError as exc:
                if exc.code == 404:
                    return
                log.warning("pod %s: status write failed: %s", self.key, exc)
            except (TransportError, OSError) as exc:
                log.warning("pod %s: status write failed: %s", self.key, exc)
            except Exception:
                # not to die unseen: this task is the pod's only status writer (flush_status waits for it)
                log.exception("pod %s: status write failed", self.key)
            else:
                async with self._flushed:
                    self._written_version = max(self._written_version, version)
                    self._flushed.notify_all()
                continue
            await asyncio.sleep(_STATUS_RETRY)  # then try again
            self._dirty.set()

    # ------------------------------------------------------------------ lifecycle

    async def sleep(self, seconds: float) -> bool:
        """Sleep unless the pod stops first; returns whether the pod is still running."""
        if seconds <= 0:
            return not self.stopping
        try:
            await wait_for(self._stop_event.wait(), seconds)
        except asyncio.TimeoutError:
            pass
        return not self.stopping

    async def _start_sandbox(self) -> bool:
        spec = SandboxSpec(self.namespace, self.name, self.uid, hostname=(self.pod.get("spec") or {}).get("hostname")
                           or self.name, empty_dirs=empty_dir_volumes(self.pod))
        delay = 1.0
        while not self.stopping:
            try:
                self.sandbox = await self.context.runtime.start_sandbox(spec)
                self.view.pod_ip = self.sandbox.pod_ip
                self.view.sandbox_ready = True
                self.changed()
                return True
            except (ContainerRuntimeError, OSError, RuntimeError) as exc:
                message = getattr(exc, "message", None) or str(exc)
                self.context.events.record(pod_reference(self.pod), WARNING, "FailedCreatePodSandBox",
                                           f"Failed to create pod sandbox: {message}")
                if not await self.sleep(delay):
                    return False
                delay = min(delay * 2, 60.0)
        return False

    async def _run(self) -> None:
        try:
            if not await self._start_sandbox():
                return
            spec = self.pod.get("spec") or {}
            for container, view in zip(spec.get("initContainers") or (), self.view.init_containers):
                runner = self.runners[view.name] = ContainerRunner(self, container, view, init=True)
                code = await runner.run()
                if self.stopping:
                    return
                if code != 0:
                    return  # restartPolicy Never: the pod has failed
            for view in self.view.containers:
                if view.state.get("waiting", {}).get("reason") == WAITING_POD_INITIALIZING:
                    view.state = waiting(WAITING_CONTAINER_CREATING)
            self.changed()
            loop = asyncio.get_running_loop()
            for container, view in zip(spec.get("containers") or (), self.view.containers):
                runner = self.runners[view.name] = ContainerRunner(self, container, view)
                self._runner_tasks.append(loop.create_task(runner.run(), name=f"container-{self.key}-{view.name}"))
            await asyncio.gather(*self._runner_tasks)
            if not self.stopping and self.sandbox is not None:
                # every container is done for good: free the pod's address, keep its logs
                await self.context.runtime.stop_sandbox(self.sandbox.id, timeout=0)
                self.view.sandbox_ready = False
                self.changed()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pod %s: worker failed", self.key)

    async def _stop_containers(self, grace: float, announce: bool = True) -> None:
        """Stop every container: SIGTERM, SIGKILL after ``grace`` seconds; record how they ended."""
        self.stopping = True
        self._stop_event.set()
        for runner in self.runners.values():
            self._ending_step = f"stopping the probes of container {runner.name}"
            await runner.stop()
        if announce:
            for runner in self.runners.values():
                if runner.view.running:
                    ref = pod_reference(self.pod, container_field_path(runner.name, runner.init))
                    self.context.events.record(ref, NORMAL, "Killing", f"Stopping container {runner.name}")
        if self.sandbox is not None:
            self._ending_step = f"stopping the containers (SIGTERM, SIGKILL after {grace:g}s)"
            try:
                await self.context.runtime.stop_sandbox(self.sandbox.id, timeout=grace)
            except LookupError:
                pass
        if self._lifecycle is not None:
            self._ending_step = "waiting for the pod's containers to end"
            try:
                await wait_for(asyncio.shield(self._lifecycle), 5.0)
            except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
                self._lifecycle.cancel()
            if self.sandbox is not None:
                # a container created while the pod was being stopped is stopped now
                try:
                    await self.context.runtime.stop_sandbox(self.sandbox.id, timeout=0)
                except LookupError:
                    pass
        for view in self.view.containers + self.view.init_containers:
            if "waiting" in view.state and view.last_state.get("terminated") and view.state["waiting"].get(
                    "reason") != WAITING_CONTAINER_CREATING:
                view.state = {"terminated": view.last_state["terminated"]}
            elif view.running:
                view.state = {"terminated": {"exitCode": 137, "reason": "Error", "finishedAt": rfc3339(),
                                             "startedAt": view.state["running"].get("startedAt"),
                                             "containerID": view.container_id}}
            view.ready = False
            view.started = False
        self.view.sandbox_ready = False
        self.changed()

    async def _terminate(self, delete: bool) -> None:
        grace = self.termination_grace()
        watchdog = asyncio.get_running_loop().call_later(grace + TERMINATION_WARNING_MARGIN,
                                                         self._warn_unfinished, grace)
        try:
            if not self.stopping:
                await self._stop_containers(grace)
            if delete and not self.deleted:
                self._ending_step = "writing the pod's final status"
                await self.flush_status()
                self._ending_step = "confirming the deletion"
                delay = _STATUS_RETRY
                while not await self._confirm_deletion():
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _CONFIRM_RETRY_MAX)
            if self.deleted:
                self._ending_step = "removing the sandbox"
                await self._cleanup()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pod %s: termination failed", self.key)
            self._ending = None
        finally:
            watchdog.cancel()

    async def _confirm_deletion(self) -> bool:
        """Delete the pod with grace 0, as the API server waits for; False when it must be tried again."""
        if self.deleted:
            return True
        try:
            await self.context.client.delete("pods", self.name, namespace=self.namespace,
                                             grace_period_seconds=0, preconditions={"uid": self.uid}, raw=True)
        except ApiStatusError as exc:
            if exc.code in (404, 409):  # gone already, or a new pod of the same name
                return True
            log.warning("pod %s: confirming deletion failed: %s", self.key, exc)
            return False
        except (TransportError, OSError) as exc:
            log.warning("pod %s: confirming deletion failed: %s", self.key, exc)
            return False
        return True

    def _warn_unfinished(self, grace: float) -> None:
        log.warning("pod %s: termination not finished %gs after it began (grace period %gs); still %s",
                    self.key, grace + TERMINATION_WARNING_MARGIN, grace, self._ending_step or "starting")

    async def _cleanup_after(self, ending: asyncio.Task[None]) -> None:
        try:
            await ending
        except (asyncio.CancelledError, Exception):
            pass
        await self._cleanup()

    async def _cleanup(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        if self._status_task is not None and not self._status_task.done():
            self._dirty.set()
            self._status_task.cancel()
        if self.sandbox is not None:
            try:
                await self.context.runtime.remove_sandbox(self.sandbox.id)
            except LookupError:
                pass
            self.sandbox = None
        if self.context.pods_root is not None:
            shutil.rmtree(os.path.join(self.context.pods_root, self.uid), ignore_errors=True)
        self.context.crash_backoff.forget_prefix(self.uid + "/")
        self.context.on_removed(self)


def _revision(pod: dict) -> int:
    """The pod's resourceVersion as a number (-1 when it is not one)."""
    try:
        return int((pod.get("metadata") or {}).get("resourceVersion") or -1)
    except ValueError:
        return -1
