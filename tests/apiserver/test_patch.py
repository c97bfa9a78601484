"""Tests for orchestra.apiserver.patch: merge patch, JSON patch, strategic merge patch."""

from __future__ import annotations

import copy
import json
import sys

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.apiserver.errors import BadRequest, Invalid, RequestEntityTooLarge, UnsupportedMediaType
from orchestra.apiserver.patch import (
    MAX_JSON_PATCH_OPERATIONS,
    PATCH_TYPES,
    apply_patch,
    json_merge_patch,
    json_patch,
    parse_patch,
    patch_in_place,
    patch_type_of,
    strategic_merge_patch,
    touches_status_only,
)

SMP = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def smp(original: dict, patch: dict, kind: str = "Deployment", api_version: str = "apps/v1") -> dict:
    return apply_patch(original, SMP, orjson.dumps(patch), kind=kind, api_version=api_version)


# --------------------------------------------------------------------------- content types


def test_patch_type_of_accepts_the_three_patch_types_and_parameters():
    assert patch_type_of("application/json-patch+json") == "json"
    assert patch_type_of("application/merge-patch+json; charset=utf-8") == "merge"
    assert patch_type_of("application/strategic-merge-patch+json") == "strategic"
    assert patch_type_of("merge") == "merge"
    assert set(PATCH_TYPES.values()) == {"json", "merge", "strategic"}


def test_unknown_patch_content_type_is_415_naming_the_supported_ones():
    with pytest.raises(UnsupportedMediaType) as info:
        patch_type_of("application/json")
    assert info.value.code == 415
    for media in PATCH_TYPES:
        assert media in info.value.message


def test_server_side_apply_is_refused_with_a_clear_message():
    with pytest.raises(UnsupportedMediaType) as info:
        apply_patch({}, "application/apply-patch+yaml", b"a: 1", kind="Pod", api_version="v1")
    assert "server-side apply" in info.value.message
    assert "kubectl apply" in info.value.message


@pytest.mark.parametrize("content_type", [MERGE, JSON_PATCH, SMP])
def test_malformed_body_is_400(content_type):
    with pytest.raises(BadRequest) as info:
        apply_patch({"kind": "Pod"}, content_type, b"{not json", kind="Pod", api_version="v1")
    assert info.value.code == 400


# --------------------------------------------------------------------------- RFC 7386

# The examples of RFC 7386, appendix A.
RFC7386_CASES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "expected"), RFC7386_CASES)
def test_json_merge_patch_rfc7386_examples(original, patch, expected):
    before = copy.deepcopy(original)
    assert json_merge_patch(original, patch) == expected
    assert original == before


def test_merge_patch_must_be_an_object():
    with pytest.raises(BadRequest):
        apply_patch({"a": 1}, MERGE, b"[1]", kind="Pod", api_version="v1")
    with pytest.raises(BadRequest):
        apply_patch({"a": 1}, MERGE, b"null", kind="Pod", api_version="v1")


def test_kubectl_label_and_annotate_send_merge_patches():
    original = {"metadata": {"name": "web", "labels": {"app": "web"}}}
    labelled = apply_patch(original, MERGE, b'{"metadata":{"labels":{"x":"y"}}}', kind="Deployment", api_version="apps/v1")
    assert labelled["metadata"]["labels"] == {"app": "web", "x": "y"}
    unlabelled = apply_patch(labelled, MERGE, b'{"metadata":{"labels":{"x":null}}}', kind="Deployment", api_version="apps/v1")
    assert unlabelled["metadata"]["labels"] == {"app": "web"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=10,
)
objects = st.dictionaries(st.text(max_size=3), json_values, max_size=4)


def _without_nulls(value):
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


@given(objects, objects)
def test_merge_patch_never_mutates_and_null_free_patch_keys_win(original, patch):
    before = copy.deepcopy(original)
    result = json_merge_patch(original, patch)
    assert original == before
    for key, value in patch.items():
        if value is None:
            assert key not in result
        elif not isinstance(value, dict):
            assert result[key] == value


@given(objects)
def test_merge_patch_onto_empty_object_drops_nulls(patch):
    assert json_merge_patch({}, patch) == _without_nulls(patch)


# --------------------------------------------------------------------------- RFC 6902


def jp(original, operations):
    return apply_patch(original, JSON_PATCH, json.dumps(operations).encode(), kind="Pod", api_version="v1")


RFC6902_CASES = [
    # A.1 .. A.10, A.14, A.16 of RFC 6902
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"baz": "qux", "foo": "bar"}),
    ({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}], {"foo": ["bar", "qux", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}], {"baz": "boo", "foo": "bar"}),
    (
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
    ),
    (
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
    ),
    (
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
        {"baz": "qux", "foo": ["a", 2, "c"]},
    ),
    ({"foo": "bar"}, [{"op": "add", "path": "/child", "value": {"grandchild": {}}}], {"foo": "bar", "child": {"grandchild": {}}}),
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
    ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}], {"foo": ["bar", ["abc", "def"]]}),
    ({"a/b": 1}, [{"op": "copy", "from": "/a~1b", "path": "/c"}], {"a/b": 1, "c": 1}),
]


@pytest.mark.parametrize(("original", "operations", "expected"), RFC6902_CASES)
def test_json_patch_rfc6902_examples(original, operations, expected):
    before = copy.deepcopy(original)
    assert jp(original, operations) == expected
    assert original == before


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "test", "path": "/baz", "value": "bar"}],  # A.9: a failed test
        [{"op": "add", "path": "/baz/bat", "value": "qux"}],  # A.12: adding to a missing parent
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/missing", "value": 1}],
        [{"op": "add", "path": "/foo/5", "value": 1}],
        [{"op": "add", "path": "/foo/01", "value": 1}],
        [{"op": "frobnicate", "path": "/baz"}],
        [{"op": "add", "path": "/x"}],
        [{"op": "test", "path": "/foo/0", "value": True}],  # 1 is not true
    ],
)
def test_json_patch_that_cannot_apply_is_kubernetes_422(operations):
    original = {"baz": "qux", "foo": [1]}
    with pytest.raises(Invalid) as info:
        jp(original, operations)
    status = info.value.status()
    assert status["code"] == 422
    assert status["reason"] == "Invalid"
    assert status["message"] == "the server rejected our request due to an error in our request"
    assert original == {"baz": "qux", "foo": [1]}


def test_json_patch_is_atomic():
    original = {"a": 1}
    with pytest.raises(Invalid):
        jp(original, [{"op": "add", "path": "/b", "value": 2}, {"op": "test", "path": "/a", "value": 5}])
    assert original == {"a": 1}


def test_json_patch_test_of_resource_version_precondition():
    pod = {"metadata": {"name": "p", "resourceVersion": "7"}}
    patched = jp(pod, [{"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
                       {"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}])
    assert patched["metadata"]["labels"] == {"a": "b"}


def test_json_patch_numbers_compare_as_json():
    assert jp({"a": 1}, [{"op": "test", "path": "/a", "value": 1.0}]) == {"a": 1}


@pytest.mark.parametrize("body", [b'{"op": "add"}', b'"x"', b"[1, 2]"])
def test_json_patch_of_wrong_shape_is_400(body):
    with pytest.raises(BadRequest):
        apply_patch({}, JSON_PATCH, body, kind="Pod", api_version="v1")


def test_too_many_json_patch_operations_is_413():
    ops = [{"op": "test", "path": "/a", "value": 1}] * (MAX_JSON_PATCH_OPERATIONS + 1)
    with pytest.raises(RequestEntityTooLarge):
        json_patch({"a": 1}, ops)


def test_json_patch_add_then_remove_is_identity():
    original = {"spec": {"containers": [{"name": "a"}]}}
    result = jp(original, [{"op": "add", "path": "/spec/containers/-", "value": {"name": "b"}},
                           {"op": "remove", "path": "/spec/containers/1"}])
    assert result == original


# --------------------------------------------------------------------------- strategic merge patch: kubectl


def deployment(**spec) -> dict:
    base = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "finalizers": ["example.com/a"], "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "unmodelledField": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "image": "nginx:1.25",
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80}, {"containerPort": 443}],
                        }
                    ]
                },
            },
        },
    }
    base["spec"].update(spec)
    return base


# Body kubectl 1.32 sent for `kubectl apply` after the image changed, env A and port 443 were
# removed, replicas went 2 -> 3 and finalizer a was replaced by b (captured from a test server).
KUBECTL_APPLY_PATCH = {
    "metadata": {
        "$deleteFromPrimitiveList/finalizers": ["example.com/a"],
        "$setElementOrder/finalizers": ["example.com/b"],
        "finalizers": ["example.com/b"],
    },
    "spec": {
        "replicas": 3,
        "template": {
            "spec": {
                "$setElementOrder/containers": [{"name": "nginx"}],
                "containers": [
                    {
                        "$setElementOrder/env": [{"name": "B"}],
                        "$setElementOrder/ports": [{"containerPort": 80}],
                        "env": [{"$patch": "delete", "name": "A"}],
                        "image": "nginx:1.26",
                        "name": "nginx",
                        "ports": [{"$patch": "delete", "containerPort": 443}],
                    }
                ],
            }
        },
    },
}


def test_kubectl_apply_change_and_removals():
    original = deployment()
    result = smp(original, KUBECTL_APPLY_PATCH)
    container = result["spec"]["template"]["spec"]["containers"][0]
    assert container == {
        "name": "nginx",
        "image": "nginx:1.26",
        "env": [{"name": "B", "value": "2"}],
        "ports": [{"containerPort": 80}],
    }
    assert result["spec"]["replicas"] == 3
    assert result["spec"]["unmodelledField"] == 3
    assert result["metadata"]["finalizers"] == ["example.com/b"]
    assert original == deployment()


def test_kubectl_set_env_add_and_remove():
    added = smp(deployment(), {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}],
        "containers": [{"$setElementOrder/env": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
                        "env": [{"name": "C", "value": "3"}], "name": "nginx"}]}}}})
    env = added["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}]
    removed = smp(added, {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}],
        "containers": [{"$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
                        "env": [{"$patch": "delete", "name": "B"}], "name": "nginx"}]}}}})
    env = removed["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env] == ["A", "C"]


def test_kubectl_rollout_restart_pause_resume():
    restarted = smp(deployment(), {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}}}}})
    assert restarted["spec"]["template"]["metadata"] == {
        "labels": {"app": "web"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"},
    }
    paused = smp(restarted, {"spec": {"paused": True}})
    assert paused["spec"]["paused"] is True
    resumed = smp(paused, {"spec": {"paused": None}})
    assert "paused" not in resumed["spec"]


def test_kubectl_scale_merge_patch_on_the_scale_subresource():
    scale = {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "web"}, "spec": {"replicas": 2}}
    assert apply_patch(scale, MERGE, b'{"spec":{"replicas":5}}', kind="Scale", api_version="autoscaling/v1")["spec"] == {"replicas": 5}
    assert smp(scale, {"spec": {"replicas": 4}}, kind="Scale", api_version="autoscaling/v1")["spec"] == {"replicas": 4}


def test_adding_a_container_appends_it_by_merge_key():
    result = smp(deployment(), {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox"}]}}}})
    names = [c["name"] for c in result["spec"]["template"]["spec"]["containers"]]
    assert names == ["nginx", "sidecar"]


def test_set_element_order_reorders_and_keeps_server_only_items_in_place():
    pod = {"kind": "Pod", "spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}
    result = smp(pod, {"spec": {"$setElementOrder/containers": [{"name": "x"}, {"name": "c"}, {"name": "a"}],
                                "containers": [{"name": "x", "image": "i"}]}}, kind="Pod", api_version="v1")
    # x is new, c and a are reordered as asked; b (server only) sorts before c, after the new x.
    assert [c["name"] for c in result["spec"]["containers"]] == ["x", "b", "c", "a"]


def test_set_element_order_of_a_primitive_list():
    meta = {"kind": "Pod", "metadata": {"finalizers": ["a", "b"]}}
    result = smp(meta, {"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"], "finalizers": ["c"]}},
                 kind="Pod", api_version="v1")
    assert result["metadata"]["finalizers"] == ["c", "b", "a"]


# --------------------------------------------------------------------------- strategic merge patch: rules


def test_primitive_merge_list_is_a_deduplicated_union():
    pod = {"metadata": {"finalizers": ["a", "b"]}}
    result = smp(pod, {"metadata": {"finalizers": ["b", "c"]}}, kind="Pod", api_version="v1")
    assert result["metadata"]["finalizers"] == ["a", "b", "c"]


def test_delete_from_primitive_list():
    pod = {"metadata": {"finalizers": ["a", "b", "c"]}}
    result = smp(pod, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}, kind="Pod", api_version="v1")
    assert result["metadata"]["finalizers"] == ["a", "c"]


def test_list_without_strategy_is_replaced():
    pod = {"spec": {"tolerations": [{"key": "a", "operator": "Exists"}], "containers": [{"name": "c", "args": ["x", "y"]}]}}
    result = smp(pod, {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}],
                                "containers": [{"name": "c", "args": ["z"]}]}}, kind="Pod", api_version="v1")
    assert result["spec"]["tolerations"] == [{"key": "b", "operator": "Exists"}]
    assert result["spec"]["containers"] == [{"name": "c", "args": ["z"]}]


def test_merge_keys_of_ports_volume_mounts_volumes_and_conditions():
    pod = {
        "spec": {
            "volumes": [{"name": "v", "emptyDir": {}}],
            "containers": [{"name": "c", "ports": [{"containerPort": 80, "name": "http"}],
                            "volumeMounts": [{"name": "v", "mountPath": "/a"}]}],
        },
        "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]},
    }
    result = smp(pod, {
        "spec": {
            "volumes": [{"name": "w", "configMap": {"name": "cm"}}],
            "containers": [{"name": "c", "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "volumeMounts": [{"mountPath": "/a", "readOnly": True}]}],
        },
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }, kind="Pod", api_version="v1")
    container = result["spec"]["containers"][0]
    assert container["ports"] == [{"containerPort": 80, "name": "http", "protocol": "TCP"}]
    assert container["volumeMounts"] == [{"name": "v", "mountPath": "/a", "readOnly": True}]
    assert [v["name"] for v in result["spec"]["volumes"]] == ["v", "w"]
    assert result["status"]["conditions"] == [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}]


def test_owner_references_merge_by_uid_and_service_ports_by_port():
    svc = {"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]},
           "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    result = smp(svc, {"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]},
                       "spec": {"ports": [{"port": 80, "targetPort": "http"}]}}, kind="Service", api_version="v1")
    assert [o["uid"] for o in result["metadata"]["ownerReferences"]] == ["1", "2"]
    assert result["spec"]["ports"] == [{"port": 80, "targetPort": "http"}, {"port": 443}]


def test_retain_keys_drops_keys_not_listed():
    # kubectl apply switching a Deployment from RollingUpdate to Recreate.
    original = deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}})
    result = smp(original, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}})
    assert result["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_in_volumes_switches_the_source():
    pod = {"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}
    result = smp(pod, {"spec": {"volumes": [{"$retainKeys": ["configMap", "name"], "name": "v",
                                             "configMap": {"name": "cm"}}]}}, kind="Pod", api_version="v1")
    assert result["spec"]["volumes"] == [{"name": "v", "configMap": {"name": "cm"}}]


def test_patch_replace_directive_in_a_map_and_in_a_list():
    original = deployment()
    replaced = smp(original, {"metadata": {"labels": {"$patch": "replace", "new": "x"}}})
    assert replaced["metadata"]["labels"] == {"new": "x"}
    replaced_list = smp(original, {"spec": {"template": {"spec": {"containers": [
        {"name": "only", "image": "busybox"}, {"$patch": "replace"}]}}}})
    assert replaced_list["spec"]["template"]["spec"]["containers"] == [{"name": "only", "image": "busybox"}]


def test_patch_delete_directive_in_a_map_empties_it():
    result = smp(deployment(), {"spec": {"selector": {"$patch": "delete"}}})
    assert result["spec"]["selector"] == {}


def test_null_deletes_and_nested_maps_merge():
    result = smp(deployment(), {"metadata": {"labels": {"app": None, "tier": "front"}}, "spec": {"unmodelledField": None}})
    assert result["metadata"]["labels"] == {"tier": "front"}
    assert "unmodelledField" not in result["spec"]


def test_unmodelled_fields_merge_generically():
    original = deployment(extraMap={"a": 1, "b": {"c": 2}}, extraList=[1, 2])
    result = smp(original, {"spec": {"extraMap": {"b": {"d": 3}, "a": None}, "extraList": [3]}})
    assert result["spec"]["extraMap"] == {"b": {"c": 2, "d": 3}}
    assert result["spec"]["extraList"] == [3]


def test_new_keys_lose_their_directives_and_nulls():
    pod = {"spec": {}}
    result = smp(pod, {"spec": {"containers": [{"name": "c", "env": [{"name": "A", "value": "1"}, {"$patch": "delete", "name": "B"}]}],
                                "nodeSelector": {"a": "b", "c": None}}}, kind="Pod", api_version="v1")
    assert result["spec"] == {"containers": [{"name": "c", "env": [{"name": "A", "value": "1"}]}], "nodeSelector": {"a": "b"}}


def test_an_added_list_element_of_scalars_loses_its_nulls_and_keeps_its_order():
    pod = {"status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}}
    condition = {"type": "DisruptionTarget", "status": "True", "lastProbeTime": None, "reason": "PreemptionByScheduler"}
    result = smp(pod, {"status": {"conditions": [condition]}}, kind="Pod", api_version="v1")
    added = result["status"]["conditions"][1]
    assert list(added.items()) == [("type", "DisruptionTarget"), ("status", "True"), ("reason", "PreemptionByScheduler")]
    assert added is not condition


def test_merge_keys_that_are_not_strings_match_as_json_values():
    service = {"spec": {"ports": [{"port": 80, "name": "http"}]}}
    result = smp(service, {"spec": {"ports": [{"port": 80.0, "targetPort": 8080}]}}, kind="Service", api_version="v1")
    assert result["spec"]["ports"] == [{"port": 80, "name": "http", "targetPort": 8080}]
    result = smp(service, {"spec": {"ports": [{"port": "80", "targetPort": 8080}]}}, kind="Service", api_version="v1")
    assert [p["port"] for p in result["spec"]["ports"]] == [80, "80"]


def test_endpoints_subsets_and_node_taints_are_replaced():
    ep = {"subsets": [{"addresses": [{"ip": "1.1.1.1"}]}]}
    assert smp(ep, {"subsets": [{"addresses": [{"ip": "2.2.2.2"}]}]}, kind="Endpoints", api_version="v1") == {
        "subsets": [{"addresses": [{"ip": "2.2.2.2"}]}]}
    node = {"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}}
    assert smp(node, {"spec": {"taints": [{"key": "b", "effect": "NoSchedule"}]}}, kind="Node", api_version="v1")[
        "spec"]["taints"] == [{"key": "b", "effect": "NoSchedule"}]


def test_missing_merge_key_is_400():
    with pytest.raises(BadRequest) as info:
        smp(deployment(), {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}})
    assert "merge key" in info.value.message


@pytest.mark.parametrize("patch", [
    {"spec": {"template": {"spec": {"containers": [{"$patch": "merge"}]}}}},
    {"spec": {"selector": {"$patch": "bogus"}}},
    {"spec": {"strategy": {"$retainKeys": "type"}}},
    {"spec": {"strategy": {"$retainKeys": [{"a": 1}]}}},
    {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
])
def test_bad_directives_are_400(patch):
    with pytest.raises(BadRequest):
        smp(deployment(), patch)


def test_strategic_patch_must_be_an_object():
    with pytest.raises(BadRequest):
        apply_patch({}, SMP, b"[]", kind="Pod", api_version="v1")


def test_strategic_patch_of_an_unknown_kind_is_415():
    with pytest.raises(UnsupportedMediaType):
        strategic_merge_patch({}, {}, kind="Widget", api_version="example.com/v1")


def _containers(value, found=None):
    """The ids of every dict and list in ``value``."""
    found = set() if found is None else found
    if type(value) in (dict, list):
        found.add(id(value))
        for child in value.values() if type(value) is dict else value:
            _containers(child, found)
    return found


_DOCUMENTS = [
    ("strategic", {"spec": {"template": {"spec": {"containers": [{"name": "new", "env": [{"name": "X"}]}]}}}}),
    ("strategic", {"spec": {"template": {"$patch": "replace", "metadata": {"labels": {"a": "b"}}}}}),
    ("strategic", {"metadata": {"$setElementOrder/finalizers": ["b", "a"], "finalizers": ["b"]}}),
    ("merge", {"spec": {"selector": {"matchLabels": {"x": "y"}}, "template": {"spec": {"volumes": [{"name": "v"}]}}}}),
    ("json", [{"op": "add", "path": "/spec/extra", "value": {"list": [1, {"a": []}]}},
              {"op": "replace", "path": "/spec/replicas", "value": 3}]),
]


@pytest.mark.parametrize("patch_type, document", _DOCUMENTS)
def test_a_decoded_document_is_applied_as_it_is_and_never_changed_or_kept(patch_type, document):
    before = copy.deepcopy(document)
    assert parse_patch(document) is document  # taken as it is: no copy
    first = apply_patch(deployment(), patch_type, document, kind="Deployment", api_version="apps/v1")
    second = apply_patch(deployment(), patch_type, document, kind="Deployment", api_version="apps/v1")
    assert document == before and first == second  # so one document may be applied again (a retry)
    assert not _containers(first) & _containers(document)


def test_parse_patch_reads_bytes_and_strings_and_reports_bad_json():
    assert parse_patch(b'{"a":1}') == {"a": 1} == parse_patch('{"a":1}')
    with pytest.raises(BadRequest, match="error decoding patch"):
        parse_patch(b"{nope")


@pytest.mark.parametrize("patch_type, document, expected", [
    (SMP, {"status": {"phase": "Running"}}, True),
    (MERGE, {"status": None}, True),
    (SMP, {"status": {}, "spec": {}}, False),
    (MERGE, {"metadata": {}}, False),
    (MERGE, [], False),
    (JSON_PATCH, [{"op": "replace", "path": "/status/phase", "value": "x"}, {"op": "add", "path": "/status"}], True),
    (JSON_PATCH, [{"op": "copy", "from": "/spec", "path": "/status/x"}], False),
    (JSON_PATCH, [{"op": "add", "path": "/statusx"}], False),
    (JSON_PATCH, [], False),
    (JSON_PATCH, ["add"], False),
])
def test_touches_status_only(patch_type, document, expected):
    assert touches_status_only(patch_type, document) is expected


@given(objects)
def test_strategic_patch_never_mutates_the_original(extra):
    original = deployment(extra=extra)
    before = copy.deepcopy(original)
    smp(original, {"spec": {"extra": extra, "replicas": 9}})
    assert original == before


def test_json_patch_copies_are_bounded():
    # Found by tests/e2e/test_fuzz.py: each copy of a value into itself doubles the document,
    # so a few dozen operations used to exhaust the server's memory.
    from orchestra.apiserver.patch import MAX_JSON_PATCH_COPY_BYTES

    original = {"a": {"b": "x" * 100}}
    operations = [{"op": "copy", "from": "/a", "path": f"/a/c{i}"} for i in range(60)]
    with pytest.raises(RequestEntityTooLarge, match=str(MAX_JSON_PATCH_COPY_BYTES)):
        json_patch(original, operations)
    assert original == {"a": {"b": "x" * 100}}


def test_json_patch_small_copies_still_work():
    result = json_patch({"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": f"/c{i}"} for i in range(100)])
    assert all(result[f"c{i}"] == {"b": 1} for i in range(100))


# --------------------------------------------------------------------------- in place (the server's own copy)


def _rfc7386(target, patch):
    """RFC 7386's MergePatch pseudo-code, verbatim, on copies."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _rfc7386(result.get(key), value)
    return result


@given(objects, objects)
def test_merge_patch_in_place_equals_the_copying_patch_and_the_rfc(original, patch):
    expected = _rfc7386(original, patch)
    assert json_merge_patch(original, patch) == expected
    owned = copy.deepcopy(original)
    assert json_merge_patch(owned, patch, in_place=True) == expected


@given(objects, objects)
def test_json_patch_in_place_equals_the_copying_patch(original, value):
    operations = [{"op": "add", "path": "/added", "value": value}, {"op": "remove", "path": "/added"},
                  {"op": "add", "path": "/kept", "value": value}]
    expected = json_patch(original, operations)
    owned = copy.deepcopy(original)
    assert json_patch(owned, operations, in_place=True) == expected


condition_types = st.sampled_from(["PodScheduled", "Ready", "Initialized", "ContainersReady", "DisruptionTarget"])
conditions = st.lists(
    st.fixed_dictionaries({"type": condition_types, "status": st.sampled_from(["True", "False", "Unknown"])},
                          optional={"reason": st.text(max_size=5), "message": st.text(max_size=5)}),
    max_size=4, unique_by=lambda c: c["type"])


@given(conditions, conditions, st.one_of(st.none(), st.text(max_size=5)), objects)
def test_pod_status_strategic_patch_in_place_equals_the_copying_patch(stored, patched, nominated, extra):
    original = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i"}], "extra": extra},
                "status": {"phase": "Pending", "conditions": stored}}
    patch = {"status": {"conditions": patched, "nominatedNodeName": nominated}}
    expected = strategic_merge_patch(original, patch, kind="Pod", api_version="v1")
    owned = copy.deepcopy(original)
    result = strategic_merge_patch(owned, patch, kind="Pod", api_version="v1", in_place=True)
    assert result == expected
    merged = {c["type"]: c for c in stored}
    for condition in patched:
        merged[condition["type"]] = {**merged.get(condition["type"], {}), **condition}
    assert {c["type"]: c for c in result["status"]["conditions"]} == merged


def test_a_strategic_merge_patch_nested_past_the_recursion_limit_is_a_recursion_error_not_a_crash():
    deep: dict = {}
    inner = deep
    for _ in range(sys.getrecursionlimit() + 100):
        inner["data"] = {}
        inner = inner["data"]
    with pytest.raises(RecursionError):
        strategic_merge_patch({}, deep, kind="ConfigMap", api_version="v1")


@pytest.mark.parametrize("short, document", [
    ("strategic", {"status": {"conditions": [{"type": "Ready", "status": "True"}], "phase": "Running"}}),
    ("merge", {"status": {"phase": "Running", "reason": None}}),
    ("json", [{"op": "add", "path": "/status/conditions/-", "value": {"type": "Ready", "status": "True"}}]),
])
def test_patch_in_place_patches_as_apply_patch_does(short, document):
    """The status-only path's call: the same outcome as :func:`apply_patch`, on the caller's own dict."""
    from orchestra.api.core import Pod

    original = {"status": {"phase": "Pending", "reason": "Waiting",
                           "conditions": [{"type": "PodScheduled", "status": "True"}]}}
    expected = apply_patch(original, short, document, kind="Pod", api_version="v1")
    mine = copy.deepcopy(original)
    assert patch_in_place(mine, short, document, Pod) is mine
    assert mine == expected
    with pytest.raises(BadRequest, match="strategic merge patch must be a JSON object"):
        patch_in_place({}, "strategic", ["not", "a", "map"], Pod)
