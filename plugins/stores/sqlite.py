"""The ``sqlite://`` store: etcd v3 semantics on one SQLite file, laid out as kine lays it out.

URL
    ``sqlite:///abs/path/state.db`` or ``sqlite://relative/path/state.db``: as with
    kine's ``--endpoint``, everything after ``sqlite://`` up to ``?`` is the file
    path (absolute when it starts with ``/``, else relative to the working
    directory); ``sqlite://:memory:`` keeps everything in memory. Missing parent
    directories are created. The query may set ``synchronous=normal|full``
    (default ``normal``) and ``poll_interval=<seconds>`` (default 0.2). A URL
    without a path, with an unknown query parameter, a path that is a directory,
    or a file that is not an Orchestra SQLite store raises
    :class:`~orchestra.store.InvalidStoreURLError`.

Schema
    kine's table ``kine``, one row per key change, with kine's five indexes::

        id INTEGER PRIMARY KEY AUTOINCREMENT, name, created, deleted,
        create_revision, prev_revision, lease, value, old_value

    ``id`` orders rows (it grows with every row and is never reused), ``name``
    is the key (a BLOB, compared bytewise), ``created``/``deleted`` flag the
    first row of a key's life and its tombstone, ``prev_revision`` is the
    ``id`` of the key's previous row (0 for none), ``value``/``old_value`` the
    new and previous value. The compact revision is kept as kine keeps it: a
    row named ``compact_rev_key`` (TEXT, so it never equals or falls inside a
    range of BLOB keys) whose ``prev_revision`` is the compact revision.
    Compaction deletes, as kine's does, every row that a row at or below the
    compact revision supersedes and every tombstone at or below it.

Where this diverges from kine, and why
    * kine makes ``id`` the revision, so a transaction that writes three keys
      advances the revision by three. etcd advances it once per transaction.
      Two columns are added: ``revision`` (the etcd mod revision; every row of
      one transaction carries the same one) and ``version`` (etcd's per-key
      version, which kine does not keep). For a write of one key ``id`` and
      ``revision`` move together as in kine; only multi-key transactions,
      range deletes and lease revocations put several rows on one revision.
      Two indexes serve them: ``kine_revision_index`` (watch catch-up, current
      revision) and a partial ``kine_lease_index`` (keys of a lease).
    * ``create_revision`` holds the revision the key was created at (kine's
      holds the creating row's ``id``, which is the same number there).
    * Leases live in a table ``kine_lease(id, ttl, expires_at)``; kine keeps
      them in memory. Deadlines are wall-clock times in the table, so every
      process sharing the file agrees on them; on open every lease is
      refreshed to its full TTL, as etcd does when a member becomes leader.
    * ``PRAGMA user_version`` marks the schema (1), so a kine database is
      refused instead of misread.

Pragmas are kine's: ``journal_mode=WAL``, ``synchronous=NORMAL`` (a commit
survives a crash of the process; a power loss may take the last
transactions; ``?synchronous=full`` trades write speed for that too) and a
30 s busy timeout.

Threads and processes
    One connection on one dedicated thread (a single-worker executor) does all
    SQL, so the event loop never blocks. Writes run in ``BEGIN IMMEDIATE``
    transactions that read the current revision inside the transaction, so
    several processes may share one file. Watches are fed by one poller task
    per store that reads rows with an ``id`` above the last one it saw, like
    kine's poll loop; local writes wake it at once and it also wakes every
    ``poll_interval`` to pick up other processes' writes and expire leases.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import os
import secrets
import sqlite3
import time
from typing import Any, Callable, Sequence, TypeVar
from urllib.parse import parse_qsl

from orchestra.hookspecs import hookimpl
from orchestra.store.base import Store, Watcher
from orchestra.store.checks import check_key, check_put, check_txn
from orchestra.store.errors import (
    CompactedError,
    CorruptionError,
    FutureRevisionError,
    InvalidStoreURLError,
    LeaseExistsError,
    LeaseNotFoundError,
    StoreClosedError,
    StoreError,
)
from orchestra.store.types import (
    ALL_KEYS_END,
    Compare,
    DeleteOp,
    DeleteResult,
    Event,
    KeyValue,
    Lease,
    LeaseStatus,
    Op,
    PutOp,
    PutResult,
    RangeOp,
    RangeResult,
    TxnResult,
    WatchResponse,
)

__all__ = [
    "SCHEME",
    "SCHEMA_VERSION",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_PROGRESS_INTERVAL",
    "SQLiteStore",
    "SQLiteWatcher",
    "parse_sqlite_url",
    "orchestra_store_open",
    "orchestra_store_schemes",
]

#: The URL scheme this plugin serves.
SCHEME = "sqlite"
#: ``PRAGMA user_version`` of a database this module wrote.
SCHEMA_VERSION = 1
#: Seconds between polls for other processes' writes and for expired leases.
DEFAULT_POLL_INTERVAL = 0.2
#: Seconds between progress notifications to an idle ``progress_notify`` watcher (etcd's default: 10 min).
DEFAULT_PROGRESS_INTERVAL = 600.0

_COMPACT_KEY = "compact_rev_key"
_BUSY_TIMEOUT_MS = 30000
_MAX_LEASE_TTL = 9_000_000_000
_CATCH_UP_ROWS = 1000
_SYNCHRONOUS = {"normal": "NORMAL", "full": "FULL"}

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS kine (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name INTEGER,
        created INTEGER,
        deleted INTEGER,
        create_revision INTEGER,
        prev_revision INTEGER,
        lease INTEGER,
        value BLOB,
        old_value BLOB,
        revision INTEGER NOT NULL,
        version INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS kine_name_index ON kine (name)",
    "CREATE INDEX IF NOT EXISTS kine_name_id_index ON kine (name, id)",
    "CREATE INDEX IF NOT EXISTS kine_id_deleted_index ON kine (id, deleted)",
    "CREATE INDEX IF NOT EXISTS kine_prev_revision_index ON kine (prev_revision)",
    "CREATE UNIQUE INDEX IF NOT EXISTS kine_name_prev_revision_uindex ON kine (name, prev_revision)",
    "CREATE INDEX IF NOT EXISTS kine_revision_index ON kine (revision)",
    "CREATE INDEX IF NOT EXISTS kine_lease_index ON kine (lease) WHERE lease != 0",
    """CREATE TABLE IF NOT EXISTS kine_lease (
        id INTEGER PRIMARY KEY,
        ttl INTEGER NOT NULL,
        expires_at REAL NOT NULL
    )""",
)

# Columns of a row as _row_kv and the watch dispatch read them.
_ROW = "k.id, k.name, k.created, k.deleted, k.create_revision, k.revision, k.version, k.lease, k.value"
_PREV = "p.name, p.deleted, p.create_revision, p.revision, p.version, p.lease, p.value"

T = TypeVar("T")


# --------------------------------------------------------------------------- URL


def parse_sqlite_url(url: str) -> tuple[str, dict[str, str]]:
    """``(path, options)`` of a ``sqlite://`` URL; see the module docstring for the form.

    Raises :class:`InvalidStoreURLError` naming what is wrong.
    """
    prefix = f"{SCHEME}://"
    if not url.lower().startswith(prefix):
        raise InvalidStoreURLError(url, f"a SQLite store URL starts with {prefix}")
    rest = url[len(prefix) :]
    path, _, query = rest.partition("?")
    if not path:
        raise InvalidStoreURLError(url, "no database path: use sqlite:///abs/path.db or sqlite://relative/path.db")
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - {"synchronous", "poll_interval"})
    if unknown:
        raise InvalidStoreURLError(url, f"unknown parameter(s) {', '.join(unknown)}; known: poll_interval, synchronous")
    if options.get("synchronous", "normal").lower() not in _SYNCHRONOUS:
        raise InvalidStoreURLError(url, "synchronous must be normal or full")
    try:
        interval = float(options.get("poll_interval", DEFAULT_POLL_INTERVAL))
    except ValueError:
        interval = -1.0
    if not interval > 0:
        raise InvalidStoreURLError(url, "poll_interval must be a positive number of seconds")
    return path, options


# --------------------------------------------------------------------------- key ranges


def _range_sql(key: bytes, range_end: bytes | None, column: str = "name") -> tuple[str, tuple]:
    """A WHERE fragment and its parameters for etcd's ``[key, range_end)``."""
    if range_end is None:
        return f"{column} = ?", (key,)
    if range_end == ALL_KEYS_END:
        return f"{column} >= ?", (key,)
    return f"{column} >= ? AND {column} < ?", (key, range_end)


def _in_range(name: bytes, key: bytes, range_end: bytes | None) -> bool:
    """Whether ``name`` falls in etcd's ``[key, range_end)``."""
    if range_end is None:
        return name == key
    if range_end == ALL_KEYS_END:
        return name >= key
    return key <= name < range_end


def _kv(row: Sequence[Any], keys_only: bool = False) -> KeyValue:
    """The KeyValue of a live row read with ``_ROW``'s columns."""
    _id, name, _created, _deleted, create_rev, rev, version, lease, value = row
    return KeyValue(bytes(name), b"" if keys_only or value is None else bytes(value), create_rev, rev, version, lease)


def _compare(actual: Any, op: str, operand: Any) -> bool:
    if op == "=":
        return actual == operand
    if op == "!=":
        return actual != operand
    if op == "<":
        return actual < operand
    if op == ">":
        return actual > operand
    raise StoreError(f"unknown compare operator {op!r}; expected one of =, !=, <, >")


_TARGETS = {"version": "version", "create": "create_revision", "mod": "mod_revision", "lease": "lease"}


def _compare_holds(c: Compare, kvs: list[KeyValue]) -> bool:
    """etcd's applyCompare: every key in range satisfies it; a value compare on no key fails."""
    if c.target == "value":
        return bool(kvs) and all(_compare(kv.value, c.op, c.operand) for kv in kvs)
    if c.target not in _TARGETS:
        raise StoreError(f"unknown compare target {c.target!r}; expected version, create, mod, value or lease")
    attr = _TARGETS[c.target]
    if not kvs:
        return _compare(0, c.op, c.operand)
    return all(_compare(getattr(kv, attr), c.op, c.operand) for kv in kvs)


# --------------------------------------------------------------------------- the database


class _Database:
    """Every SQL statement of the store; its methods run only on the store's worker thread."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # ---- revisions

    def revisions(self) -> tuple[int, int]:
        """``(current revision, compact revision)`` as the database has them now."""
        (top,) = self.conn.execute("SELECT MAX(revision) FROM kine").fetchone()
        compact = self.compact_revision()
        return max(top or 0, compact), compact

    def compact_revision(self) -> int:
        """The revision in the ``compact_rev_key`` record (0 before the first compaction)."""
        row = self.conn.execute("SELECT prev_revision FROM kine WHERE name = ?", (_COMPACT_KEY,)).fetchone()
        return row[0] if row else 0

    # ---- reads

    def latest_rows(self, key: bytes, range_end: bytes | None, revision: int, current: int, limit: int = 0):
        """Live rows (``_ROW`` columns) in range at ``revision``, by key; at most ``limit`` if > 0."""
        where, params = _range_sql(key, range_end)
        if revision >= current:
            inner = f"SELECT MAX(id) AS id FROM kine WHERE {where} GROUP BY name"
        else:
            inner = f"SELECT MAX(id) AS id FROM kine WHERE {where} AND revision <= ? GROUP BY name"
            params = (*params, revision)
        sql = f"SELECT {_ROW} FROM kine AS k JOIN ({inner}) AS m ON k.id = m.id WHERE k.deleted = 0 ORDER BY k.name"
        if limit > 0:
            sql += " LIMIT ?"
            params = (*params, limit)
        return self.conn.execute(sql, params).fetchall()

    def count(self, key: bytes, range_end: bytes | None, revision: int, current: int) -> int:
        """How many keys are live in range at ``revision``."""
        where, params = _range_sql(key, range_end)
        if revision >= current:
            inner = f"SELECT MAX(id) AS id FROM kine WHERE {where} GROUP BY name"
        else:
            inner = f"SELECT MAX(id) AS id FROM kine WHERE {where} AND revision <= ? GROUP BY name"
            params = (*params, revision)
        sql = f"SELECT COUNT(*) FROM kine AS k JOIN ({inner}) AS m ON k.id = m.id WHERE k.deleted = 0"
        return self.conn.execute(sql, params).fetchone()[0]

    def range(self, op: RangeOp, current: int, compact: int, read_revision: int) -> RangeResult:
        """A range at ``op.revision`` (0 = ``read_revision``); ``current`` is the response revision."""
        revision = op.revision or read_revision
        if op.revision > read_revision:
            raise FutureRevisionError(op.revision, read_revision)
        if op.revision and op.revision < compact:
            raise CompactedError(op.revision, compact)
        if op.count_only:
            return RangeResult([], self.count(op.key, op.range_end, revision, read_revision), False, current)
        rows = self.latest_rows(op.key, op.range_end, revision, read_revision, op.limit + 1 if op.limit > 0 else 0)
        kvs = [_kv(row, op.keys_only) for row in rows]
        more = False
        if op.limit > 0 and len(kvs) > op.limit:
            kvs = kvs[: op.limit]
            more = True
            count = self.count(op.key, op.range_end, revision, read_revision)
        else:
            count = len(kvs)
        return RangeResult(kvs, count, more, current)

    def read(self, op: RangeOp) -> RangeResult:
        """A range in its own read transaction, so current revision and rows agree."""
        self.conn.execute("BEGIN")
        try:
            current, compact = self.revisions()
            return self.range(op, current, compact, current)
        finally:
            self.conn.execute("COMMIT")

    # ---- writes (inside a write transaction)

    def last_row(self, key: bytes):
        """``(id, deleted, create_revision, revision, version, lease, value)`` of the key's newest row."""
        return self.conn.execute(
            "SELECT id, deleted, create_revision, revision, version, lease, value FROM kine"
            " WHERE name = ? ORDER BY id DESC LIMIT 1",
            (key,),
        ).fetchone()

    def check_lease(self, lease: int) -> None:
        """Raise LeaseNotFoundError unless ``lease`` is 0 or granted."""
        if lease and self.conn.execute("SELECT 1 FROM kine_lease WHERE id = ?", (lease,)).fetchone() is None:
            raise LeaseNotFoundError(lease)

    def insert_put(self, key: bytes, value: bytes, lease: int, revision: int) -> KeyValue | None:
        """Write a put row at ``revision``; the previous live KeyValue, if any."""
        prev = self.last_row(key)
        if prev is not None and not prev[1]:
            prev_id, _, create_rev, prev_rev, prev_version, prev_lease, prev_value = prev
            prev_kv = KeyValue(key, bytes(prev_value), create_rev, prev_rev, prev_version, prev_lease)
            created, version, old_value = 0, prev_version + 1, prev_value
        else:
            prev_id = prev[0] if prev is not None else 0
            prev_kv, create_rev, created, version, old_value = None, revision, 1, 1, None
        self.conn.execute(
            "INSERT INTO kine (name, created, deleted, create_revision, prev_revision, lease, value, old_value,"
            " revision, version) VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?)",
            (key, created, create_rev, prev_id, lease, value, old_value, revision, version),
        )
        return prev_kv

    def insert_deletes(self, key: bytes, range_end: bytes | None, revision: int) -> list[KeyValue]:
        """Write a tombstone at ``revision`` for every live key in range; their last KeyValues."""
        rows = self.latest_rows(key, range_end, revision, revision)
        self.conn.executemany(
            "INSERT INTO kine (name, created, deleted, create_revision, prev_revision, lease, value, old_value,"
            " revision, version) VALUES (?, 0, 1, ?, ?, ?, ?, ?, ?, 0)",
            [(row[1], row[4], row[0], row[7], row[8], row[8], revision) for row in rows],
        )
        return [_kv(row) for row in rows]

    # ---- transactions

    def txn(self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op]) -> TxnResult:
        """Evaluate ``compare`` and run one branch in one write transaction, at one revision."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            current, compact = self.revisions()
            succeeded = all(
                _compare_holds(c, [_kv(r) for r in self.latest_rows(c.key, c.range_end, current, current)])
                for c in compare
            )
            ops = success if succeeded else failure
            for op in ops:
                if isinstance(op, PutOp):
                    self.check_lease(op.lease)
            write_rev = current + 1
            wrote = False
            responses: list = []
            for op in ops:
                if isinstance(op, RangeOp):
                    read_rev = write_rev if wrote else current
                    responses.append(self.range(op, read_rev, compact, read_rev))
                elif isinstance(op, PutOp):
                    prev = self.insert_put(op.key, op.value, op.lease, write_rev)
                    wrote = True
                    responses.append(PutResult(write_rev, prev if op.prev_kv else None))
                elif isinstance(op, DeleteOp):
                    prevs = self.insert_deletes(op.key, op.range_end, write_rev)
                    wrote = wrote or bool(prevs)
                    responses.append(
                        DeleteResult(write_rev if wrote else current, len(prevs), prevs if op.prev_kv else [])
                    )
                else:
                    raise StoreError(f"unknown transaction operation {op!r}; expected RangeOp, PutOp or DeleteOp")
            # As in etcd, each result carries the revision the transaction had reached at that
            # operation: a delete that removed nothing before the first write reports the old one.
            revision = write_rev if wrote else current
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return TxnResult(succeeded, revision, responses)

    def compact(self, revision: int) -> None:
        """Compact at ``revision``: kine's deletion of superseded rows and tombstones."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            current, compact = self.revisions()
            if revision <= compact:
                raise CompactedError(revision, compact)
            if revision > current:
                raise FutureRevisionError(revision, current)
            self.conn.execute(
                "DELETE FROM kine WHERE id IN ("
                " SELECT kp.prev_revision FROM kine AS kp"
                "  WHERE kp.name != ? AND kp.prev_revision != 0 AND kp.revision <= ?"
                " UNION"
                " SELECT kd.id FROM kine AS kd WHERE kd.deleted != 0 AND kd.revision <= ?)",
                (_COMPACT_KEY, revision, revision),
            )
            updated = self.conn.execute(
                "UPDATE kine SET prev_revision = ? WHERE name = ?", (revision, _COMPACT_KEY)
            ).rowcount
            if not updated:
                self.conn.execute(
                    "INSERT INTO kine (name, created, deleted, create_revision, prev_revision, lease, value,"
                    " old_value, revision, version) VALUES (?, 0, 0, 0, ?, 0, NULL, NULL, 0, 0)",
                    (_COMPACT_KEY, revision),
                )
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # ---- leases

    def lease_grant(self, ttl: int, lease_id: int, now: float) -> Lease:
        """Record a lease (choosing a free random ID for 0) expiring ``ttl`` seconds after ``now``."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            if lease_id == 0:
                lease_id = secrets.randbits(62) + 1
                while self.conn.execute("SELECT 1 FROM kine_lease WHERE id = ?", (lease_id,)).fetchone():
                    lease_id = secrets.randbits(62) + 1
            elif self.conn.execute("SELECT 1 FROM kine_lease WHERE id = ?", (lease_id,)).fetchone():
                raise LeaseExistsError(lease_id)
            self.conn.execute(
                "INSERT INTO kine_lease (id, ttl, expires_at) VALUES (?, ?, ?)", (lease_id, ttl, now + ttl)
            )
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return Lease(lease_id, ttl)

    def lease_keepalive(self, lease_id: int, now: float) -> int:
        """Push the lease's deadline to ``now`` + its TTL; returns the TTL."""
        row = self.conn.execute("SELECT ttl FROM kine_lease WHERE id = ?", (lease_id,)).fetchone()
        if row is None:
            raise LeaseNotFoundError(lease_id)
        self.conn.execute("UPDATE kine_lease SET expires_at = ? WHERE id = ?", (now + row[0], lease_id))
        return row[0]

    def lease_keys(self, lease_id: int) -> list[bytes]:
        """Keys whose newest row is live and attached to the lease."""
        rows = self.conn.execute(
            "SELECT k.name FROM kine AS k WHERE k.lease = ? AND k.deleted = 0"
            " AND NOT EXISTS (SELECT 1 FROM kine AS n WHERE n.name = k.name AND n.id > k.id) ORDER BY k.name",
            (lease_id,),
        ).fetchall()
        return [bytes(r[0]) for r in rows]

    def lease_time_to_live(self, lease_id: int, keys: bool, now: float) -> LeaseStatus:
        """Remaining seconds (rounded up), granted TTL and, if asked, attached keys."""
        row = self.conn.execute("SELECT ttl, expires_at FROM kine_lease WHERE id = ?", (lease_id,)).fetchone()
        if row is None:
            raise LeaseNotFoundError(lease_id)
        ttl, expires_at = row
        remaining = max(0, min(ttl, math.ceil(expires_at - now)))
        return LeaseStatus(lease_id, remaining, ttl, self.lease_keys(lease_id) if keys else [])

    def lease_revoke(self, lease_id: int) -> int:
        """Delete the lease and its keys at one revision; the revision after it."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            if self.conn.execute("SELECT 1 FROM kine_lease WHERE id = ?", (lease_id,)).fetchone() is None:
                raise LeaseNotFoundError(lease_id)
            current, _ = self.revisions()
            keys = self.lease_keys(lease_id)
            for key in keys:
                self.insert_deletes(key, None, current + 1)
            self.conn.execute("DELETE FROM kine_lease WHERE id = ?", (lease_id,))
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return current + 1 if keys else current

    def expired_leases(self, now: float) -> list[int]:
        """IDs of leases whose deadline has passed."""
        return [r[0] for r in self.conn.execute("SELECT id FROM kine_lease WHERE expires_at <= ?", (now,))]

    def refresh_leases(self, now: float) -> None:
        """Give every lease its full TTL again from ``now`` (done at open, as etcd does on leader change)."""
        self.conn.execute("UPDATE kine_lease SET expires_at = ? + ttl", (now,))

    # ---- watch feed

    def rows_after(self, after_id: int, with_prev: bool, limit: int = _CATCH_UP_ROWS):
        """Rows with ``id`` above ``after_id`` (ending on a whole revision), each with its previous row."""
        prev_cols = _PREV if with_prev else "NULL, NULL, NULL, NULL, NULL, NULL, NULL"
        join = "LEFT JOIN kine AS p ON p.id = k.prev_revision" if with_prev else ""
        sql = f"SELECT {_ROW}, {prev_cols} FROM kine AS k {join} WHERE k.id > ? AND k.revision > 0"
        rows = self.conn.execute(sql + " ORDER BY k.id LIMIT ?", (after_id, limit)).fetchall()
        if len(rows) == limit:
            last_id, last_rev = rows[-1][0], rows[-1][5]
            rows += self.conn.execute(sql + " AND k.revision = ? ORDER BY k.id", (last_id, last_rev)).fetchall()
        return rows

    def first_id_at(self, revision: int) -> int:
        """The ``id`` just below the first row at or after ``revision``."""
        (first,) = self.conn.execute("SELECT MIN(id) FROM kine WHERE revision >= ?", (revision,)).fetchone()
        return (first - 1) if first is not None else self.max_id()

    def max_id(self) -> int:
        """The highest row ``id`` of a key change (0 for none)."""
        (top,) = self.conn.execute("SELECT MAX(id) FROM kine WHERE revision > 0").fetchone()
        return top or 0


def _open_database(path: str, url: str, synchronous: str) -> sqlite3.Connection:
    """Open (creating if needed) the database at ``path`` and bring its schema up."""
    if path != ":memory:":
        if os.path.isdir(path):
            raise InvalidStoreURLError(url, f"{path} is a directory; the URL names the database file")
        parent = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise InvalidStoreURLError(url, f"cannot create directory {parent}: {exc.strerror}") from None
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise InvalidStoreURLError(url, f"cannot open {path}: {exc}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        has_table = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kine'").fetchone()
        if has_table and version != SCHEMA_VERSION:
            raise InvalidStoreURLError(
                url, f"{path} holds a kine table of another layout (user_version {version}, expected {SCHEMA_VERSION})"
            )
        conn.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        conn.close()
        if "not a database" in str(exc):
            raise CorruptionError(path, 0, "the file is not an SQLite database") from None
        raise InvalidStoreURLError(url, f"cannot use {path}: {exc}") from None
    except BaseException:
        conn.close()
        raise
    return conn


# --------------------------------------------------------------------------- watchers


class SQLiteWatcher(Watcher):
    """A watch on a :class:`SQLiteStore`, fed by the store's poller."""

    def __init__(
        self,
        store: "SQLiteStore",
        key: bytes,
        range_end: bytes | None,
        start_revision: int,
        prev_kv: bool,
        progress_notify: bool,
    ) -> None:
        self._store = store
        self.key = key
        self.range_end = range_end
        self.prev_kv = prev_kv
        self.progress_notify = progress_notify
        #: Events below this revision are not for this watcher.
        self.min_revision = start_revision
        #: True once the watcher needs only live rows (it has caught up with history).
        self.synced = False
        self.progress_requested = False
        self.last_sent = time.monotonic()
        self._queue: asyncio.Queue[WatchResponse | BaseException | None] = asyncio.Queue()
        self._done = False

    def matches(self, name: bytes) -> bool:
        """Whether a change to ``name`` concerns this watcher."""
        return _in_range(name, self.key, self.range_end)

    def deliver(self, response: WatchResponse) -> None:
        """Queue a response for the consumer."""
        if not self._done:
            self.last_sent = time.monotonic()
            self._queue.put_nowait(response)

    def fail(self, error: BaseException) -> None:
        """End the watch with ``error`` after what is already queued."""
        if not self._done:
            self._done = True
            self._queue.put_nowait(error)
            self._store._watchers.discard(self)

    async def __anext__(self) -> WatchResponse:
        """The next batch of events or progress notification."""
        item = await self._queue.get()
        if item is None:
            self._queue.put_nowait(None)
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            self._queue.put_nowait(None)
            raise item
        return item

    async def cancel(self) -> None:
        """Stop the watch; iteration ends after it. Idempotent."""
        if not self._done:
            self._done = True
            self._store._watchers.discard(self)
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(None)

    async def request_progress(self) -> None:
        """Ask for a progress notification carrying the current revision, after every earlier event."""
        if self._done:
            return
        self.progress_requested = True
        self._store._wake()


# --------------------------------------------------------------------------- the store


class SQLiteStore(Store):
    """The ``sqlite://`` backend; open it with :meth:`open` (or ``orchestra.store.open_store``)."""

    def __init__(self, url: str, path: str, synchronous: str, poll_interval: float) -> None:
        self.url = url
        self.path = path
        self.synchronous = synchronous
        self.poll_interval = poll_interval
        self.progress_interval = DEFAULT_PROGRESS_INTERVAL
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._db: _Database | None = None
        self._closed = False
        self._watchers: set[SQLiteWatcher] = set()
        self._known_revision = 0
        self._dispatched_revision = 0
        self._last_id = 0
        self._wakeup: asyncio.Event | None = None
        self._poller: asyncio.Task | None = None
        self._next_lease_check = 0.0

    @classmethod
    async def open(cls, url: str) -> "SQLiteStore":
        """Open the database a ``sqlite://`` URL names and start the watch/lease poller."""
        path, options = parse_sqlite_url(url)
        store = cls(
            url,
            path,
            _SYNCHRONOUS[options.get("synchronous", "normal").lower()],
            float(options.get("poll_interval", DEFAULT_POLL_INTERVAL)),
        )
        store._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="orchestra-sqlite")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(store._executor, _open_database, path, url, store.synchronous)
        except BaseException:
            store._executor.shutdown(wait=False)
            raise
        store._db = _Database(conn)
        await store._run(store._db.refresh_leases, time.time())
        store._known_revision, _ = await store._run(store._db.revisions)
        store._dispatched_revision = store._known_revision
        store._last_id = await store._run(store._db.max_id)
        store._wakeup = asyncio.Event()
        store._poller = asyncio.create_task(store._poll_loop(), name=f"sqlite-store-poller {path}")
        return store

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed or self._executor is None:
            raise StoreClosedError()
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    def _wrote(self, revision: int) -> None:
        self._known_revision = max(self._known_revision, revision)
        self._wake()

    # ---- KV

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
        """Key-values in ``[key, range_end)`` at ``revision``, sorted by key."""
        check_key(key)
        return await self._run(self._db.read, RangeOp(key, range_end, limit, revision, keys_only, count_only))

    async def put(self, key: bytes, value: bytes, *, lease: int = 0, prev_kv: bool = False) -> PutResult:
        """Write ``value`` under ``key`` (one revision)."""
        check_put(key, value)
        result = await self._run(self._db.txn, (), (PutOp(key, value, lease, prev_kv),), ())
        self._wrote(result.revision)
        return result.responses[0]

    async def delete_range(
        self, key: bytes, range_end: bytes | None = None, *, prev_kv: bool = False
    ) -> DeleteResult:
        """Delete the keys in ``[key, range_end)`` (one revision if any went)."""
        check_key(key)
        result = await self._run(self._db.txn, (), (DeleteOp(key, range_end, prev_kv),), ())
        self._wrote(result.revision)
        return result.responses[0]

    async def txn(
        self,
        compare: Sequence[Compare],
        success: Sequence[Op] = (),
        failure: Sequence[Op] = (),
    ) -> TxnResult:
        """Compare, then run one branch atomically at one revision."""
        check_txn(compare, success, failure)
        result = await self._run(self._db.txn, tuple(compare), tuple(success), tuple(failure))
        self._wrote(result.revision)
        return result

    async def compact(self, revision: int) -> None:
        """Drop history older than ``revision``."""
        await self._run(self._db.compact, revision)

    async def current_revision(self) -> int:
        """The store's current revision."""
        current, _ = await self._run(self._db.revisions)
        return current

    # ---- watch

    def watch(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        start_revision: int = 0,
        prev_kv: bool = False,
        progress_notify: bool = False,
    ) -> SQLiteWatcher:
        """Watch ``[key, range_end)`` from ``start_revision`` (inclusive; 0 = from now)."""
        if self._closed:
            raise StoreClosedError()
        check_key(key)
        watcher = SQLiteWatcher(self, key, range_end, start_revision, prev_kv, progress_notify)
        if start_revision <= 0 or start_revision > self._known_revision:
            watcher.min_revision = max(start_revision, self._known_revision + 1)
            watcher.synced = True
        self._watchers.add(watcher)
        self._wake()
        return watcher

    async def _poll_loop(self) -> None:
        assert self._wakeup is not None
        while not self._closed:
            try:
                async with asyncio.timeout(self.poll_interval):
                    await self._wakeup.wait()
            except TimeoutError:
                pass
            self._wakeup.clear()
            try:
                await self._expire_leases()
                await self._catch_up()
                await self._dispatch_new_rows()
                self._send_progress()
            except StoreClosedError:
                return
            except Exception as exc:  # a broken database ends every watch with the reason
                for watcher in list(self._watchers):
                    watcher.fail(exc if isinstance(exc, StoreError) else StoreError(f"sqlite store {self.path}: {exc}"))

    async def _expire_leases(self) -> None:
        # Checked on the poll clock, not on every wake-up by a local write.
        if time.monotonic() < self._next_lease_check:
            return
        self._next_lease_check = time.monotonic() + self.poll_interval
        for lease_id in await self._run(self._db.expired_leases, time.time()):
            try:
                self._wrote(await self._run(self._db.lease_revoke, lease_id))
            except LeaseNotFoundError:
                pass  # revoked meanwhile

    async def _catch_up(self) -> None:
        """Send history to watchers that start in the past, up to the rows already dispatched."""
        for watcher in [w for w in self._watchers if not w.synced]:
            current, compact = await self._run(self._db.revisions)
            if watcher.min_revision < compact:
                watcher.fail(CompactedError(watcher.min_revision, compact))
                continue
            after = await self._run(self._db.first_id_at, watcher.min_revision)
            while after < self._last_id:
                rows = await self._run(self._db.rows_after, after, watcher.prev_kv)
                rows = [r for r in rows if r[0] <= self._last_id]
                if not rows:
                    break
                self._send(watcher, rows)
                after = rows[-1][0]
            watcher.synced = True

    async def _dispatch_new_rows(self) -> None:
        with_prev = any(w.prev_kv for w in self._watchers)
        while True:
            rows = await self._run(self._db.rows_after, self._last_id, with_prev)
            if not rows:
                return
            self._last_id = rows[-1][0]
            self._dispatched_revision = rows[-1][5]
            self._known_revision = max(self._known_revision, rows[-1][5])
            for watcher in [w for w in self._watchers if w.synced]:
                self._send(watcher, rows)
            if len(rows) < _CATCH_UP_ROWS:
                return

    def _send(self, watcher: SQLiteWatcher, rows: list) -> None:
        events = []
        for row in rows:
            name, revision = bytes(row[1]), row[5]
            if revision < watcher.min_revision or not watcher.matches(name):
                continue
            prev = None
            if watcher.prev_kv and row[9] is not None and not row[10]:
                prev = KeyValue(name, bytes(row[15] or b""), row[11], row[12], row[13], row[14])
            if row[3]:
                events.append(Event("DELETE", KeyValue(name, b"", 0, revision, 0, 0), prev))
            else:
                events.append(Event("PUT", _kv(row[:9]), prev))
        if events:
            watcher.deliver(WatchResponse(events[-1].kv.mod_revision, events))

    def _send_progress(self) -> None:
        now = time.monotonic()
        for watcher in list(self._watchers):
            if not watcher.synced:
                continue
            due = watcher.progress_notify and now - watcher.last_sent >= self.progress_interval
            if watcher.progress_requested or due:
                watcher.progress_requested = False
                watcher.deliver(WatchResponse(self._dispatched_revision, [], progress=True))

    # ---- leases

    async def lease_grant(self, ttl: int, lease_id: int = 0) -> Lease:
        """Grant a lease of ``ttl`` seconds (at least 1)."""
        if lease_id < 0:
            raise StoreError(f"lease ID must not be negative, got {lease_id}")
        if ttl > _MAX_LEASE_TTL:
            raise StoreError(f"lease TTL {ttl} is larger than the maximum {_MAX_LEASE_TTL}")
        return await self._run(self._db.lease_grant, max(1, ttl), lease_id, time.time())

    async def lease_keepalive(self, lease_id: int) -> int:
        """Renew a lease to its granted TTL; returns that TTL."""
        return await self._run(self._db.lease_keepalive, lease_id, time.time())

    async def lease_revoke(self, lease_id: int) -> None:
        """Revoke a lease and delete its keys at one revision."""
        self._wrote(await self._run(self._db.lease_revoke, lease_id))

    async def lease_time_to_live(self, lease_id: int, *, keys: bool = False) -> LeaseStatus:
        """Remaining and granted TTL of a lease, and its keys if asked."""
        return await self._run(self._db.lease_time_to_live, lease_id, keys, time.time())

    # ---- lifecycle

    async def close(self) -> None:
        """Stop the poller, end every watch, checkpoint the WAL and close the database. Idempotent."""
        if self._closed:
            return
        self._closed = True  # from here every other call, the poller's included, raises StoreClosedError
        if self._poller is not None:
            self._poller.cancel()
            try:
                await self._poller
            except (asyncio.CancelledError, Exception):
                pass
        for watcher in list(self._watchers):
            watcher.fail(StoreClosedError())
        executor, self._executor = self._executor, None
        if executor is not None and self._db is not None:
            conn = self._db.conn
            await asyncio.get_running_loop().run_in_executor(executor, _checkpoint_and_close, conn)
            executor.shutdown(wait=False)


def _checkpoint_and_close(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


# --------------------------------------------------------------------------- hooks


@hookimpl
def orchestra_store_open(url: str, scheme: str) -> Any:
    """Open ``sqlite://`` URLs (an awaitable :class:`SQLiteStore`)."""
    if scheme != SCHEME:
        return None
    return SQLiteStore.open(url)


@hookimpl
def orchestra_store_schemes() -> list[str]:
    """This plugin opens ``sqlite://``."""
    return [SCHEME]
