"""The store contract, one behaviour per test, run against every backend (see conftest.py).

The expected values are etcd v3's. Tests only use the public :class:`Store`
interface, keep their keys under their own prefix (``k``) and reason about
revisions relative to their own writes, so they also hold on a shared etcd.
"""

from __future__ import annotations

import asyncio
from typing import Callable

import pytest

from orchestra.store import (
    ALL_KEYS_END,
    MAX_REQUEST_BYTES,
    MAX_TXN_OPS,
    CompactedError,
    Compare,
    DeleteOp,
    DeleteResult,
    DuplicateKeyError,
    EmptyKeyError,
    Event,
    FutureRevisionError,
    LeaseExistsError,
    LeaseNotFoundError,
    PutOp,
    PutResult,
    RangeOp,
    RangeResult,
    RequestTooLargeError,
    Store,
    StoreClosedError,
    StoreError,
    TooManyOperationsError,
    Watcher,
    WatchResponse,
    prefix_range,
)

Key = Callable[[str], bytes]

#: Upper bound on waiting for a watch response before the test fails instead of hanging.
WATCH_WAIT = 15.0


async def next_response(watcher: Watcher) -> WatchResponse:
    """The watcher's next response (failing the test, not hanging, if none comes)."""
    async with asyncio.timeout(WATCH_WAIT):
        return await anext(watcher)


async def collect_events(watcher: Watcher, count: int) -> list[Event]:
    """Exactly ``count`` events, read response by response."""
    events: list[Event] = []
    while len(events) < count:
        events.extend((await next_response(watcher)).events)
    assert len(events) == count, f"expected {count} events, got {events}"
    return events


# --------------------------------------------------------------------------- put and revisions


async def test_put_bumps_revision_by_one(store: Store, k: Key) -> None:
    first = await store.put(k("a"), b"1")
    second = await store.put(k("b"), b"2")
    assert second.revision == first.revision + 1


async def test_current_revision_is_revision_of_last_write(store: Store, k: Key) -> None:
    result = await store.put(k("a"), b"1")
    assert await store.current_revision() == result.revision


async def test_new_key_has_version_one_and_create_equal_to_mod(store: Store, k: Key) -> None:
    result = await store.put(k("a"), b"v")
    kv = await store.get(k("a"))
    assert kv is not None
    assert (kv.key, kv.value, kv.version, kv.lease) == (k("a"), b"v", 1, 0)
    assert kv.create_revision == kv.mod_revision == result.revision


async def test_overwrite_increments_version_and_keeps_create_revision(store: Store, k: Key) -> None:
    created = await store.put(k("a"), b"1")
    updated = await store.put(k("a"), b"2")
    kv = await store.get(k("a"))
    assert kv is not None
    assert (kv.value, kv.version) == (b"2", 2)
    assert kv.create_revision == created.revision
    assert kv.mod_revision == updated.revision


async def test_put_prev_kv_returns_previous_key_value(store: Store, k: Key) -> None:
    created = await store.put(k("a"), b"1")
    result = await store.put(k("a"), b"2", prev_kv=True)
    assert result.prev_kv is not None
    assert (result.prev_kv.key, result.prev_kv.value, result.prev_kv.version) == (k("a"), b"1", 1)
    assert result.prev_kv.mod_revision == created.revision


async def test_put_prev_kv_of_new_key_is_none(store: Store, k: Key) -> None:
    result = await store.put(k("a"), b"1", prev_kv=True)
    assert result.prev_kv is None


async def test_put_without_prev_kv_returns_none(store: Store, k: Key) -> None:
    await store.put(k("a"), b"1")
    result = await store.put(k("a"), b"2")
    assert result.prev_kv is None


async def test_recreate_after_delete_resets_version_and_create_revision(store: Store, k: Key) -> None:
    await store.put(k("a"), b"1")
    await store.put(k("a"), b"2")
    await store.delete_range(k("a"))
    recreated = await store.put(k("a"), b"3")
    kv = await store.get(k("a"))
    assert kv is not None
    assert kv.version == 1
    assert kv.create_revision == kv.mod_revision == recreated.revision


async def test_get_missing_key_is_none(store: Store, k: Key) -> None:
    assert await store.get(k("missing")) is None


async def test_put_empty_key_raises(store: Store) -> None:
    with pytest.raises(EmptyKeyError):
        await store.put(b"", b"v")


async def test_put_larger_than_request_limit_raises(store: Store, k: Key) -> None:
    with pytest.raises(RequestTooLargeError):
        await store.put(k("big"), b"x" * (MAX_REQUEST_BYTES + 1))
    assert await store.get(k("big")) is None


async def test_put_empty_value_is_stored(store: Store, k: Key) -> None:
    await store.put(k("a"), b"")
    kv = await store.get(k("a"))
    assert kv is not None and kv.value == b""


async def test_put_binary_key_and_value(store: Store, k: Key) -> None:
    key = k("") + bytes(range(1, 256))
    value = bytes(range(256)) * 4
    await store.put(key, value)
    kv = await store.get(key)
    assert kv is not None and (kv.key, kv.value) == (key, value)


# --------------------------------------------------------------------------- range


async def test_range_prefix_returns_keys_sorted(store: Store, k: Key) -> None:
    for name in ("c", "a", "b"):
        await store.put(k(name), name.encode())
    result = await store.range(*prefix_range(k("")))
    assert [kv.key for kv in result.kvs] == [k("a"), k("b"), k("c")]
    assert (result.count, result.more) == (3, False)


async def test_range_without_end_is_one_key(store: Store, k: Key) -> None:
    await store.put(k("a"), b"1")
    await store.put(k("ab"), b"2")
    result = await store.range(k("a"))
    assert [kv.key for kv in result.kvs] == [k("a")]
    assert result.count == 1


async def test_range_is_half_open(store: Store, k: Key) -> None:
    for name in ("a", "b", "c"):
        await store.put(k(name), b"v")
    result = await store.range(k("a"), k("c"))
    assert [kv.key for kv in result.kvs] == [k("a"), k("b")]


async def test_range_end_all_keys_reads_every_key_from_key(store: Store, k: Key) -> None:
    for name in ("a", "b", "c"):
        await store.put(k(name), b"v")
    result = await store.range(k("b"), ALL_KEYS_END, limit=2)
    assert [kv.key for kv in result.kvs] == [k("b"), k("c")]


async def test_range_end_before_key_is_empty(store: Store, k: Key) -> None:
    await store.put(k("b"), b"v")
    result = await store.range(k("b"), k("a"))
    assert (result.kvs, result.count) == ([], 0)


async def test_range_limit_cuts_and_sets_more_with_total_count(store: Store, k: Key) -> None:
    for name in ("a", "b", "c", "d"):
        await store.put(k(name), b"v")
    result = await store.range(*prefix_range(k("")), limit=2)
    assert [kv.key for kv in result.kvs] == [k("a"), k("b")]
    assert (result.count, result.more) == (4, True)


async def test_range_limit_equal_to_count_has_no_more(store: Store, k: Key) -> None:
    for name in ("a", "b"):
        await store.put(k(name), b"v")
    result = await store.range(*prefix_range(k("")), limit=2)
    assert (len(result.kvs), result.count, result.more) == (2, 2, False)


async def test_range_count_only_returns_count_without_kvs(store: Store, k: Key) -> None:
    for name in ("a", "b", "c"):
        await store.put(k(name), b"v")
    result = await store.range(*prefix_range(k("")), count_only=True)
    assert (result.kvs, result.count, result.more) == ([], 3, False)


async def test_range_keys_only_leaves_values_empty(store: Store, k: Key) -> None:
    put = await store.put(k("a"), b"value")
    result = await store.range(k("a"), keys_only=True)
    [kv] = result.kvs
    assert (kv.key, kv.value, kv.mod_revision, kv.version) == (k("a"), b"", put.revision, 1)


async def test_range_response_revision_is_current_revision(store: Store, k: Key) -> None:
    first = await store.put(k("a"), b"1")
    second = await store.put(k("a"), b"2")
    result = await store.range(k("a"), revision=first.revision)
    assert result.revision == second.revision


async def test_range_at_historic_revision_sees_old_value(store: Store, k: Key) -> None:
    first = await store.put(k("a"), b"1")
    await store.put(k("a"), b"2")
    result = await store.range(k("a"), revision=first.revision)
    [kv] = result.kvs
    assert (kv.value, kv.version, kv.mod_revision) == (b"1", 1, first.revision)


async def test_range_at_historic_revision_sees_deleted_key(store: Store, k: Key) -> None:
    put = await store.put(k("a"), b"1")
    await store.delete_range(k("a"))
    assert (await store.range(k("a"))).kvs == []
    result = await store.range(k("a"), revision=put.revision)
    assert [kv.value for kv in result.kvs] == [b"1"]


async def test_range_at_revision_before_creation_is_empty(store: Store, k: Key) -> None:
    before = await store.put(k("other"), b"x")
    await store.put(k("a"), b"1")
    result = await store.range(k("a"), revision=before.revision)
    assert (result.kvs, result.count) == ([], 0)


async def test_range_at_future_revision_raises(store: Store, k: Key) -> None:
    put = await store.put(k("a"), b"1")
    with pytest.raises(FutureRevisionError) as info:
        await store.range(k("a"), revision=put.revision + 1)
    assert info.value.revision == put.revision + 1


async def test_range_empty_key_raises(store: Store) -> None:
    with pytest.raises(EmptyKeyError):
        await store.range(b"")


# --------------------------------------------------------------------------- delete


async def test_delete_range_counts_and_bumps_revision_once(store: Store, k: Key) -> None:
    for name in ("a", "b", "c"):
        last = await store.put(k(name), b"v")
    result = await store.delete_range(*prefix_range(k("")))
    assert (result.deleted, result.revision) == (3, last.revision + 1)
    assert (await store.range(*prefix_range(k("")))).count == 0


async def test_delete_of_missing_key_does_not_bump_revision(store: Store, k: Key) -> None:
    put = await store.put(k("a"), b"v")
    result = await store.delete_range(k("missing"))
    assert (result.deleted, result.revision) == (0, put.revision)
    assert await store.current_revision() == put.revision


async def test_delete_prev_kv_returns_deleted_key_values(store: Store, k: Key) -> None:
    await store.put(k("a"), b"1")
    await store.put(k("b"), b"2")
    result = await store.delete_range(*prefix_range(k("")), prev_kv=True)
    assert [(kv.key, kv.value) for kv in result.prev_kvs] == [(k("a"), b"1"), (k("b"), b"2")]


async def test_delete_without_prev_kv_returns_no_key_values(store: Store, k: Key) -> None:
    await store.put(k("a"), b"1")
    result = await store.delete_range(k("a"))
    assert (result.deleted, result.prev_kvs) == (1, [])


async def test_delete_single_key_leaves_others(store: Store, k: Key) -> None:
    await store.put(k("a"), b"1")
    await store.put(k("ab"), b"2")
    await store.delete_range(k("a"))
    assert [kv.key for kv in (await store.range(*prefix_range(k("")))).kvs] == [k("ab")]


async def test_delete_empty_key_raises(store: Store) -> None:
    with pytest.raises(EmptyKeyError):
        await store.delete_range(b"")


# --------------------------------------------------------------------------- txn compares


async def _key_at_version_2(store: Store, k: Key) -> tuple[PutResult, PutResult]:
    created = await store.put(k("a"), b"m")
    updated = await store.put(k("a"), b"m")
    return created, updated


@pytest.mark.parametrize(
    ("op", "operand", "holds"),
    [("=", 2, True), ("=", 1, False), ("!=", 1, True), ("!=", 2, False), ("<", 3, True), ("<", 2, False),
     (">", 1, True), (">", 2, False)],
)  # fmt: skip
async def test_txn_compare_version(store: Store, k: Key, op: str, operand: int, holds: bool) -> None:
    await _key_at_version_2(store, k)
    result = await store.txn([Compare.version(k("a"), op, operand)])
    assert result.succeeded is holds


@pytest.mark.parametrize(
    ("op", "delta", "holds"),
    [("=", 0, True), ("=", 1, False), ("!=", 1, True), ("<", 1, True), ("<", 0, False), (">", -1, True),
     (">", 0, False)],
)  # fmt: skip
async def test_txn_compare_create_revision(store: Store, k: Key, op: str, delta: int, holds: bool) -> None:
    created, _ = await _key_at_version_2(store, k)
    result = await store.txn([Compare.create_revision(k("a"), op, created.revision + delta)])
    assert result.succeeded is holds


@pytest.mark.parametrize(
    ("op", "delta", "holds"),
    [("=", 0, True), ("=", -1, False), ("!=", -1, True), ("<", 1, True), ("<", 0, False), (">", -1, True),
     (">", 0, False)],
)  # fmt: skip
async def test_txn_compare_mod_revision(store: Store, k: Key, op: str, delta: int, holds: bool) -> None:
    _, updated = await _key_at_version_2(store, k)
    result = await store.txn([Compare.mod_revision(k("a"), op, updated.revision + delta)])
    assert result.succeeded is holds


@pytest.mark.parametrize(
    ("op", "operand", "holds"),
    [("=", b"m", True), ("=", b"x", False), ("!=", b"x", True), ("!=", b"m", False), ("<", b"n", True),
     ("<", b"m", False), (">", b"l", True), (">", b"m", False)],
)  # fmt: skip
async def test_txn_compare_value(store: Store, k: Key, op: str, operand: bytes, holds: bool) -> None:
    await _key_at_version_2(store, k)
    result = await store.txn([Compare.value(k("a"), op, operand)])
    assert result.succeeded is holds


@pytest.mark.parametrize(("op", "same_lease", "holds"), [("=", True, True), ("=", False, False), ("!=", False, True)])
async def test_txn_compare_lease(store: Store, k: Key, op: str, same_lease: bool, holds: bool) -> None:
    lease = await store.lease_grant(60)
    try:
        await store.put(k("a"), b"v", lease=lease.id)
        operand = lease.id if same_lease else lease.id + 1
        result = await store.txn([Compare.lease(k("a"), op, operand)])
        assert result.succeeded is holds
    finally:
        await store.lease_revoke(lease.id)


async def test_txn_compare_lease_of_key_without_lease_is_zero(store: Store, k: Key) -> None:
    await store.put(k("a"), b"v")
    assert (await store.txn([Compare.lease(k("a"), "=", 0)])).succeeded


@pytest.mark.parametrize("target", ["version", "create", "mod", "lease"])
async def test_txn_compare_missing_key_counts_as_zero(store: Store, k: Key, target: str) -> None:
    assert (await store.txn([Compare(k("missing"), target, "=", 0)])).succeeded
    assert not (await store.txn([Compare(k("missing"), target, ">", 0)])).succeeded


@pytest.mark.parametrize("op", ["=", "!=", "<", ">"])
async def test_txn_compare_value_of_missing_key_fails(store: Store, k: Key, op: str) -> None:
    result = await store.txn([Compare.value(k("missing"), op, b"x")])
    assert not result.succeeded


async def test_txn_compare_over_range_needs_every_key(store: Store, k: Key) -> None:
    await store.put(k("a"), b"1")
    await store.put(k("b"), b"1")
    await store.put(k("b"), b"2")
    start, end = prefix_range(k(""))
    assert (await store.txn([Compare(start, "version", ">", 0, end)])).succeeded
    assert not (await store.txn([Compare(start, "version", "=", 1, end)])).succeeded


async def test_txn_needs_every_compare_to_hold(store: Store, k: Key) -> None:
    await store.put(k("a"), b"1")
    result = await store.txn([Compare.value(k("a"), "=", b"1"), Compare.version(k("a"), "=", 5)])
    assert not result.succeeded


# --------------------------------------------------------------------------- txn branches


async def test_txn_success_branch_results(store: Store, k: Key) -> None:
    await store.put(k("a"), b"1")
    await store.put(k("gone"), b"x")
    result = await store.txn(
        [Compare.value(k("a"), "=", b"1")],
        [PutOp(k("a"), b"2", prev_kv=True), RangeOp(k("a")), DeleteOp(k("gone"), prev_kv=True)],
        [PutOp(k("failure"), b"ran")],
    )
    assert result.succeeded
    put, rng, delete = result.responses
    assert isinstance(put, PutResult) and put.prev_kv is not None and put.prev_kv.value == b"1"
    assert isinstance(rng, RangeResult) and [kv.value for kv in rng.kvs] == [b"2"]
    assert isinstance(delete, DeleteResult) and delete.deleted == 1 and delete.prev_kvs[0].value == b"x"
    assert await store.get(k("failure")) is None


async def test_txn_failure_branch_runs_when_compare_fails(store: Store, k: Key) -> None:
    await store.put(k("a"), b"1")
    result = await store.txn(
        [Compare.value(k("a"), "=", b"other")], [PutOp(k("success"), b"ran")], [PutOp(k("failure"), b"ran")]
    )
    assert not result.succeeded
    assert len(result.responses) == 1 and isinstance(result.responses[0], PutResult)
    assert await store.get(k("success")) is None
    kv = await store.get(k("failure"))
    assert kv is not None and kv.mod_revision == result.revision


async def test_txn_writes_share_one_revision(store: Store, k: Key) -> None:
    before = await store.put(k("x"), b"0")
    result = await store.txn([], [PutOp(k("a"), b"1"), PutOp(k("b"), b"2"), DeleteOp(k("x"))])
    assert result.revision == before.revision + 1
    kvs = (await store.range(*prefix_range(k("")))).kvs
    assert [(kv.key, kv.mod_revision) for kv in kvs] == [(k("a"), result.revision), (k("b"), result.revision)]


async def test_txn_write_results_report_txn_revision(store: Store, k: Key) -> None:
    result = await store.txn([], [PutOp(k("a"), b"1"), PutOp(k("b"), b"2")])
    assert [r.revision for r in result.responses] == [result.revision, result.revision]


async def test_txn_delete_of_nothing_before_first_write_reports_old_revision(store: Store, k: Key) -> None:
    put = await store.put(k("x"), b"0")
    result = await store.txn([], [DeleteOp(k("missing")), PutOp(k("a"), b"1"), DeleteOp(k("missing2"))])
    assert [r.revision for r in result.responses] == [put.revision, result.revision, result.revision]
    assert result.revision == put.revision + 1


async def test_txn_range_sees_earlier_write_of_same_txn(store: Store, k: Key) -> None:
    result = await store.txn([], [PutOp(k("a"), b"new"), RangeOp(k("a"))])
    rng = result.responses[1]
    assert isinstance(rng, RangeResult)
    [kv] = rng.kvs
    assert (kv.value, kv.mod_revision) == (b"new", result.revision)


async def test_txn_range_sees_earlier_delete_of_same_txn(store: Store, k: Key) -> None:
    await store.put(k("a"), b"1")
    result = await store.txn([], [DeleteOp(k("a")), RangeOp(k("a"))])
    assert result.responses[1].kvs == []


async def test_txn_without_writes_does_not_bump_revision(store: Store, k: Key) -> None:
    put = await store.put(k("a"), b"1")
    result = await store.txn([Compare.version(k("a"), "=", 1)], [RangeOp(k("a")), DeleteOp(k("missing"))])
    assert result.succeeded and result.revision == put.revision
    assert await store.current_revision() == put.revision


async def test_empty_txn_succeeds_without_bumping_revision(store: Store, k: Key) -> None:
    put = await store.put(k("a"), b"1")
    result = await store.txn([])
    assert (result.succeeded, result.revision, result.responses) == (True, put.revision, [])


async def test_txn_with_too_many_operations_raises(store: Store, k: Key) -> None:
    ops = [PutOp(k(f"{i:03}"), b"v") for i in range(MAX_TXN_OPS + 1)]
    with pytest.raises(TooManyOperationsError):
        await store.txn([], ops)


async def test_txn_with_max_operations_is_accepted(store: Store, k: Key) -> None:
    ops = [PutOp(k(f"{i:03}"), b"v") for i in range(MAX_TXN_OPS)]
    result = await store.txn([], ops)
    assert (await store.range(*prefix_range(k("")), count_only=True)).count == MAX_TXN_OPS
    assert len(result.responses) == MAX_TXN_OPS


async def test_txn_writing_a_key_twice_raises(store: Store, k: Key) -> None:
    with pytest.raises(DuplicateKeyError):
        await store.txn([], [PutOp(k("a"), b"1"), PutOp(k("a"), b"2")])
    assert await store.get(k("a")) is None


async def test_txn_put_and_delete_of_same_key_raises(store: Store, k: Key) -> None:
    with pytest.raises(DuplicateKeyError):
        await store.txn([], [PutOp(k("a"), b"1"), DeleteOp(k("a"))])


async def test_txn_with_unknown_lease_writes_nothing(store: Store, k: Key) -> None:
    put = await store.put(k("x"), b"0")
    with pytest.raises(LeaseNotFoundError):
        await store.txn([], [PutOp(k("a"), b"1"), PutOp(k("b"), b"2", lease=0x7E57DEAD)])
    assert await store.get(k("a")) is None
    assert await store.current_revision() == put.revision


async def test_txn_empty_key_raises(store: Store) -> None:
    with pytest.raises(EmptyKeyError):
        await store.txn([], [PutOp(b"", b"1")])


async def test_guarded_put_checks_like_any_txn(store: Store, k: Key) -> None:
    """One compare and one put (the API server's every write) is refused like a larger txn."""
    with pytest.raises(EmptyKeyError):
        await store.txn([Compare.create_revision(b"", "=", 0)], [PutOp(k("a"), b"1")])
    with pytest.raises(EmptyKeyError):
        await store.txn([Compare.create_revision(k("a"), "=", 0)], [PutOp(b"", b"1")])
    # the compare counts towards the request size
    value = b"x" * (MAX_REQUEST_BYTES - len(k("a")) - 4)
    with pytest.raises(RequestTooLargeError):
        await store.txn([Compare.value(k("a"), "=", b"12345678")], [PutOp(k("a"), value)])
    assert await store.get(k("a")) is None
    stored = await store.txn([Compare.create_revision(k("a"), "=", 0)], [PutOp(k("a"), b"1")])
    assert stored.succeeded and stored.responses[0].revision == stored.revision
    refused = await store.txn([Compare.create_revision(k("a"), "=", 0)], [PutOp(k("a"), b"2")])
    assert not refused.succeeded and refused.revision == stored.revision and refused.responses == []
    assert (await store.get(k("a"))).value == b"1"


async def test_guarded_put_with_a_lease_attaches_the_key_or_writes_nothing(store: Store, k: Key) -> None:
    """An expiring object's write (Events): one compare and one put on a lease."""
    with pytest.raises(LeaseNotFoundError):
        await store.txn([Compare.create_revision(k("a"), "=", 0)], [PutOp(k("a"), b"1", lease=0x7E57DEAD)])
    assert await store.get(k("a")) is None
    lease = await store.lease_grant(60)
    stored = await store.txn([Compare.create_revision(k("a"), "=", 0)], [PutOp(k("a"), b"1", lease=lease.id)])
    assert stored.succeeded and (await store.get(k("a"))).lease == lease.id
    assert (await store.lease_time_to_live(lease.id, keys=True)).keys == [k("a")]
    await store.lease_revoke(lease.id)
    assert await store.get(k("a")) is None


async def test_put_if_revision_writes_only_over_the_revision_it_names(store: Store, k: Key) -> None:
    """The API server's every object write: 0 creates an absent key, a mod revision replaces that version."""
    created = await store.put_if_revision(k("a"), b"1", 0)
    assert created and created == await store.current_revision()
    assert await store.put_if_revision(k("a"), b"again", 0) == 0  # the name is taken
    assert await store.put_if_revision(k("a"), b"stale", created - 1) == 0
    kv = await store.get(k("a"))
    assert (kv.value, kv.mod_revision, kv.version) == (b"1", created, 1)
    replaced = await store.put_if_revision(k("a"), b"2", created)
    assert replaced > created
    kv = await store.get(k("a"))
    assert (kv.value, kv.create_revision, kv.mod_revision, kv.version) == (b"2", created, replaced, 2)
    assert await store.current_revision() == replaced


async def test_delete_if_revision_deletes_only_the_version_it_names(store: Store, k: Key) -> None:
    """The API server's delete of an object: guarded by the mod revision it read."""
    lease = await store.lease_grant(60)
    first = await store.put(k("a"), b"1", lease=lease.id)
    second = await store.put(k("a"), b"2", lease=lease.id)
    assert await store.delete_if_revision(k("a"), first.revision) == 0
    assert await store.delete_if_revision(k("missing"), 0) == 0
    assert (await store.get(k("a"))).value == b"2"
    deleted = await store.delete_if_revision(k("a"), second.revision)
    assert deleted > second.revision and deleted == await store.current_revision()
    assert await store.get(k("a")) is None
    assert (await store.lease_time_to_live(lease.id, keys=True)).keys == []
    assert await store.delete_if_revision(k("a"), second.revision) == 0


async def test_put_if_revision_on_a_lease_attaches_the_key_or_writes_nothing(store: Store, k: Key) -> None:
    with pytest.raises(LeaseNotFoundError):
        await store.put_if_revision(k("a"), b"1", 0, lease=0x7E57DEAD)
    assert await store.get(k("a")) is None
    lease = await store.lease_grant(60)
    assert await store.put_if_revision(k("a"), b"1", 0, lease=lease.id)
    assert (await store.lease_time_to_live(lease.id, keys=True)).keys == [k("a")]
    await store.lease_revoke(lease.id)
    assert await store.get(k("a")) is None


async def test_put_if_revision_refuses_a_value_over_the_request_limit(store: Store, k: Key) -> None:
    with pytest.raises(RequestTooLargeError):
        await store.put_if_revision(k("a"), b"x" * (MAX_REQUEST_BYTES + 1), 0)
    assert await store.get(k("a")) is None


# --------------------------------------------------------------------------- compaction


async def test_compact_keeps_current_values_and_revision(store: Store, k: Key) -> None:
    await store.put(k("a"), b"1")
    last = await store.put(k("a"), b"2")
    await store.compact(last.revision)
    assert await store.current_revision() == last.revision
    kv = await store.get(k("a"))
    assert kv is not None and (kv.value, kv.version) == (b"2", 2)


async def test_range_at_compact_revision_is_allowed(store: Store, k: Key) -> None:
    first = await store.put(k("a"), b"1")
    await store.put(k("a"), b"2")
    await store.compact(first.revision)
    result = await store.range(k("a"), revision=first.revision)
    assert [kv.value for kv in result.kvs] == [b"1"]


async def test_range_below_compact_revision_raises_with_compact_revision(store: Store, k: Key) -> None:
    first = await store.put(k("a"), b"1")
    second = await store.put(k("a"), b"2")
    await store.compact(second.revision)
    with pytest.raises(CompactedError) as info:
        await store.range(k("a"), revision=first.revision)
    assert info.value.compact_revision == second.revision


async def test_compact_at_compacted_revision_raises(store: Store, k: Key) -> None:
    put = await store.put(k("a"), b"1")
    await store.compact(put.revision)
    with pytest.raises(CompactedError) as info:
        await store.compact(put.revision)
    assert info.value.compact_revision == put.revision


async def test_compact_at_future_revision_raises(store: Store, k: Key) -> None:
    put = await store.put(k("a"), b"1")
    with pytest.raises(FutureRevisionError):
        await store.compact(put.revision + 1)


async def test_compaction_drops_deleted_keys_from_history(store: Store, k: Key) -> None:
    await store.put(k("a"), b"1")
    deleted = await store.delete_range(k("a"))
    await store.put(k("b"), b"2")
    await store.compact(deleted.revision)
    assert (await store.range(k("a"), revision=deleted.revision)).kvs == []
    assert await store.get(k("a")) is None


# --------------------------------------------------------------------------- watch


async def test_watch_from_now_sees_put(store: Store, k: Key) -> None:
    async with store.watch(k("a")) as watcher:
        put = await store.put(k("a"), b"1")
        [event] = await collect_events(watcher, 1)
    assert event.type == "PUT"
    assert (event.kv.key, event.kv.value, event.kv.mod_revision, event.kv.version) == (k("a"), b"1", put.revision, 1)
    assert event.prev_kv is None


async def test_watch_from_now_skips_earlier_writes(store: Store, k: Key) -> None:
    await store.put(k("a"), b"old")
    async with store.watch(k("a")) as watcher:
        await store.put(k("a"), b"new")
        [event] = await collect_events(watcher, 1)
    assert event.kv.value == b"new"


async def test_watch_sees_delete_with_delete_revision(store: Store, k: Key) -> None:
    await store.put(k("a"), b"1")
    async with store.watch(k("a")) as watcher:
        deleted = await store.delete_range(k("a"))
        [event] = await collect_events(watcher, 1)
    assert event.type == "DELETE"
    assert (event.kv.key, event.kv.mod_revision) == (k("a"), deleted.revision)


async def test_watch_from_past_revision_replays_history_inclusive(store: Store, k: Key) -> None:
    first = await store.put(k("a"), b"1")
    await store.put(k("a"), b"2")
    await store.delete_range(k("a"))
    async with store.watch(k("a"), start_revision=first.revision) as watcher:
        events = await collect_events(watcher, 3)
    assert [(e.type, e.kv.value) for e in events] == [("PUT", b"1"), ("PUT", b"2"), ("DELETE", b"")]
    assert events[0].kv.mod_revision == first.revision


async def test_watch_from_past_revision_continues_with_new_events(store: Store, k: Key) -> None:
    first = await store.put(k("a"), b"1")
    async with store.watch(k("a"), start_revision=first.revision) as watcher:
        await store.put(k("a"), b"2")
        events = await collect_events(watcher, 2)
    assert [e.kv.value for e in events] == [b"1", b"2"]


async def test_watch_prev_kv_on_put_and_delete(store: Store, k: Key) -> None:
    first = await store.put(k("a"), b"1")
    async with store.watch(k("a"), prev_kv=True) as watcher:
        await store.put(k("a"), b"2")
        await store.delete_range(k("a"))
        put, delete = await collect_events(watcher, 2)
    assert put.prev_kv is not None and (put.prev_kv.value, put.prev_kv.mod_revision) == (b"1", first.revision)
    assert delete.prev_kv is not None and (delete.prev_kv.value, delete.prev_kv.version) == (b"2", 2)


async def test_watch_sees_guarded_writes_with_and_without_prev_kv(store: Store, k: Key) -> None:
    """The API server's writes (put_if_revision, delete_if_revision) reach plain watchers,
    prev_kv watchers and sinks alike, with every field of the key-value."""
    sunk: list[tuple[int, list]] = []
    async with store.watch(k("a")) as plain, store.watch(k("a"), prev_kv=True) as full, \
            store.watch(*prefix_range(k(""))) as sinking:
        sinks = sinking.deliver_to(lambda revision, changes: sunk.append((revision, list(changes))))
        created = await store.put_if_revision(k("a"), b"1", 0)
        replaced = await store.put_if_revision(k("a"), b"2", created)
        deleted = await store.delete_if_revision(k("a"), replaced)
        plain_events = await collect_events(plain, 3)
        full_events = await collect_events(full, 3)
        if not sinks:
            sunk = [(e.kv.mod_revision, [(e.type, e.kv.key, e.kv.value)]) for e in await collect_events(sinking, 3)]
    for events in (plain_events, full_events):
        assert [(e.type, e.kv.value, e.kv.create_revision, e.kv.mod_revision, e.kv.version) for e in events] == [
            ("PUT", b"1", created, created, 1), ("PUT", b"2", created, replaced, 2), ("DELETE", b"", 0, deleted, 0)]
    assert all(e.prev_kv is None for e in plain_events)
    assert [e.prev_kv and (e.prev_kv.value, e.prev_kv.mod_revision) for e in full_events] == [
        None, (b"1", created), (b"2", replaced)]
    assert sunk == [(created, [("PUT", k("a"), b"1")]), (replaced, [("PUT", k("a"), b"2")]),
                    (deleted, [("DELETE", k("a"), b"")])]


async def test_put_if_revision_moves_the_key_between_leases(store: Store, k: Key) -> None:
    first, second = await store.lease_grant(60), await store.lease_grant(60)
    created = await store.put_if_revision(k("a"), b"1", 0, lease=first.id)
    await store.put_if_revision(k("a"), b"2", created, lease=second.id)
    assert (await store.lease_time_to_live(first.id, keys=True)).keys == []
    assert (await store.lease_time_to_live(second.id, keys=True)).keys == [k("a")]
    await store.lease_revoke(first.id)
    assert (await store.get(k("a"))).value == b"2"
    await store.lease_revoke(second.id)
    assert await store.get(k("a")) is None


async def test_watch_without_prev_kv_has_none(store: Store, k: Key) -> None:
    await store.put(k("a"), b"1")
    async with store.watch(k("a")) as watcher:
        await store.put(k("a"), b"2")
        [event] = await collect_events(watcher, 1)
    assert event.prev_kv is None


async def test_watch_prefix_sees_only_keys_in_prefix(store: Store, k: Key) -> None:
    async with store.watch(*prefix_range(k("dir/"))) as watcher:
        await store.put(k("dir"), b"outside")
        await store.put(k("dis"), b"outside")
        await store.put(k("dir/x"), b"inside")
        [event] = await collect_events(watcher, 1)
    assert event.kv.key == k("dir/x")


async def test_watch_single_key_ignores_longer_keys(store: Store, k: Key) -> None:
    async with store.watch(k("a")) as watcher:
        await store.put(k("ab"), b"other")
        await store.put(k("a"), b"mine")
        [event] = await collect_events(watcher, 1)
    assert event.kv.key == k("a")


async def test_watch_txn_events_share_one_response(store: Store, k: Key) -> None:
    async with store.watch(*prefix_range(k(""))) as watcher:
        result = await store.txn([], [PutOp(k("a"), b"1"), PutOp(k("b"), b"2")])
        response = await next_response(watcher)
    assert [(e.kv.key, e.kv.mod_revision) for e in response.events] == [
        (k("a"), result.revision),
        (k("b"), result.revision),
    ]


async def test_watch_events_arrive_in_revision_order(store: Store, k: Key) -> None:
    async with store.watch(*prefix_range(k(""))) as watcher:
        for i in range(10):
            await store.put(k(f"{i % 3}"), str(i).encode())
        events = await collect_events(watcher, 10)
    revisions = [e.kv.mod_revision for e in events]
    assert revisions == sorted(revisions) and len(set(revisions)) == 10
    assert [e.kv.value for e in events] == [str(i).encode() for i in range(10)]


async def test_watch_sink_gets_live_changes_once_after_the_logged_events(store: Store, k: Key) -> None:
    first = await store.put(k("a"), b"0")
    sunk: list[tuple[int, list]] = []
    async with store.watch(*prefix_range(k("")), start_revision=first.revision, prev_kv=True) as watcher:
        takes = watcher.deliver_to(lambda revision, changes: sunk.append((revision, list(changes))))
        for i in range(1, 3):
            await store.put(k("a"), str(i).encode())
        logged = (await next_response(watcher)).events  # from history: never the sink's
        for i in range(3, 5):
            await store.put(k("a"), str(i).encode())
        await store.put(k("z-other"), b"x")
        await store.delete_range(k("a"))
        if takes:
            live = [(revision, *change) for revision, changes in sunk for change in changes]
        else:
            live = [(e.kv.mod_revision, e.type, e.kv.key, e.kv.value)
                    for e in await collect_events(watcher, 7 - len(logged))]
    seen = [(e.kv.mod_revision, e.type, e.kv.key, e.kv.value) for e in logged] + live
    assert [(t, key, value) for _, t, key, value in seen] == [
        *(("PUT", k("a"), str(i).encode()) for i in range(5)), ("PUT", k("z-other"), b"x"), ("DELETE", k("a"), b"")]
    revisions = [revision for revision, *_ in seen]
    assert revisions == sorted(revisions) and len(set(revisions)) == 7
    if takes:
        assert [value for *_, value in live[:2]] == [b"3", b"4"] and len(logged) == 3


async def test_watch_sink_gets_a_transactions_changes_in_its_range_as_one_revision(store: Store, k: Key) -> None:
    sunk: list[tuple[int, list]] = []
    async with store.watch(k("a"), k("c")) as watcher:
        if not watcher.deliver_to(lambda revision, changes: sunk.append((revision, list(changes)))):
            pytest.skip(f"{store.url.split(':')[0]} watchers are only iterated")
        await store.put(k("b"), b"old")
        result = await store.txn([], [PutOp(k("a"), b"1"), PutOp(k("x"), b"outside"), DeleteOp(k("b"))])
    assert sunk[-1] == (result.revision, [("PUT", k("a"), b"1"), ("DELETE", k("b"), b"")])


async def test_watch_sink_that_raises_ends_the_watch_with_a_store_error(store: Store, k: Key) -> None:
    def broken(revision: int, changes: list) -> None:
        raise RuntimeError("sink broke")

    async with store.watch(*prefix_range(k(""))) as watcher:
        if not watcher.deliver_to(broken):
            pytest.skip(f"{store.url.split(':')[0]} watchers are only iterated")
        await store.put(k("a"), b"1")
        with pytest.raises(StoreError, match="sink"):
            await next_response(watcher)
    assert (await store.get(k("a"))).value == b"1"  # the write stands


async def test_watch_cancel_ends_iteration(store: Store, k: Key) -> None:
    watcher = store.watch(k("a"))
    await watcher.cancel()
    async with asyncio.timeout(WATCH_WAIT):
        remaining = [response async for response in watcher]
    assert remaining == []


async def test_watch_cancel_is_idempotent(store: Store, k: Key) -> None:
    watcher = store.watch(k("a"))
    await watcher.cancel()
    await watcher.cancel()
    with pytest.raises(StopAsyncIteration):
        async with asyncio.timeout(WATCH_WAIT):
            await anext(watcher)


async def test_watch_request_progress_reports_current_revision(store: Store, k: Key) -> None:
    async with store.watch(k("a")) as watcher:
        put = await store.put(k("other"), b"1")
        await watcher.request_progress()
        response = await next_response(watcher)
    assert response.progress and response.events == []
    assert response.revision >= put.revision


async def test_watch_progress_comes_after_pending_events(store: Store, k: Key) -> None:
    async with store.watch(k("a")) as watcher:
        put = await store.put(k("a"), b"1")
        await watcher.request_progress()
        responses = [await next_response(watcher)]
        while not responses[-1].progress:
            responses.append(await next_response(watcher))
    events = [e for r in responses for e in r.events]
    assert [e.kv.mod_revision for e in events] == [put.revision]
    assert responses[-1].revision >= put.revision


async def test_watch_from_compacted_revision_raises_with_compact_revision(store: Store, k: Key) -> None:
    first = await store.put(k("a"), b"1")
    second = await store.put(k("a"), b"2")
    await store.compact(second.revision)
    watcher = store.watch(k("a"), start_revision=first.revision)
    try:
        with pytest.raises(CompactedError) as info:
            await next_response(watcher)
        assert info.value.compact_revision == second.revision
    finally:
        await watcher.cancel()


async def test_watch_from_compact_revision_is_allowed(store: Store, k: Key) -> None:
    # etcd refuses only a start revision *below* the compact revision (mvcc's watcher_group: minRev < compactRev).
    await store.put(k("a"), b"1")
    second = await store.put(k("a"), b"2")
    await store.compact(second.revision)
    async with store.watch(k("a"), start_revision=second.revision) as watcher:
        [event] = await collect_events(watcher, 1)
    assert (event.kv.value, event.kv.mod_revision) == (b"2", second.revision)


async def test_watch_from_after_compact_revision_is_allowed(store: Store, k: Key) -> None:
    first = await store.put(k("a"), b"1")
    second = await store.put(k("a"), b"2")
    await store.compact(first.revision)
    async with store.watch(k("a"), start_revision=second.revision) as watcher:
        [event] = await collect_events(watcher, 1)
    assert event.kv.mod_revision == second.revision


async def test_two_watchers_see_the_same_events(store: Store, k: Key) -> None:
    async with store.watch(k("a")) as one, store.watch(k("a")) as two:
        await store.put(k("a"), b"1")
        first = await collect_events(one, 1)
        second = await collect_events(two, 1)
    assert first == second


async def test_cancelled_watcher_does_not_stop_others(store: Store, k: Key) -> None:
    async with store.watch(k("a")) as kept:
        dropped = store.watch(k("a"))
        await dropped.cancel()
        await store.put(k("a"), b"1")
        [event] = await collect_events(kept, 1)
    assert event.kv.value == b"1"


# --------------------------------------------------------------------------- leases


async def test_lease_grant_returns_id_and_at_least_the_ttl(store: Store) -> None:
    lease = await store.lease_grant(30)
    try:
        assert lease.id != 0 and lease.ttl >= 30
    finally:
        await store.lease_revoke(lease.id)


async def test_lease_grant_with_chosen_id(store: Store, k: Key) -> None:
    wanted = int.from_bytes(k("")[-6:], "big") & 0x7FFFFFFFFFFF or 1
    lease = await store.lease_grant(30, wanted)
    try:
        assert lease.id == wanted
    finally:
        await store.lease_revoke(lease.id)


async def test_lease_grant_with_existing_id_raises(store: Store) -> None:
    lease = await store.lease_grant(30)
    try:
        with pytest.raises(LeaseExistsError):
            await store.lease_grant(30, lease.id)
    finally:
        await store.lease_revoke(lease.id)


async def test_put_with_lease_attaches_key(store: Store, k: Key) -> None:
    lease = await store.lease_grant(30)
    try:
        await store.put(k("a"), b"v", lease=lease.id)
        kv = await store.get(k("a"))
        assert kv is not None and kv.lease == lease.id
        status = await store.lease_time_to_live(lease.id, keys=True)
        assert status.keys == [k("a")]
    finally:
        await store.lease_revoke(lease.id)


async def test_put_without_lease_detaches_key(store: Store, k: Key) -> None:
    lease = await store.lease_grant(30)
    await store.put(k("a"), b"1", lease=lease.id)
    await store.put(k("a"), b"2")
    await store.lease_revoke(lease.id)
    kv = await store.get(k("a"))
    assert kv is not None and (kv.value, kv.lease) == (b"2", 0)


async def test_put_with_unknown_lease_raises(store: Store, k: Key) -> None:
    with pytest.raises(LeaseNotFoundError):
        await store.put(k("a"), b"v", lease=0x7E57DEAD)
    assert await store.get(k("a")) is None


async def test_lease_time_to_live_reports_remaining_and_granted(store: Store) -> None:
    lease = await store.lease_grant(30)
    try:
        status = await store.lease_time_to_live(lease.id)
        assert status.id == lease.id and status.granted_ttl == lease.ttl
        assert 0 < status.ttl <= lease.ttl
        assert status.keys == []
    finally:
        await store.lease_revoke(lease.id)


async def test_lease_time_to_live_without_keys_flag_lists_no_keys(store: Store, k: Key) -> None:
    lease = await store.lease_grant(30)
    try:
        await store.put(k("a"), b"v", lease=lease.id)
        assert (await store.lease_time_to_live(lease.id)).keys == []
    finally:
        await store.lease_revoke(lease.id)


async def test_lease_time_to_live_of_unknown_lease_raises(store: Store) -> None:
    with pytest.raises(LeaseNotFoundError):
        await store.lease_time_to_live(0x7E57DEAD)


async def test_lease_revoke_deletes_keys_at_one_revision(store: Store, k: Key) -> None:
    lease = await store.lease_grant(30)
    await store.put(k("a"), b"1", lease=lease.id)
    last = await store.put(k("b"), b"2", lease=lease.id)
    await store.put(k("c"), b"3")
    async with store.watch(*prefix_range(k(""))) as watcher:
        await store.lease_revoke(lease.id)
        events = await collect_events(watcher, 2)
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in events] == [
        ("DELETE", k("a"), last.revision + 2),
        ("DELETE", k("b"), last.revision + 2),
    ]
    assert [kv.key for kv in (await store.range(*prefix_range(k("")))).kvs] == [k("c")]


async def test_lease_revoke_forgets_the_lease(store: Store) -> None:
    lease = await store.lease_grant(30)
    await store.lease_revoke(lease.id)
    with pytest.raises(LeaseNotFoundError):
        await store.lease_time_to_live(lease.id)


async def test_lease_revoke_of_unknown_lease_raises(store: Store) -> None:
    with pytest.raises(LeaseNotFoundError):
        await store.lease_revoke(0x7E57DEAD)


async def test_lease_keepalive_returns_granted_ttl(store: Store) -> None:
    lease = await store.lease_grant(30)
    try:
        assert await store.lease_keepalive(lease.id) == lease.ttl
    finally:
        await store.lease_revoke(lease.id)


async def test_lease_keepalive_of_unknown_lease_raises(store: Store) -> None:
    with pytest.raises(LeaseNotFoundError):
        await store.lease_keepalive(0x7E57DEAD)


async def test_expired_lease_deletes_its_keys(store: Store, k: Key) -> None:
    lease = await store.lease_grant(2)
    put = await store.put(k("a"), b"v", lease=lease.id)
    async with store.watch(k("a"), start_revision=put.revision) as watcher:
        created, expired = await collect_events(watcher, 2)
    assert (created.type, expired.type) == ("PUT", "DELETE")
    assert await store.get(k("a")) is None
    with pytest.raises(LeaseNotFoundError):
        await store.lease_time_to_live(lease.id)


# --------------------------------------------------------------------------- lifecycle


async def test_close_is_idempotent(backend) -> None:
    opened = await backend.open()
    await opened.close()
    await opened.close()


async def test_use_after_close_raises(backend, k: Key) -> None:
    opened = await backend.open()
    await opened.close()
    with pytest.raises(StoreClosedError):
        await opened.put(k("a"), b"v")


async def test_store_is_an_async_context_manager(backend, k: Key) -> None:
    async with await backend.open() as opened:
        await opened.put(k("a"), b"v")
    with pytest.raises(StoreClosedError):
        await opened.get(k("a"))


async def test_durable_backend_keeps_data_across_reopen(backend, k: Key) -> None:
    if backend.name == "memory":
        pytest.skip("memory:// keeps nothing after close by design")
    url = backend.make_url()
    async with await backend.open(url) as first:
        put = await first.put(k("a"), b"v")
    async with await backend.open(url) as second:
        kv = await second.get(k("a"))
        assert kv is not None and (kv.value, kv.mod_revision) == (b"v", put.revision)
        assert await second.current_revision() >= put.revision
