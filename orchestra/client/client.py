"""The async API client: typed verbs over a transport.

>>> client = Client.from_kubeconfig("/var/lib/orchestra/kubeconfig")
>>> pod = await client.get(Pod, "web-0", namespace="default")
>>> async for event in client.watch(Pod, namespace="default"):
...     print(event.type, event.object.metadata.name)

A kind is named by its model class (``Pod``), its :class:`ResourceType`, or a
string as kubectl accepts it (``"pods"``, ``"pod"``, ``"po"``, ``"deployments.apps"``).
Objects come back as model objects, or as wire dicts with ``raw=True``.
"""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator, Mapping

import attrs
import orjson

from orchestra.api import codec
from orchestra.api.registry import ResourceType, resource_path, resource_types
from orchestra.client.kubeconfig import load_kubeconfig
from orchestra.client.transport import HTTPTransport, InProcessTransport, RawResponse, Transport
from orchestra.records import maker

__all__ = [
    "Client",
    "ApiStatusError",
    "ResourceExpired",
    "WatchEvent",
    "ObjectList",
    "resolve_kind",
    "resource_path",
    "UnknownKindError",
    "raise_for_status",
]

KindRef = type | ResourceType | str

JSON = "application/json"
PATCH_CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}
#: ``(method, content type)`` of the requests whose body :meth:`Client.hand_over` hands over in process.
_HANDED_OVER = frozenset(
    [("POST", JSON), ("PUT", JSON), ("DELETE", JSON)] + [("PATCH", t) for t in PATCH_CONTENT_TYPES.values()]
)


class UnknownKindError(LookupError):
    """No served resource matches the name."""


class ApiStatusError(Exception):
    """The API server answered with an error ``Status``: ``code``, ``reason``, ``message``, ``status``."""

    def __init__(self, code: int, status: dict[str, Any]) -> None:
        self.code = code
        self.status = status
        self.reason = status.get("reason", "")
        self.message = status.get("message", "") or f"HTTP {code}"
        super().__init__(f"{code} {self.reason}: {self.message}" if self.reason else f"{code}: {self.message}")

    @property
    def causes(self) -> list[dict[str, str]]:
        """The per-field causes of a 422 (``[{"field": ..., "message": ..., "reason": ...}]``)."""
        return list((self.status.get("details") or {}).get("causes") or [])


class ResourceExpired(ApiStatusError):
    """410 Gone: the requested resourceVersion has been compacted; re-list."""


@attrs.frozen
class WatchEvent:
    """One watch event: ``type`` (ADDED, MODIFIED, DELETED, BOOKMARK) and its object."""

    type: str
    object: Any


#: Makes a WatchEvent slot by slot (a watch makes one per event).
_watch_event = maker(WatchEvent)


@attrs.frozen
class ObjectList:
    """A list answer: the items and the list's ``resource_version`` and ``continue_token``."""

    items: list[Any]
    resource_version: str
    continue_token: str | None = None
    remaining_item_count: int | None = None


def _index() -> dict[str, ResourceType]:
    names: dict[str, ResourceType] = {}
    for rt in resource_types():
        for name in (rt.plural, rt.singular, rt.kind.lower(), *rt.short_names):
            names.setdefault(name, rt)
            if rt.group:
                names.setdefault(f"{name}.{rt.group}", rt)
    return names


_BY_NAME: dict[str, ResourceType] | None = None
_BY_CLASS: dict[type, ResourceType] | None = None


def resolve_kind(kind: KindRef) -> ResourceType:
    """The :class:`ResourceType` for a model class, resource type or name."""
    global _BY_NAME, _BY_CLASS
    if isinstance(kind, ResourceType):
        return kind
    if _BY_NAME is None or _BY_CLASS is None:
        _BY_NAME = _index()
        _BY_CLASS = {rt.cls: rt for rt in resource_types()}
    if isinstance(kind, type):
        found = _BY_CLASS.get(kind)
    else:
        found = _BY_NAME.get(kind.lower())
    if found is None:
        raise UnknownKindError(f"the server doesn't have a resource type {getattr(kind, '__name__', kind)!r}")
    return found


def _raise_watch_error(status: dict[str, Any]) -> None:
    code = int(status.get("code") or 500)
    raise (ResourceExpired if code == 410 else ApiStatusError)(code, status)


def raise_for_status(response: RawResponse) -> None:
    """Raise the :class:`ApiStatusError` (:class:`ResourceExpired` for 410) an error response carries.

    Does nothing for a status below 400. The body is read as a Kubernetes ``Status``; a body that
    is not one becomes the error's message. For a streamed response, read its body first:
    ``raise_for_status(RawResponse(stream.status, stream.headers, await stream.read()))``.
    """
    if response.status < 400:
        return
    try:
        status = orjson.loads(response.body)
        if not isinstance(status, dict):
            raise ValueError
    except ValueError:
        status = {"message": response.body.decode(errors="replace")[:500], "code": response.status}
    cls = ResourceExpired if response.status == 410 else ApiStatusError
    raise cls(response.status, status)


class Client:
    """Typed get/list/watch/create/update/patch/delete over a :class:`Transport`."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @classmethod
    def from_kubeconfig(cls, path: str | None = None, *, context: str | None = None) -> "Client":
        """A client over HTTP(S) with the credentials of a kubeconfig context."""
        return cls(HTTPTransport(load_kubeconfig(path, context=context)))

    @classmethod
    def in_process(cls, server: Any, user: Any) -> "Client":
        """A client calling ``server`` (an ``APIServer``) directly, as ``user``."""
        return cls(InProcessTransport(server, user))

    async def close(self) -> None:
        """Close the transport."""
        await self.transport.close()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ----------------------------------------------------------------- plumbing

    async def request_json(self, method: str, path: str, *, query: Mapping[str, Any] | None = None,
                           body: Any = None, content_type: str = JSON, accept: str = JSON) -> dict[str, Any]:
        """One request with a JSON body (dict or bytes) and a JSON answer; raises ApiStatusError.

        ``accept`` asks for another JSON representation, e.g. a server-side Table.
        """
        data = body if isinstance(body, (bytes, type(None))) else orjson.dumps(body)
        headers = {"Accept": accept}
        if data is not None:
            headers["Content-Type"] = content_type
        response = await self.transport.request(method, path, query=query, headers=headers, body=data)
        raise_for_status(response)
        return orjson.loads(response.body) if response.body else {}

    async def request_status(self, method: str, path: str, *, query: Mapping[str, Any] | None = None,
                             body: Any = None, content_type: str = JSON) -> int:
        """:meth:`request_json` for a caller that does not need the answer: returns the HTTP status.

        Errors still raise :class:`ApiStatusError`. Over the in-process transport the server
        does not even encode a successful answer.
        """
        send = getattr(self.transport, "request_without_body", None)
        data = body if isinstance(body, (bytes, type(None))) else orjson.dumps(body)
        headers = {"Accept": JSON}
        if data is not None:
            headers["Content-Type"] = content_type
        if send is not None:
            response = await send(method, path, query=query, headers=headers, body=data)
        else:
            response = await self.transport.request(method, path, query=query, headers=headers, body=data)
        raise_for_status(response)
        return response.status

    async def hand_over(self, method: str, kind: KindRef, body: Any, *, namespace: str | None = None,
                        name: str | None = None, subresource: str | None = None, content_type: str = JSON) -> int:
        """A write whose answer the caller does not read, to the object ``name`` of ``kind`` (or
        its ``subresource``), or for a POST without ``name`` to the collection: the HTTP status.

        The caller gives up ``body`` (JSON values, as :mod:`orjson` would encode them) and never
        touches it again: over the in-process transport a JSON POST, PUT or DELETE (its options)
        or a JSON, merge or strategic merge PATCH passes it itself, unencoded and without a path
        to format and parse, and the server may change it. Otherwise this is
        :meth:`request_status` of the object's path. Errors raise :class:`ApiStatusError`.
        """
        rt = kind if type(kind) is ResourceType else resolve_kind(kind)
        transport = self.transport
        if (isinstance(transport, InProcessTransport) and type(body) in (dict, list)
                and (method, content_type) in _HANDED_OVER):
            answer = await transport.write_resource(method, rt, namespace, name, subresource, body, content_type)
            if type(answer) is int:
                return answer
            response = await transport.answer(answer)
            raise_for_status(response)
            return response.status
        return await self.request_status(method, resource_path(rt, namespace, name, subresource), body=body,
                                         content_type=content_type)

    @staticmethod
    def _out(data: dict[str, Any], raw: bool) -> Any:
        if raw or data.get("kind") == "Status":
            return data
        return codec.decode(data)

    @staticmethod
    def _body(obj: Any) -> dict[str, Any]:
        return obj if isinstance(obj, dict) else codec.encode(obj)

    @staticmethod
    def _kind_of(obj: Any) -> ResourceType:
        if isinstance(obj, dict):
            api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
            for rt in resource_types():
                if rt.kind == kind and rt.api_version == api_version:
                    return rt
            raise UnknownKindError(f"no served resource for apiVersion {api_version!r} kind {kind!r}")
        return resolve_kind(type(obj))

    @staticmethod
    def _meta(obj: Any) -> tuple[str | None, str | None]:
        if isinstance(obj, dict):
            meta = obj.get("metadata") or {}
            return meta.get("namespace"), meta.get("name")
        meta = obj.metadata
        return (meta.namespace, meta.name) if meta is not None else (None, None)

    # ----------------------------------------------------------------- verbs

    async def get(self, kind: KindRef, name: str, *, namespace: str | None = None, raw: bool = False) -> Any:
        """One object; raises ApiStatusError (404) when absent."""
        rt = resolve_kind(kind)
        return self._out(await self.request_json("GET", resource_path(rt, namespace, name)), raw)

    async def list(self, kind: KindRef, *, namespace: str | None = None, label_selector: str | None = None,
                   field_selector: str | None = None, limit: int | None = None, continue_token: str | None = None,
                   resource_version: str | None = None, raw: bool = False) -> ObjectList:
        """One page of a list (all pages when ``limit`` is None and the server does not cut)."""
        rt = resolve_kind(kind)
        query = {"labelSelector": label_selector, "fieldSelector": field_selector, "limit": limit,
                 "continue": continue_token, "resourceVersion": resource_version}
        data = await self.request_json("GET", resource_path(rt, namespace), query=query)
        meta = data.get("metadata") or {}
        items = data.get("items") or []
        if not raw:
            api_version, kind_name = rt.api_version, rt.kind
            for item in items:
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind_name)
            items = [codec.decode(item) for item in items]
        return ObjectList(items, meta.get("resourceVersion", ""), meta.get("continue") or None,
                          meta.get("remainingItemCount"))

    async def watch(self, kind: KindRef, *, namespace: str | None = None, label_selector: str | None = None,
                    field_selector: str | None = None, resource_version: str | None = None,
                    allow_bookmarks: bool = True, timeout_seconds: int | None = None,
                    send_initial_events: bool | None = None, raw: bool = False,
                    shared: bool = False) -> AsyncIterator[WatchEvent]:
        """Watch events until the server ends the stream; an expired version raises ResourceExpired.

        ``shared`` (with ``raw``): over the in-process transport, the objects are the API
        server's own rather than decoded copies — cheaper, but they must never be changed.
        Other transports decode as usual.
        """
        batches = self.watch_batches(kind, namespace=namespace, label_selector=label_selector,
                                     field_selector=field_selector, resource_version=resource_version,
                                     allow_bookmarks=allow_bookmarks, timeout_seconds=timeout_seconds,
                                     send_initial_events=send_initial_events, raw=raw, shared=shared)
        async with contextlib.aclosing(batches):  # a watch ended early ends its stream at once
            async for batch in batches:
                for event in batch:
                    yield event

    async def watch_batches(self, kind: KindRef, *, namespace: str | None = None, label_selector: str | None = None,
                            field_selector: str | None = None, resource_version: str | None = None,
                            allow_bookmarks: bool = True, timeout_seconds: int | None = None,
                            send_initial_events: bool | None = None, raw: bool = False,
                            shared: bool = False) -> AsyncIterator[list[WatchEvent]]:
        """:meth:`watch`, a list of events a step: with ``shared`` over the in-process
        transport, every event the server had for the watch by then (a consumer that fell
        behind a burst of writes catches up in one step); otherwise one event a step.
        The events before an ``ERROR`` come as a list of their own before it raises.
        """
        rt = resolve_kind(kind)
        query: dict[str, Any] = {"watch": True, "labelSelector": label_selector, "fieldSelector": field_selector,
                                 "resourceVersion": resource_version, "allowWatchBookmarks": allow_bookmarks,
                                 "timeoutSeconds": timeout_seconds}
        if send_initial_events is not None:
            query["sendInitialEvents"] = send_initial_events
            query["resourceVersionMatch"] = "NotOlderThan"
        async with self.transport.stream("GET", resource_path(rt, namespace), query=query,
                                         headers={"Accept": JSON}) as response:
            if response.status >= 400:
                raise_for_status(RawResponse(response.status, response.headers, await response.read()))
            source = response.shared_batches() if shared and raw and hasattr(response, "shared_batches") else None
            if source is not None:
                async for batch in source:
                    events = []
                    for event in batch:
                        if event.type == "ERROR":
                            if events:
                                yield events
                            _raise_watch_error(event.object)
                        events.append(_watch_event(event.type, event.object))
                    yield events
                return
            async for line in response.lines():
                if not line or line.isspace():
                    continue
                event = orjson.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    _raise_watch_error(obj)
                if not raw and event.get("type") != "BOOKMARK":
                    obj.setdefault("apiVersion", rt.api_version)
                    obj.setdefault("kind", rt.kind)
                    obj = codec.decode(obj)
                yield [_watch_event(event["type"], obj)]

    async def create(self, obj: Any, *, namespace: str | None = None, dry_run: bool = False, raw: bool = False) -> Any:
        """Create ``obj`` (a model object or wire dict); its namespace defaults to ``metadata.namespace``."""
        rt = self._kind_of(obj)
        obj_ns, _ = self._meta(obj)
        query = {"dryRun": "All"} if dry_run else None
        data = await self.request_json("POST", resource_path(rt, namespace or obj_ns or ("default" if rt.namespaced else None)),
                                       query=query, body=self._body(obj))
        return self._out(data, raw or isinstance(obj, dict))

    async def update(self, obj: Any, *, subresource: str | None = None, dry_run: bool = False,
                     raw: bool = False) -> Any:
        """Replace ``obj`` (PUT); its resourceVersion makes it conditional (409 when stale)."""
        rt = self._kind_of(obj)
        namespace, name = self._meta(obj)
        query = {"dryRun": "All"} if dry_run else None
        data = await self.request_json("PUT", resource_path(rt, namespace, name, subresource), query=query,
                                       body=self._body(obj))
        return self._out(data, raw or isinstance(obj, dict))

    async def update_status(self, obj: Any, *, raw: bool = False) -> Any:
        """Replace ``obj``'s status through the ``/status`` subresource."""
        return await self.update(obj, subresource="status", raw=raw)

    async def patch(self, kind: KindRef, name: str, patch: Any, *, namespace: str | None = None,
                    patch_type: str = "merge", subresource: str | None = None, raw: bool = False) -> Any:
        """Patch an object: ``patch_type`` is ``merge``, ``json`` or ``strategic``."""
        rt = resolve_kind(kind)
        try:
            content_type = PATCH_CONTENT_TYPES[patch_type]
        except KeyError:
            raise ValueError(f"patch_type must be one of {sorted(PATCH_CONTENT_TYPES)}, got {patch_type!r}") from None
        data = await self.request_json("PATCH", resource_path(rt, namespace, name, subresource), body=patch,
                                       content_type=content_type)
        return self._out(data, raw)

    async def delete(self, kind: KindRef, name: str, *, namespace: str | None = None,
                     propagation_policy: str | None = None, grace_period_seconds: int | None = None,
                     preconditions: dict[str, str] | None = None, raw: bool = False) -> Any:
        """Delete an object; returns its last state (or the server's Status)."""
        rt = resolve_kind(kind)
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            options["preconditions"] = preconditions
        data = await self.request_json("DELETE", resource_path(rt, namespace, name), body=options)
        return self._out(data, raw)

    async def delete_collection(self, kind: KindRef, *, namespace: str | None = None,
                                label_selector: str | None = None, field_selector: str | None = None,
                                propagation_policy: str | None = None) -> dict[str, Any]:
        """Delete every matching object; returns the server's answer as a dict."""
        rt = resolve_kind(kind)
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        return await self.request_json("DELETE", resource_path(rt, namespace),
                                       query={"labelSelector": label_selector, "fieldSelector": field_selector},
                                       body=options)
