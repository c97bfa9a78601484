"""The ``userspace`` proxy mode: asyncio TCP and UDP forwarding, no root needed.

For every table entry the mode listens on ``clusterIP:port`` (cluster IPs live in
127.0.0.0/8 by default, which any process may bind) and, for NodePort Services, on
``node_port`` at each configured node address. Each accepted connection goes to one
ready endpoint chosen by the entry's :class:`~orchestra.plugins.proxies.balancing.Balancer`
(round-robin by default, least-connections or random, with sessionAffinity ClientIP);
a refused endpoint is skipped for the next one. With no ready endpoint the connection
is reset at once rather than left hanging.

Forwarding uses asyncio Protocols end to end: bytes received on one side (a
``BufferedProtocol`` reading into a reused buffer) are handed to the other side's
``transport.write`` and each side's ``pause_writing`` pauses the other side's reading,
so nothing is copied through streams and memory stays bounded.

An endpoint that leaves the table gets no new connections; its open connections are
left to finish and aborted after ``drain_timeout`` seconds. The same holds for every
connection of an entry that leaves the table (its listeners close at once).

Config keys (``config`` of ``orchestra_proxy_mode_create``): ``algorithm``,
``nodeport_addresses`` (list of IPs, default ``["127.0.0.1"]``), ``drain_timeout``
(seconds, default 30), ``connect_timeout`` (seconds, default 5), ``udp_idle_timeout``
(seconds, default 60).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any

import attrs

from orchestra.aio import wait_for
from orchestra.hookspecs import hookimpl
from orchestra.plugins.proxies.balancing import DEFAULT_ALGORITHM, Balancer, normalize_algorithm
from orchestra.proxy.mode import Endpoint, ProxyMode, ProxyModeError, ProxyTable, ServiceEntry

__all__ = ["NAME", "UserspaceConfig", "UserspaceProxy", "orchestra_proxy_mode_create", "orchestra_proxy_mode_names"]

log = logging.getLogger(__name__)

NAME = "userspace"

_LINGER_RESET = struct.pack("ii", 1, 0)
#: Bytes read at most per receive; the buffer is reused while the other side keeps up.
_READ_SIZE = 256 * 1024
#: Bytes a side may buffer before the other side's reading pauses (fewer pause/resume rounds than 64 KiB).
_WRITE_HIGH_WATER = 1024 * 1024
#: ``(protocol, host, port)``: one listening socket.
ListenerKey = tuple[str, str, int]


def _positive(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ProxyModeError(f"userspace proxy: {name} must be a number of seconds, got {value!r}") from None
    if number <= 0:
        raise ProxyModeError(f"userspace proxy: {name} must be greater than 0, got {value!r}")
    return number


@attrs.frozen
class UserspaceConfig:
    """Settings of the userspace mode; :meth:`from_config` reads them from the hook's config dict."""

    algorithm: str = DEFAULT_ALGORITHM
    nodeport_addresses: tuple[str, ...] = ("127.0.0.1",)
    drain_timeout: float = 30.0
    connect_timeout: float = 5.0
    udp_idle_timeout: float = 60.0

    @classmethod
    def from_config(cls, config: dict) -> "UserspaceConfig":
        """Settings from ``config``; unknown keys are ignored, bad values raise ProxyModeError naming the key."""
        defaults = cls()
        addresses = config.get("nodeport_addresses", defaults.nodeport_addresses)
        if isinstance(addresses, str):
            addresses = [a for a in addresses.split(",") if a.strip()]
        return cls(
            algorithm=normalize_algorithm(config.get("algorithm") or defaults.algorithm),
            nodeport_addresses=tuple(a.strip() for a in addresses),
            drain_timeout=_positive("drain_timeout", config.get("drain_timeout", defaults.drain_timeout)),
            connect_timeout=_positive("connect_timeout", config.get("connect_timeout", defaults.connect_timeout)),
            udp_idle_timeout=_positive("udp_idle_timeout", config.get("udp_idle_timeout", defaults.udp_idle_timeout)),
        )


def _reset(transport: asyncio.BaseTransport) -> None:
    """Close ``transport`` with a TCP RST (SO_LINGER 0) instead of a FIN."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        except OSError:
            pass
    transport.abort()  # type: ignore[attr-defined]


class _Service:
    """The live state of one table entry: its balancer and its open connections per endpoint."""

    def __init__(self, entry: ServiceEntry, algorithm: str) -> None:
        self.entry = entry
        self.balancer = Balancer(algorithm)
        self.balancer.update(entry.endpoints, entry.affinity_seconds)
        self.connections: dict[Endpoint, set[Any]] = {}

    def update(self, entry: ServiceEntry) -> set[Endpoint]:
        """Take the new entry; the endpoints that left."""
        self.entry = entry
        return self.balancer.update(entry.endpoints, entry.affinity_seconds)

    def opened(self, endpoint: Endpoint, connection: Any) -> None:
        self.balancer.opened(endpoint)
        self.connections.setdefault(endpoint, set()).add(connection)

    def closed(self, endpoint: Endpoint, connection: Any) -> None:
        group = self.connections.get(endpoint)
        if group is not None and connection in group:
            group.discard(connection)
            if not group:
                del self.connections[endpoint]
            self.balancer.closed(endpoint)

    def draining(self, endpoints: set[Endpoint] | None = None) -> list[Any]:
        """The open connections to ``endpoints`` (all when None)."""
        chosen = self.connections if endpoints is None else {e: self.connections.get(e, ()) for e in endpoints}
        return [c for group in chosen.values() for c in group]


# --------------------------------------------------------------------------- TCP


class _TCPConnection:
    """One proxied TCP connection: the client side, the upstream side, and their bookkeeping."""

    __slots__ = ("mode", "service", "side", "client", "upstream", "endpoint", "eofs", "closed", "drain_handle", "task",
                 "early", "early_eof")

    def __init__(self, mode: "UserspaceProxy", service: _Service, side: "_ClientSide") -> None:
        self.mode = mode
        self.service = service
        self.side = side
        self.client: asyncio.Transport | None = None
        self.upstream: asyncio.Transport | None = None
        self.endpoint: Endpoint | None = None
        self.eofs = 0
        self.closed = False
        self.drain_handle: asyncio.TimerHandle | None = None
        self.task: asyncio.Task[None] | None = None
        #: Client bytes (and EOF) that arrived before the upstream connection was made.
        self.early: list[bytes] = []
        self.early_eof = False

    def start(self, client: asyncio.Transport) -> None:
        self.client = client
        self.mode._connections.add(self)
        peer = client.get_extra_info("peername")
        client_ip = peer[0] if peer else ""
        if not self.service.balancer.endpoints:
            self._reset_client()
            return
        client.pause_reading()
        self.task = asyncio.get_running_loop().create_task(self._connect(client_ip))

    async def _connect(self, client_ip: str) -> None:
        loop = asyncio.get_running_loop()
        tried: set[Endpoint] = set()
        timeout = self.mode.config.connect_timeout
        while not self.closed:
            endpoint = self.service.balancer.pick(client_ip, frozenset(tried))
            if endpoint is None:
                self._reset_client()
                return
            try:
                transport, _ = await wait_for(
                    loop.create_connection(lambda: _UpstreamSide(self), endpoint.ip, endpoint.port), timeout
                )
            except (OSError, asyncio.TimeoutError):
                tried.add(endpoint)
                continue
            if self.closed:
                transport.close()
                return
            self.upstream = self.side.peer = transport  # type: ignore[assignment]
            self.endpoint = endpoint
            self.service.opened(endpoint, self)
            if endpoint not in self.service.balancer.endpoints:  # removed while connecting
                self.drain(self.mode.config.drain_timeout)
            transport.set_write_buffer_limits(_WRITE_HIGH_WATER)
            assert self.client is not None
            self.client.set_write_buffer_limits(_WRITE_HIGH_WATER)
            for data in self.early:
                transport.write(data)
            self.early.clear()
            if self.early_eof:
                self.early_eof = False
                self.eof(from_client=True)
            assert self.client is not None
            if not self.closed:
                self.client.resume_reading()
            return

    def _reset_client(self) -> None:
        if self.client is not None and not self.client.is_closing():
            _reset(self.client)
        self._finish()

    def drain(self, timeout: float) -> None:
        """Let the connection finish, abort it after ``timeout`` seconds."""
        if self.drain_handle is None and not self.closed:
            self.drain_handle = asyncio.get_running_loop().call_later(timeout, self.abort)

    def abort(self) -> None:
        """Close both sides at once."""
        for transport in (self.client, self.upstream):
            if transport is not None:
                transport.abort()
        self._finish()

    def eof(self, from_client: bool) -> None:
        if from_client and self.upstream is None and not self.closed:
            self.early_eof = True  # passed on once the upstream connection is made
            return
        target = self.upstream if from_client else self.client
        self.eofs += 1
        if self.eofs >= 2 or target is None:
            self.close()
        elif target.can_write_eof():
            target.write_eof()

    def close(self) -> None:
        for transport in (self.client, self.upstream):
            if transport is not None:
                transport.close()
        self._finish()

    def _finish(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.task is not None and not self.task.done():
            self.task.cancel()
        if self.drain_handle is not None:
            self.drain_handle.cancel()
        if self.endpoint is not None:
            self.service.closed(self.endpoint, self)
        self.mode._connections.discard(self)


class _Relay(asyncio.BufferedProtocol):
    """Reads into a reusable buffer and hands the bytes to ``peer.write``.

    The buffer is reused only when the peer sent everything at once (its write buffer is
    empty), because a transport may keep a reference to what it could not send yet.
    """

    __slots__ = ("buffer", "peer")

    def __init__(self) -> None:
        self.buffer: memoryview | None = None
        self.peer: asyncio.Transport | None = None

    def get_buffer(self, sizehint: int) -> memoryview:
        buffer = self.buffer
        if buffer is None:
            buffer = self.buffer = memoryview(bytearray(_READ_SIZE))
        return buffer

    def buffer_updated(self, nbytes: int) -> None:
        peer = self.peer
        if peer is None:
            self.early(bytes(self.buffer[:nbytes]))  # type: ignore[index]
            return
        peer.write(self.buffer[:nbytes])  # type: ignore[index]
        if peer.get_write_buffer_size():
            self.buffer = None

    def early(self, data: bytes) -> None:
        """Bytes that arrived before there is a peer to write them to."""
        raise RuntimeError("data received before the relay had a peer")


class _ClientSide(_Relay):
    """The accepted side of a proxied connection (reading stays paused until ``peer`` is set)."""

    __slots__ = ("listener", "conn")

    def __init__(self, listener: "_TCPListener") -> None:
        super().__init__()
        self.listener = listener
        self.conn: _TCPConnection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.conn = _TCPConnection(self.listener.mode, self.listener.service, self)
        self.conn.start(transport)  # type: ignore[arg-type]

    def early(self, data: bytes) -> None:
        # uvloop may deliver data before the pause in connection_made takes hold
        self.conn.early.append(data)  # type: ignore[union-attr]
        self.conn.client.pause_reading()  # type: ignore[union-attr]

    def eof_received(self) -> bool:
        self.conn.eof(from_client=True)  # type: ignore[union-attr]
        return True

    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.conn.close()


class _UpstreamSide(_Relay):
    """The side of a proxied connection that talks to the endpoint."""

    __slots__ = ("conn", "client")

    def __init__(self, conn: _TCPConnection) -> None:
        super().__init__()
        self.conn = conn
        self.client = self.peer = conn.client

    def eof_received(self) -> bool:
        self.conn.eof(from_client=False)
        return True

    def pause_writing(self) -> None:
        self.client.pause_reading()  # type: ignore[union-attr]

    def resume_writing(self) -> None:
        self.client.resume_reading()  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.close()


class _TCPListener:
    """One listening TCP socket, serving whichever :class:`_Service` it currently points at."""

    def __init__(self, mode: "UserspaceProxy", service: _Service) -> None:
        self.mode = mode
        self.service = service
        self.server: asyncio.AbstractServer | None = None

    async def open(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _ClientSide(self), host, port, reuse_address=True, backlog=1024)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


# --------------------------------------------------------------------------- UDP


class _UDPUpstream(asyncio.DatagramProtocol):
    """A client's flow to one endpoint: replies go back to the client through the listener."""

    def __init__(self, listener: "_UDPListener", client: tuple[str, int]) -> None:
        self.listener = listener
        self.client_addr = client
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.listener.touch(self.client_addr)
        if self.listener.transport is not None:
            self.listener.transport.sendto(data, self.client_addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("udp flow %s: %s", self.client_addr, exc)


class _UDPSession:
    __slots__ = ("endpoint", "upstream", "pending", "last_seen")

    def __init__(self, endpoint: Endpoint, now: float) -> None:
        self.endpoint = endpoint
        self.upstream: _UDPUpstream | None = None
        self.pending: list[bytes] = []
        self.last_seen = now


class _UDPListener(asyncio.DatagramProtocol):
    """One listening UDP socket; a flow per client address, each with its own upstream socket."""

    def __init__(self, mode: "UserspaceProxy", service: _Service) -> None:
        self.mode = mode
        self.service = service
        self.transport: asyncio.DatagramTransport | None = None
        self.sessions: dict[tuple[str, int], _UDPSession] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    async def open(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port), reuse_port=False)
        self._schedule_sweep()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def touch(self, client: tuple[str, int]) -> None:
        session = self.sessions.get(client)
        if session is not None:
            session.last_seen = asyncio.get_running_loop().time()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        loop = asyncio.get_running_loop()
        session = self.sessions.get(addr)
        if session is not None and session.endpoint not in self.service.balancer.endpoints:
            self._drop(addr)
            session = None
        if session is None:
            endpoint = self.service.balancer.pick(addr[0])
            if endpoint is None:
                return
            session = self.sessions[addr] = _UDPSession(endpoint, loop.time())
            session.pending.append(data)
            loop.create_task(self._connect(addr, session))
            return
        session.last_seen = loop.time()
        if session.upstream is None or session.upstream.transport is None:
            session.pending.append(data)
        else:
            session.upstream.transport.sendto(data)

    async def _connect(self, addr: tuple[str, int], session: _UDPSession) -> None:
        loop = asyncio.get_running_loop()
        endpoint = session.endpoint
        try:
            _, upstream = await loop.create_datagram_endpoint(
                lambda: _UDPUpstream(self, addr), remote_addr=(endpoint.ip, endpoint.port)
            )
        except OSError as exc:
            log.debug("udp flow %s to %s failed: %s", addr, endpoint, exc)
            self.sessions.pop(addr, None)
            return
        if self.sessions.get(addr) is not session:
            upstream.transport.close()  # type: ignore[union-attr]
            return
        session.upstream = upstream  # type: ignore[assignment]
        for data in session.pending:
            upstream.transport.sendto(data)  # type: ignore[union-attr]
        session.pending.clear()

    def _drop(self, addr: tuple[str, int]) -> None:
        session = self.sessions.pop(addr, None)
        if session is not None and session.upstream is not None and session.upstream.transport is not None:
            session.upstream.transport.close()

    def _schedule_sweep(self) -> None:
        loop = asyncio.get_running_loop()
        idle = self.mode.config.udp_idle_timeout
        self._sweeper = loop.call_later(min(idle, 5.0), self._sweep)

    def _sweep(self) -> None:
        deadline = asyncio.get_running_loop().time() - self.mode.config.udp_idle_timeout
        for addr in [a for a, s in self.sessions.items() if s.last_seen < deadline]:
            self._drop(addr)
        self._schedule_sweep()

    def drop_endpoints(self, endpoints: set[Endpoint]) -> None:
        """Forget the flows to endpoints that left (their next datagram picks a new endpoint)."""
        for addr in [a for a, s in self.sessions.items() if s.endpoint in endpoints]:
            self._drop(addr)

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for addr in list(self.sessions):
            self._drop(addr)
        if self.transport is not None:
            self.transport.close()


# --------------------------------------------------------------------------- the mode


class UserspaceProxy(ProxyMode):
    """The userspace proxy mode (see the module docstring); build it with ``UserspaceProxy(config)``."""

    name = NAME

    def __init__(self, config: UserspaceConfig | None = None) -> None:
        self.config = config or UserspaceConfig()
        self._services: dict[str, _Service] = {}
        self._listeners: dict[ListenerKey, _TCPListener | _UDPListener] = {}
        self._connections: set[_TCPConnection] = set()
        self._closed = False

    @property
    def listening(self) -> frozenset[ListenerKey]:
        """Every ``(protocol, host, port)`` the mode listens on."""
        return frozenset(self._listeners)

    @property
    def open_connections(self) -> int:
        """How many proxied TCP connections are open (draining ones included)."""
        return len(self._connections)

    def _wanted(self, table: ProxyTable) -> dict[ListenerKey, str]:
        wanted: dict[ListenerKey, str] = {}
        for entry in table:
            if entry.protocol not in ("TCP", "UDP"):
                continue
            if entry.cluster_ip:
                wanted[(entry.protocol, entry.cluster_ip, entry.port)] = entry.name
            if entry.node_port:
                for address in self.config.nodeport_addresses:
                    wanted[(entry.protocol, address, entry.node_port)] = entry.name
        return wanted

    async def sync(self, table: ProxyTable) -> None:
        """Apply ``table``: update balancers, drain what left, open and close listeners."""
        if self._closed:
            raise ProxyModeError("userspace proxy: sync after close")
        drain = self.config.drain_timeout
        entries = {entry.name: entry for entry in table}
        for name in list(self._services):
            if name not in entries:
                service = self._services.pop(name)
                self._close_listeners_of(service)
                for conn in service.draining():
                    conn.drain(drain)
        for name, entry in entries.items():
            service = self._services.get(name)
            if service is None:
                self._services[name] = _Service(entry, self.config.algorithm)
                continue
            removed = service.update(entry)
            if removed:
                for conn in service.draining(removed):
                    conn.drain(drain)
                for listener in self._listeners.values():
                    if isinstance(listener, _UDPListener) and listener.service is service:
                        listener.drop_endpoints(removed)
        wanted = self._wanted(table)
        for key in [k for k, name in ((k, self._listeners[k].service.entry.name) for k in self._listeners)
                    if wanted.get(k) != name]:
            self._listeners.pop(key).close()
        failures = []
        for key, name in wanted.items():
            if key in self._listeners:
                continue
            protocol, host, port = key
            service = self._services[name]
            listener: _TCPListener | _UDPListener = (
                _TCPListener(self, service) if protocol == "TCP" else _UDPListener(self, service)
            )
            try:
                await listener.open(host, port)
            except OSError as exc:
                failures.append(f"{name} on {protocol} {host}:{port}: {exc.strerror or exc}")
                continue
            self._listeners[key] = listener
        if failures:
            raise ProxyModeError("userspace proxy cannot listen for " + "; ".join(failures))

    def _close_listeners_of(self, service: _Service) -> None:
        for key in [k for k, listener in self._listeners.items() if listener.service is service]:
            self._listeners.pop(key).close()

    async def close(self) -> None:
        """Close every listener and abort every proxied connection."""
        if self._closed:
            return
        self._closed = True
        servers = []
        for listener in self._listeners.values():
            listener.close()
            if isinstance(listener, _TCPListener) and listener.server is not None:
                servers.append(listener.server)
        self._listeners.clear()
        for conn in list(self._connections):
            conn.abort()
        self._services.clear()
        for server in servers:
            await server.wait_closed()
        await asyncio.sleep(0)  # let aborted transports run their connection_lost


@hookimpl
def orchestra_proxy_mode_create(name: str, config: dict) -> UserspaceProxy | None:
    """A :class:`UserspaceProxy` for the name ``userspace``."""
    if name != NAME:
        return None
    return UserspaceProxy(UserspaceConfig.from_config(config))


@hookimpl
def orchestra_proxy_mode_names() -> list[str]:
    """The one proxy mode this plugin provides: ``userspace``."""
    return [NAME]
