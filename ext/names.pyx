# cython: language_level=3, boundscheck=False, wraparound=False
"""RFC 1123 name checks in C: whether a string is a DNS label or subdomain, as Kubernetes' regexes say.

Every object a client creates has its name checked, and most names are new (an Event's
always is), so the check runs on strings never seen before. A regular expression takes
several hundred nanoseconds per name; this loop over the characters takes a few tens.
:mod:`orchestra.api.names` answers with it and words the errors with the regexes.
"""

from cpython.unicode cimport PyUnicode_GET_LENGTH, PyUnicode_KIND, PyUnicode_1BYTE_KIND

__all__ = ["dns1123_label", "dns1123_subdomain"]

cdef extern from "Python.h":
    const unsigned char* PyUnicode_1BYTE_DATA(object)


cdef inline bint _alnum(unsigned char c) noexcept:
    return (97 <= c <= 122) or (48 <= c <= 57)  # a-z, 0-9


cdef bint _labels(str value, Py_ssize_t max_length, bint dots) noexcept:
    """``value`` is 1 to ``max_length`` characters of RFC 1123 labels (``[a-z0-9]([-a-z0-9]*[a-z0-9])?``),
    joined by dots when ``dots``."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(value), i
    if n == 0 or n > max_length or PyUnicode_KIND(value) != PyUnicode_1BYTE_KIND:
        return False
    cdef const unsigned char* s = PyUnicode_1BYTE_DATA(value)
    cdef unsigned char c, previous = 46  # a name starts as a label does, after a dot
    for i in range(n):
        c = s[i]
        if _alnum(c):
            pass
        elif c == 45:  # "-": inside a label only
            if previous == 46:
                return False
        elif c == 46 and dots:  # ".": after a label's last character, which is alphanumeric
            if not _alnum(previous):
                return False
        else:
            return False
        previous = c
    return _alnum(previous)


def dns1123_label(value):
    """Whether ``value`` is a str Kubernetes' ``IsDNS1123Label`` accepts (at most 63 characters)."""
    return type(value) is str and _labels(<str>value, 63, False)


def dns1123_subdomain(value):
    """Whether ``value`` is a str Kubernetes' ``IsDNS1123Subdomain`` accepts (at most 253 characters)."""
    return type(value) is str and _labels(<str>value, 253, True)
