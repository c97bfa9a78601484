"""The :class:`~orchestra.store.Store` contract on a real etcd v3 cluster (private to the etcd backend)."""

from __future__ import annotations

import asyncio
from typing import Sequence

import attrs
import grpc

from orchestra.store.base import Store, Watcher
from orchestra.store.checks import check_key, check_put, check_txn
from orchestra.store.errors import (
    CompactedError,
    DuplicateKeyError,
    EmptyKeyError,
    FutureRevisionError,
    LeaseExistsError,
    LeaseNotFoundError,
    RequestTooLargeError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
    TooManyOperationsError,
)
from orchestra.store.types import (
    MAX_REQUEST_BYTES,
    MAX_TXN_OPS,
    Compare,
    DeleteOp,
    DeleteResult,
    Event,
    KeyValue,
    Lease,
    LeaseStatus,
    Op,
    PutOp,
    PutResult,
    RangeOp,
    RangeResult,
    TxnResult,
    WatchResponse,
)

from ._etcd_client import Backoff, EtcdConnection, EtcdStubs, pb
from .etcd import EtcdURL

__all__ = ["EtcdStore", "EtcdWatcher"]

_COMPARE_TARGETS = {
    "version": pb.Compare.VERSION,
    "create": pb.Compare.CREATE,
    "mod": pb.Compare.MOD,
    "value": pb.Compare.VALUE,
    "lease": pb.Compare.LEASE,
}
_COMPARE_FIELDS = {
    "version": "version",
    "create": "create_revision",
    "mod": "mod_revision",
    "value": "value",
    "lease": "lease",
}
_COMPARE_OPS = {"=": pb.Compare.EQUAL, "!=": pb.Compare.NOT_EQUAL, "<": pb.Compare.LESS, ">": pb.Compare.GREATER}
#: How long to wait for etcd to report its compact revision when building a CompactedError.
_COMPACT_PROBE_TIMEOUT = 2.0


# --------------------------------------------------------------------------- conversions


def _key_value(kv: pb.KeyValue) -> KeyValue:
    return KeyValue(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)


def _range_request(
    key: bytes, range_end: bytes | None, limit: int, revision: int, keys_only: bool, count_only: bool
) -> pb.RangeRequest:
    return pb.RangeRequest(
        key=key,
        range_end=range_end or b"",
        limit=limit,
        revision=revision,
        keys_only=keys_only,
        count_only=count_only,
    )


def _range_result(response: pb.RangeResponse, revision: int) -> RangeResult:
    return RangeResult(
        kvs=[_key_value(kv) for kv in response.kvs],
        count=response.count,
        more=response.more,
        revision=response.header.revision or revision,
    )


def _put_result(response: pb.PutResponse, revision: int) -> PutResult:
    prev = _key_value(response.prev_kv) if response.HasField("prev_kv") else None
    return PutResult(revision=response.header.revision or revision, prev_kv=prev)


def _delete_result(response: pb.DeleteRangeResponse, revision: int) -> DeleteResult:
    return DeleteResult(
        revision=response.header.revision or revision,
        deleted=response.deleted,
        prev_kvs=[_key_value(kv) for kv in response.prev_kvs],
    )


def _compare(compare: Compare) -> pb.Compare:
    message = pb.Compare(
        key=compare.key,
        range_end=compare.range_end or b"",
        target=_COMPARE_TARGETS[compare.target],
        result=_COMPARE_OPS[compare.op],
    )
    setattr(message, _COMPARE_FIELDS[compare.target], compare.operand)
    return message


def _request_op(op: Op) -> pb.RequestOp:
    if isinstance(op, RangeOp):
        request = _range_request(op.key, op.range_end, op.limit, op.revision, op.keys_only, op.count_only)
        return pb.RequestOp(request_range=request)
    if isinstance(op, PutOp):
        return pb.RequestOp(request_put=pb.PutRequest(key=op.key, value=op.value, lease=op.lease, prev_kv=op.prev_kv))
    if isinstance(op, DeleteOp):
        request = pb.DeleteRangeRequest(key=op.key, range_end=op.range_end or b"", prev_kv=op.prev_kv)
        return pb.RequestOp(request_delete_range=request)
    raise TypeError(f"a transaction operation is a RangeOp, PutOp or DeleteOp, not {type(op).__name__}")


def _op_result(response: pb.ResponseOp, revision: int) -> RangeResult | PutResult | DeleteResult:
    kind = response.WhichOneof("response")
    if kind == "response_range":
        return _range_result(response.response_range, revision)
    if kind == "response_put":
        return _put_result(response.response_put, revision)
    if kind == "response_delete_range":
        return _delete_result(response.response_delete_range, revision)
    raise StoreError(f"etcd answered a transaction operation with an unsupported {kind!r}")


def _event(event: pb.Event) -> Event:
    kind = "PUT" if event.type == event.PUT else "DELETE"
    prev = _key_value(event.prev_kv) if event.HasField("prev_kv") else None
    return Event(kind, _key_value(event.kv), prev)


# --------------------------------------------------------------------------- the store


@attrs.define
class EtcdStore(Store):
    """A :class:`Store` backed by an etcd v3 cluster over gRPC; open it with :meth:`connect`."""

    url: str
    connection: EtcdConnection
    _watchers: set["EtcdWatcher"] = attrs.field(factory=set)
    _seen_revision: int = 0
    _closed: bool = False

    @classmethod
    async def connect(cls, config: EtcdURL) -> "EtcdStore":
        """Open a store on the cluster of ``config``; :class:`StoreUnavailableError` if no endpoint answers."""
        connection = EtcdConnection(config.endpoints, config.connect_timeout, config.request_timeout)
        store = cls(config.url, connection)
        try:
            await store.current_revision()
        except BaseException:
            await connection.close()
            raise
        return store

    # ----------------------------------------------------------------- plumbing

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError()

    def _observe(self, header: pb.ResponseHeader) -> int:
        """Remember the newest revision etcd has reported; returns the header's revision."""
        if header.revision > self._seen_revision:
            self._seen_revision = header.revision
        return header.revision

    async def _compact_revision(self) -> int:
        """etcd's compact revision, which only a watch from revision 1 reveals (0 if not reported)."""
        stubs = self.connection.stubs()
        call = stubs.watch.Watch()
        try:
            create = pb.WatchCreateRequest(key=b"\0", start_revision=1)
            await call.write(pb.WatchRequest(create_request=create))
            async with asyncio.timeout(_COMPACT_PROBE_TIMEOUT):
                while True:
                    response = await call.read()
                    if response is grpc.aio.EOF:
                        return 0
                    if response.compact_revision:
                        return response.compact_revision
                    if response.canceled:
                        return 0
        except (grpc.aio.AioRpcError, TimeoutError, asyncio.InvalidStateError):
            return 0
        finally:
            call.cancel()

    async def _store_error(
        self, exc: grpc.aio.AioRpcError, *, revisions: Sequence[int] = (), lease_id: int = 0, size: int = 0
    ) -> StoreError:
        """The typed store error for an etcd gRPC error (``revisions`` asked for, lease, request size)."""
        details = exc.details() or ""
        asked = [r for r in revisions if r > 0]
        if "required revision has been compacted" in details:
            revision = min(asked, default=0)
            compact = await self._compact_revision()
            return CompactedError(revision, compact or revision + 1)
        if "required revision is a future revision" in details:
            return FutureRevisionError(max(asked, default=0), await self.current_revision())
        if "request is too large" in details or exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
            return RequestTooLargeError(size, MAX_REQUEST_BYTES)
        if "too many operations in txn request" in details:
            return TooManyOperationsError(MAX_TXN_OPS + 1, MAX_TXN_OPS)
        if "duplicate key given in txn request" in details:
            return DuplicateKeyError(b"")
        if "key is not provided" in details:
            return EmptyKeyError()
        if "requested lease not found" in details:
            return LeaseNotFoundError(lease_id)
        if "lease already exists" in details:
            return LeaseExistsError(lease_id)
        return StoreError(f"etcd ({', '.join(self.connection.endpoints)}): {exc.code().name}: {details}")

    # ----------------------------------------------------------------- key-value

    async def range(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        limit: int = 0,
        revision: int = 0,
        keys_only: bool = False,
        count_only: bool = False,
    ) -> RangeResult:
        """Key-values in ``[key, range_end)`` at ``revision`` (etcd ``Range``)."""
        self._check_open()
        check_key(key)
        request = _range_request(key, range_end, limit, revision, keys_only, count_only)
        try:
            response = await self.connection.call(
                lambda s, timeout: s.kv.Range(request, timeout=timeout), idempotent=True
            )
        except grpc.aio.AioRpcError as exc:
            raise await self._store_error(exc, revisions=[revision]) from None
        return _range_result(response, self._observe(response.header))

    async def put(self, key: bytes, value: bytes, *, lease: int = 0, prev_kv: bool = False) -> PutResult:
        """Write ``value`` under ``key`` (etcd ``Put``)."""
        self._check_open()
        check_put(key, value)
        request = pb.PutRequest(key=key, value=value, lease=lease, prev_kv=prev_kv)
        try:
            response = await self.connection.call(
                lambda s, timeout: s.kv.Put(request, timeout=timeout), idempotent=False
            )
        except grpc.aio.AioRpcError as exc:
            raise await self._store_error(exc, lease_id=lease, size=len(key) + len(value)) from None
        return _put_result(response, self._observe(response.header))

    async def delete_range(
        self, key: bytes, range_end: bytes | None = None, *, prev_kv: bool = False
    ) -> DeleteResult:
        """Delete the keys in ``[key, range_end)`` (etcd ``DeleteRange``)."""
        self._check_open()
        check_key(key)
        request = pb.DeleteRangeRequest(key=key, range_end=range_end or b"", prev_kv=prev_kv)
        try:
            response = await self.connection.call(
                lambda s, timeout: s.kv.DeleteRange(request, timeout=timeout), idempotent=False
            )
        except grpc.aio.AioRpcError as exc:
            raise await self._store_error(exc) from None
        return _delete_result(response, self._observe(response.header))

    async def txn(
        self,
        compare: Sequence[Compare],
        success: Sequence[Op] = (),
        failure: Sequence[Op] = (),
    ) -> TxnResult:
        """Run ``success`` if every compare holds, else ``failure`` (etcd ``Txn``)."""
        self._check_open()
        check_txn(compare, success, failure)
        request = pb.TxnRequest(
            compare=[_compare(c) for c in compare],
            success=[_request_op(op) for op in success],
            failure=[_request_op(op) for op in failure],
        )
        try:
            response = await self.connection.call(
                lambda s, timeout: s.kv.Txn(request, timeout=timeout), idempotent=False
            )
        except grpc.aio.AioRpcError as exc:
            ops = [*success, *failure]
            revisions = [op.revision for op in ops if isinstance(op, RangeOp)]
            lease = next((op.lease for op in ops if isinstance(op, PutOp) and op.lease), 0)
            raise await self._store_error(exc, revisions=revisions, lease_id=lease, size=request.ByteSize()) from None
        revision = self._observe(response.header)
        return TxnResult(
            succeeded=response.succeeded,
            revision=revision,
            responses=[_op_result(r, revision) for r in response.responses],
        )

    def watch(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        start_revision: int = 0,
        prev_kv: bool = False,
        progress_notify: bool = False,
    ) -> "EtcdWatcher":
        """Watch ``[key, range_end)`` from ``start_revision`` (etcd ``Watch``).

        With ``start_revision`` 0 the watch starts just after the newest
        revision this store has seen, so it reports every write this store
        made after ``watch()`` returned even before the stream is open.
        """
        self._check_open()
        check_key(key)
        watcher = EtcdWatcher(
            store=self,
            create=pb.WatchCreateRequest(
                key=key,
                range_end=range_end or b"",
                prev_kv=prev_kv,
                progress_notify=progress_notify,
            ),
            next_revision=start_revision or (self._seen_revision + 1 if self._seen_revision else 0),
            from_now=start_revision == 0,
        )
        self._watchers.add(watcher)
        return watcher

    async def compact(self, revision: int) -> None:
        """Drop history older than ``revision`` (etcd ``Compact``, physical)."""
        self._check_open()
        request = pb.CompactionRequest(revision=revision, physical=True)
        try:
            response = await self.connection.call(
                lambda s, timeout: s.kv.Compact(request, timeout=timeout), idempotent=False
            )
        except grpc.aio.AioRpcError as exc:
            raise await self._store_error(exc, revisions=[revision]) from None
        self._observe(response.header)

    async def current_revision(self) -> int:
        """The cluster's current revision (a linearizable count-only range)."""
        self._check_open()
        request = pb.RangeRequest(key=b"\0", count_only=True)
        try:
            response = await self.connection.call(
                lambda s, timeout: s.kv.Range(request, timeout=timeout), idempotent=True
            )
        except grpc.aio.AioRpcError as exc:
            raise await self._store_error(exc) from None
        return self._observe(response.header)

    # ----------------------------------------------------------------- leases

    async def lease_grant(self, ttl: int, lease_id: int = 0) -> Lease:
        """Grant a lease of ``ttl`` seconds (etcd ``LeaseGrant``)."""
        self._check_open()
        request = pb.LeaseGrantRequest(TTL=ttl, ID=lease_id)
        try:
            response = await self.connection.call(
                lambda s, timeout: s.lease.LeaseGrant(request, timeout=timeout), idempotent=False
            )
        except grpc.aio.AioRpcError as exc:
            raise await self._store_error(exc, lease_id=lease_id) from None
        if response.error:
            raise StoreError(f"etcd refused to grant lease {lease_id:x}: {response.error}")
        self._observe(response.header)
        return Lease(response.ID, response.TTL)

    async def lease_keepalive(self, lease_id: int) -> int:
        """Renew a lease once over a short-lived ``LeaseKeepAlive`` stream; returns its TTL."""
        self._check_open()

        async def keepalive(stubs: EtcdStubs, timeout: float) -> pb.LeaseKeepAliveResponse:
            call = stubs.lease.LeaseKeepAlive(timeout=timeout)
            try:
                await call.write(pb.LeaseKeepAliveRequest(ID=lease_id))
                response = await call.read()
            finally:
                call.cancel()
            if response is grpc.aio.EOF:
                raise StoreUnavailableError(f"etcd at {stubs.endpoint} closed the keepalive of lease {lease_id:x}")
            return response

        try:
            response = await self.connection.call(keepalive, idempotent=True)
        except grpc.aio.AioRpcError as exc:
            raise await self._store_error(exc, lease_id=lease_id) from None
        if response.TTL <= 0:
            raise LeaseNotFoundError(lease_id)
        self._observe(response.header)
        return response.TTL

    async def lease_revoke(self, lease_id: int) -> None:
        """Revoke a lease and delete its keys (etcd ``LeaseRevoke``)."""
        self._check_open()
        request = pb.LeaseRevokeRequest(ID=lease_id)
        try:
            response = await self.connection.call(
                lambda s, timeout: s.lease.LeaseRevoke(request, timeout=timeout), idempotent=False
            )
        except grpc.aio.AioRpcError as exc:
            raise await self._store_error(exc, lease_id=lease_id) from None
        self._observe(response.header)

    async def lease_time_to_live(self, lease_id: int, *, keys: bool = False) -> LeaseStatus:
        """Remaining and granted TTL of a lease, and its keys if asked (etcd ``LeaseTimeToLive``)."""
        self._check_open()
        request = pb.LeaseTimeToLiveRequest(ID=lease_id, keys=keys)
        try:
            response = await self.connection.call(
                lambda s, timeout: s.lease.LeaseTimeToLive(request, timeout=timeout), idempotent=True
            )
        except grpc.aio.AioRpcError as exc:
            raise await self._store_error(exc, lease_id=lease_id) from None
        if response.TTL == -1:
            raise LeaseNotFoundError(lease_id)
        self._observe(response.header)
        return LeaseStatus(id=response.ID, ttl=response.TTL, granted_ttl=response.grantedTTL, keys=list(response.keys))

    # ----------------------------------------------------------------- lifecycle

    def _forget(self, watcher: "EtcdWatcher") -> None:
        self._watchers.discard(watcher)

    async def close(self) -> None:
        """Cancel every watcher and close the channels. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for watcher in list(self._watchers):
            await watcher.cancel()
        await self.connection.close()


# --------------------------------------------------------------------------- watchers


@attrs.define(eq=False)
class EtcdWatcher(Watcher):
    """One etcd watch on its own gRPC stream; reopened on another endpoint, from where it left off, on failure.

    ``next_revision`` is the first revision not yet delivered; ``from_now``
    marks a watch the caller started at revision 0.
    """

    store: EtcdStore
    create: pb.WatchCreateRequest
    next_revision: int
    from_now: bool
    _call: grpc.aio.StreamStreamCall | None = None
    _stubs: EtcdStubs | None = None
    _backoff: Backoff | None = None
    _progress_wanted: bool = False
    _cancelled: bool = False
    _created: bool = False
    _error: StoreError | None = None

    async def __aenter__(self) -> "EtcdWatcher":
        """Open the watch and wait until etcd has registered it, so later writes are seen in order."""
        while not self._created and not self._cancelled and self._error is None:
            await self._step()
        return self

    async def _open(self) -> None:
        """Open the stream and send the create request (and a pending progress request)."""
        self._stubs = self.store.connection.stubs()
        self._call = self._stubs.watch.Watch()
        create = pb.WatchCreateRequest()
        create.CopyFrom(self.create)
        create.start_revision = self.next_revision
        try:
            await self._call.write(pb.WatchRequest(create_request=create))
            if self._progress_wanted:
                await self._call.write(pb.WatchRequest(progress_request=pb.WatchProgressRequest()))
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            pass  # the read that follows reports the failure and reconnects

    async def _reconnect(self, reason: str) -> None:
        """Fail over to the next endpoint, backing off, until ``connect_timeout`` runs out."""
        connection = self.store.connection
        if self._backoff is None:
            self._backoff = Backoff.starting_now(connection.connect_timeout)
        if self._call is not None:
            self._call.cancel()
            self._call = None
        failed = self._stubs
        wrapped = failed is not None and connection.failover(failed)
        if self._backoff.expired:
            raise self._finish(connection.unavailable(reason))
        if wrapped or len(connection.endpoints) == 1:
            await self._backoff.wait()
        if self._cancelled:
            raise StopAsyncIteration
        await self._open()

    def _finish(self, error: StoreError) -> StoreError:
        self._error = error
        if self._call is not None:
            self._call.cancel()
            self._call = None
        self.store._forget(self)
        return error

    async def __anext__(self) -> WatchResponse:
        """The next batch of events or progress notification from etcd."""
        while True:
            result = await self._step()
            if result is not None:
                return result

    async def _step(self) -> WatchResponse | None:
        """Read one response from etcd (reconnecting if the stream broke); ``None`` for bookkeeping ones."""
        if self._cancelled:
            raise StopAsyncIteration
        if self._error is not None:
            raise self._error
        if self._call is None:
            await self._open()
        try:
            response = await self._call.read()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the iterating task itself is being cancelled
            if self._cancelled:
                raise StopAsyncIteration from None
            # gRPC cancelled the stream locally: its channel was closed under it.
            await self._reconnect(f"{self._stubs.endpoint}: the watch stream's channel was closed")
            return None
        except grpc.aio.AioRpcError as exc:
            if self._cancelled:
                raise StopAsyncIteration from None
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                await self._reconnect(f"{self._stubs.endpoint}: {exc.details()}")
                return None
            raise self._finish(await self.store._store_error(exc, revisions=[self.next_revision])) from None
        if response is grpc.aio.EOF:
            if self._cancelled:
                raise StopAsyncIteration
            await self._reconnect(f"{self._stubs.endpoint}: the watch stream ended")
            return None
        return self._handle(response)

    def _handle(self, response: pb.WatchResponse) -> WatchResponse | None:
        """Turn one etcd response into a WatchResponse, ``None`` for bookkeeping-only ones."""
        self._backoff = None
        self._stubs.connected = True
        if response.canceled:
            if response.compact_revision:
                if self.from_now:
                    # "From now" resolved to a revision that was compacted meanwhile: start from etcd's now.
                    self.next_revision = 0
                    self._call.cancel()
                    self._call = None
                    return None
                raise self._finish(CompactedError(self.next_revision, response.compact_revision))
            reason = response.cancel_reason or "no reason given"
            raise self._finish(StoreError(f"etcd cancelled the watch on {self.create.key!r}: {reason}"))
        revision = self.store._observe(response.header)
        if response.created:
            self._created = True
            if self.next_revision == 0:
                self.next_revision = revision + 1
            return None
        self.from_now = False
        if response.events:
            self.next_revision = response.events[-1].kv.mod_revision + 1
            return WatchResponse(revision=revision, events=[_event(e) for e in response.events])
        self._progress_wanted = False
        self.next_revision = max(self.next_revision, revision + 1)
        return WatchResponse(revision=revision, progress=True)

    async def request_progress(self) -> None:
        """Ask etcd for a progress notification (``WatchProgressRequest``)."""
        if self._cancelled or self._error is not None:
            return
        self._progress_wanted = True
        if self._call is None:
            await self._open()
            return
        try:
            await self._call.write(pb.WatchRequest(progress_request=pb.WatchProgressRequest()))
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            pass  # the next read reconnects, and _open sends the request again

    async def cancel(self) -> None:
        """Stop the watch; iteration ends. Idempotent."""
        if self._cancelled:
            return
        self._cancelled = True
        if self._call is not None:
            self._call.cancel()
            self._call = None
        self.store._forget(self)
