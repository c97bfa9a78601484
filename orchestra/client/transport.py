"""How the client reaches the API server: over HTTP(S), or in-process without a socket.

Both transports carry the same requests and return the same responses, so every
component runs the same code embedded in one process or spread over machines.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Mapping, Protocol
from urllib.parse import urlencode

import attrs

from orchestra.client.kubeconfig import ClusterCredentials

if TYPE_CHECKING:
    import aiohttp

__all__ = ["RawResponse", "StreamResponse", "Transport", "HTTPTransport", "InProcessTransport", "InProcessServer",
           "TransportError"]


class TransportError(ConnectionError):
    """The API server could not be reached (connection refused, TLS failure, timeout)."""


@attrs.frozen
class RawResponse:
    """A complete response: status, headers (lower-case keys), body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class StreamResponse(abc.ABC):
    """A streamed response: status and headers at once, then the body line by line."""

    status: int
    headers: Mapping[str, str]

    @abc.abstractmethod
    def lines(self) -> AsyncIterator[bytes]:
        """The body's lines, without their ``\\n``, as they arrive.

        Blank lines are lines too (a container's log keeps them); a last line without a
        newline comes at the end. Readers of JSON lines skip the blank ones themselves.
        """

    @abc.abstractmethod
    async def read(self) -> bytes:
        """The whole remaining body (for error responses)."""


Query = Mapping[str, Any] | None


def _query_string(query: Query) -> str:
    if not query:
        return ""
    pairs = []
    for key, value in query.items():
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            pairs.append((key, "true" if v is True else "false" if v is False else str(v)))
    return urlencode(pairs)


class Transport(abc.ABC):
    """Sends API requests; implemented over HTTP and in-process."""

    @abc.abstractmethod
    async def request(self, method: str, path: str, *, query: Query = None, headers: Mapping[str, str] | None = None,
                      body: bytes | None = None) -> RawResponse:
        """Send one request and read the whole response."""

    @abc.abstractmethod
    def stream(self, method: str, path: str, *, query: Query = None,
               headers: Mapping[str, str] | None = None) -> contextlib.AbstractAsyncContextManager[StreamResponse]:
        """Send one request and stream its response (watches, log follows)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections. Idempotent."""


# --------------------------------------------------------------------------- HTTP


class _HTTPStream(StreamResponse):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.headers.items()}

    async def lines(self) -> AsyncIterator[bytes]:
        buffer = b""
        async for chunk in self._response.content.iter_any():
            buffer += chunk
            if b"\n" in buffer:
                *complete, buffer = buffer.split(b"\n")
                for line in complete:
                    yield line
        if buffer:
            yield buffer

    async def read(self) -> bytes:
        return await self._response.read()


class HTTPTransport(Transport):
    """HTTP(S) with keep-alive, the server's CA, and a bearer token or client certificate."""

    def __init__(self, credentials: ClusterCredentials, *, timeout: float = 60.0) -> None:
        self.credentials = credentials
        self._ssl = credentials.ssl_context()
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._headers = {"Authorization": f"Bearer {credentials.token}"} if credentials.token else {}

    def _get_session(self) -> aiohttp.ClientSession:
        import aiohttp  # imported on first use: an all-in-one cluster never needs it

        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else False, limit=0)
            self._session = aiohttp.ClientSession(connector=connector, headers=self._headers)
        return self._session

    def _url(self, path: str, query: Query) -> str:
        qs = _query_string(query)
        return f"{self.credentials.server}{path}" + (f"?{qs}" if qs else "")

    async def request(self, method: str, path: str, *, query: Query = None, headers: Mapping[str, str] | None = None,
                      body: bytes | None = None) -> RawResponse:
        import aiohttp

        try:
            async with self._get_session().request(
                method, self._url(path, query), data=body, headers=headers,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:
                data = await response.read()
                return RawResponse(response.status, {k.lower(): v for k, v in response.headers.items()}, data)
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
            raise TransportError(f"cannot reach the API server at {self.credentials.server}: {exc}") from exc

    @contextlib.asynccontextmanager
    async def stream(self, method: str, path: str, *, query: Query = None,
                     headers: Mapping[str, str] | None = None) -> AsyncIterator[StreamResponse]:
        import aiohttp

        try:
            response = await self._get_session().request(
                method, self._url(path, query), headers=headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._timeout),
            )
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
            raise TransportError(f"cannot reach the API server at {self.credentials.server}: {exc}") from exc
        try:
            yield _HTTPStream(response)
        finally:
            response.release()
            response.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# --------------------------------------------------------------------------- in-process


class InProcessServer(Protocol):
    """What the in-process transport needs of the API server (``orchestra.apiserver.APIServer``)."""

    async def handle_in_process(self, *, method: str, path: str, query: dict[str, list[str]],
                                headers: dict[str, str], body: bytes, user: Any, body_object: Any = None) -> Any:
        """Serve one request as ``user`` (no authentication); returns an object with ``status``,
        ``headers``, ``content_type``, ``body`` and ``stream`` (an async iterator of chunks, or None).
        ``body_object``, when given, is the request's body handed over unencoded."""

    def write_resource(self, method: str, rtype: Any, namespace: str | None, name: str | None,
                       subresource: str | None, body_object: Any, content_type: str,
                       user: Any) -> Awaitable[Any]:
        """Serve a write to the object (or collection) named by its parts, whose body is handed
        over, for a caller that does not read a successful answer: the awaitable of the
        success's HTTP status (an int), or of a failure's response as :meth:`handle_in_process`
        returns it."""


class _InProcessStream(StreamResponse):
    def __init__(self, response: Any) -> None:
        self._response = response
        self.status = response.status
        self.headers = {"content-type": response.content_type, **{k.lower(): v for k, v in response.headers.items()}}

    async def lines(self) -> AsyncIterator[bytes]:
        if self._response.stream is None:
            *complete, rest = self._response.body.split(b"\n")
            for line in complete:
                yield line
            if rest:
                yield rest
            return
        buffer = b""
        async for chunk in self._response.stream:
            # A watch event is one chunk holding one line: hand it over without buffering.
            if not buffer and chunk and chunk.find(b"\n") == len(chunk) - 1:
                yield chunk[:-1]
                continue
            buffer += chunk
            if b"\n" in buffer:
                *complete, buffer = buffer.split(b"\n")
                for line in complete:
                    yield line
        if buffer:
            yield buffer

    def shared_batches(self) -> AsyncIterator[list[Any]] | None:
        """A watch's events as the server holds them, a list of them a step (each with a ``type``
        and an ``object``; an ``ERROR`` one carries a failure's Status), instead of its encoded
        :meth:`lines`; None when there are none. The objects are the server's own: read them,
        never change them."""
        events = self._response.events
        return events.batches() if events is not None else None

    async def read(self) -> bytes:
        return self._response.body

    async def aclose(self) -> None:
        for source in (self._response.stream, getattr(self._response, "events", None)):
            if source is not None and hasattr(source, "aclose"):
                await source.aclose()


async def _raw_response(response: Any, *, keep_body: bool) -> RawResponse:
    """The in-process server's Response as the transport answers it. Without ``keep_body`` a
    success's body is left unread (and a lazily encoded one unencoded); an error's is kept."""
    keep = keep_body or response.status >= 400
    if response.stream is not None:
        chunks = [chunk async for chunk in response.stream]
        body = b"".join(chunks) if keep else b""
    else:
        body = response.body if keep else b""
    return RawResponse(response.status, {"content-type": response.content_type, **response.headers}, body)


def _query_lists(query: Query) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if not query:
        return out
    for key, value in query.items():
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        out[key] = ["true" if v is True else "false" if v is False else str(v) for v in values]
    return out


class InProcessTransport(Transport):
    """Calls the API server's request path directly: no socket, no TLS, same handlers.

    ``user`` is the identity the requests run as (authentication is skipped;
    authorization still applies).
    """

    def __init__(self, server: InProcessServer, user: Any) -> None:
        self.server = server
        self.user = user

    def _handle(self, method: str, path: str, query: Query, headers: Mapping[str, str] | None,
                body: bytes) -> Awaitable[Any]:
        return self.server.handle_in_process(
            method=method, path=path, query=_query_lists(query) if query else {},
            headers={k.lower(): v for k, v in headers.items()} if headers else {}, body=body, user=self.user,
        )

    async def request(self, method: str, path: str, *, query: Query = None, headers: Mapping[str, str] | None = None,
                      body: bytes | None = None) -> RawResponse:
        return await _raw_response(await self._handle(method, path, query, headers, body or b""), keep_body=True)

    async def request_without_body(self, method: str, path: str, *, query: Query = None,
                                   headers: Mapping[str, str] | None = None,
                                   body: bytes | None = None) -> RawResponse:
        """:meth:`request` for a caller that does not read a successful answer: its body is left
        unencoded and comes back empty (an error's Status body is kept)."""
        response = await self._handle(method, path, query, headers, body or b"")
        return await _raw_response(response, keep_body=False)

    def write_resource(self, method: str, rtype: Any, namespace: str | None, name: str | None,
                       subresource: str | None, body_object: Any, content_type: str) -> Awaitable[Any]:
        """A write to the object (or collection) named by its parts, whose body is ``body_object``
        itself (JSON values the server owns from then on, of ``content_type``): the awaitable of
        the success's HTTP status, an int, or else of the server's response, which
        :meth:`answer` reads (see :meth:`InProcessServer.write_resource`)."""
        return self.server.write_resource(method, rtype, namespace, name, subresource, body_object, content_type,
                                          self.user)

    @staticmethod
    def answer(response: Any) -> Awaitable[RawResponse]:
        """:meth:`write_resource`'s answer when it is not a status: the response with its body
        if it is an error's (a success's is left unread)."""
        return _raw_response(response, keep_body=False)

    @contextlib.asynccontextmanager
    async def stream(self, method: str, path: str, *, query: Query = None,
                     headers: Mapping[str, str] | None = None) -> AsyncIterator[StreamResponse]:
        response = await self._handle(method, path, query, headers, b"")
        stream = _InProcessStream(response)
        try:
            yield stream
        finally:
            await stream.aclose()

    async def close(self) -> None:
        """Nothing to release: there is no connection."""
