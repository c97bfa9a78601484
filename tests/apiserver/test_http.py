"""The HTTP front on a real socket: TLS, keep-alive, pipelining, streaming, limits, junk input."""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import orjson
import pytest

from orchestra.apiserver.certs import CertificateAuthority
from orchestra.apiserver.http import MAX_BODY_BYTES, HTTPServer
from orchestra.apiserver.request import Request, Response
from support.apiserver_server import client_ssl, start_server

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web"},
    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
}


@pytest.fixture
async def running(tmp_path):
    server = await start_server(tmp_path)
    yield server
    await server.close()


async def raw_exchange(host: str, port: int, data: bytes, ssl_context: ssl.SSLContext | None = None) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it."""
    reader, writer = await asyncio.open_connection(host, port, ssl=ssl_context)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(-1), 30)
    finally:
        writer.close()


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def test_tls_with_the_cluster_ca(running):
    status, headers, body = await running.request("GET", "/api/v1/namespaces")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert orjson.loads(body)["kind"] == "NamespaceList"


async def test_tls_is_refused_without_trusting_the_ca(running):
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(running.url + "/healthz")


async def test_unauthenticated_requests_get_a_401_status(running):
    status, _, body = await running.request("GET", "/api/v1/pods", auth=False)
    assert status == 401
    assert orjson.loads(body) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401,
    }
    status, _, _ = await running.request("GET", "/api/v1/pods", auth=False, headers={"Authorization": "Bearer nope"})
    assert status == 401
    status, _, body = await running.request("GET", "/healthz", auth=False)
    assert (status, body) == (200, b"ok")


async def test_client_certificate_authentication(running):
    d = running.data_dir
    ctx = client_ssl(d, cert=(d / "admin.crt", d / "admin.key"))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        async with session.get(running.url + "/api/v1/namespaces/default") as response:
            assert response.status == 200


async def test_node_certificate_is_authorized_as_a_node(running, tmp_path):
    ca = running.server.pki.ca()
    issued = ca.issue("system:node:n1", organizations=("system:nodes",), client=True)
    (tmp_path / "n1.crt").write_bytes(issued.cert_pem)
    (tmp_path / "n1.key").write_bytes(issued.key_pem)
    ctx = client_ssl(running.data_dir, cert=(tmp_path / "n1.crt", tmp_path / "n1.key"))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        async with session.post(running.url + "/api/v1/namespaces/default/pods", json=POD) as response:
            assert response.status == 403
            assert (await response.json())["message"] == (
                'pods is forbidden: User "system:node:n1" cannot create resource "pods" '
                'in API group "" in the namespace "default"'
            )
        async with session.get(running.url + "/api/v1/namespaces/default/pods") as response:
            assert response.status == 200


async def test_certificate_from_another_ca_is_refused(running, tmp_path):
    stranger = CertificateAuthority.create("stranger").issue("admin", organizations=("system:masters",), client=True)
    (tmp_path / "s.crt").write_bytes(stranger.cert_pem)
    (tmp_path / "s.key").write_bytes(stranger.key_pem)
    ctx = client_ssl(running.data_dir, cert=(tmp_path / "s.crt", tmp_path / "s.key"))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.get(running.url + "/api/v1/namespaces") as response:
                await response.read()


async def test_keep_alive_reuses_one_connection(tmp_path):
    server = await start_server(tmp_path)
    try:
        connector = aiohttp.TCPConnector(ssl=client_ssl(tmp_path), limit=1)
        async with aiohttp.ClientSession(connector=connector) as session:
            for _ in range(5):
                async with session.get(server.url + "/version") as response:
                    assert response.status == 200
                    await response.read()
            assert len(server.server._http[0]._connections) == 1
    finally:
        await server.close()


async def test_pipelined_requests_are_answered_in_order(running):
    one = f"GET /version HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {running.token}\r\n\r\n"
    two = f"GET /api/v1/namespaces/nope HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {running.token}\r\nConnection: close\r\n\r\n"
    data = await raw_exchange("127.0.0.1", _port(running.url), (one + two).encode(), client_ssl(running.data_dir))
    first, second = data.index(b"HTTP/1.1 200 OK"), data.index(b"HTTP/1.1 404 Not Found")
    assert first < second


async def test_body_limit_gives_413(running):
    too_big = b"{" + b" " * MAX_BODY_BYTES + b"}"
    status, _, body = await running.request(
        "POST", "/api/v1/namespaces/default/configmaps", data=too_big, headers={"Content-Type": "application/json"}
    )
    assert status == 413
    assert orjson.loads(body)["reason"] == "RequestEntityTooLarge"


async def test_chunked_upload_over_the_limit_gives_413(running):
    async def chunks():
        for _ in range(4):
            yield b" " * (1024 * 1024)

    status, _, body = await running.request(
        "POST", "/api/v1/namespaces/default/configmaps", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert status == 413


async def test_body_just_under_the_limit_is_read(running):
    data = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"k": "x" * (MAX_BODY_BYTES - 200)}}
    status, _, body = await running.request("POST", "/api/v1/namespaces/default/configmaps", json=data)
    # The store may refuse a value this large; the HTTP layer must not.
    assert status != 413 and status < 500, body[:200]


async def test_expect_100_continue(running):
    body = orjson.dumps({**POD, "metadata": {"name": "cont"}})
    request = (
        f"POST /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {running.token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    ).encode() + body
    data = await raw_exchange("127.0.0.1", _port(running.url), request, client_ssl(running.data_dir))
    assert data.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created")


async def test_watch_streams_each_event_as_a_chunk(running):
    async with running.session.get(
        running.url + "/api/v1/namespaces/default/pods?watch=true", headers=running.auth
    ) as response:
        assert response.status == 200
        assert response.headers["Transfer-Encoding"] == "chunked"
        status, _, _ = await running.request("POST", "/api/v1/namespaces/default/pods", json=POD)
        assert status == 201
        line = await asyncio.wait_for(response.content.readline(), 30)
        event = orjson.loads(line)
        assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "web"
    # The server keeps serving after the watcher went away.
    status, _, _ = await running.request("GET", "/api/v1/namespaces/default/pods/web")
    assert status == 200


async def test_watch_timeout_ends_the_stream(running):
    status, headers, body = await running.request("GET", "/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=1")
    assert status == 200 and body == b""


async def test_close_ends_open_watches(tmp_path):
    server = await start_server(tmp_path)
    response = await server.session.get(server.url + "/api/v1/pods?watch=true", headers=server.auth)
    await server.server.close()
    # The stream ends (cleanly or with a dropped connection), it does not hang.
    try:
        await asyncio.wait_for(response.read(), 30)
    except aiohttp.ClientPayloadError:
        pass
    response.release()
    await server.session.close()


@pytest.mark.parametrize(
    "junk",
    [
        b"\x16\x03\x01garbage\r\n\r\n",
        b"NOT A REQUEST\r\n\r\n",
        b"GET /version HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"GET /version HTTP/9.9\r\n\r\n",
        b"GET /\x00\x01 HTTP/1.1\r\n\r\n",
    ],
)
async def test_junk_gets_400_or_a_closed_connection_never_500(running, junk):
    data = await raw_exchange("127.0.0.1", _port(running.url), junk, client_ssl(running.data_dir))
    assert not data or data.startswith(b"HTTP/1.1 4"), data[:100]
    status, _, _ = await running.request("GET", "/version")
    assert status == 200


async def test_plain_http_to_the_tls_port_does_not_crash_it(running):
    try:
        await raw_exchange("127.0.0.1", _port(running.url), b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
    except ConnectionError:
        pass
    status, _, _ = await running.request("GET", "/version")
    assert status == 200


async def test_unexpected_handler_errors_become_500_status_without_traceback():
    async def broken(request: Request) -> Response:
        raise RuntimeError("secret internals")

    http = HTTPServer(broken)
    await http.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(http.url + "/anything") as response:
                assert response.status == 500
                status = await response.json()
        assert status["reason"] == "InternalError"
        assert "secret" not in status["message"] and "Traceback" not in status["message"]
    finally:
        await http.close()


async def test_insecure_http_still_needs_a_token(tmp_path):
    server = await start_server(tmp_path, tls=False)
    try:
        assert server.url.startswith("http://")
        assert (await server.request("GET", "/api/v1/pods", auth=False))[0] == 401
        assert (await server.request("GET", "/api/v1/pods"))[0] == 200
    finally:
        await server.close()


async def test_insecure_http_with_anonymous_admin(tmp_path):
    server = await start_server(tmp_path, tls=False, anonymous_admin=True)
    try:
        status, _, _ = await server.request("POST", "/api/v1/namespaces/default/pods", json=POD, auth=False)
        assert status == 201
    finally:
        await server.close()


async def test_a_flood_of_pipelined_requests_is_answered_in_full(running):
    one = f"GET /version HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {running.token}\r\n\r\n"
    last = "GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = await raw_exchange("127.0.0.1", _port(running.url), (one * 300 + last).encode(), client_ssl(running.data_dir))
    assert data.count(b"HTTP/1.1 200 OK") == 301


async def test_an_endless_body_does_not_keep_the_connection_forever(running):
    head = (
        f"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {running.token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000000000\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(running.url), ssl=client_ssl(running.data_dir))
    writer.write(head)
    chunk = b" " * (1024 * 1024)
    with pytest.raises((ConnectionError, ssl.SSLError)):
        for _ in range(100):  # far more than the server reads before it hangs up
            writer.write(chunk)
            await writer.drain()
    writer.close()


def _official_client_session(kubeconfig: str) -> list[str]:
    from kubernetes import client, config

    api_client = config.new_client_from_config(kubeconfig)
    v1 = client.CoreV1Api(api_client)
    seen = [v1.list_namespace().items[0].metadata.name]
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="py"),
                       spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]))
    seen.append(v1.create_namespaced_pod("default", pod).metadata.name)
    try:
        v1.read_namespaced_pod("nope", "default")
    except client.ApiException as exc:
        seen.append(str(exc.status))
    seen.append(client.VersionApi(api_client).get_code().git_version.split("-")[0])
    api_client.close()
    return seen


async def test_the_official_kubernetes_client(running):
    pytest.importorskip("kubernetes", reason="the official kubernetes client is not installed")
    seen = await asyncio.to_thread(_official_client_session, str(running.data_dir / "kubeconfig"))
    assert seen == ["default", "py", "404", "v1.32.0"]


async def test_idle_connections_are_closed_but_streams_are_not():
    async def slow_stream(request: Request) -> Response:
        async def chunks():
            for i in range(3):
                await asyncio.sleep(0.3)  # longer than the idle timeout
                yield b"%d\n" % i

        return Response(200, stream=chunks())

    http = HTTPServer(slow_stream, idle_timeout=0.1)
    await http.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", http.port)
        writer.write(b"GET /partial HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        assert await asyncio.wait_for(reader.read(-1), 30) == b""
        writer.close()
        async with aiohttp.ClientSession() as session:
            async with session.get(http.url + "/stream") as response:
                assert await response.read() == b"0\n1\n2\n"
    finally:
        await http.close()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"CONNECT /api/v1/namespaces/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n\r\n", b"405"),
        (b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", b"200"),
    ],
)
async def test_upgrade_requests_are_answered_then_the_connection_closes(running, request_bytes, status):
    # Found by tests/e2e/test_fuzz.py: a CONNECT used to be dropped without any answer.
    request_bytes = request_bytes.replace(b"TOKEN", running.token.encode())
    data = await raw_exchange("127.0.0.1", _port(running.url), request_bytes + b"\x00not http after an upgrade",
                              client_ssl(running.data_dir))
    assert data.startswith(b"HTTP/1.1 " + status), data[:100]
    assert b"Connection: close" in data
    assert data.count(b"HTTP/1.1 ") == 1
