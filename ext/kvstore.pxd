# C-level declarations of the MVCC key-value kernel (see kvstore.pyx for the design).
#
# kvstore.pyx textually includes this file: setup.py builds the module as
# ``orchestra._ext.kvstore`` from ``ext/``, a path Cython's automatic .pxd lookup
# does not map, so the declarations are shared by inclusion.

from cpython.object cimport PyObject
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libcpp.deque cimport deque
from libcpp.vector cimport vector


cdef struct Version:
    # One version of one key. A tombstone (the key's deletion) has version 0,
    # create_revision 0 and value NULL.
    int64_t create_revision
    int64_t mod_revision
    int64_t version
    int64_t lease
    PyObject* value             # owned reference to a bytes object, NULL on a tombstone


cdef struct KeyRecord:
    # Every version of one key that compaction has not dropped: 64 bytes, carved
    # from the store's record arena, so its address is stable for the indexes
    # and the log.
    PyObject* key               # owned bytes; the next free record while on the free list
    Version latest              # the newest version (possibly a tombstone)
    Version* history            # older versions, oldest first (malloc'd, NULL when none)
    uint32_t history_size
    uint32_t history_capacity


cdef struct Slot:
    # One slot of the open-addressing hash index (record NULL = empty).
    Py_hash_t hash
    KeyRecord* record


cdef struct LogEntry:
    # One change in the revision-ordered event log. The record outlives the
    # entry: compaction drops a record only with every change logged for it.
    KeyRecord* record
    Version change              # the version written (value owned); a delete is a tombstone


ctypedef vector[KeyRecord*] RecordList
