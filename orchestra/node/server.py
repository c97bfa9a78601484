"""The agent's HTTPS endpoint (the kubelet's port 10250): container logs, stats, health.

* ``GET /healthz`` → ``ok``;
* ``GET /containerLogs/<namespace>/<pod>/<container>`` with ``follow``, ``tailLines``,
  ``timestamps``, ``previous``, ``sinceSeconds`` and ``limitBytes`` — what the API server's
  ``pods/log`` proxies to (``text/plain``; a follow streams until the container stops);
* ``GET /stats/summary`` → CPU and memory per container, per pod and for the node (JSON, the
  kubelet Summary API's shape).

It runs on the API server's HTTP front (:class:`orchestra.apiserver.http.HTTPServer`) over TLS.
When a client CA is configured, logs and stats need a client certificate it signed whose user
has the admin role (the API server presents its admin certificate); ``/healthz`` is open.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from typing import AsyncIterator, Iterable, Protocol
from urllib.parse import unquote

import orjson

from orchestra.apiserver.http import HTTPServer, server_ssl_context
from orchestra.apiserver.request import ADMIN, Request, Response
from orchestra.node.podworker import PodWorker
from orchestra.node.runtime import Runtime, follow_container_log, read_container_log
from orchestra.node.stats import UsageTracker, summary

__all__ = ["AgentServer", "PodDirectory", "LogRequestError"]

_TEXT = "text/plain; charset=utf-8"
_FOLLOW_CHECK = 0.25


class PodDirectory(Protocol):
    """How the server finds the pods the agent runs."""

    def find_worker(self, namespace: str, name: str) -> PodWorker | None:
        """The worker of pod ``namespace/name``, if the agent runs it."""

    def all_workers(self) -> Iterable[PodWorker]:
        """Every pod worker."""


class LogRequestError(Exception):
    """A log request the agent cannot answer: ``status`` (400/404) and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _flag(request: Request, name: str) -> bool:
    return (request.param(name) or "").lower() in ("true", "1")


def _number(request: Request, name: str) -> int | None:
    value = request.param(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise LogRequestError(400, f"invalid value for {name}: {value!r} is not an integer") from None
    if number < 0:
        raise LogRequestError(400, f"invalid value for {name}: {value!r} must not be negative")
    return number


def _text(status: int, message: str) -> Response:
    return Response(status, (message + "\n").encode(), _TEXT)


class AgentServer:
    """Serves the agent's endpoint for ``pods`` (a :class:`PodDirectory`) on ``runtime``."""

    def __init__(self, node_name: str, runtime: Runtime, pods: PodDirectory, *, cert_file: str, key_file: str,
                 client_ca_file: str | None = None, host_stats: bool = True) -> None:
        self.node_name = node_name
        self.runtime = runtime
        self.pods = pods
        self.require_client_cert = client_ca_file is not None
        self.host_stats = host_stats
        self._tracker = UsageTracker()
        self._ssl: ssl.SSLContext = server_ssl_context(cert_file, key_file, client_ca_file)
        self._http = HTTPServer(self.handle, ssl_context=self._ssl)

    @property
    def port(self) -> int:
        """The port listened on."""
        return self._http.port

    @property
    def url(self) -> str:
        """``https://host:port``."""
        return self._http.url

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (0 picks a free port)."""
        await self._http.start(host, port)

    async def close(self) -> None:
        """Stop listening and end streams."""
        await self._http.close()

    async def handle(self, request: Request) -> Response:
        """Route one request."""
        path = request.path
        if path in ("/healthz", "/healthz/"):
            return _text(200, "ok")
        if request.method != "GET":
            return _text(405, f"method {request.method} is not allowed")
        if self.require_client_cert and (request.user is None or request.user.role != ADMIN):
            who = request.user.name if request.user is not None else "anonymous"
            return _text(403 if request.user is not None else 401,
                         f"Forbidden (user={who}, verb=get, resource=nodes, subresource=proxy)")
        try:
            if path.startswith("/containerLogs/"):
                return await self._logs(request)
            if path.rstrip("/") == "/stats/summary":
                return await self._stats()
        except LogRequestError as exc:
            return _text(exc.status, exc.message)
        return _text(404, f"404 page not found: {path}")

    async def _stats(self) -> Response:
        pods = [(w.pod, w.sandbox.id) for w in self.pods.all_workers() if w.sandbox is not None]
        document = await summary(self.node_name, self.runtime, pods, self._tracker, host=self.host_stats)
        return Response(200, orjson.dumps(document), "application/json")

    async def _logs(self, request: Request) -> Response:
        parts = [unquote(p) for p in request.path[len("/containerLogs/"):].split("/")]
        if len(parts) != 3 or not all(parts):
            raise LogRequestError(400, "expected /containerLogs/<namespace>/<pod>/<container>")
        namespace, name, container = parts
        worker = self.pods.find_worker(namespace, name)
        if worker is None:
            raise LogRequestError(404, f'pod "{name}" in namespace "{namespace}" is not running on node '
                                       f'"{self.node_name}"')
        if container not in worker.runners and container not in {v.name for v in
                                                                 worker.view.containers + worker.view.init_containers}:
            raise LogRequestError(404, f'container "{container}" in pod "{name}" not found')
        previous = _flag(request, "previous")
        path = worker.log_path(container, previous)
        if path is None:
            if previous:
                raise LogRequestError(400, f'previous terminated container "{container}" in pod "{name}" not found')
            view = next((v for v in worker.view.containers + worker.view.init_containers if v.name == container), None)
            reason = ((view.state.get("waiting") or {}).get("reason") if view is not None else None) or "PodInitializing"
            raise LogRequestError(400, f'container "{container}" in pod "{name}" is waiting to start: {reason}')
        tail = _number(request, "tailLines")
        since_seconds = _number(request, "sinceSeconds")
        limit = _number(request, "limitBytes")
        timestamps = _flag(request, "timestamps")
        since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=since_seconds) if since_seconds else None
        head = await asyncio.to_thread(read_container_log, path, tail_lines=tail, since=since, timestamps=timestamps,
                                       limit_bytes=limit)
        if not _flag(request, "follow") or previous:
            return Response(200, head, _TEXT)
        return Response(200, b"", _TEXT, stream=self._follow(worker, container, path, head, timestamps, limit))

    async def _follow(self, worker: PodWorker, container: str, path: str, head: bytes, timestamps: bool,
                      limit: int | None) -> AsyncIterator[bytes]:
        done = asyncio.Event()

        async def watch_container() -> None:
            while worker.container_running(container) and worker.log_path(container) == path and not worker.deleted:
                await asyncio.sleep(_FOLLOW_CHECK)
            done.set()

        watcher = asyncio.get_running_loop().create_task(watch_container())
        sent = 0
        try:
            if head:
                sent += len(head)
                yield head
            async for chunk in follow_container_log(path, done, timestamps=timestamps):
                if limit is not None:
                    chunk = chunk[: max(0, limit - sent)]
                if chunk:
                    sent += len(chunk)
                    yield chunk
                if limit is not None and sent >= limit:
                    return
        finally:
            watcher.cancel()
