# cython: language_level=3, boundscheck=False, wraparound=False
"""The walks of the API object codec, in C: wire dicts ⇄ slotted attrs objects, by tables.

``orchestra.api.codec`` builds, once per model class, a table of its fields (wire
name, attribute name, value decoder, value encoder) out of attrs metadata and type
hints; this module only walks such tables, so it knows nothing of the API's kinds.
Every function here does exactly what its pure-Python reference in
``orchestra.api.codec`` does (same outputs, same exceptions, same field paths);
the pure-Python codec stays the reference and the fallback when this module is not
built.

Two speed-ups over the reference besides compiled loops:

* decoders and encoders are objects of this module whose nesting is followed by
  direct C calls, not Python calls, and primitive checks are inlined;
* for a class whose ``__init__`` is provably plain (attrs-generated, defaults None,
  no validators, converters or hooks; see ``orchestra.api.codec``), decoding
  allocates the object and stores each attribute straight into its slot (the offset
  its member descriptor names, as the descriptor itself would) instead of calling
  ``cls(**kwargs)``, and encoding reads the slots the same way.

:class:`SlotRecord` uses the same slot stores for records outside the codec: it makes
and copies objects of a slotted attrs class without a call per field (a frozen class's
``__init__`` calls ``object.__setattr__`` for each; ``orchestra.records`` checks that a
class qualifies).

Errors: a value of the wrong type raises the exception class given to
:func:`configure` (``codec._Mismatch``), made by the given factory, and each
enclosing list, map or object appends its path segment to ``segments``, as the
reference does. Objects and JSON copies are guarded by the interpreter's recursion
limit (a ``RecursionError`` rather than a C stack overflow on absurdly deep input).
"""

from cpython.dict cimport PyDict_Contains, PyDict_Copy, PyDict_GetItemWithError, PyDict_Next
from cpython.set cimport PySet_Contains
from cpython.object cimport PyObject, PyTypeObject, Py_TYPE
from cpython.type cimport type as _type_t
from libcpp.vector cimport vector

__all__ = [
    "configure", "Decoder", "Encoder", "ObjectDecoder", "ObjectEncoder",
    "decode_str", "decode_int", "decode_bool", "decode_float", "decode_any",
    "union_decoder", "list_decoder", "map_decoder", "as_decoder",
    "copy_list", "copy_dict", "copy_json_encoder", "list_encoder", "map_encoder", "as_encoder",
    "copy_json", "is_string_map", "matches_shape", "SlotRecord",
]

cdef extern from "Python.h":
    # 0, or 1 with RecursionError set (not -1).
    int Py_EnterRecursiveCall(const char* where) except 1
    void Py_LeaveRecursiveCall()
    void Py_INCREF(object o)
    void Py_XDECREF(PyObject* o)

cdef extern from "structmember.h":
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
        int flags
    enum:
        T_OBJECT_EX
        READONLY

cdef extern from "Python.h":
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    PyTypeObject PyMemberDescr_Type

# Set by configure(): the mismatch exception class, its factory, the value describer.
cdef object _MISMATCH = None
cdef object _make_mismatch = None
cdef object _describe = None
cdef tuple _NO_ARGS = ()


def configure(mismatch_type, mismatch, describe):
    """Set how type errors are raised: ``mismatch(expected, value)`` makes an instance of
    ``mismatch_type`` (an exception with a ``segments`` list); ``describe(value)`` names
    a value in messages."""
    global _MISMATCH, _make_mismatch, _describe
    _MISMATCH = mismatch_type
    _make_mismatch = mismatch
    _describe = describe


# --------------------------------------------------------------------------- slots


cdef Py_ssize_t _slot_offset(object descr) except -1:
    """Where a ``__slots__`` member descriptor keeps its attribute in an object."""
    if Py_TYPE(descr) != &PyMemberDescr_Type:
        raise TypeError(f"not a slot member descriptor: {descr!r}")
    cdef PyMemberDef* member = (<PyMemberDescrObject*><PyObject*>descr).d_member
    if member.type != T_OBJECT_EX or member.flags & READONLY:
        raise TypeError(f"not a writable object slot: {descr!r}")
    return member.offset


cdef inline void _store(object obj, Py_ssize_t offset, object value) noexcept:
    # What the member descriptor's __set__ does for an object of its class.
    cdef PyObject** slot = <PyObject**>((<char*><PyObject*>obj) + offset)
    cdef PyObject* old = slot[0]
    Py_INCREF(value)
    slot[0] = <PyObject*>value
    Py_XDECREF(old)


cdef inline object _load(object obj, Py_ssize_t offset, object descr):
    # What the member descriptor's __get__ does, its AttributeError for an empty slot included.
    cdef PyObject* value = (<PyObject**>((<char*><PyObject*>obj) + offset))[0]
    if value == NULL:
        return Py_TYPE(descr).tp_descr_get(descr, obj, type(obj))
    return <object>value


# --------------------------------------------------------------------------- decoders

cdef enum:
    D_CALL = 0     # any Python callable
    D_STR = 1
    D_INT = 2
    D_BOOL = 3
    D_FLOAT = 4
    D_ANY = 5
    D_UNION = 6
    D_LIST = 7
    D_MAP = 8
    D_OBJECT = 9


cdef class Decoder:
    """A value decoder: ``decoder(value)`` returns the decoded value or raises a mismatch."""

    cdef int kind
    cdef object func        # D_CALL: the callable
    cdef object allowed     # D_UNION: frozenset of the exact types let through
    cdef object expected    # D_UNION: what the error says was expected
    cdef Decoder item       # D_LIST, D_MAP: the item decoder

    def __call__(self, value):
        return _decode(self, value)


cdef Decoder _primitive(int kind):
    cdef Decoder d = Decoder.__new__(Decoder)
    d.kind = kind
    return d


decode_str = _primitive(D_STR)
decode_int = _primitive(D_INT)
decode_bool = _primitive(D_BOOL)
decode_float = _primitive(D_FLOAT)
decode_any = _primitive(D_ANY)


cpdef Decoder as_decoder(object func):
    """``func`` if it is a :class:`Decoder`, else a decoder that calls it."""
    if isinstance(func, Decoder):
        return <Decoder>func
    cdef Decoder d = Decoder.__new__(Decoder)
    d.kind = D_CALL
    d.func = func
    return d


def union_decoder(frozenset allowed, str expected):
    """A decoder letting through values whose exact type is in ``allowed``."""
    cdef Decoder d = Decoder.__new__(Decoder)
    d.kind = D_UNION
    d.allowed = allowed
    d.expected = expected
    return d


def list_decoder(item):
    """A decoder of arrays whose items ``item`` decodes; errors name the index."""
    cdef Decoder d = Decoder.__new__(Decoder)
    d.kind = D_LIST
    d.item = as_decoder(item)
    return d


def map_decoder(item):
    """A decoder of string-keyed objects whose values ``item`` decodes; errors name the key."""
    cdef Decoder d = Decoder.__new__(Decoder)
    d.kind = D_MAP
    d.item = as_decoder(item)
    return d


cdef class _InField:
    cdef str name
    cdef Py_ssize_t offset  # the slot's offset (direct construction)
    cdef Decoder dec
    cdef object exact       # the type passed through without a call, else None


cdef class ObjectDecoder(Decoder):
    """The decoder of one model class; fields are added once with :meth:`add`.

    ``extra_descr`` is the member descriptor of the ``extra`` slot when objects may be
    built directly (every field then needs its descriptor), else None: objects are then
    made by ``cls(**kwargs)``.
    """

    cdef object cls
    cdef dict table         # wire name -> _InField
    cdef bint direct
    cdef vector[Py_ssize_t] slots   # offsets of every field but extra (direct construction)
    cdef Py_ssize_t extra_offset

    def __cinit__(self, cls, extra_descr=None):
        self.kind = D_OBJECT
        self.cls = cls
        self.table = {}
        self.direct = extra_descr is not None
        if self.direct:
            if not isinstance(cls, type):
                raise TypeError(f"not a class: {cls!r}")
            self.extra_offset = _slot_offset(extra_descr)

    def add(self, str wire, str name, descr, dec, exact):
        """Add the field ``name`` read from the wire key ``wire``, decoded by ``dec`` unless
        its value's type is exactly ``exact`` (None: always decode)."""
        cdef _InField f = _InField.__new__(_InField)
        if self.direct:
            if descr is None:
                raise ValueError(f"field {name!r} needs its slot descriptor")
            f.offset = _slot_offset(descr)
            self.slots.push_back(f.offset)
        f.name = name
        f.dec = as_decoder(dec)
        f.exact = exact
        self.table[wire] = f


cdef inline object _decode(Decoder d, object value):
    cdef int kind = d.kind
    if kind == D_STR:
        if type(value) is str:
            return value
        raise _make_mismatch("string", value)
    if kind == D_INT:
        return _decode_int(value)
    if kind == D_BOOL:
        if type(value) is bool:
            return value
        raise _make_mismatch("boolean", value)
    if kind == D_FLOAT:
        if type(value) is float or type(value) is int:
            return value
        raise _make_mismatch("number", value)
    if kind == D_ANY:
        return value
    if kind == D_OBJECT:
        return _decode_object(<ObjectDecoder>d, value)
    if kind == D_LIST:
        return _decode_list(d.item, value)
    if kind == D_MAP:
        return _decode_map(d.item, value)
    if kind == D_UNION:
        if type(value) in <frozenset>d.allowed:
            return value
        raise _make_mismatch(d.expected, value)
    return d.func(value)


cdef object _decode_int(object value):
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise _make_mismatch("integer", value)


cdef object _decode_list(Decoder item, object value):
    if type(value) is not list:
        raise _make_mismatch("array", value)
    cdef list source = <list>value
    cdef list out = []
    cdef Py_ssize_t i = 0
    try:
        while i < len(source):
            out.append(_decode(item, source[i]))
            i += 1
    except _MISMATCH as exc:
        exc.segments.append(f"[{i}]")
        raise
    return out


cdef object _decode_map(Decoder item, object value):
    if type(value) is not dict:
        raise _make_mismatch("object", value)
    cdef dict out = {}
    cdef Py_ssize_t pos = 0
    cdef PyObject* k
    cdef PyObject* v
    cdef object key = None
    cdef bint bad_key = False
    try:
        while PyDict_Next(value, &pos, &k, &v):
            key = <object>k
            if type(key) is not str:
                bad_key = True
                break
            val = <object>v
            out[key] = _decode(item, val)
    except _MISMATCH as exc:
        exc.segments.append(f"[{key}]")
        raise
    if bad_key:
        error = _MISMATCH(f"expected string key, got {_describe(key)}")
        error.segments.append(f"[{key}]")
        raise error
    return out


cdef object _decode_object(ObjectDecoder d, object value):
    if type(value) is not dict:
        raise _make_mismatch("object", value)
    Py_EnterRecursiveCall("")
    try:
        if d.direct:
            return _build_object(d, <dict>value)
        return _call_object(d, <dict>value)
    finally:
        Py_LeaveRecursiveCall()


cdef object _build_object(ObjectDecoder d, dict value):
    """Allocate the object and store each field into its slot."""
    cdef object obj = (<PyTypeObject*>d.cls).tp_new(<_type_t>d.cls, <PyObject*>_NO_ARGS, NULL)
    cdef Py_ssize_t offset
    for offset in d.slots:
        _store(obj, offset, None)
    cdef dict table = d.table
    cdef dict extra = None
    cdef Py_ssize_t pos = 0
    cdef PyObject* k
    cdef PyObject* v
    cdef PyObject* entry
    cdef _InField f
    cdef object key = None
    cdef object item
    try:
        while PyDict_Next(value, &pos, &k, &v):
            key = <object>k
            item = <object>v
            entry = PyDict_GetItemWithError(table, key)
            if entry == NULL or item is None:
                # Unknown fields, and explicit nulls of known ones, round-trip via extra.
                if extra is None:
                    extra = {}
                extra[key] = item
                continue
            f = <_InField>entry
            if type(item) is f.exact:
                _store(obj, f.offset, item)
            else:
                _store(obj, f.offset, _decode(f.dec, item))
    except _MISMATCH as exc:
        exc.segments.append(key)
        raise
    _store(obj, d.extra_offset, extra if extra is not None else {})
    return obj


cdef object _call_object(ObjectDecoder d, dict value):
    """Collect the fields as keyword arguments and call the class."""
    cdef dict table = d.table
    cdef dict kwargs = {}
    cdef dict extra = None
    cdef Py_ssize_t pos = 0
    cdef PyObject* k
    cdef PyObject* v
    cdef PyObject* entry
    cdef _InField f
    cdef object key = None
    cdef object item
    try:
        while PyDict_Next(value, &pos, &k, &v):
            key = <object>k
            item = <object>v
            entry = PyDict_GetItemWithError(table, key)
            if entry == NULL or item is None:
                if extra is None:
                    extra = {}
                extra[key] = item
                continue
            f = <_InField>entry
            if type(item) is f.exact:
                kwargs[f.name] = item
            else:
                kwargs[f.name] = _decode(f.dec, item)
    except _MISMATCH as exc:
        exc.segments.append(key)
        raise
    if extra:
        kwargs["extra"] = extra
    return d.cls(**kwargs)


# --------------------------------------------------------------------------- encoders

cdef enum:
    E_CALL = 0      # any Python callable
    E_LIST = 1      # list(value)
    E_DICT = 2      # dict(value)
    E_JSON = 3      # copy_json(value)
    E_LIST_OF = 4
    E_MAP_OF = 5
    E_OBJECT = 6


cdef class Encoder:
    """A value encoder: ``encoder(value)`` returns the wire form of a (non-None) value."""

    cdef int kind
    cdef object func        # E_CALL: the callable
    cdef Encoder item       # E_LIST_OF, E_MAP_OF: the item encoder

    def __call__(self, value):
        return _encode(self, value)


cdef Encoder _simple_encoder(int kind):
    cdef Encoder e = Encoder.__new__(Encoder)
    e.kind = kind
    return e


copy_list = _simple_encoder(E_LIST)
copy_dict = _simple_encoder(E_DICT)
copy_json_encoder = _simple_encoder(E_JSON)


cpdef Encoder as_encoder(object func):
    """``func`` if it is an :class:`Encoder`, else an encoder that calls it."""
    if isinstance(func, Encoder):
        return <Encoder>func
    cdef Encoder e = Encoder.__new__(Encoder)
    e.kind = E_CALL
    e.func = func
    return e


def list_encoder(item):
    """An encoder of sequences: a new list of ``item`` applied to each element."""
    cdef Encoder e = Encoder.__new__(Encoder)
    e.kind = E_LIST_OF
    e.item = as_encoder(item)
    return e


def map_encoder(item):
    """An encoder of mappings: a new dict of ``item`` applied to each value."""
    cdef Encoder e = Encoder.__new__(Encoder)
    e.kind = E_MAP_OF
    e.item = as_encoder(item)
    return e


cdef class _OutField:
    cdef str name
    cdef str wire
    cdef object descr       # the slot's member descriptor (direct reads), else None
    cdef Py_ssize_t offset  # and its offset
    cdef Encoder enc        # None: the value is wire-ready as is


cdef struct _OutSlot:
    # One field for direct reads, its objects borrowed from the _OutField that owns them.
    Py_ssize_t offset
    PyObject* wire
    PyObject* enc           # NULL: the value is wire-ready as is
    PyObject* field         # the _OutField


cdef class ObjectEncoder(Encoder):
    """The encoder of one model class; fields are added once, in model order, with :meth:`add`.

    With ``extra_descr`` (the ``extra`` slot's member descriptor) objects of exactly
    ``cls`` are read through their slot descriptors; other objects through ``getattr``.
    """

    cdef object cls
    cdef list fields        # _OutField, in model order
    cdef vector[_OutSlot] slots     # the same, for direct reads
    cdef object extra_descr
    cdef Py_ssize_t extra_offset

    def __cinit__(self, cls, extra_descr=None):
        self.kind = E_OBJECT
        self.cls = cls
        self.fields = []
        self.extra_descr = extra_descr
        if extra_descr is not None:
            self.extra_offset = _slot_offset(extra_descr)

    def add(self, str name, str wire, descr, enc):
        """Add the field ``name``, written as ``wire`` through ``enc`` (None: as is)."""
        cdef _OutField f = _OutField.__new__(_OutField)
        if self.extra_descr is not None:
            if descr is None:
                raise ValueError(f"field {name!r} needs its slot descriptor")
            f.offset = _slot_offset(descr)
        f.name = name
        f.wire = wire
        f.descr = descr
        f.enc = None if enc is None else as_encoder(enc)
        self.fields.append(f)
        cdef _OutSlot slot
        if self.extra_descr is not None:
            slot.offset = f.offset
            slot.wire = <PyObject*>f.wire
            slot.enc = NULL
            if f.enc is not None:
                slot.enc = <PyObject*>f.enc
            slot.field = <PyObject*>f
            self.slots.push_back(slot)


cdef inline object _encode(Encoder e, object value):
    cdef int kind = e.kind
    if kind == E_OBJECT:
        return _encode_object(<ObjectEncoder>e, value)
    if kind == E_LIST:
        return list(value)
    if kind == E_DICT:
        if type(value) is dict:
            return PyDict_Copy(value)
        return dict(value)
    if kind == E_JSON:
        return copy_json(value)
    if kind == E_LIST_OF:
        return _encode_list(e.item, value)
    if kind == E_MAP_OF:
        return _encode_map(e.item, value)
    return e.func(value)


cdef object _encode_list(Encoder item, object value):
    cdef list out = []
    cdef object v
    for v in value:
        out.append(_encode(item, v))
    return out


cdef object _encode_map(Encoder item, object value):
    cdef dict out = {}
    cdef Py_ssize_t pos = 0
    cdef PyObject* k
    cdef PyObject* v
    if type(value) is dict:
        while PyDict_Next(value, &pos, &k, &v):
            key = <object>k
            val = <object>v
            out[key] = _encode(item, val)
        return out
    for key, val in value.items():
        out[key] = _encode(item, val)
    return out


cdef object _encode_object(ObjectEncoder e, object obj):
    Py_EnterRecursiveCall("")
    try:
        return _encode_fields(e, obj)
    finally:
        Py_LeaveRecursiveCall()


cdef object _encode_fields(ObjectEncoder e, object obj):
    cdef dict out = {}
    cdef bint direct = e.extra_descr is not None and type(obj) is e.cls
    cdef _OutField f
    cdef _OutSlot slot
    cdef PyObject* item
    cdef size_t i
    cdef object value
    if direct:
        for i in range(e.slots.size()):
            slot = e.slots[i]  # a copy: an encoder called below may add fields (reallocating)
            item = (<PyObject**>((<char*><PyObject*>obj) + slot.offset))[0]
            if item == <PyObject*>None:
                continue
            if item == NULL:  # an emptied slot: raises the AttributeError getattr would
                value = _load(obj, slot.offset, (<_OutField>slot.field).descr)
            else:
                value = <object>item  # a reference of our own while encoders run
            if slot.enc == NULL:
                out[<object>slot.wire] = value
            else:
                out[<object>slot.wire] = _encode(<Encoder>slot.enc, value)
    else:
        for f in e.fields:
            value = getattr(obj, f.name)
            if value is not None:
                out[f.wire] = value if f.enc is None else _encode(f.enc, value)
    extra = _load(obj, e.extra_offset, e.extra_descr) if direct else obj.extra
    cdef Py_ssize_t pos = 0
    cdef PyObject* k
    cdef PyObject* v
    if extra:
        if type(extra) is dict:
            while PyDict_Next(extra, &pos, &k, &v):
                key = <object>k
                val = <object>v
                if not PyDict_Contains(out, key):
                    out[key] = copy_json(val)
        else:
            for key, val in extra.items():
                if key not in out:
                    out[key] = copy_json(val)
    return out


cpdef object copy_json(object value):
    """A copy of a JSON-like value (new dicts and lists all the way down, other values shared)."""
    if type(value) is dict:
        Py_EnterRecursiveCall("")
        try:
            return _copy_dict(<dict>value)
        finally:
            Py_LeaveRecursiveCall()
    if type(value) is list:
        Py_EnterRecursiveCall("")
        try:
            return _copy_list(<list>value)
        finally:
            Py_LeaveRecursiveCall()
    return value


cdef dict _copy_dict(dict value):
    cdef dict out = {}
    cdef Py_ssize_t pos = 0
    cdef PyObject* k
    cdef PyObject* v
    while PyDict_Next(value, &pos, &k, &v):
        key = <object>k
        val = <object>v
        out[key] = copy_json(val)
    return out


cdef list _copy_list(list value):
    cdef list out = []
    cdef Py_ssize_t i = 0
    while i < len(value):
        out.append(copy_json(value[i]))
        i += 1
    return out


def is_string_map(object value, frozenset keys=None, frozenset any_value=None):
    """Whether ``value`` is a dict whose every value is a str, but under the keys of
    ``any_value``, whose values may be anything; with ``keys``, also whose every key is one of
    them. A JSON shape check: the write pipeline checks a flat section on the dict itself by it."""
    if type(value) is not dict:
        return False
    cdef Py_ssize_t pos = 0
    cdef PyObject* k
    cdef PyObject* v
    while PyDict_Next(value, &pos, &k, &v):
        if keys is not None and not PySet_Contains(keys, <object>k):
            return False
        if type(<object>v) is not str and (any_value is None or not PySet_Contains(any_value, <object>k)):
            return False
    return True


def matches_shape(object value, dict shape):
    """Whether ``value`` is a dict whose every key is one of ``shape``'s and whose every value
    has the type ``shape`` gives that key exactly (``str``, ``int``: not a subclass, so no
    ``bool`` for an ``int``), or, where ``shape`` gives a dict, matches that shape in turn,
    or, where it gives a one-item list, is a list whose every item matches that item (a
    type or a shape). Keys ``shape`` names may be missing. A JSON shape check on the dict
    itself, for the write pipeline's fast paths."""
    return _matches_shape(value, shape)


cdef bint _matches_shape(object value, dict shape) except -1:
    """:func:`matches_shape`, called from C as it walks nested shapes (a call of the Python
    function would pack its arguments and look it up by name each time)."""
    if type(value) is not dict:
        return False
    cdef Py_ssize_t pos = 0
    cdef PyObject* k
    cdef PyObject* v
    cdef PyObject* want
    while PyDict_Next(value, &pos, &k, &v):
        want = PyDict_GetItemWithError(shape, <object>k)
        if want == NULL:
            return False
        if not _matches(<object>v, <object>want):
            return False
    return True


cdef bint _matches(object value, object want) except -1:
    """:func:`matches_shape` of one value against what its shape gives it."""
    if type(want) is dict:
        return _matches_shape(value, <dict>want)
    if type(want) is list:
        if type(value) is not list:
            return False
        item = (<list>want)[0]
        for element in <list>value:
            if not _matches(element, item):
                return False
        return True
    return <PyObject*>Py_TYPE(value) == <PyObject*>want


# --------------------------------------------------------------------------- records


cdef class SlotRecord:
    """Makes (``record(*values)``, one value per field, in order) and copies
    (:meth:`replace`) objects of one slotted class, storing each field straight into the
    slot its member descriptor names, as the class's plain attrs ``__init__`` would but
    without a call per field (a frozen class's costs ``object.__setattr__`` per field).
    The fields after the first ``required`` ones may be left out: they are set to None.
    ``orchestra.records`` decides which classes qualify."""

    cdef object cls
    cdef tuple names
    cdef vector[Py_ssize_t] offsets
    cdef Py_ssize_t required

    def __cinit__(self, cls, tuple names, tuple descriptors, Py_ssize_t required=-1):
        if len(names) != len(descriptors):
            raise ValueError("one member descriptor per field name is needed")
        self.cls = cls
        self.names = names
        for descr in descriptors:
            self.offsets.push_back(_slot_offset(descr))
        self.required = len(names) if required < 0 else min(required, len(names))

    def __call__(self, *values):
        cdef Py_ssize_t n = self.offsets.size(), given = len(values), i
        if given > n or given < self.required:
            expected = str(n) if self.required == n else f"{self.required} to {n}"
            raise TypeError(f"{self.cls.__name__} takes {expected} field values, not {given}")
        cdef object obj = (<PyTypeObject*>self.cls).tp_new(<_type_t>self.cls, <PyObject*>_NO_ARGS, NULL)
        for i in range(n):
            _store(obj, self.offsets[i], values[i] if i < given else None)
        return obj

    def replace(self, obj, str name, value):
        """A copy of ``obj`` (of exactly this class) with field ``name`` set to ``value``."""
        if type(obj) is not self.cls:
            raise TypeError(f"expected a {self.cls.__name__}, not {type(obj).__name__}")
        cdef Py_ssize_t n = self.offsets.size(), i, target = -1
        for i in range(n):
            if self.names[i] == name:
                target = i
                break
        if target < 0:
            raise AttributeError(f"{self.cls.__name__} has no field {name!r}")
        cdef object copy = (<PyTypeObject*>self.cls).tp_new(<_type_t>self.cls, <PyObject*>_NO_ARGS, NULL)
        cdef PyObject* field
        for i in range(n):
            if i == target:
                _store(copy, self.offsets[i], value)
                continue
            field = (<PyObject**>((<char*><PyObject*>obj) + self.offsets[i]))[0]
            if field == NULL:
                raise AttributeError(f"{self.cls.__name__}.{self.names[i]} is not set")
            _store(copy, self.offsets[i], <object>field)
        return copy
