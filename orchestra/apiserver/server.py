"""The API server assembled: store → storage → routing, authentication, authorization, handlers.

>>> server = await APIServer.create("memory://", data_dir="/var/lib/orchestra")
>>> http = await server.serve("127.0.0.1", 6443)          # TLS with the data directory's PKI
>>> response = await server.handle(Request("GET", "/api/v1/namespaces/default/pods", user=admin))
>>> await server.close()

:meth:`APIServer.handle` is the single entry point of every request: the HTTP front calls it for
each request it parses, the in-process client transport calls it directly (a request whose
``user`` is already set skips authentication, as a request with a verified client certificate).
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Any, Awaitable

from orchestra.api.registry import ResourceType, resource_path
from orchestra.apiserver import discovery
from orchestra.apiserver.auth import Attributes, Authenticator, TokenFile, authorize
from orchestra.apiserver.certs import PKI, ensure_pki, kubeconfig, kubeconfig_yaml, write_secret
from orchestra.apiserver.compaction import Compactor
from orchestra.apiserver.errors import APIError, BadRequest, InternalError, NotFound
from orchestra.apiserver.expiry import EVENT_TTL
from orchestra.apiserver.handlers import (
    AGGREGATED, JSON, Negotiator, ResourceHandler, encode_body, error_response, object_body, plain_context,
)
from orchestra.apiserver.http import HTTPServer, server_ssl_context
from orchestra.apiserver.patch import patch_type_of
from orchestra.apiserver.podlog import PodLogProxy
from orchestra.apiserver.request import ADMIN, Request, Response, UserInfo
from orchestra.apiserver.routing import NOT_FOUND_MESSAGE, PathRoute, ResourceRoute, Router, parse_bool
from orchestra.records import maker

__all__ = ["APIServer", "ServeError"]

log = logging.getLogger(__name__)

_ROUTE_CACHE_SIZE = 4096
#: The verbs :meth:`APIServer.write_resource` serves itself.
_WRITES = frozenset({"create", "update", "patch", "delete"})
#: Makes a ResourceRoute slot by slot (a write to a new object's path makes one).
_resource_route = maker(ResourceRoute)
_NO_QUERY: dict[str, list[str]] = {}
_HEALTH_CHECKS = frozenset({"", "ping", "etcd", "log"})
_CONTENT_TYPES = {JSON: "application/json", "yaml": "application/yaml", AGGREGATED: discovery.AGGREGATED_CONTENT_TYPE}


class ServeError(Exception):
    """The server cannot listen (port busy, address not available, no PKI for TLS)."""


def _unexpected_error(method: str, path: str) -> Response:
    """The 500 of a request that failed with an exception other than an APIError (logged here)."""
    log.exception("unexpected error serving %s %s", method, path)
    return error_response(InternalError(f"an internal error occurred serving {method} {path}"))


#: The names a path segment may not be (Kubernetes' IsValidPathSegmentName), nor contain ``/`` or ``%``.
_DOTS = (".", "..")


def _segment_error(what: str, value: str) -> str:
    """Why ``value`` cannot stand as one segment of a path (client-go's wording)."""
    if not value:
        return f"{what} may not be empty"
    if value in _DOTS:
        return f"invalid {what} {value!r}: may not be '{value}'"
    return f"invalid {what} {value!r}: may not contain '/' or '%'"


def _client_ssl_context(pki: PKI) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
    return ctx


class APIServer:
    """The Kubernetes-compatible API server over one store. Build it with :meth:`create`."""

    def __init__(
        self,
        *,
        store: Any,
        storage: Any,
        authenticator: Authenticator,
        pki: PKI | None,
        owns_store: bool,
    ) -> None:
        self.store = store
        self.storage = storage
        self.pki = pki
        self._owns_store = owns_store
        self._authenticator = authenticator
        self._router = Router()
        self._negotiator = Negotiator()
        self._pod_logs = PodLogProxy(storage, _client_ssl_context(pki) if pki is not None else None)
        self._resources = ResourceHandler(storage, self._negotiator, self._pod_logs)
        self._documents: dict[tuple[str, ...], bytes] = {}
        self._routes: dict[tuple[str, str, str | None], tuple[ResourceRoute | PathRoute, Attributes]] = {}
        #: Routes of single objects by the path around the name: ``(method, before, subresource, watch)``.
        self._route_shapes: dict[tuple[str, str, str | None, str | None], ResourceRoute] = {}
        #: :meth:`write_resource`'s routes by shape: ``(method, type, no namespace, no name, subresource)``
        #: → the first route of that shape, or False when it is not a write served directly.
        self._write_shapes: dict[tuple[str, ResourceType, bool, bool, str | None], ResourceRoute | bool] = {}
        self._http: list[HTTPServer] = []
        #: Cluster IP and node port allocation for Services (set by :meth:`create`).
        self.service_allocation: Any = None
        #: The store compactor (started by :meth:`create`; idle until then).
        self.compactor = Compactor(store, 0)
        self._closed = False

    @classmethod
    async def create(
        cls,
        store: Any = "memory://",
        *,
        data_dir: str | Path | None = None,
        addresses: tuple[str, ...] = (),
        anonymous_admin: bool = False,
        plugin_manager: Any = None,
        bus: Any = None,
        service_cidr: str | None = None,
        node_port_range: str | None = None,
        compaction_interval: float = 300.0,
        event_ttl: float = EVENT_TTL,
    ) -> "APIServer":
        """Open the store (a URL or a :class:`~orchestra.store.Store`), start storage and caches.

        With ``data_dir``, the CA, serving certificate, admin token and client certificate are
        created there if missing (see :mod:`orchestra.apiserver.certs`) and the token file is
        used for bearer tokens; without it only requests with a ``user`` set, or every request
        when ``anonymous_admin``, get past authentication. Services get cluster IPs from
        ``service_cidr`` and node ports from ``node_port_range`` (``"30000-32767"``); see
        :mod:`orchestra.apiserver.allocators` for the defaults. The store is compacted every
        ``compaction_interval`` seconds (0: never); see :mod:`orchestra.apiserver.compaction`.
        Events are deleted ``event_ttl`` seconds after their last write (0: kept until deleted);
        see :mod:`orchestra.apiserver.expiry`.
        """
        from orchestra.apiserver.allocators import DEFAULT_NODE_PORT_RANGE, DEFAULT_SERVICE_CIDR, ServiceAllocation
        from orchestra.apiserver.registry_storage import StorageRegistry
        from orchestra.store import open_store

        if compaction_interval < 0:
            raise ValueError(f"compaction_interval must be >= 0 seconds, got {compaction_interval}")
        if event_ttl < 0:
            raise ValueError(f"event_ttl must be >= 0 seconds, got {event_ttl}")
        pki = ensure_pki(data_dir, addresses=addresses) if data_dir is not None else None
        tokens = TokenFile.load(pki.tokens) if pki is not None else TokenFile({})
        owns_store = isinstance(store, str)
        opened = await open_store(store, plugin_manager=plugin_manager) if owns_store else store
        try:
            storage = StorageRegistry(opened, plugin_manager=plugin_manager, bus=bus, event_ttl=event_ttl)
            await storage.start()
            try:
                allocation = await ServiceAllocation.start(
                    storage,
                    service_cidr=service_cidr or DEFAULT_SERVICE_CIDR,
                    node_port_range=node_port_range or DEFAULT_NODE_PORT_RANGE,
                )
            except BaseException:
                await storage.stop()
                raise
        except BaseException:
            if owns_store:
                await opened.close()
            raise
        server = cls(
            store=opened,
            storage=storage,
            authenticator=Authenticator(tokens, anonymous_admin=anonymous_admin),
            pki=pki,
            owns_store=owns_store,
        )
        server.service_allocation = allocation
        server.compactor = Compactor(opened, compaction_interval)
        server.compactor.start()
        return server

    # ---------------------------------------------------------------- requests

    async def handle(self, request: Request, *, defer_body: bool = False) -> Response:
        """Authenticate (unless ``request.user`` is set), route, authorize and serve one request.

        Always returns a :class:`Response`: failures are Status responses, never exceptions.
        ``defer_body``: a JSON body may be left to encode when first read (see
        :meth:`Response.deferred`); otherwise it is encoded here.
        """
        try:
            user = request.user
            if user is None:
                user = request.user = self._authenticator.authenticate(request.headers, request.path)
            route, attributes = self._route(request.method, request.path, request.query)
            if user.role != ADMIN:  # an admin may do anything: no attributes to build
                authorize(user, attributes if attributes is not None else route.attributes())
            if type(route) is ResourceRoute:
                response = await self._resources.handle(request, route)
                if not defer_body:
                    response.body  # noqa: B018 - encode now, so an encoding failure is a 500 here
                return response
            return self._serve_path(request, route)  # type: ignore[arg-type]
        except APIError as exc:
            return error_response(exc)
        except Exception:
            return _unexpected_error(request.method, request.path)

    async def write_resource(self, method: str, rtype: ResourceType, namespace: str | None, name: str | None,
                             subresource: str | None, body_object: Any, content_type: str,
                             user: UserInfo) -> int | Response:
        """A write to an object (or, for a POST, a collection) named by its parts, whose body is
        handed over (``body_object``, of ``content_type``), for a caller that does not read a
        successful answer: the HTTP status of a success, or a failure's Status response.

        What a request to the path of these parts gets, without the path: a resource's
        create, update, patch or delete runs without a route, a request or a response object
        of its own. The first write of each shape (method, kind, subresource) is routed by
        its path, which decides whether the shape is served; any other verb (a collection's
        DELETE) takes :meth:`handle_in_process`. A name or namespace that is not one path
        segment is a 400, as client-go refuses it.
        """
        try:
            if name is not None and (not name or name in _DOTS or "/" in name or "%" in name):
                raise BadRequest(_segment_error("resource name", name))
            if namespace is not None and (not namespace or namespace in _DOTS or "/" in namespace or "%" in namespace):
                raise BadRequest(_segment_error("namespace", namespace))
            shape = self._write_shapes.get((method, rtype, namespace is None, name is None, subresource))
            if shape is None:
                shape = self._write_shape(method, rtype, namespace, name, subresource)
            if shape is False:
                response = await self.handle_in_process(
                    method=method, path=resource_path(rtype, namespace, name, subresource), query={},
                    headers={"accept": "application/json", "content-type": content_type}, body=b"", user=user,
                    body_object=body_object)
                return response.status if response.status < 400 and response.stream is None else response
            verb = shape.verb
            if shape.namespace is None:
                namespace = None  # a cluster-scoped kind's path has no namespace
            if user.role != ADMIN:
                authorize(user, _resource_route(shape.rtype, verb, namespace, name, subresource).attributes())
            if verb == "patch":
                _, status = await self._resources.write_parts(shape.rtype, verb, namespace, name, subresource,
                                                              plain_context(user), body_object,
                                                              patch_type_of(content_type))
            else:
                _, status = await self._resources.write_parts(shape.rtype, verb, namespace, name, subresource,
                                                              plain_context(user), object_body(body_object))
        except APIError as exc:
            return error_response(exc)
        except Exception:
            return _unexpected_error(method, resource_path(rtype, namespace, name, subresource))
        return status

    def _write_shape(self, method: str, rtype: ResourceType, namespace: str | None, name: str | None,
                     subresource: str | None) -> ResourceRoute | bool:
        """The route of the first write of this shape, routed by its path, kept for the next
        ones; False when it is not a create, update, patch or delete."""
        route, _ = self._route(method, resource_path(rtype, namespace, name, subresource), _NO_QUERY)
        served = route if type(route) is ResourceRoute and route.verb in _WRITES else False
        self._write_shapes[(method, rtype, namespace is None, name is None, subresource)] = served
        return served

    def handle_in_process(self, *, method: str, path: str, query: dict[str, list[str]],
                          headers: dict[str, str], body: bytes, user: UserInfo,
                          body_object: Any = None) -> Awaitable[Response]:
        """Serve a request from the in-process client transport as ``user`` (no socket, no authentication).

        Returns the awaitable of :meth:`handle` (no coroutine of its own around it). A JSON
        answer's body is encoded only when the caller reads it. ``body_object``: a create's
        body handed over as the object itself (see :attr:`Request.body_object`).
        """
        return self.handle(Request(method, path, query, headers, body, user, body_object=body_object), defer_body=True)

    def _route(self, method: str, path: str,
               query: dict[str, list[str]]) -> tuple[ResourceRoute | PathRoute, Attributes | None]:
        """The route and its authorization attributes, from a bounded cache of recent paths.

        A path naming one object (``…/pods/web``, ``…/pods/web/binding``) is also matched by
        its shape: the route of an earlier path that differs only in the object's name,
        with this name. Every pod's binding path is new, yet none is parsed again; such a
        route comes without attributes (None: ``route.attributes()``, built only when
        authorization needs them).
        """
        watch = query.get("watch")
        watch_value = watch[0] if watch else None
        key = (method, path, watch_value)
        cached = self._routes.get(key)
        if cached is not None:
            return cached
        head, _, last = path.rpartition("/")
        shape = self._route_shapes.get((method, head, None, watch_value))
        name = last
        if shape is None:
            before, _, name = head.rpartition("/")
            shape = self._route_shapes.get((method, before, last, watch_value))
        if shape is not None and name:
            return _resource_route(shape.rtype, shape.verb, shape.namespace, name, shape.subresource), None
        route = self._router.match(method, path, query)
        cached = (route, route.attributes())
        if len(self._routes) >= _ROUTE_CACHE_SIZE:
            self._routes.clear()
            self._route_shapes.clear()
        self._routes[key] = cached
        if type(route) is ResourceRoute and route.name:
            if route.subresource is None and last == route.name:
                self._route_shapes[(method, head, None, watch_value)] = route
            elif route.subresource is not None and last == route.subresource:
                before, _, name = head.rpartition("/")
                if name == route.name:
                    self._route_shapes[(method, before, last, watch_value)] = route
        return cached

    def _serve_path(self, request: Request, route: PathRoute) -> Response:
        kind = route.kind
        if kind == "health":
            if route.target not in _HEALTH_CHECKS:
                raise NotFound(NOT_FOUND_MESSAGE)
            return Response(200, b"ok", "text/plain; charset=utf-8")
        aggregated = kind in ("api", "apis")
        representation = self._negotiator.choose(request.headers.get("accept"), aggregated=aggregated)
        pretty = parse_bool("pretty", request.param("pretty"))
        key = (kind, route.group, route.version, route.target, representation, str(pretty))
        body = self._documents.get(key)
        if body is None:
            document = self._document(request, route, representation)
            if document is None:
                raise NotFound(NOT_FOUND_MESSAGE)
            body = encode_body(document, representation, pretty)
            if kind != "api":  # /api names the server address the client used
                self._documents[key] = body
        return Response(200, body, _CONTENT_TYPES[representation])

    def _document(self, request: Request, route: PathRoute, representation: str) -> dict | None:
        kind = route.kind
        if kind == "version":
            return discovery.version_info()
        if kind == "root":
            return discovery.root_paths()
        if kind == "api":
            if representation == AGGREGATED:
                return discovery.aggregated_discovery(core=True)
            return discovery.api_versions(request.headers.get("host", ""))
        if kind == "apis":
            if representation == AGGREGATED:
                return discovery.aggregated_discovery(core=False)
            return discovery.api_group_list()
        if kind == "group":
            return discovery.api_group(route.group)
        if kind == "resources":
            return discovery.api_resource_list(route.group, route.version)
        from orchestra.apiserver import openapi

        if kind == "openapi-v2":
            return openapi.openapi_v2()
        if kind == "openapi-v3":
            return openapi.openapi_v3_index()
        return openapi.openapi_v3_document(route.target)

    # ---------------------------------------------------------------- serving

    async def serve(self, host: str = "127.0.0.1", port: int = 6443, *, tls: bool = True) -> HTTPServer:
        """Listen on ``host:port`` (TLS with the data directory's certificates unless ``tls=False``).

        Writes ``<data-dir>/kubeconfig`` for the address listened on. Raises :class:`ServeError`
        when the port is busy or the address cannot be bound.
        """
        ssl_context = None
        if tls:
            if self.pki is None:
                raise ServeError("serving TLS needs a data directory for the certificates (data_dir=...)")
            ssl_context = server_ssl_context(str(self.pki.serving_cert), str(self.pki.serving_key), str(self.pki.ca_cert))
        http = HTTPServer(self.handle, ssl_context=ssl_context)
        try:
            await http.start(host, port)
        except OSError as exc:
            reason = "the port is already in use" if exc.errno == 98 else (exc.strerror or str(exc))
            raise ServeError(f"cannot listen on {host}:{port}: {reason}") from None
        self._http.append(http)
        if self.pki is not None:
            self.write_kubeconfig(self._client_url(http))
        return http

    @staticmethod
    def _client_url(http: HTTPServer) -> str:
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(http.host, http.host)
        scheme = "https" if http.ssl_context is not None else "http"
        return f"{scheme}://[{host}]:{http.port}" if ":" in host else f"{scheme}://{host}:{http.port}"

    def write_kubeconfig(self, server_url: str) -> Path:
        """Write the admin kubeconfig for ``server_url`` to ``<data-dir>/kubeconfig`` (mode 0600)."""
        if self.pki is None:
            raise ServeError("a kubeconfig needs a data directory")
        tls = server_url.startswith("https:")
        config = kubeconfig(
            server_url,
            ca_pem=self.pki.ca_cert.read_bytes() if tls else None,
            token=self.pki.admin_token(),
            client_cert_pem=self.pki.admin_cert.read_bytes() if tls else None,
            client_key_pem=self.pki.admin_key.read_bytes() if tls else None,
        )
        write_secret(self.pki.kubeconfig, kubeconfig_yaml(config).encode())
        return self.pki.kubeconfig

    async def close(self) -> None:
        """Stop listening, end watches, stop the caches and close the store if this server opened it."""
        if self._closed:
            return
        self._closed = True
        await self.compactor.stop()
        for http in self._http:
            await http.close()
        self._http.clear()
        await self._pod_logs.close()
        if self.service_allocation is not None:
            await self.service_allocation.stop()
        await self.storage.stop()
        if self._owns_store:
            await self.store.close()

    async def __aenter__(self) -> "APIServer":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

