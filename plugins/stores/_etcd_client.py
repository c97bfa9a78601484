"""The gRPC side of the etcd backend: one channel at a time, failover across endpoints, bounded retries.

Private to :mod:`orchestra.plugins.stores.etcd`. The etcd API stubs come from
the ``aetcd`` package (generated from etcd's ``rpc.proto``), used directly on
``grpc.aio`` channels.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, TypeVar

import attrs
import grpc
from aetcd.rpc import rpc_pb2 as pb
from aetcd.rpc import rpc_pb2_grpc as pb_grpc

from orchestra.store.errors import StoreClosedError, StoreUnavailableError

__all__ = ["pb", "EtcdStubs", "EtcdConnection", "Backoff"]

T = TypeVar("T")

_MAX_MESSAGE = 2**31 - 1
_CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", _MAX_MESSAGE),
    ("grpc.max_send_message_length", _MAX_MESSAGE),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
)
#: UNAVAILABLE details that prove a request never reached etcd, so even a write may be retried.
_NOT_SENT_MARKERS = ("failed to connect to all addresses", "etcdserver: no leader")
_FIRST_BACKOFF = 0.05
_MAX_BACKOFF = 1.0


@attrs.define
class EtcdStubs:
    """The service stubs of one channel to one endpoint; ``connected`` once a call has succeeded."""

    endpoint: str
    channel: grpc.aio.Channel
    kv: pb_grpc.KVStub
    watch: pb_grpc.WatchStub
    lease: pb_grpc.LeaseStub
    connected: bool = False

    @classmethod
    def open(cls, endpoint: str) -> "EtcdStubs":
        """A new insecure channel to ``endpoint`` and its stubs."""
        channel = grpc.aio.insecure_channel(endpoint, options=_CHANNEL_OPTIONS)
        return cls(endpoint, channel, pb_grpc.KVStub(channel), pb_grpc.WatchStub(channel), pb_grpc.LeaseStub(channel))


@attrs.define
class Backoff:
    """Exponential backoff bounded by a deadline: ``await wait()`` sleeps, ``expired`` says when to stop."""

    deadline: float
    delay: float = _FIRST_BACKOFF

    @classmethod
    def starting_now(cls, timeout: float) -> "Backoff":
        """A backoff that gives up ``timeout`` seconds from now."""
        return cls(asyncio.get_running_loop().time() + timeout)

    @property
    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return asyncio.get_running_loop().time() >= self.deadline

    async def wait(self) -> None:
        """Sleep the current delay (never past the deadline) and double it."""
        remaining = self.deadline - asyncio.get_running_loop().time()
        await asyncio.sleep(max(0.0, min(self.delay, remaining)))
        self.delay = min(self.delay * 2, _MAX_BACKOFF)


@attrs.define
class EtcdConnection:
    """The client's link to an etcd cluster: the current endpoint's stubs and the failover rule.

    :meth:`call` runs one request with retries; streams (watch) use
    :meth:`stubs`, :meth:`failover` and :meth:`unavailable` to do the same.
    """

    endpoints: tuple[str, ...]
    connect_timeout: float
    request_timeout: float
    _index: int = 0
    _stubs: EtcdStubs | None = None
    _retired: list[grpc.aio.Channel] = attrs.field(factory=list)
    _closed: bool = False

    def stubs(self) -> EtcdStubs:
        """The stubs of the current endpoint, opening its channel if needed."""
        if self._closed:
            raise StoreClosedError()
        if self._stubs is None:
            self._stubs = EtcdStubs.open(self.endpoints[self._index])
        return self._stubs

    def failover(self, failed: EtcdStubs) -> bool:
        """Move on from ``failed`` to the next endpoint; True when that wrapped round to the first one."""
        if failed is not self._stubs:
            return False
        self._retired.append(failed.channel)
        self._stubs = None
        self._index = (self._index + 1) % len(self.endpoints)
        return self._index == 0

    def unavailable(self, last_error: str) -> StoreUnavailableError:
        """The error raised when no endpoint answered within ``connect_timeout``."""
        return StoreUnavailableError(
            f"etcd is unavailable: no answer from {', '.join(self.endpoints)} within "
            f"{self.connect_timeout:g}s (raise it with ?connect_timeout=SECONDS); last error: {last_error}"
        )

    async def call(self, request: Callable[[EtcdStubs, float], Awaitable[T]], *, idempotent: bool) -> T:
        """Run ``request(stubs, timeout)`` against the current endpoint, failing over while none answers.

        A request that may have reached etcd before the connection broke is
        retried only if ``idempotent``; otherwise its outcome is unknown and it
        fails with :class:`StoreUnavailableError` at once. Other gRPC errors
        propagate as :class:`grpc.aio.AioRpcError` for the caller to map.
        """
        backoff = Backoff.starting_now(self.connect_timeout)
        while True:
            stubs = self.stubs()
            timeout = self.request_timeout
            if not stubs.connected:
                timeout = max(0.05, min(timeout, backoff.deadline - asyncio.get_running_loop().time()))
            try:
                result = await request(stubs, timeout)
                stubs.connected = True
                return result
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                never_connected = not stubs.connected and stubs.channel.get_state() != grpc.ChannelConnectivity.READY
                if code == grpc.StatusCode.DEADLINE_EXCEEDED and not never_connected:
                    raise StoreUnavailableError(
                        f"etcd at {stubs.endpoint} did not answer within {timeout:g}s "
                        "(raise it with ?request_timeout=SECONDS)"
                    ) from None
                if code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise
                details = exc.details() or code.name
                sent = not never_connected and not any(marker in details for marker in _NOT_SENT_MARKERS)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # the caller is being cancelled
                # gRPC cancelled the request locally: another request's failover closed its channel.
                details, sent = "the channel was closed during the request", True
            if sent and not idempotent:
                raise StoreUnavailableError(
                    f"etcd at {stubs.endpoint} went away during a write whose outcome is unknown: {details}"
                )
            wrapped = self.failover(stubs)
            if backoff.expired:
                raise self.unavailable(f"{stubs.endpoint}: {details}")
            if wrapped or len(self.endpoints) == 1:
                await backoff.wait()
            await self._close_retired()

    async def _close_retired(self) -> None:
        while self._retired:
            await self._retired.pop().close()

    async def close(self) -> None:
        """Close every channel. Idempotent."""
        self._closed = True
        if self._stubs is not None:
            self._retired.append(self._stubs.channel)
            self._stubs = None
        await self._close_retired()
