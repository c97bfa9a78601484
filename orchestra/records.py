"""attrs records made and copied without a call per field.

A frozen attrs class's ``__init__`` stores each field through ``object.__setattr__``
(the class's own ``__setattr__`` refuses every change), so making a six-field
:class:`~orchestra.store.KeyValue` costs several times what a plain class's does,
and ``attrs.evolve`` of a 28-field :class:`~orchestra.scheduler.PodInfo` far more.
A plain slotted one is cheaper, but its generated ``__init__`` is still a Python call.
The hot paths that make records by the thousand (the embedded store's reads, the watch
cache's events, the scheduler's pod updates) use :func:`maker` and :func:`replacer`: for a
slotted class whose ``__init__`` only stores its arguments, they store each value
straight into its slot (``orchestra._ext.codec.SlotRecord``); for any other class, or
without the compiled extension, they fall back to the class itself and
``attrs.evolve``. The objects are the same either way (equal, hashing alike, frozen if the
class is).
"""

from __future__ import annotations

import types
from typing import Any, Callable, TypeVar

import attrs

try:
    from orchestra._ext.codec import SlotRecord
except ImportError:  # the extension is not built: the plain constructors serve
    SlotRecord = None

__all__ = ["maker", "replacer", "slot_fields", "slot_maker"]

T = TypeVar("T")


def slot_fields(cls: type) -> list[tuple[Any, Any]] | None:
    """Each attrs field of ``cls`` with the member descriptor of its slot, when allocating an
    object and storing a value into each of those slots is all that ``cls.__init__`` does
    with its arguments; else None.

    That is a slotted attrs class with an attrs-generated ``__init__``, every field an
    argument, and no validators, converters, init hooks, custom ``__new__`` or slot of its
    own (attrs' cached hash, say). Callers add their own conditions (this module: positional
    arguments; the codec: keyword arguments, None defaults, a plain ``__setattr__``).
    """
    if not attrs.has(cls) or cls.__new__ is not object.__new__:
        return None
    if getattr(cls, "__attrs_pre_init__", None) is not None or getattr(cls, "__attrs_post_init__", None) is not None:
        return None
    code = getattr(cls.__init__, "__code__", None)
    if code is None or not code.co_filename.startswith("<attrs generated"):
        return None
    fields = attrs.fields(cls)
    slots = _declared_slots(cls)
    if not slots <= {field.name for field in fields} | {"__weakref__"}:
        return None
    found = []
    for field in fields:
        if not field.init or field.validator is not None or field.converter is not None:
            return None
        descriptor = next((vars(base)[field.name] for base in cls.__mro__ if field.name in vars(base)), None)
        if type(descriptor) is not types.MemberDescriptorType:
            return None
        found.append((field, descriptor))
    return found


def _declared_slots(cls: type) -> set[str]:
    """Every slot name ``cls`` and its bases declare."""
    slots: set[str] = set()
    for base in cls.__mro__:
        declared = vars(base).get("__slots__", ())
        slots.update((declared,) if isinstance(declared, str) else declared)
    return slots


def _slot_record(cls: type) -> Any:
    """The :class:`SlotRecord` of ``cls`` when building it slot by slot is exactly what its
    ``__init__`` does with the same positional values; else None. The trailing fields whose
    default is None may be left out (the record sets them to None, as ``__init__`` would)."""
    fields = slot_fields(cls) if SlotRecord is not None else None
    if fields is None or any(field.kw_only for field, _ in fields):
        return None
    required = 0
    for i, (field, _) in enumerate(fields):
        if field.default is not None:  # every field up to this one must be given
            required = i + 1
    return SlotRecord(cls, tuple(field.name for field, _ in fields), tuple(d for _, d in fields), required)


def maker(cls: type[T]) -> Callable[..., T]:
    """A function making ``cls`` objects from field values in field order: what
    ``cls(*values)`` makes, slot by slot when ``cls`` allows it (else ``cls`` itself).
    Trailing fields whose default is None may be left out."""
    record = _slot_record(cls)
    return cls if record is None else record


def replacer(cls: type[T]) -> Callable[[T, str, Any], T]:
    """A function ``(obj, name, value)`` copying ``obj`` (a ``cls``) with field ``name`` set to
    ``value``: what ``attrs.evolve(obj, name=value)`` makes, slot by slot when ``cls`` allows it."""
    record = _slot_record(cls)
    if record is None:
        aliases = {field.name: field.alias for field in attrs.fields(cls)}
        return lambda obj, name, value: attrs.evolve(obj, **{aliases.get(name, name): value})
    return record.replace


def slot_maker(cls: type[T], names: tuple[str, ...]) -> Callable[..., T] | None:
    """A function storing one value into each slot ``names`` lists (every slot of ``cls``), in
    that order, without calling ``cls.__init__``: for a class whose ``__init__`` also derives a
    field, which the caller then computes itself. None without the compiled extension."""
    if SlotRecord is None:
        return None
    slots = _declared_slots(cls)
    if slots - {"__weakref__"} != set(names):
        raise TypeError(f"{cls.__name__} has the slots {sorted(slots)}, not {sorted(names)}")
    return SlotRecord(cls, names, tuple(getattr(cls, name) for name in names))
