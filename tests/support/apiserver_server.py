"""A real API server on a free loopback port, with TLS and the data directory's credentials."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from orchestra.apiserver.server import APIServer

__all__ = ["RunningServer", "start_server", "client_ssl"]


def client_ssl(data_dir: Path, *, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    """A client TLS context trusting the data directory's CA, optionally presenting ``cert``."""
    ctx = ssl.create_default_context(cafile=str(data_dir / "ca.crt"))
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


@attrs.define
class RunningServer:
    """A started server: the APIServer, its URL, the admin token, and a client session."""

    server: APIServer
    url: str
    token: str
    data_dir: Path
    session: aiohttp.ClientSession

    @property
    def auth(self) -> dict[str, str]:
        """The admin's Authorization header."""
        return {"Authorization": f"Bearer {self.token}"}

    async def request(self, method: str, path: str, *, headers: dict | None = None, auth: bool = True,
                      **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
        """One request with the admin token: status, headers, body."""
        all_headers = {**(self.auth if auth else {}), **(headers or {})}
        async with self.session.request(method, self.url + path, headers=all_headers, **kwargs) as response:
            return response.status, dict(response.headers), await response.read()

    async def close(self) -> None:
        """Close the client session and the server."""
        await self.session.close()
        await self.server.close()


async def start_server(data_dir: Path, *, tls: bool = True, anonymous_admin: bool = False) -> RunningServer:
    """An APIServer over a memory store, listening on 127.0.0.1 on a free port."""
    server = await APIServer.create("memory://", data_dir=data_dir, anonymous_admin=anonymous_admin)
    http = await server.serve("127.0.0.1", 0, tls=tls)
    connector = aiohttp.TCPConnector(ssl=client_ssl(data_dir) if tls else False)
    session = aiohttp.ClientSession(connector=connector)
    return RunningServer(server, http.url, server.pki.admin_token(), data_dir, session)
