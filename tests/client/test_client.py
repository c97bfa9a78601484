"""The client's verbs over the in-process transport: answers, errors, watch isolation."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from orchestra.apiserver import APIServer
from orchestra.apiserver.request import UserInfo
from orchestra.client import ApiStatusError, Client
from orchestra.client.transport import InProcessTransport, _InProcessStream

ADMIN = UserInfo("admin")


@pytest.fixture
async def server():
    srv = await APIServer.create("memory://")
    yield srv
    await srv.close()


def config_map(name: str, data: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": data or {"k": "v"}}


async def test_request_status_writes_and_returns_the_status_without_an_answer(server):
    client = Client.in_process(server, ADMIN)
    status = await client.request_status("POST", "/api/v1/namespaces/default/configmaps", body=config_map("a"))
    assert status == 201
    stored = await client.get("configmaps", "a", namespace="default", raw=True)
    assert stored["data"] == {"k": "v"}
    status = await client.request_status("PATCH", "/api/v1/namespaces/default/configmaps/a",
                                         body={"data": {"k": "w"}}, content_type="application/merge-patch+json")
    assert status == 200
    assert (await client.get("configmaps", "a", namespace="default", raw=True))["data"] == {"k": "w"}


async def test_request_status_raises_the_servers_status_with_its_causes(server):
    client = Client.in_process(server, ADMIN)
    await client.request_status("POST", "/api/v1/namespaces/default/configmaps", body=config_map("a"))
    with pytest.raises(ApiStatusError) as conflict:
        await client.request_status("POST", "/api/v1/namespaces/default/configmaps", body=config_map("a"))
    assert conflict.value.code == 409 and conflict.value.reason == "AlreadyExists"
    with pytest.raises(ApiStatusError) as invalid:
        await client.request_status("POST", "/api/v1/namespaces/default/configmaps", body=config_map("Bad_Name"))
    assert invalid.value.code == 422
    assert any(cause["field"] == "metadata.name" for cause in invalid.value.causes)


async def test_a_handed_over_body_is_taken_as_it_is_and_checked_as_any_other(server):
    client = Client.in_process(server, ADMIN)
    body = config_map("handed")
    assert await client.hand_over("POST", "configmaps", body, namespace="default") == 201
    cache = _config_map_cache(server)
    await cache.wait_for_revision(await server.store.current_revision())
    cached = cache.get(b"/registry/configmaps/default/handed")
    assert body["metadata"]["uid"] == cached["metadata"]["uid"]  # the server took the dict itself, no copy
    with pytest.raises(ApiStatusError) as invalid:
        await client.hand_over("POST", "configmaps", config_map("Bad_Name"), namespace="default")
    assert invalid.value.code == 422
    with pytest.raises(ApiStatusError) as taken:
        await client.hand_over("POST", "configmaps", config_map("handed"), namespace="default")
    assert taken.value.code == 409
    # A patch's document and a delete's options are handed over too, and checked as any other.
    assert await client.hand_over("PATCH", "configmaps", {"data": {"k": "w"}}, namespace="default", name="handed",
                                  content_type="application/merge-patch+json") == 200
    operations = [{"op": "add", "path": "/data/j", "value": "x"}]
    assert await client.hand_over("PATCH", "configmaps", operations, namespace="default", name="handed",
                                  content_type="application/json-patch+json") == 200
    stored = await client.get("configmaps", "handed", namespace="default", raw=True)
    assert stored["data"] == {"k": "w", "j": "x"}
    with pytest.raises(ApiStatusError) as bad_patch:
        await client.hand_over("PATCH", "configmaps", {"data": 5}, namespace="default", name="handed",
                               content_type="application/merge-patch+json")
    assert bad_patch.value.code == 400
    with pytest.raises(ApiStatusError) as stale:
        await client.hand_over("DELETE", "configmaps", {"preconditions": {"uid": "not-its-uid"}},
                               namespace="default", name="handed")
    assert stale.value.code == 409
    assert await client.hand_over("DELETE", "configmaps", {"preconditions": {"uid": cached["metadata"]["uid"]}},
                                  namespace="default", name="handed") == 200
    with pytest.raises(ApiStatusError) as gone:
        await client.get("configmaps", "handed", namespace="default", raw=True)
    assert gone.value.code == 404


async def test_a_hand_over_the_transport_cannot_take_as_it_is_goes_by_its_path(server):
    """A body of bytes, or a content type that is not handed over, is sent to the object's path
    as :meth:`Client.request_status` sends it; so is every hand-over over HTTP."""
    client = Client.in_process(server, ADMIN)
    encoded = orjson.dumps(config_map("encoded"))
    assert await client.hand_over("POST", "configmaps", encoded, namespace="default") == 201
    assert await client.hand_over("PATCH", "configmaps", b'{"data": {"k": "y"}}', namespace="default",
                                  name="encoded", content_type="application/merge-patch+json") == 200
    stored = await client.get("configmaps", "encoded", namespace="default", raw=True)
    assert stored["data"] == {"k": "y"}
    with pytest.raises(ApiStatusError) as refused:
        await client.hand_over("PATCH", "configmaps", {"data": {}}, namespace="default", name="encoded",
                               content_type="text/plain")
    assert refused.value.code == 415


async def test_in_process_answers_are_encoded_only_when_read(server):
    transport = InProcessTransport(server, ADMIN)
    response = await transport._handle("POST", "/api/v1/namespaces/default/configmaps", None,
                                       {"Content-Type": "application/json"},
                                       b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"lazy"}}')
    assert response.status == 201
    assert response._encode is not None
    assert b'"name":"lazy"' in response.body and response._encode is None
    # Over HTTP (no defer) the body is encoded inside handle(), where a failure becomes a Status.
    from orchestra.apiserver.request import Request
    eager = await server.handle(Request("GET", "/api/v1/namespaces/default/configmaps/lazy", {}, {}, b"", ADMIN))
    assert eager._encode is None and b'"name":"lazy"' in eager.body


async def test_a_watcher_cannot_change_what_other_watchers_and_readers_see(server):
    client = Client.in_process(server, ADMIN)
    await client.create(config_map("shared", {"k": "v"}), raw=True)
    first = client.watch("configmaps", namespace="default", raw=True, resource_version="0")
    second = client.watch("configmaps", namespace="default", raw=True, resource_version="0")
    try:
        a = await asyncio.wait_for(first.__anext__(), 10)
        a.object["data"]["k"] = "mutated"
        a.object["metadata"]["labels"] = {"evil": "yes"}
        b = await asyncio.wait_for(second.__anext__(), 10)
        assert b.object["data"] == {"k": "v"} and "labels" not in b.object["metadata"]
        third = client.watch("configmaps", namespace="default", raw=True, resource_version="0")
        c = await asyncio.wait_for(third.__anext__(), 10)
        assert c.object["data"] == {"k": "v"}
        await third.aclose()
        stored = await client.get("configmaps", "shared", namespace="default", raw=True)
        assert stored["data"] == {"k": "v"} and "labels" not in stored["metadata"]
        listed = await client.list("configmaps", namespace="default", raw=True)
        assert listed.items[0]["data"] == {"k": "v"}
    finally:
        await first.aclose()
        await second.aclose()


def _config_map_cache(server: APIServer):
    from orchestra.api.registry import by_resource

    return server.storage.storage(by_resource("", "v1", "configmaps")).cache


async def test_a_shared_watch_hands_over_the_servers_own_objects(server):
    client = Client.in_process(server, ADMIN)
    await client.create(config_map("shared"), raw=True)
    cache = _config_map_cache(server)
    watched = client.watch("configmaps", namespace="default", raw=True, shared=True, resource_version="0")
    copied = client.watch("configmaps", namespace="default", raw=True, resource_version="0")
    try:
        first = await asyncio.wait_for(watched.__anext__(), 10)
        copy = await asyncio.wait_for(copied.__anext__(), 10)
        key = b"/registry/configmaps/default/shared"
        assert first.type == copy.type == "ADDED"
        assert first.object is cache.get(key) and first.object == copy.object and copy.object is not first.object
        await client.patch("configmaps", "shared", {"data": {"k": "w"}}, namespace="default")
        modified = await asyncio.wait_for(watched.__anext__(), 10)
        assert modified.type == "MODIFIED" and modified.object["data"] == {"k": "w"}
        assert modified.object is cache.get(key)
        assert len(cache._watchers) == 2
    finally:
        await watched.aclose()
        await copied.aclose()
    assert len(cache._watchers) == 0


async def test_a_shared_watch_from_too_old_a_version_raises_resource_expired(server):
    from orchestra.client import ResourceExpired

    client = Client.in_process(server, ADMIN)
    cache = _config_map_cache(server)
    cache.window_events = 2
    first = await client.create(config_map("old"), raw=True)
    for i in range(5):
        await client.patch("configmaps", "old", {"data": {"i": str(i)}}, namespace="default")
    await cache.wait_for_revision(await server.store.current_revision())
    for shared in (True, False):
        with pytest.raises(ResourceExpired):
            async for _ in client.watch("configmaps", namespace="default", raw=True, shared=shared,
                                        resource_version=first["metadata"]["resourceVersion"]):
                pass
    assert len(cache._watchers) == 0


async def test_a_shared_watch_in_batches_takes_a_burst_of_writes_in_one_step(server):
    from orchestra.client.client import WatchEvent

    client = Client.in_process(server, ADMIN)
    cache = _config_map_cache(server)
    shared = client.watch_batches("configmaps", namespace="default", raw=True, shared=True)
    plain = client.watch_batches("configmaps", namespace="default", raw=True)
    try:
        await client.create(config_map("z"), raw=True)
        for watch in (shared, plain):  # opens the watch: the object there is comes first
            (first,) = await asyncio.wait_for(watch.__anext__(), 10)
            assert (first.type, first.object["metadata"]["name"]) == ("ADDED", "z")
        await client.create(config_map("a"), raw=True)
        await client.create(config_map("b"), raw=True)
        await client.delete("configmaps", "a", namespace="default")
        batch = await asyncio.wait_for(shared.__anext__(), 10)
        assert [(e.type, e.object["metadata"]["name"]) for e in batch] == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]
        assert all(type(e) is WatchEvent for e in batch)
        assert batch[1].object is cache.get(b"/registry/configmaps/default/b")
        # without ``shared`` the events are decoded from their lines, one a step
        steps = [await asyncio.wait_for(plain.__anext__(), 10) for _ in range(3)]
        assert [[e.type for e in step] for step in steps] == [["ADDED"], ["ADDED"], ["DELETED"]]
    finally:
        await shared.aclose()
        await plain.aclose()
    assert len(cache._watchers) == 0


class _Chunks:
    def __init__(self, chunks: list[bytes]) -> None:
        self.status, self.content_type, self.headers, self.body = 200, "application/json", {}, b""
        self.stream = self._gen(chunks)

    @staticmethod
    async def _gen(chunks: list[bytes]):
        for chunk in chunks:
            yield chunk


@pytest.mark.parametrize("chunks, lines", [
    ([b'{"a":1}\n', b'{"b":2}\n'], [b'{"a":1}', b'{"b":2}']),
    ([b'{"a"', b':1}\n{"b"', b":2}\n", b'{"c":3}\n'], [b'{"a":1}', b'{"b":2}', b'{"c":3}']),
    ([b"", b"x\n", b"\n", b"tail"], [b"x", b"", b"tail"]),
    ([b"one\ntwo\n"], [b"one", b"two"]),
])
async def test_in_process_stream_splits_chunks_into_lines(chunks, lines):
    stream = _InProcessStream(_Chunks(chunks))
    assert [line async for line in stream.lines()] == lines
