"""Building an OCI runtime ``config.json`` for one container of a pod.

The base document comes from the installed ``runc spec`` (so it always matches
the runc in use); this module fills in the process, hostname, mounts,
namespaces (joining the pod's network namespace) and cgroup limits.
"""

from __future__ import annotations

import copy
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import attrs

from orchestra.node.runtime import ResourceLimits, VolumeMount

__all__ = ["ContainerConfig", "base_spec", "build_spec", "CPU_PERIOD_US", "DEFAULT_CAPABILITIES"]

#: CFS period for CPU limits (microseconds), as the kubelet uses.
CPU_PERIOD_US = 100_000

#: The capabilities container runtimes grant by default (containerd's and Docker's set).
DEFAULT_CAPABILITIES = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]

_BASE: dict[str, dict[str, Any]] = {}


def base_spec(runc: str) -> dict[str, Any]:
    """The default spec ``runc spec`` writes (computed once per runc binary)."""
    if runc not in _BASE:
        with tempfile.TemporaryDirectory(prefix="runc-spec-") as tmp:
            subprocess.run([runc, "spec", "--bundle", tmp], check=True, capture_output=True)
            _BASE[runc] = json.loads((Path(tmp) / "config.json").read_text())
    return copy.deepcopy(_BASE[runc])


@attrs.frozen
class ContainerConfig:
    """Everything :func:`build_spec` needs for one container."""

    argv: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    rootfs: str
    hostname: str
    netns_path: str | None
    cgroups_path: str
    mounts: tuple[VolumeMount, ...] = ()
    limits: ResourceLimits = ResourceLimits()
    hosts_file: str | None = None


def _bind(source: str, destination: str, read_only: bool) -> dict[str, Any]:
    options = ["rbind", "rprivate"] + (["ro"] if read_only else ["rw"])
    return {"destination": destination, "type": "bind", "source": source, "options": options}


def build_spec(runc: str, config: ContainerConfig) -> dict[str, Any]:
    """The ``config.json`` document for ``config``."""
    spec = base_spec(runc)
    process = spec["process"]
    process.update(terminal=False, args=list(config.argv), env=list(config.env), cwd=config.cwd)
    for kind in ("bounding", "effective", "permitted"):
        process["capabilities"][kind] = list(DEFAULT_CAPABILITIES)
    process["capabilities"].pop("inheritable", None)
    process["capabilities"].pop("ambient", None)
    spec["root"] = {"path": config.rootfs, "readonly": False}
    spec["hostname"] = config.hostname
    mounts = spec["mounts"]
    if config.hosts_file:
        mounts.append(_bind(config.hosts_file, "/etc/hosts", read_only=True))
    for mount in config.mounts:
        mounts.append(_bind(mount.host_path, mount.container_path, mount.read_only))
    linux = spec["linux"]
    namespaces = [ns for ns in linux["namespaces"] if ns["type"] != "network"]
    network: dict[str, Any] = {"type": "network"}
    if config.netns_path:
        network["path"] = config.netns_path
    linux["namespaces"] = namespaces + [network]
    linux["cgroupsPath"] = config.cgroups_path
    resources = linux.setdefault("resources", {})
    if config.limits.memory_bytes:
        resources["memory"] = {"limit": config.limits.memory_bytes}
    if config.limits.cpu_millis:
        quota = max(1000, config.limits.cpu_millis * CPU_PERIOD_US // 1000)  # the kernel's minimum is 1 ms
        resources["cpu"] = {"quota": quota, "period": CPU_PERIOD_US}
    return spec
