"""Timestamps as Kubernetes writes them: RFC 3339 in UTC with whole seconds (``2024-01-02T03:04:05Z``).

:func:`now_rfc3339` is compiled (``ext/timestamps.pyx``): every write stamps the time, and it
reads the system clock itself, so it does not see a replaced :func:`time.time`.
"""

from __future__ import annotations

import time

from orchestra._ext.timestamps import now_rfc3339

__all__ = ["format_seconds", "now_rfc3339"]


def format_seconds(when: float) -> str:
    """Seconds since the epoch as a Kubernetes timestamp."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
