"""The HTTP/1.1 front: an ``asyncio.Protocol`` on ``httptools``' parser (llhttp), plain or TLS.

Chosen over aiohttp's server after measuring a hello-world endpoint on uvloop, one core,
keep-alive, ``wrk -c32``: aiohttp ≈ 8–12k requests/s, this protocol ≈ 28–29k (with a task per
request and a parsed query, as here). The protocol does only what the API needs:

- keep-alive and pipelining (requests on one connection are answered in order; reading pauses
  while more than 64 are queued);
- a 3 MiB request body limit → 413 Status (checked on ``Content-Length`` and while reading);
- ``Expect: 100-continue``;
- complete responses with ``Content-Length``; streams (watches, log follows) as chunked
  transfer encoding, one chunk per item, written as produced, with back-pressure from the socket;
- idle connections (no byte and no request running for ``idle_timeout``, 120 s) are closed;
  watches and other running requests are never cut by it;
- TLS through the event loop (ALPN offers ``http/1.1`` only); a verified client certificate
  becomes the request's user (see :func:`orchestra.apiserver.auth.user_from_certificate`).

Any exception other than :class:`APIError` from the handler becomes a 500 Status without a
traceback (the traceback goes to the server log).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
from typing import Awaitable, Callable
from urllib.parse import parse_qs

import httptools
import orjson

from orchestra.apiserver.auth import user_from_certificate
from orchestra.apiserver.errors import APIError, BadRequest, InternalError, RequestEntityTooLarge
from orchestra.apiserver.request import Request, Response, UserInfo

__all__ = ["HTTPServer", "Handler", "MAX_BODY_BYTES", "MAX_HEADER_BYTES", "IDLE_TIMEOUT", "server_ssl_context"]

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]
MAX_BODY_BYTES = 3 * 1024 * 1024
MAX_HEADER_BYTES = 1024 * 1024
#: Seconds a connection may stay silent between requests (or in the middle of one) before it is closed.
IDLE_TIMEOUT = 120.0

_REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 409: "Conflict", 410: "Gone",
    413: "Request Entity Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Entity",
    429: "Too Many Requests", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
    503: "Service Unavailable", 504: "Gateway Timeout",
}
_STATUS_LINES = {code: f"HTTP/1.1 {code} {reason}\r\n".encode() for code, reason in _REASONS.items()}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
#: Pipelined requests queued on one connection before the server stops reading from it.
_MAX_PIPELINED = 64
#: How much of a refused (too large) body is read and dropped before the connection is closed.
_MAX_DISCARD_BYTES = 4 * MAX_BODY_BYTES


def server_ssl_context(cert_file: str, key_file: str, client_ca_file: str | None) -> ssl.SSLContext:
    """A TLS server context; client certificates signed by ``client_ca_file`` are verified if sent."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    if client_ca_file:
        ctx.load_verify_locations(client_ca_file)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _status_line(code: int) -> bytes:
    line = _STATUS_LINES.get(code)
    return line if line is not None else f"HTTP/1.1 {code} Status {code}\r\n".encode()


def _error_bytes(error: APIError) -> bytes:
    return orjson.dumps(error.status())


class _ParsedRequest:
    __slots__ = ("method", "url", "headers", "body", "keep_alive", "error")

    def __init__(self, method: str, url: bytes, headers: dict[str, str], body: bytes, keep_alive: bool,
                 error: APIError | None) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.error = error


class _Connection(asyncio.Protocol):
    """One client connection: parse requests, answer them in order."""

    def __init__(self, server: "HTTPServer") -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._user: UserInfo | None = None
        self._queue: collections.deque[_ParsedRequest] = collections.deque()
        self._worker: asyncio.Task | None = None
        self._closed = False
        self._streaming = False
        self._reading_paused = False
        self._active = False
        self._upgraded = False
        self._idle_handle: asyncio.TimerHandle | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self._reset()

    def _reset(self) -> None:
        self._url = b""
        self._headers: dict[str, str] = {}
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._body_size = 0
        self._error: APIError | None = None

    # ---------------------------------------------------------------- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Remember the transport; a verified client certificate names the connection's user."""
        self._transport = transport  # type: ignore[assignment]
        self._server._connections.add(self)
        self._idle_handle = asyncio.get_running_loop().call_later(self._server.idle_timeout, self._check_idle)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            try:
                self._user = user_from_certificate(ssl_object.getpeercert())
            except (ValueError, ssl.SSLError):
                self._user = None

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection; a stream in progress is cancelled."""
        self._closed = True
        self._writable.set()
        self._server._connections.discard(self)
        if self._idle_handle is not None:
            self._idle_handle.cancel()
        if self._worker is not None and self._streaming:
            self._worker.cancel()

    def _check_idle(self) -> None:
        """Close the connection if it neither sent a byte nor had a request running for a whole period."""
        if self._closed or self._transport is None:
            return
        if self._worker is None and not self._active:
            self._transport.close()
            return
        self._active = False
        self._idle_handle = asyncio.get_running_loop().call_later(self._server.idle_timeout, self._check_idle)

    def pause_writing(self) -> None:
        """The socket buffer is full: streams wait."""
        self._writable.clear()

    def resume_writing(self) -> None:
        """The socket buffer drained: streams go on."""
        self._writable.set()

    def data_received(self, data: bytes) -> None:
        """Feed bytes to the parser; a malformed request gets 400 and the connection closes."""
        self._active = True
        if self._upgraded:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._end_after_upgrade()
        except httptools.HttpParserError as exc:
            self._fail(BadRequest(f"malformed HTTP request: {exc}"))

    def _end_after_upgrade(self) -> None:
        """The parser stopped at a protocol upgrade (``CONNECT``, ``Connection: Upgrade``).

        Orchestra upgrades no protocol: the request is answered like any other (a Status), then
        the connection closes, since the bytes after an upgrade request are not HTTP.
        """
        self._upgraded = True
        if self._queue:
            self._queue[-1].keep_alive = False
        else:
            self._fail(BadRequest("protocol upgrades are not supported"))

    # ---------------------------------------------------------------- parser callbacks

    def on_message_begin(self) -> None:
        """Parser: a new request starts."""
        self._reset()

    def on_url(self, url: bytes) -> None:
        """Parser: (part of) the request target."""
        self._url += url
        self._header_bytes += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Parser: one header; repeated headers are joined with commas."""
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEADER_BYTES:
            self._error = BadRequest("request headers too large")
            return
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        previous = self._headers.get(key)
        self._headers[key] = text if previous is None else f"{previous}, {text}"

    def on_headers_complete(self) -> None:
        """Parser: refuse a declared body over the limit; answer ``Expect: 100-continue``."""
        length = self._headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            self._error = _too_large()
        elif self._headers.get("expect", "").lower() == "100-continue" and self._transport is not None:
            self._transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        """Parser: a body chunk, kept while under the limit."""
        self._body_size += len(body)
        if self._error is not None:
            # Read and drop a refused body so the client sees the answer, but not without end.
            if self._body_size > _MAX_DISCARD_BYTES and self._transport is not None:
                self._transport.close()
            return
        if self._body_size > MAX_BODY_BYTES:
            self._error = _too_large()
            self._body = []
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        """Parser: the request is complete; queue it for the connection's worker."""
        request = _ParsedRequest(
            self._parser.get_method().decode("latin-1"),
            self._url,
            self._headers,
            b"".join(self._body),
            self._parser.should_keep_alive() and self._error is None,
            self._error,
        )
        self._reset()
        self._queue.append(request)
        if len(self._queue) > _MAX_PIPELINED and not self._reading_paused and self._transport is not None:
            self._transport.pause_reading()
            self._reading_paused = True
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())

    # ---------------------------------------------------------------- answering

    def _fail(self, error: APIError) -> None:
        if self._transport is None or self._closed:
            return
        if self._worker is None:
            self._write_response(Response(error.code, _error_bytes(error)), keep_alive=False)
        self._transport.close()

    async def _work(self) -> None:
        try:
            while self._queue and not self._closed:
                parsed = self._queue.popleft()
                if self._reading_paused and len(self._queue) <= _MAX_PIPELINED // 2 and self._transport is not None:
                    self._transport.resume_reading()
                    self._reading_paused = False
                await self._answer(parsed)
                if not parsed.keep_alive:
                    if self._transport is not None:
                        self._transport.close()
                    self._queue.clear()
                    return
        finally:
            self._worker = None

    async def _answer(self, parsed: _ParsedRequest) -> None:
        if parsed.error is not None:
            self._write_response(Response(parsed.error.code, _error_bytes(parsed.error)), keep_alive=False)
            return
        try:
            url = httptools.parse_url(parsed.url)
            path = url.path.decode("utf-8")
            if "%" in path:
                from urllib.parse import unquote

                path = unquote(path)
            query = parse_qs(url.query.decode("utf-8"), keep_blank_values=True) if url.query else {}
        except (httptools.HttpParserInvalidURLError, UnicodeDecodeError, ValueError):
            error = BadRequest("malformed request URL")
            self._write_response(Response(error.code, _error_bytes(error)), keep_alive=False)
            parsed.keep_alive = False
            return
        request = Request(parsed.method, path, query, parsed.headers, parsed.body, self._user)
        try:
            response = await self._server.handler(request)
        except APIError as exc:
            response = Response(exc.code, _error_bytes(exc))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("unexpected error serving %s %s", parsed.method, path)
            response = Response(500, _error_bytes(InternalError(f"an internal error occurred serving {parsed.method} {path}")))
        if response.stream is None:
            self._write_response(response, parsed.keep_alive)
        else:
            await self._write_stream(response, parsed.keep_alive)

    def _head(self, response: Response, keep_alive: bool, length: int | None) -> bytearray:
        head = bytearray(_status_line(response.status))
        head += b"Content-Type: " + response.content_type.encode("latin-1") + b"\r\n"
        head += b"Cache-Control: no-cache, private\r\n"
        for name, value in response.headers.items():
            head += f"{name}: {value}\r\n".encode("latin-1")
        if length is None:
            head += b"Transfer-Encoding: chunked\r\n"
        else:
            head += b"Content-Length: %d\r\n" % length
        if not keep_alive:
            head += b"Connection: close\r\n"
        head += b"\r\n"
        return head

    def _write_response(self, response: Response, keep_alive: bool) -> None:
        if self._closed or self._transport is None:
            return
        head = self._head(response, keep_alive, len(response.body))
        head += response.body
        self._transport.write(head)

    async def _write_stream(self, response: Response, keep_alive: bool) -> None:
        stream = response.stream
        assert stream is not None and self._transport is not None
        self._streaming = True
        try:
            self._transport.write(self._head(response, keep_alive, None))
            async for chunk in stream:
                if self._closed:
                    break
                if chunk:
                    self._transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                if not self._writable.is_set():
                    await self._writable.wait()
            if not self._closed:
                self._transport.write(b"0\r\n\r\n")
        except asyncio.CancelledError:
            if not self._closed:
                raise
        except Exception:
            log.exception("stream failed")
            if not self._closed and self._transport is not None:
                self._transport.close()
        finally:
            self._streaming = False
            close = getattr(stream, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:  # the stream's own cleanup failing must not kill the connection task
                    log.exception("closing a stream failed")

    def close(self) -> None:
        """Close the connection now (server shutdown)."""
        if self._transport is not None and not self._closed:
            self._transport.close()
        if self._worker is not None and self._streaming:
            self._worker.cancel()


def _too_large() -> RequestEntityTooLarge:
    return RequestEntityTooLarge(f"the request body is larger than the limit of {MAX_BODY_BYTES} bytes")


class HTTPServer:
    """Serves ``handler`` over HTTP/1.1 (TLS when an ``ssl_context`` is given)."""

    def __init__(self, handler: Handler, *, ssl_context: ssl.SSLContext | None = None,
                 idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.idle_timeout = idle_timeout
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_Connection] = set()
        self.host = ""
        self.port = 0

    @property
    def url(self) -> str:
        """``https://host:port`` (or ``http://``) of the listening socket."""
        scheme = "https" if self.ssl_context is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (port 0 picks a free one; :attr:`port` tells which)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, ssl=self.ssl_context, reuse_address=True, backlog=1024
        )
        sockname = self._server.sockets[0].getsockname()
        self.host, self.port = host, sockname[1]

    async def close(self) -> None:
        """Stop listening, close every connection (ending watches) and wait until done."""
        if self._server is None:
            return
        self._server.close()
        for connection in list(self._connections):
            connection.close()
        await self._server.wait_closed()
        self._server = None
