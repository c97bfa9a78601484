# cython: language_level=3, boundscheck=False, wraparound=False
"""The current second as Kubernetes writes timestamps (``2024-01-02T03:04:05Z``), in C.

Every write the scheduler and the API server make stamps the time: a creation, a condition,
an Event, a deletion. In Python, reading the clock and checking the second the text was
made for costs about two thousand interpreter instructions a call (fifteen calls per
preempting pod); here it is a clock read and a comparison, and the text of a new second is
formatted once.
"""

from libc.time cimport strftime, time, time_t, tm

cdef extern from "<time.h>" nogil:
    tm* gmtime_r(const time_t* timep, tm* result)

__all__ = ["format_utc_second", "now_rfc3339"]

#: The second :func:`now_rfc3339` last formatted, and its text.
cdef time_t _last_second = 0
cdef str _last_text = None


cdef str _format(time_t second):
    cdef tm parts
    cdef char text[64]
    cdef size_t size
    if gmtime_r(&second, &parts) == NULL:
        raise OverflowError(f"{second} seconds from the epoch is no UTC time")
    size = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &parts)
    return text[:size].decode("ascii")


def format_utc_second(long long second):
    """``second`` (whole seconds since the epoch) as a Kubernetes timestamp."""
    return _format(<time_t>second)


def now_rfc3339(long long offset_seconds=0):
    """The current time plus ``offset_seconds`` as a Kubernetes timestamp, whole seconds
    truncated (each second formatted once)."""
    global _last_second, _last_text
    cdef time_t second = time(NULL) + <time_t>offset_seconds
    if second != _last_second or _last_text is None:
        _last_text = _format(second)
        _last_second = second
    return _last_text
