"""Timestamps as Kubernetes writes them: RFC 3339 in UTC with whole seconds (``2024-01-02T03:04:05Z``)."""

from __future__ import annotations

import time

__all__ = ["format_seconds", "now_rfc3339"]

#: The last second :func:`now_rfc3339` formatted, and its text (every write stamps the time).
_last: list = [None, ""]


def format_seconds(when: float) -> str:
    """Seconds since the epoch as a Kubernetes timestamp."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def now_rfc3339(offset_seconds: int = 0) -> str:
    """The current time plus ``offset_seconds`` as a Kubernetes timestamp (each second formatted once)."""
    second = int(time.time() + offset_seconds)
    if _last[0] != second:
        _last[:] = [second, format_seconds(second)]
    return _last[1]
