"""Tests for orchestra.api.codec: decode/encode, documents, line lookup, dumps."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Iterator

import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.api import codec
from orchestra.api.apps import Deployment
from orchestra.api.batch import CronJob
from orchestra.api.codec import decode, decode_as, dumps_json, dumps_yaml, encode, load_documents, loads
from orchestra.api.core import Container, Pod, PodSpec, Service
from orchestra.api.errors import DecodeError
from orchestra.api.meta import ObjectMeta, Status
from tests.support.codec_walks import needs_compiled, redecode_pod, using_walks

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "kubernetes"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


@pytest.fixture(autouse=True, params=["python", pytest.param("compiled", marks=needs_compiled)])
def walks(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test of this module runs with the pure-Python walks and with the compiled ones."""
    with using_walks(request.param):
        yield request.param


def test_examples_exist() -> None:
    assert len(EXAMPLE_FILES) >= 7


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_round_trips_as_data(path: Path) -> None:
    text = path.read_text()
    originals = [d for d in yaml.safe_load_all(text) if d is not None]
    documents = load_documents(text, source=str(path))
    assert [d.data for d in documents] == originals
    for document in documents:
        obj = decode(document.data)
        assert encode(obj) == document.data
        # and through both output formats
        assert orjson.loads(dumps_json(obj)) == document.data
        assert yaml.safe_load(dumps_yaml(obj)) == document.data


def test_decode_picks_class_by_api_version_and_kind() -> None:
    obj = decode({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}})
    assert isinstance(obj, Deployment)
    assert obj.metadata.name == "x"
    assert isinstance(decode({"apiVersion": "batch/v1", "kind": "CronJob"}), CronJob)
    assert isinstance(decode({"apiVersion": "v1", "kind": "Status", "code": 404}), Status)


def test_snake_case_attributes_and_irregular_wire_names() -> None:
    pod = decode(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "ownerReferences": [{"kind": "ReplicaSet", "name": "rs"}]},
            "spec": {"terminationGracePeriodSeconds": 5, "hostPID": True, "containers": []},
            "status": {"podIP": "10.0.0.1", "hostIP": "192.168.1.1", "podIPs": [{"ip": "10.0.0.1"}]},
        }
    )
    assert pod.metadata.owner_references[0].kind == "ReplicaSet"
    assert pod.spec.termination_grace_period_seconds == 5
    assert pod.spec.host_pid is True
    assert pod.status.pod_ip == "10.0.0.1"
    assert pod.status.host_ip == "192.168.1.1"
    wire = encode(pod)
    assert wire["status"]["podIP"] == "10.0.0.1"
    assert wire["spec"]["hostPID"] is True


def test_absent_fields_are_omitted_and_empty_collections_kept() -> None:
    pod = Pod(
        api_version="v1", kind="Pod", metadata=ObjectMeta(name="p", labels={}), spec=PodSpec(containers=[])
    )
    assert encode(pod) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {}},
        "spec": {"containers": []},
    }


def test_unknown_fields_survive_at_several_depths() -> None:
    data = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "topLevelExtra": {"a": [1, 2]},
        "metadata": {"name": "d", "futureMeta": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}, "unknownSelectorField": True},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {
                    "containers": [
                        {
                            "name": "c",
                            "image": "i",
                            "resizePolicy": [{"resourceName": "cpu"}],
                            "ports": [{"containerPort": 1, "x-port": 2}],
                        }
                    ],
                    "someNewPodField": None,
                },
            },
        },
    }
    obj = decode(copy.deepcopy(data))
    assert obj.extra == {"topLevelExtra": {"a": [1, 2]}}
    assert obj.metadata.extra == {"futureMeta": "x"}
    container = obj.spec.template.spec.containers[0]
    assert container.extra == {"resizePolicy": [{"resourceName": "cpu"}]}
    assert container.ports[0].extra == {"x-port": 2}
    assert encode(obj) == data


def test_extra_is_not_in_repr() -> None:
    obj = decode({"apiVersion": "v1", "kind": "Pod", "secretField": "hidden"})
    assert "secretField" not in repr(obj)


def test_explicit_null_round_trips_and_a_set_value_wins() -> None:
    data = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "creationTimestamp": None}}
    pod = decode(data)
    assert pod.metadata.creation_timestamp is None
    assert encode(pod) == data
    pod.metadata.creation_timestamp = "2024-01-01T00:00:00Z"
    assert encode(pod)["metadata"]["creationTimestamp"] == "2024-01-01T00:00:00Z"


def test_encode_does_not_alias_model_state() -> None:
    pod = decode(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": "b"}}, "future": {"x": [1]}}
    )
    wire = encode(pod)
    wire["metadata"]["labels"]["a"] = "changed"
    wire["future"]["x"].append(2)
    assert pod.metadata.labels == {"a": "b"}
    assert pod.extra == {"future": {"x": [1]}}


def test_int_or_string_fields_accept_both() -> None:
    svc = decode(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}]},
        }
    )
    assert [p.target_port for p in svc.spec.ports] == ["http", 8081]
    dep = decode(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "spec": {"strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": "10%"}}},
        }
    )
    assert dep.spec.strategy.rolling_update.max_surge == 1
    assert dep.spec.strategy.rolling_update.max_unavailable == "10%"


def test_quantities_stay_as_written() -> None:
    data = {
        "apiVersion": "v1",
        "kind": "Pod",
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "resources": {"limits": {"cpu": 1, "memory": "1Gi"}, "requests": {"cpu": "0.5"}},
                }
            ]
        },
    }
    pod = decode(copy.deepcopy(data))
    assert pod.spec.containers[0].resources.limits == {"cpu": 1, "memory": "1Gi"}
    assert encode(pod) == data


def test_integral_float_is_accepted_as_int() -> None:
    dep = decode({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 3.0}})
    assert dep.spec.replicas == 3 and type(dep.spec.replicas) is int


@pytest.mark.parametrize(
    ("data", "path", "reason"),
    [
        ({"spec": {"replicas": "three"}}, "spec.replicas", 'expected integer, got string "three"'),
        ({"spec": {"replicas": True}}, "spec.replicas", "expected integer, got boolean true"),
        ({"spec": {"replicas": 1.5}}, "spec.replicas", "expected integer, got number 1.5"),
        ({"spec": {"selector": []}}, "spec.selector", "expected object, got array"),
        ({"spec": {"paused": "yes"}}, "spec.paused", 'expected boolean, got string "yes"'),
        (
            {"metadata": {"labels": {"version": 1}}},
            "metadata.labels[version]",
            "expected string, got integer 1",
        ),
        ({"metadata": {"finalizers": "x"}}, "metadata.finalizers", 'expected array, got string "x"'),
        (
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [{"name": "a"}, {"name": "b", "ports": [{"containerPort": "80"}]}]
                        }
                    }
                }
            },
            "spec.template.spec.containers[1].ports[0].containerPort",
            'expected integer, got string "80"',
        ),
        (
            {"spec": {"strategy": {"rollingUpdate": {"maxSurge": [1]}}}},
            "spec.strategy.rollingUpdate.maxSurge",
            "expected integer or string, got array",
        ),
    ],
)
def test_wrong_types_name_the_field(data: dict, path: str, reason: str) -> None:
    data = {"apiVersion": "apps/v1", "kind": "Deployment", **data}
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert info.value.path == path
    assert info.value.reason == reason
    assert str(info.value) == f"{path}: {reason}"


def test_unknown_kind_and_missing_type_info() -> None:
    with pytest.raises(DecodeError, match='no kind "Widget" is registered for version "v1"'):
        decode({"apiVersion": "v1", "kind": "Widget"})
    with pytest.raises(DecodeError, match='no kind "Deployment" is registered for version "v1"'):
        decode({"apiVersion": "v1", "kind": "Deployment"})
    with pytest.raises(DecodeError, match="kind is required"):
        decode({"apiVersion": "v1"})
    with pytest.raises(DecodeError, match="expected object, got array"):
        decode([])  # type: ignore[arg-type]


def test_decode_path_prefix() -> None:
    with pytest.raises(DecodeError) as info:
        decode({"apiVersion": "v1", "kind": "Pod", "spec": {"nodeName": 3}}, path="items[2]")
    assert info.value.path == "items[2].spec.nodeName"


def test_decode_as_ignores_kind() -> None:
    container = decode_as(Container, {"name": "c", "image": "busybox", "tty": True})
    assert container == Container(name="c", image="busybox", tty=True)
    with pytest.raises(DecodeError) as info:
        decode_as(Container, {"name": 1})
    assert info.value.path == "name"


# --------------------------------------------------------------------------- documents

MULTI = """\
# leading comment
apiVersion: v1
kind: Service
metadata:
  name: a
---
---
# only a comment
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: b
data:
  created: 2024-01-01T00:00:00Z
"""


def test_multi_document_yaml_skips_empty_documents() -> None:
    documents = load_documents(MULTI, source="m.yaml")
    assert [(d.index, d.line, d.data["kind"]) for d in documents] == [(0, 2, "Service"), (3, 10, "ConfigMap")]
    assert all(d.source == "m.yaml" for d in documents)


def test_yaml_timestamps_stay_strings() -> None:
    (_, config_map) = loads(MULTI)
    assert config_map.data == {"created": "2024-01-01T00:00:00Z"}
    assert "'2024-01-01T00:00:00Z'" in dumps_yaml(config_map)


def test_list_kinds_are_expanded() -> None:
    text = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata:
    name: a
- apiVersion: v1
  kind: Pod
  metadata:
    name: b
    labels:
      x: y
"""
    documents = load_documents(text)
    assert [d.data["metadata"]["name"] for d in documents] == ["a", "b"]
    assert [d.line for d in documents] == [4, 8]
    assert documents[1].line_of("metadata.labels.x") == 13
    assert documents[1].line_of("metadata.labels[x]") == 13
    pod_list = {"apiVersion": "v1", "kind": "PodList", "items": [{"apiVersion": "v1", "kind": "Pod"}]}
    assert [type(o) for o in loads(json.dumps(pod_list))] == [Pod]


def test_json_input() -> None:
    text = json.dumps(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}},
        indent=2,
    )
    documents = load_documents(text.encode(), source="s.json")
    assert documents[0].data["metadata"]["name"] == "s"
    assert documents[0].line == 1
    assert documents[0].line_of("spec.ports[0].port") == 10
    assert isinstance(loads(text)[0], Service)


def test_json_list_items_map_lines_in_the_whole_file() -> None:
    text = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": n}} for n in "ab"],
        },
        indent=2,
    )
    documents = load_documents(text)
    assert [d.data["metadata"]["name"] for d in documents] == ["a", "b"]
    assert [d.line for d in documents] == [5, 12]
    assert documents[1].line_of("metadata.name") == 16
    bad = text.replace('"name": "b"', '"name": 7')
    with pytest.raises(DecodeError) as info:
        loads(bad, source="list.json")
    assert (info.value.line, info.value.path) == (16, "metadata.name")


def test_flow_style_yaml_that_looks_like_json() -> None:
    text = '{apiVersion: v1, kind: Pod, metadata: {name: "x"}}\n'
    assert load_documents(text)[0].data["metadata"] == {"name": "x"}


def test_line_of_maps_field_paths() -> None:
    text = (EXAMPLES / "nginx-deployment.yaml").read_text()
    (document,) = load_documents(text)
    assert document.line_of("spec.template.spec.containers[0].ports[0].containerPort") == 21
    assert document.line_of("spec.replicas") == 8
    assert document.line_of("spec.template.spec.containers[0]") == 18
    # an unknown leaf falls back to its nearest known parent
    assert document.line_of("spec.template.spec.containers[0].ports[0].hostPort") == 21
    assert document.line_of("metadata.labels[app.kubernetes.io/name]") == 6


def test_malformed_yaml_gives_source_line_and_column() -> None:
    text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n"
    with pytest.raises(DecodeError) as info:
        load_documents(text, source="bad.yaml")
    err = info.value
    assert err.source == "bad.yaml"
    assert err.line is not None and err.line >= 4
    assert err.column is not None
    assert "bad.yaml" in str(err) and "invalid YAML" in str(err)


def test_malformed_json_gives_line_and_column() -> None:
    with pytest.raises(DecodeError) as info:
        load_documents('[\n  {"a": 1,,}\n]', source="bad.json")
    assert info.value.source == "bad.json"
    assert info.value.line == 2
    assert info.value.column is not None


def test_document_that_is_not_a_mapping() -> None:
    with pytest.raises(DecodeError) as info:
        load_documents("apiVersion: v1\nkind: Pod\n---\n- a\n- b\n", source="x.yaml")
    assert info.value.document == 1
    assert info.value.line == 4
    assert "not a mapping" in str(info.value)


def test_document_without_kind() -> None:
    with pytest.raises(DecodeError) as info:
        load_documents("apiVersion: v1\nmetadata:\n  name: x\n", source="x.yaml")
    assert "has no kind" in str(info.value)
    assert info.value.document == 0


def test_loads_reports_field_line() -> None:
    text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: three\n"
    with pytest.raises(DecodeError) as info:
        loads(text, source="d.yaml")
    err = info.value
    assert (err.source, err.document, err.line, err.path) == ("d.yaml", 0, 6, "spec.replicas")
    assert str(err) == 'd.yaml, line 6, document 0: spec.replicas: expected integer, got string "three"'


def test_invalid_utf8() -> None:
    with pytest.raises(DecodeError, match="UTF-8"):
        load_documents(b"kind: \xff\xfe")


# --------------------------------------------------------------------------- output


def test_dumps_yaml_multi_document_and_key_order() -> None:
    objects = loads((EXAMPLES / "nginx-app.yaml").read_text())
    text = dumps_yaml(objects)
    assert text.count("---") == 1
    assert [d for d in yaml.safe_load_all(text)] == [encode(o) for o in objects]
    first_keys = [line.split(":")[0] for line in text.splitlines() if line and not line.startswith(" ")][:4]
    assert first_keys == ["apiVersion", "kind", "metadata", "spec"]


def test_dumps_json_copes_with_values_orjson_refuses() -> None:
    pod = decode({"apiVersion": "v1", "kind": "Pod", "x-big": 2**70, "x-keys": {1: "one"}})
    assert json.loads(dumps_json(pod)) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "x-big": 2**70,
        "x-keys": {"1": "one"},
    }


def test_libyaml_is_used_when_present() -> None:
    if yaml.__with_libyaml__:
        assert issubclass(codec._Loader, yaml.CSafeLoader)
        assert issubclass(codec._Dumper, yaml.CSafeDumper)
    else:
        assert issubclass(codec._Loader, yaml.SafeLoader)


def test_validation_error_paths_map_to_lines() -> None:
    from orchestra.api.validation import validate

    text = (EXAMPLES / "nginx-deployment.yaml").read_text().replace("containerPort: 80", "containerPort: 0")
    (document,) = load_documents(text, source="nginx-deployment.yaml")
    (error,) = validate(decode(document.data))
    assert error.path == "spec.template.spec.containers[0].ports[0].containerPort"
    assert document.line_of(error.path) == 21


def test_dumps_yaml_writes_multi_line_strings_as_blocks() -> None:
    config_map = decode(
        {"apiVersion": "v1", "kind": "ConfigMap", "data": {"app.conf": "a=1\nb=2\n", "one": "x"}}
    )
    text = dumps_yaml(config_map)
    assert "app.conf: |\n    a=1\n    b=2\n" in text
    assert yaml.safe_load(text) == encode(config_map)
    tricky = {"s": "trailing space \n", "t": "\ttab\nx", "u": "line\r\nbreak"}
    assert yaml.safe_load(dumps_yaml(tricky)) == tricky


def test_encode_refuses_non_models() -> None:
    with pytest.raises(TypeError, match="dict is not a model class"):
        encode({"a": 1})  # type: ignore[arg-type]


def test_dumps_accept_plain_dicts() -> None:
    assert orjson.loads(dumps_json({"a": 1})) == {"a": 1}
    assert yaml.safe_load(dumps_yaml({"a": [1]})) == {"a": [1]}


def test_codec_tables_are_published_complete_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(codec, "_CODECS", {})
    data = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}},
    }
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: encode(decode(data)), range(32)))
    assert all(r == data for r in results)
    assert not codec._BUILDING


def test_unsupported_model_types_are_refused() -> None:
    import attrs as _attrs

    @_attrs.define
    class Bad:
        when: set[str] | None = None
        extra: dict = _attrs.field(factory=dict)

    with pytest.raises(TypeError, match="unsupported type"):
        codec._codec(Bad)
    assert Bad not in codec._CODECS and not codec._BUILDING


def test_codec_tables_are_built_once() -> None:
    decode({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "a"}]}})
    table = codec._CODECS[Pod]
    decode({"apiVersion": "v1", "kind": "Pod"})
    assert codec._CODECS[Pod] is table


# --------------------------------------------------------------------------- hypothesis

_names = st.from_regex(r"[a-z]([-a-z0-9]{0,10}[a-z0-9])?", fullmatch=True)
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_quantity = st.one_of(st.integers(0, 10**6), st.from_regex(r"[1-9][0-9]{0,3}(m|Mi|Gi|k)?", fullmatch=True))
_port = st.fixed_dictionaries(
    {"containerPort": st.integers(1, 65535)},
    optional={
        "name": _names,
        "protocol": st.sampled_from(["TCP", "UDP", "SCTP"]),
        "hostPort": st.integers(1, 65535),
    },
)
_probe = st.fixed_dictionaries(
    {"tcpSocket": st.fixed_dictionaries({"port": st.one_of(st.integers(1, 65535), _names)})},
    optional={"periodSeconds": st.integers(1, 100), "failureThreshold": st.integers(1, 10)},
)
_container = st.fixed_dictionaries(
    {"name": _names, "image": _names},
    optional={
        "command": st.lists(_text, max_size=3),
        "ports": st.lists(_port, max_size=3),
        "env": st.lists(st.fixed_dictionaries({"name": _names, "value": _text}), max_size=3),
        "resources": st.fixed_dictionaries(
            {},
            optional={
                "limits": st.dictionaries(st.sampled_from(["cpu", "memory"]), _quantity),
                "requests": st.dictionaries(st.sampled_from(["cpu", "memory"]), _quantity),
            },
        ),
        "livenessProbe": _probe,
        "tty": st.booleans(),
        "x-unknown": st.dictionaries(
            _names, st.one_of(st.integers(-(2**63), 2**63 - 1), _text, st.none()), max_size=2
        ),
    },
)
_pod = st.fixed_dictionaries(
    {
        "apiVersion": st.just("v1"),
        "kind": st.just("Pod"),
        "metadata": st.fixed_dictionaries(
            {"name": _names},
            optional={
                "labels": st.dictionaries(_names, _names, max_size=3),
                "annotations": st.dictionaries(_names, _text, max_size=2),
                "creationTimestamp": st.none(),
            },
        ),
        "spec": st.fixed_dictionaries(
            {"containers": st.lists(_container, min_size=1, max_size=3)},
            optional={
                "restartPolicy": st.sampled_from(["Always", "OnFailure", "Never"]),
                "nodeSelector": st.dictionaries(_names, _names, max_size=2),
                "terminationGracePeriodSeconds": st.integers(0, 300),
                "tolerations": st.lists(
                    st.fixed_dictionaries({"key": _names, "operator": st.just("Exists")}), max_size=2
                ),
            },
        ),
    },
    optional={
        "status": st.fixed_dictionaries(
            {}, optional={"phase": st.sampled_from(["Pending", "Running"]), "podIP": st.just("10.0.0.1")}
        )
    },
)


@settings(max_examples=75, deadline=None)
@given(_pod)
def test_generated_pods_round_trip(data: dict) -> None:
    original = copy.deepcopy(data)
    pod = decode(data)
    assert isinstance(pod, Pod)
    assert encode(pod) == original
    assert loads(dumps_json(pod))[0] == pod
    assert loads(dumps_yaml(pod))[0] == pod


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        st.one_of(
            st.sampled_from("\n \t\r:#-|>'\"\x85\u2028\ufeff"),
            st.characters(codec="utf-8", exclude_categories=("Cs",)),
        ),
        max_size=20,
    )
)
def test_yaml_output_round_trips_any_string(value: str) -> None:
    config_map = decode({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": value}})
    assert loads(dumps_yaml(config_map))[0] == config_map


# --------------------------------------------------------------------------- redecode_fields


def test_redecode_fields_equals_a_fresh_decode_after_metadata_and_status_change():
    wire = redecode_pod()
    obj = codec.decode(wire)
    wire["metadata"]["uid"] = "u-1"
    wire["metadata"].pop("labels")
    wire["status"] = {"phase": "Pending"}
    assert codec.redecode_fields(obj, wire, ("metadata", "status")) is True
    assert obj == codec.decode(wire)
    assert codec.encode(obj) == codec.encode(codec.decode(wire))


def test_redecode_fields_of_a_removed_section_clears_it():
    wire = {**redecode_pod(), "status": {"phase": "Running"}}
    obj = codec.decode(wire)
    del wire["status"]
    assert codec.redecode_fields(obj, wire, ("metadata", "status")) is True
    assert obj == codec.decode(wire)


def test_redecode_fields_declines_an_explicit_null_and_leaves_the_object_alone():
    wire = {**redecode_pod(), "status": {"phase": "Running"}}
    obj = codec.decode(wire)
    before = copy.deepcopy(obj)
    wire["status"] = None
    wire["metadata"]["uid"] = "u-2"
    assert codec.redecode_fields(obj, wire, ("metadata", "status")) is False
    assert obj == before


def test_redecode_fields_names_the_mistyped_field():
    wire = redecode_pod()
    obj = codec.decode(wire)
    wire["metadata"]["labels"] = {"a": 5}
    with pytest.raises(DecodeError) as info:
        codec.redecode_fields(obj, wire, ("metadata",))
    assert info.value.path == "metadata.labels[a]"

