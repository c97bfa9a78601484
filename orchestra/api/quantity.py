"""Kubernetes resource quantities (``250m``, ``1.5``, ``128Mi``, ``1e3``) held exactly.

A :class:`Quantity` keeps its value as a :class:`fractions.Fraction` (so ``0.1 + 0.2``
CPUs equal ``300m``) together with the format Kubernetes remembers for it: ``DecimalSI``
(``k``, ``M``, ``m``, ...), ``BinarySI`` (``Ki``, ``Mi``, ...) or ``DecimalExponent``
(``1e3``). Parsing, rounding, capping and printing follow k8s.io/apimachinery's
``resource.Quantity``:

- parsed values are rounded away from zero to a multiple of 1n, and BinarySI values are
  capped at 2**63-1, except where Kubernetes' exact int64 fast path applies (it never
  rounds or caps);
- text without any digit or dot (``Mi``, ``-``, ``k``) is rejected: it does not match the
  grammar Kubernetes' own error message states, although its scanner reads it as 0;
- ``str(q)`` is what ``Quantity.String()`` returns: the input text when Kubernetes keeps
  it (it does so for inputs already in a canonical-looking form, e.g. ``1Ki``, ``1e3``),
  else the canonical form (:meth:`Quantity.canonical`): ``1.5`` -> ``1500m``,
  ``1024Mi`` -> ``1Gi``, ``1000`` -> ``1k``.
"""

from __future__ import annotations

import functools

import math
import re
from fractions import Fraction
from typing import Any

import attrs

__all__ = [
    "BINARY_SI",
    "DECIMAL_EXPONENT",
    "DECIMAL_SI",
    "FORMATS",
    "Quantity",
    "QuantityError",
    "parse_int_or_percent",
]

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"
FORMATS = (DECIMAL_SI, BINARY_SI, DECIMAL_EXPONENT)

QUANTITY_PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_ERR_FORMAT = f"quantities must match the regular expression '{QUANTITY_PATTERN}'"
_ERR_SUFFIX = "unable to parse quantity's suffix"

_PATTERN = re.compile(r"[+-]?[0-9.]+[eEinumkKMGTP]*[-+]?[0-9]*")
_PARTS = re.compile(r"([+-]?)(0*)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[-+]?[0-9]*)")

_DECIMAL_SUFFIXES = {
    "n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18,
}
_DECIMAL_BY_EXPONENT = {e: s for s, e in _DECIMAL_SUFFIXES.items()}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_BINARY_BY_POWER = {1: "Ki", 2: "Mi", 3: "Gi", 4: "Ti", 5: "Pi", 6: "Ei"}

_INT64_MAX = (1 << 63) - 1
_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1
_NANO = 10**9
# Decimal magnitudes past 10**_MAX_DIGITS are refused (Kubernetes keeps them as a scaled
# decimal; an exact Fraction of that size is not worth building). Values under
# 10**_TINY_EXPONENT round up to 1n without being built.
_MAX_DIGITS = 1000
_TINY_EXPONENT = -40


class QuantityError(ValueError):
    """Text is not a Kubernetes quantity; ``reason`` is Kubernetes' own wording."""

    def __init__(self, text: Any, reason: str) -> None:
        self.text = text
        self.reason = reason
        super().__init__(f"invalid quantity {str(text)!r}: {reason}")


def _check_amount(instance: Any, attribute: Any, value: Fraction) -> None:
    if not isinstance(value, Fraction) or _NANO % value.denominator:
        raise ValueError(f"Quantity.amount must be a Fraction that is a multiple of 1e-9, not {value!r}")


@attrs.frozen(eq=False, order=False, repr=False)
class Quantity:
    """An exact resource amount plus the format Kubernetes keeps for printing it.

    Equality, ordering and hashing look at the value only (Kubernetes' ``Cmp``), so
    ``Quantity.parse("1") == Quantity.parse("1000m")``. Build one with :meth:`parse`,
    :meth:`from_int`, :meth:`from_milli` or :meth:`from_fraction`.
    """

    amount: Fraction = attrs.field(validator=_check_amount)
    format: str = attrs.field(default=DECIMAL_SI, validator=attrs.validators.in_(FORMATS))
    # The input text, kept only where Kubernetes keeps it for printing (set by parse).
    text: str | None = attrs.field(default=None, kw_only=True)

    # -- construction ---------------------------------------------------------------

    @classmethod
    def parse(cls, text: str | int | float) -> "Quantity":
        """Parse a quantity as Kubernetes' ``ParseQuantity`` does; raise :class:`QuantityError`.

        Integers and finite floats are accepted as JSON numbers are: through their text.
        """
        return _parse_cached(_as_text(text))

    @classmethod
    def decode(cls, value: "str | int | float | Quantity") -> "Quantity":
        """Read a quantity from decoded JSON/YAML as the API server does (``UnmarshalJSON``).

        Strings are stripped of surrounding whitespace before parsing; numbers are read
        through their text; a :class:`Quantity` is returned unchanged.
        """
        if isinstance(value, Quantity):
            return value
        if isinstance(value, str):
            value = value.strip()
        return cls.parse(value)

    @classmethod
    def from_int(cls, value: int, format: str = DECIMAL_SI) -> "Quantity":
        """A whole-unit quantity (Kubernetes ``NewQuantity``)."""
        return cls(Fraction(int(value)), format)

    @classmethod
    def from_milli(cls, millis: int, format: str = DECIMAL_SI) -> "Quantity":
        """A quantity of ``millis``/1000 units (Kubernetes ``NewMilliQuantity``)."""
        return cls(Fraction(int(millis), 1000), format)

    @classmethod
    def from_fraction(cls, value: Fraction | int, format: str = DECIMAL_SI) -> "Quantity":
        """Any rational value, rounded away from zero to a multiple of 1n."""
        return cls(Fraction(_round_away(Fraction(value) * _NANO), _NANO), format)

    # -- reading --------------------------------------------------------------------

    @property
    def is_zero(self) -> bool:
        """Whether the value is zero."""
        return self.amount == 0

    def sign(self) -> int:
        """-1, 0 or 1 (Kubernetes ``Sign``)."""
        numerator = self.amount.numerator  # a Fraction keeps the sign there; no Fraction comparisons
        return (numerator > 0) - (numerator < 0)

    def value(self) -> int:
        """The value in whole units, rounded away from zero (Kubernetes ``Value``)."""
        return _round_away(self.amount)

    def milli_value(self) -> int:
        """The value in thousandths, rounded away from zero (Kubernetes ``MilliValue``)."""
        return _round_away(self.amount * 1000)

    def scaled_value(self, exponent: int) -> int:
        """The value in units of 10**exponent, rounded away from zero (``ScaledValue``)."""
        return _round_away(self.amount / Fraction(10) ** exponent)

    def as_float(self) -> float:
        """The value as a float, for display and approximate arithmetic only."""
        return float(self.amount)

    def canonical(self) -> str:
        """The canonical text Kubernetes prints when it has no input text to reuse."""
        return _canonical(self.amount, self.format)

    # -- arithmetic -----------------------------------------------------------------

    def __add__(self, other: "Quantity") -> "Quantity":
        if not isinstance(other, Quantity):
            return NotImplemented
        return Quantity(self.amount + other.amount, other.format if self.is_zero else self.format)

    def __sub__(self, other: "Quantity") -> "Quantity":
        if not isinstance(other, Quantity):
            return NotImplemented
        return Quantity(self.amount - other.amount, other.format if self.is_zero else self.format)

    def __neg__(self) -> "Quantity":
        return Quantity(-self.amount, self.format)

    # -- comparison -----------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.amount == other.amount

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.amount != other.amount

    def __lt__(self, other: "Quantity") -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.amount < other.amount

    def __le__(self, other: "Quantity") -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.amount <= other.amount

    def __gt__(self, other: "Quantity") -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.amount > other.amount

    def __ge__(self, other: "Quantity") -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.amount >= other.amount

    def __hash__(self) -> int:
        return hash(self.amount)

    # -- text -----------------------------------------------------------------------

    def __str__(self) -> str:
        return self.text if self.text is not None else self.canonical()

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r})"


def _as_text(text: Any) -> str:
    if isinstance(text, bool):
        raise QuantityError(text, "a quantity must be a string or a number, not a boolean")
    if isinstance(text, int):
        return str(text)
    if isinstance(text, float):
        if not math.isfinite(text):
            raise QuantityError(text, _ERR_FORMAT)
        return repr(text)
    if not isinstance(text, str):
        raise QuantityError(text, f"a quantity must be a string or a number, not {type(text).__name__}")
    return text


def _round_away(value: Fraction) -> int:
    """Round to an integer away from zero (inf.RoundUp)."""
    if value >= 0:
        return math.ceil(value)
    return -math.ceil(-value)


@functools.lru_cache(maxsize=4096)
def _parse_cached(text: str) -> "Quantity":
    # Quantities are immutable, and manifests repeat the same few ("100m", "128Mi"), so
    # parsed values are shared; errors are not cached and re-raise on every call.
    return _parse(text)


def _parse(text: str) -> Quantity:
    if text == "0":
        return Quantity(Fraction(0), DECIMAL_SI, text="0")
    if not _PATTERN.fullmatch(text):
        raise QuantityError(text, _ERR_FORMAT)
    parts = _PARTS.fullmatch(text)
    if parts is None:
        raise QuantityError(text, _ERR_FORMAT)
    sign, _zeros, num, denom, suffix = parts.groups()
    num = num or "0"
    denom = denom or ""
    negative = sign == "-"
    base, exponent, format = _interpret_suffix(text, suffix)
    shifted = num + denom
    digits = int(shifted)

    if base == 10:
        scale = exponent - len(denom)
        if digits and scale + len(str(digits)) > _MAX_DIGITS:
            raise QuantityError(text, f"quantity is too large: more than {_MAX_DIGITS} digits")
        if len(shifted) <= 18 and scale >= -9:
            amount = Fraction(-digits if negative else digits) * Fraction(10) ** scale
            reuse = scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
            return Quantity(amount, format, text=text if reuse else None)
        amount = _decimal_slow(digits, scale)
    else:
        precision = 15 - len(num) - (exponent * 3) // 10 - 1
        if not denom and precision >= 0 and digits << exponent <= _INT64_MAX:
            amount = Fraction(-(digits << exponent) if negative else digits << exponent)
            return Quantity(amount, format, text=text if digits & 7 else None)
        amount = Fraction(digits, 10 ** len(denom)) * (1 << exponent)

    if amount != 0:
        amount = Fraction(math.ceil(amount * _NANO), _NANO)
    if format == BINARY_SI:
        amount = min(amount, Fraction(_INT64_MAX))
    if format == BINARY_SI and 0 < amount < 1:
        format = DECIMAL_SI
    return Quantity(-amount if negative else amount, format)


def _decimal_slow(digits: int, scale: int) -> Fraction:
    """``digits`` * 10**scale, short-cutting values that round up to 1n anyway."""
    if digits == 0:
        return Fraction(0)
    if scale + len(str(digits)) < _TINY_EXPONENT:
        return Fraction(1, _NANO)
    return Fraction(digits) * Fraction(10) ** scale


def _interpret_suffix(text: str, suffix: str) -> tuple[int, int, str]:
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE" and re.fullmatch(r"[+-]?[0-9]+", suffix[1:]):
        exponent = int(suffix[1:])
        if _INT32_MIN <= exponent <= _INT32_MAX:
            return 10, exponent, DECIMAL_EXPONENT
    raise QuantityError(text, _ERR_SUFFIX)


def _canonical(amount: Fraction, format: str) -> str:
    if amount == 0:
        return "0"
    if format == BINARY_SI and (-1024 < amount < 1024 or amount.denominator != 1):
        format = DECIMAL_SI
    sign = "-" if amount < 0 else ""
    if format == BINARY_SI:
        mantissa, power = abs(amount.numerator), 0
        while power < 6 and mantissa >= 1024 and mantissa % 1024 == 0:
            mantissa //= 1024
            power += 1
        return f"{sign}{mantissa}{_BINARY_BY_POWER.get(power, '')}"

    mantissa, exponent = abs(int(amount * _NANO)), -9
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    while exponent % 3:
        mantissa *= 10
        exponent -= 1
    if format == DECIMAL_SI and exponent in _DECIMAL_BY_EXPONENT:
        return f"{sign}{mantissa}{_DECIMAL_BY_EXPONENT[exponent]}"
    return f"{sign}{mantissa}" + (f"e{exponent}" if exponent else "")


def parse_int_or_percent(value: int | str, total: int, round_up: bool) -> int:
    """Resolve an int-or-string such as ``25%`` or ``1`` against ``total``.

    Mirrors Kubernetes' ``GetScaledValueFromIntOrPercent``: an integer is returned as is;
    a string must be an integer followed by ``%`` and is scaled by ``total``, rounded up
    or down. Anything else raises :class:`ValueError`.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(
            f"invalid value for IntOrString: invalid type: neither int nor percentage: {value!r}"
        )
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError(
            f"invalid value for IntOrString: invalid value {value!r}: string is not a percentage"
        )
    number = value[:-1]
    if not re.fullmatch(r"[+-]?[0-9]+", number):
        raise ValueError(f"invalid value for IntOrString: invalid value {value!r}: not an integer percentage")
    percent = int(number)
    scaled = Fraction(percent * total, 100)
    return math.ceil(scaled) if round_up else math.floor(scaled)
