"""Real-socket helpers for the proxy tests: named echo backends on 127.x addresses and clients."""

from __future__ import annotations

import asyncio
import itertools
import os

import pytest

from orchestra.proxy.mode import Endpoint, ProxyTable, ServiceEntry

_counter = itertools.count(1)


def fresh_ip(prefix: int = 110) -> str:
    """A 127.x address no other test in this run uses (bindable without configuration)."""
    n = next(_counter) + (os.getpid() % 200) * 256
    return f"127.{prefix}.{(n // 250) % 250 + 1}.{n % 250 + 1}"


class Backend:
    """A TCP server that greets each connection with its name, then echoes; counts open connections."""

    def __init__(self, name: str, ip: str) -> None:
        self.name = name
        self.ip = ip
        self.port = 0
        self.server: asyncio.AbstractServer | None = None
        self.accepted = 0
        self.open = 0
        self.writers: set[asyncio.StreamWriter] = set()

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.ip, self.port)

    async def start(self) -> "Backend":
        self.server = await asyncio.start_server(self._serve, self.ip, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        self.writers.add(writer)
        try:
            writer.write(self.name.encode() + b"\n")
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.write_eof()
            await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.open -= 1
            self.writers.discard(writer)
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.close()
        await self.server.wait_closed()


class UDPBackend(asyncio.DatagramProtocol):
    """A UDP server answering each datagram with ``name:`` + the datagram."""

    def __init__(self, name: str, ip: str) -> None:
        self.name = name
        self.ip = ip
        self.port = 0
        self.transport: asyncio.DatagramTransport | None = None

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.ip, self.port)

    async def start(self) -> "UDPBackend":
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(self.ip, 0))
        return self

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr) -> None:
        self.transport.sendto(self.name.encode() + b":" + data, addr)

    async def stop(self) -> None:
        self.transport.close()


async def connect(ip: str, port: int, *, local_ip: str | None = None):
    """Open a connection; ``(greeting name, reader, writer)``."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(ip, port, local_addr=(local_ip, 0) if local_ip else None), 10
    )
    line = await asyncio.wait_for(reader.readline(), 10)
    if not line:
        raise ConnectionResetError("closed before the greeting")
    return line.decode().strip(), reader, writer


async def who(ip: str, port: int, *, local_ip: str | None = None) -> str:
    """The name of the backend a fresh connection reaches (the connection is closed)."""
    name, _reader, writer = await connect(ip, port, local_ip=local_ip)
    writer.close()
    return name


async def refused(ip: str, port: int) -> bool:
    """Whether a connection to ``ip:port`` is refused or reset without any data."""
    try:
        await who(ip, port)
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    return False


def entry(name: str, cluster_ip: str | None, port: int, backends, *, node_port=None, affinity=None,
          protocol="TCP") -> ServiceEntry:
    return ServiceEntry(
        name=name,
        protocol=protocol,
        cluster_ip=cluster_ip,
        port=port,
        node_port=node_port,
        endpoints=tuple(sorted(b.endpoint for b in backends)),
        affinity_seconds=affinity,
    )


def table(*entries: ServiceEntry) -> ProxyTable:
    return ProxyTable(tuple(entries))


@pytest.fixture
async def backends():
    """Three named TCP backends on distinct 127.x addresses."""
    started = [await Backend(f"b{i}", fresh_ip(111)).start() for i in range(3)]
    yield started
    for backend in started:
        await backend.stop()


async def eventually(predicate, *, attempts: int = 500, delay: float = 0.01):
    """Await until ``predicate()`` (sync or async) is true; fails after ``attempts``."""
    for _ in range(attempts):
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(delay)
    raise AssertionError("condition never became true")
