"""Type stubs of the MVCC key-value kernel (``orchestra._ext.kvstore``, built from ``ext/kvstore.pyx``).

A key-value is ``(key, value, create_revision, mod_revision, version, lease)``.
``end`` arguments: ``b""`` the single key, ``b"\\0"`` every key from ``key`` on,
else the half-open interval ``[key, end)``.
"""

from typing import Iterable, Literal, Union

__all__ = ["MVCCStore", "PUT", "DELETE"]

KV = tuple[bytes, bytes, int, int, int, int]
RawEvent = tuple[int, KV, Union[KV, None]]
WriteOp = Union[tuple[Literal["put"], bytes, bytes, int], tuple[Literal["delete"], bytes, bytes]]

#: Event kind of a put.
PUT: int
#: Event kind of a delete.
DELETE: int

class MVCCStore:
    """An in-memory multi-version key-value store with etcd v3 revision semantics."""

    def __init__(self) -> None: ...
    @property
    def revision(self) -> int:
        """The current revision (0 when nothing was ever written)."""
    @property
    def compact_revision(self) -> int:
        """The revision of the last compaction (0 if never compacted)."""
    @property
    def pending_revision(self) -> int:
        """The revision of the open write group, or 0."""
    def __len__(self) -> int:
        """The number of live keys."""
    def get(self, key: bytes, /) -> bytes | None:
        """The latest value of ``key`` (the stored object itself), or ``None``."""
    def get_kv(self, key: bytes, revision: int = 0, /) -> KV | None:
        """The key-value of ``key`` at ``revision`` (0 = latest), or ``None``; ValueError if out of range."""
    def put(self, key: bytes, value: bytes, lease: int = 0, /) -> int:
        """Write ``value`` under ``key``; returns the write's revision (the group's inside a group)."""
    def delete_range(self, key: bytes, end: bytes = b"", /) -> tuple[int, list[KV]]:
        """Delete the live keys of ``[key, end)``: the revision after it and the deleted key-values."""
    def begin(self) -> int:
        """Open a write group; its changes share the returned revision. RuntimeError if one is open."""
    def commit(self) -> int:
        """Close the write group; returns the revision (advanced only if something changed)."""
    def write(self, ops: Iterable[WriteOp], /) -> int:
        """Apply ``("put", key, value, lease)`` / ``("delete", key, end)`` ops as one write group."""
    def load_base(self, compact_revision: int, kvs: Iterable[KV], /) -> None:
        """Load the key-values live at ``compact_revision`` (with their revisions and versions)
        into this empty kernel; revision and compact revision become ``compact_revision``."""
    def load_image(
        self,
        data: bytes,
        offset: int,
        base_count: int,
        change_count: int,
        compact_revision: int,
        revision: int,
        /,
    ) -> None:
        """Load a snapshot's encoded entries (``data[offset:]``, to its end) into this empty kernel:
        the base as :meth:`load_base`, the changes replayed; ValueError naming the entry and byte
        offset if they do not parse or replay to ``revision``."""
    def dump_image(self) -> tuple[int, int, int, int, bytes]:
        """``(revision, compact_revision, base_count, change_count, entries)``: the base (key-values
        live at the compact revision, in key order) then every logged change after it, encoded in
        the snapshot layout :meth:`load_image` reads. RuntimeError inside a write group."""
    def leased_keys(self) -> list[tuple[bytes, int]]:
        """``(key, lease)`` of every live key attached to a lease, in no particular order."""
    def range(
        self,
        key: bytes,
        end: bytes,
        revision: int = 0,
        limit: int = 0,
        keys_only: bool = False,
        count_only: bool = False,
        /,
    ) -> tuple[list[KV], int, bool]:
        """``(kvs, count, more)`` for ``[key, end)`` at ``revision`` (0 = latest), sorted by key."""
    def events(
        self,
        start_revision: int,
        key: bytes = b"\0",
        end: bytes = b"\0",
        limit: int = 0,
        prev_kv: bool = False,
        until_revision: int = 0,
        /,
    ) -> list[RawEvent]:
        """Logged changes of ``[key, end)`` from ``start_revision`` on: ``(kind, kv, prev_kv)``.

        ``limit`` stops at a revision boundary once reached; ``until_revision``
        stops before later revisions; ValueError at or below the compact revision.
        """
    def compact(self, revision: int, /) -> int:
        """Drop history before ``revision``, deleted keys and log entries up to it; returns versions freed."""
    def stats(self) -> dict[str, int]:
        """``keys``, ``records``, ``versions``, ``events``, ``slots``, ``bytes`` of keys and values
        held, and ``memory``: bytes taken by the kernel's structures and the objects they hold."""
