"""Verbs → storage calls, with content negotiation in and out.

Bodies in: JSON (default) or YAML (``application/yaml``); PATCH bodies by patch content type;
protobuf (``application/vnd.kubernetes.protobuf``, what kubectl's typed ``create`` commands send)
for the kinds and fields :mod:`orchestra.apiserver.protobuf` knows, else 415.
Bodies out, by the ``Accept`` header: JSON (default, ``?pretty=true`` indents), YAML, or a
server-side ``Table`` (``application/json;as=Table;v=v1;g=meta.k8s.io``). Protobuf is not
offered: an ``Accept`` that allows nothing else gets 406, one that falls back to JSON gets JSON.

Field validation: Orchestra keeps fields it does not model (they round-trip), so no value of
``fieldValidation`` makes a request fail for an unknown field here. The parameter is checked
(Ignore, Warn, Strict; anything else is 400) and handed to storage in the
:class:`RequestContext`, where a ``Strict`` request is refused only for what Kubernetes' closed
schemas refuse. ``kubectl apply`` with its default ``--validate=strict`` therefore succeeds for
manifests carrying fields Orchestra does not model.
"""

from __future__ import annotations

import functools
from typing import Any, AsyncIterator, Awaitable

import orjson
import yaml

from orchestra.api import codec
from orchestra.api.registry import ResourceType
from orchestra.api.selectors import FieldSelector, LabelSelector, SelectorError, escape_field_value
from orchestra.apiserver.errors import APIError, BadRequest, NotAcceptable, UnsupportedMediaType
from orchestra.apiserver.patch import patch_type_of
from orchestra.apiserver.request import Request, Response, UserInfo
from orchestra.apiserver.routing import ResourceRoute, parse_bool
from orchestra.apiserver.storage import ListOptions, RequestContext, WatchEvent, WatchStream

__all__ = [
    "JSON",
    "YAML",
    "TABLE",
    "TABLE_CONTENT_TYPE",
    "Negotiator",
    "ResourceHandler",
    "decode_body",
    "yaml_to_json",
    "MAX_YAML_DEPTH",
    "MAX_YAML_VALUES",
    "encode_body",
    "error_response",
    "list_options",
    "request_context",
]

JSON, YAML, TABLE, AGGREGATED = "json", "yaml", "table", "aggregated"
TABLE_CONTENT_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"
_CONTENT_TYPES = {JSON: "application/json", YAML: "application/yaml", TABLE: TABLE_CONTENT_TYPE}
_NOT_ACCEPTABLE = (
    "only the following media types are accepted: application/json, application/yaml, "
    "application/json;as=Table;v=v1;g=meta.k8s.io"
)
_UNKNOWN_BODY = (
    "the body of the request was in an unknown format - accepted media types include: "
    "application/json, application/yaml"
)
_PROTOBUF = "application/vnd.kubernetes.protobuf"
_FIELD_VALIDATION = frozenset({"Ignore", "Warn", "Strict"})
_INCLUDE_OBJECT = frozenset({"None", "Metadata", "Object"})
_MATCH = frozenset({"", "Exact", "NotOlderThan"})
_JSON_TYPES = frozenset({"", "application/json", "*/*"})
_YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml"})
_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Nesting deeper than this in a YAML body is refused (real objects nest a few dozen levels).
MAX_YAML_DEPTH = 100
#: Values one YAML body may expand to (aliases can make a small document huge).
MAX_YAML_VALUES = 1_000_000
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1


class _YAMLLoader(_BASE_LOADER):  # type: ignore[misc, valid-type]
    """Safe YAML without implicit timestamps: ``2020-01-01`` stays the string it is, as in Kubernetes."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in _BASE_LOADER.yaml_implicit_resolvers.items()
    }


class Negotiator:
    """Picks the response representation from an ``Accept`` header (results cached per header)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, bool, bool], str] = {}

    def choose(self, accept: str | None, *, table: bool = False, aggregated: bool = False) -> str:
        """``json``, ``yaml``, ``table`` (when ``table``) or ``aggregated`` (when ``aggregated``).

        Media ranges are tried in the order given; raises :class:`NotAcceptable` when none fits.
        """
        if not accept or accept == "application/json":
            return JSON
        key = (accept, table, aggregated)
        choice = self._cache.get(key)
        if choice is None:
            choice = self._choose(accept, table, aggregated)
            if len(self._cache) < 1024:
                self._cache[key] = choice
        return choice

    @staticmethod
    def _choose(accept: str, table: bool, aggregated: bool) -> str:
        for media_range in accept.split(","):
            media, *raw_params = (p.strip() for p in media_range.split(";"))
            media = media.lower()
            params = {}
            for p in raw_params:
                name, _, value = p.partition("=")
                params[name.strip().lower()] = value.strip().strip('"')
            if params.get("q") in ("0", "0.0", "0.00", "0.000"):
                continue
            as_ = params.get("as")
            if media in ("application/json", "application/*", "*/*"):
                if not as_:
                    return JSON
                if as_ == "Table" and table and params.get("g") == "meta.k8s.io" and params.get("v") == "v1":
                    return TABLE
                if (
                    as_ == "APIGroupDiscoveryList"
                    and aggregated
                    and params.get("g") == "apidiscovery.k8s.io"
                    and params.get("v") == "v2"
                ):
                    return AGGREGATED
            elif media in _YAML_TYPES and not as_:
                return YAML
        raise NotAcceptable(_NOT_ACCEPTABLE)


def encode_body(data: Any, representation: str, pretty: bool = False) -> bytes:
    """``data`` as JSON (or YAML) bytes."""
    if representation == YAML:
        return codec.dumps_yaml(data).encode()
    if pretty:
        try:
            return orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"
        except TypeError:
            pass
    try:
        return orjson.dumps(data)
    except TypeError:
        return codec.dumps_json(data)


def error_response(error: APIError) -> Response:
    """A Status response for ``error``."""
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else {}
    return Response(error.code, orjson.dumps(error.status()), "application/json", headers)


def _blank(body: bytes) -> bool:
    """Whether ``body`` is empty or whitespace (without copying it, as ``strip`` would)."""
    return not body or body.isspace()


def object_body(body: Any) -> dict:
    """A body handed over in process as the value itself, when it is an object (else 400)."""
    if not isinstance(body, dict):
        raise BadRequest(f"the request body must be an object, not {_describe(body)}")
    return body


def decode_body(request: Request) -> dict:
    """The request body as a dict, from JSON or YAML; 400 for malformed bodies, 415 for other types.

    A body handed over in process (:attr:`Request.body_object`) is taken as it is.
    """
    if request.body_object is not None:
        return object_body(request.body_object)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if _blank(request.body):
        raise BadRequest("the request body is empty; expected an object")
    if media in _JSON_TYPES:
        try:
            data = orjson.loads(request.body)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    elif media in _YAML_TYPES:
        try:
            data = yaml.load(request.body, Loader=_YAMLLoader)
        except yaml.YAMLError as exc:
            raise BadRequest(f"the request body is not valid YAML: {' '.join(str(exc).split())}") from None
        data = yaml_to_json(data)
    elif media == _PROTOBUF:
        from orchestra.apiserver.protobuf import decode_protobuf

        data = decode_protobuf(request.body)
    else:
        raise UnsupportedMediaType(_UNKNOWN_BODY)
    if not isinstance(data, dict):
        raise BadRequest(f"the request body must be an object, not {_describe(data)}")
    return data


def _yaml_key(key: Any) -> str:
    if type(key) is str:
        return key
    if key is None:
        return "null"
    if type(key) is bool:
        return "true" if key else "false"
    if type(key) in (int, float):
        return str(key)
    raise BadRequest(f"the request body is not valid YAML for the API: a mapping key of type {type(key).__name__}")


def _yaml_scalar(value: Any) -> Any:
    kind = type(value)
    if kind is int:
        # Outside 64 bits a number is a float, as JSON decoding (and Kubernetes' YAML decoding) gives.
        return value if _INT64_MIN <= value <= _UINT64_MAX else float(value)
    if kind is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise BadRequest(f"the request body is not valid YAML for the API: {value} cannot be represented in JSON")
        return value
    if kind is bytes:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("the request body is not valid YAML for the API: a !!binary value is not UTF-8") from None
    if value is None or kind in (str, bool):
        return value
    raise BadRequest(f"the request body is not valid YAML for the API: a value of type {kind.__name__}")


def yaml_to_json(data: Any) -> Any:
    """A decoded YAML document as the JSON value Kubernetes makes of it (a fresh tree, nothing shared).

    Mapping keys become strings (``1`` → ``"1"``, ``true`` → ``"true"``), integers beyond 64 bits
    become floats; values JSON cannot hold (NaN, sets, non-UTF-8 binary), nesting deeper than
    :data:`MAX_YAML_DEPTH` (incl. recursive aliases) and alias expansion past
    :data:`MAX_YAML_VALUES` values are refused with 400.
    """
    budget = MAX_YAML_VALUES

    def convert(value: Any, depth: int) -> Any:
        nonlocal budget
        budget -= 1
        if budget < 0:
            raise BadRequest(f"the request body is not valid YAML for the API: it expands to more than {MAX_YAML_VALUES} values")
        if depth > MAX_YAML_DEPTH:
            raise BadRequest(f"the request body is not valid YAML for the API: it nests deeper than {MAX_YAML_DEPTH} levels")
        if type(value) is dict:
            return {_yaml_key(k): convert(v, depth + 1) for k, v in value.items()}
        if type(value) is list:
            return [convert(v, depth + 1) for v in value]
        return _yaml_scalar(value)

    return convert(data, 0)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    return {list: "an array", str: "a string", bool: "a boolean"}.get(type(value), "a number")


def _int_param(request: Request, name: str) -> int | None:
    value = request.param(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"invalid value for {name}: {value!r} is not an integer") from None
    if number < 0:
        raise BadRequest(f"invalid value for {name}: {value!r} must not be negative")
    return number


def list_options(request: Request, name: str | None = None) -> ListOptions:
    """List/watch options from the query; ``name`` (a watch on one object) adds ``metadata.name=``."""
    try:
        labels = LabelSelector.parse(request.param("labelSelector") or "")
        field_text = request.param("fieldSelector") or ""
        if name is not None:
            term = "metadata.name=" + escape_field_value(name)
            field_text = f"{field_text},{term}" if field_text else term
        fields = FieldSelector.parse(field_text)
    except SelectorError as exc:
        raise BadRequest(str(exc)) from None
    match = request.param("resourceVersionMatch") or ""
    if match not in _MATCH:
        raise BadRequest(f"invalid value for resourceVersionMatch: {match!r}; expected Exact or NotOlderThan")
    initial = request.param("sendInitialEvents")
    return ListOptions(
        label_selector=labels,
        field_selector=fields,
        limit=_int_param(request, "limit") or 0,
        continue_token=request.param("continue") or None,
        resource_version=request.param("resourceVersion"),
        resource_version_match=match or None,
        allow_watch_bookmarks=parse_bool("allowWatchBookmarks", request.param("allowWatchBookmarks")),
        send_initial_events=None if initial is None else parse_bool("sendInitialEvents", initial),
        timeout_seconds=_int_param(request, "timeoutSeconds"),
    )


#: The plain context (no query parameters) of the last user seen: most writes come from one
#: client after another of the same user (a RequestContext is frozen, so sharing it is safe).
_plain_context: list[RequestContext | None] = [None]


def plain_context(user: UserInfo) -> RequestContext:
    """The context of a request by ``user`` without query parameters (no dry run, no field manager)."""
    ctx = _plain_context[0]
    if ctx is None or ctx.user is not user:
        ctx = _plain_context[0] = RequestContext(user=user)
    return ctx


def request_context(request: Request) -> RequestContext:
    """Who is asking and how: dryRun, fieldManager, fieldValidation."""
    user = request.user
    assert user is not None
    if not request.query:
        return plain_context(user)
    dry_run = request.query.get("dryRun") or []
    for value in dry_run:
        if value != "All":
            raise BadRequest(f'invalid value for dryRun: {value!r}; the only supported value is "All"')
    validation = request.param("fieldValidation") or "Ignore"
    if validation not in _FIELD_VALIDATION:
        raise BadRequest(f"invalid value for fieldValidation: {validation!r}; expected Ignore, Warn or Strict")
    return RequestContext(
        user=request.user,
        dry_run=bool(dry_run),
        field_manager=request.param("fieldManager"),
        field_validation=validation,
    )


def _delete_options(request: Request) -> dict:
    has_body = request.body_object is not None or not _blank(request.body)
    options: dict[str, Any] = decode_body(request) if has_body else {}
    grace = _int_param(request, "gracePeriodSeconds")
    if grace is not None:
        options["gracePeriodSeconds"] = grace
    policy = request.param("propagationPolicy")
    if policy is not None:
        options["propagationPolicy"] = policy
    orphan = request.param("orphanDependents")
    if orphan is not None:
        options["orphanDependents"] = parse_bool("orphanDependents", orphan)
    if request.query.get("dryRun"):
        options["dryRun"] = list(request.query["dryRun"])
    return options


class ResourceHandler:
    """Serves :class:`ResourceRoute` requests from a storage registry."""

    def __init__(self, storage: Any, negotiator: Negotiator, pod_logs: Any = None) -> None:
        self._storage = storage
        self._negotiator = negotiator
        self._pod_logs = pod_logs

    async def handle(self, request: Request, route: ResourceRoute) -> Response:
        """Run ``route``'s verb and encode the result as the client accepts."""
        if route.subresource == "log":
            if self._pod_logs is None:
                raise BadRequest("pod logs are not available from this server")
            return await self._pod_logs.logs(route.namespace, route.name, request)
        accept = request.headers.get("accept")
        if not accept or accept == "application/json":
            representation = JSON
        else:
            table_ok = route.subresource is None and route.verb in ("get", "list", "watch")
            representation = self._negotiator.choose(accept, table=table_ok)
        storage = self._storage.storage(route.rtype)
        verb = route.verb
        status = 200
        if verb == "watch":
            return self._watch(request, route, storage, representation)
        if verb == "get":
            if route.subresource == "scale":
                result = await storage.get_scale(route.namespace, route.name)
            else:
                result = await storage.get(route.namespace, route.name, resource_version=request.param("resourceVersion"))
        elif verb == "list":
            result = await storage.list(route.namespace, list_options(request))
        elif verb == "patch":
            patch_type = patch_type_of(request.headers.get("content-type", ""))
            ctx = request_context(request)
            patch = request.body_object
            if patch is None:
                if _blank(request.body):
                    raise BadRequest("the patch body is empty")
                patch = request.body
            result, status = await self.write(route, ctx, patch, patch_type)
        elif verb in ("create", "update", "delete"):
            ctx = request_context(request)
            body = _delete_options(request) if verb == "delete" else decode_body(request)
            result, status = await self.write(route, ctx, body)
        else:  # deletecollection
            ctx = request_context(request)
            result = await storage.delete_collection(route.namespace, list_options(request), _delete_options(request), ctx)
        return self._encode(request, route, result, status, representation)

    def write(self, route: ResourceRoute, ctx: RequestContext, body: Any,
              patch_type: str | None = None) -> Awaitable[tuple[dict, int]]:
        """Run ``route``'s create, update, patch or delete; the object (or Status) and the HTTP status.

        ``body``: the request's object (create, update), its patch document or body (patch,
        of ``patch_type``) or its delete options, decoded.
        """
        return self.write_parts(route.rtype, route.verb, route.namespace, route.name, route.subresource, ctx, body,
                                patch_type)

    async def write_parts(self, rtype: ResourceType, verb: str, namespace: str | None, name: str | None,
                          subresource: str | None, ctx: RequestContext, body: Any,
                          patch_type: str | None = None) -> tuple[dict, int]:
        """:meth:`write` of the route these parts make, without making it."""
        storage = self._storage.storage(rtype)
        if verb == "create":
            if subresource == "binding":
                return await storage.bind(namespace, name, body, ctx), 201
            return await storage.create(namespace, body, ctx, owned=True), 201
        if verb == "update":
            if subresource == "scale":
                return await storage.update_scale(namespace, name, body, ctx), 200
            result, created = await storage.update(namespace, name, body, ctx, subresource)
            return result, 201 if created else 200
        if verb == "patch":
            assert patch_type is not None
            if subresource == "scale":
                return await storage.patch_scale(namespace, name, patch_type, body, ctx), 200
            return await storage.patch(namespace, name, patch_type, body, ctx, subresource), 200
        if verb == "delete":
            return await storage.delete(namespace, name, body, ctx)
        raise ValueError(f"{verb} is not a write")

    def _encode(self, request: Request, route: ResourceRoute, result: dict, status: int, representation: str) -> Response:
        pretty = parse_bool("pretty", request.param("pretty")) if request.query else False
        if representation == TABLE:
            result = self._table(request, route, result)
            return Response(status, encode_body(result, JSON, pretty), TABLE_CONTENT_TYPE)
        if representation == JSON and not pretty:
            # Encoded when read: the server reads it at once, an in-process caller maybe never.
            return Response(status, b"", "application/json", encode=functools.partial(encode_body, result, JSON))
        return Response(status, encode_body(result, representation, pretty), _CONTENT_TYPES[representation])

    @staticmethod
    def _include_object(request: Request) -> str:
        include = request.param("includeObject") or "Metadata"
        if include not in _INCLUDE_OBJECT:
            raise BadRequest(f"invalid value for includeObject: {include!r}; expected None, Metadata or Object")
        return include

    def _table(self, request: Request, route: ResourceRoute, result: dict) -> dict:
        from orchestra.apiserver.tables import to_table

        include = self._include_object(request)
        if route.verb == "list":
            return to_table(route.rtype, result.get("items") or [], include_object=include,
                            list_metadata=result.get("metadata"))
        return to_table(route.rtype, [result], include_object=include)

    def _watch(self, request: Request, route: ResourceRoute, storage: Any, representation: str) -> Response:
        opts = list_options(request, route.name)
        events = storage.watch(route.namespace, opts)
        if representation == TABLE:
            include = self._include_object(request)
            stream = _table_events(events, route, include)
            return Response(200, b"", TABLE_CONTENT_TYPE, stream=stream)
        return Response(200, b"", "application/json", stream=_json_events(events), events=events)


def _error_line(error: APIError) -> bytes:
    return orjson.dumps({"type": "ERROR", "object": error.status()}) + b"\n"


async def _json_events(events: WatchStream) -> AsyncIterator[bytes]:
    """The watch's events as JSON lines, a chunk each, read from the cache's batches (no
    generator between this one and the cache per event)."""
    try:
        async for batch in events.batches():
            for event in batch:
                yield event.json_line()
    except APIError as exc:
        yield _error_line(exc)
    finally:
        await events.aclose()


async def _table_events(events: AsyncIterator[WatchEvent], route: ResourceRoute, include: str) -> AsyncIterator[bytes]:
    from orchestra.apiserver.tables import to_table

    try:
        async for event in events:
            if event.type in ("ADDED", "MODIFIED", "DELETED"):
                table = to_table(route.rtype, [event.object], include_object=include)
                yield orjson.dumps({"type": event.type, "object": table}) + b"\n"
            else:
                yield event.json_line()
    except APIError as exc:
        yield _error_line(exc)
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()
