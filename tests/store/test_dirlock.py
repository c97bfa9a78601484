"""The data-directory lock: exclusive, names its holder, released on close."""

from __future__ import annotations

import os

import pytest

from orchestra.plugins.stores.dirlock import LOCK_FILE, lock_directory
from orchestra.store.errors import StoreLockedError


def test_lock_records_the_holder_and_excludes_a_second_locker(tmp_path):
    lock = lock_directory(str(tmp_path))
    try:
        assert lock.held
        text = (tmp_path / LOCK_FILE).read_text()
        assert text.startswith(f"pid {os.getpid()}: ")
        with pytest.raises(StoreLockedError) as info:
            lock_directory(str(tmp_path))
        assert info.value.holder == text.strip()
        assert str(tmp_path) in str(info.value)
    finally:
        lock.release()
    assert not lock.held
    lock.release()  # idempotent
    again = lock_directory(str(tmp_path))
    again.release()


def test_a_stale_lock_file_without_a_holder_does_not_block(tmp_path):
    (tmp_path / LOCK_FILE).write_text("pid 999999999: a process that died\n")
    lock = lock_directory(str(tmp_path))
    try:
        assert f"pid {os.getpid()}" in (tmp_path / LOCK_FILE).read_text()
    finally:
        lock.release()
