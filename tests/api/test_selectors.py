"""Tests for orchestra.api.selectors, cases adapted from Kubernetes' labels and fields tests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.api.errors import FORBIDDEN, INVALID, REQUIRED, TYPE_INVALID
from orchestra.api.selectors import (
    DOES_NOT_EXIST,
    DOUBLE_EQUALS,
    EQUALS,
    EXISTS,
    GREATER_THAN,
    IN,
    LESS_THAN,
    NOT_EQUALS,
    NOT_IN,
    FieldRequirement,
    FieldSelector,
    LabelSelector,
    Requirement,
    SelectorError,
    escape_field_value,
    unescape_field_value,
    validate_label_selector,
)

# -- label selector string form ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("x=a,y=b,z=c", "x=a,y=b,z=c"),
        ("", ""),
        ("x!=a,y=b", "x!=a,y=b"),
        ("x=", "x="),
        ("x= ", "x="),
        ("x=,z= ", "x=,z="),
        ("x= ,z= ", "x=,z="),
        ("!x", "!x"),
        ("x>1", "x>1"),
        ("x>1,z<5", "x>1,z<5"),
        ("x==a", "x==a"),
        ("w,x notin (z,y)", "w,x notin (y,z)"),
        ("x in (a,b,a)", "x in (a,b)"),
        ("x in ()", "x in ()"),
        ("x in (,)", "x in ()"),
        ("x in (a,,b)", "x in (,a,b)"),
        ("x in ( a , b )", "x in (a,b)"),
        ("x notin (in, notin)", "x notin (in,notin)"),
        ("in in (in)", "in in (in)"),
        ("z=1,a=2,m", "a=2,m,z=1"),
        ("app=web,tier!=db,env in (a,b),!legacy,x notin (y)", "app=web,env in (a,b),!legacy,tier!=db,x notin (y)"),
        ("example.com/app = web", "example.com/app=web"),
        ("\tx\n=\ra", "x=a"),
    ],
)
def test_parse_and_print(text: str, canonical: str) -> None:
    selector = LabelSelector.parse(text)
    assert str(selector) == canonical
    assert LabelSelector.parse(canonical) == selector


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x=a||y=b", "invalid label value"),
        ("x==a==b", "found '==', expected: ',' or 'end of string'"),
        ("!x=a", "found '=', expected: ',' or 'end of string'"),
        ("x<a", "the value must be an integer"),
        ("x>1.5", "the value must be an integer"),
        ("x>", "the value must be an integer"),
        ("x<-2", "invalid label value"),
        ("a b", "found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("x in (a", "found '', expected: ',' or ')'"),
        ("x in a", "found 'a' expected: '('"),
        ("x in (a b)", "found 'b', expected: ',' or ')'"),
        ("x=a,", "expected: identifier after ','"),
        ("(x)", "expected: !, identifier, or 'end of string'"),
        ("!", "found '', expected: identifier"),
        ("x=@", "invalid label value"),
        ("-x=a", "invalid label key"),
        ("a/b/c=d", "invalid label key"),
        ("x=a=b", "expected: ',' or 'end of string'"),
        ("x<>1", "expected: identifier"),
    ],
)
def test_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        LabelSelector.parse(text)
    assert message in str(info.value)
    assert repr(text) in str(info.value)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(SelectorError):
        LabelSelector.parse(None)  # type: ignore[arg-type]


def test_parsed_requirements() -> None:
    selector = LabelSelector.parse("x in (b,a),!y,z,w>3,v<2,u==q,t!=s")
    assert selector.requirements == (
        Requirement("t", NOT_EQUALS, ("s",)),
        Requirement("u", DOUBLE_EQUALS, ("q",)),
        Requirement("v", LESS_THAN, ("2",)),
        Requirement("w", GREATER_THAN, ("3",)),
        Requirement("x", IN, ("a", "b")),
        Requirement("y", DOES_NOT_EXIST),
        Requirement("z", EXISTS),
    )


# -- matching -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("", {"x": "y"}),
        ("", None),
        ("x=y", {"x": "y"}),
        ("x==y", {"x": "y"}),
        ("x=y,z=w", {"x": "y", "z": "w"}),
        ("x!=y,z!=w", {"x": "z", "z": "a"}),
        ("x!=y", {}),
        ("notin=in", {"notin": "in"}),
        ("x", {"x": "z"}),
        ("x", {"x": ""}),
        ("!x", {"y": "z"}),
        ("x>1", {"x": "2"}),
        ("x<1", {"x": "0"}),
        ("x<1", {"x": "-5"}),
        ("x>1", {"x": "+2"}),
        ("x in (a,b)", {"x": "b"}),
        ("x notin (a,b)", {"x": "c"}),
        ("x notin (a,b)", {}),
        ("x in ()", {"x": ""}),
        ("x=", {"x": ""}),
    ],
)
def test_matches(text: str, labels: dict[str, str] | None) -> None:
    assert LabelSelector.parse(text).matches(labels)


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("x=z", {}),
        ("x=y", {"x": "z"}),
        ("x=y,z=w", {"x": "w", "z": "w"}),
        ("x!=y,z!=w", {"x": "z", "z": "w"}),
        ("x", {"y": "z"}),
        ("x", None),
        ("!x", {"x": "z"}),
        ("!x", {"x": ""}),
        ("x>1", {"x": "0"}),
        ("x>1", {"x": "1"}),
        ("x>1", {}),
        ("x>1", {"x": "abc"}),
        ("x<1", {"x": "2"}),
        ("x in (a,b)", {"x": "c"}),
        ("x in (a,b)", {}),
        ("x notin (a,b)", {"x": "a"}),
        ("x=", {}),
    ],
)
def test_does_not_match(text: str, labels: dict[str, str] | None) -> None:
    assert not LabelSelector.parse(text).matches(labels)


def test_requires_exact_match() -> None:
    selector = LabelSelector.parse("a=1,b in (2),c in (3,4),d!=5,e")
    assert selector.requires_exact_match("a") == "1"
    assert selector.requires_exact_match("b") == "2"
    assert selector.requires_exact_match("c") is None
    assert selector.requires_exact_match("d") is None
    assert selector.requires_exact_match("e") is None
    assert selector.requires_exact_match("zzz") is None


def test_everything_and_nothing() -> None:
    assert LabelSelector.everything().empty
    assert LabelSelector.parse("").empty
    assert LabelSelector.everything().matches({"a": "b"})
    assert not LabelSelector.nothing().empty
    assert not LabelSelector.nothing().matches({})
    assert not LabelSelector.nothing().matches({"a": "b"})
    assert LabelSelector.nothing() != LabelSelector.everything()
    assert not LabelSelector.parse("a").empty


def test_requirement_matches_and_prints() -> None:
    requirement = Requirement.new("env", IN, ["prod", "dev"])
    assert requirement.values == ("dev", "prod")
    assert requirement.matches({"env": "dev"})
    assert not requirement.matches({"env": "qa"})
    assert str(requirement) == "env in (dev,prod)"
    assert str(Requirement.new("n", GREATER_THAN, ["3"])) == "n>3"
    assert str(Requirement.new("a", DOES_NOT_EXIST)) == "!a"


@pytest.mark.parametrize(
    ("key", "operator", "values", "message"),
    [
        ("x", IN, [], "values set can't be empty"),
        ("x", NOT_IN, [], "values set can't be empty"),
        ("x", EQUALS, ["a", "b"], "exact-match compatibility requires one single value"),
        ("x", EQUALS, [], "exact-match compatibility requires one single value"),
        ("x", EXISTS, ["a"], "values set must be empty for exists and does not exist"),
        ("x", GREATER_THAN, ["1", "2"], "exactly one value is required"),
        ("x", LESS_THAN, ["a"], "the value must be an integer"),
        ("x", "~", [], "unsupported operator"),
        ("bad key", EXISTS, [], "invalid label key"),
        ("x", IN, ["a b"], "invalid label value"),
    ],
)
def test_requirement_new_rejects(key: str, operator: str, values: list[str], message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        Requirement.new(key, operator, values)


# -- label selector API form ------------------------------------------------------


def test_from_dict() -> None:
    selector = LabelSelector.from_dict(
        {
            "matchLabels": {"b": "1", "a": "2"},
            "matchExpressions": [
                {"key": "c", "operator": "In", "values": ["y", "x"]},
                {"key": "d", "operator": "DoesNotExist"},
                {"key": "e", "operator": "Exists"},
                {"key": "f", "operator": "NotIn", "values": ["z"]},
            ],
        }
    )
    assert str(selector) == "a=2,b=1,c in (x,y),!d,e,f notin (z)"
    assert selector.matches({"a": "2", "b": "1", "c": "x", "e": ""})
    assert not selector.matches({"a": "2", "b": "1", "c": "x", "e": "", "d": "1"})
    assert not selector.matches({"a": "2", "b": "1", "c": "x", "e": "", "f": "z"})
    assert LabelSelector.parse(str(selector)) == selector


@pytest.mark.parametrize("empty", [None, {}, {"matchLabels": {}}, {"matchLabels": None, "matchExpressions": []}])
def test_from_dict_empty_matches_everything(empty: dict | None) -> None:
    selector = LabelSelector.from_dict(empty)
    assert selector.empty
    assert selector.matches({"any": "thing"})


@pytest.mark.parametrize(
    ("d", "message"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
            '"Gt" is not a valid label selector operator',
        ),
        ({"matchExpressions": [{"key": "a", "operator": "In"}]}, "values set can't be empty"),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            "values set must be empty",
        ),
        ({"matchLabels": {"a": "b c"}}, "invalid label value"),
        ({"matchLabels": ["a"]}, "matchLabels must be a map"),
        ({"matchExpressions": {"a": 1}}, "matchExpressions must be a list"),
        ({"matchExpressions": ["a"]}, r"matchExpressions\[0\] must be a map"),
        ("app=web", "must be a map"),
    ],
)
def test_from_dict_rejects(d: object, message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        LabelSelector.from_dict(d)  # type: ignore[arg-type]


def test_validate_label_selector() -> None:
    errors = validate_label_selector(
        {
            "matchLabels": {"a b": "x"},
            "matchExpressions": [
                {"key": "c", "operator": "In"},
                {"key": "d", "operator": "Exists", "values": ["x"]},
                {"key": "e", "operator": "Foo", "values": ["a/b"]},
                {"operator": "In", "values": ["ok"]},
                {"key": "f", "values": ["ok"]},
                "junk",
                {"key": "g", "operator": "NotIn", "values": "v"},
            ],
        },
        "spec.selector",
    )
    assert [(e.path, e.type) for e in errors] == [
        ("spec.selector.matchLabels", INVALID),
        ("spec.selector.matchExpressions[0].values", REQUIRED),
        ("spec.selector.matchExpressions[1].values", FORBIDDEN),
        ("spec.selector.matchExpressions[2].operator", INVALID),
        ("spec.selector.matchExpressions[2].values[0]", INVALID),
        ("spec.selector.matchExpressions[3].key", REQUIRED),
        ("spec.selector.matchExpressions[4].operator", REQUIRED),
        ("spec.selector.matchExpressions[5]", TYPE_INVALID),
        ("spec.selector.matchExpressions[6].values", TYPE_INVALID),
        ("spec.selector.matchExpressions[6].values", REQUIRED),
    ]
    assert str(errors[1]) == (
        "spec.selector.matchExpressions[0].values: Required value: "
        "must be specified when `operator` is 'In' or 'NotIn'"
    )
    assert str(errors[3]) == (
        'spec.selector.matchExpressions[2].operator: Invalid value: "Foo": not a valid selector operator'
    )


def test_validate_label_selector_accepts_valid_and_missing() -> None:
    assert validate_label_selector(None, "spec.selector") == []
    assert validate_label_selector({}, "spec.selector") == []
    assert (
        validate_label_selector(
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}],
            },
            "spec.selector",
        )
        == []
    )
    assert [e.type for e in validate_label_selector("app=web", "spec.selector")] == [TYPE_INVALID]
    assert [e.path for e in validate_label_selector({"matchExpressions": 3}, "s")] == ["s.matchExpressions"]


# -- label selector round trips -----------------------------------------------------

_label_names = st.from_regex(r"[a-z0-9]([-a-z0-9_.]{0,6}[a-z0-9])?", fullmatch=True)
_prefixes = _label_names.filter(lambda s: "_" not in s and "." not in s)
_label_keys = st.one_of(_label_names, st.builds(lambda p, n: f"{p}.io/{n}", _prefixes, _label_names))
_label_values = st.one_of(st.just(""), _label_names)
# Gt/Lt values must also be valid label values, so they cannot be negative.
_ints = st.integers(0, 10**6).map(str)


@st.composite
def requirements(draw: st.DrawFn) -> Requirement:
    key = draw(_label_keys)
    operator = draw(
        st.sampled_from(
            [EQUALS, DOUBLE_EQUALS, NOT_EQUALS, IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN]
        )
    )
    if operator in (IN, NOT_IN):
        values = draw(st.lists(_label_values, min_size=1, max_size=4))
    elif operator in (EXISTS, DOES_NOT_EXIST):
        values = []
    elif operator in (GREATER_THAN, LESS_THAN):
        values = [draw(_ints)]
    else:
        values = [draw(_label_values)]
    return Requirement.new(key, operator, values)


@given(st.lists(requirements(), max_size=5))
def test_label_selector_round_trip(reqs: list[Requirement]) -> None:
    selector = LabelSelector(tuple(reqs))
    assert LabelSelector.parse(str(selector)) == selector


@given(st.lists(requirements(), max_size=5), st.dictionaries(_label_keys, _label_values, max_size=5))
def test_selector_matches_iff_every_requirement_matches(reqs: list[Requirement], labels: dict[str, str]) -> None:
    selector = LabelSelector(tuple(reqs))
    assert selector.matches(labels) == all(r.matches(labels) for r in reqs)


# -- field selectors ----------------------------------------------------------------

POD = {
    "metadata": {"name": "web-0", "namespace": "default", "labels": {"app": "a,b"}},
    "spec": {"nodeName": "node-1", "unschedulable": True, "priority": 5},
    "status": {"phase": "Running"},
}


def test_field_selector_parse_and_print() -> None:
    selector = FieldSelector.parse("spec.nodeName!=y,metadata.name==x")
    assert selector.requirements == (
        FieldRequirement("metadata.name", EQUALS, "x"),
        FieldRequirement("spec.nodeName", NOT_EQUALS, "y"),
    )
    assert str(selector) == "metadata.name=x,spec.nodeName!=y"
    assert selector.fields() == ("metadata.name", "spec.nodeName")
    assert selector.requires_exact_match("metadata.name") == "x"
    assert selector.requires_exact_match("spec.nodeName") is None
    assert FieldSelector.parse("").empty
    assert FieldSelector.parse("a=b,,").requirements == (FieldRequirement("a", EQUALS, "b"),)


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("metadata.name=web-0", True),
        ("metadata.name==web-0", True),
        ("metadata.name=web-1", False),
        ("metadata.name!=web-1", True),
        ("metadata.name=web-0,status.phase=Running", True),
        ("metadata.name=web-0,status.phase!=Running", False),
        ("spec.nodeName=", False),
        ("spec.hostname=", True),
        ("spec.hostname!=", False),
        ("spec.unschedulable=true", True),
        ("spec.priority=5", True),
        (r"metadata.labels['app']=a\,b", True),
        ("", True),
    ],
)
def test_field_selector_matches(text: str, matches: bool) -> None:
    assert FieldSelector.parse(text).matches(POD) is matches


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a", "can't understand 'a'"),
        ("a=b=c", "unescaped character in value"),
        (r"a=b\q", r"invalid escape sequence: \q"),
        ("a=b\\", "invalid escape sequence: \\"),
        ("a.=b", "invalid field path"),
        ("=b", "invalid field path"),
    ],
)
def test_field_selector_rejects(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        FieldSelector.parse(text)
    assert message in str(info.value)


@given(st.text(max_size=20))
def test_field_value_escaping_round_trips(value: str) -> None:
    assert unescape_field_value(escape_field_value(value)) == value


_field_names = st.sampled_from(
    ["metadata.name", "metadata.namespace", "spec.nodeName", "status.phase", "involvedObject.kind"]
)
_field_requirements = st.builds(
    FieldRequirement, _field_names, st.sampled_from([EQUALS, NOT_EQUALS]), st.text(max_size=8)
)


@given(st.lists(_field_requirements, max_size=4))
def test_field_selector_round_trip(reqs: list[FieldRequirement]) -> None:
    selector = FieldSelector.parse(",".join(str(r) for r in reqs))
    assert FieldSelector.parse(str(selector)) == selector
    assert sorted(selector.requirements, key=str) == sorted(reqs, key=str)
