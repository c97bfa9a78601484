"""The controller manager: runs the enabled controllers, behind leader election, with health and metrics.

Each controller is constructed with what :class:`~orchestra.controllers.settings.ControllerSettings`
says for it (node-monitor grace period, worker counts, further options).

Controllers are named in :data:`CONTROLLERS` (``name → "module:Class"``); adding one is a module
and a line there. ``--controllers`` follows Kubernetes: ``*`` is every controller, ``name``
enables one, ``-name`` disables one (``*,-namespace``).

With leader election, the controllers (and fresh informers) start when the lease is won and
stop when it is lost; the manager then campaigns again. ``/healthz`` and ``/metrics``
(Prometheus text format) are served on port :data:`DEFAULT_PORT`.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import Any

import attrs

from orchestra.apiserver.http import HTTPServer
from orchestra.apiserver.request import Request, Response
from orchestra.client import Client
from orchestra.controllers.base import Controller, InformerFactory
from orchestra.client.leaderelection import LeaderElectionConfig, LeaderElector
from orchestra.controllers.settings import ControllerSettings

__all__ = ["ControllerManager", "CONTROLLERS", "DEFAULT_PORT", "UnknownControllerError", "select_controllers"]

log = logging.getLogger(__name__)

#: The port of ``/healthz`` and ``/metrics`` (kube-controller-manager's historical insecure port).
DEFAULT_PORT = 10252

#: Seconds :meth:`ControllerManager.stop` waits for the campaign to end before cancelling it again.
_STOP_RECANCEL_SECONDS = 0.5

#: Every controller the manager can run, by name.
CONTROLLERS: dict[str, str] = {
    "replicaset": "orchestra.controllers.replicaset:ReplicaSetController",
    "deployment": "orchestra.controllers.deployment:DeploymentController",
    "garbagecollector": "orchestra.controllers.garbagecollector:GarbageCollector",
    "namespace": "orchestra.controllers.namespace:NamespaceController",
    "job": "orchestra.controllers.job:JobController",
    "cronjob": "orchestra.controllers.cronjob:CronJobController",
    "nodelifecycle": "orchestra.controllers.nodelifecycle:NodeLifecycleController",
    "endpoints": "orchestra.controllers.endpoints:EndpointsController",
}


class UnknownControllerError(ValueError):
    """``--controllers`` named a controller that does not exist."""


def select_controllers(spec: list[str] | tuple[str, ...] | None) -> list[str]:
    """The enabled controller names for a ``--controllers`` list (``*``, ``name``, ``-name``)."""
    items = [s.strip() for entry in (spec or ["*"]) for s in entry.split(",") if s.strip()]
    enabled: list[str] = []
    everything = "*" in items
    for item in items:
        name = item[1:] if item.startswith("-") else item
        if name != "*" and name not in CONTROLLERS:
            raise UnknownControllerError(f"unknown controller {name!r} in --controllers "
                                         f"(known: {', '.join(sorted(CONTROLLERS))})")
    disabled = {item[1:] for item in items if item.startswith("-")}
    for name in CONTROLLERS:
        if name in disabled:
            continue
        if everything or name in items:
            enabled.append(name)
    return enabled


def _load(name: str) -> type[Controller]:
    module, _, cls = CONTROLLERS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


class ControllerManager:
    """Runs controllers over shared informers; optionally only while holding the leader lease.

    :param controllers: the ``--controllers`` list (default: every controller).
    :param leader_election: campaign for this lease and work only while holding it.
    :param workers: keys synced concurrently by every controller (``settings.default_workers``).
    :param settings: per-controller settings (grace periods, worker counts, constructor options).
    """

    def __init__(self, client: Client, *, controllers: list[str] | None = None,
                 leader_election: LeaderElectionConfig | None = None, workers: int | None = None,
                 settings: ControllerSettings | None = None) -> None:
        self.client = client
        self.enabled = select_controllers(controllers)
        self.leader_election = leader_election
        settings = settings if settings is not None else ControllerSettings()
        if workers is not None:
            settings = attrs.evolve(settings, default_workers=workers)
        #: What each controller is constructed with (:class:`~orchestra.controllers.settings.ControllerSettings`).
        self.settings = settings
        self.workers = settings.default_workers
        self.elector = LeaderElector(client, leader_election) if leader_election is not None else None
        self.informers: InformerFactory | None = None
        self.controllers: dict[str, Controller] = {}
        self.totals: dict[str, list[float]] = {name: [0, 0, 0.0] for name in self.enabled}
        self._task: asyncio.Task[None] | None = None
        self._http: HTTPServer | None = None
        self._lock = asyncio.Lock()

    @property
    def leading(self) -> bool:
        """Whether the controllers are running (always, without leader election, once started)."""
        return bool(self.controllers)

    async def start(self) -> None:
        """Start working (at once, or when the lease is won)."""
        if self.elector is None:
            await self._start_controllers()
        elif self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self.elector.run(self._start_controllers, self._stop_controllers), name="leader-election")

    async def stop(self) -> None:
        """Stop the controllers, release the lease and close the health server."""
        task = self._task
        if task is not None:
            # The campaign may be stepping down; code under it that waits for its own tasks could take
            # this cancellation for theirs and carry on campaigning, so cancel until the task has ended.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=_STOP_RECANCEL_SECONDS)
            if not task.cancelled() and task.exception() is not None:
                log.error("leader election ended with an error", exc_info=task.exception())
            self._task = None
        await self._stop_controllers()
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _start_controllers(self) -> None:
        async with self._lock:
            if self.controllers:
                return
            self.informers = InformerFactory(self.client)
            for name in self.enabled:
                self.controllers[name] = _load(name)(self.client, self.informers,
                                                     **self.settings.constructor_kwargs(name))
            self.informers.start()
            await self.informers.wait_synced(60)
            for controller in self.controllers.values():
                await controller.start()
            log.info("controllers running: %s", ", ".join(self.controllers))

    async def _stop_controllers(self) -> None:
        async with self._lock:
            while self.controllers:  # one at a time, so a stop interrupted half-way resumes where it was
                name, controller = next(iter(self.controllers.items()))
                await controller.stop()
                del self.controllers[name]
                totals = self.totals[name]
                totals[0] += controller.metrics.syncs
                totals[1] += controller.metrics.errors
                totals[2] += controller.metrics.seconds
            if self.informers is not None:
                await self.informers.stop()
                self.informers = None

    # ------------------------------------------------------------------ health and metrics

    async def serve(self, host: str = "0.0.0.0", port: int = DEFAULT_PORT) -> HTTPServer:
        """Serve ``/healthz`` and ``/metrics`` on ``host:port`` (0 picks a free port)."""
        self._http = HTTPServer(self.handle)
        await self._http.start(host, port)
        return self._http

    async def handle(self, request: Request) -> Response:
        """Answer one health or metrics request."""
        if request.method not in ("GET", "HEAD"):
            return Response(405, b"method not allowed\n", "text/plain; charset=utf-8")
        if request.path in ("/healthz", "/livez", "/readyz"):
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if request.path == "/metrics":
            return Response(200, self.metrics_text().encode(), "text/plain; version=0.0.4; charset=utf-8")
        return Response(404, b"404 page not found\n", "text/plain; charset=utf-8")

    def metrics_text(self) -> str:
        """Every metric in the Prometheus text exposition format."""
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str, samples: list[tuple[str, Any]]) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                lines.append(f"{name}{{{labels}}} {value}")

        syncs, errors, seconds, depth = [], [], [], []
        for name in self.enabled:
            total = self.totals[name]
            controller = self.controllers.get(name)
            live = controller.metrics if controller is not None else None
            label = f'controller="{name}"'
            syncs.append((label, int(total[0] + (live.syncs if live else 0))))
            errors.append((label, int(total[1] + (live.errors if live else 0))))
            seconds.append((label, f"{total[2] + (live.seconds if live else 0.0):.6f}"))
            depth.append((f'name="{name}"', len(controller.queue) if controller is not None else 0))
        family("orchestra_controller_syncs_total", "counter", "Keys synced by each controller.", syncs)
        family("orchestra_controller_sync_errors_total", "counter", "Syncs that failed and were retried.", errors)
        lines.append("# HELP orchestra_controller_sync_duration_seconds Time spent syncing keys, per controller.")
        lines.append("# TYPE orchestra_controller_sync_duration_seconds summary")
        for (label, total_seconds), (_, count) in zip(seconds, syncs):
            lines.append(f"orchestra_controller_sync_duration_seconds_sum{{{label}}} {total_seconds}")
            lines.append(f"orchestra_controller_sync_duration_seconds_count{{{label}}} {count}")
        family("workqueue_depth", "gauge", "Keys waiting in each controller's work queue.", depth)
        if self.leader_election is not None:
            family("leader_election_master_status", "gauge", "1 while this instance holds the lease.",
                   [(f'name="{self.leader_election.name}"', 1 if self.leading else 0)])
        return "\n".join(lines) + "\n"
