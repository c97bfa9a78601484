"""The whole cluster in one process: API server, scheduler, controllers, proxy and node agents.

>>> async with Cluster(nodes=2) as cluster:
...     await cluster.client.create(deployment)
...     await cluster.wait_for("deployments", "web", namespace="default", condition=deployment_available)

Every component speaks to the API server through its own in-process client with its own
identity — the scheduler as ``system:kube-scheduler``, the controller manager as
``system:kube-controller-manager``, the proxy as ``system:kube-proxy``, each node agent as
``system:node:<name>`` in group ``system:nodes`` (so NodeRestriction lets it create only its own
Node) — exactly the code paths they take as separate processes over HTTPS.

The store is ``store`` when given, else ``file://<data_dir>/store`` (durable) with a data
directory, else ``memory://``. The data directory also holds the cluster's CA, certificates,
admin token and ``kubeconfig``; without one, a temporary directory holds them and is removed on
:meth:`Cluster.stop`. With ``port`` (0 picks a free one) the API server also serves HTTPS for
kubectl and other clients: :attr:`Cluster.url` and :attr:`Cluster.kubeconfig` say where.

Each component start and stop is published on the event bus as a
:class:`~orchestra.bus.ComponentEvent` and announced to plugins through the
``orchestra_component_started`` / ``orchestra_component_stopped`` hooks.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Mapping

from orchestra.apiserver.expiry import EVENT_TTL
from orchestra.apiserver.request import ADMIN, NODE, UserInfo
from orchestra.bus import ComponentEvent, EventBus
from orchestra.client import ApiStatusError, Client
from orchestra.plugin_manager import await_maybe, get_plugin_manager

__all__ = [
    "Cluster",
    "ClusterError",
    "WaitTimeout",
    "ADMIN_USER",
    "CONTROLLER_MANAGER_USER",
    "PROXY_USER",
    "node_user",
    "node_ready",
]

log = logging.getLogger(__name__)

#: The identities of the control-plane components (all in ``system:masters``).
ADMIN_USER = UserInfo("admin", ADMIN, ("system:masters",))
CONTROLLER_MANAGER_USER = UserInfo("system:kube-controller-manager", ADMIN, ("system:masters",))
PROXY_USER = UserInfo("system:kube-proxy", ADMIN, ("system:masters",))

_POLL_INTERVAL = 0.05


class ClusterError(RuntimeError):
    """The cluster cannot do what was asked (a node name already taken, an unknown node…)."""


class WaitTimeout(TimeoutError):
    """:meth:`Cluster.wait_for` gave up; the message says what it waited for and what it last saw."""


def node_user(name: str) -> UserInfo:
    """The identity of node agent ``name``: ``system:node:<name>`` in ``system:nodes``."""
    return UserInfo(f"system:node:{name}", NODE, ("system:nodes",))


def node_ready(node: dict) -> bool:
    """Whether a Node object (as a dict) has condition Ready=True."""
    for condition in (node.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def _proxy_class() -> Any:
    """The service proxy class when this installation has one, else None."""
    if importlib.util.find_spec("orchestra.proxy") is None:
        return None
    return getattr(importlib.import_module("orchestra.proxy"), "ServiceProxy", None)


class Cluster:
    """A complete cluster in this process (see the module docstring); use ``async with``.

    :param store: the store URL (or an open store); default as the module docstring says.
    :param nodes: how many node agents to start (``node-1`` … ``node-N``).
    :param runtime: the container runtime plugin of every node (``process``, ``simulated``…).
    :param data_dir: where the store, PKI, kubeconfig and node state live (kept after stop).
    :param port: serve HTTPS on this port (0: a free one); None serves no HTTP.
    :param plugins: extra plugin objects registered with the plugin manager.
    :param host: the address the API server listens on when ``port`` is given.
    :param controllers: the controllers to run, as ``--controllers`` takes them (default: all).
    :param proxy: run the service proxy (when this installation has it).
    :param proxy_mode: the proxy mode plugin (``userspace``: rootless TCP/UDP forwarding).
    :param proxy_config: the proxy mode's settings (e.g. ``{"algorithm": "least-connections"}``).
    :param node_settings: extra :class:`~orchestra.node.agent.AgentConfig` fields for every node.
    :param controller_settings: the controller manager's
        :class:`~orchestra.controllers.settings.ControllerSettings` (e.g.
        ``ControllerSettings(node_monitor_grace_period=2.0)``, short grace periods for tests), or
        a mapping of controller name to constructor keywords (its ``options``, e.g.
        ``{"nodelifecycle": {"grace_period": 2.0}}``); an unknown controller or keyword raises
        :class:`~orchestra.controllers.settings.ControllerSettingsError` here.
    :param compaction_interval: seconds between store compactions by the API server (0: never).
    :param event_ttl: seconds an Event is kept after its last change (0: until deleted).
    """

    def __init__(self, store: Any = None, *, nodes: int = 1, runtime: str = "process",
                 data_dir: str | Path | None = None, port: int | None = None, plugins: Iterable[Any] = (),
                 host: str = "127.0.0.1", controllers: Iterable[str] | None = None, proxy: bool = True,
                 proxy_mode: str = "userspace", proxy_config: Mapping[str, Any] | None = None,
                 node_settings: Mapping[str, Any] | None = None,
                 controller_settings: Any = None, compaction_interval: float = 300.0,
                 event_ttl: float = EVENT_TTL) -> None:
        if nodes < 0:
            raise ValueError(f"nodes must be 0 or more, got {nodes}")
        self.store_spec = store
        self.node_count = nodes
        self.runtime = runtime
        self.data_dir: Path | None = Path(data_dir) if data_dir is not None else None
        self.port = port
        self.host = host
        self.controller_names = list(controllers) if controllers is not None else None
        self.run_proxy = proxy
        self.proxy_mode = proxy_mode
        self.proxy_config = dict(proxy_config or {})
        self.node_settings = dict(node_settings or {})
        self.controller_settings = _controller_settings(controller_settings)
        if compaction_interval < 0:
            raise ValueError(f"compaction_interval must be 0 or more seconds, got {compaction_interval}")
        self.compaction_interval = compaction_interval
        if event_ttl < 0:
            raise ValueError(f"event_ttl must be 0 or more seconds, got {event_ttl}")
        self.event_ttl = event_ttl
        self.plugin_manager = get_plugin_manager(tuple(plugins))
        self.bus = EventBus(self.plugin_manager)
        self.server: Any = None
        self.client: Client | None = None
        self.scheduler: Any = None
        self.controller_manager: Any = None
        self.proxy: Any = None
        self.agents: dict[str, Any] = {}
        self.http: Any = None
        #: Seconds from :meth:`start` until every component ran and every node was Ready.
        self.startup_seconds: float | None = None
        self._clients: list[Client] = []
        self._state_dir: Path | None = None
        self._owns_state_dir = False
        self._started: list[tuple[str, str]] = []

    # ------------------------------------------------------------------ where things are

    @property
    def state_dir(self) -> Path:
        """The data directory in use (the temporary one when none was given)."""
        if self._state_dir is None:
            raise ClusterError("the cluster is not started")
        return self._state_dir

    @property
    def store_url(self) -> Any:
        """The store the API server opens: given, ``file://<data-dir>/store``, or ``memory://``."""
        if self.store_spec is not None:
            return self.store_spec
        if self.data_dir is not None:
            return f"file://{(self.data_dir / 'store').resolve()}"
        return "memory://"

    @property
    def url(self) -> str | None:
        """The API server's HTTPS URL when served over HTTP, else None."""
        return self.http.url if self.http is not None else None

    @property
    def kubeconfig(self) -> Path | None:
        """The admin kubeconfig file when served over HTTP, else None."""
        if self.http is None:
            return None
        return self.server.pki.kubeconfig

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start every component and wait until every node is Ready."""
        if self.server is not None:
            raise ClusterError("the cluster is already started")
        began = time.perf_counter()
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise
        self.startup_seconds = time.perf_counter() - began

    async def _start(self) -> None:
        from orchestra.apiserver.server import APIServer

        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._state_dir = self.data_dir
        else:
            self._state_dir = Path(tempfile.mkdtemp(prefix="orchestra-cluster-"))
            self._owns_state_dir = True
        if self.plugin_manager.hook.orchestra_event.get_hookimpls():
            self.bus.start_observers()  # plugins observing events get every object and component event
        self.server = await APIServer.create(self.store_url, data_dir=self._state_dir, addresses=(self.host,),
                                             plugin_manager=self.plugin_manager, bus=self.bus,
                                             compaction_interval=self.compaction_interval,
                                             event_ttl=self.event_ttl)
        await self._announce("apiserver", "apiserver", started=True)
        if self.port is not None:
            self.http = await self.server.serve(self.host, self.port)
        self.client = self._client(ADMIN_USER)
        starts = [self._start_scheduler(), self._start_controller_manager()]
        proxy_class = _proxy_class() if self.run_proxy else None
        if proxy_class is not None:
            starts.append(self._start_proxy(proxy_class))
        starts.extend(self.add_node(f"node-{i}") for i in range(1, self.node_count + 1))
        await _gather_all(starts)

    def _client(self, user: UserInfo) -> Client:
        client = Client.in_process(self.server, user)
        self._clients.append(client)
        return client

    async def _start_scheduler(self) -> None:
        from orchestra.scheduler.scheduler import SCHEDULER_USER, Scheduler

        client = self._client(UserInfo(SCHEDULER_USER, ADMIN, ("system:masters",)))
        self.scheduler = Scheduler.create(client, plugins=self.plugin_manager)
        await self.scheduler.start()
        await self._announce("scheduler", "scheduler", started=True)

    async def _start_controller_manager(self) -> None:
        from orchestra.controllers.manager import ControllerManager

        self.controller_manager = ControllerManager(self._client(CONTROLLER_MANAGER_USER),
                                                    controllers=self.controller_names,
                                                    settings=self.controller_settings)
        await self.controller_manager.start()
        await self._announce("controller-manager", "controller-manager", started=True)

    async def _start_proxy(self, proxy_class: Any) -> None:
        from orchestra.proxy import create_mode

        mode = await create_mode(self.proxy_mode, self.proxy_config, plugin_manager=self.plugin_manager)
        self.proxy = proxy_class(self._client(PROXY_USER), mode)
        await self.proxy.start()
        await self._announce("proxy", "proxy", started=True)

    async def add_node(self, name: str, *, wait: bool = True, **settings: Any) -> Any:
        """Start a node agent called ``name`` (its state under ``<data-dir>/nodes/<name>``).

        ``settings`` are extra :class:`~orchestra.node.agent.AgentConfig` fields, over the
        cluster's ``node_settings``. With ``wait``, returns once the Node is Ready.
        """
        from orchestra.node.agent import AgentConfig, NodeAgent

        if self.server is None:
            raise ClusterError("start the cluster before adding nodes")
        if name in self.agents:
            raise ClusterError(f"node {name!r} is already running in this cluster")
        fields = {"runtime": self.runtime, "port": 0, "address": "127.0.0.1",
                  "data_dir": str(self.state_dir / "nodes" / name), **self.node_settings, **settings}
        agent = NodeAgent(self._client(node_user(name)), AgentConfig(name, **fields),
                          plugin_manager=self.plugin_manager, ca=self.server.pki.ca(),
                          ca_file=self.server.pki.ca_cert)
        self.agents[name] = agent
        try:
            await agent.start()
        except BaseException:
            del self.agents[name]
            raise
        await self._announce("agent", name, started=True)
        if wait:
            await self.wait_for("nodes", name, condition=node_ready, timeout=60)
        return agent

    async def stop_node(self, name: str) -> None:
        """Stop node agent ``name`` and its pods; its Node object stays (and stops heartbeating)."""
        agent = self.agents.pop(name, None)
        if agent is None:
            raise ClusterError(f"no node {name!r} runs in this cluster (running: {', '.join(self.agents) or 'none'})")
        await agent.stop()
        await self._announce("agent", name, started=False)

    async def stop(self) -> None:
        """Stop every component (controllers first, pods with their agents, the API server last)."""
        steps: list[tuple[str, str, Callable[[], Awaitable[None]] | None]] = [
            ("controller-manager", "controller-manager",
             self.controller_manager.stop if self.controller_manager is not None else None),
            ("scheduler", "scheduler", self.scheduler.stop if self.scheduler is not None else None),
            ("proxy", "proxy", self.proxy.stop if self.proxy is not None else None),
        ]
        steps.extend(("agent", name, agent.stop) for name, agent in self.agents.items())
        for component, name, stop in steps:
            if stop is None:
                continue
            try:
                await stop()
            except Exception:
                log.exception("%s %s failed to stop cleanly", component, name)
            await self._announce(component, name, started=False)
        self.controller_manager = self.scheduler = self.proxy = None
        self.agents.clear()
        for client in self._clients:
            await client.close()
        self._clients.clear()
        self.client = None
        if self.server is not None:
            await self.server.close()
            await self._announce("apiserver", "apiserver", started=False)
            self.server = None
            self.http = None
        await self.bus.close()
        if self._owns_state_dir and self._state_dir is not None:
            shutil.rmtree(self._state_dir, ignore_errors=True)
            self._state_dir = None
            self._owns_state_dir = False

    async def __aenter__(self) -> "Cluster":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _announce(self, component: str, name: str, *, started: bool) -> None:
        if started:
            self._started.append((component, name))
        elif (component, name) not in self._started:
            return
        else:
            self._started.remove((component, name))
        self.bus.publish(ComponentEvent("STARTED" if started else "STOPPED", component, name))
        hook = (self.plugin_manager.hook.orchestra_component_started if started
                else self.plugin_manager.hook.orchestra_component_stopped)
        for result in hook(component=component, name=name):
            try:
                await await_maybe(result)
            except Exception:
                log.exception("a component hook failed for %s %s", component, name)

    @property
    def components(self) -> list[tuple[str, str]]:
        """``(component, name)`` of every running component, in start order."""
        return list(self._started)

    # ------------------------------------------------------------------ waiting

    async def wait_for(self, kind: Any, name: str, *, condition: Callable[[dict], bool],
                       namespace: str | None = None, timeout: float = 30.0) -> dict:
        """Wait until object ``kind``/``name`` exists and ``condition(object)`` holds; return it.

        :raises WaitTimeout: after ``timeout`` seconds, naming the object and its last state.
        """
        if self.client is None:
            raise ClusterError("the cluster is not started")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last: dict | None = None
        while True:
            try:
                last = await self.client.get(kind, name, namespace=namespace, raw=True)
            except ApiStatusError as exc:
                if exc.code != 404:
                    raise
                last = None
            if last is not None and condition(last):
                return last
            if loop.time() >= deadline:
                where = f"{namespace}/{name}" if namespace else name
                seen = "it does not exist" if last is None else f"its status is {last.get('status')!r}"
                raise WaitTimeout(f"{kind} {where} did not reach the condition within {timeout:g} s; {seen}")
            await asyncio.sleep(_POLL_INTERVAL)

    async def wait_until(self, check: Callable[[], Awaitable[bool]], *, timeout: float = 30.0,
                         what: str = "the condition") -> None:
        """Wait until the coroutine function ``check()`` returns true; :class:`WaitTimeout` otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await check():
            if loop.time() >= deadline:
                raise WaitTimeout(f"{what} did not hold within {timeout:g} s")
            await asyncio.sleep(_POLL_INTERVAL)


def _controller_settings(value: Any) -> Any:
    """``controller_settings`` as a ControllerSettings (a mapping is its per-controller ``options``)."""
    from orchestra.controllers.settings import ControllerSettings, ControllerSettingsError

    if value is None:
        return ControllerSettings()
    if isinstance(value, ControllerSettings):
        return value
    if isinstance(value, Mapping):
        return ControllerSettings(options=value)
    raise ControllerSettingsError(f"controller_settings must be a ControllerSettings or a mapping of controller "
                                  f"name to keywords, got {type(value).__name__}")


async def _gather_all(coroutines: list[Awaitable[Any]]) -> None:
    """Run ``coroutines`` concurrently; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
