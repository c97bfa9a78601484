"""Tests for orchestra.api.names, cases adapted from Kubernetes' util/validation tests."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra._ext import names as compiled_names
from orchestra.api import names
from orchestra.api.errors import INVALID, TOO_LONG, TYPE_INVALID

_CASE_AND_SYMBOL_BAD = [
    "", "A", "ABC", "aBc", "A1", "A-1", "1-A", "-", "a-", "-a", "1-", "-1", "_", "a_", "_a",
    "a_b", "1_", "_1", "1_2", " ", "a ", " a", "a b", "1 ", " 1", "1 2", "a@b", "a,b", "a;b",
    "a:b", "a%b", "a?b", "a$b", "a\n",
]


@pytest.mark.parametrize(
    "value",
    ["a", "ab", "abc", "a1", "a-1", "a--1--2--b", "0", "01", "012", "1a", "1-a", "1--a--b--2", "a" * 63],
)
def test_dns1123_label_accepts(value: str) -> None:
    assert names.is_dns1123_label(value) == []


@pytest.mark.parametrize(
    "value", _CASE_AND_SYMBOL_BAD + [".", "a.", ".a", "a.b", "1.", ".1", "1.2", "a" * 64]
)
def test_dns1123_label_rejects(value: str) -> None:
    assert names.is_dns1123_label(value)


def test_dns1123_label_messages() -> None:
    assert names.is_dns1123_label("A") == [
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
        "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
        "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    ]
    assert names.is_dns1123_label("a" * 64) == ["must be no more than 63 characters"]


@pytest.mark.parametrize(
    "value",
    [
        "a", "ab", "abc", "a1", "a-1", "a--1--2--b", "0", "01", "012", "1a", "1-a", "1--a--b--2",
        "a.a", "ab.a", "abc.a", "a1.a", "a-1.a", "a--1--2--b.a", "a.1", "ab.1", "abc.1", "a1.1",
        "0.a", "01.a", "012.a", "1a.a", "1-a.a", "1--a--b--2", "0.1", "01.1", "012.1", "1a.1",
        "a.b.c.d.e", "aa.bb.cc.dd.ee", "1.2.3.4.5", "11.22.33.44.55", "a" * 253,
    ],
)
def test_dns1123_subdomain_accepts(value: str) -> None:
    assert names.is_dns1123_subdomain(value) == []


@pytest.mark.parametrize(
    "value",
    _CASE_AND_SYMBOL_BAD
    + [
        ".", "a.", ".a", "a..b", "1.", ".1", "1..2", "A.a", "aB.a", "ab.A", "A1.a", "a1.A", "A.1",
        "aB.1", "A1.1", "1A.1", "0.A", "01.A", "012.A", "1A.a", "1a.A", "A.B.C.D.E",
        "AA.BB.CC.DD.EE", "a.B.c.d.e", "aa.bB.cc.dd.ee", "a" * 254,
    ],
)
def test_dns1123_subdomain_rejects(value: str) -> None:
    assert names.is_dns1123_subdomain(value)


def test_dns1123_subdomain_message() -> None:
    assert names.is_dns1123_subdomain("Example.com") == [
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
        "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
        "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    ]


@pytest.mark.parametrize("value", ["a", "ab", "abc", "a1", "a-1", "a--1--2--b", "a" * 63])
def test_dns1035_label_accepts(value: str) -> None:
    assert names.is_dns1035_label(value) == []


@pytest.mark.parametrize(
    "value", ["0", "01", "012", "1a", "1-a", "1--a--b--2", "a.b", "a" * 64] + _CASE_AND_SYMBOL_BAD
)
def test_dns1035_label_rejects(value: str) -> None:
    assert names.is_dns1035_label(value)


@pytest.mark.parametrize(
    "value",
    [
        "simple", "now-with-dashes", "1-starts-with-num", "1234", "simple/simple",
        "now-with-dashes/simple", "now-with-dashes/now-with-dashes", "now.with.dots/simple",
        "now-with.dashes-and.dots/simple", "1-num.2-num/3-num", "1234/5678", "1.2.3.4/5678",
        "Uppercase_Is_OK_123", "example.com/Uppercase_Is_OK_123", "requests.storage-foo",
        "a" * 63, "a" * 253 + "/" + "b" * 63,
    ],
)
def test_qualified_name_accepts(value: str) -> None:
    assert names.is_qualified_name(value) == []


@pytest.mark.parametrize(
    "value",
    [
        "nospecialchars%^=@", "cantendwithadash-", "-cantstartwithadash-", "only/one/slash",
        "Example.com/abc", "example_com/abc", "example.com/", "/simple", "a" * 64,
        "a" * 254 + "/abc", "",
    ],
)
def test_qualified_name_rejects(value: str) -> None:
    assert names.is_qualified_name(value)


def test_qualified_name_messages() -> None:
    name_rule = (
        "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
        "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    )
    assert names.is_qualified_name("a-") == ["name part " + name_rule]
    assert names.is_qualified_name("") == ["name part must be non-empty", "name part " + name_rule]
    assert names.is_qualified_name("/a") == ["prefix part must be non-empty"]
    assert names.is_qualified_name("a/b/c") == [
        "a qualified name " + name_rule + " with an optional DNS subdomain prefix and '/' "
        "(e.g. 'example.com/MyName')"
    ]
    assert names.is_qualified_name("a" * 64) == ["name part must be no more than 63 characters"]
    assert names.is_qualified_name("A.com/a")[0].startswith("prefix part a lowercase RFC 1123 subdomain")


@pytest.mark.parametrize(
    "value",
    ["simple", "now-with-dashes", "1-starts-with-num", "end-with-num-1", "1234", "1-2-3-4-5",
     "Uppercase_Is_OK_123", "a.b.c", "", "a" * 63],
)
def test_label_value_accepts(value: str) -> None:
    assert names.is_valid_label_value(value) == []


@pytest.mark.parametrize(
    "value",
    ["nospecialchars%^=@", "Tama-nui-te-r\u0101", "\u00a0", "-starts-with-dash", "ends-with-dash-",
     ".starts.with.dot", "ends.with.dot.", "a" * 64, "a/b"],
)
def test_label_value_rejects(value: str) -> None:
    assert names.is_valid_label_value(value)


@pytest.mark.parametrize(
    "value", ["telnet", "re-mail-ck", "pop3", "a", "a-1", "1-a", "a-1-b-2-c", "1-a-2-b-3"]
)
def test_port_name_accepts(value: str) -> None:
    assert names.is_valid_port_name(value) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("longerthan15characters", "must be no more than 15 characters"),
        ("", "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"),
        ("12345", "must contain at least one letter (a-z)"),
        ("1-2-3-4", "must contain at least one letter (a-z)"),
        ("-begin", "must not begin or end with a hyphen"),
        ("end-", "must not begin or end with a hyphen"),
        ("two--hyphens", "must not contain consecutive hyphens"),
        ("whois++", "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"),
        ("HTTP", "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"),
    ],
)
def test_port_name_rejects(value: str, message: str) -> None:
    assert message in names.is_valid_port_name(value)


@pytest.mark.parametrize(("port", "ok"), [(1, True), (65535, True), (0, False), (65536, False), (-1, False)])
def test_port_num(port: int, ok: bool) -> None:
    assert (names.is_valid_port_num(port) == []) is ok
    if not ok:
        assert names.is_valid_port_num(port) == ["must be between 1 and 65535, inclusive"]


@pytest.mark.parametrize("value", ["abc", "ABC", "AbC_123", "_123", "-", "a.b", "a-b", "my.env-name", "MY_ENV.NAME"])
def test_env_var_name_accepts(value: str) -> None:
    assert names.is_env_var_name(value) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1ABC", "a valid environment variable name must consist of"),
        ("", "a valid environment variable name must consist of"),
        ("a b", "a valid environment variable name must consist of"),
        ("a=b", "a valid environment variable name must consist of"),
        (".", "must not be '.'"),
        ("..", "must not be '..'"),
        ("..a", "must not start with '..'"),
    ],
)
def test_env_var_name_rejects(value: str, message: str) -> None:
    assert any(m.startswith(message) for m in names.is_env_var_name(value))


@pytest.mark.parametrize("value", ["a", "A", "KEY_NAME", "key-name", "key.name", ".dotfile", "1", "a" * 253])
def test_config_map_key_accepts(value: str) -> None:
    assert names.is_config_map_key(value) == []


@pytest.mark.parametrize("value", ["", "a/b", "a b", ".", "..", "..a", "a" * 254, "a:b"])
def test_config_map_key_rejects(value: str) -> None:
    assert names.is_config_map_key(value)


@pytest.mark.parametrize("value", ["1.1.1.1", "127.0.0.1", "0.0.0.0", "::1", "2001:db8::ffff", "::", "010.001.000.001"])
def test_ip_accepts(value: str) -> None:
    assert names.is_valid_ip(value) == []


@pytest.mark.parametrize("value", ["", "1.2.3", "1.2.3.4.5", "a", "256.0.0.1", "::g", "1.1.1.1/24", " 1.1.1.1"])
def test_ip_rejects(value: str) -> None:
    assert names.is_valid_ip(value) == ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]


def test_validate_labels_reports_bad_keys_and_values_at_the_map_path() -> None:
    errors = names.validate_labels({"good": "ok", "bad key": "x", "k": "-bad-"}, "metadata.labels")
    assert [(e.path, e.type, e.value) for e in errors] == [
        ("metadata.labels", INVALID, "bad key"),
        ("metadata.labels", INVALID, "-bad-"),
    ]
    assert str(errors[1]).startswith('metadata.labels: Invalid value: "-bad-": a valid label must be')


def test_validate_labels_types() -> None:
    assert names.validate_labels(None, "metadata.labels") == []
    assert names.validate_labels({}, "metadata.labels") == []
    assert [e.type for e in names.validate_labels(["a"], "metadata.labels")] == [TYPE_INVALID]
    assert [e.type for e in names.validate_labels({"a": 1}, "metadata.labels")] == [TYPE_INVALID]
    assert [e.type for e in names.validate_labels({1: "a"}, "metadata.labels")] == [TYPE_INVALID]


def test_validate_annotations_keys_ignore_case() -> None:
    assert names.validate_annotations({"Example.com/Key": "anything at all: {}"}, "metadata.annotations") == []
    errors = names.validate_annotations({"a/b/c": "x"}, "metadata.annotations")
    assert [(e.path, e.type, e.value) for e in errors] == [("metadata.annotations", INVALID, "a/b/c")]


def test_validate_annotations_total_size_limit() -> None:
    limit = names.TOTAL_ANNOTATION_SIZE_LIMIT
    assert names.validate_annotations({"k": "v" * (limit - 1)}, "metadata.annotations") == []
    errors = names.validate_annotations({"k": "v" * limit}, "metadata.annotations")
    assert [(e.path, e.type) for e in errors] == [("metadata.annotations", TOO_LONG)]
    assert str(errors[0]) == "metadata.annotations: Too long: must have at most 262144 bytes"


def test_validate_annotations_counts_bytes_not_characters() -> None:
    limit = names.TOTAL_ANNOTATION_SIZE_LIMIT
    errors = names.validate_annotations({"k": "\u00e9" * (limit // 2)}, "metadata.annotations")
    assert [e.type for e in errors] == [TOO_LONG]


def test_remembered_valid_strings_answer_like_a_fresh_check() -> None:
    """Valid strings are remembered; invalid ones are checked (and reported) every time."""
    for _ in range(3):
        assert names.is_qualified_name("example.com/app") == []
        assert names.is_valid_label_value("web") == []
        assert names.is_dns1123_label("web-0") == []
        assert names.is_dns1123_subdomain("web.example") == []
        assert names.is_dns1035_label("web") == []
        assert names.is_valid_port_name("http") == []
        assert names.is_dns1123_label("Web_0") and names.is_dns1123_label("Web_0") == names.is_dns1123_label("Web_0")
        assert names.is_qualified_name("a/b/c") and names.is_valid_port_name("--") and names.is_dns1035_label("0abc")


def test_remembered_strings_start_afresh_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once full, the remembered strings are dropped, so recent ones are remembered again."""
    checked: list[str] = []

    def check(value: str) -> list[str]:
        checked.append(value)
        return []

    remembered = names._remember_valid(check)
    monkeypatch.setattr(names, "_REMEMBERED_VALID", 2)
    for value in ("a", "b", "c", "c", "a", "c"):
        remembered(value)
    # "c" came when two were remembered: they were dropped, "c" was kept; then "a" again.
    assert checked == ["a", "b", "c", "a"]


_ALPHABET = "abz09-._/AZ "


@given(st.text(alphabet=_ALPHABET, max_size=12))
def test_the_matchers_accept_what_the_quoted_formats_accept(value: str) -> None:
    """The compiled matchers (non-capturing groups) and the formats error messages quote agree."""
    for fmt in (names.QUALIFIED_NAME_FMT, names.LABEL_VALUE_FMT, names.DNS1123_LABEL_FMT,
                names.DNS1123_SUBDOMAIN_FMT, names.DNS1035_LABEL_FMT):
        assert (names._matcher(fmt).fullmatch(value) is None) == (re.fullmatch(fmt, value) is None), fmt


_NAME_ALPHABET = "az09-.A_é/ "


@given(st.text(alphabet=_NAME_ALPHABET, max_size=70) | st.sampled_from(["a" * 63, "a" * 64, "a." * 126 + "a",
                                                                           "a." * 127, "a" * 253, "a" * 254]))
def test_compiled_dns1123_checks_accept_what_the_regexes_accept(value: str) -> None:
    """The compiled label and subdomain checks agree with Kubernetes' regexes and length limits."""
    label = len(value) <= names.DNS1123_LABEL_MAX_LENGTH and re.fullmatch(names.DNS1123_LABEL_FMT, value) is not None
    subdomain = (len(value) <= names.DNS1123_SUBDOMAIN_MAX_LENGTH
                 and re.fullmatch(names.DNS1123_SUBDOMAIN_FMT, value) is not None)
    assert compiled_names.dns1123_label(value) is label
    assert compiled_names.dns1123_subdomain(value) is subdomain
    assert (names.is_dns1123_label(value) == []) is label
    assert (names.is_dns1123_subdomain(value) == []) is subdomain
    assert names.dns1123_label_ok(value) is label and names.dns1123_subdomain_ok(value) is subdomain


def test_compiled_dns1123_checks_refuse_what_is_not_a_string() -> None:
    for value in (None, 5, b"abc", ["abc"]):
        assert compiled_names.dns1123_label(value) is False
        assert compiled_names.dns1123_subdomain(value) is False
