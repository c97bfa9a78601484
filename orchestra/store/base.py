"""The store contract: one async interface, etcd v3 semantics, every backend.

Only the API server uses a store. Backends are plugins (``plugins/stores/``) that
open a URL through the ``orchestra_store_open`` hook; :func:`orchestra.store.open_store`
picks the one that answers. The conformance suite in ``tests/store/`` holds every
backend to this contract.
"""

from __future__ import annotations

import abc
from typing import AsyncIterator, Callable, Sequence

from orchestra.store.types import (
    Change,
    Compare,
    DeleteOp,
    DeleteResult,
    KeyValue,
    Lease,
    LeaseStatus,
    Op,
    PutOp,
    PutResult,
    RangeResult,
    TxnResult,
    WatchResponse,
)

__all__ = ["Store", "Watcher"]


class Watcher(abc.ABC):
    """A running watch: iterate it for :class:`WatchResponse` batches, ``cancel()`` to stop.

    Iteration ends after ``cancel()``. If the watch cannot continue (its start
    revision was compacted, the backend went away) iteration raises the
    store error that says why.
    """

    def __aiter__(self) -> AsyncIterator[WatchResponse]:
        return self

    @abc.abstractmethod
    async def __anext__(self) -> WatchResponse:
        """The next batch of events or progress notification."""

    @abc.abstractmethod
    async def cancel(self) -> None:
        """Stop the watch; pending and later iteration ends. Idempotent."""

    @abc.abstractmethod
    async def request_progress(self) -> None:
        """Ask for a progress notification carrying the current revision (etcd's RequestProgress)."""

    def deliver_to(self, sink: Callable[[int, Sequence[Change]], None]) -> bool:
        """Hand live changes to ``sink`` as their write is published, instead of queueing them.

        Returns whether this watcher does; a store in another process (etcd) cannot, and
        this default says no. When it does, each later revision's changes in the watched
        range are passed to ``sink(revision, changes)`` synchronously, in revision order,
        inside the call that published the write; ``changes`` (one :data:`Change` per key
        the revision wrote, read-only: other sinks may get the same list) carry no previous
        values, whatever the watch asked for. Iteration still yields the rest (events read
        back from history before the watch caught up, progress notifications) and raises
        the watch's errors, so it must go on. A batch iteration returns is always older
        than the next revision ``sink`` receives. An exception from ``sink`` ends the watch
        with a :class:`StoreError`, as a lost connection would.
        """
        return False

    async def __aenter__(self) -> "Watcher":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cancel()


class Store(abc.ABC):
    """An MVCC key-value store with etcd v3 semantics.

    One int64 revision counts writes: every put, every delete that removes
    something, every transaction with at least one write bumps it exactly once.
    ``revision=0`` in a read means "latest". Methods raise the errors of
    :mod:`orchestra.store.errors`.
    """

    #: The URL the store was opened with.
    url: str

    @abc.abstractmethod
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
        """Key-values in ``[key, range_end)`` at ``revision``, sorted by key.

        ``limit`` > 0 caps ``kvs`` (``more`` tells whether it cut anything; ``count``
        is always the total in range). ``keys_only`` leaves values empty;
        ``count_only`` returns no kvs at all.
        """

    async def get(self, key: bytes, *, revision: int = 0) -> KeyValue | None:
        """The key-value of one key, or ``None``."""
        result = await self.range(key, revision=revision)
        return result.kvs[0] if result.kvs else None

    @abc.abstractmethod
    async def put(self, key: bytes, value: bytes, *, lease: int = 0, prev_kv: bool = False) -> PutResult:
        """Write ``value`` under ``key``, attached to ``lease`` if not 0."""

    @abc.abstractmethod
    async def delete_range(
        self, key: bytes, range_end: bytes | None = None, *, prev_kv: bool = False
    ) -> DeleteResult:
        """Delete the keys in ``[key, range_end)``."""

    async def put_if_revision(self, key: bytes, value: bytes, mod_revision: int, *, lease: int = 0) -> int:
        """Put ``value`` under ``key`` (on ``lease`` if not 0) if the key's mod revision is
        ``mod_revision``, 0 meaning the key does not exist: the API server's every object write,
        as Kubernetes' etcd3 storage guards it.

        Returns the revision of the write, or 0 when the key's revision differed and nothing
        was written. The default is the :meth:`txn` of that compare and put; a store may do
        the same without building the transaction's objects.
        """
        result = await self.txn([Compare(key, "mod", "=", mod_revision)], [PutOp(key, value, lease)])
        return result.revision if result.succeeded else 0

    async def delete_if_revision(self, key: bytes, mod_revision: int) -> int:
        """Delete ``key`` if its mod revision is ``mod_revision``: the API server's delete of an object.

        Returns the revision of the delete, or 0 when the key had another revision (or
        none) and nothing was deleted. The default is the :meth:`txn` of that compare and
        delete; a store may do the same without building the transaction's objects.
        """
        result = await self.txn([Compare(key, "mod", "=", mod_revision)], [DeleteOp(key)])
        return result.revision if result.succeeded and result.responses[0].deleted else 0

    @abc.abstractmethod
    async def txn(
        self,
        compare: Sequence[Compare],
        success: Sequence[Op] = (),
        failure: Sequence[Op] = (),
    ) -> TxnResult:
        """If every compare holds run ``success``, else ``failure``, atomically at one revision.

        At most :data:`MAX_TXN_OPS` operations; a key written at most once.
        A range inside the transaction sees the transaction's earlier writes.
        """

    @abc.abstractmethod
    def watch(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        start_revision: int = 0,
        prev_kv: bool = False,
        progress_notify: bool = False,
    ) -> Watcher:
        """Watch changes to ``[key, range_end)`` from ``start_revision`` (inclusive; 0 = from now).

        A start revision below the compact revision fails on first iteration
        with :class:`CompactedError` (as in etcd, starting *at* it is allowed). With ``progress_notify`` the
        watcher also receives empty progress responses while idle.
        """

    @abc.abstractmethod
    async def compact(self, revision: int) -> None:
        """Drop history older than ``revision``; reads and watches below it fail with CompactedError."""

    @abc.abstractmethod
    async def current_revision(self) -> int:
        """The store's current revision."""

    @abc.abstractmethod
    async def lease_grant(self, ttl: int, lease_id: int = 0) -> Lease:
        """Grant a lease of ``ttl`` seconds (``lease_id`` 0 lets the store choose an ID)."""

    @abc.abstractmethod
    async def lease_keepalive(self, lease_id: int) -> int:
        """Renew a lease to its granted TTL; returns that TTL."""

    @abc.abstractmethod
    async def lease_revoke(self, lease_id: int) -> None:
        """Revoke a lease and delete every key attached to it (one revision)."""

    @abc.abstractmethod
    async def lease_time_to_live(self, lease_id: int, *, keys: bool = False) -> LeaseStatus:
        """Remaining and granted TTL of a lease, and its keys if asked."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the store's resources; durable backends flush first. Idempotent."""

    async def __aenter__(self) -> "Store":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

