"""Values that cross the store contract: key-values, results, transaction operations, events.

The shapes follow etcd v3's ``mvccpb.KeyValue`` and the ``RangeResponse`` /
``PutResponse`` / ``DeleteRangeResponse`` / ``TxnResponse`` messages. Keys and values
are ``bytes``. ``range_end`` follows etcd: ``None`` means the single key ``key``,
:data:`ALL_KEYS_END` (``b"\\0"``) means every key ``>= key``, anything else is the
half-open interval ``[key, range_end)``; :func:`prefix_range` builds the interval of
a prefix.
"""

from __future__ import annotations

from typing import Literal, Union

import attrs

__all__ = [
    "ALL_KEYS_END",
    "MAX_REQUEST_BYTES",
    "MAX_TXN_OPS",
    "prefix_end",
    "prefix_range",
    "KeyValue",
    "RangeResult",
    "PutResult",
    "DeleteResult",
    "TxnResult",
    "Compare",
    "RangeOp",
    "PutOp",
    "DeleteOp",
    "Op",
    "Event",
    "WatchResponse",
    "Change",
    "Lease",
    "LeaseStatus",
]

#: ``range_end`` meaning "every key from ``key`` on" (etcd's ``"\0"``).
ALL_KEYS_END = b"\0"
#: etcd's default ``--max-request-bytes``: 1.5 MiB.
MAX_REQUEST_BYTES = 1536 * 1024
#: etcd's default ``--max-txn-ops``.
MAX_TXN_OPS = 128


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` that covers every key starting with ``prefix`` (etcd's ``GetPrefixRangeEnd``)."""
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return ALL_KEYS_END


def prefix_range(prefix: bytes) -> tuple[bytes, bytes]:
    """``(key, range_end)`` for every key starting with ``prefix``."""
    if not prefix:
        return b"\0", ALL_KEYS_END
    return prefix, prefix_end(prefix)


@attrs.frozen(slots=True)
class KeyValue:
    """One version of one key, as etcd reports it.

    ``version`` counts modifications since the key was (re)created and is reset
    by a delete; ``lease`` is 0 when no lease is attached.
    """

    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0


@attrs.frozen(slots=True)
class RangeResult:
    """Answer to a range: the key-values, the total ``count`` in range, and whether ``limit`` cut it."""

    kvs: list[KeyValue]
    count: int
    more: bool
    revision: int


@attrs.frozen(slots=True)
class PutResult:
    """Answer to a put: the store revision after it, and the previous key-value if asked."""

    revision: int
    prev_kv: KeyValue | None = None


@attrs.frozen(slots=True)
class DeleteResult:
    """Answer to a delete: the store revision after it, how many keys went, their last values if asked."""

    revision: int
    deleted: int
    prev_kvs: list[KeyValue] = attrs.field(factory=list)


CompareTarget = Literal["version", "create", "mod", "value", "lease"]
CompareOp = Literal["=", "!=", "<", ">"]


@attrs.frozen(slots=True)
class Compare:
    """A transaction guard: ``target`` of ``key`` (or of every key in range) ``op`` ``operand``.

    As in etcd, a missing key has version, create and mod revision 0, and a value
    comparison against a missing key is false.
    """

    key: bytes
    target: CompareTarget
    op: CompareOp
    operand: int | bytes
    range_end: bytes | None = None

    @classmethod
    def version(cls, key: bytes, op: CompareOp, version: int) -> "Compare":
        """Compare the key's version (0 when absent)."""
        return cls(key, "version", op, version)

    @classmethod
    def create_revision(cls, key: bytes, op: CompareOp, revision: int) -> "Compare":
        """Compare the key's create revision (0 when absent)."""
        return cls(key, "create", op, revision)

    @classmethod
    def mod_revision(cls, key: bytes, op: CompareOp, revision: int) -> "Compare":
        """Compare the key's mod revision (0 when absent)."""
        return cls(key, "mod", op, revision)

    @classmethod
    def value(cls, key: bytes, op: CompareOp, value: bytes) -> "Compare":
        """Compare the key's value."""
        return cls(key, "value", op, value)

    @classmethod
    def lease(cls, key: bytes, op: CompareOp, lease: int) -> "Compare":
        """Compare the key's lease ID (0 when none)."""
        return cls(key, "lease", op, lease)


@attrs.frozen(slots=True)
class RangeOp:
    """A range inside a transaction (same meaning as :meth:`Store.range`)."""

    key: bytes
    range_end: bytes | None = None
    limit: int = 0
    revision: int = 0
    keys_only: bool = False
    count_only: bool = False


@attrs.frozen(slots=True)
class PutOp:
    """A put inside a transaction."""

    key: bytes
    value: bytes
    lease: int = 0
    prev_kv: bool = False


@attrs.frozen(slots=True)
class DeleteOp:
    """A delete inside a transaction."""

    key: bytes
    range_end: bytes | None = None
    prev_kv: bool = False


Op = Union[RangeOp, PutOp, DeleteOp]


@attrs.frozen(slots=True)
class TxnResult:
    """Answer to a transaction: which branch ran, the revision after it, one result per operation."""

    succeeded: bool
    revision: int
    responses: list[Union[RangeResult, PutResult, DeleteResult]]


@attrs.frozen(slots=True)
class Event:
    """A change seen by a watcher. On ``DELETE`` the ``kv`` holds the key with ``mod_revision`` of the delete."""

    type: Literal["PUT", "DELETE"]
    kv: KeyValue
    prev_kv: KeyValue | None = None


@attrs.frozen(slots=True)
class WatchResponse:
    """A batch of events, or a progress notification (``events`` empty, ``progress`` true).

    ``revision`` is the store revision the response is current to: after a
    progress notification a watcher knows it has seen every change up to it.
    """

    revision: int
    events: list[Event] = attrs.field(factory=list)
    progress: bool = False


#: One key's change as a watch sink receives it (:meth:`Watcher.deliver_to`): ``(type, key, value)``,
#: ``type`` ``"PUT"`` or ``"DELETE"`` (whose ``value`` is ``b""``). Plain tuples, not :class:`Event`\ s:
#: a sink is fed inside every write, and building the attrs objects cost more than the sink's own work.
Change = tuple[str, bytes, bytes]


@attrs.frozen(slots=True)
class Lease:
    """A granted lease: its ID and TTL in seconds."""

    id: int
    ttl: int


@attrs.frozen(slots=True)
class LeaseStatus:
    """What :meth:`Store.lease_time_to_live` reports: remaining and granted TTL, attached keys."""

    id: int
    ttl: int
    granted_ttl: int
    keys: list[bytes] = attrs.field(factory=list)
