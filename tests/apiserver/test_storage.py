"""The generic REST storage: every verb's semantics and errors, against the memory store."""

from __future__ import annotations

import asyncio
import base64
import tracemalloc

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestra.api.registry import by_kind
from orchestra.api.selectors import FieldSelector, LabelSelector
from orchestra.apiserver.errors import (
    AlreadyExists,
    APIError,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
)
from orchestra.apiserver.registry_storage import StorageRegistry
from orchestra.apiserver.request import UserInfo
from orchestra.apiserver.storage import ListOptions, RequestContext
from orchestra.apiserver.watchcache import TooLargeResourceVersion
from orchestra.plugin_manager import get_plugin_manager
from orchestra.store import open_store

CTX = RequestContext(UserInfo("admin"))
DRY = RequestContext(UserInfo("admin"), dry_run=True)


@pytest.fixture
async def registry():
    store = await open_store("memory://")
    reg = StorageRegistry(store, plugin_manager=get_plugin_manager(load_entrypoints=False), bookmark_interval=0.05)
    await reg.start()
    yield reg
    await reg.stop()
    await store.close()


def res(reg, api_version, kind):
    return reg.storage(by_kind(api_version, kind))


@pytest.fixture
def pods(registry):
    return res(registry, "v1", "Pod")


@pytest.fixture
def configmaps(registry):
    return res(registry, "v1", "ConfigMap")


@pytest.fixture
def deployments(registry):
    return res(registry, "apps/v1", "Deployment")


def pod(name="web", labels=None, node=None, **meta):
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, **meta},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    if labels:
        body["metadata"]["labels"] = labels
    if node:
        body["spec"]["nodeName"] = node
    return body


def configmap(name="cm", data=None, **meta):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta}, "data": data or {"a": "1"}}


def deployment(name="web", replicas=1, app="web"):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
        },
    }


def opts(**kwargs):
    return ListOptions(**kwargs)


def names(listing):
    return [item["metadata"]["name"] for item in listing["items"]]


# --------------------------------------------------------------------------- create


async def test_create_sets_server_fields_and_get_returns_the_object(pods):
    created = await pods.create("default", pod(), CTX)
    meta = created["metadata"]
    assert meta["namespace"] == "default" and meta["uid"] and meta["creationTimestamp"]
    assert meta["generation"] == 1 and int(meta["resourceVersion"]) > 0
    assert created["status"]["phase"] == "Pending"
    assert await pods.get("default", "web") == created
    stored = await pods.store.get(b"/registry/pods/default/web")
    assert "resourceVersion" not in orjson.loads(stored.value)["metadata"]
    assert str(stored.mod_revision) == meta["resourceVersion"]


async def test_stored_bytes_take_about_their_own_size(pods):
    # orjson answers in the buffer it grew (KiBs for a small object); the store keeps a right-sized copy
    await pods.create("default", pod(), CTX)
    tracemalloc.start()
    try:
        await pods.create("default", pod("web-2"), CTX)
        stored = await pods.store.get(b"/registry/pods/default/web-2")
        traced = tracemalloc.get_object_traceback(stored.value)
        allocated = sum(stat.size for stat in tracemalloc.take_snapshot().statistics("traceback")
                        if stat.traceback == traced)
    finally:
        tracemalloc.stop()
    assert traced is not None
    assert allocated < 2 * len(stored.value) + 256


async def test_create_twice_is_already_exists(pods):
    await pods.create("default", pod(), CTX)
    with pytest.raises(AlreadyExists) as info:
        await pods.create("default", pod(), CTX)
    status = info.value.status()
    assert status["code"] == 409 and status["reason"] == "AlreadyExists"
    assert status["message"] == 'pods "web" already exists'
    assert status["details"] == {"name": "web", "kind": "pods"}


async def test_grouped_resources_are_named_with_their_group(deployments):
    await deployments.create("default", deployment(), CTX)
    with pytest.raises(AlreadyExists, match=r'^deployments.apps "web" already exists$'):
        await deployments.create("default", deployment(), CTX)
    with pytest.raises(NotFound) as info:
        await deployments.get("default", "nope")
    assert info.value.status()["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}


async def test_generate_name_gives_unique_suffixed_names(pods):
    body = pod()
    del body["metadata"]["name"]
    body["metadata"]["generateName"] = "web-"
    a = await pods.create("default", body, CTX)
    b = await pods.create("default", body, CTX)
    assert a["metadata"]["name"].startswith("web-") and len(a["metadata"]["name"]) == 9
    assert a["metadata"]["name"] != b["metadata"]["name"]
    assert body["metadata"].get("name") is None  # the caller's dict is untouched


async def test_create_without_name_is_invalid(configmaps):
    body = configmap()
    del body["metadata"]["name"]
    with pytest.raises(Invalid) as info:
        await configmaps.create("default", body, CTX)
    status = info.value.status()
    assert status["code"] == 422
    assert [c["field"] for c in status["details"]["causes"]] == ["metadata.name"]


async def test_validation_errors_are_422_with_one_cause_per_field(deployments):
    body = deployment(replicas=-1)
    body["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(Invalid) as info:
        await deployments.create("default", body, CTX)
    status = info.value.status()
    assert status["message"].startswith('Deployment.apps "web" is invalid: ')
    fields = {c["field"] for c in status["details"]["causes"]}
    assert "spec.replicas" in fields and len(status["details"]["causes"]) >= 2


async def test_body_namespace_must_match_the_url(pods):
    with pytest.raises(BadRequest, match="does not match the namespace"):
        await pods.create("default", pod(namespace="other"), CTX)


async def test_body_of_another_kind_is_bad_request(pods):
    with pytest.raises(BadRequest):
        await pods.create("default", configmap(), CTX)


async def test_wrong_field_types_are_bad_request(deployments):
    body = deployment()
    body["spec"]["replicas"] = "three"
    with pytest.raises(BadRequest, match="spec.replicas"):
        await deployments.create("default", body, CTX)


async def test_unknown_fields_round_trip(configmaps):
    body = configmap()
    body["metadata"]["someFutureField"] = {"x": 1}
    body["binaryData"] = {"k": "AAAA"}
    created = await configmaps.create("default", body, CTX)
    assert created["metadata"]["someFutureField"] == {"x": 1}
    assert (await configmaps.get("default", "cm"))["binaryData"] == {"k": "AAAA"}


async def test_dry_run_create_stores_nothing(configmaps):
    result = await configmaps.create("default", configmap(), DRY)
    assert result["metadata"]["uid"] and "resourceVersion" not in result["metadata"]
    with pytest.raises(NotFound):
        await configmaps.get("default", "cm")


async def test_cluster_scoped_objects_drop_a_namespace(registry):
    nodes = res(registry, "v1", "Node")
    created = await nodes.create(None, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "namespace": "x"}}, CTX)
    assert "namespace" not in created["metadata"]
    assert await nodes.store.get(b"/registry/nodes/n1") is not None


# --------------------------------------------------------------------------- update


async def test_update_with_a_stale_resource_version_is_conflict(configmaps):
    created = await configmaps.create("default", configmap(), CTX)
    first = dict(created, data={"a": "2"})
    await configmaps.update("default", "cm", first, CTX)
    with pytest.raises(Conflict) as info:
        await configmaps.update("default", "cm", dict(created, data={"a": "3"}), CTX)
    status = info.value.status()
    assert status["code"] == 409 and status["reason"] == "Conflict"
    assert status["message"] == (
        'Operation cannot be fulfilled on configmaps "cm": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


async def test_update_without_resource_version_is_unconditional(configmaps):
    created = await configmaps.create("default", configmap(), CTX)
    body = configmap(data={"a": "9"})
    updated, was_created = await configmaps.update("default", "cm", body, CTX)
    assert not was_created and updated["data"] == {"a": "9"}
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]


async def test_noop_update_keeps_the_resource_version(configmaps):
    created = await configmaps.create("default", configmap(), CTX)
    same, _ = await configmaps.update("default", "cm", created, CTX)
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_update_of_a_missing_object_is_not_found_unless_the_kind_allows_create(registry, configmaps):
    with pytest.raises(NotFound, match='^configmaps "cm" not found$'):
        await configmaps.update("default", "cm", configmap(), CTX)
    endpoints = res(registry, "v1", "Endpoints")
    body = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "svc"}}
    created, was_created = await endpoints.update("default", "svc", body, CTX)
    assert was_created and created["metadata"]["uid"]


async def test_update_name_must_match_the_url(configmaps):
    await configmaps.create("default", configmap(), CTX)
    with pytest.raises(BadRequest, match=r"the name of the object \(other\) does not match the name on the URL \(cm\)"):
        await configmaps.update("default", "cm", configmap("other"), CTX)


async def test_generation_grows_with_spec_changes_only(deployments):
    created = await deployments.create("default", deployment(), CTX)
    labelled = dict(created)
    labelled["metadata"] = dict(created["metadata"], labels={"team": "a"})
    updated, _ = await deployments.update("default", "web", labelled, CTX)
    assert updated["metadata"]["generation"] == 1
    scaled = dict(updated, spec=dict(updated["spec"], replicas=3))
    updated, _ = await deployments.update("default", "web", scaled, CTX)
    assert updated["metadata"]["generation"] == 2


async def test_main_update_ignores_status_and_status_update_ignores_the_rest(deployments):
    created = await deployments.create("default", deployment(), CTX)
    body = dict(created, status={"replicas": 5})
    updated, _ = await deployments.update("default", "web", body, CTX)
    assert "status" not in updated
    body = dict(updated, status={"replicas": 5}, spec=dict(updated["spec"], replicas=9))
    updated, _ = await deployments.update("default", "web", body, CTX, subresource="status")
    assert updated["status"]["replicas"] == 5 and updated["spec"]["replicas"] == 1
    assert updated["metadata"]["generation"] == 1


async def test_status_subresource_of_a_kind_without_one_is_not_found(configmaps):
    await configmaps.create("default", configmap(), CTX)
    with pytest.raises(NotFound):
        await configmaps.update("default", "cm", configmap(), CTX, subresource="status")


async def test_immutable_fields_are_refused(deployments, pods):
    created = await deployments.create("default", deployment(), CTX)
    changed = deployment(app="other")
    with pytest.raises(Invalid) as info:
        await deployments.update("default", "web", changed, CTX)
    assert "spec.selector" in info.value.message and "field is immutable" in info.value.message
    created_pod = await pods.create("default", pod(), CTX)
    changed_pod = dict(created_pod, spec=dict(created_pod["spec"], restartPolicy="Never"))
    with pytest.raises(Invalid, match="pod updates may not change fields other than"):
        await pods.update("default", "web", changed_pod, CTX)
    assert created


async def test_uid_in_an_update_may_not_change(configmaps):
    await configmaps.create("default", configmap(), CTX)
    body = configmap(uid="not-the-uid")
    with pytest.raises(Invalid, match="metadata.uid"):
        await configmaps.update("default", "cm", body, CTX)


# --------------------------------------------------------------------------- patch


async def test_merge_patch(configmaps):
    await configmaps.create("default", configmap(), CTX)
    patched = await configmaps.patch("default", "cm", "merge", b'{"metadata":{"labels":{"a":"b"}},"data":{"x":"y"}}', CTX)
    assert patched["metadata"]["labels"] == {"a": "b"} and patched["data"] == {"a": "1", "x": "y"}


async def test_json_patch_and_failed_test_operation(configmaps):
    await configmaps.create("default", configmap(), CTX)
    ops = [{"op": "test", "path": "/data/a", "value": "1"}, {"op": "replace", "path": "/data/a", "value": "2"}]
    patched = await configmaps.patch("default", "cm", "json", orjson.dumps(ops), CTX)
    assert patched["data"] == {"a": "2"}
    with pytest.raises(Invalid):
        await configmaps.patch("default", "cm", "json", orjson.dumps(ops), CTX)


async def test_strategic_merge_patch_merges_containers_by_name(pods):
    await pods.create("default", pod(), CTX)
    patch = {"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}
    patched = await pods.patch("default", "web", "strategic", orjson.dumps(patch), CTX)
    assert patched["spec"]["containers"][0]["image"] == "busybox:2"
    assert patched["spec"]["containers"][0]["imagePullPolicy"] == "Always"


async def test_patch_results_are_validated(deployments):
    await deployments.create("default", deployment(), CTX)
    with pytest.raises(Invalid, match="spec.replicas"):
        await deployments.patch("default", "web", "merge", b'{"spec":{"replicas":-1}}', CTX)


async def test_patch_with_a_stale_resource_version_is_conflict(configmaps):
    created = await configmaps.create("default", configmap(), CTX)
    await configmaps.patch("default", "cm", "merge", b'{"data":{"a":"2"}}', CTX)
    stale = orjson.dumps({"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "data": {"a": "3"}})
    with pytest.raises(Conflict):
        await configmaps.patch("default", "cm", "merge", stale, CTX)


async def test_concurrent_patches_retry_instead_of_conflicting(configmaps):
    await configmaps.create("default", configmap(), CTX)
    await asyncio.gather(
        *(configmaps.patch("default", "cm", "merge", orjson.dumps({"data": {f"k{i}": str(i)}}), CTX) for i in range(10))
    )
    data = (await configmaps.get("default", "cm"))["data"]
    assert {f"k{i}" for i in range(10)} <= set(data)


async def test_patch_of_a_missing_object_is_not_found(configmaps):
    with pytest.raises(NotFound):
        await configmaps.patch("default", "cm", "merge", b"{}", CTX)


async def test_a_malformed_patch_is_400_after_a_missing_objects_404(configmaps):
    with pytest.raises(NotFound):
        await configmaps.patch("default", "cm", "merge", b"{not json", CTX)
    await configmaps.create("default", configmap(), CTX)
    with pytest.raises(BadRequest, match="error decoding patch"):
        await configmaps.patch("default", "cm", "merge", b"{not json", CTX)


@pytest.mark.parametrize("patch_type, patch", [
    ("merge", {"metadata": {"labels": {"a": "b"}}, "data": {"x": "y"}}),
    ("json", [{"op": "test", "path": "/data/a", "value": "1"}, {"op": "add", "path": "/data/x", "value": "y"}]),
    ("strategic", {"data": {"x": "y"}}),
])
async def test_a_patch_handed_over_as_its_document_has_its_bodys_outcome(configmaps, patch_type, patch):
    outcomes = []
    for name, given in (("as-body", orjson.dumps(patch)), ("as-document", patch)):
        await configmaps.create("default", configmap(name), CTX)
        patched = await configmaps.patch("default", name, patch_type, given, CTX)
        outcomes.append({k: v for k, v in patched.items() if k != "metadata"} | {"labels": patched["metadata"].get("labels")})
    assert outcomes[0] == outcomes[1]
    assert outcomes[1]["data"]["x"] == "y"


async def test_patch_status_subresource(deployments):
    await deployments.create("default", deployment(), CTX)
    patched = await deployments.patch(
        "default", "web", "merge", b'{"status":{"replicas":2},"spec":{"replicas":7}}', CTX, subresource="status"
    )
    assert patched["status"]["replicas"] == 2 and patched["spec"]["replicas"] == 1


async def test_status_patch_reuses_the_decoded_object_only_when_the_rest_is_unchanged(deployments):
    created = await deployments.create("default", deployment(), CTX)
    # Only the status changes: admitted from the transform's model (defaults still apply).
    patched = await deployments.patch(
        "default", "web", "strategic", b'{"status":{"replicas":3,"conditions":[{"type":"Available","status":"True"}]}}',
        CTX, subresource="status")
    assert patched["status"]["replicas"] == 3 and patched["status"]["conditions"][0]["type"] == "Available"
    assert patched["spec"] == created["spec"]
    # The namespace dropped by the patch and restored by the server, labels changed: the stored rest wins.
    patched = await deployments.patch(
        "default", "web", "merge", b'{"metadata":{"namespace":null,"labels":{"x":"y"}},"status":{"replicas":4}}',
        CTX, subresource="status")
    assert patched["status"]["replicas"] == 4 and patched["metadata"]["namespace"] == "default"
    assert patched["metadata"].get("labels") == created["metadata"].get("labels")
    # A mistyped status is still a 400, a mistyped spec too even though /status ignores it.
    with pytest.raises(BadRequest):
        await deployments.patch("default", "web", "merge", b'{"status":{"replicas":"x"}}', CTX, subresource="status")
    with pytest.raises(BadRequest):
        await deployments.patch("default", "web", "merge", b'{"spec":{"replicas":"x"}}', CTX, subresource="status")


_POD_STATUS_PATCHES = [
    ("strategic", {"status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                              "message": "0/3 nodes are available", "lastProbeTime": None}],
                              "nominatedNodeName": "n1"}}),
    ("strategic", {"status": {"conditions": [{"type": "Ready", "$patch": "delete"}], "phase": "Running"}}),
    ("strategic", {"status": {"$patch": "replace", "phase": "Failed"}}),
    ("merge", {"status": {"phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}]}}),
    ("merge", {"status": None}),
    ("json", [{"op": "add", "path": "/status", "value": {"phase": "Succeeded", "hostIP": "1.2.3.4"}}]),
    ("json", [{"op": "replace", "path": "/status/phase", "value": "Running"},
              {"op": "remove", "path": "/status/conditions/0"}]),
    ("json", [{"op": "test", "path": "/status/phase", "value": "Pending"},
              {"op": "copy", "from": "/status/phase", "path": "/status/reason"}]),
]


async def _not_called(*args, **kwargs):
    raise AssertionError("the general path was taken")


@pytest.mark.parametrize("patch_type, patch", _POD_STATUS_PATCHES)
async def test_a_pod_status_patch_takes_the_light_path_to_the_general_outcome(pods, patch_type, patch, monkeypatch):
    """Pod ``/status`` patches that touch only the status skip the full pipeline, with the same result."""
    status = {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"},
                                                 {"type": "PodScheduled", "status": "True"}]}
    outcomes = []
    for name, general in (("light", False), ("general", True)):
        await pods.create("default", pod(name), CTX)
        await pods.patch("default", name, "merge", orjson.dumps({"status": status}), CTX, subresource="status")
        body = orjson.dumps(patch) if name != "light" else patch  # the light path taking the handed-over document
        if general:
            patched = await pods._patch_generally("default", name, patch_type, body, CTX, "status")
        else:
            monkeypatch.setattr(pods, "_patch_generally", _not_called)
            patched = await pods.patch("default", name, patch_type, body, CTX, subresource="status")
            monkeypatch.undo()
        stored = await pods.get("default", name)
        assert stored["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"]
        for obj in (patched, stored):
            meta = obj["metadata"]
            outcomes.append((obj.get("status"), obj["spec"],
                             {k: v for k, v in meta.items() if k not in ("name", "uid", "resourceVersion",
                                                                         "creationTimestamp")}))
    assert outcomes[0] == outcomes[1] == outcomes[2] == outcomes[3]


async def test_a_plain_pod_status_is_checked_by_its_shape_and_any_other_is_decoded(pods, monkeypatch):
    """A patched status whose every value has exactly its field's type is stored without a
    decode; any other (here with a field the model does not know) is decoded, as the general path would."""
    import orchestra.apiserver.storage as storage_module

    await pods.create("default", pod(), CTX)
    decoded = []
    real = storage_module.decode_as
    monkeypatch.setattr(storage_module, "decode_as", lambda cls, value, **kw: decoded.append(value) or real(cls, value, **kw))
    condition = {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler", "message": "m",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"}
    patched = await pods.patch("default", "web", "strategic", {"status": {"conditions": [condition]}}, CTX,
                               subresource="status")
    assert decoded == [] and patched["status"]["conditions"] == [condition]
    kept = await pods.patch("default", "web", "merge", {"status": {"unknownField": {"a": 1}}}, CTX,
                            subresource="status")
    assert len(decoded) == 1 and kept["status"]["unknownField"] == {"a": 1}
    with pytest.raises(BadRequest, match="status.conditions"):  # a mistyped value still is refused by name
        await pods.patch("default", "web", "merge", b'{"status":{"conditions":[{"type":1}]}}', CTX,
                         subresource="status")
    assert (await pods.get("default", "web"))["status"]["conditions"][0] == condition


async def test_a_read_right_after_a_write_shares_the_object_the_write_handed_to_the_cache(pods):
    """Before the watch cache has seen a write, a read of those stored bytes reuses the written object."""
    await pods.create("default", pod(), CTX)
    patched = await pods.patch("default", "web", "merge", b'{"status":{"phase":"Running"}}', CTX,
                               subresource="status")
    assert await pods.get("default", "web") is patched  # no event applied yet: no decode either
    await asyncio.sleep(0.05)
    assert await pods.get("default", "web") is patched  # the cache kept that same object
    again = await pods.patch("default", "web", "merge", b'{"status":{"phase":"Failed"}}', CTX, subresource="status")
    fetched = await pods.get("default", "web")
    assert fetched is again and fetched["status"]["phase"] == "Failed"
    assert fetched["metadata"]["resourceVersion"] == again["metadata"]["resourceVersion"]


async def test_a_light_pod_status_patch_reports_and_guards_like_the_general_one(pods):
    created = await pods.create("default", pod(), CTX)
    # a mistyped status: the general path's 400, naming the field
    with pytest.raises(BadRequest, match="status.phase"):
        await pods.patch("default", "web", "merge", b'{"status":{"phase":5}}', CTX, subresource="status")
    with pytest.raises(NotFound):
        await pods.patch("default", "none", "merge", b'{"status":{"phase":"Running"}}', CTX, subresource="status")
    with pytest.raises(Invalid):  # a JSON patch test that fails
        await pods.patch("default", "web", "json", b'[{"op":"test","path":"/status/phase","value":"Nope"}]',
                         CTX, subresource="status")
    # a change of nothing writes nothing
    same = await pods.patch("default", "web", "merge", b'{"status":{}}', CTX, subresource="status")
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    # a dry run answers the outcome and writes nothing
    dry = await pods.patch("default", "web", "merge", b'{"status":{"phase":"Running"}}', DRY, subresource="status")
    assert dry["status"]["phase"] == "Running"
    assert dry["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert (await pods.get("default", "web")).get("status", {}).get("phase") != "Running"
    # the spec stays the stored one; a patch naming metadata takes the general path (its rv guards it)
    with pytest.raises(Conflict):
        await pods.patch("default", "web", "merge", b'{"metadata":{"resourceVersion":"1"},"status":{"phase":"x"}}',
                         CTX, subresource="status")


async def _behind_the_cache(pods, *names: str) -> list[dict]:
    """Create these pods, then leave the watch cache behind: fed through its queue, as from
    etcd, it lags the writes that follow until the loop turns. The created pods."""
    created = [await pods.create("default", pod(name), CTX) for name in names]
    await pods.cache.wait_fresh()
    pods.cache._store_watcher._sink = None
    return created


async def test_a_light_pod_status_patch_trusts_only_the_store_when_the_cache_is_behind(pods, registry):
    created, _ = await _behind_the_cache(pods, "web", "gone")
    key, gone = pods.key("default", "web"), pods.key("default", "gone")
    meta = {k: v for k, v in created["metadata"].items() if k != "resourceVersion"}
    # Behind the cache's back: the pod starts running and the other one is deleted.
    running = dict(created["status"], phase="Running")
    await registry.store.put(key, orjson.dumps(dict(created, metadata=meta, status=running)))
    await registry.store.delete_range(gone)
    assert pods.cache.get(key)["status"]["phase"] == "Pending"

    async def stored() -> dict:
        return orjson.loads((await registry.store.get(key)).value)["status"]

    # a patch that changes nothing of the cached copy is checked against the store's pod
    patched = await pods.patch("default", "web", "merge", b'{"status":{"phase":"Pending"}}', CTX, subresource="status")
    assert (await stored())["phase"] == patched["status"]["phase"] == "Pending"
    # a write guarded on the cached copy's revision is refused, and the store's pod patched
    patched = await pods.patch("default", "web", "merge", b'{"status":{"reason":"Moved"}}', CTX, subresource="status")
    assert await stored() == patched["status"] == dict(created["status"], reason="Moved")
    with pytest.raises(NotFound):
        await pods.patch("default", "gone", "merge", b'{"status":{"phase":"Running"}}', CTX, subresource="status")


# --------------------------------------------------------------------------- delete


async def test_delete_answers_a_status_for_most_kinds(configmaps):
    created = await configmaps.create("default", configmap(), CTX)
    body, code = await configmaps.delete("default", "cm", {}, CTX)
    assert code == 200
    assert body["kind"] == "Status" and body["status"] == "Success"
    assert body["details"] == {"name": "cm", "kind": "configmaps", "uid": created["metadata"]["uid"]}
    with pytest.raises(NotFound):
        await configmaps.get("default", "cm")
    with pytest.raises(NotFound):
        await configmaps.delete("default", "cm", {}, CTX)


async def test_unbound_pod_is_deleted_at_once_and_returned(pods):
    await pods.create("default", pod(), CTX)
    body, code = await pods.delete("default", "web", {}, CTX)
    assert code == 200 and body["kind"] == "Pod"
    with pytest.raises(NotFound):
        await pods.get("default", "web")


async def test_bound_pod_deletion_is_graceful_until_confirmed(pods):
    created = await pods.create("default", pod(node="n1"), CTX)
    body, code = await pods.delete("default", "web", {}, CTX)
    meta = body["metadata"]
    assert code == 200 and meta["deletionGracePeriodSeconds"] == 30 and meta["deletionTimestamp"]
    assert meta["generation"] == created["metadata"]["generation"] + 1
    assert (await pods.get("default", "web"))["metadata"]["deletionTimestamp"]
    shorter, _ = await pods.delete("default", "web", {"gracePeriodSeconds": 5}, CTX)
    assert shorter["metadata"]["deletionGracePeriodSeconds"] == 5
    await pods.delete("default", "web", {"gracePeriodSeconds": 0}, CTX)
    with pytest.raises(NotFound):
        await pods.get("default", "web")


async def test_finalizers_keep_an_object_until_the_last_is_removed(configmaps):
    await configmaps.create("default", configmap(finalizers=["example.com/hold"]), CTX)
    body, code = await configmaps.delete("default", "cm", {}, CTX)
    assert code == 200 and body["metadata"]["deletionTimestamp"]
    assert body["metadata"]["deletionGracePeriodSeconds"] == 0
    still = await configmaps.get("default", "cm")
    with pytest.raises(Invalid, match="no new finalizers"):
        await configmaps.patch("default", "cm", "merge", b'{"metadata":{"finalizers":["example.com/hold","b.io/x"]}}', CTX)
    await configmaps.patch("default", "cm", "merge", b'{"metadata":{"finalizers":null}}', CTX)
    with pytest.raises(NotFound):
        await configmaps.get("default", "cm")
    assert still["metadata"]["finalizers"] == ["example.com/hold"]


async def test_marking_for_deletion_changes_no_object_read_before(configmaps):
    await configmaps.create("default", configmap(finalizers=["example.com/hold"]), CTX)
    before = await configmaps.get("default", "cm")
    snapshot = orjson.loads(orjson.dumps(before))
    body, _ = await configmaps.delete("default", "cm", {}, CTX)
    assert body["metadata"]["deletionTimestamp"] and body["data"] == snapshot["data"]
    assert before == snapshot and "deletionTimestamp" not in before["metadata"]
    again, _ = await configmaps.delete("default", "cm", {}, CTX)
    assert again["metadata"]["deletionTimestamp"] == body["metadata"]["deletionTimestamp"]


async def test_delete_preconditions(configmaps):
    created = await configmaps.create("default", configmap(), CTX)
    with pytest.raises(Conflict) as info:
        await configmaps.delete("default", "cm", {"preconditions": {"uid": "other"}}, CTX)
    assert info.value.message == (
        'Operation cannot be fulfilled on configmaps "cm": Precondition failed: UID in precondition: other, '
        f"UID in object meta: {created['metadata']['uid']}"
    )
    with pytest.raises(Conflict, match="Precondition failed: ResourceVersion in precondition: 1,"):
        await configmaps.delete("default", "cm", {"preconditions": {"resourceVersion": "1"}}, CTX)
    good = {"preconditions": {"uid": created["metadata"]["uid"], "resourceVersion": created["metadata"]["resourceVersion"]}}
    await configmaps.delete("default", "cm", good, CTX)


async def test_a_delete_trusts_only_the_store_when_the_cache_is_behind(pods, registry):
    created, _, _ = await _behind_the_cache(pods, "web", "gone", "held")
    key, gone, held = pods.key("default", "web"), pods.key("default", "gone"), pods.key("default", "held")
    meta = {k: v for k, v in created["metadata"].items() if k != "resourceVersion"}
    # Behind the cache's back: the pod is replaced by one with another uid, one is deleted and
    # one gets a finalizer.
    await registry.store.put(key, orjson.dumps(dict(created, metadata=dict(meta, uid="new-uid"))))
    await registry.store.delete_range(gone)
    held_pod = orjson.loads((await registry.store.get(held)).value)
    held_pod["metadata"]["finalizers"] = ["example.com/hold"]
    await registry.store.put(held, orjson.dumps(held_pod))
    assert pods.cache.get(key)["metadata"]["uid"] == created["metadata"]["uid"]
    # the cached uid fails the precondition; the store's pod meets it and is deleted
    await pods.delete("default", "web", {"preconditions": {"uid": "new-uid"}, "gracePeriodSeconds": 0}, CTX)
    assert await registry.store.get(key) is None
    with pytest.raises(NotFound):
        await pods.delete("default", "gone", {"gracePeriodSeconds": 0}, CTX)
    # deleted at once by its cached copy, but the store's pod has a finalizer: it is marked instead
    body, _ = await pods.delete("default", "held", {"gracePeriodSeconds": 0}, CTX)
    assert body["metadata"]["deletionTimestamp"] and body["metadata"]["finalizers"] == ["example.com/hold"]
    assert orjson.loads((await registry.store.get(held)).value)["metadata"]["deletionTimestamp"]


async def test_propagation_policies_set_garbage_collector_finalizers(configmaps, registry):
    await configmaps.create("default", configmap("orphan"), CTX)
    body, code = await configmaps.delete("default", "orphan", {"propagationPolicy": "Orphan"}, CTX)
    assert body["metadata"]["finalizers"] == ["orphan"] and code == 200
    await configmaps.create("default", configmap("fg"), CTX)
    body, _ = await configmaps.delete("default", "fg", {"propagationPolicy": "Foreground"}, CTX)
    assert body["metadata"]["finalizers"] == ["foregroundDeletion"]
    await configmaps.create("default", configmap("od"), CTX)
    body, code = await configmaps.delete("default", "od", {"orphanDependents": False}, CTX)
    assert code == 200 and body["kind"] == "Status"
    jobs = res(registry, "batch/v1", "Job")
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}], "restartPolicy": "Never"}}},
    }
    await jobs.create("default", job, CTX)
    body, _ = await jobs.delete("default", "pi", {}, CTX)
    assert body["metadata"]["finalizers"] == ["orphan"]  # batch/v1 Jobs orphan by default
    await jobs.create("default", dict(job, metadata={"name": "pi2"}), CTX)
    await jobs.delete("default", "pi2", {"propagationPolicy": "Background"}, CTX)
    with pytest.raises(NotFound):
        await jobs.get("default", "pi2")


async def test_foreground_deletion_pending_is_202_with_orphan_dependents_false(configmaps):
    await configmaps.create("default", configmap(finalizers=["x.io/y"]), CTX)
    body, code = await configmaps.delete("default", "cm", {"orphanDependents": False}, CTX)
    assert code == 202 and body["metadata"]["deletionTimestamp"]


async def test_bad_delete_options_are_invalid(configmaps):
    await configmaps.create("default", configmap(), CTX)
    with pytest.raises(Invalid, match='propagationPolicy: Unsupported value: "Sideways"'):
        await configmaps.delete("default", "cm", {"propagationPolicy": "Sideways"}, CTX)
    with pytest.raises(Invalid, match="cannot be both set"):
        await configmaps.delete("default", "cm", {"propagationPolicy": "Orphan", "orphanDependents": True}, CTX)


async def test_dry_run_delete_keeps_the_object(configmaps):
    await configmaps.create("default", configmap(), CTX)
    await configmaps.delete("default", "cm", {"dryRun": ["All"]}, CTX)
    await configmaps.delete("default", "cm", {}, DRY)
    assert await configmaps.get("default", "cm")


async def test_delete_collection_deletes_the_matching_objects(configmaps):
    for i in range(4):
        await configmaps.create("default", configmap(f"cm{i}", labels={"even": str(i % 2 == 0).lower()}), CTX)
    await configmaps.create("kube-system", configmap("cm0", labels={"even": "true"}), CTX)
    result = await configmaps.delete_collection(
        "default", opts(label_selector=LabelSelector.parse("even=true")), {}, CTX
    )
    assert result["kind"] == "ConfigMapList" and sorted(names(result)) == ["cm0", "cm2"]
    assert names(await configmaps.list("default", opts())) == ["cm1", "cm3"]
    assert names(await configmaps.list("kube-system", opts())) == ["cm0"]


# --------------------------------------------------------------------------- namespaces


async def test_namespace_deletion_terminates_then_finalize_removes_it(registry, configmaps):
    namespaces = res(registry, "v1", "Namespace")
    created = await namespaces.create(None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}, CTX)
    assert created["spec"]["finalizers"] == ["kubernetes"] and created["status"]["phase"] == "Active"
    await configmaps.create("team", configmap(), CTX)
    body, code = await namespaces.delete(None, "team", {}, CTX)
    assert code == 200 and body["status"]["phase"] == "Terminating" and body["metadata"]["deletionTimestamp"]
    assert body["spec"]["finalizers"] == ["kubernetes"]
    with pytest.raises(Forbidden) as info:
        await configmaps.create("team", configmap("new"), CTX)
    assert info.value.message == (
        'configmaps "new" is forbidden: unable to create new content in namespace team because it is being terminated'
    )
    with pytest.raises(Conflict, match="The system is ensuring all content is removed from this namespace"):
        await namespaces.delete(None, "team", {}, CTX)
    current = await namespaces.get(None, "team")
    finalize = dict(current, spec={"finalizers": []})
    await namespaces.update(None, "team", finalize, CTX, subresource="finalize")
    with pytest.raises(NotFound, match='^namespaces "team" not found$'):
        await namespaces.get(None, "team")


async def test_default_namespaces_exist_and_may_not_be_deleted(registry):
    namespaces = res(registry, "v1", "Namespace")
    listing = await namespaces.list(None, opts())
    assert set(names(listing)) == {"default", "kube-system", "kube-public", "kube-node-lease"}
    with pytest.raises(Forbidden, match='^namespaces "default" is forbidden: this namespace may not be deleted$'):
        await namespaces.delete(None, "default", {}, CTX)


async def test_create_in_a_missing_namespace_is_not_found(configmaps):
    with pytest.raises(NotFound, match='^namespaces "nowhere" not found$'):
        await configmaps.create("nowhere", configmap(), CTX)


# --------------------------------------------------------------------------- list


async def test_list_with_label_and_field_selectors(pods):
    await pods.create("default", pod("a", labels={"app": "web"}, node="n1"), CTX)
    await pods.create("default", pod("b", labels={"app": "web"}), CTX)
    await pods.create("default", pod("c", labels={"app": "db"}, node="n1"), CTX)
    await pods.create("kube-system", pod("d", labels={"app": "web"}, node="n1"), CTX)
    by_label = await pods.list("default", opts(label_selector=LabelSelector.parse("app=web")))
    assert names(by_label) == ["a", "b"]
    by_field = await pods.list(None, opts(field_selector=FieldSelector.parse("spec.nodeName=n1")))
    assert names(by_field) == ["a", "c", "d"]
    both = await pods.list(
        None, opts(label_selector=LabelSelector.parse("app=web"), field_selector=FieldSelector.parse("spec.nodeName!=n1"))
    )
    assert names(both) == ["b"]
    by_namespace = await pods.list(None, opts(field_selector=FieldSelector.parse("metadata.namespace=kube-system")))
    assert names(by_namespace) == ["d"]


async def test_unsupported_field_label_is_bad_request(pods):
    with pytest.raises(BadRequest) as info:
        await pods.list(None, opts(field_selector=FieldSelector.parse("spec.hostname=x")))
    assert info.value.message == "field label not supported: spec.hostname"
    with pytest.raises(BadRequest):
        pods.watch(None, opts(field_selector=FieldSelector.parse("spec.hostname=x")))


async def test_list_metadata_is_at_the_current_revision(configmaps):
    await configmaps.create("default", configmap(), CTX)
    listing = await configmaps.list("default", opts())
    assert listing["kind"] == "ConfigMapList" and listing["apiVersion"] == "v1"
    assert int(listing["metadata"]["resourceVersion"]) == await configmaps.store.current_revision()


async def test_limit_and_continue_page_through_a_consistent_snapshot(configmaps):
    for i in range(7):
        await configmaps.create("default", configmap(f"cm{i}"), CTX)
    first = await configmaps.list("default", opts(limit=3))
    assert names(first) == ["cm0", "cm1", "cm2"]
    assert first["metadata"]["remainingItemCount"] == 4 and first["metadata"]["continue"]
    await configmaps.create("default", configmap("cm9"), CTX)  # after the snapshot: not seen
    second = await configmaps.list("default", opts(limit=3, continue_token=first["metadata"]["continue"]))
    assert names(second) == ["cm3", "cm4", "cm5"]
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    third = await configmaps.list("default", opts(limit=3, continue_token=second["metadata"]["continue"]))
    assert names(third) == ["cm6"] and "continue" not in third["metadata"]


async def test_limit_with_a_selector_fills_pages_with_matches(configmaps):
    for i in range(10):
        await configmaps.create("default", configmap(f"cm{i}", labels={"odd": str(i % 2 == 1).lower()}), CTX)
    selector = LabelSelector.parse("odd=true")
    seen, token = [], None
    while True:
        page = await configmaps.list("default", opts(limit=2, label_selector=selector, continue_token=token))
        assert "remainingItemCount" not in page["metadata"]
        seen += names(page)
        token = page["metadata"].get("continue")
        if not token:
            break
    assert seen == ["cm1", "cm3", "cm5", "cm7", "cm9"]


async def test_continue_after_compaction_is_gone(configmaps):
    for i in range(3):
        await configmaps.create("default", configmap(f"cm{i}"), CTX)
    first = await configmaps.list("default", opts(limit=1))
    await configmaps.create("default", configmap("later"), CTX)
    await configmaps.store.compact(await configmaps.store.current_revision())
    with pytest.raises(Gone) as info:
        await configmaps.list("default", opts(limit=1, continue_token=first["metadata"]["continue"]))
    assert info.value.status()["code"] == 410 and info.value.status()["reason"] == "Expired"


async def test_bad_continue_tokens_are_bad_requests(configmaps):
    with pytest.raises(BadRequest, match="continue key is not valid"):
        await configmaps.list("default", opts(continue_token="!!!"))
    token = base64.b64encode(b'{"v":"meta.k8s.io/v1","rv":5,"start":"../secrets/x"}').decode()
    with pytest.raises(BadRequest, match="continue key is not valid"):
        await configmaps.list("default", opts(continue_token=token))
    with pytest.raises(BadRequest, match="specifying resource version is not allowed when using continue"):
        await configmaps.list("default", opts(continue_token=token, resource_version="5"))


async def test_resource_version_zero_lists_from_the_cache(configmaps):
    created = await configmaps.create("default", configmap(), CTX)
    await configmaps.cache.wait_for_revision(int(created["metadata"]["resourceVersion"]))
    listing = await configmaps.list("default", opts(resource_version="0"))
    assert names(listing) == ["cm"]
    assert int(listing["metadata"]["resourceVersion"]) >= int(created["metadata"]["resourceVersion"])
    assert await configmaps.get("default", "cm", resource_version="0") == created


async def test_resource_version_not_older_than_waits_for_the_revision(configmaps):
    created = await configmaps.create("default", configmap(), CTX)
    listing = await configmaps.list(
        "default", opts(resource_version=created["metadata"]["resourceVersion"], resource_version_match="NotOlderThan")
    )
    assert names(listing) == ["cm"]
    assert int(listing["metadata"]["resourceVersion"]) >= int(created["metadata"]["resourceVersion"])


async def test_resource_version_exact_reads_the_past(configmaps):
    created = await configmaps.create("default", configmap(), CTX)
    await configmaps.patch("default", "cm", "merge", b'{"data":{"a":"2"}}', CTX)
    old = await configmaps.list(
        "default", opts(resource_version=created["metadata"]["resourceVersion"], resource_version_match="Exact")
    )
    assert old["items"][0]["data"] == {"a": "1"}
    assert old["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    await configmaps.store.compact(await configmaps.store.current_revision())
    with pytest.raises(Gone, match="The resourceVersion for the provided list is too old"):
        await configmaps.list(
            "default", opts(resource_version=created["metadata"]["resourceVersion"], resource_version_match="Exact")
        )


async def test_future_resource_version_is_too_large(configmaps):
    future = str(await configmaps.store.current_revision() + 100)
    with pytest.raises(TooLargeResourceVersion) as info:
        await configmaps.list("default", opts(resource_version=future, resource_version_match="NotOlderThan"))
    assert info.value.status()["code"] == 504 and "Too large resource version" in info.value.message
    with pytest.raises(TooLargeResourceVersion):
        await configmaps.list("default", opts(resource_version=future, resource_version_match="Exact"))


async def test_list_option_rules_are_invalid(configmaps):
    with pytest.raises(Invalid) as info:
        await configmaps.list("default", opts(resource_version_match="Exact"))
    status = info.value.status()
    assert status["code"] == 422 and status["details"]["kind"] == "ListOptions"
    assert "resourceVersionMatch is forbidden unless resourceVersion is provided" in status["message"]
    with pytest.raises(Invalid, match="forbidden for list"):
        await configmaps.list("default", opts(send_initial_events=True))
    with pytest.raises(BadRequest, match="invalid resourceVersion"):
        await configmaps.list("default", opts(resource_version="abc"))


# --------------------------------------------------------------------------- scale and binding


async def test_scale_subresource(deployments, pods):
    await deployments.create("default", deployment(replicas=2), CTX)
    scale = await deployments.get_scale("default", "web")
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 2} and scale["status"] == {"replicas": 0, "selector": "app=web"}
    scale["spec"]["replicas"] = 5
    updated = await deployments.update_scale("default", "web", scale, CTX)
    assert updated["spec"]["replicas"] == 5
    deployment_now = await deployments.get("default", "web")
    assert deployment_now["spec"]["replicas"] == 5 and deployment_now["metadata"]["generation"] == 2
    with pytest.raises(Conflict):
        await deployments.update_scale("default", "web", scale, CTX)  # its resourceVersion is stale now
    patched = await deployments.patch_scale("default", "web", "merge", b'{"spec":{"replicas":1}}', CTX)
    assert patched["spec"]["replicas"] == 1
    with pytest.raises(Invalid, match=r'^Scale.autoscaling "web" is invalid: spec.replicas'):
        await deployments.patch_scale("default", "web", "merge", b'{"spec":{"replicas":-2}}', CTX)
    with pytest.raises(NotFound):
        await pods.get_scale("default", "web")


async def test_binding_sets_the_node_once(pods):
    await pods.create("default", pod(), CTX)
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"}, "target": {"kind": "Node", "name": "n1"}}
    result = await pods.bind("default", "web", binding, CTX)
    assert result["status"] == "Success" and result["code"] == 201
    bound = await pods.get("default", "web")
    assert bound["spec"]["nodeName"] == "n1"
    assert any(c["type"] == "PodScheduled" and c["status"] == "True" for c in bound["status"]["conditions"])
    with pytest.raises(Conflict) as info:
        await pods.bind("default", "web", binding, CTX)
    assert info.value.message == 'Operation cannot be fulfilled on pods/binding "web": pod web is already assigned to node "n1"'
    with pytest.raises(NotFound):
        await pods.bind("default", "missing", dict(binding, metadata={"name": "missing"}), CTX)


async def test_binding_needs_a_target(pods):
    await pods.create("default", pod(), CTX)
    with pytest.raises(Invalid):
        await pods.bind("default", "web", {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"}}, CTX)


def binding(name="web", node="n1", **meta):
    return {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, **meta}, "target": {"kind": "Node", "name": node}}


async def test_binding_sets_only_what_kubernetes_binding_sets(pods, registry):
    created = await pods.create("default", pod(), CTX)
    await pods.cache.wait_fresh()
    cached_before = await pods.get("default", "web", resource_version="0")
    cached_copy = orjson.loads(orjson.dumps(cached_before))
    await pods.bind("default", "web", binding(uid=created["metadata"]["uid"], annotations={"a.io/x": "1"}), CTX)
    bound = await pods.get("default", "web")
    assert bound["spec"] == {**created["spec"], "nodeName": "n1"}
    assert bound["metadata"]["annotations"] == {"a.io/x": "1"}
    assert bound["metadata"]["generation"] == created["metadata"]["generation"] + 1
    assert bound["metadata"]["uid"] == created["metadata"]["uid"]
    assert int(bound["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    scheduled = [c for c in bound["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert len(scheduled) == 1 and scheduled[0]["status"] == "True" and scheduled[0]["lastTransitionTime"]
    assert bound["status"]["phase"] == "Pending"
    # The watch cache's dict handed out before is never changed by a binding.
    assert cached_before == cached_copy


async def test_binding_errors(pods):
    created = await pods.create("default", pod(), CTX)
    with pytest.raises(Conflict, match="Precondition failed: UID in precondition: other"):
        await pods.bind("default", "web", binding(uid="other"), CTX)
    with pytest.raises(BadRequest, match=r"the name of the object \(x\) does not match the name on the URL \(web\)"):
        await pods.bind("default", "web", binding(name="x"), CTX)
    with pytest.raises(BadRequest, match="namespace of the provided object does not match"):
        await pods.bind("default", "web", binding(namespace="other"), CTX)
    with pytest.raises(Invalid, match='^Binding "web" is invalid: target.name: Invalid value: "Node_1"') as info:
        await pods.bind("default", "web", binding(node="Node_1"), CTX)
    assert info.value.status()["details"]["causes"][0]["field"] == "target.name"
    with pytest.raises(Invalid, match="target.kind: Unsupported value"):
        await pods.bind("default", "web", dict(binding(), target={"kind": "Pod", "name": "n1"}), CTX)
    with pytest.raises(Invalid, match="metadata.annotations"):
        await pods.bind("default", "web", binding(annotations={"bad key!": "v"}), CTX)
    with pytest.raises(Invalid, match="metadata.labels"):  # a field only the model's path checks
        await pods.bind("default", "web", binding(labels={"bad key!": "v"}), CTX)
    with pytest.raises(BadRequest, match="^Binding cannot be handled: target: expected object"):
        await pods.bind("default", "web", dict(binding(), target="n1"), CTX)
    with pytest.raises(BadRequest, match="^Binding cannot be handled: metadata: expected object"):
        await pods.bind("default", "web", dict(binding(), metadata=["web"]), CTX)
    with pytest.raises(BadRequest, match="^Binding cannot be handled: metadata.annotations"):
        await pods.bind("default", "web", binding(annotations={"a": 1}), CTX)
    # None of these touched the pod.
    assert (await pods.get("default", "web"))["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_binding_with_labels_goes_through_the_model_and_binds(pods):
    await pods.create("default", pod(), CTX)
    await pods.bind("default", "web", binding(labels={"a": "b"}), CTX)
    assert (await pods.get("default", "web"))["spec"]["nodeName"] == "n1"


async def test_binding_refuses_a_pod_being_deleted_and_a_dry_run_changes_nothing(pods):
    created = await pods.create("default", pod(finalizers=["example.com/keep"]), CTX)
    await pods.bind("default", "web", binding(), DRY)
    assert "nodeName" not in (await pods.get("default", "web"))["spec"]
    await pods.delete("default", "web", {}, CTX)
    with pytest.raises(Conflict, match="pod web is being deleted, cannot be assigned to a host"):
        await pods.bind("default", "web", binding(), CTX)
    assert created["metadata"]["uid"]


async def test_a_binding_trusts_only_the_store_when_the_cache_is_behind(pods, registry):
    created, _ = await _behind_the_cache(pods, "web", "gone")
    key, gone = pods.key("default", "web"), pods.key("default", "gone")
    meta = {k: v for k, v in created["metadata"].items() if k != "resourceVersion"}
    # Behind the cache's back: the pod is replaced by one with another uid, the other is deleted.
    await registry.store.put(key, orjson.dumps(dict(created, metadata=dict(meta, uid="new-uid"))))
    await registry.store.delete_range(gone)
    assert pods.cache.get(key)["metadata"]["uid"] == created["metadata"]["uid"]
    await pods.bind("default", "web", binding(uid="new-uid"), CTX)
    stored = orjson.loads((await registry.store.get(key)).value)
    assert stored["metadata"]["uid"] == "new-uid" and stored["spec"]["nodeName"] == "n1"
    with pytest.raises(NotFound):
        await pods.bind("default", "gone", binding("gone"), CTX)


async def test_binding_annotations_are_checked_merged_with_the_pods(pods):
    await pods.create("default", pod(annotations={"a.io/big": "x" * 200_000}), CTX)
    with pytest.raises(Invalid, match='^Pod "web" is invalid: metadata.annotations: Too long'):
        await pods.bind("default", "web", binding(annotations={"b.io/big": "y" * 100_000}), CTX)


async def test_create_refuses_mistyped_fields_the_server_would_set_or_drop(configmaps, registry):
    nodes = res(registry, "v1", "Node")
    for meta in ({"uid": 5}, {"creationTimestamp": 1}, {"generation": "1"}, {"resourceVersion": 3}, {"labels": 5}):
        with pytest.raises(BadRequest, match=r'^ConfigMap in version "v1" cannot be handled as a ConfigMap: metadata\.'):
            await configmaps.create("default", configmap(**meta), CTX)
    with pytest.raises(BadRequest, match="namespace of the provided object does not match"):
        await configmaps.create("default", configmap(namespace="other"), CTX)
    with pytest.raises(BadRequest, match=r"cannot be handled as a ConfigMap: metadata\.namespace: expected string"):
        await configmaps.create("default", configmap(namespace=5), CTX)
    created = await configmaps.create("default", configmap(uid="mine", resourceVersion="9", generation=3), CTX)
    assert created["metadata"]["uid"] != "mine" and "generation" not in created["metadata"]
    node = await nodes.create(None, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "namespace": "x"}}, CTX)
    assert "namespace" not in node["metadata"] and node["metadata"]["uid"]


async def test_every_error_is_an_api_error_with_a_status(configmaps):
    for call in (
        configmaps.get("default", "none"),
        configmaps.create("default", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "BAD_NAME"}}, CTX),
    ):
        with pytest.raises(APIError) as info:
            await call
        status = info.value.status()
        assert status["kind"] == "Status" and status["status"] == "Failure"


# --------------------------------------------------------------------------- properties


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    names=st.sets(st.from_regex(r"\A[a-z][a-z0-9]{0,6}\Z"), min_size=0, max_size=12),
    limit=st.integers(min_value=1, max_value=5),
    selector_on=st.booleans(),
)
def test_pages_concatenate_to_the_full_list(names, limit, selector_on):
    async def scenario():
        store = await open_store("memory://")
        reg = StorageRegistry(store, plugin_manager=get_plugin_manager(load_entrypoints=False))
        await reg.start()
        try:
            configmaps = reg.storage(by_kind("v1", "ConfigMap"))
            for name in sorted(names):
                await configmaps.create("default", configmap(name, labels={"long": str(len(name) > 3).lower()}), CTX)
            selector = LabelSelector.parse("long=true") if selector_on else LabelSelector.everything()
            full = names_of(await configmaps.list("default", opts(label_selector=selector)))
            paged, token = [], None
            while True:
                page = await configmaps.list("default", opts(limit=limit, label_selector=selector, continue_token=token))
                assert len(page["items"]) <= limit
                paged += names_of(page)
                token = page["metadata"].get("continue")
                if not token:
                    break
            assert paged == full
            assert full == sorted(n for n in names if not selector_on or len(n) > 3)
        finally:
            await reg.stop()
            await store.close()

    asyncio.run(scenario())


def names_of(listing):
    return [item["metadata"]["name"] for item in listing["items"]]


# --------------------------------------------------------------------------- reads served from the watch cache


async def test_a_list_sees_a_write_made_directly_in_the_store_at_once(configmaps):
    """A list without resourceVersion answers from the cache only once it has caught up with the store."""
    await configmaps.create("default", configmap("cm0"), CTX)
    stored = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "direct", "namespace": "default"}}
    revision = (await configmaps.store.put(configmaps.key("default", "direct"), orjson.dumps(stored))).revision
    listing = await configmaps.list("default", opts())
    assert names(listing) == ["cm0", "direct"]
    assert int(listing["metadata"]["resourceVersion"]) >= revision
    assert listing["items"][1]["metadata"]["resourceVersion"] == str(revision)


async def test_a_list_with_a_limit_still_reads_the_store(configmaps):
    for i in range(3):
        await configmaps.create("default", configmap(f"cm{i}"), CTX)
    assert names(await configmaps.list("default", opts(limit=2))) == ["cm0", "cm1"]
    assert names(await configmaps.list("default", opts())) == ["cm0", "cm1", "cm2"]


async def test_a_get_answers_the_stored_revision_whether_or_not_the_cache_has_it(configmaps):
    created = await configmaps.create("default", configmap("cm"), CTX)
    first = await configmaps.get("default", "cm")
    assert first == created
    stored = dict(created, data={"a": "2"})
    stored["metadata"] = {k: v for k, v in created["metadata"].items() if k != "resourceVersion"}
    revision = (await configmaps.store.put(configmaps.key("default", "cm"), orjson.dumps(stored))).revision
    fresh = await configmaps.get("default", "cm")  # read before the cache has seen the put
    assert fresh["data"] == {"a": "2"} and fresh["metadata"]["resourceVersion"] == str(revision)
    await configmaps.cache.wait_for_revision(revision)
    assert await configmaps.get("default", "cm") == fresh


def event(name, **fields):
    """An Event as the scheduler's recorder writes it (fields in the model's order)."""
    return {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": "default"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u-1", "apiVersion": "v1"},
        "reason": "Scheduled", "message": "Successfully assigned default/web to node-1",
        "source": {"component": "default-scheduler"}, "firstTimestamp": "2026-01-02T03:04:05Z",
        "lastTimestamp": "2026-01-02T03:04:05Z", "count": 1, "type": "Normal", "action": "Binding",
        "reportingComponent": "default-scheduler", "reportingInstance": "default-scheduler-host", **fields,
    }


def _without_identity(obj):
    meta = {k: v for k, v in obj["metadata"].items() if k not in ("name", "uid", "resourceVersion")}
    return {**obj, "metadata": meta}


async def test_a_plain_event_is_stored_as_the_full_path_stores_it(registry):
    """A body handed over (``owned``) that is plain takes the short path; a copied one the full
    path: both store the same JSON, key for key and in the same order."""
    events = res(registry, "v1", "Event")
    await events.create("default", event("plain"), CTX, owned=True)
    await events.create("default", event("full"), CTX)
    stored = {}
    for name in ("plain", "full"):
        kv = await events.store.get(events.key("default", name))
        stored[name] = _without_identity(orjson.loads(kv.value))
    assert stored["plain"] == stored["full"]
    assert list(stored["plain"]) == list(stored["full"])
    assert list(stored["plain"]["metadata"]) == list(stored["full"]["metadata"])
    got = await events.get("default", "plain")
    assert got["metadata"]["uid"] and got["metadata"]["creationTimestamp"] and got["count"] == 1


@pytest.mark.parametrize("fields, status", [({"type": "Bad"}, Invalid), ({"count": "1"}, BadRequest),
                                            ({"involvedObject": {"kind": "Pod"}}, Invalid)])
async def test_an_event_that_is_not_plain_is_refused_by_the_full_path(registry, fields, status):
    events = res(registry, "v1", "Event")
    with pytest.raises(status):
        await events.create("default", event("bad", **fields), CTX, owned=True)
    assert await events.store.get(events.key("default", "bad")) is None


async def test_a_plain_event_is_refused_in_a_missing_namespace(registry):
    events = res(registry, "v1", "Event")
    body = event("lost")
    body["metadata"]["namespace"] = body["involvedObject"]["namespace"] = "nowhere"
    with pytest.raises(NotFound):
        await events.create("nowhere", body, CTX, owned=True)
