"""APIServer.write_resource: a handed-over write to an object named by its parts, without a path,
a request or an answer of its own."""

from __future__ import annotations

import logging

import orjson
import pytest

from orchestra.api.registry import by_resource
from orchestra.apiserver import APIServer
from orchestra.apiserver.request import NODE, READ_ONLY, UserInfo

ADMIN = UserInfo("admin")
CONFIGMAPS = by_resource("", "v1", "configmaps")
NAMESPACES = by_resource("", "v1", "namespaces")


@pytest.fixture
async def server():
    srv = await APIServer.create("memory://")
    yield srv
    await srv.close()


def config_map(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


async def write(server, method, body, name=None, *, rtype=CONFIGMAPS, namespace="default", subresource=None,
                user=ADMIN, content_type="application/json"):
    return await server.write_resource(method, rtype, namespace, name, subresource, body, content_type, user)


async def test_successes_answer_their_status(server):
    assert await write(server, "POST", config_map("a")) == 201
    assert await write(server, "POST", config_map("b")) == 201
    patched = await write(server, "PATCH", {"data": {"k": "w"}}, "a", content_type="application/merge-patch+json")
    assert patched == 200
    assert await write(server, "DELETE", {"gracePeriodSeconds": 0}, "b") == 200
    kv = await server.store.get(b"/registry/configmaps/default/a")
    assert orjson.loads(kv.value)["data"] == {"k": "w"}
    assert await server.store.get(b"/registry/configmaps/default/b") is None


async def test_every_name_of_a_shape_reaches_its_own_object(server):
    """The first write of a shape is routed by its path; later ones reuse that route with their own names."""
    for name in ("a", "b", "c"):
        assert await write(server, "POST", config_map(name)) == 201
    for name in ("a", "b", "c"):
        assert await write(server, "PATCH", {"data": {"k": name}}, name,
                           content_type="application/merge-patch+json") == 200
    for name in ("a", "b", "c"):
        kv = await server.store.get(f"/registry/configmaps/default/{name}".encode())
        assert orjson.loads(kv.value)["data"] == {"k": name}
    assert await write(server, "POST", config_map("d"), namespace="kube-system") == 201
    assert await server.store.get(b"/registry/configmaps/kube-system/d") is not None


async def test_a_cluster_scoped_kind_ignores_a_namespace_as_its_path_does(server):
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}
    assert await write(server, "POST", namespace, rtype=NAMESPACES, namespace=None) == 201
    assert await write(server, "PATCH", {"metadata": {"labels": {"a": "b"}}}, "team", rtype=NAMESPACES,
                       namespace="default", content_type="application/merge-patch+json") == 200
    kv = await server.store.get(b"/registry/namespaces/team")
    assert orjson.loads(kv.value)["metadata"]["labels"]["a"] == "b"


async def test_failures_are_the_status_handle_gives(server):
    await write(server, "POST", config_map("a"))
    taken = await write(server, "POST", config_map("a"))
    assert taken.status == 409 and orjson.loads(taken.body)["reason"] == "AlreadyExists"
    not_an_object = await write(server, "POST", ["a"])
    assert not_an_object.status == 400 and "must be an object" in orjson.loads(not_an_object.body)["message"]
    unknown_type = await write(server, "PATCH", {"data": {}}, "a", content_type="text/plain")
    assert unknown_type.status == 415
    missing = await write(server, "DELETE", {}, "nope")
    assert missing.status == 404
    unserved = await write(server, "POST", {}, "a", subresource="widgets")
    assert unserved.status == 404


@pytest.mark.parametrize(("name", "namespace", "message"), [
    ("", "default", "resource name may not be empty"),
    ("a/b", "default", "invalid resource name 'a/b': may not contain '/' or '%'"),
    ("..", "default", "invalid resource name '..': may not be '..'"),
    ("a", "x%2F", "invalid namespace 'x%2F': may not contain '/' or '%'"),
])
async def test_a_name_that_is_not_one_path_segment_is_a_400(server, name, namespace, message):
    answer = await write(server, "DELETE", {}, name, namespace=namespace)
    assert answer.status == 400 and orjson.loads(answer.body)["message"] == message


async def test_authorization_still_applies(server):
    reader = UserInfo("reader", READ_ONLY)
    forbidden = await write(server, "POST", config_map("a"), user=reader)
    assert forbidden.status == 403
    node = UserInfo("system:node:n1", NODE, ("system:nodes",))
    assert (await write(server, "DELETE", {}, "a", user=node)).status == 403


async def test_other_verbs_take_the_general_path(server):
    await write(server, "POST", config_map("a"))
    assert await write(server, "DELETE", {}) == 200  # deletecollection
    assert await server.store.get(b"/registry/configmaps/default/a") is None


async def test_an_unexpected_failure_is_a_500_without_a_traceback(server, monkeypatch, caplog):
    async def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(server._resources, "write_parts", broken)
    with caplog.at_level(logging.ERROR, logger="orchestra.apiserver.server"):
        answer = await write(server, "POST", config_map("a"))
    assert answer.status == 500
    path = "/api/v1/namespaces/default/configmaps"
    assert orjson.loads(answer.body)["message"] == f"an internal error occurred serving POST {path}"
    assert "boom" in caplog.text  # logged for the operator, not sent to the client
