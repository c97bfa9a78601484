"""The compiled codec walks (``orchestra._ext.codec``) against the pure-Python reference.

Every test runs the same calls through both implementations of ``orchestra.api.codec``
and compares what came out: the decoded objects (type, equality and their encoding, in
key order), the encoded dicts in key order, or the exception (for a ``DecodeError``
its field path and reason). Hypothesis feeds random wire dicts shaped by real model
classes: valid values, wrong types, nulls, unknown fields, non-string keys.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Any, Callable

import attrs as _attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestra.api import _model, codec
from orchestra.api.apps import Deployment
from orchestra.api.codec import decode, decode_as, encode, load_documents
from orchestra.api.core import Container, Event, Pod, PodSpec, Service
from orchestra.api.errors import DecodeError
from tests.support.codec_walks import COMPILED, needs_compiled, redecode_pod, using_walks

EXAMPLE_FILES = sorted((Path(__file__).resolve().parents[2] / "examples" / "kubernetes").glob("*.yaml"))


def _ordered(value: Any) -> Any:
    """``value`` with every dict turned into its item list, so comparisons see key order."""
    if isinstance(value, dict):
        return [(k, _ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


def _outcome(call: Callable[[], Any]) -> tuple:
    """What ``call`` did: its result (encoded, in order, for model objects) or its exception."""
    try:
        result = call()
    except DecodeError as exc:
        return ("DecodeError", exc.path, exc.reason)
    except Exception as exc:  # the point is to compare whatever is raised
        return (type(exc).__name__, str(exc))
    if isinstance(result, dict):
        return ("dict", _ordered(result))
    if _attrs.has(type(result)):
        python_encoded = _outcome(lambda: encode(result))
        return ("object", type(result), result, python_encoded)
    return ("value", result)


def _same_in_both(call: Callable[[], Any]) -> tuple:
    """Run ``call`` with the pure-Python and the compiled walks; assert the same outcome."""
    with using_walks("python"):
        expected = _outcome(call)
    with using_walks("compiled"):
        got = _outcome(call)
    assert got == expected
    return expected


@_model.model
class _Tree:
    """A self-referencing model class (a table that uses itself while being built)."""

    name: str | None = _model.field()
    weight: int | None = _model.field()
    child: _Tree | None = _model.field()
    children: list[_Tree] | None = _model.field()
    by_name: dict[str, _Tree] | None = _model.field()
    extra: dict = _model.extra_field()


@_model.model
class _Hooked:
    """A model class whose __init__ does more than store its arguments: decoded by calling it."""

    count: int | None = _model.field()
    doubled: int | None = _model.field()
    extra: dict = _model.extra_field()

    def __attrs_post_init__(self) -> None:
        self.doubled = (self.count or 0) * 2


@_attrs.define(kw_only=True)
class _Validated:
    """An attrs class with a validator (and no ``extra`` default factory)."""

    size: int | None = _attrs.field(default=None, validator=_attrs.validators.optional(_attrs.validators.ge(0)))
    extra: dict = _attrs.field(factory=dict)


class _PlainSpec(PodSpec):
    """A subclass that is not itself an attrs class (it inherits PodSpec's fields, has a __dict__)."""


def _tree(depth: int) -> dict:
    node: dict = {"name": "leaf"}
    for i in range(depth):
        node = {"name": f"n{i}", "child": node}
    return node


def test_compiled_walks_are_the_default_when_built() -> None:
    assert (codec._COMPILED is not None) == COMPILED
    if COMPILED:
        from orchestra._ext import codec as compiled

        with using_walks("compiled"):
            assert isinstance(codec._codec(Pod).decode, compiled.ObjectDecoder)


def test_the_pure_python_walks_are_used_when_the_extension_does_not_import() -> None:
    script = """
import sys
sys.modules["orchestra._ext.codec"] = None  # makes the import fail
from orchestra.api import codec
assert codec._implementation() == "python", codec._implementation()
data = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "x": None,
        "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]}}
assert codec.encode(codec.decode(data)) == data
try:
    codec.decode({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": 1}]}})
except codec.DecodeError as exc:
    assert exc.path == "spec.containers[0].name", exc.path
else:
    raise AssertionError("no DecodeError")
try:
    codec._use_implementation("compiled")
except RuntimeError:
    print("fallback ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "fallback ok"


@needs_compiled
def test_the_environment_can_keep_the_compiled_walks_out() -> None:
    script = "from orchestra.api import codec; print(codec._implementation())"
    for value, expected in (("1", "python"), ("0", "compiled"), ("", "compiled")):
        env = {**os.environ, "ORCHESTRA_PURE_CODEC": value}
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
        assert done.stdout.strip() == expected, (value, done.stderr)


@needs_compiled
def test_plain_model_classes_are_built_through_their_slots() -> None:
    descriptors = codec._slot_descriptors(Pod)
    assert descriptors is not None and set(descriptors) == {a.name for a in _attrs.fields(Pod)}
    assert codec._slot_descriptors(_Tree) is not None
    assert codec._slot_descriptors(_Hooked) is None
    assert codec._slot_descriptors(_Validated) is None


@needs_compiled
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_compiled_and_python_agree_on_the_examples(path: Path) -> None:
    for document in load_documents(path.read_text(), source=str(path)):
        _same_in_both(lambda: decode(copy.deepcopy(document.data)))


@needs_compiled
@pytest.mark.parametrize(
    "data",
    [
        {"name": "a", "weight": 2.0, "children": [{"name": "b"}, {"child": {"name": "c", "x": [1]}}]},
        {"name": "a", "by_name": {}, "byName": {"k": {"weight": 1, "name": None}}, "zz": {"a": None}},
        {"children": [{"name": "b"}, {"child": {"weight": "heavy"}}]},
        {"byName": {"k": {"children": [{}, {"byName": {"q": []}}]}}},
        {"byName": {1: {}}},
        {"weight": 1.5},
        {"weight": float("inf")},
        {"weight": True},
        {"children": ({"name": "t"},)},
        {"child": None, "name": None, "unknown": None},
        [],
        None,
    ],
)
def test_compiled_and_python_agree_on_a_self_referencing_class(data: Any) -> None:
    _same_in_both(lambda: decode_as(_Tree, copy.deepcopy(data)))


@needs_compiled
def test_self_referencing_error_paths() -> None:
    outcome = _same_in_both(lambda: decode_as(_Tree, {"children": [{}, {"byName": {"k": {"child": {"weight": "x"}}}}]}))
    assert outcome == ("DecodeError", "children[1].byName[k].child.weight", 'expected integer, got string "x"')
    outcome = _same_in_both(lambda: decode_as(_Tree, {"byName": {"k": {}, 5: {}}}))
    assert outcome == ("DecodeError", "byName[5]", "expected string key, got integer 5")


@needs_compiled
def test_classes_that_need_their_init_are_called() -> None:
    outcome = _same_in_both(lambda: decode_as(_Hooked, {"count": 2, "u": 1}))
    assert outcome[2] == _Hooked(count=2, extra={"u": 1}) and outcome[2].doubled == 4
    assert _same_in_both(lambda: decode_as(_Validated, {"size": -1}))[0] == "ValueError"
    assert _same_in_both(lambda: decode_as(_Validated, {"size": 1, "other": True}))[0] == "object"


@needs_compiled
def test_compiled_and_python_agree_on_subclass_instances() -> None:
    data = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "zz": 1}

    def encode_pod_with_subclassed_spec() -> dict:
        pod = decode(data)
        pod.spec = _PlainSpec(node_name="n", containers=[Container(name="c")])
        pod.spec.extra = {"later": [1]}
        pod.spec.undeclared = "ignored"
        return encode(pod)

    assert _same_in_both(encode_pod_with_subclassed_spec)[0] == "dict"


def _mutated_pod(change: Callable[[Pod], None]) -> Callable[[], dict]:
    def run() -> dict:
        pod = decode(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p", "labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 1}]}]},
                "unknown": {"k": [1, {"d": None}]},
            }
        )
        change(pod)
        return encode(pod)

    return run


@needs_compiled
@pytest.mark.parametrize(
    "change",
    [
        lambda pod: None,
        lambda pod: setattr(pod, "spec", "not a spec"),
        lambda pod: setattr(pod.spec, "containers", (Container(name="t"),)),
        lambda pod: setattr(pod.spec, "containers", [None]),
        lambda pod: setattr(pod.spec, "node_selector", [("a", "b")]),
        lambda pod: setattr(pod.metadata, "labels", (("a", "b"),)),
        lambda pod: setattr(pod.metadata, "finalizers", ("x", "y")),
        lambda pod: setattr(pod, "extra", [("k", 1)]),
        lambda pod: setattr(pod, "extra", {"kind": "Overridden", "apiVersion": None, "new": {"a": [[{}]]}}),
        lambda pod: setattr(pod.metadata, "annotations", {"a": 1}),
        lambda pod: setattr(pod.spec.containers[0], "resources", {"limits": {}}),
        lambda pod: delattr(pod.metadata, "name"),
        lambda pod: delattr(pod, "extra"),
    ],
)
def test_compiled_and_python_agree_on_encoding_odd_objects(change: Callable[[Pod], None]) -> None:
    _same_in_both(_mutated_pod(change))


@needs_compiled
def test_encode_copies_extras_in_both() -> None:
    for name in ("python", "compiled"):
        with using_walks(name):
            pod = decode({"apiVersion": "v1", "kind": "Pod", "x": {"y": [{"z": 1}]}, "spec": {"overhead": {"cpu": 1}}})
            wire = encode(pod)
            assert wire["x"] == pod.extra["x"] and wire["x"] is not pod.extra["x"]
            assert wire["x"]["y"][0] is not pod.extra["x"]["y"][0]
            assert wire["spec"]["overhead"] is not pod.spec.overhead


@needs_compiled
def test_absurdly_deep_input_is_a_recursion_error_in_both() -> None:
    # Where the limit strikes (hence the message's tail) depends on the frames each walk uses.
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    pod = decode({"apiVersion": "v1", "kind": "Pod", "deep": deep})
    tree = _tree(100_000)
    for name in ("python", "compiled"):
        with using_walks(name):
            with pytest.raises(RecursionError, match="maximum recursion depth exceeded"):
                encode(pod)
            with pytest.raises(RecursionError, match="maximum recursion depth exceeded"):
                decode_as(_Tree, tree)
    assert _same_in_both(lambda: decode_as(_Tree, _tree(50)))[0] == "object"


@needs_compiled
def test_redecode_fields_agrees() -> None:
    def redecode(change: dict) -> Callable[[], tuple]:
        def run() -> tuple:
            wire = redecode_pod()
            obj = codec.decode(wire)
            wire.update(change)
            return codec.redecode_fields(obj, wire, tuple(change)), encode(obj)

        return run

    for change in (
        {"metadata": {"name": "q", "x": 1}, "status": {"phase": "Running"}},
        {"status": None},
        {"spec": {"containers": [{"name": "c", "tty": "yes"}]}},
        {"unknownKey": 1},
    ):
        _same_in_both(redecode(change))


# Random wire dicts shaped by a model class: valid values, wrong types, nulls, unknown fields.

_junk_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0.0, 3.0, -2.0, 1.5, float("inf"), 1e300]),
    st.text(max_size=45),
)
_junk = st.recursive(
    _junk_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=4), st.integers(0, 3)), inner, max_size=3),
    ),
    max_leaves=6,
)


def _valid(hint: Any, depth: int) -> st.SearchStrategy:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        return st.one_of([_valid(m, depth) for m in members])
    if origin is list:
        return st.lists(_value(typing.get_args(hint)[0], depth), max_size=2)
    if origin is dict:
        return st.dictionaries(st.text(max_size=4), _value(typing.get_args(hint)[1], depth), max_size=2)
    if hint is str:
        return st.text(max_size=8)
    if hint is int:
        return st.one_of(st.integers(-5, 2**40), st.sampled_from([2.0, -1.0]))
    if hint is bool:
        return st.booleans()
    if hint is float:
        return st.one_of(st.integers(-5, 5), st.floats(allow_nan=False))
    if hint is Any or hint is dict:
        return _junk
    return _wire(hint, depth + 1)


def _value(hint: Any, depth: int) -> st.SearchStrategy:
    if depth > 3:
        return _junk_leaf
    return st.one_of(_valid(hint, depth), _valid(hint, depth), _junk_leaf, _junk)


_WIRE_STRATEGIES: dict[tuple[type, int], st.SearchStrategy] = {}


def _wire(cls: type, depth: int = 0) -> st.SearchStrategy:
    key = (cls, depth)
    if key not in _WIRE_STRATEGIES:
        _WIRE_STRATEGIES[key] = st.deferred(lambda: _build_wire(cls, depth))
    return _WIRE_STRATEGIES[key]


def _build_wire(cls: type, depth: int) -> st.SearchStrategy:
    import sys as _sys

    hints = typing.get_type_hints(cls, globalns=vars(_sys.modules[cls.__module__]))
    fields = {_model.wire_name(a): hints[a.name] for a in _attrs.fields(cls) if a.name != "extra"}

    @st.composite
    def build(draw: st.DrawFn) -> dict:
        wires = draw(st.permutations(sorted(fields)))
        chosen = wires[: draw(st.integers(0, min(len(wires), 6)))]
        out: dict = {}
        for wire in chosen:
            out[wire] = draw(_value(fields[wire], depth))
        for key in draw(st.lists(st.sampled_from(["unknownField", "x-extra", 7, "spec2", "kind"]), max_size=2)):
            out[key] = draw(_junk)
        return dict(draw(st.permutations(list(out.items())))) if draw(st.booleans()) else out

    return build()


@needs_compiled
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from([Pod, Event, Deployment, Service]).flatmap(lambda cls: st.tuples(st.just(cls), _wire(cls))))
def test_compiled_and_python_agree_on_random_wire_dicts(case: tuple[type, dict]) -> None:
    cls, data = case
    original = copy.deepcopy(data)
    outcome = _same_in_both(lambda: decode_as(cls, data))
    assert _ordered(data) == _ordered(original)  # decoding never changes its input
    if outcome[0] == "object":
        obj = outcome[2]
        _same_in_both(lambda: decode_as(cls, encode(obj)))


#: ``(value, shape, matches)``: what :func:`matches_shape` answers, compiled or not (as source, so
#: that the Python fallback can be asked in a process of its own).
_SHAPE_CASES_SOURCE = """[
    ({}, {"a": str}, True),
    ({"a": "x", "n": 1}, {"a": str, "n": int}, True),
    ({"a": "x", "s": {"b": "y"}}, {"a": str, "s": {"b": str, "c": str}}, True),
    ({"z": "x"}, {"a": str}, False),  # a key the shape does not name
    ({"n": True}, {"n": int}, False),  # exactly int: a bool is not one
    ({"a": None}, {"a": str}, False),  # no null
    ({"s": {"b": 1}}, {"s": {"b": str}}, False),  # a nested value of the wrong type
    ({"s": "b"}, {"s": {"b": str}}, False),  # a section that is not a dict
    ({"s": {"d": {}}}, {"s": {"d": {"e": int}}}, True),
    (None, {}, False),
    (["a"], {"a": str}, False),
    ({"l": ["a", "b"], "e": []}, {"l": [str], "e": [int]}, True),  # a one-item list: every item matches it
    ({"l": [{"b": "y"}, {}]}, {"l": [{"b": str}]}, True),
    ({"l": ["a", 1]}, {"l": [str]}, False),  # one item of the wrong type
    ({"l": [{"c": "y"}]}, {"l": [{"b": str}]}, False),
    ({"l": ("a",)}, {"l": [str]}, False),  # a list, not a tuple
    ({"l": "a"}, {"l": [str]}, False),
]"""
_SHAPE_CASES = eval(_SHAPE_CASES_SOURCE)


@needs_compiled
def test_matches_shape_checks_keys_and_exact_types_to_any_depth() -> None:
    from orchestra._ext.codec import matches_shape

    for value, shape, expected in _SHAPE_CASES:
        assert matches_shape(value, shape) is expected, (value, shape)
    assert not matches_shape({"a": type("S", (str,), {})("x")}, {"a": str})  # exactly str


def test_the_python_matches_shape_answers_as_the_compiled_one() -> None:
    script = f"""
import sys
sys.modules["orchestra._ext.codec"] = None  # makes the import fail
from orchestra.api.validation import matches_shape
print([matches_shape(value, shape) for value, shape, _ in {_SHAPE_CASES_SOURCE}])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == repr([expected for _, _, expected in _SHAPE_CASES])


@needs_compiled
def test_is_string_map_checks_a_flat_section_on_the_dict() -> None:
    from orchestra._ext.codec import is_string_map

    keys, free = frozenset({"a", "b", "c"}), frozenset({"c"})
    assert is_string_map({}) and is_string_map({"x": "1", "y": ""})
    assert is_string_map({"a": "1", "b": "2"}, keys)
    assert is_string_map({"a": "1", "c": {"any": 1}}, keys, free)
    assert not is_string_map({"a": "1", "d": "2"}, keys)  # a key outside keys
    assert not is_string_map({"a": 1}, keys)  # a value that is not a str
    assert not is_string_map({"a": None}, keys, free)  # any value only under the free keys
    assert not is_string_map({"a": "1", "b": type("S", (str,), {})("2")}, keys)  # exactly str
    for not_a_dict in (None, "a", ["a"], 1):
        assert not is_string_map(not_a_dict)
