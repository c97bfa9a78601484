"""The ``process`` runtime (the default): each container is a host process; no root needed.

What it does:

* every container runs as a host process in its own session and process group
  (``start_new_session``); stop sends the signal to the whole group, SIGKILL
  after the timeout; when the main process exits, the rest of its group is
  killed (as a container's pid namespace dies with its init);
* every pod gets its own address in ``127.0.0.0/8`` (``127.1.0.0/16`` unless
  ``pod_cidr`` says otherwise), shared by its containers and exported as
  ``POD_IP``; any ``127.x.y.z`` address is bindable on Linux without set-up;
* stdout and stderr go to the container's CRI log file;
* emptyDir volumes are per-pod directories under the runtime's data directory,
  removed with the pod; their sizeLimit is checked by the agent polling
  :meth:`~orchestra.node.runtime.Runtime.check_volume_limits` (a ``du``-like walk);
* stats come from ``/proc`` (CPU ticks and resident memory of the group).

What it does not do — it is not isolation:

* the ``image`` field is recorded but **no image is pulled**; the command must
  exist on the host (``command``/``args`` are required);
* no namespaces: a container sees the host's filesystem, processes and
  network; volume mounts are not remapped to their ``mountPath`` — each mount's
  host directory is exported as ``ORCHESTRA_VOLUME_<NAME>`` instead;
* ``resources.limits`` are recorded, not enforced.

The container's environment is ``PATH`` and ``HOME`` from the runtime's own
environment, ``HOSTNAME`` (the pod's hostname), ``POD_IP``, the
``ORCHESTRA_VOLUME_*`` variables, then the spec's ``env``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal as signals
import tempfile
from typing import Any

from orchestra.aio import wait_for
from orchestra.hookspecs import hookimpl
from orchestra.node.runtime import (
    DEFAULT_LOG_MAX_BYTES,
    DEFAULT_LOG_MAX_FILES,
    ContainerState,
    ContainerStats,
    CreateContainerError,
    ExecResult,
    RunContainerError,
    Sandbox,
    SandboxSpec,
    resolve_argv,
)
from orchestra.plugins.runtimes.addresses import AddressAllocator, default_lock_directory
from orchestra.plugins.runtimes.procfs import session_usage
from orchestra.plugins.runtimes.supervised import ContainerRecord, SupervisedRuntime

__all__ = [
    "NAME",
    "DEFAULT_POD_CIDR",
    "ProcessRuntime",
    "executable_not_found",
    "find_executable",
    "volume_env_name",
    "orchestra_runtime_create",
    "orchestra_runtime_names",
]

NAME = "process"
#: Where pod IPs come from unless configured (``pod_cidr``).
DEFAULT_POD_CIDR = "127.1.0.0/16"


def executable_not_found(command: str) -> str:
    """The Kubernetes (runc) message for a command that is not on ``$PATH``."""
    return f'exec: "{command}": executable file not found in $PATH'


def find_executable(command: str, path: str, cwd: str | None) -> str:
    """The file ``command`` runs, searched as ``execvp`` does; raises :class:`RunContainerError`."""
    if "/" in command:
        candidate = os.path.join(cwd or os.getcwd(), command)
        if not os.path.exists(candidate):
            raise RunContainerError(f'exec: "{command}": stat {command}: no such file or directory')
        if os.path.isdir(candidate) or not os.access(candidate, os.X_OK):
            raise RunContainerError(f'exec: "{command}": permission denied')
        return candidate
    found = shutil.which(command, path=path)
    if found is None:
        raise RunContainerError(executable_not_found(command))
    return found


def volume_env_name(volume: str) -> str:
    """``ORCHESTRA_VOLUME_<NAME>``: the variable holding a volume's host directory."""
    return "ORCHESTRA_VOLUME_" + "".join(c if c.isalnum() else "_" for c in volume).upper()


class ProcessRuntime(SupervisedRuntime):
    """Containers as host processes, pods as loopback addresses (see the module docstring).

    Configuration keys: ``data_dir`` (default: a new temporary directory,
    removed on close), ``pod_cidr`` (default ``127.1.0.0/16``),
    ``address_lock_dir``, ``log_max_bytes``, ``log_max_files``.
    """

    name = NAME

    def __init__(
        self,
        root: str,
        *,
        pod_cidr: str = DEFAULT_POD_CIDR,
        address_lock_dir: str | None = None,
        log_max_bytes: int = DEFAULT_LOG_MAX_BYTES,
        log_max_files: int = DEFAULT_LOG_MAX_FILES,
        owns_root: bool = False,
    ) -> None:
        super().__init__(root, log_max_bytes=log_max_bytes, log_max_files=log_max_files, owns_root=owns_root)
        self.addresses = AddressAllocator(pod_cidr, address_lock_dir or default_lock_directory())

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ProcessRuntime":
        """Build from the agent's runtime settings (unknown keys are ignored)."""
        root = config.get("data_dir")
        owns = root is None
        root = root or tempfile.mkdtemp(prefix="orchestra-process-")
        return cls(
            os.path.join(root, "process") if not owns else root,
            pod_cidr=config.get("pod_cidr", DEFAULT_POD_CIDR),
            address_lock_dir=config.get("address_lock_dir"),
            log_max_bytes=int(config.get("log_max_bytes", DEFAULT_LOG_MAX_BYTES)),
            log_max_files=int(config.get("log_max_files", DEFAULT_LOG_MAX_FILES)),
            owns_root=owns,
        )

    async def close(self) -> None:
        """Stop everything and give back every pod IP."""
        await super().close()
        self.addresses.release_all()

    # -- sandbox network: one loopback address

    async def _setup_sandbox(self, sandbox_id: str, spec: SandboxSpec) -> tuple[str, str | None]:
        return self.addresses.allocate(), None

    async def _teardown_sandbox(self, sandbox: Sandbox) -> None:
        self.addresses.release(sandbox.pod_ip)

    # -- containers

    def _environment(self, record: ContainerRecord, sandbox: Sandbox) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": os.environ.get("HOME", "/"),
            "HOSTNAME": sandbox.name,
            "POD_IP": sandbox.pod_ip,
        }
        for mount in record.spec.mounts:
            if mount.name:
                env[volume_env_name(mount.name)] = mount.host_path
        env.update(record.spec.env)
        return env

    async def _prepare(self, record: ContainerRecord, sandbox: Sandbox) -> None:
        if not resolve_argv(record.spec.command, record.spec.args):
            raise CreateContainerError(
                "failed to generate container spec: no command specified (the process runtime pulls no image, "
                "so command or args must name a host program)"
            )
        record.extra["env"] = self._environment(record, sandbox)

    async def _spawn(
        self, record: ContainerRecord, sandbox: Sandbox, stdout: int, stderr: int
    ) -> asyncio.subprocess.Process:
        spec, env = record.spec, record.extra["env"]
        argv = resolve_argv(spec.command, spec.args)
        cwd = spec.working_dir or None
        if cwd is not None and not os.path.isdir(cwd):
            raise RunContainerError(f'chdir to cwd ("{cwd}") set in config.json failed: no such file or directory')
        executable = find_executable(argv[0], env.get("PATH", os.defpath), cwd)
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                executable=executable,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise RunContainerError(f'exec: "{argv[0]}": {exc.strerror or exc}') from exc

    async def _signal(self, record: ContainerRecord, signal: int) -> None:
        try:
            os.killpg(record.pid, signal)
        except (ProcessLookupError, PermissionError):
            pass

    async def _after_exit(self, record: ContainerRecord) -> None:
        # the container "dies with its init": kill what is left of its group
        await self._signal(record, signals.SIGKILL)

    async def container_stats(self, container_id: str) -> ContainerStats:
        """CPU and resident memory of the container's process group, from ``/proc``."""
        record = self._record(container_id)
        if record.state is not ContainerState.RUNNING or record.pid is None:
            return ContainerStats(0, 0)
        cpu, rss = await asyncio.to_thread(session_usage, record.pid)
        return ContainerStats(cpu, rss)

    async def exec_in_container(self, container_id: str, command: list[str], timeout: float = 10.0) -> ExecResult:
        """Run ``command`` with the container's environment and working directory."""
        record = self._record(container_id)
        if record.state is not ContainerState.RUNNING:
            raise RunContainerError(f"container {record.spec.name} is not running")
        env = record.extra["env"]
        cwd = record.spec.working_dir or None
        try:
            executable = find_executable(command[0], env.get("PATH", os.defpath), cwd)
        except RunContainerError as exc:
            return ExecResult(127, b"", exc.message.encode())
        process = await asyncio.create_subprocess_exec(
            *command,
            executable=executable,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        try:
            stdout, stderr = await wait_for(process.communicate(), timeout)
        except asyncio.TimeoutError:
            try:
                os.killpg(process.pid, signals.SIGKILL)
            except ProcessLookupError:
                pass
            await process.wait()
            return ExecResult(124, b"", f"command timed out after {timeout}s".encode())
        code = process.returncode
        return ExecResult(128 - code if code < 0 else code, stdout, stderr)


@hookimpl
def orchestra_runtime_create(name: str, config: dict) -> ProcessRuntime | None:
    """A :class:`ProcessRuntime` for the name ``process``."""
    if name != NAME:
        return None
    return ProcessRuntime.from_config(config)


@hookimpl
def orchestra_runtime_names() -> list[str]:
    """The one runtime this plugin provides: ``process``."""
    return [NAME]
