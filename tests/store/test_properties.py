"""Property tests: random operation sequences give the same answers on every backend as on the model.

Each hypothesis example opens a fresh store of the backend (on etcd: a fresh key
prefix on the shared server), draws a sequence of puts, deletes, ranges
(current and historic), transactions and compactions over a handful of keys,
and applies each operation to the store and to :class:`support.kvmodel.KVModel`:
results, or error types, must agree. A watcher opened before the first
operation, with ``prev_kv``, must see exactly the model's event stream; it is
drained after every write so that a later compaction cannot race it.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestra.store import (
    CompactedError,
    Compare,
    DeleteOp,
    Event,
    FutureRevisionError,
    PutOp,
    RangeOp,
    RangeResult,
    Store,
    StoreError,
    TxnResult,
    Watcher,
    prefix_end,
)
from support.kvmodel import KVModel

#: Examples per backend: the embedded ones are cheap, a real etcd is not.
EXAMPLES = {"memory": 60, "file": 25, "sqlite": 25, "etcd": 10}
WATCH_WAIT = 15.0

NAMES = ("a", "a/x", "a/y", "b", "c")
VALUES = st.binary(max_size=6)

# An operation is a plain tuple of choices; keys become bytes under the example's prefix when run.
names = st.sampled_from(NAMES)
ends = st.sampled_from([None, None, "prefix", "all", "b", "c"])
revision_picks = st.one_of(st.just(0), st.integers(1, 14))  # 0: latest; n: the example's n-th revision

put_ops = st.tuples(st.just("put"), names, VALUES, st.booleans())
delete_ops = st.tuples(st.just("delete"), names, ends, st.booleans())
range_ops = st.tuples(
    st.just("range"), names, ends, st.sampled_from([0, 0, 1, 2]), revision_picks, st.booleans(), st.booleans()
)
compare_ops = st.tuples(
    names,
    st.sampled_from(["version", "create", "mod", "value", "lease"]),
    st.sampled_from(["=", "!=", "<", ">"]),
    st.integers(0, 6),
    VALUES,
)
compact_ops = st.tuples(st.just("compact"), st.integers(1, 14))


@st.composite
def branches(draw: st.DrawFn) -> list[tuple]:
    """A txn branch: writes to distinct keys, at most one ranged delete and then no puts (etcd refuses overlaps)."""
    ops: list[tuple] = []
    written: set[str] = set()
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["put", "delete", "range"]))
        name = draw(names)
        if kind == "range":
            ops.append(("range", name, draw(ends), draw(st.sampled_from([0, 1])), 0, False, False))
        elif name not in written:
            written.add(name)
            if kind == "put":
                ops.append(("put", name, draw(VALUES), draw(st.booleans())))
            else:
                ops.append(("delete", name, None, draw(st.booleans())))
    if not written and draw(st.booleans()):
        ops.append(("delete", draw(names), draw(st.sampled_from(["prefix", "all", "b"])), draw(st.booleans())))
    return ops


txn_ops = st.tuples(st.just("txn"), st.lists(compare_ops, max_size=2), branches(), branches())
operations = st.lists(
    st.one_of(put_ops, put_ops, delete_ops, range_ops, range_ops, txn_ops, compact_ops), min_size=1, max_size=25
)


@attrs.define
class Keys:
    """Turns the drawn names and range ends into byte keys under one prefix."""

    prefix: bytes

    def key(self, name: str) -> bytes:
        return self.prefix + name.encode()

    def end(self, name: str, end: str | None) -> bytes | None:
        if end is None:
            return None
        if end == "prefix":
            return prefix_end(self.key(name))
        if end == "all":
            return prefix_end(self.prefix)  # "every key from here on", kept inside the example's prefix
        return self.key(end)


def _revision(base: int, pick: int) -> int:
    return 0 if pick == 0 else base + pick


def _txn_parts(keys: Keys, op: tuple) -> tuple[list[Compare], list, list]:
    _, compares, success, failure = op
    cmp = [
        Compare(keys.key(n), t, o, value if t == "value" else number) for n, t, o, number, value in compares
    ]

    def build(branch: list[tuple]) -> list:
        built: list = []
        for sub in branch:
            if sub[0] == "put":
                built.append(PutOp(keys.key(sub[1]), sub[2], prev_kv=sub[3]))
            elif sub[0] == "delete":
                built.append(DeleteOp(keys.key(sub[1]), keys.end(sub[1], sub[2]), prev_kv=sub[3]))
            else:
                built.append(RangeOp(keys.key(sub[1]), keys.end(sub[1], sub[2]), limit=sub[3]))
        return built

    return cmp, build(success), build(failure)


async def _apply(target: Any, keys: Keys, base: int, op: tuple) -> Any:
    """Run one drawn operation on a store or the model (``await``-ing only what is awaitable)."""

    async def call(value: Any) -> Any:
        return await value if asyncio.iscoroutine(value) else value

    kind = op[0]
    if kind == "put":
        return await call(target.put(keys.key(op[1]), op[2], prev_kv=op[3]))
    if kind == "delete":
        return await call(target.delete_range(keys.key(op[1]), keys.end(op[1], op[2]), prev_kv=op[3]))
    if kind == "range":
        _, name, end, limit, pick, keys_only, count_only = op
        return await call(
            target.range(
                keys.key(name),
                keys.end(name, end),
                limit=limit,
                revision=_revision(base, pick),
                keys_only=keys_only,
                count_only=count_only,
            )
        )
    if kind == "txn":
        return await call(target.txn(*_txn_parts(keys, op)))
    return await call(target.compact(base + op[1]))


def _comparable(result: Any) -> Any:
    """What must agree: everything, except the revision header of ranges nested in a txn."""
    if isinstance(result, TxnResult):
        nested = [attrs.evolve(r, revision=0) if isinstance(r, RangeResult) else r for r in result.responses]
        return attrs.evolve(result, responses=nested)
    return result


def _error_key(error: StoreError) -> tuple:
    if isinstance(error, CompactedError):
        return (CompactedError, error.compact_revision)
    if isinstance(error, FutureRevisionError):
        return (FutureRevisionError,)
    return (type(error),)


async def _drain(watcher: Watcher, seen: list[Event], revision: int) -> None:
    async with asyncio.timeout(WATCH_WAIT):
        while not seen or seen[-1].kv.mod_revision < revision:
            seen.extend((await anext(watcher)).events)


async def _check_sequence(store: Store, prefix: bytes, ops: list[tuple]) -> None:
    keys = Keys(prefix)
    base = await store.current_revision()
    model = KVModel(start_revision=base)
    seen: list[Event] = []
    async with store.watch(prefix, prefix_end(prefix), start_revision=base + 1, prev_kv=True) as watcher:
        for step, op in enumerate(ops):
            try:
                expected: Any = _comparable(await _apply(model, keys, base, op))
            except StoreError as error:
                expected = _error_key(error)
            try:
                actual: Any = _comparable(await _apply(store, keys, base, op))
            except StoreError as error:
                actual = _error_key(error)
            assert actual == expected, f"step {step}: {op}"
            if model.events and (not seen or seen[-1].kv.mod_revision < model.revision):
                await _drain(watcher, seen, model.revision)
    assert seen == model.events


def test_operation_sequences_match_the_model(backend) -> None:
    """Random sequences of KV operations agree with the model, results and watch stream alike."""

    @settings(
        max_examples=EXAMPLES[backend.name],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        database=None,
    )
    @given(ops=operations)
    def run(ops: list[tuple]) -> None:
        async def scenario() -> None:
            async with await backend.open() as store:
                await _check_sequence(store, f"/prop/{uuid.uuid4().hex[:12]}/".encode(), ops)

        loop.run_until_complete(scenario())

    # One loop for every example: gRPC's asyncio support (the etcd backend) stays bound to its first loop.
    loop = asyncio.new_event_loop()
    try:
        run()
    finally:
        loop.close()


@pytest.mark.parametrize("count", [1, 30])
def test_watch_from_first_revision_replays_whole_history(backend, count: int) -> None:
    """A watcher from the first revision of a finished sequence sees the model's whole event stream."""

    async def scenario() -> None:
        prefix = f"/replay/{uuid.uuid4().hex[:12]}/".encode()
        keys = Keys(prefix)
        async with await backend.open() as store:
            base = await store.current_revision()
            model = KVModel(start_revision=base)
            for i in range(count):
                if i % 4:
                    op: tuple = ("put", NAMES[i % len(NAMES)], str(i).encode(), False)
                else:
                    op = ("delete", "a", "prefix", False)
                await _apply(store, keys, base, op)
                await _apply(model, keys, base, op)
            seen: list[Event] = []
            async with store.watch(prefix, prefix_end(prefix), start_revision=base + 1, prev_kv=True) as watcher:
                if model.events:
                    await _drain(watcher, seen, model.revision)
            assert seen == model.events

    asyncio.run(scenario())
