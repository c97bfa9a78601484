"""Every path shape → resource, scope, name, subresource and verb; 404 and 405 paths."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.apiserver.errors import BadRequest, MethodNotAllowed, NotFound
from orchestra.apiserver.routing import PathRoute, ResourceRoute, Router, parse_bool

ROUTER = Router()


def route(method, path, **query):
    return ROUTER.match(method, path, {k: [v] for k, v in query.items()})


def shape(r):
    return (r.rtype.plural, r.verb, r.namespace, r.name, r.subresource)


@pytest.mark.parametrize(
    "method,path,query,expected",
    [
        ("GET", "/api/v1/namespaces/default/pods", {}, ("pods", "list", "default", None, None)),
        ("GET", "/api/v1/pods", {}, ("pods", "list", None, None, None)),
        ("GET", "/api/v1/pods", {"watch": "true"}, ("pods", "watch", None, None, None)),
        ("GET", "/api/v1/namespaces/default/pods", {"watch": "1"}, ("pods", "watch", "default", None, None)),
        ("GET", "/api/v1/namespaces/default/pods", {"watch": "false"}, ("pods", "list", "default", None, None)),
        ("POST", "/api/v1/namespaces/default/pods", {}, ("pods", "create", "default", None, None)),
        ("DELETE", "/api/v1/namespaces/default/pods", {}, ("pods", "deletecollection", "default", None, None)),
        ("GET", "/api/v1/namespaces/default/pods/web", {}, ("pods", "get", "default", "web", None)),
        ("PUT", "/api/v1/namespaces/default/pods/web", {}, ("pods", "update", "default", "web", None)),
        ("PATCH", "/api/v1/namespaces/default/pods/web", {}, ("pods", "patch", "default", "web", None)),
        ("DELETE", "/api/v1/namespaces/default/pods/web", {}, ("pods", "delete", "default", "web", None)),
        ("PUT", "/api/v1/namespaces/default/pods/web/status", {}, ("pods", "update", "default", "web", "status")),
        ("GET", "/api/v1/namespaces/default/pods/web/status", {}, ("pods", "get", "default", "web", "status")),
        ("POST", "/api/v1/namespaces/default/pods/web/binding", {}, ("pods", "create", "default", "web", "binding")),
        ("GET", "/api/v1/namespaces/default/pods/web/log", {}, ("pods", "get", "default", "web", "log")),
        ("GET", "/api/v1/watch/namespaces/default/pods", {}, ("pods", "watch", "default", None, None)),
        ("GET", "/api/v1/watch/namespaces/default/pods/web", {}, ("pods", "watch", "default", "web", None)),
        ("GET", "/api/v1/watch/pods", {}, ("pods", "watch", None, None, None)),
        ("GET", "/api/v1/nodes", {}, ("nodes", "list", None, None, None)),
        ("POST", "/api/v1/nodes", {}, ("nodes", "create", None, None, None)),
        ("PATCH", "/api/v1/nodes/n1/status", {}, ("nodes", "patch", None, "n1", "status")),
        ("GET", "/api/v1/namespaces", {}, ("namespaces", "list", None, None, None)),
        ("GET", "/api/v1/namespaces/default", {}, ("namespaces", "get", None, "default", None)),
        ("PUT", "/api/v1/namespaces/default/status", {}, ("namespaces", "update", None, "default", "status")),
        ("PUT", "/api/v1/namespaces/default/finalize", {}, ("namespaces", "update", None, "default", "finalize")),
        ("GET", "/apis/apps/v1/deployments", {}, ("deployments", "list", None, None, None)),
        ("GET", "/apis/apps/v1/namespaces/ns/deployments/web/scale", {}, ("deployments", "get", "ns", "web", "scale")),
        ("PATCH", "/apis/apps/v1/namespaces/ns/deployments/web/scale", {}, ("deployments", "patch", "ns", "web", "scale")),
        ("GET", "/apis/apps/v1/watch/namespaces/ns/replicasets", {}, ("replicasets", "watch", "ns", None, None)),
        ("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {},
         ("leases", "create", "kube-node-lease", None, None)),
        ("GET", "/apis/autoscaling/v2/namespaces/ns/horizontalpodautoscalers/h", {},
         ("horizontalpodautoscalers", "get", "ns", "h", None)),
        ("GET", "/apis/batch/v1/namespaces/ns/jobs/", {}, ("jobs", "list", "ns", None, None)),
    ],
)
def test_resource_routes(method, path, query, expected):
    r = route(method, path, **query)
    assert isinstance(r, ResourceRoute)
    assert shape(r) == expected


@pytest.mark.parametrize(
    "path,kind",
    [
        ("/", "root"),
        ("/version", "version"),
        ("/healthz", "health"),
        ("/livez", "health"),
        ("/readyz", "health"),
        ("/api", "api"),
        ("/api/v1", "resources"),
        ("/apis", "apis"),
        ("/apis/apps", "group"),
        ("/apis/apps/v1", "resources"),
        ("/openapi/v2", "openapi-v2"),
        ("/openapi/v3", "openapi-v3"),
        ("/openapi/v3/apis/apps/v1", "openapi-v3-doc"),
    ],
)
def test_path_routes(path, kind):
    r = route("GET", path)
    assert isinstance(r, PathRoute) and r.kind == kind
    with pytest.raises(MethodNotAllowed):
        route("POST", path)


def test_openapi_v3_target():
    assert route("GET", "/openapi/v3/api/v1").target == "api/v1"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v2/pods",
        "/api/v1/widgets",
        "/apis/apps/v1/pods",
        "/apis/nope",
        "/apis/nope/v1",
        "/api/v1/pods/web",  # a namespaced object needs its namespace
        "/api/v1/namespaces/default/nodes",  # nodes are cluster-scoped
        "/api/v1/namespaces/default/pods/web/exec",
        "/api/v1/namespaces/default/configmaps/c/status",
        "/api/v1/namespaces/default/pods/web/status/extra",
        "/api/v1//pods",
        "/nothing",
        "/api/v1/watch",
        "relative",
        "/openapi/v4",
    ],
)
def test_unknown_paths_are_404(path):
    with pytest.raises(NotFound) as info:
        route("GET", path)
    assert info.value.status()["message"] == "the server could not find the requested resource"


@pytest.mark.parametrize(
    "method,path",
    [
        ("POST", "/api/v1/pods"),  # no create across namespaces
        ("DELETE", "/api/v1/pods"),
        ("POST", "/api/v1/namespaces/default/pods/web"),
        ("PUT", "/api/v1/namespaces/default/pods"),
        ("PATCH", "/api/v1/namespaces/default/pods"),
        ("DELETE", "/api/v1/namespaces/default/pods/web/status"),
        ("GET", "/api/v1/namespaces/default/pods/web/binding"),
        ("POST", "/api/v1/watch/namespaces/default/pods"),
        ("OPTIONS", "/api/v1/nodes"),
        ("HEAD", "/api/v1/nodes/n1"),
    ],
)
def test_wrong_methods_are_405(method, path):
    with pytest.raises(MethodNotAllowed):
        route(method, path)


def test_bad_watch_value_is_400():
    with pytest.raises(BadRequest):
        route("GET", "/api/v1/pods", watch="maybe")


def test_parse_bool():
    assert parse_bool("x", "true") and parse_bool("x", "1") and parse_bool("x", "True")
    assert not parse_bool("x", None) and not parse_bool("x", "false") and not parse_bool("x", "")


def test_authorization_attributes():
    attrs = route("PATCH", "/apis/apps/v1/namespaces/ns/deployments/web/scale").attributes()
    assert (attrs.verb, attrs.resource, attrs.subresource, attrs.group, attrs.namespace, attrs.name) == (
        "patch", "deployments", "scale", "apps", "ns", "web")
    assert route("GET", "/version").attributes().path == "/version"


@given(st.text(alphabet="/abcdefgpsv1.-_%", max_size=60), st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH"]))
def test_junk_paths_never_raise_anything_but_api_errors(path, method):
    try:
        ROUTER.match(method, path, {})
    except (NotFound, MethodNotAllowed, BadRequest):
        pass
