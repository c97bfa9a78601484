"""Tests for orchestra.api.quantity, tables adapted from Kubernetes' quantity_test.go."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.api.quantity import (
    BINARY_SI,
    DECIMAL_EXPONENT,
    DECIMAL_SI,
    Quantity,
    QuantityError,
    parse_int_or_percent,
)

KI = 1024


def dec(mantissa: int, exponent: int) -> Fraction:
    return Fraction(mantissa) * Fraction(10) ** exponent


PARSE_TABLE = [
    ("0", dec(0, 0), DECIMAL_SI),
    ("0n", dec(0, 0), DECIMAL_SI),
    ("0u", dec(0, 0), DECIMAL_SI),
    ("0m", dec(0, 0), DECIMAL_SI),
    ("0Ki", dec(0, 0), BINARY_SI),
    ("0k", dec(0, 0), DECIMAL_SI),
    ("0Mi", dec(0, 0), BINARY_SI),
    ("0M", dec(0, 0), DECIMAL_SI),
    ("0Gi", dec(0, 0), BINARY_SI),
    ("0G", dec(0, 0), DECIMAL_SI),
    ("0Ti", dec(0, 0), BINARY_SI),
    ("0T", dec(0, 0), DECIMAL_SI),
    ("1", dec(1, 0), DECIMAL_SI),
    ("1Ki", Fraction(KI), BINARY_SI),
    ("8Ki", Fraction(8 * KI), BINARY_SI),
    ("7Mi", Fraction(7 * KI**2), BINARY_SI),
    ("6Gi", Fraction(6 * KI**3), BINARY_SI),
    ("5Ti", Fraction(5 * KI**4), BINARY_SI),
    ("4Pi", Fraction(4 * KI**5), BINARY_SI),
    ("3Ei", Fraction(3 * KI**6), BINARY_SI),
    ("10Ti", Fraction(10 * KI**4), BINARY_SI),
    ("100Ti", Fraction(100 * KI**4), BINARY_SI),
    ("5n", dec(5, -9), DECIMAL_SI),
    ("4u", dec(4, -6), DECIMAL_SI),
    ("3m", dec(3, -3), DECIMAL_SI),
    ("9", dec(9, 0), DECIMAL_SI),
    ("8k", dec(8, 3), DECIMAL_SI),
    ("50k", dec(5, 4), DECIMAL_SI),
    ("7M", dec(7, 6), DECIMAL_SI),
    ("6G", dec(6, 9), DECIMAL_SI),
    ("5T", dec(5, 12), DECIMAL_SI),
    ("40T", dec(4, 13), DECIMAL_SI),
    ("300T", dec(3, 14), DECIMAL_SI),
    ("2P", dec(2, 15), DECIMAL_SI),
    ("1E", dec(1, 18), DECIMAL_SI),
    ("1E-3", dec(1, -3), DECIMAL_EXPONENT),
    ("1e3", dec(1, 3), DECIMAL_EXPONENT),
    ("1E6", dec(1, 6), DECIMAL_EXPONENT),
    ("1e9", dec(1, 9), DECIMAL_EXPONENT),
    ("1E12", dec(1, 12), DECIMAL_EXPONENT),
    ("1e15", dec(1, 15), DECIMAL_EXPONENT),
    ("1E18", dec(1, 18), DECIMAL_EXPONENT),
    ("1e14", dec(1, 14), DECIMAL_EXPONENT),
    ("1e13", dec(1, 13), DECIMAL_EXPONENT),
    ("100.035k", dec(100035, 0), DECIMAL_SI),
    ("0.001", dec(1, -3), DECIMAL_SI),
    ("0.0005k", dec(5, -1), DECIMAL_SI),
    ("0.005", dec(5, -3), DECIMAL_SI),
    ("0.05", dec(5, -2), DECIMAL_SI),
    ("0.5", dec(5, -1), DECIMAL_SI),
    ("0.00050k", dec(5, -1), DECIMAL_SI),
    ("0.00500", dec(5, -3), DECIMAL_SI),
    ("0.05000", dec(5, -2), DECIMAL_SI),
    ("0.50000", dec(5, -1), DECIMAL_SI),
    ("0.5e0", dec(5, -1), DECIMAL_EXPONENT),
    ("0.5e-1", dec(5, -2), DECIMAL_EXPONENT),
    ("0.5e-2", dec(5, -3), DECIMAL_EXPONENT),
    ("10.035M", dec(10035, 3), DECIMAL_SI),
    ("1.2e3", dec(12, 2), DECIMAL_EXPONENT),
    ("1.3E+6", dec(13, 5), DECIMAL_EXPONENT),
    ("1.40e9", dec(14, 8), DECIMAL_EXPONENT),
    ("1.53E12", dec(153, 10), DECIMAL_EXPONENT),
    ("1.6e15", dec(16, 14), DECIMAL_EXPONENT),
    ("1.7E18", dec(17, 17), DECIMAL_EXPONENT),
    ("9.01", dec(901, -2), DECIMAL_SI),
    ("8.1k", dec(81, 2), DECIMAL_SI),
    ("7.123456M", dec(7123456, 0), DECIMAL_SI),
    ("6.987654321G", dec(6987654321, 0), DECIMAL_SI),
    ("5.444T", dec(5444, 9), DECIMAL_SI),
    ("40.1T", dec(401, 11), DECIMAL_SI),
    ("300.2T", dec(3002, 11), DECIMAL_SI),
    ("2.5P", dec(25, 14), DECIMAL_SI),
    ("1.01E", dec(101, 16), DECIMAL_SI),
    # Things that saturate or round up to 1n.
    ("3.001n", dec(4, -9), DECIMAL_SI),
    ("1.1E-9", dec(2, -9), DECIMAL_EXPONENT),
    ("0.0000000001", dec(1, -9), DECIMAL_SI),
    ("0.0000000005", dec(1, -9), DECIMAL_SI),
    ("0.00000000050", dec(1, -9), DECIMAL_SI),
    ("0.5e-9", dec(1, -9), DECIMAL_EXPONENT),
    ("0.9n", dec(1, -9), DECIMAL_SI),
    ("0.00000012345", dec(124, -9), DECIMAL_SI),
    ("0.00000012354", dec(124, -9), DECIMAL_SI),
    ("9Ei", Fraction(2**63 - 1), BINARY_SI),
    ("9223372036854775807Ki", Fraction(2**63 - 1), BINARY_SI),
    ("12E", dec(12, 18), DECIMAL_SI),
    # Fractional binary values.
    ("100.035Ki", dec(10243584, -2), BINARY_SI),
    ("0.5Mi", Fraction(KI**2, 2), BINARY_SI),
    ("0.05Gi", dec(536870912, -1), BINARY_SI),
    ("0.025Ti", dec(274877906944, -1), BINARY_SI),
    # Odd but accepted spellings.
    ("0.000000000001Ki", dec(2, -9), DECIMAL_SI),
    (".001", dec(1, -3), DECIMAL_SI),
    (".0001k", dec(100, -3), DECIMAL_SI),
    ("1.", dec(1, 0), DECIMAL_SI),
    ("1.G", dec(1, 9), DECIMAL_SI),
    (".5", dec(5, -1), DECIMAL_SI),
    (".", dec(0, 0), DECIMAL_SI),
]


# Beyond Kubernetes' table: decimal values are not capped, tiny ones round up to 1n.
PARSE_TABLE += [
    ("1e40", dec(1, 40), DECIMAL_EXPONENT),
    ("12345678901234567890123", Fraction(12345678901234567890123), DECIMAL_SI),
    ("1e-99999", dec(1, -9), DECIMAL_EXPONENT),
    ("1.5Ki", Fraction(1536), BINARY_SI),
]


@pytest.mark.parametrize(("text", "amount", "fmt"), PARSE_TABLE)
def test_parse_table(text: str, amount: Fraction, fmt: str) -> None:
    q = Quantity.parse(text)
    assert q.amount == amount
    assert q.format == fmt


@pytest.mark.parametrize(("text", "amount", "fmt"), PARSE_TABLE)
def test_parse_with_explicit_signs(text: str, amount: Fraction, fmt: str) -> None:
    assert Quantity.parse("+" + text).amount == amount
    negative = Quantity.parse("-" + text)
    assert negative.amount == -amount
    assert negative.format == fmt


@pytest.mark.parametrize(
    "text",
    [
        "1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-",
        " 1", "1 ", "", "1.2.3", "10MB", "Mi", "1 Gi", "-", "+", "1K", "1e", "1ee3",
        "1Mi-3", "1e99999999999", "1e5000", "1e2000000000", "1\n", "k", "e3", "\u0661",
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(QuantityError) as info:
        Quantity.parse(text)
    assert info.value.text == text
    assert repr(text) in str(info.value)


def test_format_error_message_names_the_regular_expression() -> None:
    with pytest.raises(QuantityError) as info:
        Quantity.parse("10MB")
    assert info.value.reason == (
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


def test_suffix_error_message() -> None:
    with pytest.raises(QuantityError) as info:
        Quantity.parse("1mi")
    assert info.value.reason == "unable to parse quantity's suffix"


@pytest.mark.parametrize("bad", [True, None, [1], float("nan"), float("inf")])
def test_parse_rejects_non_quantity_types(bad: object) -> None:
    with pytest.raises(QuantityError):
        Quantity.parse(bad)  # type: ignore[arg-type]


def test_decode_reads_values_as_the_api_server_does() -> None:
    assert str(Quantity.decode(" 1Gi ")) == "1Gi"
    assert Quantity.decode(2) == Quantity.parse("2")
    q = Quantity.parse("1.5")
    assert Quantity.decode(q) is q
    with pytest.raises(QuantityError):
        Quantity.decode(" ")


def test_parse_numbers_like_json() -> None:
    assert Quantity.parse(3) == Quantity.parse("3")
    assert str(Quantity.parse(0.5)) == "500m"
    assert Quantity.parse(1e-05).amount == dec(1, -5)


# (amount, format, canonical text, an alternative spelling of the same value or "")
CANONICAL_TABLE = [
    (Fraction(KI**3), BINARY_SI, "1Gi", "1024Mi"),
    (Fraction(300 * KI**2), BINARY_SI, "300Mi", "307200Ki"),
    (Fraction(6 * KI), BINARY_SI, "6Ki", ""),
    (Fraction(1001 * KI**3), BINARY_SI, "1001Gi", "1025024Mi"),
    (Fraction(KI**4), BINARY_SI, "1Ti", "1024Gi"),
    (Fraction(5), BINARY_SI, "5", "5000m"),
    (dec(500, -3), BINARY_SI, "500m", "0.5"),
    (dec(1, 9), DECIMAL_SI, "1G", "1000M"),
    (dec(1000, 6), DECIMAL_SI, "1G", "0.001T"),
    (dec(1, -3), DECIMAL_SI, "1m", "1000u"),
    (dec(80, -3), DECIMAL_SI, "80m", ""),
    (dec(1080, -3), DECIMAL_SI, "1080m", "1.08"),
    (dec(108, -2), DECIMAL_SI, "1080m", "1080000000n"),
    (dec(300, 6), DECIMAL_SI, "300M", ""),
    (dec(1, 12), DECIMAL_SI, "1T", ""),
    (dec(1234567, 6), DECIMAL_SI, "1234567M", ""),
    (dec(1234567, -3), BINARY_SI, "1234567m", ""),
    (dec(3, 3), DECIMAL_SI, "3k", ""),
    (Fraction(1025), BINARY_SI, "1025", ""),
    (Fraction(0), DECIMAL_SI, "0", ""),
    (Fraction(0), BINARY_SI, "0", ""),
    (dec(1, 9), DECIMAL_EXPONENT, "1e9", ".001e12"),
    (dec(1, -3), DECIMAL_EXPONENT, "1e-3", "0.001e0"),
    (dec(1, -9), DECIMAL_EXPONENT, "1e-9", "1000e-12"),
    (dec(80, -3), DECIMAL_EXPONENT, "80e-3", ""),
    (dec(300, 6), DECIMAL_EXPONENT, "300e6", ""),
    (dec(3, 3), DECIMAL_EXPONENT, "3e3", ""),
    (Fraction(0), DECIMAL_EXPONENT, "0", "00"),
    (dec(1, -9), DECIMAL_SI, "1n", ""),
    (dec(1080, -9), DECIMAL_SI, "1080n", ""),
    (dec(1, -6), DECIMAL_SI, "1u", ""),
    (dec(1080, -6), DECIMAL_SI, "1080u", ""),
    (dec(-15, -1), DECIMAL_SI, "-1500m", ""),
    (Fraction(-2 * KI), BINARY_SI, "-2Ki", ""),
    (Fraction(-1000), BINARY_SI, "-1k", ""),
]


@pytest.mark.parametrize(("amount", "fmt", "text", "alternative"), CANONICAL_TABLE)
def test_canonical_form(amount: Fraction, fmt: str, text: str, alternative: str) -> None:
    q = Quantity(amount, fmt)
    assert q.canonical() == text
    assert str(q) == text
    assert Quantity.parse(text) == q
    if alternative:
        assert Quantity.parse(alternative) == q


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        # Kubernetes keeps the input text when it already looks canonical ...
        ("1Ki", "1Ki"),
        ("1e3", "1e3"),
        ("2E6", "2E6"),
        ("250m", "250m"),
        ("+1", "+1"),
        ("1.", "1."),
        ("0", "0"),
        # ... and prints the canonical form otherwise.
        ("1.5", "1500m"),
        ("1024Mi", "1Gi"),
        ("8Ki", "8Ki"),
        ("1000", "1k"),
        ("0.5", "500m"),
        ("1500", "1500"),
        ("0.5Ki", "512"),
        ("100Ti", "100Ti"),
        ("000", "0"),
        ("9Ei", "9223372036854775807"),
        ("1000E", "1e21"),
        ("1e40", "10e39"),
        ("10000e36", "10e39"),
    ],
)
def test_string_form_follows_kubernetes(text: str, shown: str) -> None:
    assert str(Quantity.parse(text)) == shown


def test_exact_arithmetic() -> None:
    total = Quantity.parse("0.1") + Quantity.parse("0.2")
    assert total == Quantity.parse("300m")
    assert str(total) == "300m"
    assert Quantity.parse("1Gi") - Quantity.parse("512Mi") == Quantity.parse("512Mi")
    assert str(Quantity.parse("1Gi") - Quantity.parse("512Mi")) == "512Mi"
    assert (-Quantity.parse("1.5")).milli_value() == -1500


def test_sum_takes_the_format_of_the_right_operand_when_left_is_zero() -> None:
    assert (Quantity.parse("0") + Quantity.parse("1Ki")).format == BINARY_SI
    assert (Quantity.parse("1") + Quantity.parse("1Ki")).format == DECIMAL_SI


def test_comparison_and_hash_use_the_value_only() -> None:
    assert Quantity.parse("1") == Quantity.parse("1000m")
    assert hash(Quantity.parse("1")) == hash(Quantity.parse("1000m"))
    assert Quantity.parse("10000T") > Quantity.parse("100Gi")
    assert Quantity.parse("50m") < Quantity.parse("100m") <= Quantity.parse("0.1")
    assert Quantity.parse("1Ki") >= Quantity.parse("1024")
    assert Quantity.parse("1") != Quantity.parse("2")
    assert Quantity.parse("1") != "1"
    assert max([Quantity.parse("1"), Quantity.parse("2Ki"), Quantity.parse("3k")]) == Quantity.parse("3k")


@pytest.mark.parametrize(
    ("text", "value", "milli"),
    [
        ("1.5", 2, 1500),
        ("-1.5", -2, -1500),
        ("1n", 1, 1),
        ("-1n", -1, -1),
        ("250m", 1, 250),
        ("1Ki", 1024, 1024000),
        ("0", 0, 0),
        ("1e3", 1000, 1000000),
        ("9.01", 10, 9010),
    ],
)
def test_value_and_milli_value_round_away_from_zero(text: str, value: int, milli: int) -> None:
    q = Quantity.parse(text)
    assert q.value() == value
    assert q.milli_value() == milli


def test_named_constructors() -> None:
    assert Quantity.from_milli(1500) == Quantity.parse("1.5")
    assert str(Quantity.from_milli(1500)) == "1500m"
    assert str(Quantity.from_int(2048, BINARY_SI)) == "2Ki"
    assert Quantity.from_fraction(Fraction(1, 3)).amount == Fraction(333333334, 10**9)
    assert Quantity.parse("2.5").scaled_value(-6) == 2500000
    assert repr(Quantity.parse("1.5")) == "Quantity('1500m')"


def test_constructor_rejects_values_finer_than_a_nano() -> None:
    with pytest.raises(ValueError):
        Quantity(Fraction(1, 3))
    with pytest.raises(ValueError):
        Quantity(Fraction(1), "Bogus")


_SUFFIXES = ["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "e3", "E-2", "e+1"]


@st.composite
def quantity_texts(draw: st.DrawFn) -> str:
    sign = draw(st.sampled_from(["", "+", "-"]))
    whole = draw(st.from_regex(r"[0-9]{0,8}", fullmatch=True))
    fraction = draw(st.one_of(st.none(), st.from_regex(r"[0-9]{0,6}", fullmatch=True)))
    if not whole and fraction is None:
        whole = "0"
    suffix = draw(st.sampled_from(_SUFFIXES))
    return sign + whole + ("" if fraction is None else "." + fraction) + suffix


@given(quantity_texts())
def test_round_trip_through_text(text: str) -> None:
    q = Quantity.parse(text)
    assert Quantity.parse(str(q)) == q
    canonical = q.canonical()
    again = Quantity.parse(canonical)
    assert again == q
    assert again.canonical() == canonical


@given(st.integers(-(10**12), 10**12), st.integers(-(10**12), 10**12))
def test_milli_sums_are_exact(a: int, b: int) -> None:
    total = Quantity.parse(f"{a}m") + Quantity.parse(f"{b}m")
    assert total.milli_value() == a + b
    assert total - Quantity.parse(f"{b}m") == Quantity.parse(f"{a}m")


@pytest.mark.parametrize(
    ("value", "total", "round_up", "expected"),
    [
        (1, 10, True, 1),
        (0, 10, False, 0),
        ("25%", 10, True, 3),
        ("25%", 10, False, 2),
        ("100%", 7, False, 7),
        ("0%", 7, True, 0),
        ("33%", 3, True, 1),
        ("33%", 3, False, 0),
        ("50%", 0, True, 0),
    ],
)
def test_parse_int_or_percent(value: int | str, total: int, round_up: bool, expected: int) -> None:
    assert parse_int_or_percent(value, total, round_up) == expected


@pytest.mark.parametrize("bad", ["1", "abc%", "%", "1.5%", "", None, 1.5, True])
def test_parse_int_or_percent_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="invalid value for IntOrString"):
        parse_int_or_percent(bad, 10, True)  # type: ignore[arg-type]


@pytest.mark.parametrize("text, sign", [("0", 0), ("0m", 0), ("1n", 1), ("-1n", -1), ("2Gi", 1), ("-500m", -1)])
def test_sign(text: str, sign: int) -> None:
    assert Quantity.parse(text).sign() == sign
