"""The codec's two implementations of its decode/encode walks, for tests that run both."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pytest

from orchestra.api import codec

#: Whether the compiled walks (``orchestra._ext.codec``) are built.
COMPILED = codec._COMPILED is not None
#: Marks a test (or a parameter) that needs the compiled walks.
needs_compiled = pytest.mark.skipif(not COMPILED, reason="orchestra._ext.codec is not built")


@contextmanager
def using_walks(name: str) -> Iterator[None]:
    """Decode and encode with the ``"python"`` or the ``"compiled"`` walks inside the block."""
    before = codec._implementation()
    codec._use_implementation(name)
    try:
        yield
    finally:
        codec._use_implementation(before)


def redecode_pod() -> dict:
    """A Pod wire dict with an explicit null and an unknown field, for ``redecode_fields`` tests."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "b"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
        "status": None,
        "extraField": 1,
    }
