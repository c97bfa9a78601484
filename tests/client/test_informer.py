"""Informer: how its watches are opened, and what a shared one holds."""

from __future__ import annotations

from orchestra.client.informer import MIN_WATCH_TIMEOUT, watch_timeout


def test_watches_ask_for_a_random_timeout_between_one_and_two_minimum_spans():
    spans = {watch_timeout() for _ in range(200)}
    assert all(MIN_WATCH_TIMEOUT <= s < 2 * MIN_WATCH_TIMEOUT for s in spans)
    assert len(spans) > 10  # spread out, not one value for every informer


async def test_a_shared_informer_keeps_the_servers_own_objects():
    import asyncio

    from orchestra.api.registry import by_resource
    from orchestra.apiserver import APIServer
    from orchestra.apiserver.request import UserInfo
    from orchestra.client import Client, Informer

    server = await APIServer.create("memory://")
    client = Client.in_process(server, UserInfo("admin"))
    informer = Informer(client, "configmaps", raw=True, shared=True)
    seen: list[dict] = []
    informer.add_handler(on_add=seen.append, on_update=lambda old, new: seen.append(new))
    informer.start()
    try:
        await informer.wait_synced(10)
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default"},
                "data": {"k": "v"}}
        await client.create(body, raw=True)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        cache = server.storage.storage(by_resource("", "v1", "configmaps")).cache
        assert seen and seen[-1] is cache.get(b"/registry/configmaps/default/a")
        assert informer.get("default/a") is seen[-1]
    finally:
        await informer.stop()
        await client.close()
        await server.close()


async def test_handlers_run_in_order_an_awaitable_one_first_and_one_that_raises_stops_nothing():
    import asyncio

    from orchestra.apiserver import APIServer
    from orchestra.apiserver.request import UserInfo
    from orchestra.client import Client, Informer

    server = await APIServer.create("memory://")
    client = Client.in_process(server, UserInfo("admin"))
    informer = Informer(client, "configmaps", raw=True, shared=True)
    calls: list[str] = []

    async def slow(obj: dict) -> None:
        await asyncio.sleep(0.01)
        calls.append("slow:" + obj["metadata"]["name"])
        if obj["metadata"]["name"] == "a":
            raise RuntimeError("a handler's bug")

    def failing(obj: dict) -> None:
        calls.append("failing:" + obj["metadata"]["name"])
        raise RuntimeError("another bug")

    informer.add_handler(on_add=slow)
    informer.add_handler(on_add=failing)
    informer.add_handler(on_add=lambda obj: calls.append("fast:" + obj["metadata"]["name"]))
    informer.start()
    try:
        await informer.wait_synced(10)
        for name in ("a", "b"):
            await client.create({"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": name, "namespace": "default"}}, raw=True)
        for _ in range(200):
            if len(calls) == 6:
                break
            await asyncio.sleep(0.01)
        assert calls == ["slow:a", "failing:a", "fast:a", "slow:b", "failing:b", "fast:b"]
    finally:
        await informer.stop()
        await client.close()
        await server.close()
