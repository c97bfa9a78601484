# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The MVCC key-value kernel: etcd v3 revision semantics over C++ containers.

Layout:

* one 64-byte ``KeyRecord`` per key, carved from 64 KiB arena blocks (freed
  records are reused): the latest version inline, older versions (tombstones
  included; each deletion ends a generation) in a malloc'd array, oldest first;
* a hash index, open addressing with linear probing over ``Slot`` (Python's
  cached bytes hash, record pointer), for point reads and writes: a ``get`` of
  a key object hashed before costs one probe and no hashing;
* an ordered index for ranges, write-optimised: a large sorted vector of
  records, a small sorted delta, and the unsorted records created since the
  last range. The first ordered read after creations sorts the new records
  into the delta; the delta goes into the large vector (a binary search per
  record, block copies in between) once it outgrows 1/64 of it. Creating a
  key never pays for a tree insert, and ranges walk the two sorted vectors
  together;
* a revision-ordered event log (``std::deque<LogEntry>``) for watch catch-up.

Values are the caller's bytes objects, held by reference: a write copies
nothing and a read returns the very object that was written. ``compact``
drops superseded versions, keys whose last version is a deletion, and log
entries, and releases their memory.

A write is either one call (``put``, ``delete_range``) that makes its own
revision, or a group opened by ``begin()`` and closed by ``commit()`` whose
changes all share one revision; reads at revision 0 inside the group see its
earlier changes. A write that changes nothing does not advance the revision.
The kernel knows nothing of asyncio or of the API's objects: it takes and
returns bytes, ints and tuples. A key-value is the tuple
``(key, value, create_revision, mod_revision, version, lease)``.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyObject, PyObject_Hash
from cpython.ref cimport Py_INCREF, Py_XDECREF, Py_XINCREF
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcmp, memcpy, memmove
from libcpp.algorithm cimport sort
from libcpp.string_view cimport string_view
from libcpp.vector cimport vector

include "kvstore.pxd"

__all__ = ["MVCCStore", "PUT", "DELETE"]

#: Event kind of a put in :meth:`MVCCStore.events`.
PUT = 0
#: Event kind of a delete in :meth:`MVCCStore.events`.
DELETE = 1

cdef extern from "Python.h":
    ctypedef struct PyBytesObject:
        pass
    char* _bytes_data "PyBytes_AS_STRING"(PyObject*) nogil
    Py_ssize_t _bytes_size "PyBytes_GET_SIZE"(PyObject*) nogil

cdef extern from *:
    """
    #if defined(__GLIBC__)
    #include <malloc.h>
    static void orchestra_release_free_memory(void) { malloc_trim(0); }
    #else
    static void orchestra_release_free_memory(void) {}
    #endif
    """
    # Hand free heap pages back to the system (glibc keeps them otherwise).
    void orchestra_release_free_memory() nogil

cdef bytes _EMPTY = b""
cdef size_t _MIN_SLOTS = 16
#: Records per arena block (64 KiB).
cdef size_t _BLOCK_RECORDS = 1024


cdef inline string_view _view(bytes b) noexcept:
    return string_view(PyBytes_AS_STRING(b), <size_t>PyBytes_GET_SIZE(b))


cdef inline string_view _view_p(PyObject* b) noexcept nogil:
    return string_view(_bytes_data(b), <size_t>_bytes_size(b))


cdef bint _record_less(KeyRecord* a, KeyRecord* b) noexcept nogil:
    return _view_p(a.key) < _view_p(b.key)


cdef inline tuple _kv(PyObject* key, const Version* v, bint keys_only):
    return (
        <object>key,
        _EMPTY if keys_only or v.value == NULL else <object>v.value,
        v.create_revision,
        v.mod_revision,
        v.version,
        v.lease,
    )


cdef inline Version* _at(KeyRecord* rec, int64_t revision) noexcept:
    """The version of ``rec`` current at ``revision`` (> 0), tombstones included; NULL if none."""
    if rec.latest.mod_revision <= revision:
        return &rec.latest
    cdef size_t lo = 0
    cdef size_t hi = rec.history_size
    cdef size_t mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if rec.history[mid].mod_revision <= revision:
            lo = mid + 1
        else:
            hi = mid
    if lo == 0:
        return NULL
    return rec.history + (lo - 1)


cdef inline Version* _visible(KeyRecord* rec, int64_t revision) noexcept:
    """The live version of ``rec`` at ``revision`` (0 = latest), or NULL if absent or deleted."""
    cdef Version* v = &rec.latest if revision <= 0 else _at(rec, revision)
    if v == NULL or v.version == 0:
        return NULL
    return v


cdef inline void _release(Version* v) noexcept:
    Py_XDECREF(v.value)
    v.value = NULL


cdef int _history_push(KeyRecord* rec, const Version* v) except -1:
    cdef uint32_t capacity
    cdef Version* grown
    if rec.history_size == rec.history_capacity:
        capacity = rec.history_capacity * 2 if rec.history_capacity else 1
        grown = <Version*>realloc(rec.history, capacity * sizeof(Version))
        if grown == NULL:
            raise MemoryError()
        rec.history = grown
        rec.history_capacity = capacity
    rec.history[rec.history_size] = v[0]
    rec.history_size += 1
    return 0


cdef void _history_drop(KeyRecord* rec, uint32_t count) noexcept:
    """Release the ``count`` oldest versions of ``rec`` and give back spare capacity."""
    cdef uint32_t i
    cdef Version* shrunk
    for i in range(count):
        _release(&rec.history[i])
    rec.history_size -= count
    if rec.history_size == 0:
        free(rec.history)
        rec.history = NULL
        rec.history_capacity = 0
        return
    memmove(rec.history, rec.history + count, rec.history_size * sizeof(Version))
    if rec.history_size * 2 <= rec.history_capacity:
        shrunk = <Version*>realloc(rec.history, rec.history_size * sizeof(Version))
        if shrunk != NULL:
            rec.history = shrunk
            rec.history_capacity = rec.history_size


cdef inline size_t _object_size(PyObject* b) noexcept:
    """Allocated size of a bytes object: header and data, rounded to the allocator's 16 bytes."""
    return (<size_t>sizeof(PyBytesObject) + <size_t>_bytes_size(b) + 15) & ~(<size_t>15)


cdef void _clear_record(KeyRecord* rec) noexcept:
    """Release everything ``rec`` holds (it goes back to the arena afterwards)."""
    _release(&rec.latest)
    _history_drop(rec, rec.history_size)
    Py_XDECREF(rec.key)
    rec.key = NULL


cdef inline int _end_kind(bytes end) noexcept:
    """0: the single key; 1: every key from the start on (``b"\\0"``); 2: up to ``end``."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(end)
    if n == 0:
        return 0
    if n == 1 and PyBytes_AS_STRING(end)[0] == 0:
        return 1
    return 2


cdef size_t _DELTA_MIN = 4096


cdef struct Cursor:
    # Walks the sorted vector and the delta together, in key order.
    KeyRecord** a
    size_t n_a
    size_t i
    KeyRecord** b
    size_t n_b
    size_t j


cdef inline KeyRecord* _cursor_next(Cursor* c) noexcept:
    if c.i < c.n_a:
        if c.j < c.n_b and _record_less(c.b[c.j], c.a[c.i]):
            c.j += 1
            return c.b[c.j - 1]
        c.i += 1
        return c.a[c.i - 1]
    if c.j < c.n_b:
        c.j += 1
        return c.b[c.j - 1]
    return NULL


cdef size_t _lower_bound(KeyRecord** items, size_t n, string_view key, size_t lo) noexcept:
    """Index of the first of ``items[lo:n]`` (sorted) whose key is not less than ``key``."""
    cdef size_t hi = n
    cdef size_t mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if _view_p(items[mid].key) < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef int _merge(RecordList* target, RecordList* source) except -1:
    """Merge the sorted ``source`` into the sorted ``target``: a binary search per source
    record, block copies of ``target`` in between (keys of the two are distinct)."""
    cdef RecordList merged
    merged.reserve(target.size() + source.size())
    cdef KeyRecord** items = target.data()
    cdef size_t n = target.size()
    cdef size_t done = 0
    cdef size_t pos
    cdef size_t i
    cdef KeyRecord* rec
    for i in range(source.size()):
        rec = source[0][i]
        pos = _lower_bound(items, n, _view_p(rec.key), done)
        merged.insert(merged.end(), target.begin() + done, target.begin() + pos)
        merged.push_back(rec)
        done = pos
    merged.insert(merged.end(), target.begin() + done, target.end())
    target.swap(merged)
    return 0


cdef struct ImageEntry:
    # One entry of a snapshot image, parsed in place (see MVCCStore.load_image).
    Py_ssize_t at
    Py_ssize_t key_at
    Py_ssize_t key_len
    Py_ssize_t value_len
    int64_t create_revision
    int64_t mod_revision
    int64_t version
    int64_t lease


cdef inline uint32_t _le_u32(const char* p) noexcept:
    cdef const unsigned char* b = <const unsigned char*>p
    return <uint32_t>b[0] | (<uint32_t>b[1] << 8) | (<uint32_t>b[2] << 16) | (<uint32_t>b[3] << 24)


cdef inline int64_t _le_i64(const char* p) noexcept:
    cdef const unsigned char* b = <const unsigned char*>p
    cdef uint64_t v = 0
    cdef int k
    for k in range(7, -1, -1):
        v = (v << 8) | b[k]
    return <int64_t>v


cdef Py_ssize_t _image_entry(const char* buf, Py_ssize_t size, Py_ssize_t pos, Py_ssize_t index,
                             ImageEntry* e) except -1:
    """Parse the entry at ``pos`` into ``e``; returns the position after it."""
    if size - pos < 40:
        raise ValueError(f"image entry {index} at byte {pos}: the buffer ends inside its header")
    e.at = pos
    e.key_len = _le_u32(buf + pos)
    e.value_len = <int32_t>_le_u32(buf + pos + 4)
    e.create_revision = _le_i64(buf + pos + 8)
    e.mod_revision = _le_i64(buf + pos + 16)
    e.version = _le_i64(buf + pos + 24)
    e.lease = _le_i64(buf + pos + 32)
    e.key_at = pos + 40
    if e.key_len == 0:
        raise ValueError(f"image entry {index} at byte {pos}: empty key")
    if e.value_len < -1:
        raise ValueError(f"image entry {index} at byte {pos}: value length {e.value_len}")
    cdef Py_ssize_t end = e.key_at + e.key_len + (e.value_len if e.value_len > 0 else 0)
    if e.key_len > size - e.key_at or end > size:
        raise ValueError(f"image entry {index} at byte {pos}: the buffer ends inside its key or value")
    return end


cdef inline void _le_put_u32(char* p, uint32_t v) noexcept:
    cdef int k
    for k in range(4):
        p[k] = <char>((v >> (8 * k)) & 0xFF)


cdef inline void _le_put_i64(char* p, int64_t value) noexcept:
    cdef uint64_t v = <uint64_t>value
    cdef int k
    for k in range(8):
        p[k] = <char>((v >> (8 * k)) & 0xFF)


cdef inline char* _image_put(char* p, PyObject* key, const Version* v) noexcept:
    """Encode one image entry (key, version ``v``; a tombstone as a deletion) at ``p``; returns its end."""
    cdef Py_ssize_t klen = _bytes_size(key)
    cdef Py_ssize_t vlen = _bytes_size(v.value) if v.value != NULL else -1
    _le_put_u32(p, <uint32_t>klen)
    _le_put_u32(p + 4, <uint32_t><int32_t>vlen)
    _le_put_i64(p + 8, v.create_revision)
    _le_put_i64(p + 16, v.mod_revision)
    _le_put_i64(p + 24, v.version)
    _le_put_i64(p + 32, v.lease)
    memcpy(p + 40, _bytes_data(key), <size_t>klen)
    p += 40 + klen
    if vlen > 0:
        memcpy(p, _bytes_data(v.value), <size_t>vlen)
        p += vlen
    return p


@cython.final
cdef class MVCCStore:
    """An in-memory multi-version key-value store with etcd v3 revision semantics.

    Keys and values are ``bytes``. ``end`` arguments follow etcd: ``b""`` means
    the single key ``key``, ``b"\\0"`` every key ``>= key``, else ``[key, end)``.
    Revisions passed to reads must lie between the compact revision and the
    current revision (0 means the latest); the kernel raises ``ValueError``
    otherwise, so callers check first and raise their own errors.
    """

    cdef RecordList _sorted
    cdef RecordList _delta
    cdef RecordList _fresh
    cdef vector[KeyRecord*] _blocks
    cdef KeyRecord* _free_list
    cdef size_t _block_used
    cdef Slot* _slots
    cdef size_t _mask
    cdef size_t _records
    cdef size_t _live
    cdef size_t _history
    cdef deque[LogEntry] _log
    cdef int64_t _revision
    cdef int64_t _compact_revision
    cdef int64_t _pending
    cdef bint _changed

    def __cinit__(self):
        self._slots = <Slot*>calloc(_MIN_SLOTS, sizeof(Slot))
        if self._slots == NULL:
            raise MemoryError()
        self._mask = _MIN_SLOTS - 1
        self._records = 0
        self._live = 0
        self._history = 0
        self._revision = 0
        self._compact_revision = 0
        self._pending = 0
        self._changed = False
        self._free_list = NULL
        self._block_used = _BLOCK_RECORDS

    def __dealloc__(self):
        cdef size_t i
        for i in range(self._log.size()):
            _release(&self._log[i].change)
        self._log.clear()
        for i in range(self._sorted.size()):
            _clear_record(self._sorted[i])
        for i in range(self._delta.size()):
            _clear_record(self._delta[i])
        for i in range(self._fresh.size()):
            _clear_record(self._fresh[i])
        self._sorted.clear()
        self._delta.clear()
        self._fresh.clear()
        for i in range(self._blocks.size()):
            free(self._blocks[i])
        self._blocks.clear()
        free(self._slots)
        self._slots = NULL

    # ------------------------------------------------------------------ properties

    @property
    def revision(self) -> int:
        """The current revision: how many writes have changed something (0 when empty)."""
        return self._revision

    @property
    def compact_revision(self) -> int:
        """The revision of the last compaction (0 if never compacted)."""
        return self._compact_revision

    @property
    def pending_revision(self) -> int:
        """The revision of the write group opened by :meth:`begin`, or 0 when none is open."""
        return self._pending

    def __len__(self) -> int:
        return self._live

    # ------------------------------------------------------------------ hash index

    cdef inline KeyRecord* _find(self, bytes key, Py_hash_t h) noexcept:
        cdef size_t i = (<size_t>h) & self._mask
        cdef Slot* s
        cdef PyObject* k
        cdef Py_ssize_t n = PyBytes_GET_SIZE(key)
        cdef const char* data = PyBytes_AS_STRING(key)
        while True:
            s = self._slots + i
            if s.record == NULL:
                return NULL
            if s.hash == h:
                k = s.record.key
                if k == <PyObject*>key:
                    return s.record
                if _bytes_size(k) == n and memcmp(_bytes_data(k), data, <size_t>n) == 0:
                    return s.record
            i = (i + 1) & self._mask

    cdef inline void _slot_put(self, Py_hash_t h, KeyRecord* rec) noexcept:
        cdef size_t i = (<size_t>h) & self._mask
        while self._slots[i].record != NULL:
            i = (i + 1) & self._mask
        self._slots[i].hash = h
        self._slots[i].record = rec

    cdef int _rebuild_slots(self, size_t capacity) except -1:
        cdef Slot* fresh = <Slot*>calloc(capacity, sizeof(Slot))
        if fresh == NULL:
            raise MemoryError()
        free(self._slots)
        self._slots = fresh
        self._mask = capacity - 1
        cdef size_t i
        cdef KeyRecord* rec
        for i in range(self._sorted.size()):
            rec = self._sorted[i]
            self._slot_put(PyObject_Hash(<object>rec.key), rec)
        for i in range(self._delta.size()):
            rec = self._delta[i]
            self._slot_put(PyObject_Hash(<object>rec.key), rec)
        for i in range(self._fresh.size()):
            rec = self._fresh[i]
            self._slot_put(PyObject_Hash(<object>rec.key), rec)
        return 0

    cdef KeyRecord* _new_record(self) except NULL:
        """A record from the free list, else from the current arena block, else from a new block."""
        cdef KeyRecord* rec = self._free_list
        if rec != NULL:
            self._free_list = <KeyRecord*>rec.key
            return rec
        if self._block_used == _BLOCK_RECORDS:
            rec = <KeyRecord*>malloc(_BLOCK_RECORDS * sizeof(KeyRecord))
            if rec == NULL:
                raise MemoryError()
            self._blocks.push_back(rec)
            self._block_used = 0
        rec = self._blocks.back() + self._block_used
        self._block_used += 1
        return rec

    cdef void _recycle(self, KeyRecord* rec) noexcept:
        _clear_record(rec)
        rec.key = <PyObject*>self._free_list
        self._free_list = rec

    cdef KeyRecord* _insert(self, bytes key, Py_hash_t h) except NULL:
        cdef KeyRecord* rec = self._new_record()
        rec.key = <PyObject*>key
        Py_INCREF(key)
        rec.history = NULL
        rec.history_size = 0
        rec.history_capacity = 0
        rec.latest.create_revision = 0
        rec.latest.mod_revision = 0
        rec.latest.version = 0
        rec.latest.lease = 0
        rec.latest.value = NULL
        self._fresh.push_back(rec)
        self._records += 1
        if self._records * 2 > self._mask + 1:
            self._grow_slots()
        self._slot_put(h, rec)
        return rec

    cdef int _grow_slots(self) except -1:
        """Double the hash index, moving the slots without touching the records."""
        cdef size_t old_capacity = self._mask + 1
        cdef Slot* old = self._slots
        cdef Slot* fresh = <Slot*>calloc(old_capacity * 2, sizeof(Slot))
        if fresh == NULL:
            raise MemoryError()
        self._slots = fresh
        self._mask = old_capacity * 2 - 1
        cdef size_t i
        for i in range(old_capacity):
            if old[i].record != NULL:
                self._slot_put(old[i].hash, old[i].record)
        free(old)
        return 0

    # ------------------------------------------------------------------ ordered index

    cdef int _settle(self, bint full) except -1:
        """Bring the records created since the last ordered read into order.

        They are sorted and merged into the small delta; the delta is merged
        into the main sorted vector once it outgrows 1/64 of it (or when
        ``full``), so a range after a few creations costs little even when
        the store is large.
        """
        if not self._fresh.empty():
            sort(self._fresh.begin(), self._fresh.end(), _record_less)
            if self._delta.empty():
                self._delta.swap(self._fresh)
            else:
                _merge(&self._delta, &self._fresh)
            self._fresh.clear()
            if self._fresh.capacity() > 4096:
                self._fresh.shrink_to_fit()
        if not self._delta.empty() and (full or self._delta.size() > max(_DELTA_MIN, self._sorted.size() >> 6)):
            _merge(&self._sorted, &self._delta)
            self._delta.clear()
            if self._delta.capacity() > 4096:
                self._delta.shrink_to_fit()
        return 0

    cdef inline void _cursor_at(self, Cursor* c, string_view key) noexcept:
        """Point ``c`` at the first record whose key is not less than ``key`` (after a settle)."""
        c.a = self._sorted.data()
        c.n_a = self._sorted.size()
        c.i = _lower_bound(c.a, c.n_a, key, 0)
        c.b = self._delta.data()
        c.n_b = self._delta.size()
        c.j = _lower_bound(c.b, c.n_b, key, 0)

    # ------------------------------------------------------------------ writes

    cdef inline int64_t _write_revision(self) noexcept:
        return self._pending if self._pending else self._revision + 1

    cdef inline void _finish(self, int64_t rev) noexcept:
        if self._pending:
            self._changed = True
        else:
            self._revision = rev

    cdef inline int _log_append(self, KeyRecord* rec, Version* change) except -1:
        cdef LogEntry e
        e.record = rec
        e.change = change[0]
        Py_XINCREF(change.value)
        self._log.push_back(e)
        return 0

    cdef int _put(self, bytes key, bytes value, int64_t lease, int64_t rev) except -1:
        cdef Py_hash_t h = PyObject_Hash(key)
        cdef KeyRecord* rec = self._find(key, h)
        cdef Version* cur
        cdef int64_t create
        cdef int64_t version
        if rec == NULL:
            rec = self._insert(key, h)
            create = rev
            version = 1
            self._live += 1
        else:
            cur = &rec.latest
            if cur.version == 0:
                create = rev
                version = 1
                self._live += 1
            else:
                create = cur.create_revision
                version = cur.version + 1
            if cur.mod_revision == rev:  # written earlier in the same write group
                _release(cur)
            elif cur.mod_revision != 0:
                _history_push(rec, cur)
                self._history += 1
        Py_INCREF(value)
        rec.latest.create_revision = create
        rec.latest.mod_revision = rev
        rec.latest.version = version
        rec.latest.lease = lease
        rec.latest.value = <PyObject*>value
        self._log_append(rec, &rec.latest)
        return 0

    cdef bint _tombstone(self, KeyRecord* rec, int64_t rev) except -1:
        cdef Version* cur = &rec.latest
        if cur.version == 0:
            return False
        if cur.mod_revision == rev:
            _release(cur)
        else:
            _history_push(rec, cur)
            self._history += 1
        cur.create_revision = 0
        cur.mod_revision = rev
        cur.version = 0
        cur.lease = 0
        cur.value = NULL
        self._live -= 1
        self._log_append(rec, cur)
        return True

    def put(self, bytes key not None, bytes value not None, int64_t lease=0) -> int:
        """Write ``value`` under ``key`` (attached to ``lease`` if not 0); returns the write's revision.

        Outside a write group this is a write of its own at the next revision.
        """
        cdef int64_t rev = self._pending if self._pending else self._revision + 1
        self._put(key, value, lease, rev)
        self._finish(rev)
        return rev

    def delete_range(self, bytes key not None, bytes end=b"") -> tuple:
        """Delete the live keys of ``[key, end)``: ``(revision, [deleted key-value, ...])``.

        The key-values are the deleted versions, in key order. When nothing is
        deleted (and no write group is open) the revision does not advance and
        the current one is returned.
        """
        cdef int64_t rev = self._write_revision()
        cdef list deleted = []
        cdef KeyRecord* rec
        cdef int kind = _end_kind(end)
        cdef Cursor cursor
        cdef string_view stop
        if kind == 0:
            rec = self._find(key, PyObject_Hash(key))
            if rec != NULL and rec.latest.version != 0:
                deleted.append(_kv(rec.key, &rec.latest, False))
                self._tombstone(rec, rev)
        else:
            self._settle(False)
            stop = _view(end)
            self._cursor_at(&cursor, _view(key))
            while True:
                rec = _cursor_next(&cursor)
                if rec == NULL or (kind == 2 and not (_view_p(rec.key) < stop)):
                    break
                if rec.latest.version != 0:
                    deleted.append(_kv(rec.key, &rec.latest, False))
                    self._tombstone(rec, rev)
        if deleted:
            self._finish(rev)
        return (self._pending if self._pending else self._revision, deleted)

    def begin(self) -> int:
        """Open a write group: later puts and deletes share one revision, returned here."""
        if self._pending:
            raise RuntimeError("a write group is already open")
        self._pending = self._revision + 1
        self._changed = False
        return self._pending

    def commit(self) -> int:
        """Close the write group; returns the current revision (advanced only if something changed)."""
        if not self._pending:
            raise RuntimeError("no write group is open")
        if self._changed:
            self._revision = self._pending
        self._pending = 0
        self._changed = False
        return self._revision

    def write(self, ops) -> int:
        """Apply ``ops`` as one write group; returns the current revision after it.

        Each op is ``("put", key, value, lease)`` or ``("delete", key, end)``
        (``end`` as for :meth:`delete_range`). Ops are checked before any is applied.
        """
        cdef list checked = []
        for op in ops:
            if len(op) == 4 and op[0] == "put":
                checked.append((0, <bytes?>op[1], <bytes?>op[2], <int64_t>op[3]))
            elif len(op) == 3 and op[0] == "delete":
                checked.append((1, <bytes?>op[1], <bytes?>op[2], 0))
            else:
                raise ValueError(f"not a write op: {op!r}")
        self.begin()
        try:
            for kind, key, value, lease in checked:
                if kind == 0:
                    self._put(key, value, lease, self._pending)
                    self._changed = True
                else:
                    self.delete_range(key, value)
        finally:
            rev = self.commit()
        return rev

    def load_base(self, int64_t compact_revision, kvs) -> None:
        """Load the state of a kernel compacted at ``compact_revision`` into this empty kernel.

        ``kvs`` are the key-values live at that revision, each with the
        revisions and version it had, as ``range(b"\\0", b"\\0", compact_revision)``
        returns them. Afterwards the revision and the compact revision are both
        ``compact_revision``, and writes replayed after it get the revisions they had.
        """
        if self._revision or self._records or self._pending:
            raise RuntimeError("load_base needs an empty kernel")
        if compact_revision < 1:
            raise ValueError(f"compact revision must be at least 1, got {compact_revision}")
        cdef list checked = []
        cdef set seen = set()
        for kv in kvs:
            if len(kv) != 6:
                raise ValueError(f"not a key-value tuple: {kv!r}")
            key, value, create, mod, version, lease = kv
            if type(key) is not bytes or not key or type(value) is not bytes:
                raise ValueError(f"key-value {kv!r}: key and value must be bytes, the key not empty")
            if not (0 < create <= mod <= compact_revision) or version < 1:
                raise ValueError(
                    f"key-value of {key!r}: revisions {create}..{mod} and version {version} "
                    f"do not fit compact revision {compact_revision}"
                )
            if key in seen:
                raise ValueError(f"key {key!r} appears twice")
            seen.add(key)
            checked.append(kv)
        cdef KeyRecord* rec
        cdef bytes k
        cdef bytes v
        for kv in checked:
            k = kv[0]
            v = kv[1]
            rec = self._insert(k, PyObject_Hash(k))
            Py_INCREF(v)
            rec.latest.create_revision = kv[2]
            rec.latest.mod_revision = kv[3]
            rec.latest.version = kv[4]
            rec.latest.lease = kv[5]
            rec.latest.value = <PyObject*>v
            self._live += 1
        self._revision = compact_revision
        self._compact_revision = compact_revision

    def load_image(
        self,
        bytes data not None,
        Py_ssize_t offset,
        Py_ssize_t base_count,
        Py_ssize_t change_count,
        int64_t compact_revision,
        int64_t revision,
    ) -> None:
        """Load a snapshot image straight from its encoded entries into this empty kernel.

        ``data[offset:]`` holds ``base_count + change_count`` entries, each
        ``key_len u32, value_len i32 (-1: a deletion), create_revision i64,
        mod_revision i64, version i64, lease i64, key, value`` (little-endian),
        and nothing after them. The base (key-values live at
        ``compact_revision``) is loaded as :meth:`load_base` does, the changes
        replayed as puts and deletes (one write group per revision), which
        reproduces their revisions; the kernel must end at ``revision``.
        Entries are parsed here, with no Python object made but the keys and
        values. A buffer that does not check out raises ``ValueError`` naming
        the entry and its byte offset; the kernel is then half loaded and must
        be discarded.
        """
        if self._revision or self._records or self._pending:
            raise RuntimeError("load_image needs an empty kernel")
        if compact_revision < 0 or base_count < 0 or change_count < 0 or offset < 0:
            raise ValueError("load_image: counts, offset and compact revision must not be negative")
        if compact_revision == 0 and base_count:
            raise ValueError("the image has a base but no compact revision")
        cdef const char* buf = PyBytes_AS_STRING(data)
        cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
        cdef Py_ssize_t pos = offset
        cdef Py_ssize_t i
        cdef Py_ssize_t total = base_count + change_count
        cdef ImageEntry e
        cdef bytes key
        cdef bytes value
        cdef KeyRecord* rec
        cdef Py_hash_t h
        cdef size_t capacity = _MIN_SLOTS
        while capacity < <size_t>total * 2 + 2:
            capacity *= 2
        if capacity > self._mask + 1:
            self._rebuild_slots(capacity)  # the kernel is empty: this only sizes the index
        self._fresh.reserve(<size_t>total)
        cdef int64_t group = -1
        cdef bint in_order = True
        cdef bytes previous = _EMPTY
        for i in range(base_count):
            pos = _image_entry(buf, size, pos, i, &e)
            if e.value_len < 0:
                raise ValueError(f"image entry {i} at byte {e.at}: a base entry is a deletion")
            if not (0 < e.create_revision <= e.mod_revision <= compact_revision) or e.version < 1:
                raise ValueError(
                    f"image entry {i} at byte {e.at}: revisions {e.create_revision}..{e.mod_revision} and "
                    f"version {e.version} do not fit compact revision {compact_revision}"
                )
            key = PyBytes_FromStringAndSize(buf + e.key_at, e.key_len)
            h = PyObject_Hash(key)
            if self._find(key, h) != NULL:
                raise ValueError(f"image entry {i} at byte {e.at}: key {key!r} appears twice in the base")
            value = PyBytes_FromStringAndSize(buf + e.key_at + e.key_len, e.value_len)
            if in_order and i and not (_view(previous) < _view(key)):
                in_order = False
            previous = key
            rec = self._insert(key, h)
            Py_INCREF(value)
            rec.latest.create_revision = e.create_revision
            rec.latest.mod_revision = e.mod_revision
            rec.latest.version = e.version
            rec.latest.lease = e.lease
            rec.latest.value = <PyObject*>value
            self._live += 1
        if in_order:  # a snapshot's base comes in key order: it is the sorted index as it stands
            self._sorted.swap(self._fresh)
        self._revision = compact_revision
        self._compact_revision = compact_revision
        try:
            for i in range(base_count, total):
                pos = _image_entry(buf, size, pos, i, &e)
                if e.mod_revision != group:
                    if self._pending:
                        self.commit()
                        if self._revision != group:
                            raise ValueError(f"image changes at revision {group} change nothing when replayed")
                    if e.mod_revision != self._revision + 1:
                        raise ValueError(
                            f"image entry {i} at byte {e.at}: a change at revision {e.mod_revision} "
                            f"follows revision {self._revision}"
                        )
                    group = e.mod_revision
                    self.begin()
                key = PyBytes_FromStringAndSize(buf + e.key_at, e.key_len)
                if e.value_len < 0:
                    rec = self._find(key, PyObject_Hash(key))
                    if rec != NULL and rec.latest.version != 0:
                        self._tombstone(rec, group)
                        self._changed = True
                else:
                    value = PyBytes_FromStringAndSize(buf + e.key_at + e.key_len, e.value_len)
                    self._put(key, value, e.lease, group)
                    self._changed = True
        finally:
            if self._pending:
                self.commit()
        if group >= 0 and self._revision != group:
            raise ValueError(f"image changes at revision {group} change nothing when replayed")
        if pos != size:
            raise ValueError(f"image ends at byte {pos} but the buffer has {size} bytes")
        if self._revision != revision:
            raise ValueError(f"image replays to revision {self._revision}, it records {revision}")

    def dump_image(self) -> tuple:
        """The kernel's image encoded as snapshot entries: ``(revision, compact_revision,
        base_count, change_count, entries)``.

        ``entries`` are in the layout :meth:`load_image` reads: first the base,
        for each key live at the compact revision (if not 0) the version current
        then, in key order; then every logged change after it, in log order (a
        deletion with value length -1 and zero create revision, version and
        lease). Made in one buffer, with no Python object per entry.
        """
        if self._pending:
            raise RuntimeError("cannot dump the image while a write group is open")
        cdef int64_t compact = self._compact_revision
        cdef size_t start = self._log_position(compact + 1)
        cdef size_t n_log = self._log.size()
        cdef Py_ssize_t total = 0
        cdef Py_ssize_t base_count = 0
        cdef Cursor cursor
        cdef KeyRecord* rec
        cdef Version* v
        cdef size_t i
        cdef LogEntry* e
        if compact > 0:
            self._settle(False)
            self._cursor_at(&cursor, string_view())
            while True:
                rec = _cursor_next(&cursor)
                if rec == NULL:
                    break
                v = _visible(rec, compact)
                if v != NULL:
                    base_count += 1
                    total += 40 + _bytes_size(rec.key) + _bytes_size(v.value)
        for i in range(start, n_log):
            e = &self._log[i]
            total += 40 + _bytes_size(e.record.key) + (_bytes_size(e.change.value) if e.change.value != NULL else 0)
        cdef bytes out = PyBytes_FromStringAndSize(NULL, total)
        cdef char* p = PyBytes_AS_STRING(out)
        if compact > 0:
            self._cursor_at(&cursor, string_view())
            while True:
                rec = _cursor_next(&cursor)
                if rec == NULL:
                    break
                v = _visible(rec, compact)
                if v != NULL:
                    p = _image_put(p, rec.key, v)
        for i in range(start, n_log):
            e = &self._log[i]
            p = _image_put(p, e.record.key, &e.change)
        return (self._revision, compact, base_count, <Py_ssize_t>(n_log - start), out)

    def leased_keys(self) -> list:
        """``(key, lease)`` of every live key attached to a lease, in no particular order."""
        cdef list out = []
        cdef RecordList* lists[3]
        lists[0] = &self._sorted
        lists[1] = &self._delta
        lists[2] = &self._fresh
        cdef size_t i
        cdef KeyRecord* rec
        for l in range(3):
            for i in range(lists[l].size()):
                rec = lists[l][0][i]
                if rec.latest.version != 0 and rec.latest.lease != 0:
                    out.append((<object>rec.key, rec.latest.lease))
        return out

    # ------------------------------------------------------------------ reads

    cdef inline int _check_read(self, int64_t revision) except -1:
        if revision > self._revision and revision != self._pending:
            raise ValueError(f"revision {revision} is in the future (current revision is {self._revision})")
        if 0 < revision < self._compact_revision:
            raise ValueError(f"revision {revision} is compacted (compact revision is {self._compact_revision})")
        return 0

    @cython.always_allow_keywords(False)  # one positional argument: a METH_O call, no argument parsing
    def get(self, bytes key not None):
        """The latest value of ``key``, or ``None``: the fastest read (returns the stored object)."""
        cdef KeyRecord* rec = self._find(key, PyObject_Hash(key))
        if rec == NULL or rec.latest.value == NULL:
            return None
        return <object>rec.latest.value

    def get_kv(self, bytes key not None, int64_t revision=0):
        """The key-value tuple of ``key`` at ``revision`` (0 = latest), or ``None``."""
        if revision:
            self._check_read(revision)
        cdef KeyRecord* rec = self._find(key, PyObject_Hash(key))
        if rec == NULL:
            return None
        cdef Version* v = _visible(rec, revision)
        if v == NULL:
            return None
        return _kv(rec.key, v, False)

    def range(
        self,
        bytes key not None,
        bytes end not None,
        int64_t revision=0,
        Py_ssize_t limit=0,
        bint keys_only=False,
        bint count_only=False,
    ) -> tuple:
        """``([key-value, ...], count, more)`` for ``[key, end)`` at ``revision`` (0 = latest).

        ``count`` is the number of live keys in range, ``more`` whether ``limit``
        (> 0) cut the list; ``keys_only`` returns empty values, ``count_only``
        no key-values.
        """
        if revision:
            self._check_read(revision)
        cdef list kvs = []
        cdef Py_ssize_t count = 0
        cdef KeyRecord* rec
        cdef Version* v
        cdef int kind = _end_kind(end)
        cdef Cursor cursor
        cdef string_view stop
        if kind == 0:
            rec = self._find(key, PyObject_Hash(key))
            if rec != NULL:
                v = _visible(rec, revision)
                if v != NULL:
                    count = 1
                    if not count_only:
                        kvs.append(_kv(rec.key, v, keys_only))
        else:
            self._settle(False)
            stop = _view(end)
            self._cursor_at(&cursor, _view(key))
            while True:
                rec = _cursor_next(&cursor)
                if rec == NULL or (kind == 2 and not (_view_p(rec.key) < stop)):
                    break
                v = _visible(rec, revision)
                if v != NULL:
                    count += 1
                    if not count_only and (limit <= 0 or count <= limit):
                        kvs.append(_kv(rec.key, v, keys_only))
        return (kvs, count, (not count_only) and limit > 0 and count > limit)

    # ------------------------------------------------------------------ events

    cdef size_t _log_position(self, int64_t revision) noexcept:
        cdef size_t lo = 0
        cdef size_t hi = self._log.size()
        cdef size_t mid
        while lo < hi:
            mid = (lo + hi) >> 1
            if self._log[mid].change.mod_revision < revision:
                lo = mid + 1
            else:
                hi = mid
        return lo

    cdef object _prev_of(self, size_t index, int64_t r):
        """The key-value before log entry ``index`` (at revision ``r``): an earlier change of
        the same key in the same revision, else the key's version before ``r``."""
        cdef KeyRecord* rec = self._log[index].record
        cdef size_t i = index
        cdef LogEntry* other
        while i > 0:
            i -= 1
            other = &self._log[i]
            if other.change.mod_revision != r:
                break
            if other.record == rec:
                return None if other.change.version == 0 else _kv(rec.key, &other.change, False)
        if r <= 1:
            return None
        cdef Version* pv = _at(rec, r - 1)
        if pv == NULL or pv.version == 0:
            return None
        return _kv(rec.key, pv, False)

    def events(
        self,
        int64_t start_revision,
        bytes key=b"\0",
        bytes end=b"\0",
        Py_ssize_t limit=0,
        bint prev_kv=False,
        int64_t until_revision=0,
    ) -> list:
        """Changes to ``[key, end)`` from ``start_revision`` on, in revision order.

        Each is ``(kind, kv, prev_kv)``: kind :data:`PUT` or :data:`DELETE`; a
        delete's kv is ``(key, b"", 0, revision, 0, 0)``; ``prev_kv`` (if asked)
        the key's version before the change, or ``None``. ``limit`` > 0 stops
        after that many changes, at a revision boundary (a revision is never
        split); ``until_revision`` > 0 stops before later revisions. Starting
        below the compact revision raises ``ValueError``: those changes are
        gone (as in etcd, the changes *at* the compact revision remain).
        """
        if start_revision < self._compact_revision:
            raise ValueError(
                f"revision {start_revision} is compacted (compact revision is {self._compact_revision})"
            )
        cdef list out = []
        cdef size_t pos = self._log_position(start_revision)
        cdef size_t n = self._log.size()
        cdef LogEntry* e
        cdef int64_t r
        cdef int64_t last = 0
        cdef int kind = _end_kind(end)
        cdef string_view lo = _view(key)
        cdef string_view hi = _view(end)
        cdef string_view k
        cdef object prev
        while pos < n:
            e = &self._log[pos]
            pos += 1
            r = e.change.mod_revision
            if until_revision > 0 and r > until_revision:
                break
            if limit > 0 and <Py_ssize_t>len(out) >= limit and r != last:
                break
            k = _view_p(e.record.key)
            if kind == 0:
                if k != lo:
                    continue
            elif k < lo or (kind == 2 and not (k < hi)):
                continue
            prev = self._prev_of(pos - 1, r) if prev_kv else None
            out.append((DELETE if e.change.version == 0 else PUT, _kv(e.record.key, &e.change, False), prev))
            last = r
        return out

    # ------------------------------------------------------------------ compaction

    cdef size_t _compact_record(self, KeyRecord* rec, int64_t revision) noexcept:
        """Drop the versions of ``rec`` that ``revision`` supersedes; returns how many."""
        cdef uint32_t n = rec.history_size
        cdef uint32_t lo, hi, mid, drop
        if n == 0:
            return 0
        if rec.latest.mod_revision <= revision:
            _history_drop(rec, n)
            return n
        lo = 0
        hi = n
        while lo < hi:
            mid = (lo + hi) >> 1
            if rec.history[mid].mod_revision <= revision:
                lo = mid + 1
            else:
                hi = mid
        if lo == 0:
            return 0
        drop = lo - 1 if rec.history[lo - 1].version != 0 else lo
        if drop:
            _history_drop(rec, drop)
        return drop

    def compact(self, int64_t revision) -> int:
        """Forget history before ``revision``; returns how many versions were freed.

        Per key the version current at ``revision`` stays (unless it is a
        deletion) with every later one; keys deleted at or before ``revision``
        go entirely (a deletion at ``revision`` itself at the next compaction),
        and so do log entries before ``revision``. Reads and event reads
        below ``revision`` are refused afterwards, as in etcd.
        """
        if self._pending:
            raise RuntimeError("cannot compact while a write group is open")
        if revision <= self._compact_revision:
            raise ValueError(
                f"revision {revision} is already compacted (compact revision is {self._compact_revision})"
            )
        if revision > self._revision:
            raise ValueError(f"revision {revision} is in the future (current revision is {self._revision})")
        while not self._log.empty() and self._log.front().change.mod_revision < revision:
            _release(&self._log.front().change)
            self._log.pop_front()
        self._log.shrink_to_fit()
        self._settle(True)
        cdef size_t freed = 0
        cdef size_t dropped
        cdef size_t kept = 0
        cdef size_t i
        cdef KeyRecord* rec
        for i in range(self._sorted.size()):
            rec = self._sorted[i]
            dropped = self._compact_record(rec, revision)
            freed += dropped
            self._history -= dropped
            # a deletion at exactly ``revision`` stays until the next compaction: its
            # log entry is still readable by watches starting at the compact revision
            if rec.latest.version == 0 and rec.latest.mod_revision < revision:
                self._recycle(rec)
                freed += 1
                continue
            self._sorted[kept] = rec
            kept += 1
        if kept != self._sorted.size():
            self._sorted.resize(kept)
            self._sorted.shrink_to_fit()
            self._records = kept
            cap = _MIN_SLOTS
            while cap < kept * 2 + 2:
                cap *= 2
            self._rebuild_slots(cap)
        self._compact_revision = revision
        orchestra_release_free_memory()
        return freed

    # ------------------------------------------------------------------ introspection

    def stats(self) -> dict:
        """Sizes: live ``keys``, ``records`` (deleted keys not yet compacted included),
        stored ``versions``, log ``events``, hash ``slots``; ``bytes``, the key and
        value bytes held by versions (a value counted once per version); and
        ``memory``, the bytes the kernel's structures and the objects they hold
        take (bytes objects at their allocated size)."""
        cdef size_t held = 0
        cdef size_t objects = 0
        cdef size_t history = 0
        cdef size_t i, j
        cdef KeyRecord* rec
        cdef RecordList* lists[3]
        lists[0] = &self._sorted
        lists[1] = &self._delta
        lists[2] = &self._fresh
        for l in range(3):
            for i in range(lists[l].size()):
                rec = lists[l][0][i]
                held += <size_t>_bytes_size(rec.key)
                objects += _object_size(rec.key)
                if rec.latest.value != NULL:
                    held += <size_t>_bytes_size(rec.latest.value)
                    objects += _object_size(rec.latest.value)
                history += rec.history_capacity
                for j in range(rec.history_size):
                    if rec.history[j].value != NULL:
                        held += <size_t>_bytes_size(rec.history[j].value)
                        objects += _object_size(rec.history[j].value)
        cdef size_t structures = (
            self._blocks.size() * _BLOCK_RECORDS * sizeof(KeyRecord)
            + (self._mask + 1) * sizeof(Slot)
            + (self._sorted.capacity() + self._delta.capacity() + self._fresh.capacity()) * sizeof(KeyRecord*)
            + self._log.size() * sizeof(LogEntry)
            + history * sizeof(Version)
        )
        return {
            "keys": self._live,
            "records": self._records,
            "versions": self._records + self._history,
            "events": self._log.size(),
            "slots": self._mask + 1,
            "bytes": held,
            "memory": structures + objects,
        }
