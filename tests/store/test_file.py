"""The file:// plugin: URL parsing, directory locking, opening and reopening."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from orchestra.plugins.stores import file as file_plugin
from orchestra.plugins.stores.dirlock import LOCK_FILE
from orchestra.plugins.stores.embedded import EmbeddedStore
from orchestra.plugins.stores.journal import JournalSettings
from orchestra.store import open_store, store_schemes
from orchestra.store.errors import CorruptionError, InvalidStoreURLError, StoreLockedError


# ---------------------------------------------------------------- URLs


def test_plain_url_gives_the_directory_and_default_settings():
    config = file_plugin.parse_file_url("file:///var/lib/orchestra/store")
    assert config.path == "/var/lib/orchestra/store"
    assert config.settings == JournalSettings()


def test_localhost_host_and_percent_escapes_are_accepted():
    config = file_plugin.parse_file_url("file://localhost/data/my%20store/")
    assert config.path == "/data/my store"


def test_query_parameters_set_the_journal():
    config = file_plugin.parse_file_url("file:///d?snapshot_every=5&snapshot_bytes=0&segment_bytes=8192")
    assert config.settings == JournalSettings(snapshot_every=5, snapshot_bytes=0, segment_bytes=8192)


@pytest.mark.parametrize(
    "url, message",
    [
        ("file://relative/dir", "host part must be empty"),
        ("file://", "data directory path is required"),
        ("file:///", "data directory path is required"),
        ("file:///d?snapshot_everyy=3", "unknown parameter 'snapshot_everyy'"),
        ("file:///d?snapshot_every=lots", "must be an integer"),
        ("file:///d?snapshot_every=-1", "must not be negative"),
        ("file:///d?snapshot_every=1&snapshot_every=2", "given twice"),
        ("file:///d?segment_bytes=10", "at least 4096"),
        ("file:///d#frag", "no fragment"),
        ("memory://", "scheme must be file"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(url, message):
    with pytest.raises(InvalidStoreURLError, match=message) as info:
        file_plugin.parse_file_url(url)
    assert info.value.url == url


async def test_open_store_refuses_a_bad_url_before_touching_the_disk(tmp_path):
    with pytest.raises(InvalidStoreURLError, match="unknown parameter"):
        await open_store(f"file://{tmp_path}/new?nope=1")
    assert not (tmp_path / "new").exists()


async def test_a_path_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "plain"
    target.write_text("not a directory")
    with pytest.raises(InvalidStoreURLError, match="is not a directory") as info:
        await open_store(f"file://{target}")
    assert str(target) in str(info.value)


def test_file_scheme_is_registered():
    assert "file" in store_schemes()


# ---------------------------------------------------------------- opening and locking


async def test_open_creates_the_directory_and_locks_it(tmp_path):
    directory = tmp_path / "a" / "b"
    store = await open_store(f"file://{directory}")
    try:
        assert isinstance(store, EmbeddedStore)
        holder = (directory / LOCK_FILE).read_text()
        assert f"pid {os.getpid()}" in holder
        with pytest.raises(StoreLockedError) as info:
            await open_store(f"file://{directory}")
        assert info.value.path == str(directory)
        assert f"pid {os.getpid()}" in info.value.holder
    finally:
        await store.close()
    reopened = await open_store(f"file://{directory}")
    await reopened.close()


async def test_a_second_process_is_told_who_holds_the_directory(tmp_path):
    store = await open_store(f"file://{tmp_path}")
    try:
        script = textwrap.dedent(
            f"""
            import asyncio
            from orchestra.store import open_store
            from orchestra.store.errors import StoreLockedError
            try:
                asyncio.run(open_store("file://{tmp_path}"))
            except StoreLockedError as exc:
                print("LOCKED", exc.holder)
            else:
                print("OPENED")
            """
        )
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("LOCKED"), result.stdout + result.stderr
        assert f"pid {os.getpid()}" in result.stdout
    finally:
        await store.close()


async def test_data_survives_close_and_reopen(tmp_path):
    url = f"file://{tmp_path}"
    store = await open_store(url)
    await store.put(b"/a", b"1")
    await store.put(b"/a", b"2")
    await store.put(b"/b", b"3")
    await store.close()
    store = await open_store(url)
    try:
        a = await store.get(b"/a")
        assert (a.value, a.create_revision, a.mod_revision, a.version) == (b"2", 1, 2, 2)
        assert await store.current_revision() == 3
        result = await store.put(b"/c", b"4")
        assert result.revision == 4
    finally:
        await store.close()


async def test_failed_recovery_releases_the_lock(tmp_path):
    (tmp_path / "00000000000000000005.wal").write_bytes(b"ORCHWAL1" + (5).to_bytes(8, "little"))
    with pytest.raises(CorruptionError, match="missing"):
        await open_store(f"file://{tmp_path}")
    with pytest.raises(CorruptionError, match="missing"):  # not StoreLockedError: the lock was released
        await open_store(f"file://{tmp_path}")
