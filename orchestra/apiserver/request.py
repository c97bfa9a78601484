"""Transport-neutral requests and responses of the API server.

The HTTP layer turns an HTTP request into a :class:`Request` and a
:class:`Response` back into HTTP; the in-process client transport builds
:class:`Request` objects directly and calls :meth:`APIServer.handle`. Both go
through the same routing, authorization, admission and storage code.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable

import attrs

__all__ = ["UserInfo", "Request", "Response", "ADMIN", "NODE", "READ_ONLY", "ROLES"]

#: The roles of the simple role model: everything; what a node agent needs; get/list/watch only.
ADMIN, NODE, READ_ONLY = "admin", "node", "read-only"
ROLES = (ADMIN, NODE, READ_ONLY)


@attrs.frozen
class UserInfo:
    """Who is asking: a name, the groups they belong to, and their role."""

    name: str
    role: str = ADMIN
    groups: tuple[str, ...] = ()


@attrs.define
class Request:
    """One API request.

    ``query`` maps each parameter to its values (``?a=1&a=2`` → ``{"a": ["1", "2"]}``);
    ``headers`` keys are lower-case; ``user`` is ``None`` until authentication ran.
    ``body_object``: the body handed over in process as the JSON-typed value itself instead
    of encoded in ``body`` (a create's or update's object, a patch's document, a delete's
    options); the server owns it from then on.
    """

    method: str
    path: str
    query: dict[str, list[str]] = attrs.field(factory=dict)
    headers: dict[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    user: UserInfo | None = None
    body_object: Any = attrs.field(default=None, kw_only=True)

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default


@attrs.define
class Response:
    """One API response: a complete ``body``, or a ``stream`` of chunks (watches, log follows).

    A body made by :meth:`deferred` is encoded when first read, so an in-process client
    that does not want the answer (:meth:`Client.request_status`) never pays for it. A JSON
    watch also carries its ``events`` (the watch cache's ``WatchEvent`` objects that ``stream``
    encodes), which an in-process reader may take instead of the encoded stream.
    """

    status: int
    _body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = attrs.field(factory=dict)
    stream: AsyncIterator[bytes] | None = None
    events: AsyncIterator[Any] | None = attrs.field(default=None, kw_only=True, repr=False)
    _encode: Callable[[], bytes] | None = attrs.field(default=None, kw_only=True, repr=False)

    @classmethod
    def deferred(cls, status: int, encode: Callable[[], bytes], content_type: str) -> "Response":
        """A response whose body is ``encode()``, called once when the body is first read."""
        return cls(status, b"", content_type, encode=encode)

    @property
    def body(self) -> bytes:
        """The complete body (encoded now if it was deferred)."""
        if self._encode is not None:
            self._body = self._encode()
            self._encode = None
        return self._body

    @body.setter
    def body(self, value: bytes) -> None:
        self._body = value
        self._encode = None
