"""Type stubs of the API codec's compiled walks (``orchestra._ext.codec``, built from ``ext/codec.pyx``).

Decoders and encoders are built once per model class by ``orchestra.api.codec`` and
only walk its tables; each does exactly what its pure-Python counterpart there does.
"""

from typing import Any, Callable

__all__ = [
    "configure", "Decoder", "Encoder", "ObjectDecoder", "ObjectEncoder",
    "decode_str", "decode_int", "decode_bool", "decode_float", "decode_any",
    "union_decoder", "list_decoder", "map_decoder", "as_decoder",
    "copy_list", "copy_dict", "copy_json_encoder", "list_encoder", "map_encoder", "as_encoder",
    "copy_json", "is_string_map", "matches_shape", "SlotRecord",
]

def configure(
    mismatch_type: type[Exception], mismatch: Callable[[str, Any], Exception], describe: Callable[[Any], str], /
) -> None:
    """Set how type errors are raised: ``mismatch(expected, value)`` makes an instance of
    ``mismatch_type`` (an exception with a ``segments`` list); ``describe(value)`` names
    a value in messages."""

class Decoder:
    """A value decoder: ``decoder(value)`` returns the decoded value or raises a mismatch."""

    def __call__(self, value: Any, /) -> Any: ...

class Encoder:
    """A value encoder: ``encoder(value)`` returns the wire form of a (non-None) value."""

    def __call__(self, value: Any, /) -> Any: ...

class ObjectDecoder(Decoder):
    """The decoder of one model class; fields are added once with :meth:`add`.

    ``extra_descr`` is the member descriptor of the ``extra`` slot when objects may be
    built directly (every field then needs its descriptor), else None: objects are then
    made by ``cls(**kwargs)``.
    """

    def __init__(self, cls: type, extra_descr: Any = None, /) -> None: ...
    def add(self, wire: str, name: str, descr: Any, dec: Callable[[Any], Any], exact: type | None, /) -> None:
        """Add the field ``name`` read from the wire key ``wire``, decoded by ``dec`` unless
        its value's type is exactly ``exact`` (None: always decode)."""

class ObjectEncoder(Encoder):
    """The encoder of one model class; fields are added once, in model order, with :meth:`add`.

    With ``extra_descr`` (the ``extra`` slot's member descriptor) objects of exactly
    ``cls`` are read through their slot descriptors; other objects through ``getattr``.
    """

    def __init__(self, cls: type, extra_descr: Any = None, /) -> None: ...
    def add(self, name: str, wire: str, descr: Any, enc: Callable[[Any], Any] | None, /) -> None:
        """Add the field ``name``, written as ``wire`` through ``enc`` (None: as is)."""

decode_str: Decoder
decode_int: Decoder
decode_bool: Decoder
decode_float: Decoder
decode_any: Decoder
copy_list: Encoder
copy_dict: Encoder
copy_json_encoder: Encoder

def as_decoder(func: Callable[[Any], Any], /) -> Decoder:
    """``func`` if it is a :class:`Decoder`, else a decoder that calls it."""

def as_encoder(func: Callable[[Any], Any], /) -> Encoder:
    """``func`` if it is an :class:`Encoder`, else an encoder that calls it."""

def union_decoder(allowed: frozenset[type], expected: str, /) -> Decoder:
    """A decoder letting through values whose exact type is in ``allowed``."""

def list_decoder(item: Callable[[Any], Any], /) -> Decoder:
    """A decoder of arrays whose items ``item`` decodes; errors name the index."""

def map_decoder(item: Callable[[Any], Any], /) -> Decoder:
    """A decoder of string-keyed objects whose values ``item`` decodes; errors name the key."""

def list_encoder(item: Callable[[Any], Any], /) -> Encoder:
    """An encoder of sequences: a new list of ``item`` applied to each element."""

def map_encoder(item: Callable[[Any], Any], /) -> Encoder:
    """An encoder of mappings: a new dict of ``item`` applied to each value."""

def copy_json(value: Any, /) -> Any:
    """A copy of a JSON-like value (new dicts and lists all the way down, other values shared)."""

def is_string_map(value: Any, keys: frozenset[str] | None = None, any_value: frozenset[str] | None = None) -> bool:
    """Whether ``value`` is a dict whose every value is a str, but under the keys of ``any_value``,
    whose values may be anything; with ``keys``, also whose every key is one of them."""

def matches_shape(value: Any, shape: dict[str, Any]) -> bool:
    """Whether ``value`` is a dict whose every key is one of ``shape``'s and whose every value has
    exactly the type ``shape`` gives that key, or matches the nested shape ``shape`` gives it, or
    (a one-item list in ``shape``) is a list whose every item matches that item."""

class SlotRecord:
    """Makes (``record(*values)``, one value per field, in order; the fields after the first
    ``required`` may be left out and are None) and copies objects of one slotted class by
    storing each field straight into its slot (``orchestra.records`` decides which classes
    qualify)."""

    def __init__(self, cls: type, names: tuple[str, ...], descriptors: tuple[Any, ...], required: int = -1, /) -> None: ...
    def __call__(self, *values: Any) -> Any: ...
    def replace(self, obj: Any, name: str, value: Any, /) -> Any:
        """A copy of ``obj`` (of exactly this class) with field ``name`` set to ``value``."""
