"""Pod networking for the oci runtime: a bridge, a network namespace and a veth pair per pod.

Layout (defaults)::

    host: bridge orch0 10.88.0.1/16 ── veth <vo…> ─┐
                                                   │  netns orch-<sandbox>
                                                   └─ eth0 10.88.0.N/16, lo; default via 10.88.0.1

Pods of a node share the bridge, so they reach each other at layer 2, and the
host reaches every pod through the bridge's address; nothing is routed off the
machine (no NAT, no forwarding). Commands go through ``ip`` (iproute2) rather
than a netlink library: it is on every Linux host, adds no dependency, and each
step is a readable command that shows up as-is in error messages.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import threading
from typing import ClassVar

import attrs

__all__ = ["IpCommandError", "PodNetwork", "BridgeNetwork", "run_ip", "NETNS_DIR"]

#: Where ``ip netns`` keeps named namespaces.
NETNS_DIR = "/run/netns"


class IpCommandError(RuntimeError):
    """An ``ip`` command failed; the message has the command and its error output."""


async def run_ip(*args: str, check: bool = True) -> str:
    """Run ``ip ARGS``; raise :class:`IpCommandError` on failure when ``check``."""
    process = await asyncio.create_subprocess_exec(
        "ip", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await process.communicate()
    if check and process.returncode != 0:
        raise IpCommandError(f"ip {' '.join(args)} failed: {stderr.decode().strip()}")
    return stdout.decode()


@attrs.frozen
class PodNetwork:
    """One pod's network: its namespace, address and host-side interface."""

    netns: str
    address: str
    host_interface: str

    @property
    def netns_path(self) -> str:
        """The namespace file containers join."""
        return os.path.join(NETNS_DIR, self.netns)


@attrs.define
class BridgeNetwork:
    """A bridge shared by the pods of this host, created on first use and removed by its last user.

    Runtimes of one process count their uses; across processes, a bridge that
    still has pod interfaces attached is left in place.
    """

    bridge: str
    cidr: str

    _users: ClassVar[dict[str, int]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @property
    def network(self) -> ipaddress.IPv4Network:
        """The pod CIDR."""
        return ipaddress.ip_network(self.cidr)

    @property
    def gateway(self) -> str:
        """The bridge's own address: the CIDR's first host."""
        return str(next(self.network.hosts()))

    async def acquire(self) -> None:
        """Create the bridge (if missing) with the gateway address, and count this user."""
        with self._lock:
            self._users[self.bridge] = self._users.get(self.bridge, 0) + 1
        if not os.path.exists(f"/sys/class/net/{self.bridge}"):
            await run_ip("link", "add", self.bridge, "type", "bridge")
        addresses = await run_ip("-o", "addr", "show", "dev", self.bridge)
        gateway = f"{self.gateway}/{self.network.prefixlen}"
        if f" {gateway} " not in addresses:
            await run_ip("addr", "add", gateway, "dev", self.bridge)
        await run_ip("link", "set", self.bridge, "up")

    async def release(self) -> None:
        """Uncount this user; the last one deletes the bridge unless another process still has pods on it."""
        with self._lock:
            left = self._users.get(self.bridge, 1) - 1
            self._users[self.bridge] = left
        ports = f"/sys/class/net/{self.bridge}/brif"
        if left <= 0 and os.path.isdir(ports) and not os.listdir(ports):
            await run_ip("link", "del", self.bridge, check=False)

    async def attach(self, sandbox_id: str, address: str) -> PodNetwork:
        """A namespace for a pod with ``address`` on ``eth0``, wired to the bridge."""
        pod = PodNetwork(netns=f"orch-{sandbox_id}", address=address, host_interface=f"vo{sandbox_id[:12]}")
        await run_ip("netns", "add", pod.netns)
        try:
            await run_ip("link", "add", pod.host_interface, "type", "veth", "peer", "name", "eth0", "netns", pod.netns)
            await run_ip("link", "set", pod.host_interface, "master", self.bridge, "up")
            await run_ip("-n", pod.netns, "link", "set", "lo", "up")
            await run_ip("-n", pod.netns, "addr", "add", f"{address}/{self.network.prefixlen}", "dev", "eth0")
            await run_ip("-n", pod.netns, "link", "set", "eth0", "up")
            await run_ip("-n", pod.netns, "route", "add", "default", "via", self.gateway)
        except BaseException:
            await self.detach(pod)
            raise
        return pod

    async def detach(self, pod: PodNetwork) -> None:
        """Delete the pod's namespace (which deletes its veth pair); idempotent."""
        if os.path.exists(pod.netns_path):
            await run_ip("netns", "del", pod.netns, check=False)
        if os.path.exists(f"/sys/class/net/{pod.host_interface}"):
            await run_ip("link", "del", pod.host_interface, check=False)
