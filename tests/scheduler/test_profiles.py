"""Profiles: the default plugin set and how enabled/disabled lists combine."""

from __future__ import annotations

from scheduler.sched_builders import builtin_registry, make_framework
from orchestra.scheduler.framework import Handle
from orchestra.scheduler.profiles import DEFAULT_MULTI_POINT, build_profile, default_profile


def test_the_default_profile_expands_to_the_builtin_set():
    profile = build_profile(default_profile(), builtin_registry(), Handle())
    assert [p.NAME for p in profile.points["filter"]] == [
        "NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts", "NodeResourcesFit",
        "PodTopologySpread", "InterPodAffinity"]
    assert [p.NAME for p in profile.points["queueSort"]] == ["PrioritySort"]
    assert profile.weights == {n: w for n, w in DEFAULT_MULTI_POINT if w}
    assert profile.percentage_of_nodes_to_score == 0


def test_one_instance_per_plugin_across_extension_points():
    fw = make_framework()
    [fit_filter] = [p for p in fw.plugins("filter") if p.NAME == "NodeResourcesFit"]
    [fit_score] = [p for p in fw.plugins("score") if p.NAME == "NodeResourcesFit"]
    assert fit_filter is fit_score


def test_multipoint_weight_and_point_specific_weight():
    fw = make_framework({"plugins": {"multiPoint": {"enabled": [{"name": "ImageLocality", "weight": 7}]},
                                     "score": {"enabled": [{"name": "NodeAffinity", "weight": 9}]}}})
    assert fw.profile.weights["ImageLocality"] == 7 and fw.profile.weights["NodeAffinity"] == 9


def test_disabling_everything_then_enabling_a_few():
    fw = make_framework({"plugins": {"multiPoint": {"disabled": [{"name": "*"}],
                                                    "enabled": [{"name": "NodeResourcesFit"}, {"name": "DefaultBinder"}]}}})
    assert [p.NAME for p in fw.plugins("filter")] == ["NodeResourcesFit"]
    assert fw.plugins("queueSort") == [] and fw.plugins("postFilter") == []
