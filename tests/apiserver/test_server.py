"""APIServer.write_in_process: a handed-over write's outcome, without a request or an answer of its own."""

from __future__ import annotations

import logging

import orjson
import pytest

from orchestra.apiserver import APIServer
from orchestra.apiserver.request import NODE, READ_ONLY, UserInfo

ADMIN = UserInfo("admin")
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
async def server():
    srv = await APIServer.create("memory://")
    yield srv
    await srv.close()


def config_map(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


async def write(server, method, path, body, user=ADMIN, content_type="application/json"):
    return await server.write_in_process(method=method, path=path, body_object=body, content_type=content_type,
                                         user=user)


async def test_successes_share_one_bodyless_answer_per_status(server):
    first = await write(server, "POST", CONFIGMAPS, config_map("a"))
    second = await write(server, "POST", CONFIGMAPS, config_map("b"))
    assert first is second and first.status == 201 and first.body == b"" and not first.headers
    patched = await write(server, "PATCH", f"{CONFIGMAPS}/a", {"data": {"k": "w"}},
                          content_type="application/merge-patch+json")
    assert patched.status == 200
    deleted = await write(server, "DELETE", f"{CONFIGMAPS}/b", {"gracePeriodSeconds": 0})
    assert deleted.status == 200
    kv = await server.store.get(b"/registry/configmaps/default/a")
    assert orjson.loads(kv.value)["data"] == {"k": "w"}
    assert await server.store.get(b"/registry/configmaps/default/b") is None


async def test_failures_are_the_status_handle_gives(server):
    await write(server, "POST", CONFIGMAPS, config_map("a"))
    taken = await write(server, "POST", CONFIGMAPS, config_map("a"))
    assert taken.status == 409 and orjson.loads(taken.body)["reason"] == "AlreadyExists"
    not_an_object = await write(server, "POST", CONFIGMAPS, ["a"])
    assert not_an_object.status == 400 and "must be an object" in orjson.loads(not_an_object.body)["message"]
    unknown_type = await write(server, "PATCH", f"{CONFIGMAPS}/a", {"data": {}}, content_type="text/plain")
    assert unknown_type.status == 415
    assert (await write(server, "POST", "/api/v1/namespaces/default/widgets", {})).status == 404
    missing = await write(server, "DELETE", f"{CONFIGMAPS}/nope", {})
    assert missing.status == 404


async def test_authorization_still_applies(server):
    reader = UserInfo("reader", READ_ONLY)
    forbidden = await write(server, "POST", CONFIGMAPS, config_map("a"), user=reader)
    assert forbidden.status == 403
    node = UserInfo("system:node:n1", NODE, ("system:nodes",))
    assert (await write(server, "DELETE", f"{CONFIGMAPS}/a", {}, user=node)).status == 403


async def test_other_verbs_take_the_general_path(server):
    await write(server, "POST", CONFIGMAPS, config_map("a"))
    collection = await write(server, "DELETE", CONFIGMAPS, {})  # deletecollection
    assert collection.status == 200
    assert await server.store.get(b"/registry/configmaps/default/a") is None


async def test_an_unexpected_failure_is_a_500_without_a_traceback(server, monkeypatch, caplog):
    async def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(server._resources, "write", broken)
    with caplog.at_level(logging.ERROR, logger="orchestra.apiserver.server"):
        answer = await write(server, "POST", CONFIGMAPS, config_map("a"))
    assert answer.status == 500
    assert orjson.loads(answer.body)["message"] == f"an internal error occurred serving POST {CONFIGMAPS}"
    assert "boom" in caplog.text  # logged for the operator, not sent to the client
