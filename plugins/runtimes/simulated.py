"""The ``simulated`` runtime: containers that run nothing, on configurable timings (kwok's role).

No process, file or socket per container: a container is a small record, and
its end is a timer on the event loop (``loop.call_later``), so one process can
hold thousands of simulated nodes. Pods get addresses from ``pod_cidr``
(default ``10.244.0.0/16``), unique among every simulated runtime of the process on that
range (the simulated nodes of one cluster share it, as real pods share the cluster's
network); agents in other processes need ranges of their own.

Timings and behaviour come from the runtime's configuration, and each container
may override them through its environment (the one per-container channel the
agent passes through):

==============================  ============================  =========================================
environment variable            configuration key             meaning
==============================  ============================  =========================================
``SIMULATED_START_DELAY``       ``start_delay``               seconds ``start_container`` takes (0)
``SIMULATED_RUN_SECONDS``       ``run_seconds``               seconds until it exits; unset = forever
``SIMULATED_EXIT_CODE``         ``exit_code``                 its exit code (0)
``SIMULATED_IGNORE_SIGTERM``    ``ignore_sigterm``            ``1``: only SIGKILL stops it
``SIMULATED_START_ERROR``       —                             fail to start with this message
``SIMULATED_STDOUT``            —                             a line written to its log when it starts
``SIMULATED_STDERR``            —                             likewise, on stderr
``SIMULATED_CPU_MILLICORES``    ``cpu_millicores``            fake CPU use while running (10)
``SIMULATED_MEMORY_BYTES``      ``memory_bytes``              fake working set while running (16 MiB)
``SIMULATED_EXEC_EXIT_CODE``    ``exec_exit_code``            what exec commands return (0)
==============================  ============================  =========================================

Images: every image is present unless listed in ``missing_images``, or, when
``images`` is configured, unless it is in that list; a missing image fails
creation with ``ErrImagePull``. emptyDir volumes exist only as names: nothing is
written, their usage is always 0.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import itertools
import os
import shutil
import tempfile
import signal as signals
from typing import Any

import attrs

from orchestra.aio import wait_for
from orchestra.hookspecs import hookimpl
from orchestra.node.runtime import (
    ContainerLogWriter,
    ContainerNotFoundError,
    ContainerSpec,
    ContainerState,
    ContainerStats,
    ContainerStatus,
    ExecResult,
    ExitStatus,
    ImagePullError,
    LogStream,
    Runtime,
    RunContainerError,
    Sandbox,
    SandboxNotFoundError,
    SandboxSpec,
    container_log_path,
    exit_reason,
)

__all__ = [
    "NAME",
    "DEFAULT_POD_CIDR",
    "SimulatedConfig",
    "SimulatedRuntime",
    "orchestra_runtime_create",
    "orchestra_runtime_names",
]

NAME = "simulated"
#: Where simulated pod IPs come from unless configured.
DEFAULT_POD_CIDR = "10.244.0.0/16"

_ids = itertools.count(1)


class _AddressPool:
    """The pod IPs of one range, shared by every simulated runtime of the process that uses it."""

    def __init__(self, cidr: str) -> None:
        self.cidr = cidr
        self._network = ipaddress.ip_network(cidr)
        self._next_host = 1
        self._free: list[str] = []

    def allocate(self) -> str:
        """A free address (released ones first); RunContainerError when the range is used up."""
        if self._free:
            return self._free.pop()
        if self._next_host >= self._network.num_addresses - 1:
            raise RunContainerError(f"no free pod IP left in {self.cidr}")
        address = str(self._network.network_address + self._next_host)
        self._next_host += 1
        return address

    def release(self, address: str) -> None:
        """Give ``address`` back for the next sandbox."""
        self._free.append(address)


#: One pool per range (by its normalized form), for the life of the process.
_pools: dict[str, _AddressPool] = {}


def _pool(cidr: str) -> _AddressPool:
    key = str(ipaddress.ip_network(cidr))
    pool = _pools.get(key)
    if pool is None:
        pool = _pools[key] = _AddressPool(cidr)
    return pool


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _optional_float(value: Any) -> float | None:
    if value is None or value == "" or str(value).lower() == "forever":
        return None
    return float(value)


@attrs.frozen
class SimulatedConfig:
    """The runtime-wide defaults (see the module docstring for each key)."""

    pod_cidr: str = DEFAULT_POD_CIDR
    start_delay: float = 0.0
    run_seconds: float | None = attrs.field(default=None, converter=_optional_float)
    exit_code: int = 0
    ignore_sigterm: bool = False
    cpu_millicores: int = 10
    memory_bytes: int = 16 * 1024 * 1024
    exec_exit_code: int = 0
    images: frozenset[str] | None = attrs.field(default=None, converter=attrs.converters.optional(frozenset))
    missing_images: frozenset[str] = attrs.field(default=frozenset(), converter=frozenset)
    log_root: str = attrs.field(factory=lambda: os.path.join(tempfile.gettempdir(), "orchestra-simulated-logs"))

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "SimulatedConfig":
        """Pick the known keys out of the agent's runtime settings."""
        known = {f.name for f in attrs.fields(cls)}
        return cls(**{k: v for k, v in config.items() if k in known})


@attrs.define(slots=True)
class _Container:
    id: str
    sandbox_id: str
    spec: ContainerSpec
    env: dict[str, str]
    log_path: str
    created_at: dt.datetime
    state: ContainerState = ContainerState.CREATED
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    timer: asyncio.TimerHandle | None = None
    waiters: list[asyncio.Future] | None = None

    def status(self) -> ContainerStatus:
        return ContainerStatus(
            id=self.id,
            sandbox_id=self.sandbox_id,
            name=self.spec.name,
            image=self.spec.image,
            state=self.state,
            attempt=self.spec.attempt,
            log_path=self.log_path,
            created_at=self.created_at,
            pid=None,
            started_at=self.started_at,
            finished_at=self.finished_at,
            exit_code=self.exit_code,
            reason=self.reason,
            message=self.message,
        )

    def exit_status(self) -> ExitStatus:
        assert self.exit_code is not None and self.finished_at is not None
        return ExitStatus(self.exit_code, self.reason, self.finished_at, self.message)


class SimulatedRuntime(Runtime):
    """Containers as timers: cheap enough for thousands of nodes in one process."""

    name = NAME

    def __init__(self, config: SimulatedConfig) -> None:
        self.config = config
        self._addresses = _pool(config.pod_cidr)
        self._sandboxes: dict[str, Sandbox] = {}
        self._containers: dict[str, _Container] = {}

    # -- sandboxes

    def _sandbox(self, sandbox_id: str) -> Sandbox:
        try:
            return self._sandboxes[sandbox_id]
        except KeyError:
            raise SandboxNotFoundError(f"no sandbox {sandbox_id!r} in the simulated runtime") from None

    async def start_sandbox(self, spec: SandboxSpec) -> Sandbox:
        """A sandbox with a fresh pod IP; its volumes are names only."""
        sandbox_id = f"sim-{next(_ids)}"
        log_directory = spec.log_directory or f"{self.config.log_root}/{spec.namespace}_{spec.name}_{spec.uid}"
        sandbox = Sandbox(
            id=sandbox_id,
            namespace=spec.namespace,
            name=spec.name,
            uid=spec.uid,
            pod_ip=self._addresses.allocate(),
            volumes={v.name: f"simulated://{sandbox_id}/{v.name}" for v in spec.empty_dirs},
            log_directory=log_directory,
            empty_dirs=spec.empty_dirs,
            created_at=_now(),
        )
        self._sandboxes[sandbox_id] = sandbox
        return sandbox

    async def stop_sandbox(self, sandbox_id: str, timeout: float = 30.0) -> None:
        """Stop its containers and release its pod IP."""
        sandbox = self._sandbox(sandbox_id)
        running = [c for c in self._containers.values() if c.sandbox_id == sandbox_id]
        await asyncio.gather(*(self.stop_container(c.id, timeout) for c in running))
        if sandbox.ready:
            self._addresses.release(sandbox.pod_ip)
            self._sandboxes[sandbox_id] = attrs.evolve(sandbox, ready=False)

    async def remove_sandbox(self, sandbox_id: str) -> None:
        """Forget the sandbox and its containers."""
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is None:
            return
        if sandbox.ready:
            await self.stop_sandbox(sandbox_id, timeout=0)
        for container in [c for c in self._containers.values() if c.sandbox_id == sandbox_id]:
            await self.remove_container(container.id)
        if os.path.isdir(sandbox.log_directory):  # only written when a container logged something
            shutil.rmtree(sandbox.log_directory, ignore_errors=True)
        del self._sandboxes[sandbox_id]

    async def inspect_sandbox(self, sandbox_id: str) -> Sandbox:
        """The sandbox as it is now."""
        return self._sandbox(sandbox_id)

    async def list_sandboxes(self) -> list[Sandbox]:
        """Every sandbox not yet removed."""
        return list(self._sandboxes.values())

    async def volume_usage(self, sandbox_id: str) -> dict[str, int]:
        """Simulated volumes hold nothing: 0 bytes each."""
        return {name: 0 for name in self._sandbox(sandbox_id).volumes}

    # -- containers

    def _container(self, container_id: str) -> _Container:
        try:
            return self._containers[container_id]
        except KeyError:
            raise ContainerNotFoundError(f"no container {container_id!r} in the simulated runtime") from None

    def _image_present(self, image: str) -> bool:
        if image in self.config.missing_images:
            return False
        return self.config.images is None or image in self.config.images

    async def create_container(self, sandbox_id: str, spec: ContainerSpec) -> ContainerStatus:
        """Record the container; ``ErrImagePull`` for a missing image."""
        sandbox = self._sandbox(sandbox_id)
        if not self._image_present(spec.image):
            raise ImagePullError(f'Failed to pull image "{spec.image}": image not found in the simulated image list')
        container = _Container(
            id=f"simc-{next(_ids)}",
            sandbox_id=sandbox_id,
            spec=spec,
            env=dict(spec.env),
            log_path=spec.log_path or container_log_path(sandbox.log_directory, spec.name, spec.attempt),
            created_at=_now(),
        )
        self._containers[container.id] = container
        return container.status()

    def _setting(self, container: _Container, variable: str, key: str) -> Any:
        value = container.env.get(variable)
        return value if value is not None else getattr(self.config, key)

    async def start_container(self, container_id: str) -> ContainerStatus:
        """After the start delay the container runs; a timer ends it after its run time."""
        container = self._container(container_id)
        if container.state is not ContainerState.CREATED:
            raise RunContainerError(f"container {container.spec.name} is {container.state.value}, not created")
        error = container.env.get("SIMULATED_START_ERROR")
        if error:
            self._finish(container, 128, "StartError", error)
            raise RunContainerError(error)
        delay = float(self._setting(container, "SIMULATED_START_DELAY", "start_delay"))
        if delay > 0:
            await asyncio.sleep(delay)
        container.state = ContainerState.RUNNING
        container.started_at = _now()
        self._write_output(container)
        run_seconds = _optional_float(self._setting(container, "SIMULATED_RUN_SECONDS", "run_seconds"))
        if run_seconds is not None:
            code = int(self._setting(container, "SIMULATED_EXIT_CODE", "exit_code"))
            loop = asyncio.get_running_loop()
            container.timer = loop.call_later(run_seconds, self._finish, container, code)
        return container.status()

    def _write_output(self, container: _Container) -> None:
        lines = [
            (LogStream.STDOUT, container.env.get("SIMULATED_STDOUT")),
            (LogStream.STDERR, container.env.get("SIMULATED_STDERR")),
        ]
        if not any(text for _, text in lines):
            return
        writer = ContainerLogWriter(container.log_path)
        try:
            for stream, text in lines:
                if text:
                    writer.write(stream, text.encode() + b"\n")
        finally:
            writer.close()

    def _finish(self, container: _Container, code: int, reason: str = "", message: str = "") -> None:
        if container.state is ContainerState.EXITED:
            return
        if container.timer is not None:
            container.timer.cancel()
            container.timer = None
        container.state = ContainerState.EXITED
        container.exit_code = code
        container.reason = reason or exit_reason(code)
        container.message = message
        container.finished_at = _now()
        container.started_at = container.started_at or container.finished_at
        for waiter in container.waiters or ():
            if not waiter.done():
                waiter.set_result(None)
        container.waiters = None

    async def _exited(self, container: _Container, timeout: float | None = None) -> bool:
        if container.state is ContainerState.EXITED:
            return True
        waiter = asyncio.get_running_loop().create_future()
        container.waiters = (container.waiters or []) + [waiter]
        try:
            await wait_for(asyncio.shield(waiter), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def wait_container(self, container_id: str) -> ExitStatus:
        """Wait until the container's timer (or a stop) ends it."""
        container = self._container(container_id)
        await self._exited(container)
        return container.exit_status()

    async def stop_container(
        self, container_id: str, timeout: float = 30.0, signal: int = signals.SIGTERM
    ) -> ExitStatus | None:
        """The container ends at once with 128+signal, unless it ignores SIGTERM (then after ``timeout``)."""
        container = self._container(container_id)
        if container.state is ContainerState.CREATED:
            return None
        if container.state is ContainerState.RUNNING:
            ignores = str(self._setting(container, "SIMULATED_IGNORE_SIGTERM", "ignore_sigterm")).lower()
            ignores = ignores in ("1", "true")
            if signal == signals.SIGKILL or not ignores:
                self._finish(container, 128 + signal)
            elif not await self._exited(container, timeout):
                self._finish(container, 128 + signals.SIGKILL)
        return container.exit_status()

    async def remove_container(self, container_id: str) -> None:
        """Forget the container (ending it first if it still runs)."""
        container = self._containers.pop(container_id, None)
        if container is not None:
            self._finish(container, 128 + signals.SIGKILL)

    async def inspect_container(self, container_id: str) -> ContainerStatus:
        """The container's current status."""
        return self._container(container_id).status()

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        """Every container not yet removed (of one sandbox, when given)."""
        return [c.status() for c in self._containers.values() if sandbox_id is None or c.sandbox_id == sandbox_id]

    async def container_stats(self, container_id: str) -> ContainerStats:
        """Fake figures: CPU grows at the configured millicores while running; a fixed working set."""
        container = self._container(container_id)
        if container.state is not ContainerState.RUNNING or container.started_at is None:
            return ContainerStats(0, 0)
        millicores = int(self._setting(container, "SIMULATED_CPU_MILLICORES", "cpu_millicores"))
        seconds = (_now() - container.started_at).total_seconds()
        memory = int(self._setting(container, "SIMULATED_MEMORY_BYTES", "memory_bytes"))
        return ContainerStats(int(seconds * millicores * 1_000_000), memory)

    async def exec_in_container(self, container_id: str, command: list[str], timeout: float = 10.0) -> ExecResult:
        """Nothing runs: the configured exit code, no output."""
        container = self._container(container_id)
        if container.state is not ContainerState.RUNNING:
            raise RunContainerError(f"container {container.spec.name} is not running")
        return ExecResult(int(self._setting(container, "SIMULATED_EXEC_EXIT_CODE", "exec_exit_code")))


@hookimpl
def orchestra_runtime_create(name: str, config: dict) -> SimulatedRuntime | None:
    """A :class:`SimulatedRuntime` for the name ``simulated``."""
    if name != NAME:
        return None
    return SimulatedRuntime(SimulatedConfig.from_config(config))


@hookimpl
def orchestra_runtime_names() -> list[str]:
    """The one runtime this plugin provides: ``simulated``."""
    return [NAME]
