"""Verbs, content negotiation, Status bodies and query parameters, through APIServer.handle."""

from __future__ import annotations

import orjson
import pytest
import yaml

from orchestra.apiserver import APIServer, Request, UserInfo
from orchestra.apiserver.handlers import Negotiator
from orchestra.apiserver.errors import NotAcceptable
from orchestra.apiserver.request import NODE, READ_ONLY

ADMIN = UserInfo("admin")
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
KUBECTL_GET = f"{TABLE},application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
PODS = "/api/v1/namespaces/default/pods"


def pod(name="web", **extra):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **extra},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "c", "image": "busybox", "notModelled": {"x": 1}}]}},
    },
}


@pytest.fixture
async def server():
    s = await APIServer.create("memory://")
    yield s
    await s.close()


async def call(server, method, path, body=None, *, query=None, headers=None, user=ADMIN, raw=None):
    data = raw if raw is not None else (orjson.dumps(body) if body is not None else b"")
    q = {k: v if isinstance(v, list) else [v] for k, v in (query or {}).items()}
    return await server.handle(Request(method, path, q, {k.lower(): v for k, v in (headers or {}).items()}, data, user))


def status_of(response):
    return orjson.loads(response.body)


# ------------------------------------------------------------------ negotiation


@pytest.mark.parametrize(
    "accept,expected",
    [
        (None, "json"),
        ("", "json"),
        ("application/json", "json"),
        ("*/*", "json"),
        ("application/yaml", "yaml"),
        ("application/vnd.kubernetes.protobuf,application/json", "json"),
        ("application/vnd.kubernetes.protobuf, */*", "json"),
        (KUBECTL_GET, "table"),
        ("application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", "json"),
        ("application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io, application/json", "json"),
        ("application/yaml;q=0,application/json", "json"),
    ],
)
def test_negotiation(accept, expected):
    assert Negotiator().choose(accept, table=True) == expected


@pytest.mark.parametrize("accept", ["application/vnd.kubernetes.protobuf", "text/html", TABLE + ";x=1,image/png"])
def test_not_acceptable(accept):
    negotiator = Negotiator()
    with pytest.raises(NotAcceptable):
        negotiator.choose(accept, table=False)


async def test_protobuf_only_accept_is_406(server):
    r = await call(server, "GET", PODS, headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert r.status == 406 and status_of(r)["reason"] == "NotAcceptable"


# ------------------------------------------------------------------ verbs


async def test_create_get_list_update_delete(server):
    r = await call(server, "POST", PODS, pod())
    assert r.status == 201
    created = orjson.loads(r.body)
    assert created["metadata"]["namespace"] == "default" and created["metadata"]["uid"]
    r = await call(server, "GET", PODS + "/web")
    assert r.status == 200 and orjson.loads(r.body)["metadata"]["uid"] == created["metadata"]["uid"]
    r = await call(server, "GET", "/api/v1/pods")
    assert [p["metadata"]["name"] for p in orjson.loads(r.body)["items"]] == ["web"]
    updated = orjson.loads((await call(server, "GET", PODS + "/web")).body)
    updated["metadata"]["labels"] = {"tier": "front"}
    r = await call(server, "PUT", PODS + "/web", updated)
    assert r.status == 200 and orjson.loads(r.body)["metadata"]["labels"] == {"tier": "front"}
    r = await call(server, "DELETE", PODS + "/web")
    assert r.status == 200
    assert (await call(server, "GET", PODS + "/web")).status == 404


async def test_conflicts_and_missing_objects_are_status_bodies(server):
    await call(server, "POST", PODS, pod())
    r = await call(server, "POST", PODS, pod())
    assert r.status == 409 and status_of(r)["reason"] == "AlreadyExists"
    assert status_of(r)["message"] == 'pods "web" already exists'
    r = await call(server, "GET", PODS + "/nope")
    assert status_of(r) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'pods "nope" not found', "reason": "NotFound", "code": 404,
        "details": {"name": "nope", "kind": "pods"},
    }


async def test_yaml_in_and_out(server):
    body = yaml.safe_dump(pod("y")).encode()
    r = await call(server, "POST", PODS, raw=body, headers={"Content-Type": "application/yaml", "Accept": "application/yaml"})
    assert r.status == 201 and r.content_type == "application/yaml"
    assert yaml.safe_load(r.body)["metadata"]["name"] == "y"


@pytest.mark.parametrize(
    "raw,content_type,code",
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b"", "application/json", 400),
        (b"a: [unclosed", "application/yaml", 400),
        (b"- just a list", "application/yaml", 400),
        (b"<pod/>", "application/xml", 415),
        (b"\x0a\x0bproto", "application/vnd.kubernetes.protobuf", 400),  # no k8s\0 envelope
        (b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09NotAKind1", "application/vnd.kubernetes.protobuf", 415),
    ],
)
async def test_bad_bodies(server, raw, content_type, code):
    r = await call(server, "POST", PODS, raw=raw, headers={"Content-Type": content_type})
    assert r.status == code
    assert status_of(r)["code"] == code


async def test_unknown_kinds_and_wrong_methods(server):
    r = await call(server, "GET", "/api/v1/namespaces/default/widgets")
    assert r.status == 404 and status_of(r)["message"] == "the server could not find the requested resource"
    r = await call(server, "POST", "/api/v1/pods", pod())
    assert r.status == 405 and status_of(r)["reason"] == "MethodNotAllowed"


async def test_table_for_get_list_and_pretty(server):
    await call(server, "POST", PODS, pod())
    r = await call(server, "GET", PODS, headers={"Accept": KUBECTL_GET})
    assert r.content_type == TABLE
    table = orjson.loads(r.body)
    assert table["kind"] == "Table" and table["rows"][0]["cells"][0] == "web"
    r = await call(server, "GET", PODS + "/web", headers={"Accept": KUBECTL_GET}, query={"includeObject": "Object"})
    assert orjson.loads(r.body)["rows"][0]["object"]["kind"] == "Pod"
    r = await call(server, "GET", PODS + "/web", query={"pretty": "true"})
    assert r.body.startswith(b'{\n  "')
    r = await call(server, "GET", PODS + "/web", headers={"Accept": KUBECTL_GET}, query={"includeObject": "All"})
    assert r.status == 400


async def test_query_parameters_are_checked(server):
    for query in ({"limit": "x"}, {"limit": "-1"}, {"labelSelector": "a in (b"}, {"fieldSelector": "bogus"},
                  {"resourceVersionMatch": "Sometimes"}, {"timeoutSeconds": "soon"}, {"allowWatchBookmarks": "perhaps"}):
        r = await call(server, "GET", PODS, query=query)
        assert r.status == 400, query
    r = await call(server, "POST", PODS, pod(), query={"dryRun": "Some"})
    assert r.status == 400
    r = await call(server, "POST", PODS, pod(), query={"fieldValidation": "Loose"})
    assert r.status == 400
    r = await call(server, "GET", PODS, query={"fieldSelector": "spec.bogus=1"})
    assert r.status == 400 and "field label not supported" in status_of(r)["message"]


async def test_label_selector_and_limit(server):
    for i in range(3):
        await call(server, "POST", PODS, pod(f"p{i}", labels={"n": str(i)}))
    r = await call(server, "GET", PODS, query={"labelSelector": "n in (0,2)"})
    assert [p["metadata"]["name"] for p in orjson.loads(r.body)["items"]] == ["p0", "p2"]
    first = orjson.loads((await call(server, "GET", PODS, query={"limit": "2"})).body)
    assert len(first["items"]) == 2 and first["metadata"]["continue"]
    rest = orjson.loads((await call(server, "GET", PODS, query={"limit": "2", "continue": first["metadata"]["continue"]})).body)
    assert [p["metadata"]["name"] for p in rest["items"]] == ["p2"]


async def test_dry_run_creates_nothing(server):
    r = await call(server, "POST", PODS, pod(), query={"dryRun": "All"})
    assert r.status == 201
    assert (await call(server, "GET", PODS + "/web")).status == 404


async def test_unmodelled_fields_pass_strict_field_validation(server):
    path = "/apis/apps/v1/namespaces/default/deployments"
    r = await call(server, "POST", path, DEPLOYMENT, query={"fieldValidation": "Strict"})
    assert r.status == 201, r.body
    container = orjson.loads(r.body)["spec"]["template"]["spec"]["containers"][0]
    assert container["notModelled"] == {"x": 1}


async def test_patch_types(server):
    await call(server, "POST", PODS, pod())
    r = await call(server, "PATCH", PODS + "/web", {"metadata": {"labels": {"a": "b"}}},
                   headers={"Content-Type": "application/merge-patch+json"})
    assert r.status == 200 and orjson.loads(r.body)["metadata"]["labels"] == {"a": "b"}
    r = await call(server, "PATCH", PODS + "/web", [{"op": "add", "path": "/metadata/labels/c", "value": "d"}],
                   headers={"Content-Type": "application/json-patch+json"})
    assert orjson.loads(r.body)["metadata"]["labels"] == {"a": "b", "c": "d"}
    r = await call(server, "PATCH", PODS + "/web", {"metadata": {"labels": {"e": "f"}}},
                   headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert orjson.loads(r.body)["metadata"]["labels"]["e"] == "f"
    r = await call(server, "PATCH", PODS + "/web", {"a": 1}, headers={"Content-Type": "application/json"})
    assert r.status == 415
    r = await call(server, "PATCH", PODS + "/web", {"a": 1}, headers={"Content-Type": "application/apply-patch+yaml"})
    assert r.status == 415
    r = await call(server, "PATCH", PODS + "/web", raw=b"{oops", headers={"Content-Type": "application/merge-patch+json"})
    assert r.status == 400


async def test_status_subresource(server):
    await call(server, "POST", PODS, pod())
    current = orjson.loads((await call(server, "GET", PODS + "/web/status")).body)
    current["status"]["phase"] = "Running"
    r = await call(server, "PUT", PODS + "/web/status", current)
    assert r.status == 200 and orjson.loads(r.body)["status"]["phase"] == "Running"


async def test_scale_subresource(server):
    path = "/apis/apps/v1/namespaces/default/deployments"
    await call(server, "POST", path, DEPLOYMENT)
    scale = orjson.loads((await call(server, "GET", path + "/web/scale")).body)
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 1
    r = await call(server, "PATCH", path + "/web/scale", {"spec": {"replicas": 4}},
                   headers={"Content-Type": "application/merge-patch+json"})
    assert r.status == 200 and orjson.loads(r.body)["spec"]["replicas"] == 4
    scale = orjson.loads(r.body)
    scale["spec"]["replicas"] = 2
    r = await call(server, "PUT", path + "/web/scale", scale)
    assert orjson.loads(r.body)["spec"]["replicas"] == 2
    assert orjson.loads((await call(server, "GET", path + "/web")).body)["spec"]["replicas"] == 2


async def test_binding(server):
    await call(server, "POST", PODS, pod())
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"}, "target": {"kind": "Node", "name": "n1"}}
    r = await call(server, "POST", PODS + "/web/binding", binding)
    assert r.status == 201
    assert orjson.loads((await call(server, "GET", PODS + "/web")).body)["spec"]["nodeName"] == "n1"
    r = await call(server, "POST", PODS + "/web/binding", binding)
    assert r.status == 409


async def test_delete_options_from_query_and_body(server):
    await call(server, "POST", PODS, pod("a"))
    await call(server, "POST", PODS, pod("b"))
    r = await call(server, "DELETE", PODS + "/a", query={"propagationPolicy": "Sideways"})
    assert r.status == 422  # Kubernetes validates DeleteOptions as an object: Invalid
    r = await call(server, "DELETE", PODS + "/a", {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
    assert r.status == 200
    r = await call(server, "DELETE", PODS + "/b", query={"gracePeriodSeconds": "0"})
    assert r.status == 200
    assert orjson.loads((await call(server, "GET", PODS)).body)["items"] == []


async def test_deletecollection(server):
    for i in range(3):
        await call(server, "POST", PODS, pod(f"p{i}", labels={"keep": "yes" if i == 0 else "no"}))
    r = await call(server, "DELETE", PODS, query={"labelSelector": "keep=no"})
    assert r.status == 200
    names = [p["metadata"]["name"] for p in orjson.loads((await call(server, "GET", PODS)).body)["items"]]
    assert names == ["p0"]


async def test_read_only_user_is_forbidden_to_write(server):
    viewer = UserInfo("viewer", READ_ONLY)
    assert (await call(server, "GET", PODS, user=viewer)).status == 200
    r = await call(server, "POST", PODS, pod(), user=viewer)
    assert r.status == 403
    assert status_of(r)["message"] == (
        'pods is forbidden: User "viewer" cannot create resource "pods" in API group "" in the namespace "default"'
    )


async def test_authorization_of_routes_matched_by_shape(server):
    # The second binding path is matched by the shape of the first: its attributes are built
    # only for a user that is not an admin, and name its own pod.
    for name in ("a", "b"):
        await call(server, "POST", PODS, pod(name))
    node = UserInfo("system:node:n1", NODE, ("system:nodes",))
    for name in ("a", "b"):
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name}, "target": {"kind": "Node", "name": "n1"}}
        r = await call(server, "POST", f"{PODS}/{name}/binding", binding, user=node)
        assert r.status == 403
        assert status_of(r)["message"] == (
            f'pods "{name}" is forbidden: User "system:node:n1" cannot create resource "pods/binding" '
            'in API group "" in the namespace "default"'
        )
        r = await call(server, "POST", f"{PODS}/{name}/binding", binding)
        assert r.status == 201
        assert status_of(r) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


async def _lines(response, count):
    lines = []
    async for chunk in response.stream:
        lines.append(orjson.loads(chunk))
        if len(lines) == count:
            break
    await response.stream.aclose()
    return lines


async def test_watch_from_now_and_named_watch(server):
    await call(server, "POST", PODS, pod("a"))
    await call(server, "POST", PODS, pod("b"))
    r = await call(server, "GET", "/api/v1/watch/namespaces/default/pods/b")
    assert r.status == 200 and r.stream is not None
    events = await _lines(r, 1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "b")]


async def test_watch_from_a_revision_sees_later_changes(server):
    created = orjson.loads((await call(server, "POST", PODS, pod("a"))).body)
    await call(server, "POST", PODS, pod("b"))
    r = await call(server, "GET", PODS, query={"watch": "true", "resourceVersion": created["metadata"]["resourceVersion"]})
    events = await _lines(r, 1)
    assert events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "b"


async def test_table_watch(server):
    await call(server, "POST", PODS, pod("a"))
    r = await call(server, "GET", PODS, query={"watch": "true"}, headers={"Accept": KUBECTL_GET})
    assert r.content_type == TABLE
    events = await _lines(r, 1)
    assert events[0]["object"]["kind"] == "Table" and events[0]["object"]["rows"][0]["cells"][0] == "a"


async def test_watch_with_bad_selector_is_400_before_streaming(server):
    r = await call(server, "GET", PODS, query={"watch": "true", "fieldSelector": "spec.bogus=x"})
    assert r.status == 400 and r.stream is None


async def test_health_version_and_root(server):
    r = await call(server, "GET", "/readyz", user=None)
    assert (r.status, r.body) == (200, b"ok")
    assert (await call(server, "GET", "/healthz/nonsense")).status == 404
    version = orjson.loads((await call(server, "GET", "/version", user=None)).body)
    assert version["gitVersion"].startswith("v1.32.0-orchestra.")
    paths = orjson.loads((await call(server, "GET", "/")).body)["paths"]
    assert "/apis/apps/v1" in paths


async def test_requests_without_user_and_credentials_are_401(server):
    r = await call(server, "GET", PODS, user=None)
    assert r.status == 401


def test_package_exports_are_pinned():
    import orchestra.apiserver as package

    assert sorted(package.__all__) == sorted(
        ["APIServer", "ServeError", "Request", "Response", "UserInfo", "ADMIN", "NODE", "READ_ONLY", "ROLES"]
    )
    for name in package.__all__:
        assert getattr(package, name) is not None


# ------------------------------------------------------------------ YAML bodies as JSON (found by tests/e2e/test_fuzz.py)

YAML_HEADERS = {"Content-Type": "application/yaml"}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("metadata: {name: keys, labels: {2: two, true: yes-bool, null: none}}",
         {"2": "two", "true": "yes-bool", "null": "none"}),
        ("metadata: {name: date, labels: {day: 2020-01-01}}", {"day": "2020-01-01"}),
        ("metadata: {name: binary, labels: {b: !!binary aGk=}}", {"b": "hi"}),
    ],
)
async def test_yaml_bodies_become_the_json_kubernetes_makes_of_them(server, extra, expected):
    body = f"apiVersion: v1\nkind: ConfigMap\n{extra}\n".encode()
    response = await call(server, "POST", "/api/v1/namespaces/default/configmaps", raw=body, headers=YAML_HEADERS)
    assert response.status == 201, response.body
    assert orjson.loads(response.body)["metadata"]["labels"] == expected


async def test_yaml_integers_beyond_64_bits_become_floats(server):
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\nextra: 100000000000000000000000\n"
    response = await call(server, "POST", "/api/v1/namespaces/default/configmaps", raw=body, headers=YAML_HEADERS)
    assert response.status == 201, response.body
    assert orjson.loads(response.body)["extra"] == 1e23


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nan}\nextra: .nan\n", "cannot be represented in JSON"),
        (b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: set}\nextra: !!set {a: null}\n", "a value of type set"),
        (b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: key}\nextra: {[1, 2]: x}\n", "not valid YAML"),
        (b"a: &a [*a]\n", "nests deeper than"),
        (b"a: &a [1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
         b"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
         b"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n", "expands to more"),
    ],
)
async def test_yaml_bodies_json_cannot_hold_are_400_not_500(server, body, message):
    response = await call(server, "POST", "/api/v1/namespaces/default/configmaps", raw=body, headers=YAML_HEADERS)
    assert response.status == 400, response.body
    assert message in status_of(response)["message"]


async def test_json_nested_too_deep_to_store_is_400_not_500(server):
    depth = 300
    body = (b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"extra":'
            + b'{"a":' * depth + b"1" + b"}" * depth + b"}")
    response = await call(server, "POST", "/api/v1/namespaces/default/configmaps", raw=body)
    assert response.status == 400, response.body
    assert "cannot be encoded as JSON" in status_of(response)["message"]


@pytest.mark.parametrize("spec", [5, "x", [1], {"finalizers": 5}])
async def test_mistyped_sections_are_400_before_the_strategy_sees_them(server, spec):
    # Found by tests/e2e/test_fuzz.py: a Namespace with "spec": 5 reached the create strategy and gave 500.
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "typed"}, "spec": spec}
    response = await call(server, "POST", "/api/v1/namespaces", body)
    assert response.status == 400, response.body
    assert 'Namespace in version "v1" cannot be handled as a Namespace' in status_of(response)["message"]
    if not isinstance(spec, dict):
        response = await call(server, "POST", "/api/v1/namespaces/default/pods", {**pod("typed"), "spec": spec})
        assert response.status == 400, response.body


async def test_routes_by_shape_are_the_routes_the_router_finds(server):
    from orchestra.apiserver.errors import APIError
    from orchestra.apiserver.routing import Router

    router = Router()
    paths = [
        ("GET", "/api/v1/namespaces/default/pods/a", {}),
        ("GET", "/api/v1/namespaces/default/pods/b", {}),
        ("GET", "/api/v1/namespaces/default/pods/binding", {}),
        ("GET", "/api/v1/namespaces/default/pods/watch", {}),
        ("GET", "/api/v1/namespaces/default/pods/a", {"watch": ["true"]}),
        ("GET", "/api/v1/namespaces/default/pods/b", {"watch": ["true"]}),
        ("POST", "/api/v1/namespaces/default/pods/a/binding", {}),
        ("POST", "/api/v1/namespaces/default/pods/b/binding", {}),
        ("POST", "/api/v1/namespaces/default/pods/pods/binding", {}),
        ("PUT", "/api/v1/namespaces/default/pods/b/status", {}),
        ("GET", "/api/v1/namespaces/x", {}),
        ("GET", "/api/v1/namespaces/pods", {}),
        ("GET", "/api/v1/namespaces/default/pods", {}),
        ("GET", "/api/v1/namespaces/x/status", {}),
        ("GET", "/api/v1/namespaces/default/status", {}),
        ("GET", "/api/v1/namespaces/pods/pods", {}),
        ("GET", "/api/v1/namespaces/pods/pods/c", {}),
        ("GET", "/api/v1/nodes/n1", {}),
        ("GET", "/api/v1/nodes/n2", {}),
        ("GET", "/api/v1/nodes/n2/", {}),
        ("GET", "/api/v1/nodes//", {}),
        ("GET", "/api/v1/nodes/n2/binding", {}),
        ("GET", "/api/v1/watch/namespaces/default/pods/a", {}),
        ("GET", "/api/v1/watch/namespaces/default/pods/b", {}),
        ("GET", "/apis/apps/v1/namespaces/default/deployments/d1/scale", {}),
        ("GET", "/apis/apps/v1/namespaces/default/deployments/d2/scale", {}),
        ("DELETE", "/api/v1/namespaces/default/pods/a/binding", {}),
    ]
    for rounds in range(2):  # the second time, every path has a shape to match
        for method, path, query in paths:
            try:
                expected = router.match(method, path, query)
            except APIError as exc:
                with pytest.raises(type(exc)):
                    server._route(method, path, query)
                continue
            route, attributes = server._route(method, path, query)
            assert route == expected, (rounds, method, path)
            assert (attributes or route.attributes()) == expected.attributes(), (rounds, method, path)
