"""Fuzzing the API server: no request, however malformed, yields a 500 or a traceback.

Hypothesis builds requests from the served resources (methods × paths × subresources × query
parameters × headers × bodies: junk bytes, truncated JSON, YAML with values JSON cannot carry,
valid objects with mutated field types, large bodies, wrong content types). Most go through
:meth:`APIServer.handle` in-process (fast); a smaller set goes over a real TLS socket. Every
answer must be a Status (for errors) or a decodable document, and the server must keep serving.

Budget: a fixed number of examples per test, so the whole file stays well under a minute.
"""

from __future__ import annotations

import asyncio
import datetime
import http.client
import json
import ssl
from urllib.parse import quote, urlencode

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestra.api.registry import resource_types
from orchestra.apiserver.request import ADMIN, NODE, READ_ONLY, Request, Response, UserInfo
from tests.support.apiserver_server import client_ssl
from tests.support.cli_server import ThreadedServer, deployment, start_threaded_server

pytestmark = pytest.mark.slow

IN_PROCESS_EXAMPLES = 1000
HTTP_EXAMPLES = 80
_FUZZ = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))

RESOURCES = resource_types()
ADMIN_USER = UserInfo("admin", ADMIN, ("system:masters",))
USERS = (ADMIN_USER, UserInfo("node-a", NODE, ("system:nodes",)), UserInfo("viewer", READ_ONLY, ()))

# ------------------------------------------------------------------ the pieces of a request

names = st.one_of(
    st.sampled_from(["web", "default", "kube-system", "a" * 253, "a" * 254, "UPPER", "with.dot", "x_y", "..", ".",
                     "%2F", "über", "a b", "-lead", "trail-", "0", "web-0"]),
    st.text(min_size=1, max_size=20).filter(lambda s: "/" not in s and "?" not in s and "#" not in s),
)
namespaces = st.sampled_from(["default", "fuzz", "missing-ns", "UPPER", "kube-system", "a" * 70])
junk_segments = st.sampled_from(["", "watch", "namespaces", "status", "scale", "binding", "log", "finalize",
                                 "eviction", "exec", "proxy", "..", "%00", "v1", "api", "apis"])


@st.composite
def paths(draw) -> str:
    """A path under /api or /apis built from a served resource, or a near miss of one."""
    rtype = draw(st.sampled_from(RESOURCES))
    prefix = f"/apis/{rtype.group}/{rtype.version}" if rtype.group else f"/api/{rtype.version}"
    prefix = draw(st.sampled_from([prefix, prefix, prefix, "/api/v2", "/apis/apps/v9", "/apis/nope/v1"]))
    parts = [prefix]
    if draw(st.booleans()) and draw(st.booleans()):
        parts.append("watch")
    if draw(st.booleans()):
        parts += ["namespaces", draw(namespaces)]
    parts.append(draw(st.sampled_from([rtype.plural, rtype.plural, rtype.singular, rtype.kind, "nonsense"])))
    if draw(st.booleans()):
        parts.append(quote(draw(names), safe=""))
        if draw(st.booleans()):
            parts.append(draw(st.sampled_from(list(rtype.subresources) + ["nonsense", "scale", "status"])))
    if draw(st.integers(0, 9)) == 0:
        parts.append(draw(junk_segments))
    path = "/".join(parts)
    return draw(st.sampled_from([path, path, path, path + "/", path.replace("/", "//", 1)]))


other_paths = st.sampled_from([
    "/", "/api", "/apis", "/apis/apps", "/apis/nope", "/version", "/healthz", "/livez/ping", "/readyz/etcd",
    "/healthz/nope", "/openapi/v2", "/openapi/v3", "/openapi/v3/api/v1", "/openapi/v3/apis/apps/v1",
    "/openapi/v3/nope", "/metrics", "/logs", "", "relative", "/api/v1/namespaces", "/api/v1/namespaces/default",
])

QUERY_VALUES = {
    "labelSelector": ["app=web", "app in (a,b)", "!app", "app!=x", "a=b,c", "=", "app in (", "a==b==c", "x" * 400,
                      "app notin ()", "a>1", "~~", "a=b=c", "key with space=1"],
    "fieldSelector": ["metadata.name=web", "spec.nodeName=", "status.phase!=Running", "nope=1", "metadata.name",
                      "metadata.name==x", "a=b=c", "involvedObject.name=x", "spec.schedulerName=default"],
    "limit": ["0", "1", "2", "-1", "abc", "99999999999999999999", "1.5", ""],
    "continue": ["", "garbage", "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiJ4In0=", "e30=", "%%%"],
    "resourceVersion": ["", "0", "1", "999999999", "-5", "abc", "1e3", "99999999999999999999999"],
    "resourceVersionMatch": ["", "Exact", "NotOlderThan", "Bogus"],
    "watch": ["true", "false", "1", "maybe", ""],
    "timeoutSeconds": ["0", "1", "-1", "x", "1000000000000"],
    "allowWatchBookmarks": ["true", "nope"],
    "sendInitialEvents": ["true", "false", "x"],
    "dryRun": ["All", "None", "", "all"],
    "fieldManager": ["kubectl", "", "x" * 200],
    "fieldValidation": ["Strict", "Warn", "Ignore", "strict", ""],
    "pretty": ["true", "1", "x"],
    "propagationPolicy": ["Orphan", "Background", "Foreground", "Sideways"],
    "gracePeriodSeconds": ["0", "30", "-1", "x", "99999999999999999999"],
    "orphanDependents": ["true", "false", "x"],
    "includeObject": ["None", "Metadata", "Object", "All"],
    "container": ["c", "nope"],
    "follow": ["true", "false"],
    "tailLines": ["1", "-1", "x"],
}
queries = st.dictionaries(
    st.sampled_from(sorted(QUERY_VALUES) + ["unknown"]),
    st.lists(st.one_of(st.sampled_from(sum(QUERY_VALUES.values(), [])), st.text(max_size=12)), min_size=1, max_size=2),
    max_size=4,
)

CONTENT_TYPES = ["application/vnd.kubernetes.protobuf", "application/json", "application/yaml", "application/json; charset=utf-8",
                 "application/merge-patch+json", "application/strategic-merge-patch+json",
                 "application/json-patch+json", "application/apply-patch+yaml", "application/vnd.kubernetes.protobuf",
                 "text/plain", "multipart/form-data", "application/x-www-form-urlencoded", "", "*/*", ";;;"]
ACCEPTS = ["application/json", "application/yaml", "application/json;as=Table;v=v1;g=meta.k8s.io",
           "application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json",
           "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
           "application/vnd.kubernetes.protobuf", "application/vnd.kubernetes.protobuf, application/json",
           "text/html", "*/*", "", ";q=0", "application/json;q=0", "image/png;q=0.5, */*;q=0.1"]
headers = st.fixed_dictionaries({}, optional={
    "content-type": st.sampled_from(CONTENT_TYPES),
    "accept": st.sampled_from(ACCEPTS),
})

TEMPLATES = [
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
     "spec": {"containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80}],
                              "env": [{"name": "A", "value": "1"}],
                              "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}},
    deployment("web"),
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"}, "data": {"a": "b"}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
     "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}},
    {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "web"},
     "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fuzz"}},
    {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "web"}, "status": {"capacity": {"cpu": "4"}}},
    {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"}, "spec": {"replicas": 3}},
    {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"}, "target": {"kind": "Node", "name": "n"}},
    {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Orphan", "gracePeriodSeconds": 5},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "resourceVersion": "1"}},
]

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.integers(-3, 70000), st.floats(allow_nan=False),
    st.text(max_size=10), st.sampled_from(["", "1Gi", "100m", "Always", "TCP", "2020-01-01T00:00:00Z"]),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=8)


@st.composite
def mutated_objects(draw) -> dict:
    """A valid object with a few fields replaced by values of any type, or removed."""
    obj = json.loads(json.dumps(draw(st.sampled_from(TEMPLATES))))
    for _ in range(draw(st.integers(0, 3))):
        node, key = obj, None
        for _depth in range(draw(st.integers(1, 6))):
            if isinstance(node, dict) and node:
                key = draw(st.sampled_from(sorted(node)))
            elif isinstance(node, list) and node:
                key = draw(st.integers(0, len(node) - 1))
            else:
                break
            child = node[key]
            if not isinstance(child, (dict, list)) or not child or not draw(st.booleans()):
                break
            node, key = child, None
        if key is None:
            continue
        if isinstance(node, dict) and draw(st.integers(0, 4)) == 0:
            del node[key]
        else:
            node[key] = draw(json_values)
    return obj


yaml_only_values = st.sampled_from([
    datetime.date(2020, 1, 1), datetime.datetime(2020, 1, 1, 12, 0), 2**70, -(2**80), float("inf"), float("nan"),
    {1: "int key"}, {None: "null key"}, {(1, 2): "tuple key"}, b"bytes", {True: "bool key"},
])


@st.composite
def yaml_bodies(draw) -> bytes:
    """YAML documents, some carrying values JSON cannot (dates, big ints, non-string keys)."""
    obj = draw(mutated_objects())
    if draw(st.booleans()):
        section = obj.setdefault("metadata", {}) if isinstance(obj.get("metadata"), dict) else obj
        section[draw(st.sampled_from(["labels", "annotations", "name", "x", "creationTimestamp"]))] = draw(yaml_only_values)
    try:
        text = yaml.dump(obj, Dumper=yaml.Dumper)
    except yaml.YAMLError:
        text = yaml.safe_dump({"x": 1})
    if draw(st.integers(0, 5)) == 0:
        text = text + "\n---\n" + text  # two documents
    return text.encode()


def _pb_bytes(number: int, data: bytes) -> bytes:
    """One length-delimited protobuf field (lengths here stay under 128)."""
    return bytes([number << 3 | 2, len(data)]) + data


@st.composite
def bodies(draw) -> bytes:
    """Request bodies of every sort."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        junk = draw(st.binary(max_size=64))
        if draw(st.booleans()):
            return junk
        # A protobuf envelope (what kubectl's typed create commands send) around junk.
        api_version, type_kind = draw(st.sampled_from([("v1", "ConfigMap"), ("apps/v1", "Deployment"),
                                                       ("batch/v1", "Job"), ("v1", "Pod"), ("x", "y")]))
        type_meta = _pb_bytes(1, api_version.encode()) + _pb_bytes(2, type_kind.encode())
        return b"k8s\x00" + _pb_bytes(1, type_meta) + _pb_bytes(2, junk)
    if kind == 1:
        data = orjson.dumps(draw(mutated_objects()))
        return data[: draw(st.integers(0, len(data)))]
    if kind == 2:
        return draw(yaml_bodies())
    if kind == 3:
        return orjson.dumps(draw(json_values))
    if kind == 4:  # large: many labels, long strings, deep nesting
        size = draw(st.sampled_from([10_000, 200_000]))
        obj = draw(mutated_objects())
        if isinstance(obj.get("metadata"), dict):
            obj["metadata"]["annotations"] = {f"k{i}": "v" * 50 for i in range(size // 60)}
        return orjson.dumps(obj)
    if kind == 5:
        depth = draw(st.sampled_from([100, 250, 300, 1000, 5000]))
        nested = b'{"a":' * depth + b"1" + b"}" * depth
        if draw(st.booleans()):
            return nested
        return b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"x":' + nested + b"}"
    if kind == 6:  # JSON patches, sometimes broken
        ops = draw(st.lists(st.fixed_dictionaries({
            "op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "nope"]),
            "path": st.sampled_from(["/metadata/labels/x", "/spec/replicas", "/", "", "/a~2b", "/spec/containers/-",
                                     "/spec/containers/99", "/metadata/name", "/status"]),
        }, optional={"value": json_values, "from": st.sampled_from(["/metadata", "/x", "/spec/replicas"])}), max_size=4))
        return orjson.dumps(ops)
    if kind == 7:
        if draw(st.booleans()):
            return b""
        # Documents that grow: copies of a value into itself, YAML aliases of aliases.
        if draw(st.booleans()):
            return orjson.dumps([{"op": "copy", "from": "/metadata", "path": f"/metadata/c{i}"} for i in range(64)])
        lines = [b"a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        lines += [b"a%d: &a%d [%s]" % (i, i, b", ".join([b"*a%d" % (i - 1)] * 10)) for i in range(1, 9)]
        return b"\n".join(lines) + b"\n"
    return orjson.dumps(draw(mutated_objects()))


@st.composite
def requests(draw) -> Request:
    """One request: method, path, query, headers, body and user."""
    path = draw(st.one_of(paths(), paths(), paths(), other_paths))
    method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "GET", "POST", "PUT", "PATCH",
                                   "HEAD", "OPTIONS", "CONNECT", "BREW"]))
    query = draw(queries)
    body = draw(bodies()) if method not in ("GET", "HEAD") or draw(st.integers(0, 9)) == 0 else b""
    user = draw(st.sampled_from(USERS + (ADMIN_USER, ADMIN_USER, None)))
    hdrs = dict(draw(headers))
    if user is None:
        hdrs["authorization"] = draw(st.sampled_from(["Bearer nope", "Basic Zm9vOmJhcg==", "Bearer", "", "bearer  x"]))
    return Request(method, path, query, hdrs, body, user)


# ------------------------------------------------------------------ checking answers


def check_document(status: int, content_type: str, body: bytes) -> None:
    """An error is a Status with the same code; a success is a document of its content type."""
    assert status != 500, body[:500]
    assert 200 <= status < 600
    assert b"Traceback" not in body
    media = content_type.split(";", 1)[0].strip()
    if status >= 400:
        status_doc = orjson.loads(body)
        assert status_doc["kind"] == "Status" and status_doc["status"] == "Failure"
        assert status_doc["code"] == status
        assert isinstance(status_doc["message"], str) and status_doc["message"]
        return
    if media == "application/json":
        document = orjson.loads(body)
        assert isinstance(document, dict)
    elif media == "application/yaml":
        assert isinstance(yaml.safe_load(body), dict)
    else:
        assert media == "text/plain" and body == b"ok"


def check_watch_lines(data: bytes) -> None:
    """Every complete line of a watch stream is an event with a known type and an object."""
    for line in data.split(b"\n")[:-1]:
        event = orjson.loads(line)
        assert event["type"] in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR")
        assert isinstance(event["object"], dict)
        if event["type"] == "ERROR":
            assert event["object"]["kind"] == "Status" and event["object"]["code"] != 500


async def answer(server, request: Request) -> tuple[Response, bytes]:
    """Handle ``request`` in-process; a stream is read for what it sends at once, then closed."""
    response = await server.handle(request)
    data = b""
    if response.stream is not None:
        stream = response.stream
        try:
            while True:
                try:
                    data += await asyncio.wait_for(stream.__anext__(), 0.02)
                except (asyncio.TimeoutError, StopAsyncIteration):
                    break
        finally:
            await stream.aclose()
    return response, data


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> ThreadedServer:
    """One TLS server on loopback for the module; fuzzed requests share it."""
    server = start_threaded_server(tmp_path_factory.mktemp("apiserver"))
    seed = [
        Request("POST", "/api/v1/namespaces", {}, {}, orjson.dumps(TEMPLATES[5]), ADMIN_USER),
        Request("POST", "/api/v1/namespaces/default/pods", {}, {}, orjson.dumps(TEMPLATES[0]), ADMIN_USER),
        Request("POST", "/apis/apps/v1/namespaces/default/deployments", {}, {}, orjson.dumps(TEMPLATES[1]), ADMIN_USER),
        Request("POST", "/api/v1/namespaces/default/configmaps", {}, {}, orjson.dumps(TEMPLATES[2]), ADMIN_USER),
    ]
    for request in seed:
        assert server.call(lambda s, r=request: s.handle(r)).status == 201
    yield server
    server.stop()


def still_serving(cluster: ThreadedServer) -> None:
    """The server answers an ordinary request correctly."""
    response = cluster.call(lambda s: s.handle(Request("GET", "/api/v1/namespaces/default", user=ADMIN_USER)))
    assert response.status == 200
    assert orjson.loads(response.body)["metadata"]["name"] == "default"


# ------------------------------------------------------------------ the tests


@settings(_FUZZ, max_examples=IN_PROCESS_EXAMPLES)
@given(request=requests())
def test_in_process_requests_never_fail_with_500(cluster, request):
    response, streamed = cluster.call(lambda s: answer(s, request))
    if response.stream is not None:
        assert response.status == 200
        check_watch_lines(streamed)
    else:
        check_document(response.status, response.content_type, response.body)


def test_server_keeps_serving_after_the_in_process_fuzz(cluster):
    still_serving(cluster)


def _connection(cluster: ThreadedServer) -> http.client.HTTPSConnection:
    port = int(cluster.kubeconfig.read_text().split("server: https://127.0.0.1:")[1].split()[0])
    ctx: ssl.SSLContext = client_ssl(cluster.kubeconfig.parent)
    return http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)


@settings(_FUZZ, max_examples=HTTP_EXAMPLES)
@given(request=requests())
def test_http_requests_never_fail_with_500(cluster, request):
    token = cluster.server.pki.admin_token()
    hdrs = {k: v for k, v in request.headers.items()}
    if request.user is not None:
        hdrs["authorization"] = f"Bearer {token}"
    # Over HTTP, watches must end on their own: no ?watch/?follow, and the legacy /watch/ paths time out.
    query = {k: v for k, v in request.query.items() if k not in ("watch", "follow", "timeoutSeconds")}
    if "/watch/" in request.path:
        query["timeoutSeconds"] = ["1"]
    # A request target without a leading "/" is not HTTP (the tests of the HTTP front cover that).
    path = request.path if request.path.startswith("/") else "/" + request.path
    target = path + ("?" + urlencode(query, doseq=True) if query else "")
    connection = _connection(cluster)
    try:
        connection.request(request.method, target.encode("utf-8").decode("latin-1"), body=request.body, headers=hdrs)
        response = connection.getresponse()
        body = response.read() if request.method != "HEAD" else b""
        if request.method == "HEAD" or response.status == 405 and not body:
            assert response.status != 500
        elif "/watch/" in request.path and response.status == 200:
            check_watch_lines(body)  # a legacy watch path streams events until its timeout
        else:
            check_document(response.status, response.getheader("Content-Type", ""), body)
    finally:
        connection.close()


def test_http_bodies_over_the_limit_get_413_and_the_server_keeps_serving(cluster):
    connection = _connection(cluster)
    try:
        huge = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge"},"data":{"a":"' + b"x" * (4 << 20) + b'"}}'
        connection.request("POST", "/api/v1/namespaces/default/configmaps", body=huge,
                           headers={"Authorization": f"Bearer {cluster.server.pki.admin_token()}",
                                    "Content-Type": "application/json"})
        response = connection.getresponse()
        check_document(response.status, response.getheader("Content-Type", ""), response.read())
        assert response.status == 413
    finally:
        connection.close()
    still_serving(cluster)


def test_server_keeps_serving_after_the_http_fuzz(cluster):
    still_serving(cluster)
