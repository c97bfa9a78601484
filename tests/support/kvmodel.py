"""A small, obviously-correct model of etcd v3's MVCC key space, for property tests.

It keeps every version of every key in plain lists and answers puts, deletes,
ranges (current and historic), transactions and compactions the way etcd's
``server/mvcc`` does, raising the store's own error types. It also records the
event stream a watcher from the model's first revision would see. Leases are
not modelled (their behaviour depends on time).

The model can start at any revision (``KVModel(start_revision=N)``), so it can
shadow a key prefix of a store that already has history, such as a shared etcd.
"""

from __future__ import annotations

from typing import Sequence

import attrs

from orchestra.store.errors import CompactedError, FutureRevisionError
from orchestra.store.types import (
    ALL_KEYS_END,
    Compare,
    DeleteOp,
    DeleteResult,
    Event,
    KeyValue,
    Op,
    PutOp,
    PutResult,
    RangeOp,
    RangeResult,
    TxnResult,
)

__all__ = ["KVModel", "in_range"]


def in_range(name: bytes, key: bytes, range_end: bytes | None) -> bool:
    """Whether ``name`` is in etcd's ``[key, range_end)``.

    ``range_end`` ``None`` means just ``key``; ``b"\\0"`` means every key from ``key`` on.
    """
    if range_end is None:
        return name == key
    if range_end == ALL_KEYS_END:
        return name >= key
    return key <= name < range_end


def _cmp(actual: object, op: str, operand: object) -> bool:
    return {
        "=": actual == operand,
        "!=": actual != operand,
        "<": actual < operand,  # type: ignore[operator]
        ">": actual > operand,  # type: ignore[operator]
    }[op]


@attrs.define
class KVModel:
    """The reference model of one key space.

    ``history[key]`` lists ``(revision, KeyValue)`` per change, ``KeyValue`` ``None`` for a delete.
    """

    start_revision: int = 0
    revision: int = attrs.field(init=False)
    compact_revision: int = 0
    history: dict[bytes, list[tuple[int, KeyValue | None]]] = attrs.field(factory=dict)
    #: Every event since the start, in order.
    events: list[Event] = attrs.field(factory=list)

    def __attrs_post_init__(self) -> None:
        self.revision = self.start_revision

    # ---- reads

    def _at(self, key: bytes, revision: int) -> KeyValue | None:
        for rev, kv in reversed(self.history.get(key, [])):
            if rev <= revision:
                return kv
        return None

    def _live(self, key: bytes, range_end: bytes | None, revision: int) -> list[KeyValue]:
        kvs = [self._at(k, revision) for k in sorted(self.history) if in_range(k, key, range_end)]
        return [kv for kv in kvs if kv is not None]

    def range(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        limit: int = 0,
        revision: int = 0,
        keys_only: bool = False,
        count_only: bool = False,
        _read_revision: int | None = None,
    ) -> RangeResult:
        """etcd's Range: FutureRevisionError above the current revision, CompactedError below the compact one."""
        current = self.revision if _read_revision is None else _read_revision
        if revision > current:
            raise FutureRevisionError(revision, current)
        if revision and revision < self.compact_revision:
            raise CompactedError(revision, self.compact_revision)
        kvs = self._live(key, range_end, revision or current)
        count = len(kvs)
        if count_only:
            return RangeResult([], count, False, current)
        more = False
        if limit > 0 and count > limit:
            kvs, more = kvs[:limit], True
        if keys_only:
            kvs = [attrs.evolve(kv, value=b"") for kv in kvs]
        return RangeResult(kvs, count, more, current)

    # ---- writes (at a given revision, without bumping it)

    def _put(self, key: bytes, value: bytes, lease: int, revision: int) -> KeyValue | None:
        prev = self._at(key, revision)
        if prev is None:
            kv = KeyValue(key, value, revision, revision, 1, lease)
        else:
            kv = KeyValue(key, value, prev.create_revision, revision, prev.version + 1, lease)
        self.history.setdefault(key, []).append((revision, kv))
        self.events.append(Event("PUT", kv, prev))
        return prev

    def _delete(self, key: bytes, range_end: bytes | None, revision: int) -> list[KeyValue]:
        gone = self._live(key, range_end, revision)
        for kv in gone:
            self.history[kv.key].append((revision, None))
            self.events.append(Event("DELETE", KeyValue(kv.key, b"", 0, revision, 0, 0), kv))
        return gone

    def put(self, key: bytes, value: bytes, *, lease: int = 0, prev_kv: bool = False) -> PutResult:
        """A put: one new revision."""
        return self.txn([], [PutOp(key, value, lease, prev_kv)]).responses[0]

    def delete_range(self, key: bytes, range_end: bytes | None = None, *, prev_kv: bool = False) -> DeleteResult:
        """A delete: one new revision if anything went."""
        return self.txn([], [DeleteOp(key, range_end, prev_kv)]).responses[0]

    def _holds(self, c: Compare) -> bool:
        kvs = self._live(c.key, c.range_end, self.revision)
        if c.target == "value":
            return bool(kvs) and all(_cmp(kv.value, c.op, c.operand) for kv in kvs)
        attr = {"version": "version", "create": "create_revision", "mod": "mod_revision", "lease": "lease"}[c.target]
        if not kvs:
            return _cmp(0, c.op, c.operand)
        return all(_cmp(getattr(kv, attr), c.op, c.operand) for kv in kvs)

    def txn(self, compare: Sequence[Compare], success: Sequence[Op] = (), failure: Sequence[Op] = ()) -> TxnResult:
        """A transaction: one revision for all its writes; ranges see earlier writes."""
        succeeded = all(self._holds(c) for c in compare)
        write_rev = self.revision + 1
        wrote = False
        responses: list = []
        for op in success if succeeded else failure:
            if isinstance(op, RangeOp):
                read_rev = write_rev if wrote else self.revision
                responses.append(
                    self.range(
                        op.key,
                        op.range_end,
                        limit=op.limit,
                        revision=op.revision,
                        keys_only=op.keys_only,
                        count_only=op.count_only,
                        _read_revision=read_rev,
                    )
                )
            elif isinstance(op, PutOp):
                prev = self._put(op.key, op.value, op.lease, write_rev)
                wrote = True
                responses.append(PutResult(write_rev, prev if op.prev_kv else None))
            else:
                gone = self._delete(op.key, op.range_end, write_rev)
                wrote = wrote or bool(gone)
                # etcd: a delete reports the revision the transaction has reached so far.
                read_rev = write_rev if wrote else self.revision
                responses.append(DeleteResult(read_rev, len(gone), gone if op.prev_kv else []))
        if wrote:
            self.revision = write_rev
        return TxnResult(succeeded, self.revision, responses)

    def compact(self, revision: int) -> None:
        """etcd's Compact: CompactedError at or below the compact revision, FutureRevisionError above the current."""
        if revision <= self.compact_revision:
            raise CompactedError(revision, self.compact_revision)
        if revision > self.revision:
            raise FutureRevisionError(revision, self.revision)
        self.compact_revision = revision
        for key, versions in list(self.history.items()):
            kept = [(rev, kv) for rev, kv in versions if rev > revision]
            older = [(rev, kv) for rev, kv in versions if rev <= revision]
            if older and older[-1][1] is not None:
                kept.insert(0, older[-1])
            if kept:
                self.history[key] = kept
            else:
                del self.history[key]

    def events_from(self, revision: int) -> list[Event]:
        """The events a watcher from ``revision`` (inclusive) sees."""
        return [e for e in self.events if e.kv.mod_revision >= revision]
