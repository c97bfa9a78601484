"""The container-runtime contract: what the node agent asks of a runtime, and nothing more.

A runtime runs the pods bound to one node. It is a plugin: a module implementing
``orchestra_runtime_create(name, config)`` returns a :class:`Runtime` for its name,
and :func:`create_runtime` finds it. The contract follows the Kubernetes CRI:

* a **pod sandbox** owns the pod's network identity (its pod IP) and its emptyDir
  volumes; :meth:`Runtime.start_sandbox` makes one, :meth:`Runtime.stop_sandbox`
  stops its containers and releases its address, :meth:`Runtime.remove_sandbox`
  deletes its volumes, logs and records;
* a **container** is created from a :class:`ContainerSpec` in a sandbox, started,
  waited for, stopped (signal, then SIGKILL after a timeout) and removed;
  :meth:`Runtime.inspect_container` reports its :class:`ContainerStatus`;
* **stats** are cumulative CPU nanoseconds and the memory working set;
* **logs**: the runtime writes each container's stdout and stderr to one file, one
  CRI line per output line (``<RFC3339Nano> <stream> <F|P> <text>``); the file is
  rotated at a size limit (``path.1`` … ``path.N``). Each restart of a container
  gets its own file (:func:`container_log_path` numbers them by attempt), so the
  previous attempt's output stays readable; :func:`read_container_log` and
  :func:`follow_container_log` read them for the agent's logs endpoint;
* **exec** runs a command in a running container's context (exec probes).

Failures the agent reports to users are :class:`ContainerRuntimeError` subclasses
carrying the Kubernetes ``reason`` and ``message``.
"""

from __future__ import annotations

import abc
import asyncio
import datetime as dt
import enum
import os
import signal as signals
from pathlib import Path
from typing import Any, AsyncIterator, ClassVar, Iterable, Mapping

import attrs
import pluggy

from orchestra.aio import wait_for

__all__ = [
    # reasons
    "REASON_ERR_IMAGE_PULL",
    "REASON_IMAGE_PULL_BACKOFF",
    "REASON_RUN_CONTAINER_ERROR",
    "REASON_CREATE_CONTAINER_ERROR",
    "REASON_EVICTED",
    "REASON_COMPLETED",
    "REASON_ERROR",
    "REASON_OOM_KILLED",
    "exit_reason",
    # errors
    "ContainerRuntimeError",
    "ImagePullError",
    "RunContainerError",
    "CreateContainerError",
    "EmptyDirLimitExceeded",
    "ContainerNotFoundError",
    "SandboxNotFoundError",
    "RuntimeUnavailableError",
    "UnknownRuntimeError",
    # values
    "ContainerState",
    "EmptyDirVolume",
    "SandboxSpec",
    "Sandbox",
    "VolumeMount",
    "ResourceLimits",
    "ContainerSpec",
    "ContainerStatus",
    "ExitStatus",
    "ContainerStats",
    "ExecResult",
    # the contract
    "DEFAULT_RUNTIME",
    "Runtime",
    "create_runtime",
    "runtime_names",
    "resolve_argv",
    "directory_usage",
    # logs
    "LogStream",
    "LogLine",
    "ContainerLogWriter",
    "container_log_path",
    "format_log_line",
    "parse_log_line",
    "read_container_log",
    "follow_container_log",
    "DEFAULT_LOG_MAX_BYTES",
    "DEFAULT_LOG_MAX_FILES",
]

# --------------------------------------------------------------------------- reasons

#: Waiting reason when an image cannot be fetched (first failure).
REASON_ERR_IMAGE_PULL = "ErrImagePull"
#: Waiting reason while the agent backs off before trying an image again.
REASON_IMAGE_PULL_BACKOFF = "ImagePullBackOff"
#: Waiting reason when a container could not be started (e.g. its command does not exist).
REASON_RUN_CONTAINER_ERROR = "RunContainerError"
#: Waiting reason when a container could not be created from its spec.
REASON_CREATE_CONTAINER_ERROR = "CreateContainerError"
#: Pod status reason when the agent evicts a pod (e.g. an emptyDir over its sizeLimit).
REASON_EVICTED = "Evicted"
#: Terminated reason for exit code 0.
REASON_COMPLETED = "Completed"
#: Terminated reason for a non-zero exit code.
REASON_ERROR = "Error"
#: Terminated reason when the kernel killed the container for exceeding its memory limit.
REASON_OOM_KILLED = "OOMKilled"


def exit_reason(exit_code: int) -> str:
    """The Kubernetes terminated reason for an exit code: ``Completed`` for 0, else ``Error``."""
    return REASON_COMPLETED if exit_code == 0 else REASON_ERROR


# --------------------------------------------------------------------------- errors


class ContainerRuntimeError(Exception):
    """A runtime failure the agent reports in pod status: a Kubernetes ``reason`` and ``message``."""

    reason: ClassVar[str] = REASON_RUN_CONTAINER_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ImagePullError(ContainerRuntimeError):
    """The container's image is not in the image store and cannot be fetched (``ErrImagePull``)."""

    reason = REASON_ERR_IMAGE_PULL


class RunContainerError(ContainerRuntimeError):
    """The container could not be started, e.g. its command does not exist (``RunContainerError``)."""

    reason = REASON_RUN_CONTAINER_ERROR


class CreateContainerError(ContainerRuntimeError):
    """The container could not be created from its spec (``CreateContainerError``)."""

    reason = REASON_CREATE_CONTAINER_ERROR


class EmptyDirLimitExceeded(ContainerRuntimeError):
    """An emptyDir volume uses more than its sizeLimit: the agent evicts the pod (``Evicted``)."""

    reason = REASON_EVICTED

    def __init__(self, volume: str, usage_bytes: int, limit: str) -> None:
        super().__init__(f'Usage of EmptyDir volume "{volume}" exceeds the limit "{limit}".')
        self.volume = volume
        self.usage_bytes = usage_bytes
        self.limit = limit


class ContainerNotFoundError(LookupError):
    """No container with this id exists in the runtime (never created, or removed)."""


class SandboxNotFoundError(LookupError):
    """No sandbox with this id exists in the runtime (never started, or removed)."""


class RuntimeUnavailableError(RuntimeError):
    """The runtime cannot work on this host; the message says what is missing and how to fix it."""


class UnknownRuntimeError(LookupError):
    """No plugin provides the requested runtime name; the message lists the known names."""


# --------------------------------------------------------------------------- value types


class ContainerState(str, enum.Enum):
    """Where a container is in its life: created, running, or exited."""

    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"


def _tuple(value: Iterable[Any] | None) -> tuple:
    return tuple(value or ())


def _pairs(value: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> tuple[tuple[str, str], ...]:
    items = value.items() if isinstance(value, Mapping) else (value or ())
    return tuple((str(k), str(v)) for k, v in items)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@attrs.frozen
class EmptyDirVolume:
    """An emptyDir volume of a pod: a scratch directory shared by its containers.

    ``size_limit`` is the sizeLimit as written in the pod (``"1Mi"``), used in
    messages; ``size_limit_bytes`` is its value. ``medium`` is ``""`` or ``"Memory"``.
    """

    name: str
    size_limit_bytes: int | None = None
    size_limit: str | None = None
    medium: str = ""


@attrs.frozen
class SandboxSpec:
    """What the agent asks for when it starts a pod: identity, hostname, emptyDir volumes.

    ``log_directory`` is where this pod's container logs go; by default the
    runtime picks one under its data directory.
    """

    namespace: str
    name: str
    uid: str
    hostname: str = ""
    empty_dirs: tuple[EmptyDirVolume, ...] = attrs.field(default=(), converter=_tuple)
    log_directory: str | None = None


@attrs.frozen
class Sandbox:
    """A started pod sandbox: its id, pod IP, emptyDir host paths and log directory.

    ``volumes`` maps each emptyDir name to its host directory; ``netns_path`` is
    the network namespace the pod's containers join (``None`` when the runtime
    has no namespaces). ``ready`` is false once the sandbox is stopped.
    """

    id: str
    namespace: str
    name: str
    uid: str
    pod_ip: str
    volumes: Mapping[str, str]
    log_directory: str
    empty_dirs: tuple[EmptyDirVolume, ...] = ()
    netns_path: str | None = None
    created_at: dt.datetime = attrs.field(factory=_now)
    ready: bool = True


@attrs.frozen
class VolumeMount:
    """A host directory (already resolved by the agent) made visible at ``container_path``.

    ``name`` is the pod volume's name (runtimes without mount namespaces use it
    to tell the container where the volume is).
    """

    host_path: str
    container_path: str
    read_only: bool = False
    name: str = ""


@attrs.frozen
class ResourceLimits:
    """``resources.limits`` of a container in runtime units: CPU in millicores, memory in bytes."""

    cpu_millis: int | None = None
    memory_bytes: int | None = None


@attrs.frozen
class ContainerSpec:
    """One container to create in a sandbox.

    ``command`` and ``args`` keep Kubernetes' meaning (entrypoint and its
    arguments; empty means "the image's", see :func:`resolve_argv`); ``env`` is
    already expanded by the agent (the runtime adds ``POD_IP`` where it knows
    it); ``attempt`` counts restarts and picks the log file unless ``log_path``
    is given.
    """

    name: str
    image: str = ""
    command: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    args: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    env: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_pairs)
    working_dir: str | None = None
    mounts: tuple[VolumeMount, ...] = attrs.field(default=(), converter=_tuple)
    limits: ResourceLimits = attrs.field(factory=ResourceLimits)
    attempt: int = 0
    log_path: str | None = None


@attrs.frozen
class ExitStatus:
    """How a container ended: exit code (128+N when killed by signal N), reason, time."""

    exit_code: int
    reason: str
    finished_at: dt.datetime
    message: str = ""


@attrs.frozen
class ContainerStatus:
    """A container as the runtime sees it (:meth:`Runtime.inspect_container`)."""

    id: str
    sandbox_id: str
    name: str
    image: str
    state: ContainerState
    attempt: int
    log_path: str
    created_at: dt.datetime
    pid: int | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    exit_code: int | None = None
    reason: str = ""
    message: str = ""


@attrs.frozen
class ContainerStats:
    """Resource usage of a container: cumulative CPU time and current memory working set."""

    cpu_usage_nanoseconds: int
    memory_working_set_bytes: int
    timestamp: dt.datetime = attrs.field(factory=_now)


@attrs.frozen
class ExecResult:
    """What a command run by :meth:`Runtime.exec_in_container` returned."""

    exit_code: int
    stdout: bytes = b""
    stderr: bytes = b""


def resolve_argv(
    command: Iterable[str], args: Iterable[str], entrypoint: Iterable[str] = (), cmd: Iterable[str] = ()
) -> list[str]:
    """The argv Kubernetes runs for a container, given the image's entrypoint and cmd.

    ``command`` replaces the image's entrypoint (and drops its cmd); ``args``
    replaces the image's cmd.
    """
    command, args = list(command), list(args)
    if command:
        return command + args
    return list(entrypoint) + (args if args else list(cmd))


def directory_usage(path: str | os.PathLike[str]) -> int:
    """Bytes used by the files under ``path`` (allocated blocks, like ``du``; 0 when missing)."""
    total = 0
    for root, dirs, files in os.walk(path):
        for entry in dirs + files:
            try:
                st = os.lstat(os.path.join(root, entry))
            except FileNotFoundError:
                continue
            total += st.st_blocks * 512
    return total


# --------------------------------------------------------------------------- the contract

#: The runtime a node agent uses unless told otherwise: host processes, no root needed.
DEFAULT_RUNTIME = "process"


class Runtime(abc.ABC):
    """The narrow async interface the node agent drives; one instance per node.

    Ids are strings the runtime chooses. Methods taking an id raise
    :class:`SandboxNotFoundError` / :class:`ContainerNotFoundError` for unknown
    ids. Stopping and removing are idempotent. :meth:`close` stops everything
    this runtime started.
    """

    #: The name the runtime is registered under (``process``, ``oci``, ``simulated``, …).
    name: ClassVar[str] = ""

    async def open(self) -> None:
        """Prepare the host (directories, bridges); called once before first use."""

    async def close(self) -> None:
        """Stop and remove every sandbox and container this runtime started."""
        for sandbox in await self.list_sandboxes():
            await self.stop_sandbox(sandbox.id, timeout=0)
            await self.remove_sandbox(sandbox.id)

    # -- sandboxes

    @abc.abstractmethod
    async def start_sandbox(self, spec: SandboxSpec) -> Sandbox:
        """Give a pod its network identity (pod IP) and emptyDir volumes."""

    @abc.abstractmethod
    async def stop_sandbox(self, sandbox_id: str, timeout: float = 30.0) -> None:
        """Stop the sandbox's running containers (SIGTERM, SIGKILL after ``timeout``) and release its pod IP."""

    @abc.abstractmethod
    async def remove_sandbox(self, sandbox_id: str) -> None:
        """Forget a stopped sandbox: remove its containers, emptyDir volumes and logs."""

    @abc.abstractmethod
    async def inspect_sandbox(self, sandbox_id: str) -> Sandbox:
        """The sandbox as it is now."""

    @abc.abstractmethod
    async def list_sandboxes(self) -> list[Sandbox]:
        """Every sandbox not yet removed."""

    # -- containers

    @abc.abstractmethod
    async def create_container(self, sandbox_id: str, spec: ContainerSpec) -> ContainerStatus:
        """Create (but do not start) a container; raises :class:`ImagePullError` for a missing image."""

    @abc.abstractmethod
    async def start_container(self, container_id: str) -> ContainerStatus:
        """Start a created container; raises :class:`RunContainerError` when it cannot run."""

    @abc.abstractmethod
    async def wait_container(self, container_id: str) -> ExitStatus:
        """Wait until the container has exited and say how."""

    @abc.abstractmethod
    async def stop_container(
        self, container_id: str, timeout: float = 30.0, signal: int = signals.SIGTERM
    ) -> ExitStatus | None:
        """Send ``signal``, then SIGKILL after ``timeout`` seconds; ``None`` if it never started."""

    @abc.abstractmethod
    async def remove_container(self, container_id: str) -> None:
        """Remove a container (killing it first if it still runs); its log file stays."""

    @abc.abstractmethod
    async def inspect_container(self, container_id: str) -> ContainerStatus:
        """The container's state, pid, times, exit code and reason."""

    @abc.abstractmethod
    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        """Every container not yet removed (of one sandbox, when given)."""

    @abc.abstractmethod
    async def container_stats(self, container_id: str) -> ContainerStats:
        """CPU and memory usage of a container (zeros once it has exited)."""

    @abc.abstractmethod
    async def exec_in_container(self, container_id: str, command: list[str], timeout: float = 10.0) -> ExecResult:
        """Run ``command`` in a running container's context; exit code 124 on timeout."""

    # -- shared behaviour built on the above

    async def sandbox_stats(self, sandbox_id: str) -> ContainerStats:
        """The pod's usage: the sum over its containers."""
        cpu = memory = 0
        for status in await self.list_containers(sandbox_id):
            stats = await self.container_stats(status.id)
            cpu += stats.cpu_usage_nanoseconds
            memory += stats.memory_working_set_bytes
        return ContainerStats(cpu, memory)

    async def volume_usage(self, sandbox_id: str) -> dict[str, int]:
        """Bytes used by each emptyDir volume of the sandbox."""
        sandbox = await self.inspect_sandbox(sandbox_id)
        usage = {}
        for name, path in sandbox.volumes.items():
            usage[name] = await asyncio.to_thread(directory_usage, path)
        return usage

    async def check_volume_limits(self, sandbox_id: str) -> None:
        """Raise :class:`EmptyDirLimitExceeded` for the first emptyDir over its sizeLimit.

        The agent calls this periodically (kubelet's eviction manager does so
        every 10 s) and evicts the pod with the error's reason and message.
        """
        sandbox = await self.inspect_sandbox(sandbox_id)
        limited = [v for v in sandbox.empty_dirs if v.size_limit_bytes is not None]
        if not limited:
            return
        usage = await self.volume_usage(sandbox_id)
        for volume in limited:
            used = usage.get(volume.name, 0)
            if used > volume.size_limit_bytes:
                raise EmptyDirLimitExceeded(volume.name, used, volume.size_limit or str(volume.size_limit_bytes))


def runtime_names(pm: pluggy.PluginManager) -> list[str]:
    """Every runtime name the registered plugins provide, sorted."""
    return sorted({name for names in pm.hook.orchestra_runtime_names() for name in (names or ())})


async def create_runtime(name: str, config: Mapping[str, Any] | None, pm: pluggy.PluginManager) -> Runtime:
    """The runtime called ``name`` from the plugins, opened and ready.

    Raises :class:`UnknownRuntimeError` (listing the known names) when no plugin provides it.
    """
    from orchestra.plugin_manager import await_maybe

    runtime = await await_maybe(pm.hook.orchestra_runtime_create(name=name, config=dict(config or {})))
    if runtime is None:
        known = ", ".join(runtime_names(pm)) or "none"
        raise UnknownRuntimeError(f"unknown container runtime {name!r}; known runtimes: {known}")
    await runtime.open()
    return runtime


# --------------------------------------------------------------------------- logs

#: Rotate a container log file once it reaches this size.
DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024
#: How many files (the live one plus rotated ones) to keep per container attempt.
DEFAULT_LOG_MAX_FILES = 5


class LogStream(str, enum.Enum):
    """Which output stream a log line came from."""

    STDOUT = "stdout"
    STDERR = "stderr"


@attrs.frozen
class LogLine:
    """One parsed CRI log line; ``partial`` marks a line split because it was too long."""

    timestamp: dt.datetime
    stream: LogStream
    text: bytes
    partial: bool = False


def container_log_path(log_directory: str | os.PathLike[str], container: str, attempt: int) -> str:
    """Where attempt ``attempt`` of ``container`` writes its log (kubelet's ``<name>/<n>.log``)."""
    return os.path.join(os.fspath(log_directory), container, f"{attempt}.log")


def _timestamp(when: dt.datetime) -> str:
    # RFC 3339 with nanoseconds, as CRI writes it
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond:06d}000Z"


def format_log_line(when: dt.datetime, stream: LogStream, text: bytes, partial: bool = False) -> bytes:
    """One CRI log line: ``<RFC3339Nano> <stream> <F|P> <text>\\n`` (``text`` without its newline)."""
    tag = b"P" if partial else b"F"
    return b"%s %s %s %s\n" % (_timestamp(when).encode(), stream.value.encode(), tag, text)


def parse_log_line(line: bytes) -> LogLine:
    """Parse one CRI log line; raises ``ValueError`` naming the problem for malformed input."""
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        raise ValueError(f"not a CRI log line: {line[:80]!r}")
    stamp, stream, tag = parts[0].decode(), parts[1].decode(), parts[2]
    text = parts[3] if len(parts) == 4 else b""
    if tag not in (b"F", b"P"):
        raise ValueError(f"bad CRI log tag {tag!r} in {line[:80]!r}")
    seconds, _, fraction = stamp.rstrip("Z").partition(".")
    when = dt.datetime.strptime(seconds, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    when = when.replace(microsecond=int((fraction + "000000")[:6]))
    return LogLine(when, LogStream(stream), text, tag == b"P")


@attrs.define
class ContainerLogWriter:
    """Writes a container's output to its CRI log file, rotating it at ``max_bytes``.

    Rotation renames ``path`` to ``path.1`` (shifting older files up, dropping
    the oldest beyond ``max_files``) and starts a fresh ``path``. Lines longer
    than ``max_line`` are split into partial (``P``) lines. Writes are
    synchronous: the runtime calls :meth:`write` from its pipe readers.
    """

    path: str
    max_bytes: int = DEFAULT_LOG_MAX_BYTES
    max_files: int = DEFAULT_LOG_MAX_FILES
    max_line: int = 16 * 1024
    _file: Any = attrs.field(default=None, init=False)
    _size: int = attrs.field(default=0, init=False)

    def open(self) -> None:
        """Create the directory and open the file for appending."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab", buffering=0)
        self._size = self._file.tell()

    def write(self, stream: LogStream, data: bytes, when: dt.datetime | None = None) -> None:
        """Log ``data`` (one line of output, with or without its newline) from ``stream``."""
        if self._file is None:
            self.open()
        when = when or _now()
        complete = data.endswith(b"\n")
        text = data[:-1] if complete else data
        while len(text) > self.max_line:
            self._append(format_log_line(when, stream, text[: self.max_line], partial=True))
            text = text[self.max_line :]
        self._append(format_log_line(when, stream, text, partial=not complete))

    def _append(self, line: bytes) -> None:
        if self._size and self._size + len(line) > self.max_bytes:
            self._rotate()
        self._file.write(line)
        self._size += len(line)

    def _rotate(self) -> None:
        self._file.close()
        oldest = f"{self.path}.{self.max_files - 1}"
        if os.path.exists(oldest):
            os.unlink(oldest)
        for n in range(self.max_files - 2, 0, -1):
            if os.path.exists(f"{self.path}.{n}"):
                os.rename(f"{self.path}.{n}", f"{self.path}.{n + 1}")
        if self.max_files > 1:
            os.rename(self.path, f"{self.path}.1")
        else:
            os.unlink(self.path)
        self._file = open(self.path, "ab", buffering=0)
        self._size = 0

    def close(self) -> None:
        """Close the file (writing again reopens it)."""
        if self._file is not None:
            self._file.close()
            self._file = None


def _log_files(path: str) -> list[str]:
    rotated = []
    n = 1
    while os.path.exists(f"{path}.{n}"):
        rotated.append(f"{path}.{n}")
        n += 1
    return list(reversed(rotated)) + ([path] if os.path.exists(path) else [])


def _render(line: LogLine, timestamps: bool) -> bytes:
    text = line.text if line.partial else line.text + b"\n"
    return (_timestamp(line.timestamp).encode() + b" " + text) if timestamps else text


def read_container_log(
    path: str,
    *,
    tail_lines: int | None = None,
    since: dt.datetime | None = None,
    timestamps: bool = False,
    limit_bytes: int | None = None,
) -> bytes:
    """A container's output as ``kubectl logs`` shows it, from the file and its rotations.

    :param tail_lines: only the last N lines. :param since: only lines at or after
    this time. :param timestamps: prefix each line with its RFC 3339 time.
    :param limit_bytes: stop after this many bytes. A missing file reads as empty.
    """
    lines: list[LogLine] = []
    for name in _log_files(path):
        with open(name, "rb") as f:
            for raw in f:
                try:
                    line = parse_log_line(raw)
                except ValueError:
                    continue
                if since is None or line.timestamp >= since:
                    lines.append(line)
    if tail_lines is not None:
        lines = lines[-tail_lines:] if tail_lines > 0 else []
    out = b"".join(_render(line, timestamps) for line in lines)
    return out[:limit_bytes] if limit_bytes is not None else out


def _read_rotated_since(path: str, inode: int, position: int) -> bytes:
    """What was appended to the file with ``inode`` after ``position``, plus the files rotated after it."""
    rotated = _log_files(path)[:-1]  # oldest first
    for index, name in enumerate(rotated):
        if os.stat(name).st_ino == inode:
            data = b""
            for newer_index, newer in enumerate(rotated[index:]):
                with open(newer, "rb") as f:
                    f.seek(position if newer_index == 0 else 0)
                    data += f.read()
            return data
    return b""  # rotated out of reach: that output is lost to this follower


async def follow_container_log(
    path: str, done: asyncio.Event, *, timestamps: bool = False, poll_interval: float = 0.1
) -> AsyncIterator[bytes]:
    """Yield new output appended to ``path`` (following rotations) until ``done`` is set and all is read."""
    position = os.path.getsize(path) if os.path.exists(path) else 0
    inode = os.stat(path).st_ino if os.path.exists(path) else None
    buffer = b""
    while True:
        finished = done.is_set()
        if os.path.exists(path):
            st = os.stat(path)
            if inode is not None and st.st_ino != inode:  # rotated (maybe more than once) since the last read
                buffer += _read_rotated_since(path, inode, position)
                position = 0
            inode = st.st_ino
            with open(path, "rb") as f:
                f.seek(position)
                chunk = f.read()
            position += len(chunk)
            buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        out = b""
        for raw in complete:
            try:
                out += _render(parse_log_line(raw), timestamps)
            except ValueError:
                continue
        if out:
            yield out
        if finished:
            return
        try:
            await wait_for(done.wait(), poll_interval)
        except asyncio.TimeoutError:
            pass
