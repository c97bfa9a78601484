"""The conformance suite every proxy mode passes, with real sockets.

Each test runs once per mode the plugins provide (``orchestra_proxy_mode_names``): sync a
table, traffic reaches ready endpoints only, updates apply, a service without endpoints
refuses connections, and close releases every socket.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from orchestra.plugin_manager import get_plugin_manager
from orchestra.proxy import create_mode, mode_names
from tests.proxy.conftest import Backend, entry, fresh_ip, refused, table, who

MODES = mode_names(get_plugin_manager(load_entrypoints=False))
PORT = 18080


@pytest.fixture(params=MODES)
async def mode(request):
    node_ip = fresh_ip(112)
    created = await create_mode(
        request.param, {"nodeport_addresses": [node_ip], "drain_timeout": 0.2, "connect_timeout": 2}
    )
    created.node_ip = node_ip
    yield created
    await created.close()


def test_userspace_is_a_mode():
    assert "userspace" in MODES


async def test_traffic_reaches_ready_endpoints_only(mode, backends):
    outsider = await Backend("outsider", fresh_ip(111)).start()
    try:
        ip = fresh_ip()
        await mode.sync(table(entry("default/web:http", ip, PORT, backends)))
        reached = {await who(ip, PORT) for _ in range(12)}
        assert reached == {"b0", "b1", "b2"}
        assert outsider.accepted == 0
    finally:
        await outsider.stop()


async def test_updates_are_applied(mode, backends):
    ip = fresh_ip()
    await mode.sync(table(entry("default/web:http", ip, PORT, backends[:1])))
    assert {await who(ip, PORT) for _ in range(4)} == {"b0"}
    await mode.sync(table(entry("default/web:http", ip, PORT, backends[1:])))
    assert {await who(ip, PORT) for _ in range(8)} == {"b1", "b2"}
    other_ip = fresh_ip()
    await mode.sync(table(entry("default/api:", other_ip, PORT + 1, backends[:1])))
    assert await refused(ip, PORT)
    assert await who(other_ip, PORT + 1) == "b0"


async def test_node_port_reaches_endpoints(mode, backends):
    ip = fresh_ip()
    await mode.sync(table(entry("default/web:http", ip, PORT, backends, node_port=30080)))
    assert {await who(mode.node_ip, 30080) for _ in range(12)} == {"b0", "b1", "b2"}


async def test_service_without_ready_endpoints_refuses(mode):
    ip = fresh_ip()
    await mode.sync(table(entry("default/empty:", ip, PORT, [])))
    assert await asyncio.wait_for(refused(ip, PORT), 10)


async def test_close_releases_every_socket(mode, backends):
    ip = fresh_ip()
    await mode.sync(table(entry("default/web:http", ip, PORT, backends, node_port=30081)))
    held = await asyncio.open_connection(ip, PORT)
    await held[0].readline()
    await mode.close()
    assert await asyncio.wait_for(held[0].read(), 10) == b""  # proxied connections are closed
    held[1].close()
    for host, port in ((ip, PORT), (mode.node_ip, 30081)):
        with socket.socket() as probe:  # nothing listens there any more (TIME_WAIT aside)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            probe.listen()


async def test_bytes_and_eof_sent_at_once_arrive(mode, backends):
    ip = fresh_ip()
    await mode.sync(table(entry("default/web:http", ip, PORT, backends[:1])))
    reader, writer = await asyncio.open_connection(ip, PORT)
    writer.write(b"sent before any answer\n")
    writer.write_eof()
    answer = await asyncio.wait_for(reader.read(), 10)  # greeting, echo, then the backend's EOF
    writer.close()
    assert answer == b"b0\nsent before any answer\n"
