"""The keep-alive HTTP/1.1 pool: against the real API server over TLS, and against odd servers."""

from __future__ import annotations

import asyncio

import pytest

from orchestra.apiserver import APIServer
from orchestra.client import ApiStatusError, Client, TransportError, load_kubeconfig
from orchestra.client.http11 import ConnectionPool, PooledHTTPTransport

pytestmark = pytest.mark.timeout(60)


async def test_verbs_watch_and_errors_against_the_api_server_over_tls(tmp_path):
    server = await APIServer.create("memory://", data_dir=tmp_path / "cluster")
    try:
        await server.serve("127.0.0.1", 0)
        transport = PooledHTTPTransport(load_kubeconfig(str(server.pki.kubeconfig)))
        async with Client(transport) as client:
            cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one", "namespace": "default"},
                  "data": {"a": "1"}}
            created = await client.create(cm, raw=True)
            assert created["metadata"]["uid"]
            created["data"]["a"] = "2"
            updated = await client.update(created, raw=True)
            assert updated["data"] == {"a": "2"}
            patched = await client.patch("configmaps", "one", {"data": {"b": "3"}}, namespace="default", raw=True)
            assert patched["data"] == {"a": "2", "b": "3"}
            with pytest.raises(ApiStatusError) as info:
                await client.get("configmaps", "absent", namespace="default")
            assert info.value.code == 404
            # sequential requests reuse one connection
            assert len(transport._pool._idle) == 1
            # streams still work (on aiohttp)
            async for event in client.watch("configmaps", namespace="default", resource_version="0", raw=True):
                assert event.type == "ADDED" and event.object["metadata"]["name"] == "one"
                break
            # many at once open more connections and all succeed
            names = await asyncio.gather(*(client.get("configmaps", "one", namespace="default", raw=True)
                                           for _ in range(20)))
            assert {n["metadata"]["name"] for n in names} == {"one"}
        assert transport._pool is None  # closed; like aiohttp's session, a later request opens a new pool
    finally:
        await server.close()


async def _raw_server(handler) -> tuple[asyncio.AbstractServer, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


async def test_chunked_answer_and_stale_connection_retry():
    served = []

    async def handler(reader, writer):
        # answers one request per connection, chunked, then closes without saying so
        head = await _read_head(reader)
        served.append(head.split(b" ", 2)[1])
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\n{\"a\":\r\n3\r\n 1}\r\n0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()

    server, url = await _raw_server(handler)
    pool = ConnectionPool(url)
    try:
        first = await pool.request("GET", "/one", query={"x": "1"})
        assert first.status == 200 and first.body == b'{"a": 1}'
        assert first.headers["content-type"] == "application/json"
        await asyncio.sleep(0.2)  # the server has closed the idle connection
        second = await pool.request("GET", "/two")
        assert second.body == b'{"a": 1}'
        assert served == [b"/one?x=1", b"/two"]
    finally:
        await pool.close()
        server.close()


async def test_a_post_is_not_sent_twice_when_the_connection_dies_mid_request():
    served = []

    async def handler(reader, writer):
        head = await _read_head(reader)
        served.append(head.split(b" ", 1)[0])
        writer.close()  # reads the request, never answers

    server, url = await _raw_server(handler)
    pool = ConnectionPool(url)
    try:
        with pytest.raises(TransportError, match="closed before the answer"):
            await pool.request("POST", "/things", body=b"{}")
        assert served == [b"POST"]
    finally:
        await pool.close()
        server.close()


async def test_timeout_and_refused_connections_are_transport_errors():
    async def silent(reader, writer):
        await _read_head(reader)
        await asyncio.sleep(5)

    server, url = await _raw_server(silent)
    pool = ConnectionPool(url, timeout=0.3)
    try:
        with pytest.raises(TransportError, match="timed out"):
            await pool.request("GET", "/slow")
    finally:
        await pool.close()
        server.close()
    refused = ConnectionPool("http://127.0.0.1:1")
    with pytest.raises(TransportError, match="cannot reach"):
        await refused.request("GET", "/")


def test_server_must_be_an_http_url():
    with pytest.raises(ValueError, match="http:// or https://"):
        ConnectionPool("ftp://example.com")


async def test_requests_beyond_max_connections_wait_for_a_free_one():
    peak = 0
    current = 0

    async def handler(reader, writer):
        nonlocal peak, current
        current += 1
        peak = max(peak, current)
        try:
            while True:
                try:
                    await _read_head(reader)
                except asyncio.IncompleteReadError:
                    return
                await asyncio.sleep(0.01)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        finally:
            current -= 1
            writer.close()

    server, url = await _raw_server(handler)
    pool = ConnectionPool(url, max_connections=3)
    try:
        answers = await asyncio.gather(*(pool.request("GET", f"/{i}") for i in range(30)))
        assert [a.body for a in answers] == [b"ok"] * 30
        assert peak <= 3
    finally:
        await pool.close()
        server.close()


async def test_a_request_waiting_for_a_connection_times_out_and_the_deadline_sweep_stops_when_idle():
    release = asyncio.Event()

    async def held(reader, writer):
        await _read_head(reader)
        await release.wait()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server, url = await _raw_server(held)
    pool = ConnectionPool(url, timeout=0.4, max_connections=1)
    try:
        first = asyncio.ensure_future(pool.request("GET", "/held"))
        await asyncio.sleep(0.05)
        with pytest.raises(TransportError, match="timed out"):
            await pool.request("GET", "/queued")  # never gets the only connection
        release.set()
        with pytest.raises(TransportError, match="timed out"):
            await first  # its own deadline passed too
        await asyncio.sleep(0.1)
        assert not pool._inflight and not pool._sweeping
    finally:
        release.set()
        await pool.close()
        server.close()
