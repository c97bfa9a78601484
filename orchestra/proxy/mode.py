"""The proxy-mode contract: the table a mode receives, and the narrow async class a mode is.

The :class:`~orchestra.proxy.proxy.ServiceProxy` turns Services and Endpoints into a
:class:`ProxyTable` and hands every new table to the mode with :meth:`ProxyMode.sync`.
A mode programs the data path so that the table holds: connections to each
``clusterIP:port`` (and to each node port on the node addresses) reach one of the
entry's ready endpoints. The table is complete each time (not a diff); a mode works out
what changed itself. :meth:`ProxyMode.close` undoes everything the mode set up.

Modes are plugins: ``orchestra_proxy_mode_create(name, config)`` returns one (see
``docs/proxy.md``).
"""

from __future__ import annotations

import abc
from typing import Iterator

import attrs

__all__ = [
    "Endpoint",
    "ServiceEntry",
    "ProxyTable",
    "ProxyMode",
    "ProxyModeError",
    "PROTOCOLS",
]

#: Protocols a table entry may carry.
PROTOCOLS = ("TCP", "UDP")


class ProxyModeError(Exception):
    """A proxy mode cannot be created or cannot apply a table; the message names the mode or entry."""


@attrs.frozen(order=True)
class Endpoint:
    """One ready backend: an IP address and a port."""

    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@attrs.frozen
class ServiceEntry:
    """One service port: where clients connect and the ready endpoints behind it.

    :param name: ``namespace/service:portname`` (``:portname`` empty for an unnamed port).
    :param protocol: ``TCP`` or ``UDP``.
    :param cluster_ip: the Service's cluster IP (None for none: headless or not yet allocated).
    :param port: the service port on the cluster IP.
    :param node_port: the node port (None unless the Service is of type NodePort or LoadBalancer).
    :param endpoints: ready endpoints, sorted; empty means connections are refused.
    :param affinity_seconds: sessionAffinity ClientIP timeout (None: no affinity).
    """

    name: str
    protocol: str
    cluster_ip: str | None
    port: int
    node_port: int | None = None
    endpoints: tuple[Endpoint, ...] = ()
    affinity_seconds: int | None = None


@attrs.frozen
class ProxyTable:
    """Every service port the proxy serves, by name."""

    entries: tuple[ServiceEntry, ...] = ()

    def __iter__(self) -> Iterator[ServiceEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, name: str) -> ServiceEntry | None:
        """The entry called ``name`` (``namespace/service:portname``), or None."""
        for entry in self.entries:
            if entry.name == name:
                return entry
        return None


class ProxyMode(abc.ABC):
    """What a proxy mode does: apply tables, then release everything on close.

    ``sync`` is called with complete tables, one call at a time, never after ``close``.
    """

    #: The mode's name as the hook knows it.
    name: str = ""

    @abc.abstractmethod
    async def sync(self, table: ProxyTable) -> None:
        """Make the data path match ``table``; raise :class:`ProxyModeError` for entries it cannot serve."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop serving: close every listener and connection the mode opened."""
