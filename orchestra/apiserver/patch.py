"""PATCH bodies applied to wire objects: JSON merge patch, JSON patch, strategic merge patch.

:func:`apply_patch` takes the stored object as a wire dict and returns a new dict; the
original is never modified. The errors are the ones a Kubernetes API server returns:

- a body that does not parse, or has the wrong overall shape → 400 ``BadRequest``;
- a JSON patch whose operation cannot be applied (a failed ``test``, a path that does not
  exist, an unknown ``op``) → 422 ``Invalid`` with Kubernetes' fixed message
  ``the server rejected our request due to an error in our request``;
- more than 10,000 JSON patch operations → 413;
- a content type that is not a patch type → 415 naming the supported ones;
  ``application/apply-patch+yaml`` (server-side apply) → 415 saying that server-side apply is
  not supported and client-side ``kubectl apply`` is.

Strategic merge patch follows Kubernetes' ``strategicpatch`` package: lists are merged by the
merge keys of :mod:`orchestra.apiserver.mergekeys` (other lists are replaced), ``null`` deletes
a key, and the directives kubectl emits are honoured: ``$patch: replace|delete`` (in maps and
as list elements), ``$retainKeys``, ``$deleteFromPrimitiveList/<field>`` and
``$setElementOrder/<field>``. The walk over the maps and lists is compiled
(``ext/strategicmerge.pyx``); this module gives it the kind's schema and words its errors.
"""

from __future__ import annotations

from typing import Any

import orjson

from orchestra._ext.codec import copy_json as _deep_copy
from orchestra._ext.strategicmerge import Merger, StrategicMergeError
from orchestra._ext.strategicmerge import json_equal as _json_equal
from orchestra.api import autoscaling, registry
from orchestra.apiserver import mergekeys
from orchestra.apiserver.errors import BadRequest, Invalid, RequestEntityTooLarge, UnsupportedMediaType

__all__ = [
    "PATCH_TYPES",
    "APPLY_PATCH_TYPES",
    "MAX_JSON_PATCH_OPERATIONS",
    "MAX_JSON_PATCH_COPY_BYTES",
    "patch_type_of",
    "apply_patch",
    "parse_patch",
    "touches_status_only",
    "json_merge_patch",
    "json_patch",
    "strategic_merge_patch",
]

PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
}
"""Patch content types the server accepts → the short patch type name."""

APPLY_PATCH_TYPES = frozenset({"application/apply-patch+yaml", "application/apply-patch+cbor"})
"""Server-side apply content types, which Orchestra refuses with a clear 415."""

MAX_JSON_PATCH_OPERATIONS = 10000
"""Kubernetes' limit on the number of operations in one JSON patch."""

MAX_JSON_PATCH_COPY_BYTES = 3 * 1024 * 1024
"""How much (JSON-encoded size) the ``copy`` operations of one JSON patch may copy in all.

Each ``copy`` of a value into itself doubles the document, so a few dozen operations would
otherwise exhaust memory; Kubernetes bounds the accumulated copy size the same way."""

_PATCH_REJECTED = "the server rejected our request due to an error in our request"
_SHORT_NAMES = frozenset(PATCH_TYPES.values())


def patch_type_of(content_type: str) -> str:
    """The short patch type (``json``, ``merge``, ``strategic``) of a PATCH ``Content-Type``.

    Parameters such as ``; charset=utf-8`` are ignored. Raises ``UnsupportedMediaType``.
    """
    short = PATCH_TYPES.get(content_type)
    if short is not None:  # the usual, exact content type
        return short
    if content_type in _SHORT_NAMES:  # already short (the server passes it on)
        return content_type
    media = content_type.split(";", 1)[0].strip().lower()
    if media in _SHORT_NAMES:
        return media
    short = PATCH_TYPES.get(media)
    if short is not None:
        return short
    if media in APPLY_PATCH_TYPES:
        raise UnsupportedMediaType(
            f"server-side apply ({media}) is not supported by Orchestra; "
            "use client-side apply (kubectl apply without --server-side)"
        )
    raise UnsupportedMediaType(
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(PATCH_TYPES)
    )


def parse_patch(patch: bytes | str | Any) -> Any:
    """The patch document: parsed from bytes/str (400 when malformed), else ``patch`` itself.

    A document is not copied: applying a patch (:func:`apply_patch`) never changes its
    document and never keeps its lists or objects, so one document may be applied again.
    """
    if isinstance(patch, (bytes, bytearray, memoryview, str)):
        try:
            return orjson.loads(patch)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"error decoding patch: {exc}") from None
    return patch


def touches_status_only(patch_type: str, document: Any) -> bool:
    """Whether the parsed patch ``document`` can only change the top-level ``status``.

    A merge or strategic merge patch whose one key is ``status``, or a JSON patch whose
    every path (and ``from``) is ``/status`` or under it.
    """
    if patch_type_of(patch_type) == "json":
        if type(document) is not list or not document:
            return False
        for op in document:
            if type(op) is not dict:
                return False
            for field in ("path", "from"):
                where = op.get(field, "/status") if field == "from" else op.get(field)
                if type(where) is not str or not (where == "/status" or where.startswith("/status/")):
                    return False
        return True
    return type(document) is dict and len(document) == 1 and "status" in document


def apply_patch(original: dict, patch_type: str, patch: bytes | Any, *, kind: str, api_version: str,
                in_place: bool = False) -> dict:
    """``original`` with ``patch`` applied, as a new dict (``original`` is left untouched).

    ``patch_type`` is a PATCH content type (``application/merge-patch+json``…) or a short
    name (``json``, ``merge``, ``strategic``); ``patch`` is the request body (bytes) or an
    already decoded document (see :func:`parse_patch`), which is left as it is. ``kind``
    and ``api_version`` pick the schema of a strategic merge patch. ``in_place``: the caller owns ``original`` (a private copy), so it is
    patched and returned without being copied first; it may be left half patched when
    the patch fails.
    """
    short = patch_type_of(patch_type)
    document = parse_patch(patch)
    if short == "merge":
        return json_merge_patch(original, document, in_place=in_place)
    if short == "json":
        return json_patch(original, document, in_place=in_place)
    return strategic_merge_patch(original, document, kind=kind, api_version=api_version, in_place=in_place)


# --------------------------------------------------------------------------- RFC 7386


def _merge_value(target: Any, patch: Any, owned: bool) -> Any:
    """``target`` merged with ``patch``; ``owned``: ``target`` is a private copy that may be changed."""
    if type(patch) is not dict:
        return _deep_copy(patch)
    if type(target) is not dict:
        result: dict = {}
    else:
        result = target if owned else _deep_copy(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_value(result.get(key), value, True)
    return result


def json_merge_patch(original: dict, patch: Any, *, in_place: bool = False) -> dict:
    """RFC 7386 JSON merge patch of ``original`` (a new dict, or ``original`` itself when ``in_place``).

    The patch must be an object.
    """
    if type(patch) is not dict:
        raise BadRequest("Invalid JSON Patch: a merge patch must be a JSON object")
    return _merge_value(original, patch, in_place)


# --------------------------------------------------------------------------- RFC 6902


class _PatchFailed(Exception):
    """A JSON patch operation that cannot be applied (reported as Kubernetes' 422)."""


def _rejected() -> Invalid:
    """Kubernetes' answer to a JSON patch it cannot apply: 422 with a fixed message."""
    return Invalid(_PATCH_REJECTED)


def _pointer(path: Any) -> list[str]:
    """The unescaped reference tokens of a JSON pointer (``""`` is the whole document)."""
    if not isinstance(path, str):
        raise _PatchFailed(f"path must be a string, got {path!r}")
    if path == "":
        return []
    if not path.startswith("/"):
        raise _PatchFailed(f"JSON pointer must start with '/': {path!r}")
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def _index(token: str, length: int, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return length
    if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
        raise _PatchFailed(f"invalid array index {token!r}")
    index = int(token)
    limit = length if allow_end else length - 1
    if index > limit:
        raise _PatchFailed(f"array index {index} out of bounds")
    return index


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    """The container holding the value the last token names."""
    node = doc
    for token in tokens[:-1]:
        if type(node) is dict:
            if token not in node:
                raise _PatchFailed(f"path {path!r}: missing key {token!r}")
            node = node[token]
        elif type(node) is list:
            node = node[_index(token, len(node), allow_end=False)]
        else:
            raise _PatchFailed(f"path {path!r}: {token!r} is inside a scalar")
    if type(node) not in (dict, list):
        raise _PatchFailed(f"path {path!r}: parent is not an object or array")
    return node


def _get(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if type(parent) is dict:
        if last not in parent:
            raise _PatchFailed(f"path {path!r} does not exist")
        return parent[last]
    return parent[_index(last, len(parent), allow_end=False)]


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if type(parent) is dict:
        parent[last] = value
    else:
        parent.insert(_index(last, len(parent), allow_end=True), value)
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    tokens = _pointer(path)
    if not tokens:
        raise _PatchFailed("cannot remove the whole document")
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if type(parent) is dict:
        if last not in parent:
            raise _PatchFailed(f"path {path!r} does not exist")
        return doc, parent.pop(last)
    return doc, parent.pop(_index(last, len(parent), allow_end=False))


def _replace(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if type(parent) is dict:
        if last not in parent:
            raise _PatchFailed(f"path {path!r} does not exist")
        parent[last] = value
    else:
        parent[_index(last, len(parent), allow_end=False)] = value
    return doc


def _operand(operation: dict, name: str) -> Any:
    if name not in operation:
        raise _PatchFailed(f"operation {operation.get('op')!r} needs {name!r}")
    return operation[name]


def _json_size(value: Any, limit: int) -> int:
    """The approximate JSON-encoded size of ``value``; counting stops once it passes ``limit``."""
    size = 0
    stack = [value]
    while stack and size <= limit:
        item = stack.pop()
        if type(item) is dict:
            size += 2 + len(item)
            for key, child in item.items():
                size += len(key) + 3
                stack.append(child)
        elif type(item) is list:
            size += 2 + len(item)
            stack.extend(item)
        elif type(item) is str:
            size += len(item) + 2
        else:
            size += 8
    return size


def _apply_operation(doc: Any, operation: dict, budget: list[int]) -> Any:
    """Apply one operation; ``budget`` holds the bytes ``copy`` operations may still copy."""
    op = operation.get("op")
    path = _operand(operation, "path")
    if op == "add":
        return _add(doc, path, _deep_copy(_operand(operation, "value")))
    if op == "remove":
        return _remove(doc, path)[0]
    if op == "replace":
        return _replace(doc, path, _deep_copy(_operand(operation, "value")))
    if op == "move":
        source = _operand(operation, "from")
        if path != source and path.startswith(source + "/"):
            raise _PatchFailed(f"cannot move {source!r} into its own child {path!r}")
        doc, value = _remove(doc, source)
        return _add(doc, path, value)
    if op == "copy":
        value = _get(doc, _operand(operation, "from"))
        budget[0] -= _json_size(value, budget[0])
        if budget[0] < 0:
            raise RequestEntityTooLarge(
                f"the copy operations of the JSON patch copy more than {MAX_JSON_PATCH_COPY_BYTES} bytes in all"
            )
        return _add(doc, path, _deep_copy(value))
    if op == "test":
        expected = _operand(operation, "value")
        try:
            actual = _get(doc, path)
        except _PatchFailed:
            if expected is None:
                return doc
            raise
        if not _json_equal(actual, expected):
            raise _PatchFailed(f"testing value {path} failed")
        return doc
    raise _PatchFailed(f"unexpected op {op!r}")


def json_patch(original: dict, operations: Any, *, in_place: bool = False) -> dict:
    """RFC 6902 JSON patch of ``original`` (a new dict); the operations apply atomically.

    ``in_place``: ``original`` is the caller's to change (it is not copied first, and is
    left half patched when an operation fails).
    """
    if type(operations) is not list or any(type(op) is not dict for op in operations):
        raise BadRequest("a JSON patch must be a JSON array of operation objects")
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise RequestEntityTooLarge(
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, "
            f"got {len(operations)}"
        )
    doc: Any = original if in_place else _deep_copy(original)
    budget = [MAX_JSON_PATCH_COPY_BYTES]
    try:
        for operation in operations:
            doc = _apply_operation(doc, operation, budget)
    except _PatchFailed as exc:
        raise _rejected() from exc
    if type(doc) is not dict:
        raise _rejected() from _PatchFailed("the patched document is not a JSON object")
    return doc


# --------------------------------------------------------------------------- strategic merge patch

def _root_class(kind: str, api_version: str) -> type:
    rtype = registry.by_kind(api_version, kind)
    if rtype is not None:
        return rtype.cls
    if kind == "Scale" and api_version == "autoscaling/v1":
        return autoscaling.Scale
    raise UnsupportedMediaType(
        f"strategic merge patch is not supported for {api_version}/{kind}; accepted media types "
        "include: application/json-patch+json, application/merge-patch+json"
    )


def strategic_merge_patch(original: dict, patch: Any, *, kind: str, api_version: str, in_place: bool = False) -> dict:
    """Kubernetes' strategic merge patch of ``original`` for a built-in kind.

    The result is a new dict, or ``original`` itself changed when ``in_place`` (the caller
    owns it; it may be left half patched when the patch is rejected).
    """
    cls = _root_class(kind, api_version)
    return _merge_strategically(original if in_place else _deep_copy(original), patch, cls)


def _merge_strategically(original: dict, patch: Any, cls: type) -> dict:
    """The strategic merge of ``patch`` into ``original`` (changed in place), ``cls`` its model class."""
    if type(patch) is not dict:
        raise BadRequest("a strategic merge patch must be a JSON object")
    try:
        return _MERGER.merge_map(original, patch, cls)
    except StrategicMergeError as exc:
        raise BadRequest(str(exc)) from None


def patch_in_place(original: dict, short: str, document: Any, cls: type) -> dict:
    """:func:`apply_patch` for a caller that owns ``original`` and has done its lookups once:
    ``short`` is the short patch type (see :func:`patch_type_of`), ``document`` the parsed
    patch (see :func:`parse_patch`) and ``cls`` the model class of ``original`` (a strategic
    merge's schema). ``original`` is patched and returned; it may be left half patched when
    the patch fails. The API server's status-only patches (every scheduler and kubelet status
    update) take this path.
    """
    if short == "strategic":
        return _merge_strategically(original, document, cls)
    if short == "merge":
        return json_merge_patch(original, document, in_place=True)
    return json_patch(original, document, in_place=True)


def _describe(cls: type, key: str) -> tuple[type | None, bool, str | None]:
    """What the strategic merge walk needs of field ``key`` of ``cls``: the class of its
    values, whether its lists merge element by element, and their merge key."""
    info = mergekeys.field_info(cls, key)
    if info is None:
        return None, *_list_merging(mergekeys.patch_meta(cls.__name__, key))
    return info.cls, *_list_merging(info.patch)


def _list_merging(meta: mergekeys.PatchMeta | None) -> tuple[bool, str | None]:
    if meta is None:
        return False, None
    return meta.merges_lists, meta.merge_key


#: The compiled walk; the fields it has described are kept (keys come from request bodies: bounded).
_MERGER = Merger(_describe, 10_000)
