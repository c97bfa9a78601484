# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# distutils: libraries = z
"""The hot path of the ``file://`` store's write-ahead log, in C: encoding a one-put write record.

:func:`encode_put` builds, in one allocation, exactly the bytes
``orchestra.plugins.stores.wal.encode_write`` makes of a write that is a single
put (see that module for the record layout), including its CRC-32, computed
by the system zlib's ``crc32`` (which :func:`zlib.crc32` calls too).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

__all__ = ["encode_put"]

cdef extern from "zlib.h" nogil:
    unsigned long _zlib_crc32 "crc32"(unsigned long crc, const unsigned char* buf, unsigned int length)


cdef inline void _put_u16(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = v & 0xFF
    p[1] = (v >> 8) & 0xFF


cdef inline void _put_u32(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = v & 0xFF
    p[1] = (v >> 8) & 0xFF
    p[2] = (v >> 16) & 0xFF
    p[3] = (v >> 24) & 0xFF


cdef inline void _put_u64(uint8_t* p, uint64_t v) noexcept nogil:
    cdef int k
    for k in range(8):
        p[k] = (v >> (8 * k)) & 0xFF


#: Record header (20 bytes) plus the one-put write payload's fixed part (29 bytes).
cdef Py_ssize_t _FIXED = 49
cdef uint32_t _RECORD_MAGIC = 0x57A1
cdef uint8_t _WRITE = 1


def encode_put(uint64_t lsn, int64_t revision, bytes key not None, bytes value not None, int64_t lease) -> bytes:
    """The log record (LSN ``lsn``) of the write at ``revision`` that puts ``value`` under ``key``."""
    cdef Py_ssize_t klen = PyBytes_GET_SIZE(key)
    cdef Py_ssize_t vlen = PyBytes_GET_SIZE(value)
    if klen > 0xFFFFFFFF or vlen > 0xFFFFFFFF or 29 + klen + vlen > 0xFFFFFFFF:
        raise ValueError(f"a put of {klen} key bytes and {vlen} value bytes is too large for one log record")
    cdef bytes out = PyBytes_FromStringAndSize(NULL, _FIXED + klen + vlen)
    cdef uint8_t* p = <uint8_t*>PyBytes_AS_STRING(out)
    # header: crc u32 | magic u16 | type u8 | reserved u8 | length u32 | lsn u64
    _put_u16(p + 4, _RECORD_MAGIC)
    p[6] = _WRITE
    p[7] = 0
    _put_u32(p + 8, <uint32_t>(29 + klen + vlen))
    _put_u64(p + 12, lsn)
    # payload: revision i64 | count u32 | kind u8 | key_len u32 | value_len u32 | lease i64 | key | value
    _put_u64(p + 20, <uint64_t>revision)
    _put_u32(p + 28, 1)
    p[32] = 0
    _put_u32(p + 33, <uint32_t>klen)
    _put_u32(p + 37, <uint32_t>vlen)
    _put_u64(p + 41, <uint64_t>lease)
    memcpy(p + _FIXED, PyBytes_AS_STRING(key), <size_t>klen)
    memcpy(p + _FIXED + klen, PyBytes_AS_STRING(value), <size_t>vlen)
    _put_u32(p, <uint32_t>_zlib_crc32(0, p + 4, <unsigned int>(_FIXED - 4 + klen + vlen)))
    return out
