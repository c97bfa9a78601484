"""URL + method → route: which resource, scope, object, subresource and verb a request names.

Every path shape of the Kubernetes REST API for the served kinds::

    /api/v1/pods                                     list/watch across namespaces
    /api/v1/namespaces/{ns}/pods[/{name}[/{sub}]]    namespaced
    /api/v1/nodes[/{name}[/{sub}]]                   cluster-scoped
    /apis/{group}/{version}/...                      the same under a named group
    /api/v1/watch/...  and  ?watch=true              watches (the /watch/ prefix is the legacy form)

plus the non-resource paths (discovery, version, OpenAPI, health). Unknown paths and kinds raise
:class:`NotFound`, a method a path does not take raises :class:`MethodNotAllowed`.
"""

from __future__ import annotations

import attrs

from orchestra.api.registry import ResourceType, resource_types
from orchestra.apiserver.auth import Attributes
from orchestra.apiserver.errors import BadRequest, MethodNotAllowed, NotFound

__all__ = [
    "ResourceRoute",
    "PathRoute",
    "Router",
    "parse_bool",
    "NOT_FOUND_MESSAGE",
    "METHOD_NOT_ALLOWED_MESSAGE",
    "SUBRESOURCE_VERBS",
    "HEALTH_PATHS",
]

NOT_FOUND_MESSAGE = "the server could not find the requested resource"
METHOD_NOT_ALLOWED_MESSAGE = "the server does not allow this method on the requested resource"
HEALTH_PATHS = ("healthz", "livez", "readyz")

#: For each subresource: HTTP method → verb.
SUBRESOURCE_VERBS: dict[str, dict[str, str]] = {
    "status": {"GET": "get", "PUT": "update", "PATCH": "patch"},
    "scale": {"GET": "get", "PUT": "update", "PATCH": "patch"},
    "binding": {"POST": "create"},
    "log": {"GET": "get"},
    "finalize": {"PUT": "update"},
}
_OBJECT_VERBS = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_COLLECTION_VERBS = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}
_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False", ""})


def parse_bool(name: str, value: str | None) -> bool:
    """A boolean query parameter as Go's ``strconv.ParseBool`` reads it; 400 for anything else."""
    if value is None or value in _FALSE:
        return False
    if value in _TRUE:
        return True
    raise BadRequest(f"invalid value for {name}: {value!r} is not a boolean")


@attrs.frozen
class ResourceRoute:
    """A request on a resource: ``verb`` is a Kubernetes verb (get, list, watch, create, …)."""

    rtype: ResourceType
    verb: str
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None

    def attributes(self) -> Attributes:
        """What authorization needs to know about this route."""
        return Attributes(
            verb=self.verb,
            resource=self.rtype.plural,
            subresource=self.subresource or "",
            group=self.rtype.group,
            namespace=self.namespace or "",
            name=self.name or "",
        )


@attrs.frozen
class PathRoute:
    """A non-resource path.

    ``kind`` is one of ``root``, ``version``, ``health``, ``api`` (``/api``), ``apis``,
    ``group`` (``/apis/{group}``), ``resources`` (``/api/v1``, ``/apis/{group}/{version}``),
    ``openapi-v2``, ``openapi-v3`` (the index) and ``openapi-v3-doc`` (``target`` = ``api/v1``…).
    """

    kind: str
    path: str
    group: str = ""
    version: str = ""
    target: str = ""

    def attributes(self) -> Attributes:
        """What authorization needs to know about this route."""
        return Attributes(verb="get", path=self.path)


def _not_found() -> NotFound:
    return NotFound(NOT_FOUND_MESSAGE)


class Router:
    """Matches request paths against the served resource types (built once, then read-only)."""

    def __init__(self, types: tuple[ResourceType, ...] | None = None) -> None:
        self._resources: dict[tuple[str, str], dict[str, ResourceType]] = {}
        self._groups: set[str] = set()
        for rt in types if types is not None else resource_types():
            self._resources.setdefault((rt.group, rt.version), {})[rt.plural] = rt
            self._groups.add(rt.group)

    def match(self, method: str, path: str, query: dict[str, list[str]]) -> ResourceRoute | PathRoute:
        """The route for ``method`` on ``path``; raises NotFound, MethodNotAllowed or BadRequest."""
        parts = path.split("/")[1:] if path.startswith("/") else []
        if parts and parts[-1] == "":
            parts.pop()
        if not path.startswith("/") or "" in parts:
            raise _not_found()
        if not parts:
            return self._path_route(method, PathRoute("root", path))
        head = parts[0]
        if head == "api":
            if len(parts) == 1:
                return self._path_route(method, PathRoute("api", path))
            group, version, rest = "", parts[1], parts[2:]
        elif head == "apis":
            if len(parts) == 1:
                return self._path_route(method, PathRoute("apis", path))
            if len(parts) == 2:
                if parts[1] not in self._groups or not parts[1]:
                    raise _not_found()
                return self._path_route(method, PathRoute("group", path, group=parts[1]))
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return self._path_route(method, self._other_path(parts, path))
        resources = self._resources.get((group, version))
        if resources is None:
            raise _not_found()
        if not rest:
            return self._path_route(method, PathRoute("resources", path, group=group, version=version))
        return self._resource_route(method, resources, rest, query, group)

    def _other_path(self, parts: list[str], path: str) -> PathRoute:
        head = parts[0]
        if head == "version" and len(parts) == 1:
            return PathRoute("version", path)
        if head in HEALTH_PATHS:
            return PathRoute("health", path, target="/".join(parts[1:]))
        if head == "openapi" and len(parts) >= 2:
            if parts[1] == "v2" and len(parts) == 2:
                return PathRoute("openapi-v2", path)
            if parts[1] == "v3":
                if len(parts) == 2:
                    return PathRoute("openapi-v3", path)
                return PathRoute("openapi-v3-doc", path, target="/".join(parts[2:]))
        raise _not_found()

    @staticmethod
    def _path_route(method: str, route: PathRoute) -> PathRoute:
        if method != "GET":
            raise MethodNotAllowed(METHOD_NOT_ALLOWED_MESSAGE)
        return route

    def _resource_route(
        self,
        method: str,
        resources: dict[str, ResourceType],
        rest: list[str],
        query: dict[str, list[str]],
        group: str,
    ) -> ResourceRoute:
        legacy_watch = rest[0] == "watch"
        if legacy_watch:
            rest = rest[1:]
            if not rest:
                raise _not_found()
        namespace: str | None = None
        if (
            len(rest) >= 3
            and rest[0] == "namespaces"
            and not (group == "" and len(rest) == 3 and rest[2] in SUBRESOURCE_VERBS)
        ):
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise _not_found()
        rtype = resources.get(rest[0])
        if rtype is None:
            raise _not_found()
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        if namespace is not None and not rtype.namespaced:
            raise _not_found()
        if namespace is None and rtype.namespaced and name is not None:
            raise _not_found()
        if subresource is not None and subresource not in rtype.subresources:
            raise _not_found()
        watch_values = query.get("watch")
        watch = legacy_watch or (watch_values is not None and parse_bool("watch", watch_values[0]))
        verb = self._verb(method, rtype, namespace, name, subresource, watch, legacy_watch)
        return ResourceRoute(rtype, verb, namespace, name, subresource)

    @staticmethod
    def _verb(
        method: str,
        rtype: ResourceType,
        namespace: str | None,
        name: str | None,
        subresource: str | None,
        watch: bool,
        legacy_watch: bool,
    ) -> str:
        if legacy_watch and (method != "GET" or subresource is not None):
            raise MethodNotAllowed(METHOD_NOT_ALLOWED_MESSAGE)
        if subresource is not None:
            verb = SUBRESOURCE_VERBS[subresource].get(method)
        elif name is not None:
            verb = _OBJECT_VERBS.get(method)
        else:
            verb = _COLLECTION_VERBS.get(method)
            # Across namespaces a namespaced resource is only listed and watched.
            if rtype.namespaced and namespace is None and verb != "list":
                verb = None
        if verb is None:
            raise MethodNotAllowed(METHOD_NOT_ALLOWED_MESSAGE)
        if watch and verb in ("get", "list") and subresource is None:
            return "watch"
        return verb
