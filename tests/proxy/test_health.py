"""The proxy's /healthz endpoint."""

from __future__ import annotations

import asyncio

from orchestra.proxy.health import HealthServer


async def get(port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    response = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return response


async def test_healthz_follows_the_check():
    healthy = [False]
    server = HealthServer(lambda: healthy[0])
    await server.start("127.0.0.1", 0)
    try:
        assert (await get(server.port, "/healthz")).startswith(b"HTTP/1.1 503")
        healthy[0] = True
        response = await get(server.port, "/healthz?verbose")
        assert response.startswith(b"HTTP/1.1 200 OK") and response.endswith(b"\r\n\r\nok")
        assert (await get(server.port, "/other")).startswith(b"HTTP/1.1 404")
    finally:
        await server.close()
