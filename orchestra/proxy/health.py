"""The proxy's health endpoint: ``GET /healthz`` answers 200 once a table has been applied, else 503.

kube-proxy serves the same on port 10256; load balancers and ``orchestra up`` poll it.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from orchestra.aio import wait_for

__all__ = ["HealthServer", "DEFAULT_HEALTHZ_PORT"]

DEFAULT_HEALTHZ_PORT = 10256
_MAX_REQUEST = 8192


class HealthServer:
    """A tiny HTTP/1.1 server for ``/healthz``; ``healthy()`` decides the answer.

    :param healthy: called per request; True answers 200 ``ok``.
    """

    def __init__(self, healthy: Callable[[], bool]) -> None:
        self.healthy = healthy
        self.server: asyncio.AbstractServer | None = None

    @property
    def port(self) -> int:
        """The port listened on (useful after listening on port 0)."""
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def start(self, host: str, port: int = DEFAULT_HEALTHZ_PORT) -> None:
        """Listen on ``host:port``; OSError when the address cannot be bound."""
        self.server = await asyncio.start_server(self._serve, host, port, reuse_address=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            request_line = head.split(b"\r\n", 1)[0].split()
            path = request_line[1].split(b"?", 1)[0] if len(request_line) > 1 else b""
            if path not in (b"/healthz", b"/livez", b"/readyz"):
                status, body = b"404 Not Found", b"not found"
            elif self.healthy():
                status, body = b"200 OK", b"ok"
            else:
                status, body = b"503 Service Unavailable", b"no proxy table applied yet"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        """Stop listening."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
