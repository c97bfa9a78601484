"""Go durations as Kubernetes writes them (``metav1.Duration``): ``"15s"``, ``"1m30s"``, ``"500ms"``.

A duration is one or more ``<number><unit>`` parts with units ``ns``, ``us`` (or ``µs``),
``ms``, ``s``, ``m`` and ``h``; the number may have a fraction. Used by config files (the
scheduler's leader election), flags (``--etcd-compaction-interval``) and CronJob's ``@every``.
"""

from __future__ import annotations

import re

__all__ = ["is_go_duration", "parse_go_duration"]

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h)")
_WHOLE = re.compile(f"(?:{_PART.pattern})+")


def is_go_duration(text: str) -> bool:
    """Whether ``text`` is a Go duration with units (a bare number is not)."""
    return isinstance(text, str) and _WHOLE.fullmatch(text) is not None


def parse_go_duration(text: str) -> float:
    """Seconds in the Go duration ``text``; ValueError when it is not one."""
    if not is_go_duration(text):
        raise ValueError(f"not a duration such as 15s, 1m30s or 500ms: {text!r}")
    return sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(text))
