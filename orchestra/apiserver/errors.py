"""API errors and the ``Status`` objects they become on the wire.

Every failure a client can see is one of these; the HTTP layer turns any other
exception into a 500 ``InternalError`` Status without a traceback.
"""

from __future__ import annotations

from typing import Any

from orchestra.api.errors import FieldError

__all__ = [
    "APIError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "MethodNotAllowed",
    "NotAcceptable",
    "AlreadyExists",
    "Conflict",
    "Gone",
    "RequestEntityTooLarge",
    "UnsupportedMediaType",
    "Invalid",
    "TooManyRequests",
    "InternalError",
    "ServiceUnavailable",
    "status_object",
]


def status_object(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``meta/v1`` ``Status`` with ``status: Failure`` (or ``Success`` for 2xx)."""
    status: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if 200 <= code < 300 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        status["details"] = details
    if not reason:
        del status["reason"]
    return status


class APIError(Exception):
    """An error with an HTTP status code and a Kubernetes ``StatusReason``."""

    code = 500
    reason = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        kind: str = "",
        name: str = "",
        group: str = "",
        causes: list[dict[str, str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.name = name
        self.group = group
        self.causes = causes or []
        self.retry_after = retry_after

    def details(self) -> dict[str, Any]:
        """The ``details`` of the Status (empty when there is nothing to say)."""
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = self.causes
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        return details

    def status(self) -> dict[str, Any]:
        """This error as a ``Status`` object."""
        return status_object(self.code, self.reason, self.message, self.details())


class BadRequest(APIError):
    """400: the request is malformed (bad JSON/YAML, bad query parameter, …)."""

    code, reason = 400, "BadRequest"


class Unauthorized(APIError):
    """401: no valid credentials."""

    code, reason = 401, "Unauthorized"


class Forbidden(APIError):
    """403: the user may not do this."""

    code, reason = 403, "Forbidden"


class NotFound(APIError):
    """404: no such object, resource or path."""

    code, reason = 404, "NotFound"


class MethodNotAllowed(APIError):
    """405: the path does not support the method."""

    code, reason = 405, "MethodNotAllowed"


class NotAcceptable(APIError):
    """406: no representation the client accepts."""

    code, reason = 406, "NotAcceptable"


class AlreadyExists(APIError):
    """409: an object of that name exists."""

    code, reason = 409, "AlreadyExists"


class Conflict(APIError):
    """409: the object changed since the client read it (stale resourceVersion)."""

    code, reason = 409, "Conflict"


class Gone(APIError):
    """410: the requested resourceVersion is too old (compacted)."""

    code, reason = 410, "Expired"


class RequestEntityTooLarge(APIError):
    """413: the body is larger than the server accepts."""

    code, reason = 413, "RequestEntityTooLarge"


class UnsupportedMediaType(APIError):
    """415: the body's content type is not one the server decodes (or not a valid patch type)."""

    code, reason = 415, "UnsupportedMediaType"


class Invalid(APIError):
    """422: the object failed validation; one cause per field path."""

    code, reason = 422, "Invalid"

    @classmethod
    def from_field_errors(cls, kind: str, name: str, errors: list[FieldError], group: str = "") -> "Invalid":
        """Kubernetes' message and causes for a list of field errors."""
        message = f'{kind} "{name}" is invalid: ' + ", ".join(str(e) for e in errors)
        causes = [{"reason": e.type, "message": e.message(), "field": e.path} for e in errors]
        return cls(message, kind=kind, name=name, group=group, causes=causes)


class TooManyRequests(APIError):
    """429: try again later."""

    code, reason = 429, "TooManyRequests"


class InternalError(APIError):
    """500: a bug; the message says what failed, never with a traceback."""

    code, reason = 500, "InternalError"


class ServiceUnavailable(APIError):
    """503: the server (or its store) cannot serve now."""

    code, reason = 503, "ServiceUnavailable"
