"""Tests for orchestra.apiserver.mergekeys: the patch strategy table and the field schema."""

from __future__ import annotations

import attrs
import pytest

from orchestra.api import apps, autoscaling, batch, coordination, core, meta
from orchestra.apiserver.mergekeys import PATCH_META, field_info, fields_of, patch_meta

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
