"""What the ``process`` and ``oci`` runtimes share: containers as supervised child processes.

:class:`SupervisedRuntime` keeps the books (sandboxes, containers, their states
and times), pipes each container's stdout/stderr into its CRI log file, waits
for exits, and implements stop as "signal, wait, SIGKILL". A subclass says how
to give a sandbox its network and how to spawn, signal and measure a container.
"""

from __future__ import annotations

import abc
import asyncio
import datetime as dt
import secrets
import shutil
import signal as signals
from pathlib import Path
from typing import Any

import attrs

from orchestra.aio import wait_for
from orchestra.node.runtime import (
    DEFAULT_LOG_MAX_BYTES,
    DEFAULT_LOG_MAX_FILES,
    ContainerLogWriter,
    ContainerNotFoundError,
    ContainerSpec,
    ContainerState,
    ContainerStatus,
    ExitStatus,
    Runtime,
    RunContainerError,
    Sandbox,
    SandboxNotFoundError,
    SandboxSpec,
    container_log_path,
    exit_reason,
)
from orchestra.plugins.runtimes.output import OutputPipes

__all__ = ["ContainerRecord", "SupervisedRuntime", "new_id", "now", "LEFTOVER_OUTPUT_WAIT"]

#: Seconds to keep reading output after a container's main process has exited (and its
#: leftovers were killed); only a process that escaped the container keeps pipes open longer.
LEFTOVER_OUTPUT_WAIT = 2.0


def new_id() -> str:
    """A fresh 12-hex-digit id."""
    return secrets.token_hex(6)


def now() -> dt.datetime:
    """The current time in UTC."""
    return dt.datetime.now(dt.timezone.utc)


@attrs.define
class ContainerRecord:
    """The runtime's mutable record of one container."""

    id: str
    sandbox_id: str
    spec: ContainerSpec
    log_path: str
    created_at: dt.datetime
    state: ContainerState = ContainerState.CREATED
    pid: int | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    process: Any = None
    exited: asyncio.Event = attrs.field(factory=asyncio.Event)
    supervisor: asyncio.Task | None = None
    #: runtime-specific data (argv, environment, bundle path, …)
    extra: dict[str, Any] = attrs.field(factory=dict)

    def status(self) -> ContainerStatus:
        """A frozen snapshot of this record."""
        return ContainerStatus(
            id=self.id,
            sandbox_id=self.sandbox_id,
            name=self.spec.name,
            image=self.spec.image,
            state=self.state,
            attempt=self.spec.attempt,
            log_path=self.log_path,
            created_at=self.created_at,
            pid=self.pid,
            started_at=self.started_at,
            finished_at=self.finished_at,
            exit_code=self.exit_code,
            reason=self.reason,
            message=self.message,
        )

    def exit_status(self) -> ExitStatus:
        """How the container ended (only once it has exited)."""
        assert self.exit_code is not None and self.finished_at is not None
        return ExitStatus(self.exit_code, self.reason, self.finished_at, self.message)


class SupervisedRuntime(Runtime):
    """A runtime whose containers are child processes this runtime supervises.

    Subclasses implement :meth:`_setup_sandbox`, :meth:`_teardown_sandbox`,
    :meth:`_spawn`, :meth:`_signal` and the stats/exec methods of the contract.
    """

    def __init__(
        self,
        root: str,
        *,
        log_max_bytes: int = DEFAULT_LOG_MAX_BYTES,
        log_max_files: int = DEFAULT_LOG_MAX_FILES,
        owns_root: bool = False,
    ) -> None:
        self.root = root
        self.log_max_bytes = log_max_bytes
        self.log_max_files = log_max_files
        self._owns_root = owns_root
        self._sandboxes: dict[str, Sandbox] = {}
        self._containers: dict[str, ContainerRecord] = {}

    # -- subclass hooks

    @abc.abstractmethod
    async def _setup_sandbox(self, sandbox_id: str, spec: SandboxSpec) -> tuple[str, str | None]:
        """Give the sandbox its network: returns ``(pod_ip, netns_path)``."""

    @abc.abstractmethod
    async def _teardown_sandbox(self, sandbox: Sandbox) -> None:
        """Release the sandbox's network (idempotent)."""

    @abc.abstractmethod
    async def _prepare(self, record: ContainerRecord, sandbox: Sandbox) -> None:
        """Check and prepare a new container (image, argv, files); raise contract errors."""

    @abc.abstractmethod
    async def _spawn(
        self, record: ContainerRecord, sandbox: Sandbox, stdout: int, stderr: int
    ) -> asyncio.subprocess.Process:
        """Start the container's supervised child writing to ``stdout``/``stderr`` (file descriptors).

        Raise :class:`RunContainerError` when it cannot start.
        """

    @abc.abstractmethod
    async def _signal(self, record: ContainerRecord, signal: int) -> None:
        """Deliver ``signal`` to every process of the running container."""

    async def _after_exit(self, record: ContainerRecord) -> None:
        """Clean up after the container's main process has exited (kill leftovers)."""

    async def _discard(self, record: ContainerRecord) -> None:
        """Remove the container's runtime files once it is removed."""

    # -- sandboxes

    def _sandbox(self, sandbox_id: str) -> Sandbox:
        try:
            return self._sandboxes[sandbox_id]
        except KeyError:
            raise SandboxNotFoundError(f"no sandbox {sandbox_id!r} in the {self.name} runtime") from None

    def _sandbox_dir(self, sandbox_id: str) -> Path:
        return Path(self.root) / "pods" / sandbox_id

    async def start_sandbox(self, spec: SandboxSpec) -> Sandbox:
        """Create the pod's directories and emptyDir volumes, then its network."""
        sandbox_id = new_id()
        base = self._sandbox_dir(sandbox_id)
        volumes = {}
        for volume in spec.empty_dirs:
            path = base / "volumes" / volume.name
            path.mkdir(parents=True, exist_ok=True)
            volumes[volume.name] = str(path)
        log_directory = spec.log_directory or str(base / "logs")
        Path(log_directory).mkdir(parents=True, exist_ok=True)
        try:
            pod_ip, netns_path = await self._setup_sandbox(sandbox_id, spec)
        except BaseException:
            shutil.rmtree(base, ignore_errors=True)
            raise
        sandbox = Sandbox(
            id=sandbox_id,
            namespace=spec.namespace,
            name=spec.name,
            uid=spec.uid,
            pod_ip=pod_ip,
            volumes=volumes,
            log_directory=log_directory,
            empty_dirs=spec.empty_dirs,
            netns_path=netns_path,
            created_at=now(),
        )
        self._sandboxes[sandbox_id] = sandbox
        return sandbox

    async def stop_sandbox(self, sandbox_id: str, timeout: float = 30.0) -> None:
        """Stop the sandbox's containers, then release its network."""
        sandbox = self._sandbox(sandbox_id)
        records = [r for r in self._containers.values() if r.sandbox_id == sandbox_id]
        await asyncio.gather(*(self.stop_container(r.id, timeout) for r in records))
        if sandbox.ready:
            await self._teardown_sandbox(sandbox)
            self._sandboxes[sandbox_id] = attrs.evolve(sandbox, ready=False)

    async def remove_sandbox(self, sandbox_id: str) -> None:
        """Remove the sandbox's containers, volumes and logs (stopping it first if needed)."""
        if sandbox_id not in self._sandboxes:
            return
        sandbox = self._sandboxes[sandbox_id]
        if sandbox.ready:
            await self.stop_sandbox(sandbox_id, timeout=0)
        for record in [r for r in self._containers.values() if r.sandbox_id == sandbox_id]:
            await self.remove_container(record.id)
        shutil.rmtree(self._sandbox_dir(sandbox_id), ignore_errors=True)
        shutil.rmtree(sandbox.log_directory, ignore_errors=True)
        del self._sandboxes[sandbox_id]

    async def inspect_sandbox(self, sandbox_id: str) -> Sandbox:
        """The sandbox as it is now."""
        return self._sandbox(sandbox_id)

    async def list_sandboxes(self) -> list[Sandbox]:
        """Every sandbox not yet removed."""
        return list(self._sandboxes.values())

    async def close(self) -> None:
        """Stop and remove everything, then the runtime's own directory if it made it."""
        await super().close()
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- containers

    def _record(self, container_id: str) -> ContainerRecord:
        try:
            return self._containers[container_id]
        except KeyError:
            raise ContainerNotFoundError(f"no container {container_id!r} in the {self.name} runtime") from None

    async def create_container(self, sandbox_id: str, spec: ContainerSpec) -> ContainerStatus:
        """Check the spec (image, command) and record the container as created."""
        sandbox = self._sandbox(sandbox_id)
        if not sandbox.ready:
            raise RunContainerError(f"pod sandbox {sandbox_id} is stopped; start a new one")
        log_path = spec.log_path or container_log_path(sandbox.log_directory, spec.name, spec.attempt)
        record = ContainerRecord(new_id(), sandbox_id, spec, log_path, now())
        await self._prepare(record, sandbox)
        self._containers[record.id] = record
        return record.status()

    async def start_container(self, container_id: str) -> ContainerStatus:
        """Spawn the container and start copying its output to its log file."""
        record = self._record(container_id)
        if record.state is not ContainerState.CREATED:
            state = record.state.value
            raise RunContainerError(f"container {record.spec.name} ({container_id}) is {state}, not created")
        sandbox = self._sandbox(record.sandbox_id)
        pipes = await OutputPipes(ContainerLogWriter(record.log_path, self.log_max_bytes, self.log_max_files)).open()
        try:
            process = await self._spawn(record, sandbox, pipes.stdout_fd, pipes.stderr_fd)
        except RunContainerError as exc:
            await pipes.finish(LEFTOVER_OUTPUT_WAIT)
            record.state = ContainerState.EXITED
            record.started_at = record.finished_at = now()
            record.exit_code, record.reason, record.message = 128, "StartError", exc.message
            record.exited.set()
            raise
        finally:
            pipes.close_write_ends()
        record.process = process
        record.pid = record.pid or process.pid
        record.state = ContainerState.RUNNING
        record.started_at = record.started_at or now()
        record.supervisor = asyncio.get_running_loop().create_task(self._supervise(record, process, pipes))
        return record.status()

    async def _supervise(
        self, record: ContainerRecord, process: asyncio.subprocess.Process, pipes: OutputPipes
    ) -> None:
        code = None
        try:
            code = await process.wait()
            await self._after_exit(record)
            await pipes.finish(LEFTOVER_OUTPUT_WAIT)
        finally:
            if code is None:  # cancelled: the runtime is going away
                await pipes.finish(0)
                code = -signals.SIGKILL
            record.exit_code = 128 - code if code < 0 else code
            record.reason = record.reason or exit_reason(record.exit_code)
            record.finished_at = now()
            record.state = ContainerState.EXITED
            record.exited.set()

    async def wait_container(self, container_id: str) -> ExitStatus:
        """Wait for the container to exit."""
        record = self._record(container_id)
        await record.exited.wait()
        return record.exit_status()

    async def stop_container(
        self, container_id: str, timeout: float = 30.0, signal: int = signals.SIGTERM
    ) -> ExitStatus | None:
        """``signal``, then SIGKILL after ``timeout`` seconds; waits for the exit."""
        record = self._record(container_id)
        if record.state is ContainerState.CREATED:
            return None
        if record.state is ContainerState.RUNNING:
            await self._signal(record, signal)
            try:
                await wait_for(record.exited.wait(), timeout)
            except asyncio.TimeoutError:
                await self._signal(record, signals.SIGKILL)
        await record.exited.wait()
        return record.exit_status()

    async def remove_container(self, container_id: str) -> None:
        """Kill the container if it still runs and forget it; the log file stays."""
        record = self._containers.get(container_id)
        if record is None:
            return
        if record.state is ContainerState.RUNNING:
            await self.stop_container(container_id, timeout=0, signal=signals.SIGKILL)
        await self._discard(record)
        self._containers.pop(container_id, None)

    async def inspect_container(self, container_id: str) -> ContainerStatus:
        """The container's current status."""
        return self._record(container_id).status()

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        """Every container not yet removed (of one sandbox, when given)."""
        return [r.status() for r in self._containers.values() if sandbox_id is None or r.sandbox_id == sandbox_id]

