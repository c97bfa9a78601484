"""Errors of the resource model: field-level validation errors and decode errors.

A :class:`FieldError` is one problem at one field path, shaped like Kubernetes'
``field.Error`` so that the API server can turn it into a ``StatusCause`` and the
CLI can print it the way ``kubectl`` users are used to::

    spec.replicas: Invalid value: -1: must be greater than or equal to 0
"""

from __future__ import annotations

from typing import Any

import attrs
import orjson

__all__ = [
    "FieldError",
    "ValidationError",
    "DecodeError",
    "REQUIRED",
    "INVALID",
    "NOT_SUPPORTED",
    "NOT_FOUND",
    "DUPLICATE",
    "TOO_LONG",
    "FORBIDDEN",
    "TYPE_INVALID",
]

# Cause types, with the names Kubernetes puts in ``StatusCause.reason``.
REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
NOT_FOUND = "FieldValueNotFound"
DUPLICATE = "FieldValueDuplicate"
TOO_LONG = "FieldValueTooLong"
FORBIDDEN = "FieldValueForbidden"
TYPE_INVALID = "FieldValueTypeInvalid"

_LABELS = {
    REQUIRED: "Required value",
    INVALID: "Invalid value",
    NOT_SUPPORTED: "Unsupported value",
    NOT_FOUND: "Not found",
    DUPLICATE: "Duplicate value",
    TOO_LONG: "Too long",
    FORBIDDEN: "Forbidden",
    TYPE_INVALID: "Invalid value",
}

_NO_VALUE = object()


@attrs.frozen
class FieldError:
    """One problem with one field: where (``path``), what kind (``type``), why (``detail``)."""

    path: str
    type: str
    detail: str = ""
    value: Any = attrs.field(default=_NO_VALUE, repr=False)

    @classmethod
    def required(cls, path: str, detail: str = "") -> "FieldError":
        """A required field is missing or empty."""
        return cls(path, REQUIRED, detail)

    @classmethod
    def invalid(cls, path: str, value: Any, detail: str) -> "FieldError":
        """A field holds a value that breaks a rule given in ``detail``."""
        return cls(path, INVALID, detail, value)

    @classmethod
    def not_supported(cls, path: str, value: Any, supported: list[str]) -> "FieldError":
        """A field holds a value outside a fixed set."""
        quoted = ", ".join(f'"{s}"' for s in supported)
        return cls(path, NOT_SUPPORTED, f"supported values: {quoted}", value)

    @classmethod
    def not_found(cls, path: str, value: Any) -> "FieldError":
        """A value refers to something that does not exist (a volume, a port name, …)."""
        return cls(path, NOT_FOUND, "", value)

    @classmethod
    def duplicate(cls, path: str, value: Any) -> "FieldError":
        """A value that must be unique appears twice."""
        return cls(path, DUPLICATE, "", value)

    @classmethod
    def too_long(cls, path: str, value: Any, limit: int) -> "FieldError":
        """A value is longer than ``limit``."""
        return cls(path, TOO_LONG, f"must have at most {limit} bytes", value)

    @classmethod
    def forbidden(cls, path: str, detail: str) -> "FieldError":
        """A field may not be set here."""
        return cls(path, FORBIDDEN, detail)

    @classmethod
    def type_invalid(cls, path: str, value: Any, detail: str) -> "FieldError":
        """A field holds a value of the wrong type (string for integer, …)."""
        return cls(path, TYPE_INVALID, detail, value)

    @property
    def has_value(self) -> bool:
        """Whether the offending value is known (and belongs in the message)."""
        return self.value is not _NO_VALUE

    def message(self) -> str:
        """The message without the path: ``Invalid value: -1: must be …``."""
        parts = [_LABELS.get(self.type, self.type)]
        if self.has_value and self.type not in (REQUIRED, FORBIDDEN, TOO_LONG):
            parts.append(_format_value(self.value))
        if self.detail:
            parts.append(self.detail)
        return ": ".join(parts)

    def __str__(self) -> str:
        return f"{self.path}: {self.message()}"


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return str(value)


class ValidationError(ValueError):
    """An object failed validation; ``errors`` holds every :class:`FieldError` found."""

    def __init__(self, errors: list[FieldError], *, kind: str = "", name: str = "") -> None:
        self.errors = list(errors)
        self.kind = kind
        self.name = name
        what = f'{kind} "{name}"' if kind and name else (kind or "object")
        super().__init__(f"{what} is invalid: " + ", ".join(str(e) for e in self.errors))


class DecodeError(ValueError):
    """Input could not be decoded into objects.

    ``source`` names the file (or ``<stdin>``), ``document`` the 0-based index of
    the YAML document, ``line``/``column`` are 1-based where known, and ``path`` is
    the field path where the problem sits, if it is a field problem.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        document: int | None = None,
        line: int | None = None,
        column: int | None = None,
        path: str | None = None,
    ) -> None:
        self.reason = message
        self.source = source
        self.document = document
        self.line = line
        self.column = column
        self.path = path
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.line is not None:
            where.append(f"line {self.line}" + (f", column {self.column}" if self.column else ""))
        if self.document is not None:
            where.append(f"document {self.document}")
        head = ": ".join([", ".join(where)] if where else [])
        body = f"{self.path}: {self.reason}" if self.path else self.reason
        return f"{head}: {body}" if head else body
