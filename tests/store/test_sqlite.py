"""What the ``sqlite://`` backend promises beyond the contract: kine's layout, pragmas, sharing a file.

The contract itself is covered by test_conformance.py; these tests look at the
database file, which is this backend's documented format.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from orchestra.plugins.stores.sqlite import SCHEMA_VERSION, SQLiteStore, parse_sqlite_url
from orchestra.store import DeleteOp, InvalidStoreURLError, PutOp, open_store

KINE_COLUMNS = [
    "id", "name", "created", "deleted", "create_revision", "prev_revision", "lease", "value", "old_value",
]  # fmt: skip
KINE_INDEXES = {
    "kine_name_index",
    "kine_name_id_index",
    "kine_id_deleted_index",
    "kine_prev_revision_index",
    "kine_name_prev_revision_uindex",
}


def _rows(path: Path, sql: str, *params: object) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


async def test_table_has_kines_columns_then_revision_and_version(db_path: Path) -> None:
    await (await SQLiteStore.open(f"sqlite://{db_path}")).close()
    columns = [row[1] for row in _rows(db_path, "PRAGMA table_info(kine)")]
    assert columns == [*KINE_COLUMNS, "revision", "version"]
    rows = _rows(db_path, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'kine'")
    indexes = {row[0] for row in rows}
    assert KINE_INDEXES <= indexes
    assert _rows(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


async def test_database_uses_wal_journal(db_path: Path) -> None:
    await (await SQLiteStore.open(f"sqlite://{db_path}")).close()
    assert _rows(db_path, "PRAGMA journal_mode") == [("wal",)]


async def test_one_row_per_key_change_and_one_revision_per_txn(db_path: Path) -> None:
    async with await SQLiteStore.open(f"sqlite://{db_path}") as store:
        await store.put(b"a", b"1")
        result = await store.txn([], [PutOp(b"a", b"2"), PutOp(b"b", b"3"), DeleteOp(b"missing")])
    rows = _rows(db_path, "SELECT id, name, created, prev_revision, revision, version, old_value FROM kine ORDER BY id")
    assert [(r[1], r[4]) for r in rows] == [(b"a", 1), (b"a", result.revision), (b"b", result.revision)]
    assert len({r[0] for r in rows}) == 3
    first, second, third = rows
    assert (first[2], second[2], third[2]) == (1, 0, 1)
    assert second[3] == first[0] and second[5] == 2 and second[6] == b"1"


async def test_delete_writes_a_tombstone_row(db_path: Path) -> None:
    async with await SQLiteStore.open(f"sqlite://{db_path}") as store:
        await store.put(b"a", b"1")
        await store.delete_range(b"a")
    rows = _rows(db_path, "SELECT name, deleted, revision FROM kine ORDER BY id")
    assert rows == [(b"a", 0, 1), (b"a", 1, 2)]


async def test_compaction_deletes_superseded_rows_and_tombstones_and_records_revision(db_path: Path) -> None:
    async with await SQLiteStore.open(f"sqlite://{db_path}") as store:
        await store.put(b"a", b"1")
        await store.put(b"a", b"2")
        await store.put(b"b", b"1")
        await store.delete_range(b"b")
        await store.put(b"c", b"1")
        await store.compact(4)
    live = _rows(db_path, "SELECT name, revision FROM kine WHERE typeof(name) = 'blob' ORDER BY id")
    assert live == [(b"a", 2), (b"c", 5)]
    assert _rows(db_path, "SELECT prev_revision FROM kine WHERE name = 'compact_rev_key'") == [(4,)]


async def test_user_key_named_like_the_compact_record_is_an_ordinary_key(db_path: Path) -> None:
    async with await SQLiteStore.open(f"sqlite://{db_path}") as store:
        put = await store.put(b"x", b"1")
        await store.compact(put.revision)
        await store.put(b"compact_rev_key", b"mine")
        kv = await store.get(b"compact_rev_key")
        assert kv is not None and kv.value == b"mine"
        assert [k.key for k in (await store.range(b"\0", b"\0")).kvs] == [b"compact_rev_key", b"x"]


async def test_leases_and_their_keys_survive_reopen(db_path: Path) -> None:
    async with await SQLiteStore.open(f"sqlite://{db_path}") as store:
        lease = await store.lease_grant(60)
        await store.put(b"a", b"1", lease=lease.id)
    async with await SQLiteStore.open(f"sqlite://{db_path}") as store:
        status = await store.lease_time_to_live(lease.id, keys=True)
        assert (status.granted_ttl, status.keys) == (60, [b"a"])
        await store.lease_revoke(lease.id)
        assert await store.get(b"a") is None


async def test_two_stores_on_one_file_share_revisions(db_path: Path) -> None:
    async with await SQLiteStore.open(f"sqlite://{db_path}") as one, await SQLiteStore.open(f"sqlite://{db_path}") as two:
        first = await one.put(b"a", b"1")
        second = await two.put(b"b", b"2")
        assert second.revision == first.revision + 1
        assert [kv.key for kv in (await one.range(b"a", b"c")).kvs] == [b"a", b"b"]


async def test_watch_sees_writes_of_another_store_on_the_same_file(db_path: Path) -> None:
    url = f"sqlite://{db_path}?poll_interval=0.05"
    async with await SQLiteStore.open(url) as watching, await SQLiteStore.open(url) as writing:
        async with watching.watch(b"a") as watcher:
            put = await writing.put(b"a", b"from elsewhere")
            async with asyncio.timeout(15):
                response = await anext(watcher)
    [event] = response.events
    assert (event.kv.value, event.kv.mod_revision) == (b"from elsewhere", put.revision)


@pytest.mark.parametrize(
    ("url", "path", "options"),
    [("sqlite:///var/lib/state.db", "/var/lib/state.db", {}), ("sqlite://db/state.db", "db/state.db", {}),
     ("sqlite://:memory:", ":memory:", {}), ("sqlite:///s.db?synchronous=full", "/s.db", {"synchronous": "full"})],
)  # fmt: skip
def test_parse_sqlite_url(url: str, path: str, options: dict) -> None:
    assert parse_sqlite_url(url) == (path, options)


def test_parse_sqlite_url_refuses_other_schemes() -> None:
    with pytest.raises(InvalidStoreURLError):
        parse_sqlite_url("file:///state.db")


async def test_open_store_opens_sqlite_urls_with_this_backend(db_path: Path) -> None:
    store = await open_store(f"sqlite://{db_path}")
    try:
        assert isinstance(store, SQLiteStore) and store.path == str(db_path)
    finally:
        await store.close()
