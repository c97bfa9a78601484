"""The Endpoints controller against an in-process API server."""

from __future__ import annotations

from orchestra.controllers.endpoints import HEADLESS_LABEL, EndpointsController, endpoint_subsets, resolve_port
from tests.controllers.conftest import eventually, run_controllers


def service(name: str, selector: dict | None, ports: list[dict] | None = None, **spec) -> dict:
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default",
                                                                 "labels": {"tier": "front"}},
            "spec": {"ports": ports if ports is not None else [{"name": "http", "port": 80, "targetPort": "web"}],
                     **spec}}
    if selector is not None:
        body["spec"]["selector"] = selector
    return body


def pod(name: str, labels: dict, port_name: str = "web", container_port: int = 8080) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox",
                                                       "ports": [{"name": port_name, "containerPort": container_port}]}]}}


async def run_pod(client, name: str, ip: str, ready: bool) -> None:
    """The test kubelet: the pod runs with an IP, Ready or not."""
    current = await client.get("pods", name, namespace="default", raw=True)
    value = "True" if ready else "False"
    current["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                         "conditions": [{"type": "Ready", "status": value}]}
    await client.update_status(current, raw=True)


async def endpoints_of(client, name: str) -> dict | None:
    try:
        return await client.get("endpoints", name, namespace="default", raw=True)
    except Exception:
        return None


def ips(endpoints: dict, field: str = "addresses") -> list[str]:
    return sorted(a["ip"] for s in endpoints.get("subsets") or () for a in s.get(field) or ())


def test_resolve_port_by_number_name_and_default():
    p = pod("p", {}, "web", 8080)
    assert resolve_port(p, {"port": 80, "targetPort": 9090}) == 9090
    assert resolve_port(p, {"port": 80, "targetPort": "web"}) == 8080
    assert resolve_port(p, {"port": 80}) == 80
    assert resolve_port(p, {"port": 80, "targetPort": "other"}) is None
    assert resolve_port(p, {"port": 80, "targetPort": "web", "protocol": "UDP"}) is None


def test_pods_with_different_named_ports_land_in_different_subsets():
    a = pod("a", {}, "web", 8080)
    b = pod("b", {}, "web", 9090)
    for p, ip in ((a, "10.0.0.1"), (b, "10.0.0.2")):
        p["metadata"]["uid"] = p["metadata"]["name"]
        p["status"] = {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]}
    subsets = endpoint_subsets(service("s", {"app": "x"}), [a, b])
    assert [(s["ports"][0]["port"], [x["ip"] for x in s["addresses"]]) for s in subsets] == [
        (8080, ["10.0.0.1"]), (9090, ["10.0.0.2"])]


async def test_ready_and_not_ready_addresses_follow_pods(client, factory):
    controller = EndpointsController(client, factory)
    await run_controllers(factory, controller)
    try:
        await client.create(service("web", {"app": "web"}))
        await client.create(pod("a", {"app": "web"}))
        await client.create(pod("b", {"app": "web"}))
        await client.create(pod("other", {"app": "db"}))
        await run_pod(client, "a", "10.1.0.1", True)
        await run_pod(client, "b", "10.1.0.2", False)
        await run_pod(client, "other", "10.1.0.3", True)

        async def both():
            ep = await endpoints_of(client, "web")
            return ep if ep and ips(ep) == ["10.1.0.1"] and ips(ep, "notReadyAddresses") == ["10.1.0.2"] else None

        ep = await eventually(both)
        subset = ep["subsets"][0]
        assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        address = subset["addresses"][0]
        assert address["nodeName"] == "n1" and address["targetRef"]["kind"] == "Pod"
        assert address["targetRef"]["name"] == "a" and address["targetRef"]["uid"]
        assert ep["metadata"]["labels"] == {"tier": "front"}

        await run_pod(client, "b", "10.1.0.2", True)
        await eventually(lambda: _ready_ips(client, "web", ["10.1.0.1", "10.1.0.2"]))
        await client.delete("pods", "a", namespace="default", grace_period_seconds=0)
        await eventually(lambda: _ready_ips(client, "web", ["10.1.0.2"]))
        settled = await endpoints_of(client, "web")

        async def cached():
            seen = controller.endpoints.get("default/web") or {}
            return seen.get("metadata", {}).get("resourceVersion") == settled["metadata"]["resourceVersion"]

        await eventually(cached)
        await controller.sync("default/web")
        assert (await endpoints_of(client, "web"))["metadata"]["resourceVersion"] == \
            settled["metadata"]["resourceVersion"]  # nothing changed: nothing written
        await client.patch("pods", "b", {"metadata": {"labels": {"app": "gone"}}}, namespace="default")
        await eventually(lambda: _ready_ips(client, "web", []))
    finally:
        await controller.stop()


async def _ready_ips(client, name, expected):
    ep = await endpoints_of(client, name)
    return ep is not None and ips(ep) == expected and not ips(ep, "notReadyAddresses")


async def test_publish_not_ready_addresses_lists_every_pod_as_ready(client, factory):
    controller = EndpointsController(client, factory)
    await run_controllers(factory, controller)
    try:
        await client.create(service("peers", {"app": "db"}, [{"name": "p", "port": 5432, "targetPort": 5432}],
                                    publishNotReadyAddresses=True))
        await client.create(pod("db-0", {"app": "db"}))
        await run_pod(client, "db-0", "10.2.0.1", False)
        await eventually(lambda: _ready_ips(client, "peers", ["10.2.0.1"]))
    finally:
        await controller.stop()


async def test_headless_service_without_ports_gets_addresses_and_the_headless_label(client, factory):
    controller = EndpointsController(client, factory)
    await run_controllers(factory, controller)
    try:
        await client.create(service("db", {"app": "db"}, [], clusterIP="None"))
        await client.create(pod("db-0", {"app": "db"}))
        await run_pod(client, "db-0", "10.3.0.1", True)
        ep = await eventually(lambda: _when_ready(client, "db", ["10.3.0.1"]))
        assert "ports" not in ep["subsets"][0]
        assert ep["metadata"]["labels"][HEADLESS_LABEL] == ""
    finally:
        await controller.stop()


async def _when_ready(client, name, expected):
    ep = await endpoints_of(client, name)
    return ep if ep is not None and ips(ep) == expected else None


async def test_endpoints_of_deleted_services_are_removed_and_selectorless_ones_kept(client, factory):
    controller = EndpointsController(client, factory)
    await run_controllers(factory, controller)
    try:
        manual = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "external", "namespace": "default"},
                  "subsets": [{"addresses": [{"ip": "192.0.2.1"}], "ports": [{"port": 443, "protocol": "TCP"}]}]}
        await client.create(service("external", None, [{"port": 443}]))
        await client.create(manual)
        await client.create(service("web", {"app": "web"}))
        await eventually(lambda: endpoints_of(client, "web"))
        await client.delete("services", "web", namespace="default")

        async def removed():
            return await endpoints_of(client, "web") is None

        await eventually(removed)
        kept = await endpoints_of(client, "external")
        assert ips(kept) == ["192.0.2.1"]
    finally:
        await controller.stop()


async def test_a_changed_selector_moves_the_endpoints_to_the_newly_selected_pods(client, factory):
    controller = EndpointsController(client, factory)
    await run_controllers(factory, controller)
    try:
        await client.create(service("web", {"app": "web", "tier": "a"}))
        await client.create(pod("a", {"app": "web", "tier": "a"}))
        await client.create(pod("b", {"app": "web", "tier": "b"}))
        await run_pod(client, "a", "10.4.0.1", True)
        await run_pod(client, "b", "10.4.0.2", True)
        await eventually(lambda: _ready_ips(client, "web", ["10.4.0.1"]))
        await client.patch("services", "web", {"spec": {"selector": {"app": "web", "tier": "b"}}}, namespace="default")
        await eventually(lambda: _ready_ips(client, "web", ["10.4.0.2"]))
        await client.patch("pods", "a", {"metadata": {"labels": {"tier": "b"}}}, namespace="default")
        await eventually(lambda: _ready_ips(client, "web", ["10.4.0.1", "10.4.0.2"]))
    finally:
        await controller.stop()
