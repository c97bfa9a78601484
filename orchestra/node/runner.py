"""One container of a pod through its life: create, start, probe, wait, restart with back-off.

A :class:`ContainerRunner` drives successive instances of one container of a pod, as the
kubelet does for a container name:

* before each instance its environment is built (:mod:`orchestra.node.environment`); a failure
  is a ``CreateContainerConfigError`` waiting reason, retried with back-off;
* ``create_container`` may fail with ``ErrImagePull`` — the next tries wait in
  ``ImagePullBackOff`` (10 s doubling to 5 min per image) — or another runtime reason;
* ``start_container`` may fail (``RunContainerError``): that instance counts as exited with
  code 128 (``StartError``) and the restart policy applies, the waiting reason staying
  ``RunContainerError`` with the runtime's message during the back-off;
* a running instance gets its probes (startup first; liveness and readiness once started);
  a failed liveness or startup probe kills it (SIGTERM, the grace period, SIGKILL);
* after an exit the restart policy decides (init containers restart unless the pod's policy is
  Never, and only on failure); restarts follow the crash back-off (immediate, then 10 s
  doubling to 5 min; reset after 10 min of clean running), shown as ``CrashLoopBackOff``.

``restartCount`` is the number of instances created before the current one, so the log of the
previous instance is ``<restartCount - 1>.log``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import TYPE_CHECKING, Any

from orchestra.api.quantity import Quantity, QuantityError
from orchestra.node.environment import CreateContainerConfigError, PodAddresses, build_environment, expand
from orchestra.node.events import NORMAL, WARNING, container_field_path, pod_reference, rfc3339
from orchestra.node.probes import LIVENESS, READINESS, STARTUP, ProbeTarget, ProbeWorker, probe_label
from orchestra.node.runtime import (
    REASON_ERR_IMAGE_PULL,
    REASON_IMAGE_PULL_BACKOFF,
    ContainerRuntimeError,
    ContainerSpec,
    ExitStatus,
    ImagePullError,
    ResourceLimits,
    VolumeMount,
)
from orchestra.node.status import WAITING_CRASH_LOOP_BACK_OFF, ContainerView, waiting
from orchestra.node.volumes import materialize_config_map, volume_directory

if TYPE_CHECKING:
    from orchestra.node.podworker import PodWorker

__all__ = ["ContainerRunner", "should_restart", "container_limits", "UnsupportedVolumeError"]

log = logging.getLogger(__name__)


class UnsupportedVolumeError(CreateContainerConfigError):
    """A volume mount names a volume of a kind the agent cannot provide."""


def should_restart(restart_policy: str, exit_code: int, init: bool) -> bool:
    """Whether a container that exited with ``exit_code`` is started again."""
    if init:
        return restart_policy != "Never" and exit_code != 0
    if restart_policy == "Always":
        return True
    if restart_policy == "OnFailure":
        return exit_code != 0
    return False


def container_limits(container: dict) -> ResourceLimits:
    """``resources.limits`` in runtime units (CPU millicores, memory bytes); bad values are ignored."""
    limits = (container.get("resources") or {}).get("limits") or {}
    cpu = memory = None
    try:
        if "cpu" in limits:
            cpu = Quantity.decode(limits["cpu"]).milli_value()
        if "memory" in limits:
            memory = Quantity.decode(limits["memory"]).value()
    except QuantityError:
        pass
    return ResourceLimits(cpu, memory)


def _stamp(when: dt.datetime | None) -> str | None:
    return rfc3339(when) if when is not None else None


class ContainerRunner:
    """Runs one container of a pod until it is done for good or the pod stops (see the module docstring)."""

    def __init__(self, worker: "PodWorker", container: dict, view: ContainerView, init: bool = False) -> None:
        self.worker = worker
        self.container = container
        self.view = view
        self.init = init
        self.name = container.get("name") or ""
        self.container_id: str | None = None
        self.instances = 0
        self._probes: list[ProbeWorker] = []
        self._killing: asyncio.Task[Any] | None = None
        self._finished_at: float | None = None
        self._start_error = False

    # ------------------------------------------------------------------ helpers

    @property
    def key(self) -> str:
        """The crash back-off key: ``<pod uid>/<container name>``."""
        return f"{self.worker.uid}/{self.name}"

    def _event(self, event_type: str, reason: str, message: str) -> None:
        ref = pod_reference(self.worker.pod, container_field_path(self.name, self.init))
        self.worker.context.events.record(ref, event_type, reason, message)

    def _pod_label(self) -> str:
        meta = self.worker.pod.get("metadata") or {}
        return f"{meta.get('name')}_{meta.get('namespace')}({meta.get('uid')})"

    async def _mounts(self) -> list[VolumeMount]:
        sandbox = self.worker.sandbox
        assert sandbox is not None
        specs = (self.worker.pod.get("spec") or {}).get("volumes") or ()
        volumes = {v.get("name"): v for v in specs}
        indexes = {v.get("name"): i for i, v in enumerate(specs)}
        mounts = []
        for mount in self.container.get("volumeMounts") or ():
            name = mount.get("name") or ""
            volume = volumes.get(name) or {}
            if name in sandbox.volumes:
                host = sandbox.volumes[name]
            elif volume.get("hostPath"):
                host = volume["hostPath"].get("path") or ""
            elif "configMap" in volume:
                context = self.worker.context
                if context.pods_root is None:
                    raise UnsupportedVolumeError(f'volume "{name}": configMap volumes need the agent\'s pods directory')
                host = volume_directory(context.pods_root, self.worker.uid, name)
                await materialize_config_map(volume, self.worker.namespace, host, context.get_object,
                                             f"spec.volumes[{indexes[name]}].configMap")
            else:
                kinds = sorted(k for k in volume if k != "name") or ["unknown"]
                raise UnsupportedVolumeError(f'volume "{name}" of type {kinds[0]} is not supported by this agent')
            if mount.get("subPath"):
                host = f"{host.rstrip('/')}/{mount['subPath']}"
            mounts.append(VolumeMount(host, mount.get("mountPath") or "", bool(mount.get("readOnly")), name))
        return mounts

    async def _spec(self) -> ContainerSpec:
        sandbox = self.worker.sandbox
        assert sandbox is not None
        addresses = PodAddresses(sandbox.pod_ip, self.worker.context.host_ip)
        env = await build_environment(self.worker.pod, self.container, addresses, self.worker.context.get_object)
        values = dict(env)
        return ContainerSpec(
            name=self.name,
            image=self.container.get("image") or "",
            command=[expand(c, values) for c in self.container.get("command") or ()],
            args=[expand(a, values) for a in self.container.get("args") or ()],
            env=env,
            working_dir=self.container.get("workingDir") or None,
            mounts=await self._mounts(),
            limits=container_limits(self.container),
            attempt=self.instances,
        )

    def _ports(self) -> dict[str, int]:
        return {p["name"]: int(p["containerPort"]) for p in self.container.get("ports") or ()
                if p.get("name") and p.get("containerPort")}

    # ------------------------------------------------------------------ the loop

    async def run(self) -> int | None:
        """Run instances until the container is done for good; returns its last exit code (None: never ran)."""
        last_code: int | None = None
        while not self.worker.stopping:
            if not await self._wait_backoff():
                return last_code
            exit_status = await self._run_instance()
            if exit_status is None:
                continue  # could not create: retried after the back-off
            last_code = exit_status.exit_code
            terminated = self._terminated(exit_status)
            policy = (self.worker.pod.get("spec") or {}).get("restartPolicy") or "Always"
            self._finished_at = time.monotonic()
            if self.worker.stopping or not should_restart(policy, exit_status.exit_code, self.init):
                self.view.state = {"terminated": terminated}
                self.worker.changed()
                return last_code
            self.view.last_state = {"terminated": terminated}
            self.view.state = ({"terminated": terminated} if not self._start_error
                               else waiting("RunContainerError", exit_status.message))
            self.worker.changed()
        return last_code

    async def _wait_backoff(self) -> bool:
        """Sleep out the crash back-off before the next instance; False when the pod stops meanwhile."""
        if self._finished_at is None:
            return True
        backoff = self.worker.context.crash_backoff
        remaining = backoff.remaining(self.key, self._finished_at)
        if remaining > 0:
            seconds = int(backoff.current(self.key))
            if not self._start_error:
                self.view.state = waiting(
                    WAITING_CRASH_LOOP_BACK_OFF,
                    f"back-off {seconds}s restarting failed container={self.name} pod={self._pod_label()}",
                )
                self.worker.changed()
            self._event(WARNING, "BackOff", f"Back-off restarting failed container {self.name} in pod "
                                            f"{self._pod_label()}")
            if not await self.worker.sleep(remaining):
                return False
        backoff.next(self.key, self._finished_at)
        return True

    async def _config_failure(self, error: ContainerRuntimeError) -> None:
        self.view.state = waiting(error.reason, error.message)
        self.worker.changed()
        self._event(WARNING, "Failed", f"Error: {error.message}")
        backoff = self.worker.context.crash_backoff
        key = self.key + "/config"
        now = time.monotonic()
        await self.worker.sleep(backoff.remaining(key, now) or 0.0)
        delay = backoff.next(key, now)
        await self.worker.sleep(delay)

    async def _image_failure(self, error: ImagePullError, image: str) -> None:
        backoff = self.worker.context.image_backoff
        self.view.state = waiting(REASON_ERR_IMAGE_PULL, error.message)
        self._event(WARNING, "Failed", f'Failed to pull image "{image}": {error.message}')
        self._event(WARNING, "Failed", f"Error: {REASON_ERR_IMAGE_PULL}")
        delay = backoff.next(image, time.monotonic())
        self.worker.changed()
        await self.worker.flush_status()
        self.view.state = waiting(REASON_IMAGE_PULL_BACKOFF, f'Back-off pulling image "{image}"')
        self._event(NORMAL, "BackOff", f'Back-off pulling image "{image}"')
        self._event(WARNING, "Failed", f"Error: {REASON_IMAGE_PULL_BACKOFF}")
        self.worker.changed()
        await self.worker.sleep(delay)

    async def _run_instance(self) -> ExitStatus | None:
        """Create, start and wait for one instance; None when it could not be created."""
        runtime = self.worker.context.runtime
        sandbox = self.worker.sandbox
        assert sandbox is not None
        image = self.container.get("image") or ""
        self._start_error = False
        try:
            spec = await self._spec()
        except ContainerRuntimeError as exc:
            await self._config_failure(exc)
            return None
        if self.worker.stopping:
            return None
        try:
            status = await runtime.create_container(sandbox.id, spec)
        except ImagePullError as exc:
            await self._image_failure(exc, image)
            return None
        except ContainerRuntimeError as exc:
            await self._config_failure(exc)
            return None
        self.container_id = status.id
        self.view.container_id = f"{runtime.name}://{status.id}"
        self.view.restart_count = self.instances
        self.instances += 1
        self._event(NORMAL, "Pulled", f'Container image "{image}" already present on machine')
        self._event(NORMAL, "Created", f"Created container {self.name}")
        try:
            started = await runtime.start_container(status.id)
        except ContainerRuntimeError as exc:
            self._start_error = True
            self._event(WARNING, "Failed", f"Error: {exc.message}")
            exited = await runtime.inspect_container(status.id)
            finished = exited.finished_at or dt.datetime.now(dt.timezone.utc)
            return ExitStatus(exited.exit_code if exited.exit_code is not None else 128, exited.reason or "StartError",
                              finished, exc.message)
        self._event(NORMAL, "Started", f"Started container {self.name}")
        self.view.state = {"running": {"startedAt": _stamp(started.started_at) or rfc3339()}}
        self.view.ready = False
        self.view.started = False
        self._start_probes(status.id, sandbox.pod_ip)
        self.worker.changed()
        try:
            return await runtime.wait_container(status.id)
        finally:
            await self._stop_probes()
            self.view.ready = False
            self.view.started = False

    def _terminated(self, exit_status: ExitStatus) -> dict[str, Any]:
        started = (self.view.state.get("running") or {}).get("startedAt")
        terminated: dict[str, Any] = {
            "exitCode": exit_status.exit_code,
            "reason": exit_status.reason,
            "startedAt": started or rfc3339(exit_status.finished_at),
            "finishedAt": rfc3339(exit_status.finished_at),
            "containerID": self.view.container_id,
        }
        if exit_status.message:
            terminated["message"] = exit_status.message
        return terminated

    # ------------------------------------------------------------------ probes

    def _start_probes(self, container_id: str, pod_ip: str) -> None:
        if self.init:
            self.view.started = False
            return
        target = ProbeTarget(self.worker.context.runtime, container_id, pod_ip, self._ports())
        now = time.monotonic()
        startup = self.container.get("startupProbe")
        if startup:
            self._add_probe(STARTUP, startup, target, now)
        else:
            self.view.started = True
            self._start_health_probes(target, now)

    def _start_health_probes(self, target: ProbeTarget, started_at: float) -> None:
        if self.container.get("livenessProbe"):
            self._add_probe(LIVENESS, self.container["livenessProbe"], target, started_at)
        if self.container.get("readinessProbe"):
            self._add_probe(READINESS, self.container["readinessProbe"], target, started_at)
        else:
            self.view.ready = True

    def _add_probe(self, kind: str, probe: dict, target: ProbeTarget, started_at: float) -> None:
        worker = ProbeWorker(kind, probe, target, started_at, self._on_probe_result, self._on_probe_failure)
        self._probes.append(worker)
        worker.start()

    async def _stop_probes(self) -> None:
        probes, self._probes = self._probes, []
        for probe in probes:
            await probe.stop()

    def _on_probe_failure(self, kind: str, output: str) -> None:
        self._event(WARNING, "Unhealthy", f"{probe_label(kind)} probe failed: {output}")

    def _on_probe_result(self, kind: str, healthy: bool) -> None:
        if kind == READINESS:
            self.view.ready = healthy
            self.worker.changed()
        elif kind == STARTUP and healthy:
            self.view.started = True
            self.worker.changed()
            target = next((p.target for p in self._probes if p.kind == STARTUP), None)
            if target is not None:
                self._start_health_probes(target, time.monotonic())
        elif not healthy:  # liveness or startup gave up: kill this instance
            probe = self.container.get(f"{kind}Probe") or {}
            grace = probe.get("terminationGracePeriodSeconds")
            grace = self.worker.termination_grace() if grace is None else float(grace)
            verb = "restarted" if should_restart(
                (self.worker.pod.get("spec") or {}).get("restartPolicy") or "Always", 1, self.init) else "terminated"
            self._event(NORMAL, "Killing", f"Container {self.name} failed {kind} probe, will be {verb}")
            if self.container_id is not None and (self._killing is None or self._killing.done()):
                self._killing = asyncio.get_running_loop().create_task(self._kill(self.container_id, grace))

    async def _kill(self, container_id: str | None, grace: float) -> None:
        if container_id is None:
            return
        try:
            await self.worker.context.runtime.stop_container(container_id, timeout=grace)
        except Exception:
            log.exception("stopping container %s failed", self.name)

    async def stop(self) -> None:
        """Stop probing (the pod worker stops the containers themselves through the sandbox)."""
        await self._stop_probes()
