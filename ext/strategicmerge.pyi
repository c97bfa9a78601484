"""Type stubs of the compiled strategic merge walk (``orchestra._ext.strategicmerge``, built from ``ext/strategicmerge.pyx``)."""

from typing import Any, Callable

__all__ = ["Merger", "StrategicMergeError", "json_equal"]

class StrategicMergeError(ValueError):
    """The patch cannot be applied as written (the caller answers 400 with this message)."""

def json_equal(a: Any, b: Any, /) -> bool:
    """JSON value equality: ``1 == 1.0`` but ``true != 1``."""

class Merger:
    """Strategic merge of JSON maps, with the field schema looked up through ``describe``."""

    def __init__(self, describe: Callable[[type, str], tuple[type | None, bool, str | None]], limit: int) -> None: ...
    def merge_map(self, original: dict, patch: dict, cls: type | None, path: str = "") -> dict:
        """Merge ``patch`` into ``original`` (changed in place and returned, or replaced by a
        ``$patch`` directive); ``cls`` is the class of ``original``, ``path`` where it is."""
