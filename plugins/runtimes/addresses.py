"""Pod IP allocation from a CIDR, safe across every runtime on this machine.

An address is held by an exclusive ``flock`` on a file named after it in a lock
directory shared by all processes of the machine, plus an in-process set for
speed. ``flock`` locks belong to the open file, so two runtimes in one process
exclude each other as well as two processes do, and a crashed process releases
its addresses with its file descriptors: no address is ever handed to two live
pods, and none leaks.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import tempfile
import threading
from typing import ClassVar

import attrs

__all__ = ["AddressAllocator", "AddressesExhaustedError", "default_lock_directory"]


class AddressesExhaustedError(RuntimeError):
    """Every address of the CIDR is held by a live pod."""


def default_lock_directory() -> str:
    """``<tmp>/orchestra-pod-ips-<uid>``: the lock directory shared by this user's runtimes."""
    return os.path.join(tempfile.gettempdir(), f"orchestra-pod-ips-{os.getuid()}")


@attrs.define
class AddressAllocator:
    """Hands out host addresses of ``cidr``, skipping ``reserved`` ones (e.g. a gateway).

    :meth:`allocate` returns the lowest free address; :meth:`release` gives it back.
    """

    cidr: str
    lock_directory: str = attrs.field(factory=default_lock_directory)
    reserved: frozenset[str] = attrs.field(default=frozenset(), converter=frozenset)
    _held: dict[str, int] = attrs.field(factory=dict, init=False)

    #: Addresses held by any allocator of this process (fast path before flock).
    _process_held: ClassVar[set[str]] = set()
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __attrs_post_init__(self) -> None:
        ipaddress.ip_network(self.cidr)  # a bad CIDR fails here, naming itself

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        """The network addresses come from."""
        return ipaddress.ip_network(self.cidr)

    def allocate(self) -> str:
        """The lowest address no live pod holds; raises :class:`AddressesExhaustedError`."""
        os.makedirs(self.lock_directory, exist_ok=True)
        with self._lock:
            for host in self.network.hosts():
                address = str(host)
                if address in self.reserved or address in self._process_held:
                    continue
                fd = os.open(os.path.join(self.lock_directory, address), os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                self._held[address] = fd
                self._process_held.add(address)
                return address
        raise AddressesExhaustedError(f"no free address left in {self.cidr} (every one is held by a live pod)")

    def release(self, address: str) -> None:
        """Give ``address`` back (a no-op when this allocator does not hold it)."""
        with self._lock:
            fd = self._held.pop(address, None)
            if fd is None:
                return
            self._process_held.discard(address)
            os.close(fd)

    def release_all(self) -> None:
        """Give back every address this allocator holds."""
        for address in list(self._held):
            self.release(address)

    def held(self) -> list[str]:
        """The addresses this allocator holds."""
        return list(self._held)
