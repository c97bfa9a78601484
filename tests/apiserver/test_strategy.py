"""Per-kind REST rules: create/update preparation, generation, immutable fields, field labels, grace."""

from __future__ import annotations

import re
import uuid

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.apiserver.strategy import (
    MAX_GENERATED_NAME_LENGTH,
    NAME_SUFFIX_ALPHABET,
    generate_name,
    new_uid,
    strategy_for,
)

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def pod(**spec):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec},
    }


def deployment(replicas=1, app="web"):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "u1", "generation": 3},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
        },
        "status": {"replicas": 1},
    }


# --------------------------------------------------------------------------- names


def test_generated_name_is_base_plus_five_character_suffix():
    name = generate_name("web-")
    assert name.startswith("web-") and len(name) == len("web-") + 5
    assert all(c in NAME_SUFFIX_ALPHABET for c in name[4:])


def test_generated_name_cuts_a_long_base_to_fit_63_characters():
    name = generate_name("a" * 100)
    assert len(name) == MAX_GENERATED_NAME_LENGTH
    assert name.startswith("a" * 58)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=120))
def test_generated_names_never_exceed_the_limit_and_keep_the_prefix(base):
    name = generate_name(base)
    assert len(name) <= MAX_GENERATED_NAME_LENGTH
    assert name.startswith(base[: MAX_GENERATED_NAME_LENGTH - 5])
    assert all(c in NAME_SUFFIX_ALPHABET for c in name[-5:])


def test_uids_are_random_version_4_uuids():
    uids = {new_uid() for _ in range(1000)}  # more than one read-ahead pool of random bytes
    assert len(uids) == 1000
    for uid in uids:
        parsed = uuid.UUID(uid)
        assert str(parsed) == uid and parsed.version == 4 and parsed.variant == uuid.RFC_4122


@given(st.lists(st.binary(min_size=16, max_size=16), max_size=8))
def test_the_uid_kernel_writes_what_the_uuid_module_writes(chunks):
    from orchestra._ext.uids import uuid4_texts

    assert uuid4_texts(b"".join(chunks)) == [str(uuid.UUID(bytes=c, version=4)) for c in chunks]


def test_the_uid_kernel_refuses_a_partial_uuid():
    from orchestra._ext.uids import uuid4_texts

    with pytest.raises(ValueError, match="17 bytes, not a multiple of 16"):
        uuid4_texts(bytes(17))


def test_a_forked_child_never_repeats_its_parents_uids():
    import os

    new_uid()  # the pool now holds bytes for the next UIDs
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.write(write, new_uid().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child and child != new_uid()


# --------------------------------------------------------------------------- create


def test_create_sets_uid_timestamp_generation_and_pending_status_for_pods():
    obj = pod()
    obj["status"] = {"phase": "Running", "podIP": "1.2.3.4"}
    obj["metadata"].update(resourceVersion="7", deletionTimestamp="x", generation=9)
    strategy_for("pods").prepare_for_create(obj)
    meta = obj["metadata"]
    assert re.match(r"^[0-9a-f-]{36}$", meta["uid"])
    assert RFC3339.match(meta["creationTimestamp"])
    assert meta["generation"] == 1
    assert "resourceVersion" not in meta and "deletionTimestamp" not in meta
    assert obj["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


def test_create_of_kinds_without_generation_tracking_drops_generation():
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "generation": 4}, "data": {"a": "b"}}
    strategy_for("configmaps").prepare_for_create(obj)
    assert "generation" not in obj["metadata"]


def test_create_clears_deployment_status_but_nodes_keep_theirs():
    obj = deployment()
    strategy_for("deployments").prepare_for_create(obj)
    assert "status" not in obj and obj["metadata"]["generation"] == 1
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}, "status": {"capacity": {"cpu": "4"}}}
    strategy_for("nodes", False).prepare_for_create(node)
    assert node["status"] == {"capacity": {"cpu": "4"}}


def test_namespace_create_is_active_with_the_kubernetes_finalizer():
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}
    strategy_for("namespaces", False).prepare_for_create(obj)
    assert obj["status"] == {"phase": "Active"}
    assert obj["spec"]["finalizers"] == ["kubernetes"]


def test_job_gets_a_generated_selector_and_template_labels():
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}], "restartPolicy": "Never"}}},
    }
    strategy_for("jobs").prepare_for_create(job)
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert labels["controller-uid"] == uid and labels["job-name"] == "pi" and labels["batch.kubernetes.io/job-name"] == "pi"


def test_create_changes_only_the_sections_the_strategy_names():
    # The API server decodes again only these sections after prepare_for_create.
    from orchestra.api.registry import resource_types

    from orchestra.apiserver.strategy import _STRATEGIES

    samples = {
        "pods": pod(),
        "deployments": deployment(),
        "namespaces": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}, "spec": {}},
        "jobs": {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "pi"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}},
        },
    }
    namespaced = {rt.plural: rt.namespaced for rt in resource_types()}
    for resource in _STRATEGIES:
        strategy = strategy_for(resource, namespaced.get(resource, True))
        obj = samples.get(resource) or {"metadata": {"name": "x"}, "spec": {"a": 1}, "status": {"b": 2}, "data": {}}
        before = {k: orjson.loads(orjson.dumps(v)) for k, v in obj.items()}
        strategy.prepare_for_create(obj)
        changed = {k for k in before.keys() | obj.keys() if before.get(k) != obj.get(k)}
        assert changed <= set(strategy.create_sections), (resource, changed)


def test_qos_classes():
    strategy = strategy_for("pods")
    guaranteed = pod()
    guaranteed["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1", "memory": "1Gi"}}
    burstable = pod()
    burstable["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "100m"}}
    for obj, expected in ((pod(), "BestEffort"), (guaranteed, "Guaranteed"), (burstable, "Burstable")):
        strategy.prepare_for_create(obj)
        assert obj["status"]["qosClass"] == expected


# --------------------------------------------------------------------------- update


def test_main_update_keeps_status_and_server_metadata():
    old = deployment()
    old["metadata"]["creationTimestamp"] = "2024-01-01T00:00:00Z"
    new = deployment(replicas=3)
    new["status"] = {"replicas": 99}
    new["metadata"].update(uid="other", creationTimestamp="1999-01-01T00:00:00Z", generation=1)
    strategy_for("deployments").prepare_for_update(new, old)
    assert new["status"] == {"replicas": 1}
    assert new["metadata"]["uid"] == "u1"
    assert new["metadata"]["creationTimestamp"] == "2024-01-01T00:00:00Z"


def test_status_update_takes_only_status():
    old = deployment()
    new = deployment(replicas=5)
    new["status"] = {"replicas": 2}
    new["metadata"]["labels"] = {"x": "y"}
    result = strategy_for("deployments").prepare_for_status_update(new, old)
    assert result["spec"]["replicas"] == 1
    assert result["status"] == {"replicas": 2}
    assert "labels" not in result["metadata"]


def test_generation_grows_only_when_the_spec_changes():
    strategy = strategy_for("deployments")
    old = deployment()
    same = deployment()
    same["metadata"]["labels"] = {"changed": "metadata"}
    same["status"] = {"replicas": 7}
    strategy.update_generation(same, old)
    assert same["metadata"]["generation"] == 3
    scaled = deployment(replicas=2)
    strategy.update_generation(scaled, old)
    assert scaled["metadata"]["generation"] == 4


def test_deployment_selector_is_immutable():
    errors = strategy_for("deployments").validate_update(deployment(app="other"), deployment())
    assert [str(e) for e in errors][0].startswith("spec.selector: Invalid value")
    assert "field is immutable" in str(errors[0])


def test_pod_spec_updates_are_limited_to_images_deadlines_and_added_tolerations():
    strategy = strategy_for("pods")
    old = pod()
    assert strategy.validate_update(pod(), old) == []
    new_image = pod()
    new_image["spec"]["containers"][0]["image"] = "busybox:2"
    assert strategy.validate_update(new_image, old) == []
    added = pod(tolerations=[{"key": "k", "operator": "Exists"}])
    assert strategy.validate_update(added, old) == []
    assert strategy.validate_update(pod(), added) != []  # removing a toleration
    changed = pod(restartPolicy="Never")
    errors = strategy.validate_update(changed, old)
    assert len(errors) == 1 and errors[0].path == "spec"
    assert "pod updates may not change fields other than" in str(errors[0])


def test_service_cluster_ip_is_kept_and_may_not_change():
    strategy = strategy_for("services")
    old = {"metadata": {"name": "s"}, "spec": {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"]}}
    new = {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}
    strategy.prepare_for_update(new, old)
    assert new["spec"]["clusterIP"] == "10.0.0.1"
    changed = {"metadata": {"name": "s"}, "spec": {"clusterIP": "10.0.0.2", "clusterIPs": ["10.0.0.2"]}}
    errors = strategy.validate_update(changed, old)
    assert errors and errors[0].path == "spec.clusterIPs[0]" and "may not change once set" in str(errors[0])


def test_no_new_finalizers_on_an_object_being_deleted():
    old = {"metadata": {"name": "c", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["a"]}}
    new = {"metadata": {"name": "c", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["a", "b"]}}
    errors = strategy_for("configmaps").validate_update(new, old)
    assert [e.path for e in errors] == ["metadata.finalizers"]
    removed = {"metadata": {"name": "c", "finalizers": []}}
    assert strategy_for("configmaps").validate_update(removed, old) == []


def test_namespace_main_update_keeps_spec_finalizers():
    old = {"kind": "Namespace", "metadata": {"name": "n"}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
    new = {"kind": "Namespace", "metadata": {"name": "n"}, "spec": {}}
    strategy_for("namespaces", False).prepare_for_update(new, old)
    assert new["spec"] == {"finalizers": ["kubernetes"]} and new["status"] == {"phase": "Active"}
    finalized = strategy_for("namespaces", False).prepare_for_finalize({"spec": {"finalizers": []}}, old)
    assert "finalizers" not in finalized["spec"]


# --------------------------------------------------------------------------- fields and deletion


def test_field_sets_of_pods_and_events():
    bound = pod(nodeName="n1")
    bound["status"] = {"phase": "Running"}
    fields = strategy_for("pods").field_set(bound)
    assert fields["spec.nodeName"] == "n1" and fields["status.phase"] == "Running"
    assert fields["metadata.name"] == "web" and fields["metadata.namespace"] == "default"
    assert fields["spec.hostNetwork"] == "false"
    event = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "web"}, "source": {"component": "kubelet"}, "type": "Normal"}
    event_fields = strategy_for("events").field_set(event)
    assert event_fields["involvedObject.kind"] == "Pod" and event_fields["source"] == "kubelet"
    assert event_fields["type"] == "Normal" and event_fields["reason"] == ""


def test_cluster_scoped_kinds_have_no_namespace_field_label():
    assert strategy_for("nodes", False).field_labels() == {"metadata.name", "spec.unschedulable"}
    assert "metadata.namespace" in strategy_for("configmaps").field_labels()


def test_grace_periods():
    strategy = strategy_for("pods")
    assert strategy.grace_period(pod(), None) == 0  # not bound to a node
    assert strategy.grace_period(pod(nodeName="n"), None) == 30
    assert strategy.grace_period(pod(nodeName="n", terminationGracePeriodSeconds=5), None) == 5
    assert strategy.grace_period(pod(nodeName="n"), 0) == 0
    assert strategy.grace_period(pod(nodeName="n"), -5) == 1
    done = pod(nodeName="n")
    done["status"] = {"phase": "Succeeded"}
    assert strategy.grace_period(done, None) == 0
    assert strategy_for("configmaps").grace_period({}, 30) == 0


def test_allow_create_on_update_follows_kubernetes():
    assert strategy_for("services").allow_create_on_update
    assert strategy_for("endpoints").allow_create_on_update
    assert strategy_for("leases").allow_create_on_update
    assert not strategy_for("pods").allow_create_on_update
    assert not strategy_for("nodes", False).allow_create_on_update
    assert not strategy_for("configmaps").allow_create_on_update


server_fields = st.fixed_dictionaries({}, optional={
    "uid": st.sampled_from(["u1", "u2"]), "generation": st.integers(1, 3),
    "deletionTimestamp": st.just("2024-01-01T00:00:00Z"), "deletionGracePeriodSeconds": st.integers(0, 1)})
statuses = st.one_of(st.none(), st.fixed_dictionaries({"replicas": st.integers(0, 2)}))


@given(server_fields, server_fields, statuses, statuses)
def test_update_changes_nothing_exactly_when_prepare_for_update_keeps_the_object(new_server, old_server, new_status,
                                                                                 old_status):
    strategy = strategy_for("deployments")
    new, old = deployment(), deployment()
    new["metadata"] = {"name": "web", "namespace": "default", **new_server}
    old["metadata"] = {"name": "web", "namespace": "default", **old_server}
    for obj, status in ((new, new_status), (old, old_status)):
        if status is not None:
            obj["status"] = status
    before = orjson.loads(orjson.dumps(new))
    predicted = strategy.update_changes_nothing(new, old)
    strategy.prepare_for_update(new, old)
    assert predicted == (new == before)


def test_update_changes_nothing_is_false_for_kinds_with_an_update_hook():
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default"}, "spec": {}}
    assert not strategy_for("services").update_changes_nothing(service, service)


pod_specs = st.fixed_dictionaries(
    {"containers": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["a", "b"])},
                                                  optional={"image": st.sampled_from(["x", "y"])}), max_size=2)},
    optional={"tolerations": st.lists(st.fixed_dictionaries({"key": st.sampled_from(["k", "l"])}), max_size=2),
              "activeDeadlineSeconds": st.integers(1, 2), "nodeName": st.sampled_from(["n1", "n2"])})


@given(pod_specs, pod_specs, st.booleans())
def test_the_unchanged_spec_shortcut_answers_as_the_full_pod_update_check(old_spec, other_spec, same):
    from orchestra.apiserver.strategy import _pod_spec_update_errors, _validate_pod_update

    new = {"spec": orjson.loads(orjson.dumps(old_spec if same else other_spec))}
    old = {"spec": old_spec}
    assert _validate_pod_update(new, old) == _pod_spec_update_errors(new, old)


def test_an_empty_toleration_list_keeps_its_full_check():
    from orchestra.apiserver.strategy import _pod_spec_update_errors, _validate_pod_update

    spec = {"containers": [{"name": "a"}], "tolerations": []}
    new, old = {"spec": dict(spec)}, {"spec": dict(spec)}
    assert _validate_pod_update(new, old) == _pod_spec_update_errors(new, old)
