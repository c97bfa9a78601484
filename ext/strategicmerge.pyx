# cython: language_level=3
"""The walk of Kubernetes' strategic merge patch over JSON values, compiled.

:mod:`orchestra.apiserver.patch` parses the patch, picks the kind's class and words the
errors; this module merges the patch's maps and lists into the original, in place. What a
field is (the class of its values, whether its lists merge by key and on which key) comes
from the schema lookup the caller hands to :class:`Merger`, so this module knows nothing of
API kinds: it reads dicts, lists, strings and numbers.

Every status update a scheduler or a kubelet sends is a strategic merge patch (a condition
added to ``status.conditions``); the walk is most of its cost in Python.
"""

import orjson

from orchestra._ext.codec import copy_json as deep_copy

__all__ = ["Merger", "StrategicMergeError", "json_equal"]

cdef extern from "Python.h":
    # 0, or 1 with RecursionError set (not -1).
    int Py_EnterRecursiveCall(const char* where) except 1
    void Py_LeaveRecursiveCall()

cdef str _DIRECTIVE = "$patch"
cdef str _RETAIN_KEYS = "$retainKeys"
cdef str _DELETE_PRIMITIVES = "$deleteFromPrimitiveList/"
cdef str _SET_ORDER = "$setElementOrder/"


class StrategicMergeError(ValueError):
    """The patch cannot be applied as written (the caller answers 400 with this message)."""


cpdef bint json_equal(object a, object b) except -1:
    """JSON value equality: ``1 == 1.0`` but ``true != 1``."""
    if type(a) is str:  # merge keys are mostly strings
        return type(b) is str and a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    cdef Py_ssize_t i
    if type(a) is dict:
        if (<dict>a).keys() != (<dict>b).keys():
            return False
        for k, v in (<dict>a).items():
            if not json_equal(v, (<dict>b)[k]):
                return False
        return True
    if type(a) is list:
        if len(<list>a) != len(<list>b):
            return False
        for i in range(len(<list>a)):
            if not json_equal((<list>a)[i], (<list>b)[i]):
                return False
        return True
    return a == b


cdef bint _holds(list values, object value) except -1:
    """Whether ``values`` holds a JSON value equal to ``value``."""
    for v in values:
        if json_equal(v, value):
            return True
    return False


cdef bint _all_str(list values):
    for v in values:
        if type(v) is not str:
            return False
    return True


cdef str _where(object path):
    return path or "<root>"


cdef class Merger:
    """Strategic merge of JSON maps, with the field schema looked up through ``describe``.

    ``describe(cls, key)`` answers ``(item_cls, merges_lists, merge_key)`` for field ``key``
    of class ``cls``: the class of its values (objects, or list and map items; None when
    unknown), whether its lists are merged element by element, and the key they are merged
    on (None for lists of scalars). Answers are kept for at most ``limit`` fields (the keys
    come from request bodies).
    """

    cdef object describe
    cdef dict fields
    cdef Py_ssize_t limit

    def __init__(self, describe, Py_ssize_t limit):
        self.describe = describe
        self.fields = {}
        self.limit = limit

    def merge_map(self, dict original, dict patch, cls, path=""):
        """Merge ``patch`` into ``original`` (changed in place and returned, or replaced by a
        ``$patch`` directive); ``cls`` is the class of ``original``, ``path`` where it is."""
        return self._merge_map(original, patch, cls, path)

    cdef tuple _field(self, object cls, object key):
        if cls is None:
            return (None, False, None)
        cdef object found = self.fields.get((cls, key))
        if found is None:
            found = tuple(self.describe(cls, key))
            if len(self.fields) < self.limit:
                self.fields[(cls, key)] = found
        return <tuple>found

    cdef dict _merge_map(self, dict original, dict patch, object cls, object path):
        Py_EnterRecursiveCall(" in a strategic merge patch")  # a RecursionError, as in Python, not a crash
        try:
            for key in patch:
                if type(key) is str and (<str>key).startswith("$"):  # every directive starts with "$"
                    return self._merge_directed_map(original, patch, cls, path)
            return self._merge_fields(original, patch, cls, path)
        finally:
            Py_LeaveRecursiveCall()

    cdef dict _merge_fields(self, dict original, dict patch, object cls, object path):
        cdef tuple field
        for key, value in patch.items():
            kind = type(value)
            if kind is not dict and kind is not list:
                if value is None:
                    original.pop(key, None)
                else:
                    original[key] = value  # a scalar replaces whatever was there
                continue
            child = f"{path}.{key}" if path else key
            field = self._field(cls, key)
            item_cls = field[0]
            current = original.get(key)
            if type(current) is not kind:
                original[key] = self._fresh(value, item_cls, field, child)
            elif kind is dict:
                original[key] = self._merge_map(<dict>current, <dict>value, item_cls, child)
            elif field[1]:
                original[key] = self._merge_list(<list>current, <list>value, item_cls, field[2], child)
            else:
                original[key] = self._fresh(value, item_cls, field, child)
        return original

    cdef dict _merge_directed_map(self, dict original, dict patch, object cls, object path):
        if _DIRECTIVE in patch:
            directive = patch[_DIRECTIVE]
            if directive == "replace":
                return self._fresh_map({k: v for k, v in patch.items() if k != _DIRECTIVE}, cls, path)
            if directive == "delete":
                return {}
            raise StrategicMergeError(f"unknown patch type: {directive!r} in map at {_where(path)}")

        if _RETAIN_KEYS in patch:
            retain = patch[_RETAIN_KEYS]
            if type(retain) is not list or not _all_str(<list>retain):
                raise StrategicMergeError(f"invalid patch: $retainKeys at {_where(path)} must be a list of field names")
            keep = set(retain)
            for key in [k for k in original if k not in keep]:
                del original[key]

        cdef dict orders = {}
        cdef dict fields = {}
        for key, value in patch.items():
            if not (type(key) is str and (<str>key).startswith("$")):
                fields[key] = value
            elif (<str>key).startswith(_DELETE_PRIMITIVES):
                field = key[len(_DELETE_PRIMITIVES):]
                if type(value) is not list:
                    raise StrategicMergeError(f"invalid patch: {key} at {_where(path)} must be a list")
                current = original.get(field)
                if type(current) is list:
                    original[field] = [v for v in <list>current if not _holds(<list>value, v)]
            elif (<str>key).startswith(_SET_ORDER):
                if type(value) is not list:
                    raise StrategicMergeError(f"invalid patch: {key} at {_where(path)} must be a list")
                field = key[len(_SET_ORDER):]
                current = original.get(field)
                orders[field] = (value, list(current) if type(current) is list else [])

        self._merge_fields(original, fields, cls, path)

        for field, (order, server) in orders.items():
            current = original.get(field)
            if type(current) is list:
                original[field] = _apply_order(current, order, server, self._field(cls, field)[2])
        return original

    cdef dict _fresh_map(self, dict patch, object cls, object path):
        """``patch`` as a new map: directives and nulls removed, nested values made fresh."""
        cdef dict fresh = {}
        for key, value in patch.items():
            kind = type(value)
            if kind is dict or kind is list or (type(key) is str and (<str>key).startswith("$")):
                return self._merge_map({}, patch, cls, path)
            if value is not None:
                fresh[key] = value  # most list elements a patch adds hold scalars only
        return fresh

    cdef object _fresh(self, object value, object cls, tuple field, object path):
        """A patch value for a key the original lacks (or must replace): directives and nulls removed."""
        if type(value) is dict:
            return self._fresh_map(<dict>value, cls, path)
        if type(value) is list:
            if field[1]:
                return self._merge_list([], <list>value, cls, field[2], path)
            return [self._fresh_map(<dict>v, cls, path) if type(v) is dict else deep_copy(v) for v in <list>value]
        return value

    cdef list _merge_list(self, list original, list patch, object cls, object merge_key, object path):
        """Merge a patch list into a list with the ``merge`` strategy (in place where possible)."""
        cdef list plain = []
        cdef bint all_maps = True
        for element in patch:
            if type(element) is not dict:
                all_maps = False
            elif _DIRECTIVE in <dict>element:
                directive = (<dict>element)[_DIRECTIVE]
                if directive == "replace":
                    return [
                        self._fresh_map(<dict>e, cls, path) if type(e) is dict else deep_copy(e)
                        for e in patch
                        if not (type(e) is dict and _DIRECTIVE in <dict>e)
                    ]
                if directive == "delete":
                    if merge_key is None or merge_key not in <dict>element:
                        raise _missing_merge_key(element, merge_key, path)
                    target = (<dict>element)[merge_key]
                    original = [
                        e for e in original if not (type(e) is dict and json_equal((<dict>e).get(merge_key), target))
                    ]
                    continue
                if directive == "merge":
                    raise StrategicMergeError(f"merging lists cannot yet be specified in the patch at {path}")
                raise StrategicMergeError(f"unknown patch type: {directive!r} in list at {path}")
            plain.append(element)

        cdef list merged = list(original)
        cdef Py_ssize_t i
        if merge_key is None or not all_maps:
            for element in plain:
                if not _holds(merged, element):
                    merged.append(deep_copy(element))
            return merged

        for element in plain:
            if merge_key not in <dict>element:
                raise _missing_merge_key(element, merge_key, path)
            key = (<dict>element)[merge_key]
            for i in range(len(merged)):
                existing = merged[i]
                if type(existing) is dict and json_equal((<dict>existing).get(merge_key), key):
                    merged[i] = self._merge_map(<dict>existing, <dict>element, cls, f"{path}[{merge_key}={key}]")
                    break
            else:
                merged.append(self._fresh_map(<dict>element, cls, f"{path}[{merge_key}={key}]"))
        return merged


cdef object _missing_merge_key(object element, object merge_key, object path):
    shown = orjson.dumps(element, default=str).decode()
    return StrategicMergeError(f"{path}: {shown} does not contain declared merge key: {merge_key}")


cdef bytes _identity(object element, object merge_key):
    """A hashable identity of a list element: its merge key value, or the whole value."""
    value = element.get(merge_key) if merge_key is not None and type(element) is dict else element
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits in a decoded document
        return repr(value).encode()


def _apply_order(list merged, list order, list server, object merge_key):
    """Reorder ``merged`` by a ``$setElementOrder`` list, as Kubernetes does.

    Elements named in ``order`` take its order; the others (present only on the server) keep
    their order and are slotted in by their position in ``server``, the list before the
    patch. An element the server did not have sorts before any server element.
    """
    wanted = {}
    for n, entry in enumerate(order):
        wanted.setdefault(_identity(entry, merge_key), n)
    server_position = {}
    for n, element in enumerate(server):
        server_position.setdefault(_identity(element, merge_key), n)
    ordered = sorted(
        [e for e in merged if _identity(e, merge_key) in wanted], key=lambda e: wanted[_identity(e, merge_key)]
    )
    server_only = [e for e in merged if _identity(e, merge_key) not in wanted]
    result = []
    i = j = 0
    while i < len(server_only) or j < len(ordered):
        if j >= len(ordered):
            result.append(server_only[i])
            i += 1
            continue
        if i < len(server_only):
            left = server_position.get(_identity(server_only[i], merge_key))
            right = server_position.get(_identity(ordered[j], merge_key))
            if left is not None and right is not None and left < right:
                result.append(server_only[i])
                i += 1
                continue
        result.append(ordered[j])
        j += 1
    return result
