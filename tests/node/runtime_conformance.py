"""The runtime test harness (after Nomad's driver harness): one way to drive any runtime.

Each runtime has a :class:`Harness` that knows how to make it and how to
express the few programs the conformance suite needs (exit with a code, run
until stopped, ignore SIGTERM, print lines, …) in that runtime's terms: shell
scripts for runtimes that run programs, environment settings for the
simulated one. The suite (``test_runtime_conformance.py``) only talks to the
:class:`~orchestra.node.runtime.Runtime` contract and these programs.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import attrs

from orchestra.node.runtime import (
    ContainerSpec,
    ContainerState,
    Runtime,
    Sandbox,
    SandboxSpec,
    VolumeMount,
    create_runtime,
    read_container_log,
)
from orchestra.plugin_manager import get_plugin_manager

__all__ = [
    "Harness",
    "ShellHarness",
    "ProcessHarness",
    "OciHarness",
    "SimulatedHarness",
    "HARNESSES",
    "NOT_FOUND_MESSAGE",
    "sandbox_spec",
]

#: The Kubernetes message for a command that does not exist (``nosuchcmd``).
NOT_FOUND_MESSAGE = 'exec: "nosuchcmd": executable file not found in $PATH'

# Runs until SIGTERM, then exits 143 (as an unhandled SIGTERM would; explicit so that
# it also holds for a container's pid 1, which ignores unhandled signals).
FOREVER = 'trap "exit 143" TERM; echo ready; sleep 100000 & wait'
# Ignores SIGTERM (children inherit the ignored disposition): only SIGKILL stops it.
DEAF = 'trap "" TERM; echo ready; sleep 100000'


def sandbox_spec(name: str = "web", **kwargs: Any) -> SandboxSpec:
    """A sandbox spec with a unique uid."""
    return SandboxSpec(namespace="default", name=name, uid=str(uuid.uuid4()), **kwargs)


@attrs.define
class Harness:
    """How to make one runtime and express the suite's programs for it."""

    name: str
    #: the runtime executes real programs (exec output, env, working dir, files)
    runs_programs: bool = True
    #: an image name the runtime cannot find (``None``: it pulls no images)
    missing_image: str | None = None

    def skip_reason(self) -> str | None:
        """Why this runtime cannot run here, or ``None``."""
        return None

    def config(self, data_dir: Path) -> dict[str, Any]:
        """Runtime settings for a test using ``data_dir``."""
        return {"data_dir": str(data_dir)}

    async def make(self, data_dir: Path) -> Runtime:
        """A fresh runtime through the plugin hook, as the agent makes it."""
        return await create_runtime(self.name, self.config(data_dir), get_plugin_manager(load_entrypoints=False))

    # -- programs (each returns a ContainerSpec)

    def exits(self, code: int, name: str = "app", **kw: Any) -> ContainerSpec:
        """Exits at once with ``code``."""
        raise NotImplementedError

    def forever(self, name: str = "app", **kw: Any) -> ContainerSpec:
        """Runs until stopped; exits 143 on SIGTERM."""
        raise NotImplementedError

    def deaf(self, name: str = "app", **kw: Any) -> ContainerSpec:
        """Runs until SIGKILL, ignoring SIGTERM."""
        raise NotImplementedError

    def prints(self, stdout: str, stderr: str, name: str = "app", **kw: Any) -> ContainerSpec:
        """Prints one line on each stream, then exits 0."""
        raise NotImplementedError

    def missing_command(self, name: str = "app", **kw: Any) -> ContainerSpec:
        """Its command does not exist."""
        raise NotImplementedError

    def script(self, script: str, name: str = "app", **kw: Any) -> ContainerSpec:
        """Runs a shell script (only for runtimes that run programs)."""
        raise NotImplementedError

    async def started(self, runtime: Runtime, container_id: str) -> None:
        """Start a container and return once its program has set itself up (its signal traps)."""
        await runtime.start_container(container_id)

    def volume(self, sandbox: Sandbox, volume: str, container_path: str) -> tuple[VolumeMount, str]:
        """A mount of an emptyDir and the path a container's program uses for it."""
        return VolumeMount(sandbox.volumes[volume], container_path, name=volume), container_path


@attrs.define
class ShellHarness(Harness):
    """Runtimes that run real programs: every program is a ``sh -c`` script."""

    image: str = ""

    def script(self, script: str, name: str = "app", **kw: Any) -> ContainerSpec:
        return ContainerSpec(name=name, image=self.image, command=("sh", "-c", script), **kw)

    async def started(self, runtime: Runtime, container_id: str) -> None:
        """Start it, then wait for the ``ready`` line the long-running programs print after their traps."""
        status = await runtime.start_container(container_id)
        while b"ready" not in read_container_log(status.log_path):
            if (await runtime.inspect_container(container_id)).state is not ContainerState.RUNNING:
                raise AssertionError(f"{status.name} exited before it was ready")
            await asyncio.sleep(0.01)

    def exits(self, code: int, name: str = "app", **kw: Any) -> ContainerSpec:
        return self.script(f"exit {code}", name, **kw)

    def forever(self, name: str = "app", **kw: Any) -> ContainerSpec:
        return self.script(FOREVER, name, **kw)

    def deaf(self, name: str = "app", **kw: Any) -> ContainerSpec:
        return self.script(DEAF, name, **kw)

    def prints(self, stdout: str, stderr: str, name: str = "app", **kw: Any) -> ContainerSpec:
        return self.script(f"echo '{stdout}'; echo '{stderr}' >&2", name, **kw)

    def missing_command(self, name: str = "app", **kw: Any) -> ContainerSpec:
        return ContainerSpec(name=name, image=self.image, command=("nosuchcmd",), **kw)


@attrs.define
class ProcessHarness(ShellHarness):
    """The process runtime: no mount namespace, so programs use a volume's host path."""

    def volume(self, sandbox: Sandbox, volume: str, container_path: str) -> tuple[VolumeMount, str]:
        mount = VolumeMount(sandbox.volumes[volume], container_path, name=volume)
        return mount, sandbox.volumes[volume]


@attrs.define
class OciHarness(ShellHarness):
    """The oci runtime: busybox containers through runc, as root."""

    def skip_reason(self) -> str | None:
        if os.geteuid() != 0:
            return "the oci runtime needs root (runc, network namespaces, cgroups)"
        if shutil.which("runc") is None:
            return "runc is not installed (apt-get install runc)"
        from orchestra.node.images import busybox_binary

        if busybox_binary() is None:
            return "no static busybox to build the busybox image from (apt-get install busybox-static)"
        return None

    def config(self, data_dir: Path) -> dict[str, Any]:
        return {"data_dir": str(data_dir), "pod_cidr": "10.89.0.0/16", "bridge": "orchtest0"}


@attrs.define
class SimulatedHarness(Harness):
    """The simulated runtime: programs are environment settings read by the runtime."""

    runs_programs: bool = False
    missing_image: str | None = "registry.invalid/no-such-image:1"

    def config(self, data_dir: Path) -> dict[str, Any]:
        return {"missing_images": [self.missing_image], "log_root": str(data_dir / "logs")}

    def _spec(self, name: str, env: dict[str, str], **kw: Any) -> ContainerSpec:
        env = {**env, **dict(kw.pop("env", ()))}
        return ContainerSpec(name=name, image="busybox", command=("sim",), env=env, **kw)

    def exits(self, code: int, name: str = "app", **kw: Any) -> ContainerSpec:
        return self._spec(name, {"SIMULATED_RUN_SECONDS": "0", "SIMULATED_EXIT_CODE": str(code)}, **kw)

    def forever(self, name: str = "app", **kw: Any) -> ContainerSpec:
        return self._spec(name, {}, **kw)

    def deaf(self, name: str = "app", **kw: Any) -> ContainerSpec:
        return self._spec(name, {"SIMULATED_IGNORE_SIGTERM": "1"}, **kw)

    def prints(self, stdout: str, stderr: str, name: str = "app", **kw: Any) -> ContainerSpec:
        env = {"SIMULATED_STDOUT": stdout, "SIMULATED_STDERR": stderr, "SIMULATED_RUN_SECONDS": "0"}
        return self._spec(name, env, **kw)

    def missing_command(self, name: str = "app", **kw: Any) -> ContainerSpec:
        return self._spec(name, {"SIMULATED_START_ERROR": NOT_FOUND_MESSAGE}, **kw)


#: Every runtime the conformance suite runs against.
HARNESSES: dict[str, Harness] = {
    "process": ProcessHarness("process"),
    "simulated": SimulatedHarness("simulated"),
    "oci": OciHarness("oci", image="busybox", missing_image="no-such-image:1"),
}
