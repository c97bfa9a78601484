"""The official ``kubernetes`` Python client against a real API server (TLS, generated kubeconfig).

The client is synchronous, so the server runs on its own loop in a background thread
(:mod:`tests.support.cli_server`).
"""

from __future__ import annotations

import itertools
import threading
from typing import Callable

import pytest

kubernetes = pytest.importorskip("kubernetes", reason="the official kubernetes client is not installed")

from kubernetes import client, config, watch  # noqa: E402

from tests.support.cli_server import ThreadedServer, deployment, start_threaded_server  # noqa: E402

pytestmark = pytest.mark.slow
_names = itertools.count()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> ThreadedServer:
    """A TLS API server on loopback."""
    server = start_threaded_server(tmp_path_factory.mktemp("apiserver"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(cluster) -> client.ApiClient:
    """An ApiClient configured by ``load_kube_config`` from the server's generated kubeconfig."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api_client:
        yield api_client


@pytest.fixture
def core(api) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def apps(api) -> client.AppsV1Api:
    return client.AppsV1Api(api)


@pytest.fixture
def batch(api) -> client.BatchV1Api:
    return client.BatchV1Api(api)


@pytest.fixture
def namespace(core) -> str:
    """A fresh namespace per test."""
    name = f"py-{next(_names)}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


@pytest.fixture
def name() -> Callable[[str], str]:
    return lambda prefix: f"{prefix}-{next(_names)}"


def pod(name: str, labels: dict | None = None) -> client.V1Pod:
    """A one-container pod model."""
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
    )


def status_of(call: Callable[[], object]) -> client.ApiException:
    """The ApiException ``call`` raises (fails the test when it does not raise)."""
    with pytest.raises(client.ApiException) as info:
        call()
    return info.value


# ------------------------------------------------------------------ pods


def test_pod_create_read_list_patch_replace_delete(core, namespace):
    created = core.create_namespaced_pod(namespace, pod("web", {"app": "web", "tier": "front"}))
    core.create_namespaced_pod(namespace, pod("db", {"app": "db"}))
    assert created.metadata.uid and created.metadata.resource_version
    assert created.status.phase == "Pending"
    assert created.spec.containers[0].image_pull_policy == "Always"  # defaulted (image without tag)

    read = core.read_namespaced_pod("web", namespace)
    assert read.metadata.uid == created.metadata.uid

    listed = core.list_namespaced_pod(namespace, label_selector="app in (web),tier")
    assert [p.metadata.name for p in listed.items] == ["web"]
    assert [p.metadata.name for p in core.list_namespaced_pod(namespace, label_selector="app!=web").items] == ["db"]
    everywhere = core.list_pod_for_all_namespaces(field_selector=f"metadata.namespace={namespace}")
    assert sorted(p.metadata.name for p in everywhere.items) == ["db", "web"]

    merged = core.patch_namespaced_pod("web", namespace, {"metadata": {"labels": {"tier": None, "x": "y"}}})
    assert merged.metadata.labels == {"app": "web", "x": "y"}

    stale = created
    stale.metadata.labels = {"app": "web", "stale": "true"}
    conflict = status_of(lambda: core.replace_namespaced_pod("web", namespace, stale))
    assert conflict.status == 409
    assert "the object has been modified" in conflict.body

    fresh = core.read_namespaced_pod("web", namespace)
    fresh.metadata.labels["replaced"] = "yes"
    replaced = core.replace_namespaced_pod("web", namespace, fresh)
    assert replaced.metadata.labels["replaced"] == "yes"
    assert int(replaced.metadata.resource_version) > int(fresh.metadata.resource_version)

    core.delete_namespaced_pod("web", namespace)
    missing = status_of(lambda: core.read_namespaced_pod("web", namespace))
    assert missing.status == 404
    assert 'pods \\"web\\" not found' in missing.body


def test_pod_status_subresource(core, namespace):
    core.create_namespaced_pod(namespace, pod("s"))
    current = core.read_namespaced_pod_status("s", namespace)
    current.status.phase = "Running"
    current.metadata.labels = {"ignored": "by-status"}
    updated = core.replace_namespaced_pod_status("s", namespace, current)
    assert updated.status.phase == "Running"
    assert not (updated.metadata.labels or {}).get("ignored")
    # The main resource ignores status changes.
    again = core.read_namespaced_pod("s", namespace)
    again.status.phase = "Failed"
    assert core.replace_namespaced_pod("s", namespace, again).status.phase == "Running"
    patched = core.patch_namespaced_pod_status("s", namespace, {"status": {"podIP": "10.0.0.9"}})
    assert patched.status.pod_ip == "10.0.0.9" and patched.status.phase == "Running"


def test_invalid_object_gives_422_with_causes(core, namespace):
    bad = client.V1Pod(
        metadata=client.V1ObjectMeta(name="Not_Valid"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="")]),
    )
    error = status_of(lambda: core.create_namespaced_pod(namespace, bad))
    assert error.status == 422
    import json

    status = json.loads(error.body)
    assert status["reason"] == "Invalid"
    fields = {cause["field"] for cause in status["details"]["causes"]}
    assert {"metadata.name", "spec.containers[0].image"} <= fields


def test_already_exists_is_409(core, namespace):
    core.create_namespaced_pod(namespace, pod("twice"))
    error = status_of(lambda: core.create_namespaced_pod(namespace, pod("twice")))
    assert error.status == 409
    assert "AlreadyExists" in error.body


# ------------------------------------------------------------------ deployments, services, configmaps, jobs


def test_deployment_crud_with_strategic_and_merge_patches(apps, namespace):
    body = deployment("web", replicas=2, namespace=namespace)
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    created = apps.create_namespaced_deployment(namespace, body)
    assert created.spec.strategy.type == "RollingUpdate"
    assert created.metadata.generation == 1

    strategic = apps.patch_namespaced_deployment(
        "web", namespace, {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}})
    container = strategic.spec.template.spec.containers[0]
    assert container.image == "nginx:1.27" and [e.name for e in container.env] == ["A"]
    assert strategic.metadata.generation == 2

    # A merge patch replaces lists whole.
    merged = apps.patch_namespaced_deployment(
        "web", namespace, {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}},
        _content_type="application/merge-patch+json")
    assert merged.spec.template.spec.containers[0].image == "nginx:1.28"
    assert merged.spec.template.spec.containers[0].env is None

    scale = apps.read_namespaced_deployment_scale("web", namespace)
    assert scale.spec.replicas == 2
    scaled = apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 6}})
    assert scaled.spec.replicas == 6

    listed = apps.list_namespaced_deployment(namespace, label_selector="app=web")
    assert [d.spec.replicas for d in listed.items] == [6]

    stale = created
    stale.spec.replicas = 1
    assert status_of(lambda: apps.replace_namespaced_deployment("web", namespace, stale)).status == 409

    apps.delete_namespaced_deployment("web", namespace)
    assert apps.list_namespaced_deployment(namespace).items == []


def test_service_crud(core, namespace):
    svc = client.V1Service(
        metadata=client.V1ObjectMeta(name="web", labels={"app": "web"}),
        spec=client.V1ServiceSpec(selector={"app": "web"}, ports=[client.V1ServicePort(name="http", port=80, target_port=8080)]),
    )
    created = core.create_namespaced_service(namespace, svc)
    assert created.spec.type == "ClusterIP"
    assert created.spec.ports[0].protocol == "TCP" and created.spec.ports[0].target_port == 8080
    patched = core.patch_namespaced_service("web", namespace, {"spec": {"ports": [{"name": "https", "port": 443, "targetPort": "https"}]}})
    assert sorted(p.port for p in patched.spec.ports) == [80, 443]  # strategic: merged by port
    unnamed = status_of(lambda: core.patch_namespaced_service("web", namespace, {"spec": {"ports": [{"port": 8443}]}}))
    assert unnamed.status == 422 and "spec.ports[2].name" in unnamed.body
    assert [s.metadata.name for s in core.list_namespaced_service(namespace, label_selector="app=web").items] == ["web"]
    core.delete_namespaced_service("web", namespace)
    assert status_of(lambda: core.read_namespaced_service("web", namespace)).status == 404


def test_configmap_crud_and_pagination(core, namespace):
    for i in range(7):
        core.create_namespaced_config_map(
            namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"cm-{i}", labels={"n": str(i % 2)}),
                                          data={"i": str(i)}))
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = core.list_namespaced_config_map(namespace, limit=3, _continue=token)
        pages += 1
        seen += [c.metadata.name for c in page.items]
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count == 7 - len(seen)
    assert pages == 3
    assert seen == [f"cm-{i}" for i in range(7)]
    assert len(core.list_namespaced_config_map(namespace, label_selector="n=1").items) == 3

    bad = status_of(lambda: core.list_namespaced_config_map(namespace, limit=2, _continue="not-a-token"))
    assert bad.status == 400

    cm = core.read_namespaced_config_map("cm-0", namespace)
    cm.data["j"] = "x"
    assert core.replace_namespaced_config_map("cm-0", namespace, cm).data == {"i": "0", "j": "x"}
    assert core.patch_namespaced_config_map("cm-0", namespace, {"data": {"i": None}}).data == {"j": "x"}
    core.delete_collection_namespaced_config_map(namespace, label_selector="n=0")
    assert sorted(c.metadata.name for c in core.list_namespaced_config_map(namespace).items) == ["cm-1", "cm-3", "cm-5"]


def test_job_crud(batch, namespace):
    job = client.V1Job(
        metadata=client.V1ObjectMeta(name="once"),
        spec=client.V1JobSpec(template=client.V1PodTemplateSpec(spec=client.V1PodSpec(
            restart_policy="Never", containers=[client.V1Container(name="c", image="busybox", command=["true"])]))),
    )
    created = batch.create_namespaced_job(namespace, job)
    assert created.spec.backoff_limit == 6 and created.spec.completions == 1
    assert created.spec.selector.match_labels  # generated by the server
    patched = batch.patch_namespaced_job("once", namespace, {"spec": {"parallelism": 0}})
    assert patched.spec.parallelism == 0
    immutable = status_of(lambda: batch.patch_namespaced_job(
        "once", namespace, {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "other"}]}}}}))
    assert immutable.status == 422
    assert [j.metadata.name for j in batch.list_namespaced_job(namespace).items] == ["once"]
    batch.delete_namespaced_job("once", namespace, propagation_policy="Background")
    assert batch.list_namespaced_job(namespace).items == []


def test_namespace_crud(core, name):
    ns = name("nsc")
    created = core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns, labels={"team": "a"})))
    assert created.status.phase == "Active"
    assert created.metadata.labels["kubernetes.io/metadata.name"] == ns
    assert ns in [n.metadata.name for n in core.list_namespace(label_selector="team=a").items]
    assert core.patch_namespace(ns, {"metadata": {"labels": {"team": "b"}}}).metadata.labels["team"] == "b"
    core.delete_namespace(ns)
    assert core.read_namespace(ns).status.phase == "Terminating"
    refused = status_of(lambda: core.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="late"))))
    assert refused.status == 403
    assert "being terminated" in refused.body


# ------------------------------------------------------------------ watch


def test_watch_stream_sees_added_modified_deleted(core, namespace):
    core.create_namespaced_pod(namespace, pod("before"))
    # Watching from the list's resourceVersion: every later change is delivered, whenever the
    # stream's connection opens, so the writer need not wait for it.
    start = core.list_namespaced_pod(namespace).metadata.resource_version

    def change() -> None:
        core.create_namespaced_pod(namespace, pod("w"))
        core.patch_namespaced_pod("w", namespace, {"metadata": {"labels": {"seen": "yes"}}})
        core.delete_namespaced_pod("w", namespace)

    writer = threading.Thread(target=change)
    writer.start()
    events: list[tuple[str, str, str | None]] = []
    w = watch.Watch()
    try:
        for event in w.stream(core.list_namespaced_pod, namespace, resource_version=start, timeout_seconds=30):
            obj = event["object"]
            events.append((event["type"], obj.metadata.name, (obj.metadata.labels or {}).get("seen")))
            if event["type"] == "DELETED":
                w.stop()
    finally:
        writer.join(30)
    assert events == [("ADDED", "w", None), ("MODIFIED", "w", "yes"), ("DELETED", "w", "yes")]


def test_watch_with_a_label_selector_filters_events(core, namespace):
    start = core.list_namespaced_pod(namespace).metadata.resource_version
    core.create_namespaced_pod(namespace, pod("other", {"app": "other"}))
    core.create_namespaced_pod(namespace, pod("mine", {"app": "mine"}))
    w = watch.Watch()
    seen = []
    for event in w.stream(core.list_namespaced_pod, namespace, label_selector="app=mine",
                          resource_version=start, timeout_seconds=30):
        seen.append((event["type"], event["object"].metadata.name))
        w.stop()
    assert seen == [("ADDED", "mine")]


def test_watch_without_resource_version_starts_with_current_objects(core, namespace):
    core.create_namespaced_pod(namespace, pod("one"))
    core.create_namespaced_pod(namespace, pod("two"))
    names = [e["object"].metadata.name for e in watch.Watch().stream(core.list_namespaced_pod, namespace, timeout_seconds=1)]
    assert sorted(names) == ["one", "two"]
