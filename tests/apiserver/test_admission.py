"""Admission: NamespaceLifecycle, DefaultTolerationSeconds, and the plugin hooks."""

from __future__ import annotations

import pytest

from orchestra import hookimpl
from orchestra.api import core
from orchestra.api.codec import decode
from orchestra.api.errors import FieldError, ValidationError
from orchestra.api.registry import by_kind, by_resource
from orchestra.apiserver.admission import (
    DEFAULT_TOLERATION_SECONDS,
    NOT_READY_TAINT,
    UNREACHABLE_TAINT,
    Admission,
    AdmissionRequest,
    default_toleration_seconds,
)
from orchestra.apiserver.errors import Forbidden, InternalError, Invalid, NotFound
from orchestra.apiserver.registry_storage import StorageRegistry
from orchestra.apiserver.request import NODE, UserInfo
from orchestra.apiserver.storage import RequestContext
from orchestra.plugin_manager import get_plugin_manager
from orchestra.store import open_store

ALICE = UserInfo("alice")
CTX = RequestContext(ALICE)


class Recorder:
    """Records every admission request; optionally mutates or refuses."""

    def __init__(self, refuse_with=None, raise_in_mutate=None):
        self.mutated: list[AdmissionRequest] = []
        self.validated: list[AdmissionRequest] = []
        self.refuse_with = refuse_with
        self.raise_in_mutate = raise_in_mutate

    @hookimpl
    def orchestra_admission_mutate(self, request):
        self.mutated.append(request)
        if self.raise_in_mutate is not None and request.resource.kind == "ConfigMap":
            raise self.raise_in_mutate
        if request.object is not None and request.resource.kind == "ConfigMap":
            request.object.metadata.labels = {**(request.object.metadata.labels or {}), "admitted": "yes"}

    @hookimpl
    async def orchestra_admission_validate(self, request):
        self.validated.append(request)
        return self.refuse_with if request.resource.kind == "ConfigMap" else None


async def registry_with(*plugins):
    store = await open_store("memory://")
    pm = get_plugin_manager(load_entrypoints=False)
    for plugin in plugins:
        pm.register(plugin, name="policy")
    reg = StorageRegistry(store, plugin_manager=pm)
    await reg.start()
    return store, reg


@pytest.fixture
async def registry():
    store, reg = await registry_with()
    yield reg
    await reg.stop()
    await store.close()


def configmap(name="cm"):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}}


def pod(tolerations=None):
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    if tolerations is not None:
        body["spec"]["tolerations"] = tolerations
    return body


# --------------------------------------------------------------------------- DefaultTolerationSeconds


async def test_pods_get_the_default_not_ready_and_unreachable_tolerations(registry):
    created = await registry.storage(by_kind("v1", "Pod")).create("default", pod(), CTX)
    assert created["spec"]["tolerations"] == [
        {"key": NOT_READY_TAINT, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    ]


def test_existing_tolerations_are_respected():
    own = core.Pod(spec=core.PodSpec(tolerations=[core.Toleration(key=NOT_READY_TAINT, operator="Exists", effect="NoExecute", toleration_seconds=10)]))
    default_toleration_seconds(own)
    keys = [(t.key, t.toleration_seconds) for t in own.spec.tolerations]
    assert keys == [(NOT_READY_TAINT, 10), (UNREACHABLE_TAINT, DEFAULT_TOLERATION_SECONDS)]
    everything = core.Pod(spec=core.PodSpec(tolerations=[core.Toleration(operator="Exists")]))
    default_toleration_seconds(everything)
    assert len(everything.spec.tolerations) == 1
    no_execute_any_effect = core.Pod(spec=core.PodSpec(tolerations=[core.Toleration(key=UNREACHABLE_TAINT, operator="Exists")]))
    default_toleration_seconds(no_execute_any_effect)
    assert [t.key for t in no_execute_any_effect.spec.tolerations] == [UNREACHABLE_TAINT, NOT_READY_TAINT]


# --------------------------------------------------------------------------- NamespaceLifecycle


async def test_namespace_lifecycle_refuses_missing_namespaces(registry):
    with pytest.raises(NotFound) as info:
        await registry.storage(by_kind("v1", "ConfigMap")).create("ghost", configmap(), CTX)
    status = info.value.status()
    assert status["message"] == 'namespaces "ghost" not found'
    assert status["details"] == {"name": "ghost", "kind": "namespaces"}


async def test_namespace_lifecycle_refuses_terminating_namespaces(registry):
    namespaces = registry.storage(by_kind("v1", "Namespace"))
    await namespaces.create(None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "old"}}, CTX)
    assert await registry.namespace_phase("old") == "Active"
    await namespaces.delete(None, "old", {}, CTX)
    assert await registry.namespace_phase("old") == "Terminating"
    assert await registry.namespace_exists("old") and not await registry.namespace_exists("never")
    with pytest.raises(Forbidden) as info:
        await registry.storage(by_kind("apps/v1", "Deployment")).create(
            "old",
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "d"},
                "spec": {
                    "selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
                },
            },
            CTX,
        )
    status = info.value.status()
    assert status["code"] == 403
    assert status["message"] == (
        'deployments.apps "d" is forbidden: unable to create new content in namespace old because it is being terminated'
    )


async def test_updates_in_a_terminating_namespace_are_allowed(registry):
    namespaces = registry.storage(by_kind("v1", "Namespace"))
    configmaps = registry.storage(by_kind("v1", "ConfigMap"))
    await namespaces.create(None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "old"}}, CTX)
    await configmaps.create("old", configmap(), CTX)
    await namespaces.delete(None, "old", {}, CTX)
    updated = await configmaps.patch("old", "cm", "merge", b'{"data":{"a":"2"}}', CTX)
    assert updated["data"] == {"a": "2"}


async def test_namespaces_created_just_now_are_seen(registry):
    namespaces = registry.storage(by_kind("v1", "Namespace"))
    configmaps = registry.storage(by_kind("v1", "ConfigMap"))
    for i in range(5):
        await namespaces.create(None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"n{i}"}}, CTX)
        await configmaps.create(f"n{i}", configmap(), CTX)


@pytest.mark.parametrize("cached,stored,refused", [
    ("Active", None, None),                # the cached phase is trusted: the store is not asked
    (None, "Active", None),                # unknown to the cache: the store's answer decides
    (None, None, NotFound),
    (None, "Terminating", Forbidden),
    ("Terminating", "Active", Forbidden),
])
async def test_namespace_lifecycle_asks_the_cached_phase_first(cached, stored, refused):
    asked = []

    async def phase(name):
        asked.append(name)
        return stored

    admission = Admission(phase, None, cached_namespace_phase=lambda name: cached)
    request = AdmissionRequest("CREATE", by_kind("v1", "ConfigMap"), "ns", "cm", user=ALICE)
    if refused is None:
        await _validated(admission, request)
    else:
        with pytest.raises(refused):
            await _validated(admission, request)
    assert asked == ([] if cached is not None else ["ns"])


async def _validated(admission, request):
    pending = admission.validate(request)
    if pending is not None:
        await pending


def test_without_plugins_a_write_the_built_ins_can_judge_at_once_leaves_nothing_to_await():
    async def phase(name):
        raise AssertionError("the cached phase answers")

    admission = Admission(phase, get_plugin_manager(load_entrypoints=False), cached_namespace_phase=lambda name: "Active")
    pod = decode({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                  "spec": {"containers": [{"name": "c", "image": "i"}]}})
    request = AdmissionRequest("CREATE", by_kind("v1", "Pod"), "ns", "p", object=pod, user=ALICE)
    assert admission.mutate(request) is None
    assert [t.key for t in pod.spec.tolerations] == [NOT_READY_TAINT, UNREACHABLE_TAINT]  # done already
    assert admission.validate(request) is None
    with pytest.raises(Forbidden):
        admission.validate(AdmissionRequest("DELETE", by_kind("v1", "Namespace"), None, "default", user=ALICE))


async def test_validation_without_plugins_refuses_as_the_built_ins_do_and_asks_no_plugin():
    """``validate(plugins=False)``: NamespaceLifecycle and the other built-ins, never a plugin's hook."""
    async def phase(name):
        return None  # no such namespace

    recorder = Recorder()
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(recorder, name="policy")
    admission = Admission(phase, pm)
    missing = AdmissionRequest("CREATE", by_kind("v1", "ConfigMap"), "gone", "cm", user=ALICE)
    with pytest.raises(NotFound):
        await admission.validate(missing, plugins=False)
    with pytest.raises(Forbidden):
        admission.validate(AdmissionRequest("DELETE", by_kind("v1", "Namespace"), None, "default", user=ALICE), False)
    admission = Admission(phase, pm, cached_namespace_phase=lambda name: "Active")
    assert admission.validate(AdmissionRequest("CREATE", by_kind("v1", "ConfigMap"), "ns", "cm", user=ALICE),
                              plugins=False) is None
    assert recorder.validated == []


@pytest.mark.parametrize(("kind", "namespace", "cached", "admitted"), [
    (("v1", "Event"), "ns", "Active", True),
    (("v1", "Event"), "ns", "Terminating", False),  # validate refuses it, and says why
    (("v1", "Event"), "ns", None, False),  # the cache cannot tell: validate asks the store
    (("v1", "Namespace"), None, None, True),  # cluster-scoped: no namespace to be in
    (("v1", "Node"), None, "Active", False),  # NodeRestriction looks at the request
])
async def test_a_plain_create_is_admitted_at_once_only_where_validate_would_admit_it(kind, namespace, cached,
                                                                                    admitted):
    async def phase(name):
        return None  # not in the store either

    admission = Admission(phase, None, cached_namespace_phase=lambda name: cached)
    rtype = by_kind(*kind)
    assert admission.admits_plain_create(rtype, namespace) is admitted
    if admitted:  # then validate lets it through too
        await _validated(admission, AdmissionRequest("CREATE", rtype, namespace, "x", user=ALICE))
    else:  # and validate refuses some of them (a node agent's create of another node, here)
        node = UserInfo("system:node:a", NODE, ("system:nodes",))
        with pytest.raises((Forbidden, NotFound)):
            await _validated(admission, AdmissionRequest("CREATE", rtype, namespace, "x", user=node))


# --------------------------------------------------------------------------- plugin hooks


async def test_hooks_see_the_request_and_mutations_are_stored():
    recorder = Recorder()
    store, reg = await registry_with(recorder)
    try:
        configmaps = reg.storage(by_kind("v1", "ConfigMap"))
        created = await configmaps.create("default", configmap(), CTX)
        assert created["metadata"]["labels"] == {"admitted": "yes"}
        request = recorder.validated[-1]
        assert request.operation == "CREATE" and request.resource.plural == "configmaps"
        assert (request.namespace, request.name, request.user, request.dry_run) == ("default", "cm", ALICE, False)
        assert request.object.data == {"a": "1"} and request.old_object is None
        await configmaps.patch("default", "cm", "merge", b'{"data":{"a":"2"}}', RequestContext(ALICE, dry_run=True))
        update = recorder.validated[-1]
        assert update.operation == "UPDATE" and update.dry_run
        assert update.old_object.data == {"a": "1"} and update.object.data == {"a": "2"}
        await configmaps.delete("default", "cm", {}, CTX)
        delete = recorder.validated[-1]
        assert delete.operation == "DELETE" and delete.object is None and delete.name == "cm"
    finally:
        await reg.stop()
        await store.close()


async def test_a_plugin_registered_after_writes_were_admitted_is_consulted_from_then_on():
    store, reg = await registry_with()
    try:
        configmaps = reg.storage(by_kind("v1", "ConfigMap"))
        await configmaps.create("default", configmap("before"), CTX)
        assert not configmaps.admission.has_plugins
        recorder = Recorder(refuse_with="not now")
        reg.plugin_manager.register(recorder, name="late-policy")
        assert configmaps.admission.has_plugins
        with pytest.raises(Forbidden, match="not now"):
            await configmaps.create("default", configmap("after"), CTX)
        assert [r.name for r in recorder.mutated] == ["after"]
        reg.plugin_manager.unregister(recorder)
        assert not configmaps.admission.has_plugins
        await configmaps.create("default", configmap("again"), CTX)
    finally:
        await reg.stop()
        await store.close()


async def test_returned_field_errors_deny_with_422_naming_the_plugin():
    store, reg = await registry_with(Recorder(refuse_with=[FieldError.invalid("data.a", "1", "must be a word")]))
    try:
        with pytest.raises(Invalid) as info:
            await reg.storage(by_kind("v1", "ConfigMap")).create("default", configmap(), CTX)
        status = info.value.status()
        assert status["code"] == 422
        assert status["message"] == 'admission webhook "policy" denied the request: data.a: Invalid value: "1": must be a word'
        assert status["details"]["causes"] == [{"reason": "FieldValueInvalid", "message": 'Invalid value: "1": must be a word', "field": "data.a"}]
    finally:
        await reg.stop()
        await store.close()


async def test_returned_messages_deny_with_403():
    store, reg = await registry_with(Recorder(refuse_with=["configmaps are not welcome here"]))
    try:
        with pytest.raises(Forbidden) as info:
            await reg.storage(by_kind("v1", "ConfigMap")).create("default", configmap(), CTX)
        assert info.value.message == 'admission webhook "policy" denied the request: configmaps are not welcome here'
        with pytest.raises(NotFound):
            await reg.storage(by_kind("v1", "ConfigMap")).get("default", "cm")
    finally:
        await reg.stop()
        await store.close()


async def test_validation_error_raised_by_a_mutating_hook_is_422():
    refusal = ValidationError([FieldError.required("metadata.labels.team")])
    store, reg = await registry_with(Recorder(raise_in_mutate=refusal))
    try:
        with pytest.raises(Invalid) as info:
            await reg.storage(by_kind("v1", "ConfigMap")).create("default", configmap(), CTX)
        assert info.value.message == 'admission webhook "policy" denied the request: metadata.labels.team: Required value'
    finally:
        await reg.stop()
        await store.close()


async def test_a_failing_plugin_is_an_internal_error_naming_it():
    store, reg = await registry_with(Recorder(raise_in_mutate=RuntimeError("boom")))
    try:
        with pytest.raises(InternalError) as info:
            await reg.storage(by_kind("v1", "ConfigMap")).create("default", configmap(), CTX)
        assert info.value.status()["code"] == 500
        assert info.value.message == "admission plugin \"policy\" failed: RuntimeError('boom')"
    finally:
        await reg.stop()
        await store.close()


async def test_node_restriction_lets_a_node_create_only_its_own_node(registry):
    from orchestra.apiserver.request import NODE, UserInfo
    from orchestra.apiserver.storage import RequestContext

    nodes = registry.storage(by_resource("", "v1", "nodes"))
    ctx = RequestContext(user=UserInfo("system:node:n1", role=NODE, groups=("system:nodes",)))
    created = await nodes.create(None, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}, ctx)
    assert created["metadata"]["name"] == "n1"
    with pytest.raises(Forbidden, match='node "n1" is not allowed to modify node "n2"'):
        await nodes.create(None, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n2"}}, ctx)


async def test_a_binding_reaches_the_hooks_as_an_update_of_the_pod():
    recorder = Recorder()
    store, reg = await registry_with(recorder)
    try:
        pods = reg.storage(by_kind("v1", "Pod"))
        await pods.create("default", pod(), CTX)
        recorder.mutated.clear()
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"}, "target": {"name": "n1"}}
        await pods.bind("default", "web", binding, CTX)
        (request,) = recorder.mutated
        assert request.operation == "UPDATE" and request.resource.plural == "pods"
        assert request.object.spec.node_name == "n1" and request.old_object.spec.node_name is None
        assert (await pods.get("default", "web"))["spec"]["nodeName"] == "n1"
    finally:
        await reg.stop()
        await store.close()


async def test_plugins_see_every_event_decoded_even_a_plain_one():
    """A plain Event is stored without being decoded only while no plugin would see it."""
    recorder = Recorder()
    store, reg = await registry_with(recorder)
    try:
        events = reg.storage(by_kind("v1", "Event"))
        body = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1", "namespace": "default"},
                "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"}, "reason": "Scheduled",
                "type": "Normal", "count": 1}
        await events.create("default", body, CTX, owned=True)
        for seen in (recorder.mutated, recorder.validated):
            assert [type(r.object) for r in seen if r.resource.kind == "Event"] == [core.Event]
    finally:
        await reg.stop()
        await store.close()
