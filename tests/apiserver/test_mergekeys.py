"""Tests for orchestra.apiserver.mergekeys: the patch strategy table and the field schema."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.api import apps, autoscaling, batch, coordination, core, meta
from orchestra.api.codec import decode_as, encode
from orchestra.apiserver.mergekeys import PATCH_META, field_info, fields_of, patch_meta, plain_shape
from tests.support.codec_walks import needs_compiled, using_walks

MODEL_CLASSES = {
    name: cls
    for module in (meta, core, apps, batch, coordination, autoscaling)
    for name, cls in vars(module).items()
    if isinstance(cls, type) and attrs.has(cls)
}
# Fields Kubernetes tags that Orchestra keeps only as unmodelled extras.
UNMODELLED = {("Container", "volumeDevices"), ("PodStatus", "resourceClaimStatuses"),
              ("ContainerStatus", "allocatedResourcesStatus")}


@pytest.mark.parametrize(("key", "meta_"), sorted(PATCH_META.items()))
def test_every_entry_names_a_model_field(key, meta_):
    class_name, wire = key
    assert class_name in MODEL_CLASSES
    if key not in UNMODELLED:
        info = fields_of(MODEL_CLASSES[class_name])[wire]
        assert info.patch is meta_
        if meta_.merge_key is not None:
            assert info.shape == "list"
            if info.cls is not None:
                assert meta_.merge_key in fields_of(info.cls)


def test_kubernetes_strategies_for_the_common_fields():
    assert patch_meta("PodSpec", "containers").merge_key == "name"
    assert patch_meta("Container", "ports").merge_key == "containerPort"
    assert patch_meta("ServiceSpec", "ports").merge_key == "port"
    assert patch_meta("PodSpec", "volumes").tag == "merge,retainKeys"
    assert patch_meta("DeploymentSpec", "strategy").tag == "retainKeys"
    assert not patch_meta("DeploymentSpec", "strategy").merges_lists
    finalizers = patch_meta("ObjectMeta", "finalizers")
    assert finalizers.merges_lists and finalizers.merge_key is None
    for atomic in [("PodSpec", "tolerations"), ("NodeSpec", "taints"), ("Endpoints", "subsets"), ("Container", "envFrom")]:
        assert patch_meta(*atomic) is None


def test_fields_of_describes_shapes_and_scalars():
    fields = fields_of(core.PodStatus)
    assert fields["podIP"].attr == "pod_ip" and fields["podIP"].scalar == "string"
    assert fields["conditions"].shape == "list" and fields["conditions"].cls is core.PodCondition
    assert fields_of(core.ServicePort)["targetPort"].scalar == "int-or-string"
    limits = fields_of(core.ResourceRequirements)["limits"]
    assert (limits.shape, limits.scalar) == ("map", "quantity")
    assert fields_of(core.Container)["lifecycle"].shape == "map"
    assert fields_of(apps.DeploymentSpec)["template"].cls is core.PodTemplateSpec
    assert "extra" not in fields_of(core.Pod)


def test_fields_of_is_cached_and_field_info_handles_missing():
    assert fields_of(core.Pod) is fields_of(core.Pod)
    assert field_info(None, "spec") is None
    assert field_info(core.Pod, "nope") is None
    assert field_info(core.Pod, "spec").cls is core.PodSpec


# --------------------------------------------------------------------------- plain shapes


def _plain_values(shape, depth: int = 0):
    """Wire values that match ``shape`` (see :func:`plain_shape`)."""
    if type(shape) is list:
        return st.lists(_plain_values(shape[0], depth + 1), max_size=2 if depth < 4 else 0)
    if type(shape) is dict:
        if depth > 5:
            return st.just({})
        return st.fixed_dictionaries({}, optional={k: _plain_values(v, depth + 1) for k, v in shape.items()})
    return {str: st.text(max_size=4), int: st.integers(-5, 5), bool: st.booleans()}[shape]


@pytest.mark.parametrize("walks", ["python", pytest.param("compiled", marks=needs_compiled)])
@pytest.mark.parametrize("cls", [core.PodStatus, core.Pod, apps.Deployment, batch.CronJob, core.Service])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_value_of_its_plain_shape_round_trips_unchanged(walks, cls, data) -> None:
    value = data.draw(_plain_values(plain_shape(cls)))
    with using_walks(walks):
        assert encode(decode_as(cls, value)) == value


def test_the_plain_shape_names_exact_types_and_leaves_out_what_decoding_may_change() -> None:
    shape = plain_shape(core.PodStatus)
    assert shape["phase"] is str and shape["hostIPs"] == [{"ip": str}]
    assert shape["conditions"][0]["lastTransitionTime"] is str
    assert shape["containerStatuses"][0]["restartCount"] is int and shape["containerStatuses"][0]["ready"] is bool
    assert shape["containerStatuses"][0]["resources"] == {}  # maps of quantities: decoded
    spec = plain_shape(core.Pod)["spec"]
    assert "nodeSelector" not in spec  # a map
    assert spec["containers"][0]["ports"][0]["containerPort"] is int
    assert "targetPort" not in plain_shape(core.Service)["spec"]["ports"][0]  # an int or a string: decoded
    assert plain_shape(core.PodStatus) is shape  # worked out once
    with pytest.raises(TypeError, match="not a model class"):
        plain_shape(dict)
