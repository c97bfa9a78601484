"""The ``oci`` runtime: real Linux containers through ``runc`` (needs root).

* **Images** come from the local image store (:mod:`orchestra.node.images`;
  ``orchestra image import NAME DIR|TARBALL``); ``busybox`` is assembled from
  the host's busybox-static on first use. A missing image fails creation with
  ``ErrImagePull``.
* **Containers**: one OCI bundle each (``<data_dir>/containers/<id>``), its
  root filesystem an overlay of the image (a copy where overlayfs is not
  available), its ``config.json`` generated from the container spec (process,
  environment, working dir, ``/proc`` ``/dev`` ``/sys`` and the volume binds,
  pid/ipc/uts/mount namespaces, cgroup limits from ``resources.limits``).
  The runtime runs ``runc run`` in the foreground as each container's
  supervisor: its stdout/stderr are the container's, copied into the CRI log,
  and its exit status is the container's (128+N when killed by signal N).
  Containers therefore live as long as the runtime that started them.
* **Pods**: one network namespace per pod, joined by all its containers (so
  they talk over ``localhost``), a veth pair onto the bridge (``orch0``) and an
  address from the node's pod CIDR (``10.88.0.0/16``), see
  :mod:`orchestra.plugins.runtimes.ocinet`. The host and the node's other pods
  reach a pod on its pod IP.
* **Stats** come from ``runc events --stats`` (the container's cgroup);
  **exec** is ``runc exec``.

The host is checked when the runtime opens: root, ``runc`` and ``ip`` present,
and a probe container that must run; otherwise
:class:`~orchestra.node.runtime.RuntimeUnavailableError` says what is wrong.

Configuration keys: ``data_dir``, ``image_dir``, ``pod_cidr``, ``bridge``,
``runc``, ``log_max_bytes``, ``log_max_files``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
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
    ImagePullError,
    RunContainerError,
    RuntimeUnavailableError,
    Sandbox,
    SandboxSpec,
    resolve_argv,
)
from orchestra.node.images import DEFAULT_PATH, ImageNotFoundError, ImageStore, default_image_store_path
from orchestra.plugins.runtimes.addresses import AddressAllocator
from orchestra.plugins.runtimes.ocinet import BridgeNetwork, PodNetwork
from orchestra.plugins.runtimes.ocispec import ContainerConfig, build_spec
from orchestra.plugins.runtimes.supervised import ContainerRecord, SupervisedRuntime

__all__ = [
    "NAME",
    "DEFAULT_POD_CIDR",
    "DEFAULT_BRIDGE",
    "OciRuntime",
    "host_problem",
    "orchestra_runtime_create",
    "orchestra_runtime_names",
]

NAME = "oci"
#: The node's pod CIDR unless configured.
DEFAULT_POD_CIDR = "10.88.0.0/16"
#: The bridge pods attach to unless configured.
DEFAULT_BRIDGE = "orch0"

_PROBED: dict[str, str | None] = {}


def host_problem(runc: str = "runc") -> str | None:
    """What keeps the oci runtime from working on this host, or ``None`` (no probe container)."""
    if os.geteuid() != 0:
        return (
            "the oci runtime needs root (it creates network namespaces, cgroups and mounts); "
            "use the process runtime instead"
        )
    if shutil.which(runc) is None:
        return f"runc was not found ({runc!r} is not on PATH); install it, e.g. apt-get install runc"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) was not found; install it, e.g. apt-get install iproute2"
    if not os.path.isdir("/sys/fs/cgroup"):
        return "no cgroup filesystem is mounted at /sys/fs/cgroup"
    return None


def _runc_error(log_path: str) -> str | None:
    """The last error runc logged (its JSON log), without runc's own prefix; ``None`` if none."""
    message = ""
    try:
        with open(log_path) as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("level") in ("error", "fatal"):
                    message = entry.get("msg", "")
    except FileNotFoundError:
        pass
    if not message:
        return None
    for prefix in ("runc run failed: ", "runc create failed: ", "unable to start container process: "):
        message = message.removeprefix(prefix)
    return message


class OciRuntime(SupervisedRuntime):
    """Containers through runc, pods as network namespaces on a bridge (see the module docstring)."""

    name = NAME

    def __init__(
        self,
        root: str,
        *,
        images: ImageStore,
        runc: str = "runc",
        pod_cidr: str = DEFAULT_POD_CIDR,
        bridge: str = DEFAULT_BRIDGE,
        log_max_bytes: int = DEFAULT_LOG_MAX_BYTES,
        log_max_files: int = DEFAULT_LOG_MAX_FILES,
        owns_root: bool = False,
    ) -> None:
        super().__init__(root, log_max_bytes=log_max_bytes, log_max_files=log_max_files, owns_root=owns_root)
        self.images = images
        self.runc = runc
        self.network = BridgeNetwork(bridge, pod_cidr)
        self.addresses = AddressAllocator(
            pod_cidr, os.path.join(tempfile.gettempdir(), f"orchestra-oci-ips-{bridge}"), {self.network.gateway}
        )
        self.state_root = os.path.join(root, "runc")
        self._pods: dict[str, PodNetwork] = {}
        self._opened = False

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "OciRuntime":
        """Build from the agent's runtime settings (unknown keys are ignored)."""
        data_dir = config.get("data_dir")
        owns = data_dir is None
        root = tempfile.mkdtemp(prefix="orchestra-oci-") if owns else os.path.join(data_dir, "oci")
        return cls(
            root,
            images=ImageStore(config.get("image_dir") or default_image_store_path()),
            runc=config.get("runc", "runc"),
            pod_cidr=config.get("pod_cidr", DEFAULT_POD_CIDR),
            bridge=config.get("bridge", DEFAULT_BRIDGE),
            log_max_bytes=int(config.get("log_max_bytes", DEFAULT_LOG_MAX_BYTES)),
            log_max_files=int(config.get("log_max_files", DEFAULT_LOG_MAX_FILES)),
            owns_root=owns,
        )

    # -- host

    async def open(self) -> None:
        """Check the host, then create the directories and the bridge."""
        problem = host_problem(self.runc)
        if problem:
            raise RuntimeUnavailableError(problem)
        os.makedirs(self.state_root, exist_ok=True)
        await self._probe()
        await self.network.acquire()
        self._opened = True

    async def _probe(self) -> None:
        """Run one tiny container, once per runc binary, so a broken host fails here, clearly."""
        if self.runc not in _PROBED:
            _PROBED[self.runc] = await asyncio.to_thread(self._probe_once)
        if _PROBED[self.runc]:
            raise RuntimeUnavailableError(
                f"runc cannot run containers on this host: {_PROBED[self.runc]} "
                "(runc runs on hybrid cgroup layouts where crun does not; check `runc run` by hand)"
            )

    def _probe_once(self) -> str | None:
        try:
            image = self.images.ensure_busybox()
        except ImageNotFoundError:
            return None  # nothing to probe with; containers will report their own errors
        with tempfile.TemporaryDirectory(prefix="orchestra-probe-", dir=self.root) as bundle:
            config = ContainerConfig(
                argv=("/bin/busybox", "true"), env=(f"PATH={DEFAULT_PATH}",), cwd="/", rootfs=image.rootfs,
                hostname="probe", netns_path=None, cgroups_path=f"/orchestra/probe-{os.getpid()}",
            )
            spec = build_spec(self.runc, config)
            spec["root"]["readonly"] = True
            Path(bundle, "config.json").write_text(json.dumps(spec))
            result = subprocess.run(
                [self.runc, "--root", self.state_root, "run", "--bundle", bundle, f"probe-{os.getpid()}"],
                capture_output=True, text=True, timeout=60,
            )
        return None if result.returncode == 0 else (result.stderr.strip() or f"exit status {result.returncode}")

    async def close(self) -> None:
        """Stop everything, release the pod IPs and (for the last user) the bridge."""
        await super().close()
        self.addresses.release_all()
        if self._opened:
            self._opened = False
            await self.network.release()

    async def _runc(self, *args: str, check: bool = True) -> str:
        process = await asyncio.create_subprocess_exec(
            self.runc, "--root", self.state_root, *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await process.communicate()
        if check and process.returncode != 0:
            raise RunContainerError(f"runc {args[0]} failed: {stderr.decode().strip()}")
        return stdout.decode()

    # -- sandbox network

    async def _setup_sandbox(self, sandbox_id: str, spec: SandboxSpec) -> tuple[str, str | None]:
        address = self.addresses.allocate()
        try:
            pod = await self.network.attach(sandbox_id, address)
        except BaseException:
            self.addresses.release(address)
            raise
        self._pods[sandbox_id] = pod
        directory = self._sandbox_dir(sandbox_id)
        directory.mkdir(parents=True, exist_ok=True)
        hostname = spec.hostname or spec.name
        (directory / "hosts").write_text(f"127.0.0.1\tlocalhost\n::1\tlocalhost\n{address}\t{hostname}\n")
        return address, pod.netns_path

    async def _teardown_sandbox(self, sandbox: Sandbox) -> None:
        pod = self._pods.pop(sandbox.id, None)
        if pod is not None:
            await self.network.detach(pod)
        self.addresses.release(sandbox.pod_ip)

    # -- containers

    async def _prepare(self, record: ContainerRecord, sandbox: Sandbox) -> None:
        spec = record.spec
        try:
            image = await asyncio.to_thread(self.images.resolve, spec.image)
        except ImageNotFoundError as exc:
            raise ImagePullError(f'Failed to pull image "{spec.image}": {exc}') from exc
        argv = resolve_argv(spec.command, spec.args, image.entrypoint, image.cmd)
        if not argv:
            raise CreateContainerError("failed to generate container spec: no command specified")
        env = dict(item.split("=", 1) for item in image.env if "=" in item)
        env.setdefault("PATH", DEFAULT_PATH)
        env.update(HOSTNAME=sandbox.name, POD_IP=sandbox.pod_ip)
        env.update(spec.env)
        bundle = Path(self.root) / "containers" / record.id
        rootfs = await asyncio.to_thread(self._make_rootfs, image.rootfs, bundle)
        config = ContainerConfig(
            argv=tuple(argv),
            env=tuple(f"{k}={v}" for k, v in env.items()),
            cwd=spec.working_dir or image.working_dir or "/",
            rootfs=rootfs,
            hostname=sandbox.name,
            netns_path=sandbox.netns_path,
            cgroups_path=f"/orchestra/{record.id}",
            mounts=spec.mounts,
            limits=spec.limits,
            hosts_file=str(self._sandbox_dir(sandbox.id) / "hosts"),
        )
        (bundle / "config.json").write_text(json.dumps(build_spec(self.runc, config), indent=1))
        record.extra.update(bundle=str(bundle), cwd=config.cwd)

    def _make_rootfs(self, image_rootfs: str, bundle: Path) -> str:
        """An overlay of the image (a copy where overlayfs is not available)."""
        rootfs, upper, work = bundle / "rootfs", bundle / "upper", bundle / "work"
        for directory in (rootfs, upper, work):
            directory.mkdir(parents=True, exist_ok=True)
        options = f"lowerdir={image_rootfs},upperdir={upper},workdir={work}"
        mounted = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(rootfs)], capture_output=True)
        if mounted.returncode != 0:
            rootfs.rmdir()
            shutil.copytree(image_rootfs, rootfs, symlinks=True)
        return str(rootfs)

    async def _spawn(
        self, record: ContainerRecord, sandbox: Sandbox, stdout: int, stderr: int
    ) -> asyncio.subprocess.Process:
        bundle = record.extra["bundle"]
        pid_file, log_file = os.path.join(bundle, "pid"), os.path.join(bundle, "runc.log")
        process = await asyncio.create_subprocess_exec(
            self.runc, "--root", self.state_root, "--log", log_file, "--log-format", "json",
            "run", "--bundle", bundle, "--pid-file", pid_file, record.id,
            stdin=asyncio.subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True,
        )
        # runc writes the pid file once the container exists; it fails before that when the
        # command cannot be found or the bundle is wrong
        exit_task = asyncio.ensure_future(process.wait())
        try:
            while not exit_task.done():
                if os.path.exists(pid_file) and os.path.getsize(pid_file) > 0:
                    record.pid = int(Path(pid_file).read_text().strip())
                    return process
                await asyncio.wait([exit_task], timeout=0.005)
        finally:
            exit_task.cancel()
        error = _runc_error(log_file)
        if error is None:  # the container ran and already exited: the supervisor reports how
            return process
        raise RunContainerError(error)

    async def _signal(self, record: ContainerRecord, signal: int) -> None:
        await self._runc("kill", record.id, str(int(signal)), check=False)

    async def _after_exit(self, record: ContainerRecord) -> None:
        # `runc run` deletes its container on exit; make sure, should runc itself have died
        if os.path.exists(os.path.join(self.state_root, record.id)):
            await self._runc("delete", "--force", record.id, check=False)

    async def _discard(self, record: ContainerRecord) -> None:
        bundle = record.extra.get("bundle")
        if bundle is None:
            return
        rootfs = os.path.join(bundle, "rootfs")
        if os.path.ismount(rootfs):
            await asyncio.to_thread(subprocess.run, ["umount", "-l", rootfs], capture_output=True)
        await asyncio.to_thread(shutil.rmtree, bundle, True)

    async def container_stats(self, container_id: str) -> ContainerStats:
        """CPU and working set of the container's cgroup (``runc events --stats``)."""
        record = self._record(container_id)
        if record.state is not ContainerState.RUNNING:
            return ContainerStats(0, 0)
        try:
            data = json.loads(await self._runc("events", "--stats", record.id)).get("data", {})
        except (RunContainerError, ValueError):
            return ContainerStats(0, 0)
        cpu = int(data.get("cpu", {}).get("usage", {}).get("total", 0))
        memory = data.get("memory", {})
        usage = int(memory.get("usage", {}).get("usage", 0))
        raw = memory.get("raw") or memory.get("stats") or {}
        inactive = int(raw.get("total_inactive_file", raw.get("inactive_file", 0)))
        return ContainerStats(cpu, max(0, usage - inactive))

    async def exec_in_container(self, container_id: str, command: list[str], timeout: float = 10.0) -> ExecResult:
        """``runc exec`` in the container's namespaces, with its environment and working dir."""
        record = self._record(container_id)
        if record.state is not ContainerState.RUNNING:
            raise RunContainerError(f"container {record.spec.name} is not running")
        process = await asyncio.create_subprocess_exec(
            self.runc, "--root", self.state_root, "exec", "--cwd", record.extra["cwd"], record.id, *command,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            stdout, stderr = await wait_for(process.communicate(), timeout)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
            return ExecResult(124, b"", f"command timed out after {timeout}s".encode())
        return ExecResult(process.returncode, stdout, stderr)


@hookimpl
def orchestra_runtime_create(name: str, config: dict) -> OciRuntime | None:
    """An oci runtime for the name ``oci`` (the host is checked when it opens)."""
    if name != NAME:
        return None
    return OciRuntime.from_config(config)


@hookimpl
def orchestra_runtime_names() -> list[str]:
    """The one runtime this plugin provides: ``oci``."""
    return [NAME]
