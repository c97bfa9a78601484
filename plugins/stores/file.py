"""The ``file:///abs/dir`` store backend: the embedded store made durable by a write-ahead log.

``open_store("file:///var/lib/orchestra/store")`` creates the directory if
needed, locks it against other processes (:mod:`.dirlock`), rebuilds the state
from the newest snapshot and the log after it (:mod:`.recovery`), and serves it
with :class:`~orchestra.plugins.stores.embedded.EmbeddedStore`, whose every
change goes through a group-committed :class:`~orchestra.plugins.stores.journal.Journal`:
a write is acknowledged only once it is on disk. ``close()`` flushes and
releases the lock.

URL query parameters (all optional, non-negative integers):

``snapshot_every``
    log records between snapshots (default 100000; 0: no count trigger).
``snapshot_bytes``
    log bytes between snapshots (default 256 MiB; 0: no size trigger).
``segment_bytes``
    size at which a log segment file is closed and a new one begun
    (default 64 MiB, at least 4096).

For example ``file:///data/store?snapshot_every=10000&segment_bytes=16777216``.
The host part must be empty or ``localhost`` and the path absolute.

Files in the directory: ``LOCK`` (holder's pid and command line),
``<lsn>.wal`` log segments (:mod:`.wal`), ``<lsn>.snap`` the newest snapshot
(:mod:`.snapshot`, made of a kernel image, :mod:`.kernel_image`). Taking a
snapshot has the kernel encode its state on the event loop (about half a
second per million stored versions of 256 bytes, mostly copying); writing it
happens in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs

from orchestra.hookspecs import hookimpl
from orchestra.plugins.stores import kernel_image
from orchestra.plugins.stores.dirlock import lock_directory
from orchestra.plugins.stores.embedded import EmbeddedStore
from orchestra.plugins.stores.journal import Journal, JournalSettings
from orchestra.plugins.stores.recovery import recover
from orchestra.plugins.stores.wal import fsync_directory
from orchestra.store.errors import InvalidStoreURLError, StoreUnavailableError

__all__ = [
    "SCHEME",
    "FileStoreConfig",
    "parse_file_url",
    "open_file_store",
    "orchestra_store_open",
    "orchestra_store_schemes",
]

SCHEME = "file"
_MIN_SEGMENT_BYTES = 4096
_PARAMETERS = tuple(f.name for f in attrs.fields(JournalSettings))


@attrs.frozen(slots=True)
class FileStoreConfig:
    """A parsed ``file://`` URL: the data directory and the journal settings."""

    path: str
    settings: JournalSettings


def parse_file_url(url: str) -> FileStoreConfig:
    """Parse and check a ``file:///abs/dir?param=value`` URL; :class:`InvalidStoreURLError` if bad."""
    parts = urlsplit(url)
    if parts.scheme.lower() != SCHEME:
        raise InvalidStoreURLError(url, f"the scheme must be {SCHEME}://")
    if parts.netloc not in ("", "localhost"):
        raise InvalidStoreURLError(
            url,
            f"the host part must be empty (file:///abs/dir), got {parts.netloc!r}; "
            "a relative path is not allowed",
        )
    path = unquote(parts.path)
    if not path or path == "/":
        raise InvalidStoreURLError(url, "a data directory path is required, e.g. file:///var/lib/orchestra/store")
    if not path.startswith("/"):
        raise InvalidStoreURLError(url, "the data directory path must be absolute")
    if parts.fragment:
        raise InvalidStoreURLError(url, "a file:// URL takes no fragment")
    values: dict[str, int] = {}
    for name, raw in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if name not in _PARAMETERS:
            raise InvalidStoreURLError(url, f"unknown parameter {name!r}; known: {', '.join(_PARAMETERS)}")
        if name in values:
            raise InvalidStoreURLError(url, f"parameter {name!r} is given twice")
        try:
            value = int(raw)
        except ValueError:
            raise InvalidStoreURLError(url, f"parameter {name!r} must be an integer, got {raw!r}") from None
        if value < 0:
            raise InvalidStoreURLError(url, f"parameter {name!r} must not be negative, got {value}")
        values[name] = value
    if values.get("segment_bytes", _MIN_SEGMENT_BYTES) < _MIN_SEGMENT_BYTES:
        raise InvalidStoreURLError(url, f"parameter 'segment_bytes' must be at least {_MIN_SEGMENT_BYTES}")
    return FileStoreConfig(os.path.normpath(path), JournalSettings(**values))


async def open_file_store(url: str) -> EmbeddedStore:
    """Open (creating if needed), lock and recover the store of a ``file://`` URL."""
    config = parse_file_url(url)
    if os.path.exists(config.path) and not os.path.isdir(config.path):
        raise InvalidStoreURLError(url, f"{config.path} exists and is not a directory")
    try:
        if not os.path.isdir(config.path):
            os.makedirs(config.path, exist_ok=True)
            fsync_directory(os.path.dirname(config.path))  # the new directory's own entry
    except OSError as exc:
        raise StoreUnavailableError(f"cannot create the data directory {config.path}: {exc.strerror}") from exc
    lock = lock_directory(config.path)
    try:
        recovered = await asyncio.to_thread(recover, config.path)
        core = recovered.core
        journal = Journal(
            config.path,
            recovered.next_lsn,
            capture=lambda: kernel_image.capture(core),
            leases=recovered.leases,
            settings=config.settings,
            on_close=lock.release,
        )
        return EmbeddedStore(url, core, journal=journal, leases=recovered.leases)
    except BaseException:
        lock.release()
        raise


@hookimpl
def orchestra_store_open(url: str, scheme: str):
    """Open a ``file://`` URL (an awaitable :class:`EmbeddedStore`); ``None`` for other schemes."""
    if scheme != SCHEME:
        return None
    parse_file_url(url)
    return open_file_store(url)


@hookimpl
def orchestra_store_schemes() -> list[str]:
    """The one scheme this plugin serves: ``file``."""
    return [SCHEME]
