"""Label selectors and field selectors, with Kubernetes' grammar and matching rules.

- :class:`LabelSelector` parses the string form (``app=web,tier!=db,env in (a,b),!legacy``)
  as k8s.io/apimachinery ``labels.Parse`` does, converts the API form (``matchLabels`` /
  ``matchExpressions``) as ``LabelSelectorAsSelector`` does, and matches label maps.
- :func:`validate_label_selector` checks the API form the way the API server does.
- :class:`FieldSelector` parses ``metadata.name=x,spec.nodeName!=y`` as ``fields.ParseSelector``
  does (with its backslash escaping) and matches wire-form object dicts.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

import attrs

from orchestra.api import fieldpath
from orchestra.api.errors import FieldError
from orchestra.api.names import (
    is_qualified_name,
    is_valid_label_value,
    validate_label_name,
    validate_labels,
)

__all__ = [
    "DOES_NOT_EXIST",
    "DOUBLE_EQUALS",
    "EQUALS",
    "EXISTS",
    "FieldRequirement",
    "FieldSelector",
    "GREATER_THAN",
    "IN",
    "LESS_THAN",
    "LabelSelector",
    "NOT_EQUALS",
    "NOT_IN",
    "OPERATORS",
    "Requirement",
    "SelectorError",
    "escape_field_value",
    "unescape_field_value",
    "validate_label_selector",
]

# Operators, spelled as Kubernetes' selection.Operator values.
EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
IN = "in"
NOT_IN = "notin"
EXISTS = "exists"
DOES_NOT_EXIST = "!"
GREATER_THAN = "gt"
LESS_THAN = "lt"
OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN)
_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)

# API-form (metav1.LabelSelectorOperator) operators and their string-form equivalents.
_API_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}

_INT64 = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


class SelectorError(ValueError):
    """A label or field selector could not be parsed or built; the message says why."""


def _parse_int64(text: str) -> int | None:
    if not _INT64.fullmatch(text):
        return None
    number = int(text)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


def _sorted_values(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(values)))


# ---------------------------------------------------------------------------------
# Label requirements and selectors
# ---------------------------------------------------------------------------------


@attrs.frozen
class Requirement:
    """One condition of a label selector: ``key``, ``operator`` (one of :data:`OPERATORS`),
    and ``values`` (kept sorted and de-duplicated, as Kubernetes' parser keeps them).

    Build validated requirements with :meth:`new`; the plain constructor does not check.
    """

    key: str
    operator: str
    values: tuple[str, ...] = attrs.field(default=(), converter=_sorted_values)

    @classmethod
    def new(cls, key: str, operator: str, values: Iterable[str] = ()) -> "Requirement":
        """A checked requirement (Kubernetes ``NewRequirement``); raises :class:`SelectorError`."""
        values = tuple(values)
        problems = _requirement_problems(key, operator, values)
        if problems:
            raise SelectorError("; ".join(problems))
        return cls(key, operator, values)

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether a label map satisfies this requirement."""
        return _check(self.key, _KIND[self.operator], _operand(self), labels)

    def __str__(self) -> str:
        if self.operator == DOES_NOT_EXIST:
            return f"!{self.key}"
        if self.operator == EXISTS:
            return self.key
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({','.join(self.values)})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{','.join(self.values)}"


def _requirement_problems(key: str, operator: str, values: tuple[str, ...]) -> list[str]:
    problems: list[str] = []
    key_errors = is_qualified_name(key) if isinstance(key, str) else ["label keys must be strings"]
    if key_errors:
        problems.append(f"invalid label key {key!r}: " + "; ".join(key_errors))
    if operator in (IN, NOT_IN):
        if not values:
            problems.append("for 'in', 'notin' operators, values set can't be empty")
    elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
        if len(values) != 1:
            problems.append("exact-match compatibility requires one single value")
    elif operator in (EXISTS, DOES_NOT_EXIST):
        if values:
            problems.append("values set must be empty for exists and does not exist")
    elif operator in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            problems.append("for 'Gt', 'Lt' operators, exactly one value is required")
        for value in values:
            if not isinstance(value, str) or _parse_int64(value) is None:
                problems.append(f"for 'Gt', 'Lt' operators, the value must be an integer, not {value!r}")
    else:
        supported = ", ".join(f'"{op}"' for op in OPERATORS)
        problems.append(f"unsupported operator {operator!r}: supported values: {supported}")
    for value in values:
        if not isinstance(value, str):
            problems.append(f"invalid label value: {value!r}: at key: {key!r}: label values must be strings")
            continue
        value_errors = is_valid_label_value(value)
        if value_errors:
            problems.append(f"invalid label value: {value!r}: at key: {key!r}: " + "; ".join(value_errors))
    return problems


# Matching kinds, precomputed per requirement so that matching is a tight loop.
_K_IN, _K_NOT_IN, _K_EXISTS, _K_ABSENT, _K_GT, _K_LT = range(6)
_KIND = {
    IN: _K_IN, EQUALS: _K_IN, DOUBLE_EQUALS: _K_IN,
    NOT_IN: _K_NOT_IN, NOT_EQUALS: _K_NOT_IN,
    EXISTS: _K_EXISTS, DOES_NOT_EXIST: _K_ABSENT,
    GREATER_THAN: _K_GT, LESS_THAN: _K_LT,
}
_MISSING = object()


def _operand(requirement: Requirement) -> Any:
    kind = _KIND[requirement.operator]
    if kind in (_K_GT, _K_LT):
        return _parse_int64(requirement.values[0]) if len(requirement.values) == 1 else None
    return frozenset(requirement.values)


def _check(key: str, kind: int, operand: Any, labels: dict[str, str]) -> bool:
    value = labels.get(key, _MISSING)
    if kind == _K_IN:
        return value is not _MISSING and value in operand
    if kind == _K_NOT_IN:
        return value is _MISSING or value not in operand
    if kind == _K_EXISTS:
        return value is not _MISSING
    if kind == _K_ABSENT:
        return value is _MISSING
    if value is _MISSING or operand is None or not isinstance(value, str):
        return False
    number = _parse_int64(value)
    if number is None:
        return False
    return number > operand if kind == _K_GT else number < operand


def _compile(selector: "LabelSelector") -> tuple[tuple[str, int, Any], ...]:
    return tuple((r.key, _KIND[r.operator], _operand(r)) for r in selector.requirements)


def _by_key(requirements: Iterable[Requirement]) -> tuple[Requirement, ...]:
    return tuple(sorted(requirements, key=lambda r: r.key))


@attrs.frozen
class LabelSelector:
    """A set of label requirements, all of which must hold (``app=web,tier!=db``).

    ``matches_nothing`` marks Kubernetes' "nothing" selector (:meth:`nothing`), which
    no label map satisfies; an empty selector (:meth:`everything`) matches every map.
    """

    requirements: tuple[Requirement, ...] = attrs.field(default=(), converter=_by_key)
    matches_nothing: bool = False
    _checks: tuple[tuple[str, int, Any], ...] = attrs.field(
        init=False, eq=False, repr=False, hash=False,
        default=attrs.Factory(_compile, takes_self=True),
    )

    @classmethod
    def everything(cls) -> "LabelSelector":
        """The empty selector: matches every label map."""
        return cls(())

    @classmethod
    def nothing(cls) -> "LabelSelector":
        """The selector that matches no label map (Kubernetes ``labels.Nothing()``)."""
        return cls((), matches_nothing=True)

    @classmethod
    def parse(cls, text: str) -> "LabelSelector":
        """Parse the string form; raise :class:`SelectorError` naming the problem."""
        if not isinstance(text, str):
            raise SelectorError(f"a label selector must be a string, not {type(text).__name__}")
        try:
            return cls(_LabelParser(text).parse())
        except SelectorError as exc:
            raise SelectorError(f"invalid label selector {text!r}: {exc}") from None

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "LabelSelector":
        """Convert the API form (``matchLabels`` / ``matchExpressions``).

        None and ``{}`` give the empty selector (matches everything); use
        :meth:`nothing` where Kubernetes treats a missing selector as matching nothing.
        Raises :class:`SelectorError` for malformed input.
        """
        if d is None:
            return cls.everything()
        if not isinstance(d, dict):
            raise SelectorError(f"a label selector must be a map, not {type(d).__name__}")
        match_labels = d.get("matchLabels") or {}
        match_expressions = d.get("matchExpressions") or []
        if not isinstance(match_labels, dict):
            raise SelectorError("matchLabels must be a map of string keys to string values")
        if not isinstance(match_expressions, list):
            raise SelectorError("matchExpressions must be a list")
        requirements = [Requirement.new(k, EQUALS, [v]) for k, v in match_labels.items()]
        for i, expr in enumerate(match_expressions):
            if not isinstance(expr, dict):
                raise SelectorError(f"matchExpressions[{i}] must be a map")
            operator = expr.get("operator")
            if operator not in _API_OPERATORS:
                raise SelectorError(f'"{operator}" is not a valid label selector operator')
            values = expr.get("values") or []
            if not isinstance(values, list):
                raise SelectorError(f"matchExpressions[{i}].values must be a list")
            requirements.append(Requirement.new(expr.get("key", ""), _API_OPERATORS[operator], values))
        return cls(tuple(requirements))

    @property
    def empty(self) -> bool:
        """Whether this selector has no requirements and matches everything."""
        return not self.requirements and not self.matches_nothing

    def requires_exact_match(self, label: str) -> str | None:
        """The value ``label`` must have, when the first requirement on it pins one value."""
        for r in self.requirements:
            if r.key == label:
                if r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                    return r.values[0]
                return None
        return None

    def matches(self, labels: dict[str, str] | None) -> bool:
        """Whether a label map (None counts as no labels) satisfies every requirement."""
        if self.matches_nothing:
            return False
        if labels is None:
            labels = {}
        for key, kind, operand in self._checks:
            if not _check(key, kind, operand, labels):
                return False
        return True

    def __str__(self) -> str:
        # Like Kubernetes, the "nothing" selector prints as "" too: it has no string form.
        return ",".join(str(r) for r in self.requirements)


# -- the string-form lexer and parser (k8s.io/apimachinery/pkg/labels/selector.go) --

(
    _T_ERROR, _T_END, _T_CLOSE, _T_COMMA, _T_NOT, _T_DEQ, _T_EQ,
    _T_GT, _T_ID, _T_IN, _T_LT, _T_NEQ, _T_NOTIN, _T_OPEN,
) = range(14)
_SYMBOLS = {
    ")": _T_CLOSE, ",": _T_COMMA, "!": _T_NOT, "==": _T_DEQ, "=": _T_EQ, ">": _T_GT,
    "<": _T_LT, "!=": _T_NEQ, "(": _T_OPEN,
}
_KEYWORDS = {"in": _T_IN, "notin": _T_NOTIN}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")


def _lex(text: str) -> list[tuple[int, str]]:
    tokens: list[tuple[int, str]] = []
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= end:
            tokens.append((_T_END, ""))
            return tokens
        if text[pos] in _SPECIAL:
            buffer, best = "", None
            while pos < end and text[pos] in _SPECIAL:
                candidate = buffer + text[pos]
                if candidate in _SYMBOLS:
                    buffer, best = candidate, (_SYMBOLS[candidate], candidate)
                    pos += 1
                elif best is not None:
                    break
                else:
                    buffer = candidate
                    pos += 1
            tokens.append(best if best is not None else (_T_ERROR, buffer))
        else:
            start = pos
            while pos < end and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE:
                pos += 1
            word = text[start:pos]
            tokens.append((_KEYWORDS.get(word, _T_ID), word))


class _LabelParser:
    """Recursive-descent parser over the token list; one instance per parse."""

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def _peek(self, values_context: bool) -> tuple[int, str]:
        tok, lit = self.tokens[min(self.pos, len(self.tokens) - 1)]
        if values_context and tok in (_T_IN, _T_NOTIN):
            tok = _T_ID
        return tok, lit

    def _next(self, values_context: bool) -> tuple[int, str]:
        token = self._peek(values_context)
        self.pos += 1
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self._peek(True)
            if tok == _T_END:
                return requirements
            if tok not in (_T_ID, _T_NOT):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            requirements.append(self._requirement())
            tok, lit = self._next(True)
            if tok == _T_END:
                return requirements
            if tok != _T_COMMA:
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            tok, lit = self._peek(True)
            if tok not in (_T_ID, _T_NOT):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        key, operator = self._key_and_inferred_operator()
        if operator in (EXISTS, DOES_NOT_EXIST):
            return Requirement.new(key, operator, ())
        operator = self._operator()
        if operator in (IN, NOT_IN):
            values = self._values()
        else:
            values = self._exact_value()
        return Requirement.new(key, operator, values)

    def _key_and_inferred_operator(self) -> tuple[str, str]:
        operator = ""
        tok, lit = self._next(True)
        if tok == _T_NOT:
            operator = DOES_NOT_EXIST
            tok, lit = self._next(True)
        if tok != _T_ID:
            raise SelectorError(f"found '{lit}', expected: identifier")
        key_errors = is_qualified_name(lit)
        if key_errors:
            raise SelectorError(f"invalid label key {lit!r}: " + "; ".join(key_errors))
        if self._peek(True)[0] in (_T_END, _T_COMMA) and operator != DOES_NOT_EXIST:
            operator = EXISTS
        return lit, operator

    def _operator(self) -> str:
        tok, lit = self._next(False)
        operator = {
            _T_IN: IN, _T_EQ: EQUALS, _T_DEQ: DOUBLE_EQUALS, _T_GT: GREATER_THAN,
            _T_LT: LESS_THAN, _T_NOTIN: NOT_IN, _T_NEQ: NOT_EQUALS,
        }.get(tok)
        if operator is None:
            raise SelectorError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        return operator

    def _values(self) -> list[str]:
        tok, lit = self._next(True)
        if tok != _T_OPEN:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self._peek(True)
        if tok in (_T_ID, _T_COMMA):
            values = self._identifier_list()
            tok, lit = self._next(True)
            if tok != _T_CLOSE:
                raise SelectorError(f"found '{lit}', expected: ')'")
            return values
        if tok == _T_CLOSE:
            self._next(True)
            return [""]
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def _identifier_list(self) -> list[str]:
        values: list[str] = []
        while True:
            tok, lit = self._next(True)
            if tok == _T_ID:
                values.append(lit)
                tok2, lit2 = self._peek(True)
                if tok2 == _T_COMMA:
                    continue
                if tok2 == _T_CLOSE:
                    return values
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _T_COMMA:
                if not values:
                    values.append("")
                tok2, _ = self._peek(True)
                if tok2 == _T_CLOSE:
                    values.append("")
                    return values
                if tok2 == _T_COMMA:
                    self._next(True)
                    values.append("")
                continue
            raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def _exact_value(self) -> list[str]:
        tok, _ = self._peek(True)
        if tok in (_T_END, _T_COMMA):
            return [""]
        tok, lit = self._next(True)
        if tok == _T_ID:
            return [lit]
        raise SelectorError(f"found '{lit}', expected: identifier")


def validate_label_selector(d: Any, path: str) -> list[FieldError]:
    """Errors in the API form of a label selector, at paths under ``path``.

    Checks what Kubernetes' ``ValidateLabelSelector`` checks (matchLabels as labels;
    each expression's operator, values required for In/NotIn and forbidden for
    Exists/DoesNotExist, key and value syntax) plus the shapes of the dicts and lists.
    """
    if d is None:
        return []
    if not isinstance(d, dict):
        return [FieldError.type_invalid(path, d, "must be a label selector object")]
    errors = validate_labels(d.get("matchLabels"), fieldpath.child(path, "matchLabels"))
    expressions_path = fieldpath.child(path, "matchExpressions")
    expressions = d.get("matchExpressions")
    if expressions is None:
        return errors
    if not isinstance(expressions, list):
        return errors + [FieldError.type_invalid(expressions_path, expressions, "must be a list")]
    for i, expr in enumerate(expressions):
        errors.extend(_validate_expression(expr, fieldpath.index(expressions_path, i)))
    return errors


def _validate_expression(expr: Any, path: str) -> list[FieldError]:
    if not isinstance(expr, dict):
        return [FieldError.type_invalid(path, expr, "must be a label selector requirement object")]
    errors: list[FieldError] = []
    values_path = fieldpath.child(path, "values")
    values = expr.get("values")
    if values is None:
        values = []
    elif not isinstance(values, list):
        errors.append(FieldError.type_invalid(values_path, values, "must be a list of strings"))
        values = []
    operator = expr.get("operator")
    if operator in ("In", "NotIn"):
        if not values:
            errors.append(
                FieldError.required(values_path, "must be specified when `operator` is 'In' or 'NotIn'")
            )
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            errors.append(
                FieldError.forbidden(
                    values_path, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                )
            )
    elif operator is None:
        errors.append(FieldError.required(fieldpath.child(path, "operator")))
    else:
        errors.append(
            FieldError.invalid(fieldpath.child(path, "operator"), operator, "not a valid selector operator")
        )
    key = expr.get("key")
    if key is None:
        errors.append(FieldError.required(fieldpath.child(path, "key")))
    else:
        errors.extend(validate_label_name(key, fieldpath.child(path, "key")))
    for i, value in enumerate(values):
        value_path = fieldpath.index(values_path, i)
        if not isinstance(value, str):
            errors.append(FieldError.type_invalid(value_path, value, "must be a string"))
            continue
        errors.extend(FieldError.invalid(value_path, value, msg) for msg in is_valid_label_value(value))
    return errors


# ---------------------------------------------------------------------------------
# Field selectors (k8s.io/apimachinery/pkg/fields)
# ---------------------------------------------------------------------------------

_ESCAPABLE = frozenset("\\,=")


def escape_field_value(value: str) -> str:
    """Backslash-escape ``\\``, ``,`` and ``=`` in a field selector value."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_field_value(text: str) -> str:
    """Undo :func:`escape_field_value`; raise :class:`SelectorError` on a bad escape or an
    unescaped ``,`` / ``=``."""
    if "\\" not in text and "," not in text and "=" not in text:
        return text
    out: list[str] = []
    escaping = False
    for ch in text:
        if escaping:
            if ch not in _ESCAPABLE:
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaping = False
        elif ch == "\\":
            escaping = True
        elif ch in ",=":
            raise SelectorError(f"invalid field selector: unescaped character in value: {ch!r}")
        else:
            out.append(ch)
    if escaping:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    start = 0
    escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


def _field_string(value: Any) -> str:
    """The string form a field takes in Kubernetes' field sets (absent -> empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@attrs.frozen
class FieldRequirement:
    """One term of a field selector: ``field`` equals (``=``) or differs from (``!=``) ``value``."""

    field: str
    operator: str
    value: str

    def matches(self, obj: dict[str, Any]) -> bool:
        """Whether the object's field, as a string, satisfies this term."""
        equal = _field_string(fieldpath.get_field(obj, self.field)) == self.value
        return equal if self.operator == EQUALS else not equal

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_field_value(self.value)}"


@attrs.frozen
class FieldSelector:
    """Field-equality terms, all of which must hold (``metadata.name=x,spec.nodeName!=y``)."""

    requirements: tuple[FieldRequirement, ...] = ()

    @classmethod
    def everything(cls) -> "FieldSelector":
        """The empty selector: matches every object."""
        return cls(())

    @classmethod
    def parse(cls, text: str) -> "FieldSelector":
        """Parse the string form; ``==`` is read as ``=``. Raises :class:`SelectorError`."""
        if not isinstance(text, str):
            raise SelectorError(f"a field selector must be a string, not {type(text).__name__}")
        requirements: list[FieldRequirement] = []
        for term in _split_terms(text) if text else []:
            if not term:
                continue
            split = _split_term(term)
            if split is None:
                raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
            field, op, raw_value = split
            try:
                fieldpath.parse(field)
            except ValueError as exc:
                raise SelectorError(f"invalid selector: '{text}'; {exc}") from None
            value = unescape_field_value(raw_value)
            requirements.append(FieldRequirement(field, NOT_EQUALS if op == NOT_EQUALS else EQUALS, value))
        # Kubernetes sorts the raw terms; sorting the normalized ones gives the same order
        # whenever the input has no "==", and keeps parse(str(s)) == s.
        return cls(tuple(sorted(requirements, key=str)))

    @property
    def empty(self) -> bool:
        """Whether this selector has no terms and matches everything."""
        return not self.requirements

    def fields(self) -> tuple[str, ...]:
        """The distinct field paths the selector reads, sorted."""
        return tuple(sorted({r.field for r in self.requirements}))

    def requires_exact_match(self, field: str) -> str | None:
        """The value ``field`` must equal for a match, if some ``=`` term pins it."""
        for r in self.requirements:
            if r.field == field and r.operator == EQUALS:
                return r.value
        return None

    def matches(self, obj: dict[str, Any]) -> bool:
        """Whether a wire-form (camelCase) object dict satisfies every term."""
        for r in self.requirements:
            if not r.matches(obj):
                return False
        return True

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)
