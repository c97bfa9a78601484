"""The service proxy: watches Services and Endpoints, builds the table, hands it to the mode.

>>> mode = await create_mode("userspace", {"algorithm": "least-connections"})
>>> proxy = ServiceProxy(client, mode)
>>> await proxy.start()        # waits for the first table to be applied
>>> ...
>>> await proxy.stop()         # closes the mode too

Changes are coalesced: handlers only mark the table dirty, one task rebuilds it and
calls :meth:`~orchestra.proxy.mode.ProxyMode.sync` (never two at once). A sync that
fails is tried again after ``retry_delay`` seconds; one that fails with
:class:`~orchestra.proxy.mode.ProxyModeError` (part of the table could not be served)
still counts as applied, and its message is logged once.

Which endpoints serve a service port follows kube-proxy: the Endpoints object of the
same name, the subset ports whose name and protocol match the service port's, and only
``addresses`` (ready) — never ``notReadyAddresses``. Headless and ExternalName Services
have no entries.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Iterable, Mapping

import pluggy

from orchestra.aio import cancel_and_wait, wait_for
from orchestra.client import Client, Informer, object_key
from orchestra.plugin_manager import await_maybe, get_plugin_manager
from orchestra.proxy.mode import Endpoint, ProxyMode, ProxyModeError, ProxyTable, ServiceEntry

__all__ = ["ServiceProxy", "build_table", "create_mode", "mode_names", "DEFAULT_MODE", "DEFAULT_AFFINITY_SECONDS"]

log = logging.getLogger(__name__)

DEFAULT_MODE = "userspace"
#: sessionAffinityConfig.clientIP.timeoutSeconds when a Service sets none (Kubernetes: 3 hours).
DEFAULT_AFFINITY_SECONDS = 10800


def mode_names(plugin_manager: pluggy.PluginManager) -> list[str]:
    """Every proxy mode name the plugins provide, sorted."""
    return sorted({name for names in plugin_manager.hook.orchestra_proxy_mode_names() for name in names or ()})


async def create_mode(name: str = DEFAULT_MODE, config: dict | None = None, *,
                      plugin_manager: pluggy.PluginManager | None = None) -> ProxyMode:
    """The proxy mode called ``name`` from the plugins; ProxyModeError naming the known modes if none has it."""
    pm = plugin_manager if plugin_manager is not None else get_plugin_manager()
    mode = await await_maybe(pm.hook.orchestra_proxy_mode_create(name=name, config=dict(config or {})))
    if mode is None:
        known = ", ".join(mode_names(pm)) or "none"
        raise ProxyModeError(f"no proxy mode called {name!r} (known modes: {known})")
    return mode


def _endpoints_for(endpoints: dict | None, port_name: str, protocol: str, single_port: bool) -> tuple[Endpoint, ...]:
    found: set[Endpoint] = set()
    for subset in (endpoints or {}).get("subsets") or ():
        for ep_port in subset.get("ports") or ():
            name = ep_port.get("name") or ""
            if (ep_port.get("protocol") or "TCP") != protocol:
                continue
            if name != port_name and not (single_port and not name):
                continue
            number = ep_port.get("port")
            if not isinstance(number, int):
                continue
            for address in subset.get("addresses") or ():
                ip = address.get("ip")
                if ip:
                    found.add(Endpoint(ip, number))
    return tuple(sorted(found))


def _affinity_seconds(spec: dict) -> int | None:
    if spec.get("sessionAffinity") != "ClientIP":
        return None
    config = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
    return int(config.get("timeoutSeconds") or DEFAULT_AFFINITY_SECONDS)


def build_table(services: Iterable[dict], endpoints: Mapping[str, dict]) -> ProxyTable:
    """The table for ``services`` (wire dicts) and ``endpoints`` (``namespace/name`` → wire dict)."""
    entries: list[ServiceEntry] = []
    for service in services:
        spec = service.get("spec") or {}
        if spec.get("type") == "ExternalName":
            continue
        cluster_ip = spec.get("clusterIP")
        if not cluster_ip or cluster_ip == "None":
            continue
        key = object_key(service)
        node_ports = spec.get("type") in ("NodePort", "LoadBalancer")
        affinity = _affinity_seconds(spec)
        ports = [p for p in spec.get("ports") or () if isinstance(p, dict) and isinstance(p.get("port"), int)]
        for port in ports:
            port_name = port.get("name") or ""
            protocol = port.get("protocol") or "TCP"
            entries.append(
                ServiceEntry(
                    name=f"{key}:{port_name}",
                    protocol=protocol,
                    cluster_ip=cluster_ip,
                    port=port["port"],
                    node_port=(port.get("nodePort") or None) if node_ports else None,
                    endpoints=_endpoints_for(endpoints.get(key), port_name, protocol, len(ports) == 1),
                    affinity_seconds=affinity,
                )
            )
    entries.sort(key=lambda e: e.name)
    return ProxyTable(tuple(entries))


class ServiceProxy:
    """Keeps a proxy mode programmed with the cluster's Services and their ready endpoints.

    :param client: the API client the informers use.
    :param mode: the proxy mode that receives the tables (closed by :meth:`stop`).
    :param retry_delay: seconds before a failed sync is tried again.
    """

    def __init__(self, client: Client, mode: ProxyMode, *, retry_delay: float = 1.0) -> None:
        self.client = client
        self.mode = mode
        self.retry_delay = retry_delay
        self.table = ProxyTable()
        #: How many tables have been applied; the last sync's error (None when it went through).
        self.syncs = 0
        self.last_error: str | None = None
        # The proxy only reads what it watches: in process, it shares the API server's objects.
        self._services = Informer(client, "services", raw=True, shared=True)
        self._endpoints = Informer(client, "endpoints", raw=True, shared=True)
        self._dirty = asyncio.Event()
        self._applied = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout: float | None = 30.0) -> None:
        """Start watching; returns once the first complete table has been applied."""
        for informer in (self._services, self._endpoints):
            informer.add_handler(self._mark, lambda old, new: self._mark(new), self._mark)
            informer.start()
        for informer in (self._services, self._endpoints):
            await informer.wait_synced(timeout)
        self._dirty.set()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="service-proxy")
        await self.wait_for(lambda table: True, timeout)

    async def stop(self) -> None:
        """Stop watching and close the mode."""
        await cancel_and_wait([self._task])
        self._task = None
        await self._services.stop()
        await self._endpoints.stop()
        await self.mode.close()

    def _mark(self, _obj: Any = None) -> None:
        self._dirty.set()

    def current_table(self) -> ProxyTable:
        """The table the informers' caches describe right now."""
        return build_table(self._services.list(), self._endpoints.cache)

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            table = self.current_table()
            try:
                await self.mode.sync(table)
            except ProxyModeError as exc:
                # The mode applied what it could (e.g. one port could not be bound): the table
                # counts as applied, and the sync is tried again later in case the port frees up.
                if str(exc) != self.last_error:
                    log.warning("%s", exc)
                self.last_error = str(exc)
                self._retry_later()
            except Exception:
                log.exception("proxy mode %s failed to apply the table; retrying", self.mode.name or self.mode)
                self._retry_later()
                continue
            else:
                self.last_error = None
            self.table = table
            self.syncs += 1
            async with self._applied:
                self._applied.notify_all()

    def _retry_later(self) -> None:
        asyncio.get_running_loop().call_later(self.retry_delay, self._dirty.set)

    async def wait_for(self, predicate: Callable[[ProxyTable], bool], timeout: float | None = 30.0) -> ProxyTable:
        """Wait until a table for which ``predicate`` holds has been applied; that table."""
        async def wait() -> ProxyTable:
            async with self._applied:
                while not (self.syncs and predicate(self.table)):
                    await self._applied.wait()
                return self.table

        return await wait_for(wait(), timeout)
