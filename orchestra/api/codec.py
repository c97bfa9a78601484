"""Wire codec: JSON/YAML documents ⇄ plain dicts ⇄ model objects.

Decoding checks every value's type against the model and names the field path of the
first mismatch (``spec.replicas: expected integer, got string "three"``). Fields the
model does not know are kept in each object's ``extra`` and written back on encode, so
real manifests round-trip unchanged (as data). Encoded keys come in model order, which
is Kubernetes' own field order, followed by the unknown fields in their input order.
Explicit nulls are kept too, unless the field has since been given a value.

Per-class decode/encode tables are built once, on first use of a class, from its attrs
fields and type hints; decoding and encoding then only walk those tables. The walks
have two implementations with the same results and errors: the pure-Python one here
(the reference) and a compiled one (``orchestra._ext.codec``), used when it is built
unless the environment sets ``ORCHESTRA_PURE_CODEC=1``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import types
import typing
from typing import Any, Callable, Iterator

import attrs
import orjson
import yaml

from orchestra.api import registry
from orchestra.api._model import wire_name
from orchestra.api.errors import DecodeError
from orchestra.api.meta import Status
from orchestra.records import slot_fields

try:
    from orchestra._ext import codec as _compiled
except ImportError:  # not built: the pure-Python walks below do the same work
    _compiled = None

__all__ = [
    "Document",
    "decode",
    "decode_as",
    "redecode_fields",
    "encode",
    "load_documents",
    "loads",
    "dumps_json",
    "dumps_yaml",
]

# --------------------------------------------------------------------------- type errors


class _Mismatch(Exception):
    """A value of the wrong type; ``segments`` collects the path innermost-first."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.segments: list[str] = []


_TYPE_NAMES = {
    str: "string",
    int: "integer",
    bool: "boolean",
    float: "number",
    dict: "object",
    list: "array",
    type(None): "null",
}


def _describe(value: Any) -> str:
    name = _TYPE_NAMES.get(type(value), type(value).__name__)
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'{name} "{shown}"'
    if isinstance(value, bool):
        return f"{name} {'true' if value else 'false'}"
    if isinstance(value, (int, float)):
        return f"{name} {value}"
    return name


def _mismatch(expected: str, value: Any) -> _Mismatch:
    return _Mismatch(f"expected {expected}, got {_describe(value)}")


def _join_path(prefix: str, segments: list[str]) -> str:
    path = prefix
    for segment in reversed(segments):
        if segment.startswith("["):
            path += segment
        else:
            path = f"{path}.{segment}" if path else segment
    return path


# --------------------------------------------------------------------------- value codecs

Decoder = Callable[[Any], Any]
Encoder = Callable[[Any], Any]


def _copy_json(value: Any) -> Any:
    """A copy of a JSON-like value, so encoded output never aliases model state."""
    if type(value) is dict:
        return {k: _copy_json(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy_json(v) for v in value]
    return value


def _decode_str(value: Any) -> Any:
    if type(value) is str:
        return value
    raise _mismatch("string", value)


def _decode_int(value: Any) -> Any:
    t = type(value)
    if t is int:
        return value
    if t is float and value.is_integer():
        return int(value)
    raise _mismatch("integer", value)


def _decode_bool(value: Any) -> Any:
    if type(value) is bool:
        return value
    raise _mismatch("boolean", value)


def _decode_float(value: Any) -> Any:
    t = type(value)
    if t is float or t is int:
        return value
    raise _mismatch("number", value)


def _decode_any(value: Any) -> Any:
    return value


def _union_decoder(members: tuple[type, ...]) -> Decoder:
    allowed = frozenset(members)
    expected = " or ".join(_TYPE_NAMES[m] for m in members)

    def decode_union(value: Any) -> Any:
        if type(value) in allowed:
            return value
        raise _mismatch(expected, value)

    return decode_union


def _list_decoder(item: Decoder) -> Decoder:
    def decode_list(value: Any) -> Any:
        if type(value) is not list:
            raise _mismatch("array", value)
        out = []
        for i, v in enumerate(value):
            try:
                out.append(item(v))
            except _Mismatch as exc:
                exc.segments.append(f"[{i}]")
                raise
        return out

    return decode_list


def _map_decoder(item: Decoder) -> Decoder:
    def decode_map(value: Any) -> Any:
        if type(value) is not dict:
            raise _mismatch("object", value)
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                exc = _Mismatch(f"expected string key, got {_describe(k)}")
                exc.segments.append(f"[{k}]")
                raise exc
            try:
                out[k] = item(v)
            except _Mismatch as exc:
                exc.segments.append(f"[{k}]")
                raise
        return out

    return decode_map


def _list_encoder(item: Encoder | None) -> Encoder:
    if item is None:
        return list
    return lambda value: [item(v) for v in value]


def _map_encoder(item: Encoder | None) -> Encoder:
    if item is None:
        return dict
    return lambda value: {k: item(v) for k, v in value.items()}


# --------------------------------------------------------------------------- class tables


@attrs.frozen
class _ClassCodec:
    """Precomputed decode/encode tables of one model class."""

    decode: Decoder
    encode: Encoder
    by_wire: dict[str, tuple[str, Decoder]]
    fields: tuple[tuple[str, str, Encoder | None], ...]


#: Adds one field to a class's decoder and encoder: (wire name, attribute name, decoder, encoder).
FieldAdder = Callable[[str, str, Decoder, "Encoder | None"], None]


@attrs.frozen
class _Impl:
    """One implementation of the value codecs and the per-object walks."""

    name: str
    primitives: dict[Any, Decoder]  # type hint -> decoder
    union_decoder: Callable[[tuple[type, ...]], Decoder]
    list_decoder: Callable[[Decoder], Decoder]
    map_decoder: Callable[[Decoder], Decoder]
    list_encoder: Callable[["Encoder | None"], Encoder]
    map_encoder: Callable[["Encoder | None"], Encoder]
    copy_json: Encoder
    object_codecs: Callable[[type], tuple[Decoder, Encoder, FieldAdder]]


_BUILDING: dict[type, _ClassCodec] = {}  # tables being filled, guarded by _BUILD_LOCK
_BUILD_LOCK = threading.RLock()
_PRIMITIVE_DECODERS: dict[Any, Decoder] = {
    str: _decode_str,
    int: _decode_int,
    bool: _decode_bool,
    float: _decode_float,
    Any: _decode_any,
}


def _value_codec(impl: _Impl, hint: Any) -> tuple[Decoder, Encoder | None]:
    """The decoder and encoder (None: the value is already wire-ready) for a type hint."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = tuple(a for a in typing.get_args(hint) if a is not type(None))
        if len(members) == 1:
            return _value_codec(impl, members[0])
        if all(m in (str, int, bool, float) for m in members):
            return impl.union_decoder(members), None
        raise TypeError(f"unsupported union in model: {hint!r}")
    if origin is list:
        (item,) = typing.get_args(hint)
        dec, enc = _value_codec(impl, item)
        return impl.list_decoder(dec), impl.list_encoder(enc)
    if origin is dict:
        _, item = typing.get_args(hint)
        dec, enc = _value_codec(impl, item)
        return impl.map_decoder(dec), impl.map_encoder(enc)
    if hint in impl.primitives:
        return impl.primitives[hint], (impl.copy_json if hint is Any else None)
    if hint is dict:
        return impl.map_decoder(impl.primitives[Any]), impl.copy_json
    if attrs.has(hint):
        # A class being built (a cycle) is already registered with working functions.
        nested = _codec(hint)
        return nested.decode, nested.encode
    raise TypeError(f"unsupported type in model: {hint!r}")


def _codec(cls: type) -> _ClassCodec:
    codec = _CODECS.get(cls)
    if codec is not None:
        return codec
    if not attrs.has(cls):
        raise TypeError(f"{cls.__name__} is not a model class")
    with _BUILD_LOCK:
        codec = _CODECS.get(cls) or _BUILDING.get(cls)
        if codec is not None:
            return codec
        outermost = not _BUILDING
        try:
            codec = _build_codec(cls)
        except BaseException:
            if outermost:
                _BUILDING.clear()
            raise
        if outermost:
            # Publish every table of this build at once, so no other thread can
            # reach a table whose nested tables are still being filled.
            _CODECS.update(_BUILDING)
            _BUILDING.clear()
        return codec


def _build_codec(cls: type) -> _ClassCodec:
    """Build the tables of ``cls`` (and, recursively, of the classes it uses); lock held."""
    impl = _IMPL
    hints = typing.get_type_hints(cls, globalns=vars(sys.modules[cls.__module__]), localns={})
    by_wire: dict[str, tuple[str, Decoder]] = {}
    fields: list[tuple[str, str, Encoder | None]] = []
    decode_object, encode_object, add_field = impl.object_codecs(cls)
    codec = _ClassCodec(decode=decode_object, encode=encode_object, by_wire=by_wire, fields=())
    _BUILDING[cls] = codec  # before filling the tables, so self-references resolve
    for attribute in attrs.fields(cls):
        if attribute.name == "extra":
            continue
        wire = wire_name(attribute)
        dec, enc = _value_codec(impl, hints[attribute.name])
        by_wire[wire] = (attribute.name, dec)
        add_field(wire, attribute.name, dec, enc)
        fields.append((attribute.name, wire, enc))
    codec = attrs.evolve(codec, fields=tuple(fields))
    _BUILDING[cls] = codec
    return codec


#: Primitive decoders and the one type each passes through unchanged (checked inline, without a call).
_EXACT_TYPES: dict[Decoder, type] = {_decode_str: str, _decode_int: int, _decode_bool: bool, _decode_float: float}


def _object_decoder(cls: type, table: dict[str, tuple[str, Decoder, type | None]]) -> Decoder:
    def decode_object(value: Any) -> Any:
        if type(value) is not dict:
            raise _mismatch("object", value)
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] | None = None
        for key, item in value.items():
            entry = table.get(key)
            if entry is None or item is None:
                # Unknown fields, and explicit nulls of known ones, round-trip via extra.
                if extra is None:
                    extra = {}
                extra[key] = item
                continue
            name, dec, exact = entry
            if type(item) is exact:
                kwargs[name] = item
                continue
            try:
                kwargs[name] = dec(item)
            except _Mismatch as exc:
                exc.segments.append(key)
                raise
        if extra:
            kwargs["extra"] = extra
        return cls(**kwargs)

    return decode_object


def _object_encoder(fields: list[tuple[str, str, Encoder | None]]) -> Encoder:
    def encode_object(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, wire, enc in fields:
            value = getattr(obj, name)
            if value is not None:
                out[wire] = value if enc is None else enc(value)
        extra = obj.extra
        if extra:
            for key, value in extra.items():
                if key not in out:
                    out[key] = _copy_json(value)
        return out

    return encode_object


def _python_object_codecs(cls: type) -> tuple[Decoder, Encoder, FieldAdder]:
    table: dict[str, tuple[str, Decoder, type | None]] = {}
    fields: list[tuple[str, str, Encoder | None]] = []

    def add_field(wire: str, name: str, dec: Decoder, enc: Encoder | None) -> None:
        table[wire] = (name, dec, _EXACT_TYPES.get(dec))
        fields.append((name, wire, enc))

    return _object_decoder(cls, table), _object_encoder(fields), add_field


_PYTHON = _Impl(
    name="python",
    primitives=_PRIMITIVE_DECODERS,
    union_decoder=_union_decoder,
    list_decoder=_list_decoder,
    map_decoder=_map_decoder,
    list_encoder=_list_encoder,
    map_encoder=_map_encoder,
    copy_json=_copy_json,
    object_codecs=_python_object_codecs,
)


def _slot_descriptors(cls: type) -> dict[str, Any] | None:
    """The member descriptors of every attrs field of ``cls`` (``extra`` included), when
    allocating an object and storing each field through them is exactly what
    ``cls(**kwargs)`` does, and reading through them exactly what ``getattr`` does; else None.

    That holds for the plain model classes of :func:`orchestra.api._model.model`: what
    :func:`orchestra.records.slot_fields` accepts, with defaults None, an ``extra`` dict
    factory, no aliases, and no custom ``__setattr__`` or ``__getattribute__``.
    """
    if cls.__setattr__ is not object.__setattr__ or cls.__getattribute__ is not object.__getattribute__:
        return None
    fields = slot_fields(cls)
    if fields is None:
        return None
    descriptors: dict[str, Any] = {}
    for attribute, descriptor in fields:
        if attribute.alias != attribute.name:
            return None
        if attribute.name == "extra":
            default = attribute.default
            if not isinstance(default, attrs.Factory) or default.factory is not dict or default.takes_self:
                return None
        elif attribute.default is not None:
            return None
        descriptors[attribute.name] = descriptor
    return descriptors if "extra" in descriptors else None


def _compiled_object_codecs(cls: type) -> tuple[Decoder, Encoder, FieldAdder]:
    descriptors = _slot_descriptors(cls)
    extra = descriptors["extra"] if descriptors else None
    decoder = _compiled.ObjectDecoder(cls, extra)
    encoder = _compiled.ObjectEncoder(cls, extra)
    exact = _COMPILED_EXACT_TYPES

    def add_field(wire: str, name: str, dec: Decoder, enc: Encoder | None) -> None:
        descriptor = descriptors[name] if descriptors else None
        decoder.add(wire, name, descriptor, dec, exact.get(dec))
        encoder.add(name, wire, descriptor, enc)

    return decoder, encoder, add_field


#: The compiled primitive decoders and the one type each passes through unchanged.
_COMPILED_EXACT_TYPES: dict[Decoder, type] = (
    {}
    if _compiled is None
    else {_compiled.decode_str: str, _compiled.decode_int: int, _compiled.decode_bool: bool, _compiled.decode_float: float}
)


def _compiled_impl() -> _Impl | None:
    if _compiled is None:
        return None
    _compiled.configure(_Mismatch, _mismatch, _describe)
    c = _compiled

    def union_decoder(members: tuple[type, ...]) -> Decoder:
        return c.union_decoder(frozenset(members), " or ".join(_TYPE_NAMES[m] for m in members))

    return _Impl(
        name="compiled",
        primitives={str: c.decode_str, int: c.decode_int, bool: c.decode_bool, float: c.decode_float,
                    Any: c.decode_any},
        union_decoder=union_decoder,
        list_decoder=c.list_decoder,
        map_decoder=c.map_decoder,
        list_encoder=lambda item: c.copy_list if item is None else c.list_encoder(item),
        map_encoder=lambda item: c.copy_dict if item is None else c.map_encoder(item),
        copy_json=c.copy_json_encoder,
        object_codecs=_compiled_object_codecs,
    )


_COMPILED = _compiled_impl()
#: ORCHESTRA_PURE_CODEC=1 keeps the compiled walks out (to compare, or to rule them out).
_IMPL = _PYTHON if os.environ.get("ORCHESTRA_PURE_CODEC", "") not in ("", "0") else _COMPILED or _PYTHON
_TABLES: dict[str, dict[type, _ClassCodec]] = {"python": {}, "compiled": {}}
_CODECS: dict[type, _ClassCodec] = _TABLES[_IMPL.name]  # complete tables only: read without locking


def _implementation() -> str:
    """The walks in use: ``"compiled"`` or ``"python"``."""
    return _IMPL.name


def _use_implementation(name: str) -> None:
    """Switch to the ``"compiled"`` or the ``"python"`` walks (for tests and benchmarks).

    Each keeps its own tables. Raises ``RuntimeError`` for ``"compiled"`` when the
    extension is not built. Not meant to race with decoding in other threads.
    """
    global _IMPL, _CODECS
    impl = {"python": _PYTHON, "compiled": _COMPILED}[name]
    if impl is None:
        raise RuntimeError("the compiled codec (orchestra._ext.codec) is not built")
    with _BUILD_LOCK:
        _IMPL = impl
        _CODECS = _TABLES[name]


# --------------------------------------------------------------------------- objects

_NON_RESOURCE_KINDS: dict[tuple[str, str], type] = {("v1", "Status"): Status}


def _class_for(api_version: Any, kind: Any) -> type:
    if type(api_version) is str and type(kind) is str and api_version and kind:
        rt = registry.by_kind(api_version, kind)
        if rt is not None:
            return rt.cls
    for name, value in (("apiVersion", api_version), ("kind", kind)):
        if value is None or value == "":
            raise DecodeError(f"{name} is required", path=name)
        if type(value) is not str:
            raise DecodeError(f"expected string, got {_describe(value)}", path=name)
    rt = registry.by_kind(api_version, kind)
    if rt is not None:
        return rt.cls
    cls = _NON_RESOURCE_KINDS.get((api_version, kind))
    if cls is not None:
        return cls
    raise DecodeError(f'no kind "{kind}" is registered for version "{api_version}"', path="kind")


def decode(data: dict, *, path: str = "") -> Any:
    """Decode a wire dict into the model class its ``apiVersion`` and ``kind`` name.

    ``path`` prefixes field paths in errors (``items[3]`` for a list item).
    Raises :class:`DecodeError` for an unknown kind or a value of the wrong type.
    """
    if type(data) is not dict:
        raise DecodeError(f"expected object, got {_describe(data)}", path=path or None)
    try:
        cls = _class_for(data.get("apiVersion"), data.get("kind"))
    except DecodeError as exc:
        raise DecodeError(exc.reason, path=_join_path(path, [exc.path])) from None
    return decode_as(cls, data, path=path)


def decode_as(cls: type, data: Any, *, path: str = "") -> Any:
    """Decode a wire dict as ``cls`` (any model class), whatever its ``kind`` says."""
    try:
        return (_CODECS.get(cls) or _codec(cls)).decode(data)
    except _Mismatch as exc:
        raise DecodeError(exc.reason, path=_join_path(path, exc.segments) or None) from None


def redecode_fields(obj: Any, data: dict, keys: tuple[str, ...]) -> bool:
    """Bring ``obj``, decoded from ``data`` before, up to date with ``data``'s top-level ``keys``, in place.

    After this, ``obj`` equals a fresh ``decode_as(type(obj), data)`` provided only
    those keys of ``data`` changed since ``obj`` was decoded: the rest of the decode is
    reused. Returns False, leaving ``obj`` unchanged, when a key is now an explicit null
    (where a fresh decode would place it among the extras cannot be told here); raises
    :class:`DecodeError` for a value of the wrong type.
    """
    by_wire = _codec(type(obj)).by_wire
    decoded: list[tuple[str, str, Any]] = []
    for key in keys:
        if key in data and data[key] is None:
            return False
        entry = by_wire.get(key)
        if entry is None:
            return False
        name, dec = entry
        value = data.get(key)
        if value is not None:
            try:
                value = dec(value)
            except _Mismatch as exc:
                raise DecodeError(exc.reason, path=_join_path("", [*exc.segments, key]) or None) from None
        decoded.append((key, name, value))
    for key, name, value in decoded:
        setattr(obj, name, value)
        if obj.extra:
            obj.extra.pop(key, None)
    return True


def encode(obj: Any) -> dict[str, Any]:
    """Encode a model object as a wire dict: camelCase keys, absent fields left out, extras kept."""
    cls = type(obj)
    return (_CODECS.get(cls) or _codec(cls)).encode(obj)


# --------------------------------------------------------------------------- documents


def _yaml_loader_base() -> type:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_yaml_loader_base()):  # type: ignore[misc]
    """Safe YAML loader that keeps timestamps as strings, as Kubernetes' YAML decoder does."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_str)


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Safe YAML dumper (LibYAML when present); callers ask for block style and input key order."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line strings (scripts, config files in ConfigMaps) read best as literal blocks.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


@attrs.define
class Document:
    """One object from a file: the raw dict, where it came from, and field line lookup."""

    source: str | None
    index: int
    line: int
    data: dict
    _node: Any = attrs.field(default=None, repr=False, eq=False)
    _text: str | None = attrs.field(default=None, repr=False, eq=False)
    _lines: dict[str, int] | None = attrs.field(default=None, repr=False, eq=False)

    def line_of(self, path: str) -> int | None:
        """The 1-based line of a field path (``spec.containers[0].image``), or None if unknown.

        Falls back to the nearest enclosing field that has a line.
        """
        if self._lines is None:
            self._lines = self._build_lines()
        path = path or ""
        while True:
            line = self._lines.get(path)
            if line is not None:
                return line
            if not path:
                return None
            path = _parent_path(path)

    def _build_lines(self) -> dict[str, int]:
        node = self._node
        if node is None and self._text is not None:
            node = _compose_or_none(self._text)
        if node is None:
            return {}
        lines: dict[str, int] = {}
        _index_node(node, "", lines)
        return lines


def _compose_or_none(text: str) -> Any:
    """The YAML node tree of a single-document text (JSON included), or None."""
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return None


def _parent_path(path: str) -> str:
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""


def _index_node(node: Any, path: str, lines: dict[str, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = f"{path}.{key}" if path else key
            line = key_node.start_mark.line + 1
            lines[child] = line
            if path:
                lines.setdefault(f"{path}[{key}]", line)  # map keys as error paths print them
            _index_node(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_node(item, f"{path}[{i}]", lines)


def _item_node(node: Any, i: int) -> Any:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == "items" and isinstance(value_node, yaml.SequenceNode):
                return value_node.value[i] if i < len(value_node.value) else None
    return None


def _is_list_kind(data: dict) -> bool:
    kind = data.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and isinstance(data.get("items"), list)


def _as_text(text: str | bytes) -> str:
    if isinstance(text, bytes):
        try:
            return text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"input is not UTF-8: {exc.reason}") from None
    return text


def _looks_like_json(text: str) -> bool:
    stripped = text.lstrip()
    return stripped.startswith("{") or stripped.startswith("[")


def _raw_documents(text: str, source: str | None) -> Iterator[tuple[int, Any, Any, int]]:
    """Yield ``(index, data, node, line)`` per document, skipping empty ones."""
    if _looks_like_json(text):
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            if not text.lstrip().startswith("["):
                # Not JSON after all: flow-style YAML ({a: b}) is valid YAML.
                yield from _yaml_documents(text, source)
                return
            raise DecodeError(
                f"invalid JSON: {exc.msg}", source=source, line=exc.lineno, column=exc.colno
            ) from None
        if isinstance(data, list):
            raise DecodeError("expected an object, got an array", source=source, document=0, line=1)
        line = text[: len(text) - len(text.lstrip())].count("\n") + 1
        yield 0, data, None, line
        return
    yield from _yaml_documents(text, source)


def _yaml_documents(text: str, source: str | None) -> Iterator[tuple[int, Any, Any, int]]:
    loader = _Loader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                data = loader.construct_document(node)
                if data is not None:
                    yield index, data, node, node.start_mark.line + 1
            index += 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = " ".join(p for p in (exc.context, exc.problem) if p) or "malformed YAML"
        raise DecodeError(
            f"invalid YAML: {reason}",
            source=source,
            document=index,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise DecodeError(f"invalid YAML: {exc}", source=source, document=index) from None
    finally:
        loader.dispose()


def _check_object(data: Any, source: str | None, index: int, line: int, where: str = "") -> None:
    if not isinstance(data, dict):
        raise DecodeError(
            f"document{where} is not a mapping (got {_describe(data)})",
            source=source,
            document=index,
            line=line,
        )
    for name in ("apiVersion", "kind"):
        if not data.get(name):
            raise DecodeError(f"document{where} has no {name}", source=source, document=index, line=line)


def load_documents(text: str | bytes, *, source: str | None = None) -> list[Document]:
    """Parse JSON or (multi-document) YAML into :class:`Document` objects.

    ``kind: List`` and ``*List`` documents are expanded into their items; empty
    documents are skipped. Malformed input, a document that is not a mapping, or one
    without apiVersion/kind raises :class:`DecodeError` naming source, document and line.
    """
    text = _as_text(text)
    documents: list[Document] = []
    for index, data, node, line in _raw_documents(text, source):
        _check_object(data, source, index, line)
        if _is_list_kind(data):
            if node is None:
                # A JSON list: its items' lines are worth one YAML compose of the file.
                node = _compose_or_none(text)
            for i, item in enumerate(data["items"]):
                item_node = _item_node(node, i) if node is not None else None
                item_line = item_node.start_mark.line + 1 if item_node is not None else line
                _check_object(item, source, index, item_line, where=f" items[{i}]")
                documents.append(
                    Document(source=source, index=index, line=item_line, data=item, node=item_node)
                )
            continue
        documents.append(
            Document(
                source=source,
                index=index,
                line=line,
                data=data,
                node=node,
                text=text if node is None else None,
            )
        )
    return documents


def loads(text: str | bytes, source: str | None = None) -> list[Any]:
    """Load every document of ``text`` and decode it; errors carry source, document and line."""
    objects = []
    for document in load_documents(text, source=source):
        try:
            objects.append(decode(document.data))
        except DecodeError as exc:
            raise DecodeError(
                exc.reason,
                source=source,
                document=document.index,
                line=document.line_of(exc.path or "") or document.line,
                path=exc.path,
            ) from None
    return objects


# --------------------------------------------------------------------------- output


def _plain(obj: Any) -> Any:
    return obj if isinstance(obj, (dict, list)) else encode(obj)


def dumps_json(obj: Any) -> bytes:
    """Serialize a model object (or a wire dict) as compact JSON bytes."""
    data = _plain(obj)
    try:
        return orjson.dumps(data)
    except TypeError:
        # Integers beyond 64 bits or non-string keys (possible in unknown YAML fields):
        # the standard library copes with both.
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def dumps_yaml(obj: Any) -> str:
    """Serialize a model object, a wire dict, or a list of them (multi-document) as YAML."""
    if isinstance(obj, list):
        return yaml.dump_all(
            [_plain(o) for o in obj], Dumper=_Dumper, default_flow_style=False, sort_keys=False
        )
    return yaml.dump(_plain(obj), Dumper=_Dumper, default_flow_style=False, sort_keys=False)
