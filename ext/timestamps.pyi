"""Type stubs of the timestamp clock (``orchestra._ext.timestamps``, built from ``ext/timestamps.pyx``)."""

__all__ = ["format_utc_second", "now_rfc3339"]

def format_utc_second(second: int, /) -> str:
    """``second`` (whole seconds since the epoch) as a Kubernetes timestamp."""

def now_rfc3339(offset_seconds: int = 0) -> str:
    """The current time plus ``offset_seconds`` as a Kubernetes timestamp, whole seconds truncated."""
