# cython: language_level=3, boundscheck=False, wraparound=False
"""Object UIDs as text, in C: random bytes become version 4 UUIDs as ``str(uuid.uuid4())`` writes them.

The API server stamps every new object with a UID. Formatting one in Python (slicing a hex
string into five groups) costs several thousand interpreter instructions; here it is a loop
over 16 bytes.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_New
from libc.stdint cimport uint8_t

__all__ = ["uuid4_texts"]

cdef extern from "Python.h":
    void* PyUnicode_DATA(object)

cdef const char* _HEX = b"0123456789abcdef"


def uuid4_texts(bytes random):
    """The version 4 UUIDs (``xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx``, V one of ``89ab``) that each
    16 bytes of ``random`` give, in order: the version and variant bits are set as RFC 4122 says,
    the other 122 bits are the bytes' own. ``len(random)`` must be a multiple of 16."""
    cdef Py_ssize_t size = PyBytes_GET_SIZE(random)
    if size % 16:
        raise ValueError(f"random holds {size} bytes, not a multiple of 16")
    cdef const uint8_t* src = <const uint8_t*>PyBytes_AS_STRING(random)
    cdef list out = []
    cdef Py_ssize_t start, i
    cdef uint8_t byte
    cdef char* text
    cdef int pos
    for start in range(0, size, 16):
        uid = PyUnicode_New(36, 127)
        text = <char*>PyUnicode_DATA(uid)
        pos = 0
        for i in range(16):
            if i == 4 or i == 6 or i == 8 or i == 10:
                text[pos] = 45  # "-"
                pos += 1
            byte = src[start + i]
            if i == 6:
                byte = (byte & 0x0F) | 0x40
            elif i == 8:
                byte = (byte & 0x3F) | 0x80
            text[pos] = _HEX[byte >> 4]
            text[pos + 1] = _HEX[byte & 0x0F]
            pos += 2
        out.append(uid)
    return out
