"""pods/log proxied to a fake node agent that speaks the agent's containerLogs endpoint over TLS."""

from __future__ import annotations

import socket
import ssl

import orjson
import pytest
from aiohttp import web

from orchestra.apiserver import APIServer, Request, UserInfo
from orchestra.apiserver.podlog import kubelet_port, node_address

ADMIN = UserInfo("admin")


class FakeAgent:
    """Answers /containerLogs/{ns}/{pod}/{container} with numbered lines; records the requests."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def logs(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.query)))
        if request.match_info["container"] == "missing":
            return web.Response(status=404, text="container not found")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        for i in range(3):
            await response.write(f"line {i}\n".encode())
        await response.write_eof()
        return response

    async def start(self, ssl_context: ssl.SSLContext) -> None:
        app = web.Application()
        app.router.add_get("/containerLogs/{ns}/{pod}/{container}", self.logs)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        await self.runner.cleanup()


@pytest.fixture
async def setup(tmp_path):
    server = await APIServer.create("memory://", data_dir=tmp_path)
    issued = server.pki.ca().issue("agent", addresses=("127.0.0.1",), server=True)
    (tmp_path / "agent.crt").write_bytes(issued.cert_pem)
    (tmp_path / "agent.key").write_bytes(issued.key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "agent.crt", tmp_path / "agent.key")
    agent = FakeAgent()
    await agent.start(ctx)
    await call(server, "POST", "/api/v1/nodes", node("n1", agent.port))
    yield server, agent
    await agent.stop()
    await server.close()


def node(name: str, port: int) -> dict:
    return {
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
        "status": {"addresses": [{"type": "Hostname", "address": "localhost"}, {"type": "InternalIP", "address": "127.0.0.1"}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}},
    }


def pod(name: str, node_name: str | None, containers=("c",)) -> dict:
    spec: dict = {"containers": [{"name": c, "image": "busybox"} for c in containers]}
    if node_name:
        spec["nodeName"] = node_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


async def call(server, method, path, body=None, query=None):
    q = {k: [v] for k, v in (query or {}).items()}
    return await server.handle(Request(method, path, q, {}, orjson.dumps(body) if body else b"", ADMIN))


async def read_stream(response) -> bytes:
    return b"".join([chunk async for chunk in response.stream])


def test_node_address_preference_and_port():
    n = node("n", 10250)
    assert node_address(n) == "127.0.0.1" and kubelet_port(n) == 10250
    assert node_address({"status": {"addresses": [{"type": "Hostname", "address": "h"}]}}) == "h"
    assert node_address({}) is None and kubelet_port({"status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": 0}}}}) is None


async def test_logs_are_proxied_with_their_options(setup):
    server, agent = setup
    await call(server, "POST", "/api/v1/namespaces/default/pods", pod("web", "n1"))
    r = await call(server, "GET", "/api/v1/namespaces/default/pods/web/log",
                   query={"follow": "true", "tailLines": "5", "timestamps": "1", "previous": "false"})
    assert r.status == 200 and r.content_type == "text/plain"
    assert await read_stream(r) == b"line 0\nline 1\nline 2\n"
    assert agent.requests == [("/containerLogs/default/web/c", {"follow": "true", "tailLines": "5", "timestamps": "true"})]


async def test_container_choice(setup):
    server, agent = setup
    await call(server, "POST", "/api/v1/namespaces/default/pods", pod("two", "n1", ("a", "b")))
    r = await call(server, "GET", "/api/v1/namespaces/default/pods/two/log")
    assert r.status == 400
    assert orjson.loads(r.body)["message"] == "a container name must be specified for pod two, choose one of: [a b]"
    r = await call(server, "GET", "/api/v1/namespaces/default/pods/two/log", query={"container": "b"})
    assert r.status == 200 and await read_stream(r)
    assert agent.requests[-1][0] == "/containerLogs/default/two/b"
    r = await call(server, "GET", "/api/v1/namespaces/default/pods/two/log", query={"container": "zzz"})
    assert r.status == 400


async def test_errors(setup):
    server, agent = setup
    await call(server, "POST", "/api/v1/namespaces/default/pods", pod("pending", None))
    r = await call(server, "GET", "/api/v1/namespaces/default/pods/pending/log")
    assert r.status == 400 and "does not have a host assigned" in orjson.loads(r.body)["message"]
    assert (await call(server, "GET", "/api/v1/namespaces/default/pods/nope/log")).status == 404
    r = await call(server, "GET", "/api/v1/namespaces/default/pods/pending/log", query={"tailLines": "x"})
    assert r.status == 400
    await call(server, "POST", "/api/v1/namespaces/default/pods", pod("gone", "n1", ("missing",)))
    r = await call(server, "GET", "/api/v1/namespaces/default/pods/gone/log")
    assert r.status == 404 and orjson.loads(r.body)["message"] == "container not found"


async def test_unreachable_agent_is_503(setup):
    server, _ = setup
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    await call(server, "POST", "/api/v1/nodes", node("n2", closed_port))
    await call(server, "POST", "/api/v1/namespaces/default/pods", pod("far", "n2"))
    r = await call(server, "GET", "/api/v1/namespaces/default/pods/far/log")
    assert r.status == 503 and 'agent of node "n2"' in orjson.loads(r.body)["message"]
