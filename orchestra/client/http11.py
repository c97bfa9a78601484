"""A lean HTTP/1.1 client for small JSON requests: a keep-alive connection pool on asyncio protocols.

aiohttp's request path (URL objects, header multidicts, tracing hooks, a response object with
its own reader, a timeout context per request) costs a few hundred microseconds of CPU per
request. That dominates when thousands of node agents in one process each renew a Lease every
ten seconds. :class:`ConnectionPool` does only what those requests need: one write of the
request head and body on an idle keep-alive connection, ``httptools`` parsing the answer
(``Content-Length`` or chunked), deadlines checked by one periodic sweep per pool.

:class:`PooledHTTPTransport` is an :class:`~orchestra.client.transport.HTTPTransport` whose
whole-response requests go through the pool; streams (watches, log follows) stay on aiohttp.

A request that fails on a reused connection before any of the answer arrived (the server had
closed it while idle) is sent once more on a new connection when its method is idempotent or
the connection was already closed before the request was written.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Awaitable, Mapping
from urllib.parse import urlsplit

import httptools

from orchestra.aio import wait_for
from orchestra.client.kubeconfig import ClusterCredentials
from orchestra.client.transport import HTTPTransport, Query, RawResponse, TransportError, _query_string

__all__ = ["ConnectionPool", "PooledHTTPTransport"]

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


class _ConnectionLost(ConnectionError):
    """The connection ended before the answer was complete; ``started`` tells whether any of it came."""

    def __init__(self, message: str, started: bool) -> None:
        super().__init__(message)
        self.started = started


class _Connection(asyncio.Protocol):
    """One keep-alive connection: sends a request, parses its answer, hands it to the waiter."""

    __slots__ = ("transport", "parser", "waiter", "closed", "keep_alive", "_headers", "_body", "_started",
                 "_complete")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[RawResponse] | None = None
        self.closed = False
        self.keep_alive = True
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._started = False
        self._complete = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # noqa: D102
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:  # noqa: D102
        self._started = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"malformed HTTP answer: {exc}"))
            self.close()

    def eof_received(self) -> bool:  # noqa: D102
        return False

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: D102
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(_ConnectionLost(
                f"the connection closed before the answer was complete{': ' + str(exc) if exc else ''}",
                self._started))

    # httptools callbacks

    def on_message_begin(self) -> None:  # noqa: D102
        self._headers = {}
        self._body = []
        self._complete = False

    def on_header(self, name: bytes, value: bytes) -> None:  # noqa: D102
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:  # noqa: D102
        self._body.append(body)

    def on_message_complete(self) -> None:  # noqa: D102
        self._complete = True
        self.keep_alive = self.parser.should_keep_alive()
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
            waiter.set_result(RawResponse(self.parser.get_status_code(), self._headers, body))

    # use

    def send(self, data: bytes, waiter: asyncio.Future[RawResponse]) -> None:
        """Write one request; ``waiter`` gets its answer (or the connection's failure)."""
        self.waiter = waiter
        self._started = False
        self.transport.write(data)  # type: ignore[union-attr]

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    @property
    def reusable(self) -> bool:
        """Whether another request may go on this connection."""
        return (not self.closed and self.keep_alive and self._complete and self.transport is not None
                and not self.transport.is_closing())

    def close(self) -> None:
        """Close the connection."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class ConnectionPool:
    """Keep-alive HTTP/1.1 connections to one server (``http://`` or ``https://``).

    :param server: the base URL (``https://10.0.0.1:6443``); a path in it prefixes every request.
    :param ssl_context: for ``https`` (None: the default verification).
    :param headers: sent with every request (e.g. ``Authorization``).
    :param timeout: seconds one request may take, connecting included (checked every
        ``timeout / 20`` seconds, at most every second, so it may end up to that much later).
    :param max_connections: connections open at once; more requests wait for one to be free
        (a burst of thousands would otherwise overflow the server's accept queue).
    :param max_idle: idle connections kept open.
    """

    def __init__(self, server: str, *, ssl_context: ssl.SSLContext | None = None,
                 headers: Mapping[str, str] | None = None, timeout: float = 60.0, max_connections: int = 100,
                 max_idle: int = 100) -> None:
        url = urlsplit(server)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"server must be an http:// or https:// URL, got {server!r}")
        self.server = server
        self._host = url.hostname
        self._tls = url.scheme == "https"
        self._port = url.port or (443 if self._tls else 80)
        self._prefix = url.path.rstrip("/")
        if self._tls and ssl_context is None:
            ssl_context = ssl.create_default_context()
        self._ssl = ssl_context if self._tls else None
        host_header = url.netloc.rpartition("@")[2]
        fixed = f"Host: {host_header}\r\nUser-Agent: orchestra\r\n"
        for key, value in (headers or {}).items():
            fixed += f"{key}: {value}\r\n"
        self._fixed_headers = fixed
        self._timeout = timeout
        self._max_idle = max_idle
        self._max_connections = max_connections
        self._idle: deque[_Connection] = deque()
        self._waiters: deque[asyncio.Future[_Connection | None]] = deque()
        self._open = 0
        self._closed = False
        self._query_cache: dict[tuple, str] = {}
        # Deadlines of requests waiting for a connection or an answer. One sweep every _sweep_every seconds
        # (while any are in flight) fails the late ones: a timer per request costs more than the
        # request's own bookkeeping when thousands of small requests a second are sent.
        self._inflight: dict[asyncio.Future, float] = {}
        self._sweep_every = min(1.0, max(0.01, timeout / 20))
        self._sweeping = False

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_Connection, self._host, self._port, ssl=self._ssl,
                                                   server_hostname=self._host if self._tls else None)
        return protocol

    def _query(self, query: Query) -> str:
        if not query:
            return ""
        try:
            key = tuple(query.items())
            cached = self._query_cache.get(key)
        except TypeError:  # a list value: not hashable
            return _query_string(query)
        if cached is None:
            cached = _query_string(query)
            if len(self._query_cache) < 256:
                self._query_cache[key] = cached
        return cached

    def _head(self, method: str, path: str, query: Query, headers: Mapping[str, str] | None, length: int) -> bytes:
        qs = self._query(query)
        target = self._prefix + path + (f"?{qs}" if qs else "")
        head = f"{method} {target} HTTP/1.1\r\n{self._fixed_headers}"
        if headers:
            for key, value in headers.items():
                head += f"{key}: {value}\r\n"
        if length or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            head += f"Content-Length: {length}\r\n"
        return (head + "\r\n").encode("latin-1")

    async def _acquire(self, deadline: float) -> tuple[_Connection, bool]:
        """An idle connection (reused: True) or a new one; waits while ``max_connections`` are busy."""
        loop = asyncio.get_running_loop()
        while True:
            while self._idle:
                candidate = self._idle.pop()
                if candidate.reusable:
                    return candidate, True
                self._drop(candidate)
            if self._open < self._max_connections:
                self._open += 1
                try:
                    return await wait_for(self._connect(), max(0.0, deadline - loop.time())), False
                except BaseException:
                    self._open -= 1
                    self._wake_one()
                    raise
            waiter = loop.create_future()
            self._waiters.append(waiter)
            self._track(waiter, deadline, loop)
            try:
                handed = await waiter
            except BaseException:
                del self._inflight[waiter]
                try:
                    self._waiters.remove(waiter)  # only here: whoever hands over pops the waiter itself
                except ValueError:
                    pass
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    # cancelled after being handed a connection or a slot: pass it on
                    if waiter.result() is not None:
                        self._release(waiter.result())
                    else:
                        self._wake_one()
                raise
            del self._inflight[waiter]
            if handed is not None:
                if handed.reusable:
                    return handed, True
                self._drop(handed)

    def _release(self, connection: _Connection) -> None:
        if not connection.reusable or self._closed:
            self._drop(connection)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        if len(self._idle) < self._max_idle:
            self._idle.append(connection)
        else:
            self._drop(connection)

    def _drop(self, connection: _Connection) -> None:
        connection.close()
        self._open -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # a slot is free: open a connection
                return

    def _track(self, waiter: asyncio.Future, deadline: float, loop: asyncio.AbstractEventLoop) -> None:
        """Fail ``waiter`` with ``TimeoutError`` if it is still pending at ``deadline`` (the caller untracks it)."""
        self._inflight[waiter] = deadline
        if not self._sweeping:
            self._sweeping = True
            loop.call_later(self._sweep_every, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for waiter, deadline in list(self._inflight.items()):
            if deadline <= now:
                _expire(waiter)
        if self._inflight:
            loop.call_later(self._sweep_every, self._sweep, loop)
        else:
            self._sweeping = False

    async def request(self, method: str, path: str, *, query: Query = None,
                      headers: Mapping[str, str] | None = None, body: bytes | None = None) -> RawResponse:
        """Send one request and read its whole answer; connection failures raise ``TransportError``."""
        if self._closed:
            raise TransportError(f"the connection pool to {self.server} is closed")
        data = self._head(method, path, query, headers, len(body) if body else 0)
        if body:
            data += body
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        for attempt in (0, 1):
            connection: _Connection | None = None
            try:
                idle = self._idle
                while idle:  # the common case, without a coroutine for _acquire
                    connection = idle.pop()
                    if connection.reusable:
                        reused = True
                        break
                    self._drop(connection)
                    connection = None
                if connection is None:
                    connection, reused = await self._acquire(deadline)
                waiter: asyncio.Future[RawResponse] = loop.create_future()
                self._track(waiter, deadline, loop)
                try:
                    connection.send(data, waiter)
                    response = await waiter
                finally:
                    del self._inflight[waiter]
            except _ConnectionLost as exc:
                self._drop(connection)  # type: ignore[arg-type]
                if attempt == 0 and reused and not exc.started and method in _IDEMPOTENT:
                    continue
                raise TransportError(f"cannot reach the API server at {self.server}: {exc}") from exc
            except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
                if connection is not None:
                    self._drop(connection)
                message = "timed out" if isinstance(exc, asyncio.TimeoutError) else str(exc)
                raise TransportError(f"cannot reach the API server at {self.server}: {message}") from exc
            except BaseException:
                if connection is not None:
                    self._drop(connection)  # cancelled mid-request: its answer would confuse the next user
                raise
            self._release(connection)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        """Close every idle connection; later requests fail. Idempotent."""
        self._closed = True
        while self._idle:
            self._drop(self._idle.pop())


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_exception(asyncio.TimeoutError())


class PooledHTTPTransport(HTTPTransport):
    """:class:`HTTPTransport` with whole-response requests on a :class:`ConnectionPool` (streams on aiohttp)."""

    def __init__(self, credentials: ClusterCredentials, *, timeout: float = 60.0) -> None:
        super().__init__(credentials, timeout=timeout)
        self._pool: ConnectionPool | None = None

    def _get_pool(self) -> ConnectionPool:
        if self._pool is None:
            self._pool = ConnectionPool(self.credentials.server, ssl_context=self._ssl, headers=self._headers,
                                        timeout=self._timeout)
        return self._pool

    def request(self, method: str, path: str, *, query: Query = None,  # type: ignore[override]
                headers: Mapping[str, str] | None = None, body: bytes | None = None) -> Awaitable[RawResponse]:
        """Send one request over the pool and read the whole answer (await the result).

        A plain function handing back the pool's coroutine: one coroutine per request, not two.
        """
        return self._get_pool().request(method, path, query=query, headers=headers, body=body)

    async def close(self) -> None:
        """Close the pool and aiohttp's session. Idempotent."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await super().close()
