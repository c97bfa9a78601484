"""orchestra.Cluster: the whole cluster in one process, each component with its own identity."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestra import Cluster, hookimpl
from orchestra.bus import ComponentEvent
from orchestra.cli.demo import http_get
from orchestra.client import ApiStatusError, Client
from orchestra.cluster import ClusterError, WaitTimeout, node_ready, node_user
from orchestra.controllers.settings import ControllerSettings, ControllerSettingsError

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_DEPLOYMENT = REPO / "examples" / "web" / "deployment.yaml"
EXAMPLE_SERVICE = REPO / "examples" / "web" / "service.yaml"


def _configmap(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": {"k": "v"}}


def _node(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}


class Recorder:
    """A plugin recording the component hooks."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    @hookimpl
    def orchestra_component_started(self, component: str, name: str) -> None:
        self.calls.append(("started", component, name))

    @hookimpl
    def orchestra_component_stopped(self, component: str, name: str) -> None:
        self.calls.append(("stopped", component, name))


async def test_starts_every_component_with_its_nodes_ready():
    async with Cluster(nodes=2, runtime="simulated") as cluster:
        nodes = await cluster.client.list("nodes", raw=True)
        assert sorted(n["metadata"]["name"] for n in nodes.items) == ["node-1", "node-2"]
        assert all(node_ready(n) for n in nodes.items)
        components = {component for component, _ in cluster.components}
        assert {"apiserver", "scheduler", "controller-manager", "agent"} <= components
        assert cluster.url is None and cluster.kubeconfig is None
        assert cluster.store_url == "memory://"
        assert cluster.startup_seconds is not None
        state = cluster.state_dir
        assert state.is_dir()
    assert not state.exists()  # the temporary data directory goes with the cluster
    assert cluster.components == []


async def test_the_pods_of_simulated_nodes_get_addresses_no_other_pod_has():
    async with Cluster(nodes=3, runtime="simulated") as cluster:
        for i in range(6):
            await cluster.client.create({
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "namespace": "default"},
                "spec": {"nodeName": f"node-{i % 3 + 1}", "containers": [{"name": "c", "image": "pause"}]}})
        pods = [await cluster.wait_for("pods", f"p{i}", namespace="default",
                                       condition=lambda p: bool((p.get("status") or {}).get("podIP")))
                for i in range(6)]
        addresses = [p["status"]["podIP"] for p in pods]
        assert len(set(addresses)) == 6, addresses


async def test_component_hooks_and_bus_events_fire_for_each_component():
    recorder = Recorder()
    cluster = Cluster(nodes=1, runtime="simulated", plugins=[recorder])
    events = cluster.bus.subscribe(accept=lambda e: isinstance(e, ComponentEvent))
    async with cluster:
        started = list(recorder.calls)
    seen = [event async for event in events]  # the bus closed with the cluster: drained, then ended
    expected = {("apiserver", "apiserver"), ("scheduler", "scheduler"),
                ("controller-manager", "controller-manager"), ("agent", "node-1")}
    assert {(c, n) for verb, c, n in started if verb == "started"} >= expected
    assert {(c, n) for verb, c, n in recorder.calls if verb == "stopped"} >= expected
    assert [call for call in recorder.calls if call[0] == "stopped"][-1] == ("stopped", "apiserver", "apiserver")
    assert {(e.component, e.name) for e in seen if e.type == "STARTED"} >= expected
    assert {(e.component, e.name) for e in seen if e.type == "STOPPED"} >= expected


async def test_a_node_identity_may_create_only_its_own_node():
    async with Cluster(nodes=1, runtime="simulated") as cluster:
        client = Client.in_process(cluster.server, node_user("node-1"))
        with pytest.raises(ApiStatusError) as refused:
            await client.create(_node("node-9"), raw=True)
        assert refused.value.code == 403
        with pytest.raises(ApiStatusError) as exists:  # its own name is allowed (and taken)
            await client.create(_node("node-1"), raw=True)
        assert exists.value.code == 409


async def test_add_and_stop_nodes():
    async with Cluster(nodes=1, runtime="simulated") as cluster:
        await cluster.add_node("extra", labels={"pool": "b"})
        node = await cluster.client.get("nodes", "extra", raw=True)
        assert node_ready(node) and node["metadata"]["labels"]["pool"] == "b"
        with pytest.raises(ClusterError, match="already running"):
            await cluster.add_node("extra")
        await cluster.stop_node("extra")
        assert "extra" not in cluster.agents
        assert ("agent", "extra") not in cluster.components
        await cluster.client.get("nodes", "extra", raw=True)  # the Node stays, without heartbeats
        with pytest.raises(ClusterError, match="no node 'extra'"):
            await cluster.stop_node("extra")


async def test_adding_a_node_needs_a_started_cluster():
    with pytest.raises(ClusterError, match="start the cluster"):
        await Cluster(nodes=0).add_node("n")


def test_a_negative_node_count_is_refused():
    with pytest.raises(ValueError, match="nodes must be 0 or more"):
        Cluster(nodes=-1)


async def test_serves_https_with_a_kubeconfig(tmp_path):
    async with Cluster(nodes=1, runtime="simulated", data_dir=tmp_path, port=0) as cluster:
        assert cluster.url.startswith("https://127.0.0.1:")
        assert cluster.kubeconfig == tmp_path / "kubeconfig"
        async with Client.from_kubeconfig(str(cluster.kubeconfig)) as remote:
            nodes = await remote.list("nodes", raw=True)
        assert [n["metadata"]["name"] for n in nodes.items] == ["node-1"]
    assert tmp_path.is_dir()  # a given data directory is kept


async def test_a_data_directory_makes_the_store_durable(tmp_path):
    async with Cluster(nodes=0, data_dir=tmp_path) as cluster:
        assert cluster.store_url == f"file://{tmp_path.resolve() / 'store'}"
        await cluster.client.create(_configmap("kept"), raw=True)
    async with Cluster(nodes=0, data_dir=tmp_path) as cluster:
        kept = await cluster.client.get("configmaps", "kept", namespace="default", raw=True)
    assert kept["data"] == {"k": "v"}


async def test_wait_for_names_what_it_waited_for():
    async with Cluster(nodes=0) as cluster:
        with pytest.raises(WaitTimeout, match="configmaps default/missing .* it does not exist"):
            await cluster.wait_for("configmaps", "missing", namespace="default", condition=bool, timeout=0.2)
        await cluster.client.create(_configmap("here"), raw=True)
        found = await cluster.wait_for("configmaps", "here", namespace="default",
                                       condition=lambda cm: cm["data"]["k"] == "v")
        assert found["metadata"]["name"] == "here"


def _children_running(marker: str) -> list[int]:
    """Processes whose parent is this test process and whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and marker in cmdline:
            found.append(int(entry.name))
    return found


async def test_runs_the_example_application_on_the_process_runtime(monkeypatch):
    from orchestra.api.codec import load_documents

    monkeypatch.chdir(REPO)  # the example's command is relative to the repository root
    (deployment,) = [d.data for d in load_documents(EXAMPLE_DEPLOYMENT.read_text())]
    async with Cluster(nodes=1, runtime="process") as cluster:
        await cluster.client.create(deployment, namespace="default", raw=True)
        await cluster.wait_for("deployments", "web", namespace="default", timeout=60,
                               condition=lambda d: (d.get("status") or {}).get("readyReplicas") == 3)
        pods = await cluster.client.list("pods", namespace="default", label_selector="app=web", raw=True)
        answers = set()
        for pod in pods.items:
            status, body = await http_get(pod["status"]["podIP"], 8080)
            assert status == 200
            answers.add(body.strip())
        assert answers == {f"hello from {p['metadata']['name']}" for p in pods.items}
        assert len(_children_running("examples/web/app.py")) == 3
        if cluster.proxy is not None:
            (service,) = [d.data for d in load_documents(EXAMPLE_SERVICE.read_text())]
            created = await cluster.client.create(service, namespace="default", raw=True)
            through_proxy: set[str] = set()

            async def every_pod_answered() -> bool:
                try:
                    status, body = await http_get(created["spec"]["clusterIP"], 80)
                except OSError:
                    return False
                if status == 200:
                    through_proxy.add(body.strip())
                return through_proxy == answers

            await cluster.wait_until(every_pod_answered, timeout=60,
                                     what=f"answers from every pod through {created['spec']['clusterIP']}:80")
    assert _children_running("examples/web/app.py") == []  # the pods stopped with the cluster


def _deployment(name: str, replicas: int, **pod_spec) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": "sim", "command": ["run"]}],
                                       **pod_spec}}},
    }


async def test_controller_settings_must_name_a_controller_and_a_setting():
    with pytest.raises(ControllerSettingsError, match="unknown controller 'nope'"):
        Cluster(nodes=0, controller_settings={"nope": {"x": 1}})
    with pytest.raises(ControllerSettingsError, match="controller 'replicaset' has no setting 'nope'"):
        Cluster(nodes=0, controller_settings={"replicaset": {"nope": 1}})
    with pytest.raises(ControllerSettingsError, match="node_monitor_grace_period"):
        Cluster(nodes=0, controller_settings=ControllerSettings(node_monitor_grace_period=-1))


async def test_controllers_are_built_with_the_settings():
    settings = ControllerSettings(node_monitor_grace_period=1.5, workers={"deployment": 2}, default_workers=3,
                                  options={"job": {"backoff_base": 0.25}})
    async with Cluster(nodes=0, controller_settings=settings) as cluster:
        running = cluster.controller_manager.controllers
        assert running["nodelifecycle"].grace_period == 1.5
        assert running["deployment"].workers == 2 and running["replicaset"].workers == 3
        assert running["job"].backoff_base == 0.25


async def test_pods_of_a_stopped_node_come_back_on_the_others():
    tolerate_briefly = [{"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}
                        for key in ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")]
    async with Cluster(nodes=3, runtime="simulated", node_settings={"lease_period": 0.2},
                       controller_settings={"nodelifecycle": {"grace_period": 1.0}}) as cluster:
        await cluster.client.create(_deployment("spread", 6, tolerations=tolerate_briefly), raw=True)

        async def pods() -> list[dict]:
            listed = await cluster.client.list("pods", namespace="default", label_selector="app=spread", raw=True)
            return [p for p in listed.items if not p["metadata"].get("deletionTimestamp")]

        async def all_running(avoid: str | None = None) -> bool:
            found = await pods()
            return len(found) == 6 and all(p["status"].get("phase") == "Running" and
                                           p["spec"].get("nodeName") not in (None, avoid) for p in found)

        await cluster.wait_until(all_running, timeout=60, what="6 running pods")
        victim = (await pods())[0]["spec"]["nodeName"]
        await cluster.stop_node(victim)
        await cluster.wait_for("nodes", victim, timeout=60, condition=lambda n: not node_ready(n))
        await cluster.wait_until(lambda: all_running(avoid=victim), timeout=60,
                                 what=f"6 running pods, none on the stopped {victim}")


class Observer:
    """A plugin observing the event bus."""

    def __init__(self) -> None:
        self.events: list = []

    @hookimpl
    def orchestra_event(self, event) -> None:
        self.events.append(event)


async def test_event_observer_plugins_see_object_and_component_events():
    observer = Observer()
    async with Cluster(nodes=0, plugins=[observer]) as cluster:
        await cluster.client.create(_configmap("seen"), raw=True)
        await cluster.wait_until(
            lambda: _true(any(getattr(e, "name", None) == "seen" for e in observer.events)),
            what="the observer saw the ConfigMap")
    assert any(isinstance(e, ComponentEvent) and e.component == "scheduler" for e in observer.events)


async def _true(value: bool) -> bool:
    return value
