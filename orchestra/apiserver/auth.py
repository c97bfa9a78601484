"""Who is asking (authentication) and whether they may (authorization).

Authentication, in Kubernetes' order: a client certificate signed by the cluster CA (CN = user
name, O = groups; the HTTP layer reads it from the TLS connection), then a bearer token from the
static token file (Kubernetes' ``--token-auth-file`` format: ``token,user,uid,"group1,group2"``).
With ``anonymous_admin`` (only for ``--insecure-http --anonymous-admin`` development setups), a
request without credentials is the admin ``system:anonymous``; otherwise it gets 401.
``/healthz``, ``/livez``, ``/readyz`` and ``/version`` are open to anonymous requests, as
Kubernetes' ``system:public-info-viewer`` role allows.

Roles come from groups: ``system:masters`` → admin, ``system:nodes`` → node, any other
authenticated user → read-only.

Authorization (:func:`authorize`):

- admin: everything.
- read-only: ``get``, ``list``, ``watch`` of every resource and every non-resource path.
- node (in the spirit of Kubernetes' Node authorizer + NodeRestriction): read everything; create,
  update and patch its own Node and ``nodes/status`` (its own = the name after ``system:node:``
  in the user name; a node user without that prefix may write any node); update and patch
  ``pods/status``; delete pods (the agent confirms a graceful deletion); create, update and patch
  events; create, update, patch and delete leases. No ``pods/binding`` (that is the scheduler's).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import attrs

from orchestra.apiserver.errors import Forbidden, Unauthorized
from orchestra.apiserver.request import ADMIN, NODE, READ_ONLY, UserInfo

__all__ = [
    "TokenFileError",
    "TokenFile",
    "Authenticator",
    "Attributes",
    "authorize",
    "forbidden_message",
    "role_for_groups",
    "user_from_certificate",
    "ADMIN_GROUPS",
    "NODE_GROUPS",
    "NODE_USER_PREFIX",
    "ANONYMOUS",
    "PUBLIC_PATHS",
]

ADMIN_GROUPS = frozenset({"system:masters"})
NODE_GROUPS = frozenset({"system:nodes"})
NODE_USER_PREFIX = "system:node:"
ANONYMOUS = UserInfo("system:anonymous", ADMIN, ("system:unauthenticated",))
#: Paths anyone may read without credentials.
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version", "/version/"})

_READ_VERBS = frozenset({"get", "list", "watch"})

#: (resource, subresource) → verbs a node may use beyond reading.
_NODE_WRITES: dict[tuple[str, str], frozenset[str]] = {
    ("nodes", ""): frozenset({"create", "update", "patch"}),
    ("nodes", "status"): frozenset({"update", "patch"}),
    ("pods", "status"): frozenset({"update", "patch"}),
    ("pods", ""): frozenset({"delete"}),
    ("events", ""): frozenset({"create", "update", "patch"}),
    ("leases", ""): frozenset({"create", "update", "patch", "delete"}),
}


class TokenFileError(Exception):
    """The token file is unreadable or a line is malformed; the message names file and line."""


def role_for_groups(groups: tuple[str, ...]) -> str:
    """The role of a user in ``groups``: admin, node or read-only."""
    if ADMIN_GROUPS.intersection(groups):
        return ADMIN
    if NODE_GROUPS.intersection(groups):
        return NODE
    return READ_ONLY


@attrs.frozen
class TokenFile:
    """Static bearer tokens: token → user."""

    tokens: dict[str, UserInfo]

    @classmethod
    def parse(cls, text: str, source: str = "<tokens>") -> "TokenFile":
        """Parse Kubernetes' static token CSV (``token,user,uid[,"group1,group2"]``)."""
        tokens: dict[str, UserInfo] = {}
        for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            if len(row) < 3:
                raise TokenFileError(f"{source}, line {lineno}: expected token,user,uid[,groups], got {len(row)} columns")
            token, user = row[0].strip(), row[1].strip()
            if not token or not user:
                raise TokenFileError(f"{source}, line {lineno}: the token and user columns must not be empty")
            groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
            tokens[token] = UserInfo(user, role_for_groups(groups), groups)
        return cls(tokens)

    @classmethod
    def load(cls, path: Path) -> "TokenFile":
        """Read and parse a token file."""
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise TokenFileError(f"cannot read token file {path}: {exc.strerror}") from None
        return cls.parse(text, str(path))

    def lookup(self, token: str) -> UserInfo | None:
        """The user of ``token`` (a hash lookup, as Kubernetes' token file authenticator)."""
        return self.tokens.get(token)


def user_from_certificate(peercert: dict | None) -> UserInfo | None:
    """The user of a verified client certificate (``ssl.getpeercert()`` form): CN and O values."""
    if not peercert:
        return None
    name = ""
    groups: list[str] = []
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                name = value
            elif key == "organizationName":
                groups.append(value)
    if not name:
        return None
    return UserInfo(name, role_for_groups(tuple(groups)), tuple(groups))


@attrs.define
class Authenticator:
    """Turns a request's ``Authorization`` header into a :class:`UserInfo`."""

    tokens: TokenFile
    anonymous_admin: bool = False

    def authenticate(self, headers: dict[str, str], path: str) -> UserInfo:
        """The user behind a request; raises :class:`Unauthorized` (401) without valid credentials."""
        header = headers.get("authorization")
        if header:
            scheme, _, token = header.partition(" ")
            token = token.strip()
            if scheme.lower() == "bearer" and token:
                user = self.tokens.lookup(token)
                if user is not None:
                    return user
            raise Unauthorized("Unauthorized")
        if self.anonymous_admin or path in PUBLIC_PATHS:
            return ANONYMOUS if self.anonymous_admin else UserInfo("system:anonymous", READ_ONLY, ("system:unauthenticated",))
        raise Unauthorized("Unauthorized")


@attrs.frozen
class Attributes:
    """What a request does, for authorization: a resource request, or a non-resource path."""

    verb: str
    resource: str = ""
    subresource: str = ""
    group: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def is_resource(self) -> bool:
        """Whether this is a request on an API resource (else on a plain path)."""
        return bool(self.resource)


def forbidden_message(user: UserInfo, attrs_: Attributes) -> str:
    """Kubernetes' 403 message, e.g. ``pods is forbidden: User "x" cannot create resource "pods" …``."""
    if not attrs_.is_resource:
        return f'forbidden: User "{user.name}" cannot {attrs_.verb} path "{attrs_.path}"'
    qualified = attrs_.resource + (f".{attrs_.group}" if attrs_.group else "")
    resource = attrs_.resource + (f"/{attrs_.subresource}" if attrs_.subresource else "")
    scope = f'in the namespace "{attrs_.namespace}"' if attrs_.namespace else "at the cluster scope"
    what = f'User "{user.name}" cannot {attrs_.verb} resource "{resource}" in API group "{attrs_.group}" {scope}'
    subject = f'{qualified} "{attrs_.name}"' if attrs_.name else qualified
    return f"{subject} is forbidden: {what}"


def _node_may(user: UserInfo, a: Attributes) -> bool:
    verbs = _NODE_WRITES.get((a.resource, a.subresource))
    if verbs is None or a.verb not in verbs:
        return False
    if a.resource == "nodes" and user.name.startswith(NODE_USER_PREFIX):
        # A create names its node only in the body: admission's NodeRestriction checks it there.
        return a.verb == "create" or a.name == user.name[len(NODE_USER_PREFIX):]
    return True


def authorize(user: UserInfo, a: Attributes) -> None:
    """Raise :class:`Forbidden` (403, Kubernetes' message) unless ``user``'s role allows ``a``."""
    if user.role == ADMIN or a.verb in _READ_VERBS:
        return
    if user.role == NODE and a.is_resource and _node_may(user, a):
        return
    raise Forbidden(
        forbidden_message(user, a),
        kind=a.resource if a.is_resource else "",
        name=a.name,
        group=a.group,
    )
