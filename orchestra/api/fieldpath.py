"""Field paths: reading ``metadata.labels['app']``-style paths and building error paths.

:func:`get_field` reads a value out of a wire-form (camelCase) object dict, as field
selectors and the downward API do. :func:`child`, :func:`index` and :func:`key` build
the paths that :class:`~orchestra.api.errors.FieldError` carries, printed the way
Kubernetes' ``field.Path`` prints them (``spec.containers[0].ports``, ``data[key]``).
"""

from __future__ import annotations

import functools
import re
from typing import Any

__all__ = ["child", "get_field", "index", "key", "parse"]

_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_INDEX = re.compile(r"\[(?:([0-9]+)|'([^']*)'|\"([^\"]*)\")\]")


@functools.lru_cache(maxsize=1024)
def parse(path: str) -> tuple[str | int, ...]:
    """Split a path into steps: names and quoted keys (str) and list indexes (int).

    ``metadata.labels['app']`` -> ``("metadata", "labels", "app")``;
    ``spec.containers[0].image`` -> ``("spec", "containers", 0, "image")``.
    Raises :class:`ValueError` naming the path and position on malformed input.
    """
    if not isinstance(path, str) or not path:
        raise ValueError(f"invalid field path {path!r}: must be a non-empty string")
    steps: list[str | int] = []
    pos = 0
    expect_name = True
    while pos < len(path):
        if expect_name:
            match = _NAME.match(path, pos)
            if match is None:
                raise ValueError(f"invalid field path {path!r}: expected a field name at position {pos}")
            steps.append(match.group())
            pos = match.end()
            expect_name = False
        elif path[pos] == ".":
            pos += 1
            expect_name = True
            if pos == len(path):
                raise ValueError(f"invalid field path {path!r}: ends with '.'")
        elif path[pos] == "[":
            match = _INDEX.match(path, pos)
            if match is None:
                raise ValueError(
                    f"invalid field path {path!r}: expected [N], ['key'] or [\"key\"] at position {pos}"
                )
            number, single, double = match.groups()
            steps.append(int(number) if number is not None else (single if single is not None else double))
            pos = match.end()
        else:
            raise ValueError(f"invalid field path {path!r}: unexpected {path[pos]!r} at position {pos}")
    return tuple(steps)


def get_field(obj: Any, path: str) -> Any:
    """The value at ``path`` in ``obj``, or None when any step along the way is absent.

    Names and quoted keys index dicts; ``[N]`` indexes lists. A step that does not fit
    the value found (a name on a list, an index on a dict) counts as absent.
    """
    value = obj
    for step in parse(path):
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return None
            value = value[step]
        else:
            if not isinstance(value, dict):
                return None
            value = value.get(step)
        if value is None:
            return None
    return value


def child(path: str, name: str) -> str:
    """``child("spec", "replicas")`` -> ``spec.replicas``; an empty base gives ``name``."""
    return f"{path}.{name}" if path else name


def index(path: str, i: int) -> str:
    """``index("spec.containers", 0)`` -> ``spec.containers[0]``."""
    return f"{path}[{i}]"


def key(path: str, k: str) -> str:
    """``key("data", "a.b")`` -> ``data[a.b]`` (Kubernetes prints map keys unquoted)."""
    return f"{path}[{k}]"
