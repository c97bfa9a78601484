"""open_store(url): scheme dispatch and the errors for URLs no backend can open."""

from __future__ import annotations

import sqlite3

import pytest

from orchestra.store import (
    CorruptionError,
    InvalidStoreURLError,
    UnknownSchemeError,
    open_store,
    store_schemes,
)


def test_store_schemes_lists_every_builtin_backend() -> None:
    assert {"memory", "file", "sqlite", "etcd"} <= set(store_schemes())


async def test_unknown_scheme_raises_listing_known_schemes() -> None:
    with pytest.raises(UnknownSchemeError) as info:
        await open_store("redis://localhost:6379")
    error = info.value
    assert error.scheme == "redis"
    assert set(error.known) == set(store_schemes())
    for scheme in ("memory://", "file://", "sqlite://", "etcd://"):
        assert scheme in str(error)
    assert "redis" in str(error)


@pytest.mark.parametrize("url", ["/var/lib/orchestra/state.db", "state.db", ""])
async def test_url_without_scheme_raises(url: str) -> None:
    with pytest.raises(InvalidStoreURLError) as info:
        await open_store(url)
    assert "scheme" in str(info.value)


async def test_scheme_is_case_insensitive(tmp_path) -> None:
    store = await open_store(f"SQLite://{tmp_path}/state.db")
    try:
        assert (await store.put(b"k", b"v")).revision == 1
    finally:
        await store.close()


# --------------------------------------------------------------------------- sqlite:// paths


@pytest.mark.parametrize("url", ["sqlite://", "sqlite://?synchronous=full"])
async def test_sqlite_url_without_path_raises(url: str) -> None:
    with pytest.raises(InvalidStoreURLError) as info:
        await open_store(url)
    assert "path" in str(info.value)


async def test_sqlite_path_that_is_a_directory_raises(tmp_path) -> None:
    with pytest.raises(InvalidStoreURLError) as info:
        await open_store(f"sqlite://{tmp_path}")
    assert str(tmp_path) in str(info.value) and "directory" in str(info.value)


async def test_sqlite_path_under_a_regular_file_raises(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(InvalidStoreURLError) as info:
        await open_store(f"sqlite://{blocker}/state.db")
    assert str(blocker) in str(info.value)


async def test_sqlite_file_that_is_not_a_database_raises(tmp_path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CorruptionError) as info:
        await open_store(f"sqlite://{path}")
    assert str(path) in str(info.value)


async def test_sqlite_database_of_another_layout_raises(tmp_path) -> None:
    path = tmp_path / "kine.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE kine (id INTEGER PRIMARY KEY AUTOINCREMENT, name INTEGER, value BLOB)")
    conn.commit()
    conn.close()
    with pytest.raises(InvalidStoreURLError) as info:
        await open_store(f"sqlite://{path}")
    assert "layout" in str(info.value)


@pytest.mark.parametrize(
    ("query", "words"),
    [("cache=shared", "unknown parameter"), ("synchronous=off", "synchronous"), ("poll_interval=0", "poll_interval"),
     ("poll_interval=soon", "poll_interval")],
)  # fmt: skip
async def test_sqlite_bad_query_parameter_raises(tmp_path, query: str, words: str) -> None:
    with pytest.raises(InvalidStoreURLError) as info:
        await open_store(f"sqlite://{tmp_path}/state.db?{query}")
    assert words in str(info.value)


async def test_sqlite_relative_path_is_relative_to_working_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = await open_store("sqlite://data/state.db")
    try:
        await store.put(b"k", b"v")
    finally:
        await store.close()
    assert (tmp_path / "data" / "state.db").is_file()


async def test_sqlite_absolute_path_creates_missing_directories(tmp_path) -> None:
    store = await open_store(f"sqlite://{tmp_path}/a/b/state.db")
    await store.close()
    assert (tmp_path / "a" / "b" / "state.db").is_file()


async def test_sqlite_in_memory_database() -> None:
    store = await open_store("sqlite://:memory:")
    try:
        await store.put(b"k", b"v")
        kv = await store.get(b"k")
        assert kv is not None and kv.value == b"v"
    finally:
        await store.close()
