"""The framework runner: profiles, extension points, Python plugins, errors, FitError wording."""

from __future__ import annotations

import asyncio
from array import array

import pytest

from scheduler.sched_builders import make_framework, make_node, make_pod, make_snapshot, only
from orchestra._ext import sched
from orchestra.scheduler import SKIP, Code, CycleState, FitError, PodInfo, ProfileError, Status
from orchestra.scheduler.framework import SUCCESS, Plugin, num_feasible_nodes_to_find


class OddNodes(Plugin):
    """Per-node filter: only nodes whose name ends in an odd digit."""

    NAME = "OddNodes"

    def filter(self, state, pod, node):
        return None if int(node.name[-1]) % 2 else Status.unschedulable("node(s) were even")


class BigLabelFirst(Plugin):
    """Batch filter and batch score on the ``size`` label."""

    NAME = "BigLabelFirst"

    def filter_batch(self, state, pod, batch):
        return [v is not None for v in batch.label("size")]

    def score_batch(self, state, pod, batch):
        return [int(v) for v in batch.label("size")]  # a list: the framework converts it


class PerNodeScore(Plugin):
    """Per-node score: free cpu in whole cores."""

    NAME = "PerNodeScore"

    def score(self, state, pod, node):
        return (node.allocatable[0] - node.requested[0]) // 1000


class Exploding(Plugin):
    """Raises at the extension point named in its args."""

    NAME = "Exploding"
    DEFAULT_ARGS = {"at": "filter"}

    def pre_filter(self, state, pod, snapshot):
        if self.args["at"] == "pre_filter":
            raise RuntimeError("boom")

    def filter_batch(self, state, pod, batch):
        if self.args["at"] == "filter":
            raise RuntimeError("boom")
        return None

    def score_batch(self, state, pod, batch):
        if self.args["at"] == "score":
            raise RuntimeError("boom")
        if self.args["at"] == "float":
            return [0.5] * len(batch)
        return array("q", [200] * len(batch)) if self.args["at"] == "range" else array("q", [0] * len(batch))


class Gate(Plugin):
    """Permit: wait for an explicit allow."""

    NAME = "Gate"
    DEFAULT_ARGS = {"timeout": 5.0}

    def permit(self, state, pod, node_name):
        return Status(Code.WAIT), self.args["timeout"]


class Recorder(Plugin):
    """Reserve/unreserve recorder."""

    NAME = "Recorder"
    log: list = []

    def reserve(self, state, pod, node_name):
        Recorder.log.append(("reserve", node_name))

    def unreserve(self, state, pod, node_name):
        Recorder.log.append(("unreserve", node_name))


EXTRA = {c.NAME: c for c in (OddNodes, BigLabelFirst, PerNodeScore, Exploding, Gate, Recorder)}


def fw_with(*names, **kw):
    return make_framework(only(*names, **kw), registry=EXTRA)


def test_fit_error_message_sorts_reason_strings_like_kubernetes():
    pod = PodInfo.from_dict(make_pod("p"))
    err = FitError(pod, 5000, {"Insufficient cpu": 3, "node(s) didn't match Pod's node affinity/selector": 4997})
    assert err.message() == "0/5000 nodes are available: 3 Insufficient cpu, 4997 node(s) didn't match Pod's node affinity/selector."
    err = FitError(pod, 13, {"b": 3, "a": 10}, post_filter_msg="preemption: x.")
    assert err.message() == "0/13 nodes are available: 10 a, 3 b. preemption: x."
    assert str(FitError(pod, 2, {}, pre_filter_msg="no")) == "0/2 nodes are available: no."


@pytest.mark.parametrize("nodes, pct, expected", [
    (50, 0, 50), (99, 10, 99), (100, 0, 100), (1000, 0, 420), (5000, 0, 500), (10000, 0, 500),
    (5000, 100, 5000), (5000, 30, 1500), (500, 1, 100),
])
def test_number_of_feasible_nodes_to_find(nodes, pct, expected):
    assert num_feasible_nodes_to_find(nodes, pct) == expected


def test_the_search_starts_where_the_last_one_stopped():
    snap = make_snapshot([make_node(f"n{i:04d}") for i in range(1000)])
    fw = make_framework(batching=False)  # with batching, q would be placed from p's candidates
    first = fw.schedule_one(make_pod("p"), snap)
    assert (first.feasible_nodes, first.evaluated_nodes) == (420, 420)
    assert fw._next_start == 420
    fw.schedule_one(make_pod("q"), snap)
    assert fw._next_start == 840


def test_per_node_and_batch_python_plugins():
    nodes = [make_node(f"n{i}", labels={"size": str(i * 10)} if i != 3 else {}) for i in range(1, 6)]
    snap = make_snapshot(nodes)
    result = fw_with("OddNodes", "BigLabelFirst").schedule_one(make_pod("p"), snap)
    assert result.node_name == "n5"
    assert result.feasible_nodes == 2
    assert fw_with("OddNodes", "BigLabelFirst").schedule_one(make_pod("p"), make_snapshot(nodes[1:4])).fit_error.reasons == {
        "node(s) were even": 2, "node(s) didn't satisfy plugin BigLabelFirst": 1}


def test_a_filter_answering_false_rejects_for_the_plugins_filter_reason():
    class NoEvenNodes(OddNodes):
        NAME = "NoEvenNodes"
        FILTER_REASON = "node(s) were even"

        def filter(self, state, pod, node):
            return int(node.name[-1]) % 2 == 1

    class NoEvenNodesBatch(NoEvenNodes):
        NAME = "NoEvenNodesBatch"

        def filter_batch(self, state, pod, batch):
            return [int(name[-1]) % 2 == 1 for name in batch.names()]

    snap = make_snapshot([make_node(f"n{i}") for i in (2, 4)])
    for plugin in (NoEvenNodes, NoEvenNodesBatch):
        fw = make_framework(only(plugin.NAME), registry={plugin.NAME: plugin})
        result = fw.schedule_one(make_pod("p"), snap)
        assert result.fit_error.reasons == {"node(s) were even": 2}, plugin.NAME
        assert result.fit_error.plugins == {plugin.NAME}, plugin.NAME


def test_a_plugin_answering_skip_has_its_filter_and_score_skipped_for_the_pod():
    class SkipsBigPods(OddNodes):
        """Rejects even nodes and scores by name, except for pods named "big": it skips them."""

        NAME = "SkipsBigPods"

        def pre_filter(self, state, pod, snapshot):
            return SKIP if pod.name == "big" else None

        def pre_score(self, state, pod, batch):
            return SKIP if pod.name == "big" else None

        def score(self, state, pod, node):
            return int(node.name[-1]) * 10

    assert Status.skip() is SKIP
    snap = make_snapshot([make_node(f"n{i}") for i in (1, 2, 4)])
    fw = make_framework(only("SkipsBigPods"), registry={"SkipsBigPods": SkipsBigPods})
    small = fw.schedule_one(make_pod("small"), snap)
    assert (small.node_name, small.feasible_nodes) == ("n1", 1)
    big = fw.schedule_one(make_pod("big"), snap)
    assert big.feasible_nodes == 3  # the filter did not run
    assert big.state.skip_filter == {"SkipsBigPods"} and big.state.skip_score == {"SkipsBigPods"}


def test_per_node_scores_with_weights():
    snap = make_snapshot([make_node("n1", cpu="2"), make_node("n2", cpu="8")])
    fw = fw_with("PerNodeScore", "NodeResourcesFit", weights={"PerNodeScore": 5})
    assert fw.profile.weights == {"PerNodeScore": 5, "NodeResourcesFit": 1}
    assert fw.schedule_one(make_pod("p"), snap).node_name == "n2"


@pytest.mark.parametrize("at", ["pre_filter", "filter", "score"])
def test_a_plugin_that_raises_becomes_an_error_status_naming_it(at):
    snap = make_snapshot([make_node("n1"), make_node("n2")])
    result = fw_with("Exploding", args={"Exploding": {"at": at}}).schedule_one(make_pod("p"), snap)
    assert result.node_name is None
    assert result.status.code == Code.ERROR and result.status.plugin == "Exploding"
    assert "Exploding" in result.status.message() and "boom" in result.status.message()


def test_scores_out_of_range_are_errors():
    snap = make_snapshot([make_node("n1"), make_node("n2")])
    result = fw_with("Exploding", args={"Exploding": {"at": "range"}}).schedule_one(make_pod("p"), snap)
    assert result.status.code == Code.ERROR and "outside [0, 100]" in result.status.message()


def test_scores_that_are_not_integers_are_errors_naming_the_plugin():
    snap = make_snapshot([make_node("n1"), make_node("n2")])
    result = fw_with("Exploding", args={"Exploding": {"at": "float"}}).schedule_one(make_pod("p"), snap)
    assert result.status.code == Code.ERROR and result.status.plugin == "Exploding"
    assert "scores are not integers" in result.status.message() and "float" in result.status.message()


@pytest.mark.parametrize("profile, fragment", [
    ({"plugins": {"score": {"enabled": [{"name": "Nope"}]}}}, "unknown plugin 'Nope'"),
    ({"plugins": {"score": {"enabled": [{"name": "ImageLocality", "weight": 0}]}}}, "weight must be an integer 1..100"),
    ({"plugins": {"score": {"enabled": [{"name": "ImageLocality", "weight": 101}]}}}, "weight must be an integer 1..100"),
    ({"plugins": {"filter": {"enabled": [{"name": "ImageLocality"}]}}}, "does not implement filter"),
    ({"plugins": {"sorting": {}}}, "unknown extension point"),
    ({"percentageOfNodesToScore": 101}, "percentageOfNodesToScore"),
    ({"pluginConfig": [{"name": "InterPodAffinity", "args": {"hardPodAffinityWeight": 101}}]}, "hardPodAffinityWeight"),
    ({"pluginConfig": [{"name": "ImageLocality", "args": {"x": 1}}]}, "unknown argument(s) x"),
    ({"plugins": {"multiPoint": {"disabled": [{"name": "*"}]}}}, "bind plugin"),
    ({"colour": 1}, "unknown field(s) colour"),
])
def test_profile_validation_names_the_problem(profile, fragment):
    with pytest.raises(ProfileError) as err:
        make_framework(profile)
    assert fragment in str(err.value)


def test_default_profile_matches_kubernetes_weights():
    fw = make_framework()
    assert fw.profile.weights == {"TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1, "PodTopologySpread": 2,
                                  "InterPodAffinity": 2, "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1}
    assert [p.NAME for p in fw.plugins("postFilter")] == ["DefaultPreemption"]
    assert [p.NAME for p in fw.plugins("bind")] == ["DefaultBinder"]
    assert fw.scheduler_name == "default-scheduler"


def test_disabling_a_plugin_at_one_extension_point():
    fw = make_framework({"plugins": {"score": {"disabled": [{"name": "ImageLocality"}]}}})
    assert "ImageLocality" not in [p.NAME for p in fw.plugins("score")]
    assert "NodeResourcesFit" in [p.NAME for p in fw.plugins("filter")]


def test_no_nodes():
    result = make_framework().schedule_one(make_pod("p"), make_snapshot([]))
    assert result.fit_error.message() == "0/0 nodes are available: no nodes available to schedule pods."


def test_reserve_in_order_and_unreserve_in_reverse():
    Recorder.log.clear()
    fw = fw_with("Recorder")
    pod = PodInfo.from_dict(make_pod("p"))
    state = CycleState()
    assert fw.run_reserve(state, pod, "n1").is_success
    fw.run_unreserve(state, pod, "n1")
    assert Recorder.log == [("reserve", "n1"), ("unreserve", "n1")]


async def test_permit_wait_then_allow_reject_or_timeout():
    pod = PodInfo.from_dict(make_pod("p"))
    fw = fw_with("Gate")
    assert fw.run_permit(CycleState(), pod, "n1").code == Code.WAIT
    waiter = asyncio.ensure_future(fw.wait_on_permit(pod))
    await asyncio.sleep(0)
    fw.waiting_pods[pod.uid].allow("Gate")
    assert (await waiter).is_success
    fw.run_permit(CycleState(), pod, "n1")
    fw.waiting_pods[pod.uid].reject("Gate", "quota exceeded")
    status = await fw.wait_on_permit(pod)
    assert status.code == Code.UNSCHEDULABLE and status.plugin == "Gate" and status.message() == "quota exceeded"
    fw = fw_with("Gate", args={"Gate": {"timeout": 0.01}})
    fw.run_permit(CycleState(), pod, "n1")
    status = await fw.wait_on_permit(pod)
    assert status.code == Code.UNSCHEDULABLE and "timeout" in status.message()


def test_plugins_come_from_the_plugin_manager_hook():
    from orchestra.plugin_manager import get_plugin_manager
    from orchestra.scheduler import Framework

    fw = Framework.from_profile({}, get_plugin_manager(load_entrypoints=False))
    assert len(fw.plugins("filter")) == 8


def test_fit_error_names_the_rejecting_plugins():
    # n1: too little cpu; n2: even name; n3: wrong zone
    snap = make_snapshot([make_node("n1", cpu="1", labels={"zone": "a"}), make_node("n2", labels={"zone": "a"}), make_node("n3")])
    result = fw_with("NodeAffinity", "NodeResourcesFit", "OddNodes").schedule_one(make_pod("p", cpu="2", nodeSelector={"zone": "a"}), snap)
    assert result.fit_error.plugins == {"NodeAffinity", "NodeResourcesFit", "OddNodes"}


class BadPostFilter(Plugin):
    """A post-filter returning the wrong type."""

    NAME = "BadPostFilter"

    def post_filter(self, state, pod, snapshot, diagnosis):
        return "nope"


def test_a_post_filter_returning_garbage_is_an_error_not_a_crash():
    snap = make_snapshot([make_node("n1", cpu="1")])
    fw = make_framework(only("NodeResourcesFit", "BadPostFilter"), registry={"BadPostFilter": BadPostFilter})
    result = fw.schedule_one(make_pod("p", cpu="2"), snap)
    assert result.status.code == Code.ERROR and result.status.plugin == "BadPostFilter"


def test_the_nominated_node_is_taken_when_it_fits_without_searching_the_others():
    # n1 is the emptier node (LeastAllocated prefers it); n0 is where a preemption made room
    snap = make_snapshot([make_node("n0", cpu="4"), make_node("n1", cpu="64")], [make_pod("a", cpu="3", node="n0")])
    fw = make_framework({"percentageOfNodesToScore": 100})
    assert fw.schedule_one(make_pod("p", cpu="1"), snap).node_name == "n1"
    result = fw.schedule_one(make_pod("p", cpu="1"), snap, nominated="n0")
    assert (result.node_name, result.evaluated_nodes) == ("n0", 1)
    # a nominated node that no longer fits (or is gone) is just one more node of the search
    assert fw.schedule_one(make_pod("p", cpu="2"), snap, nominated="n0").node_name == "n1"
    assert fw.schedule_one(make_pod("p", cpu="2"), snap, nominated="gone").node_name == "n1"
    # Python filters judge the nominated node too
    snap = make_snapshot([make_node("n2"), make_node("n3")])
    assert fw_with("NodeResourcesFit", "OddNodes").schedule_one(make_pod("p"), snap, nominated="n2").node_name == "n3"


def test_default_scores_are_fused_unless_their_inputs_or_overrides_are_missing():
    from scheduler.sched_builders import builtin_registry

    assert make_framework().fused_scores == ["TaintToleration", "NodeResourcesFit", "NodeResourcesBalancedAllocation", "ImageLocality"]
    # the fused taint and image terms read what TaintToleration's pre-filter and ImageLocality's pre-score compiled
    fw = make_framework({"plugins": {"preFilter": {"disabled": [{"name": "TaintToleration"}]},
                                     "preScore": {"disabled": [{"name": "ImageLocality"}]}}})
    assert fw.fused_scores == ["NodeResourcesFit", "NodeResourcesBalancedAllocation"]

    class FlatImages(builtin_registry()["ImageLocality"]):
        def score_batch(self, state, pod, batch):
            return array("q", [50] * batch.size)

    fw = make_framework(only("ImageLocality"), registry={"ImageLocality": FlatImages})
    assert fw.fused_scores == []
    images = [{"names": ["busybox:latest"], "sizeBytes": 500 << 20}]
    snap = make_snapshot([make_node("n1", images=images), make_node("n2")])
    info = PodInfo.from_dict(make_pod("p"))
    result = fw.schedule_one(info, snap)
    assert list(fw.run_scores(result.state, info, snap, array("i", [0, 1]))[0]) == [50, 50]


def test_the_scores_without_taint_toleration_pre_filter_still_count_tolerations():
    taint = [{"key": "k", "value": "v", "effect": "PreferNoSchedule"}]
    nodes = [make_node("tainted", taints=taint), make_node("clean")]
    pod = make_pod("p", tolerations=[{"key": "k", "operator": "Exists", "effect": "PreferNoSchedule"}])
    for profile in ({}, {"plugins": {"preFilter": {"disabled": [{"name": "TaintToleration"}]}}}):
        fw = make_framework({"percentageOfNodesToScore": 100, **profile})
        snap = make_snapshot(nodes)
        info = PodInfo.from_dict(pod)
        result = fw.schedule_one(info, snap)
        totals, error = fw.run_scores(result.state, info, snap, array("i", [0, 1]))
        assert error is None and totals[0] == totals[1], profile


def test_a_status_attributed_to_a_plugin_keeps_its_code_and_reasons_and_success_is_shared_per_plugin():
    assert SUCCESS.with_plugin("DefaultBinder") is SUCCESS.with_plugin("DefaultBinder")
    assert SUCCESS.with_plugin("DefaultBinder").plugin == "DefaultBinder" and SUCCESS.with_plugin("DefaultBinder").is_success
    assert SUCCESS.with_plugin("Other").plugin == "Other" and SUCCESS.plugin == ""
    rejected = Status.unschedulable("no room").with_plugin("NodePorts")
    assert (rejected.code, rejected.reasons, rejected.plugin) == (Code.UNSCHEDULABLE, ("no room",), "NodePorts")
    assert rejected.with_plugin("Else") is rejected


@pytest.mark.parametrize("made, built", [
    (Status.unschedulable("Insufficient cpu", plugin="P"), Status(Code.UNSCHEDULABLE, ("Insufficient cpu",), "P")),
    (Status.unschedulable("a", "b", resolvable=False), Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ("a", "b"))),
    (Status.error("boom", plugin="P"), Status(Code.ERROR, ("boom",), "P")),
    (Status.error("boom").with_plugin("Q"), Status(Code.ERROR, ("boom",), "Q")),
    (SUCCESS.with_plugin("Q"), Status(plugin="Q")),
])
def test_statuses_the_class_makes_are_those_the_constructor_makes(made, built):
    assert made == built and hash(made) == hash(built) and repr(made) == repr(built)
    assert made.is_success is built.is_success
    with pytest.raises(AttributeError):
        made.code = Code.SUCCESS  # frozen


def test_pods_skipping_different_plugins_in_turn_each_get_their_own_filters():
    fw = make_framework()
    snap = make_snapshot([make_node("n1", labels={"disk": "ssd"}), make_node("n2", taints=[
        {"key": "k", "value": "v", "effect": "NoSchedule"}])])
    plain = make_pod("plain")
    tolerant = make_pod("tolerant", nodeSelector={"disk": "hdd"},
                        tolerations=[{"key": "k", "operator": "Exists", "effect": "NoSchedule"}])
    for _ in range(2):  # the filter order cached for one pod's skipped plugins must not serve the next
        assert fw.schedule_one(PodInfo.from_dict(plain), snap).node_name == "n1"
        result = fw.schedule_one(PodInfo.from_dict(tolerant), snap)
        assert result.node_name is None and "didn't match Pod's node affinity/selector" in result.status.message()


# ---------------------------------------------------------------------- opportunistic batching


class SignedOddNodes(OddNodes):
    """OddNodes signing pods: its filter reads nothing of the pod."""

    NAME = "SignedOddNodes"

    def sign(self, pod, snapshot):
        return ()


class BrokenSigner(OddNodes):
    """OddNodes whose sign raises."""

    NAME = "BrokenSigner"

    def sign(self, pod, snapshot):
        raise RuntimeError("boom")


def _place(fw, snap, name, **pod):
    info = PodInfo.from_dict(make_pod(name, **pod))
    result = fw.schedule_one(info, snap)
    if result.node_name is not None:
        snap.assume_pod(info, result.node_name)
    return result


def _best_totals(snap, name, **pod):
    """Every feasible node's total score for the pod, from a full cycle (batching off)."""
    from scheduler.sched_builders import scores_of

    return scores_of(make_framework({"percentageOfNodesToScore": 100}, batching=False), make_pod(name, **pod), snap)


def test_pods_of_one_signature_are_placed_from_the_first_pods_ranked_candidates():
    snap = make_snapshot([make_node(f"n{i}", cpu=str(2 + i % 4)) for i in range(12)])
    fw = make_framework({"percentageOfNodesToScore": 100})
    for j in range(30):
        totals = _best_totals(snap, f"p{j}", cpu="300m")
        result = _place(fw, snap, f"p{j}", cpu="300m")
        assert totals[result.node_name] == max(totals.values()), j
        assert result.evaluated_nodes == (12 if j in (0, 12, 24) else 1)  # a batch serves as many pods as it had candidates
    assert (fw.batch.stored, fw.batch.batched) == (3, 27)


def test_the_previous_node_is_taken_again_while_it_still_scores_best():
    snap = make_snapshot([make_node(f"n{i}", cpu="1") for i in range(5)])
    fw = make_framework({"percentageOfNodesToScore": 100,
                         "pluginConfig": [{"name": "NodeResourcesFit", "args": {"scoringStrategy": {"type": "MostAllocated"}}}]})
    placed = [_place(fw, snap, f"p{j}", cpu="400m", memory=None).node_name for j in range(6)]
    # bin packing: two pods fill a node, then the batch moves on to the best kept candidate
    assert placed[0] == placed[1] != placed[2] == placed[3] != placed[4] == placed[5]
    assert fw.batch.batched == 4  # five candidates, five pods: the sixth started a new batch


def test_a_node_the_pod_no_longer_fits_gives_way_to_the_next_candidate():
    snap = make_snapshot([make_node(f"n{i}") for i in range(4)])
    fw = make_framework({"percentageOfNodesToScore": 100})
    ports = {"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]}]}
    placed = [_place(fw, snap, f"p{j}", **ports).node_name for j in range(5)]
    assert sorted(placed[:4]) == ["n0", "n1", "n2", "n3"] and placed[4] is None  # one pod per node, as host ports demand
    assert fw.batch.batched == 3


def test_another_signature_an_unsignable_pod_or_a_change_elsewhere_means_a_full_cycle():
    snap = make_snapshot([make_node(f"n{i}", labels={"zone": "ab"[i % 2]}) for i in range(6)])
    fw = make_framework({"percentageOfNodesToScore": 100})
    assert _place(fw, snap, "a").evaluated_nodes == 6
    assert _place(fw, snap, "b", cpu="200m").evaluated_nodes == 6  # another signature
    spread = [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway",
               "labelSelector": {"matchLabels": {"app": "s"}}}]
    assert _place(fw, snap, "c", cpu="200m", labels={"app": "s"}, topologySpreadConstraints=spread).evaluated_nodes == 6
    assert _place(fw, snap, "d", cpu="200m").evaluated_nodes == 6  # the unsignable pod's cycle stored nothing
    assert _place(fw, snap, "e", cpu="200m").evaluated_nodes == 1
    last = snap.pod("default/e").slot
    snap.add_pod(make_pod("elsewhere", node=snap.node((last + 1) % 6).name))
    assert _place(fw, snap, "f", cpu="200m").evaluated_nodes == 6
    snap.add_node(make_node("n6"))
    assert _place(fw, snap, "g", cpu="200m").evaluated_nodes == 7
    assert fw.batch.batched == 1


def test_a_profile_batches_only_when_every_filter_and_score_plugin_signs_pods():
    assert make_framework().batch is not None
    assert make_framework(batching=False).batch is None
    assert make_framework(only("NodeResourcesFit", "SignedOddNodes"), registry={"SignedOddNodes": SignedOddNodes}).batch is not None
    assert make_framework(only("NodeResourcesFit", "OddNodes"), registry=EXTRA).batch is None


def test_a_plugin_whose_sign_raises_leaves_its_pods_to_full_cycles():
    fw = make_framework(only("NodeResourcesFit", "BrokenSigner"), registry={"BrokenSigner": BrokenSigner})
    snap = make_snapshot([make_node(f"n{i}") for i in range(1, 6)])
    assert [_place(fw, snap, f"p{j}").evaluated_nodes for j in range(3)] == [5, 5, 5]
    assert fw.batch.batched == 0


class CpuFromState(Plugin):
    """Signs pods by their CPU request; its pre-filter writes the limit its filter reads (and
    the pod's name, which a plugin promising SIGNED_PREPARATION must not), and counts its calls."""

    pre_filters: list = []
    scored: list = []
    reserved: list = []

    def pre_filter(self, state, pod, snapshot):
        CpuFromState.pre_filters.append(pod.name)
        state.write("limit", 10 * pod.requests[0])
        state.write("pod", pod.name)

    def filter(self, state, pod, node):
        return None if node.allocatable[0] >= state.read("limit") else Status.unschedulable("node(s) too small")

    def score_batch(self, state, pod, batch):
        CpuFromState.scored.append(pod.name)
        return None  # skips every pod

    def reserve(self, state, pod, node_name):
        CpuFromState.reserved.append((pod.name, state.read("pod")))

    def sign(self, pod, snapshot):
        return pod.requests


class Prepared(CpuFromState):
    NAME = "Prepared"
    SIGNED_PREPARATION = True


class NotPrepared(CpuFromState):
    NAME = "NotPrepared"


class OverridesPrepared(Prepared):
    """A subclass changing the pre-filter without saying SIGNED_PREPARATION again."""

    NAME = "OverridesPrepared"

    def pre_filter(self, state, pod, snapshot):
        super().pre_filter(state, pod, snapshot)


PREPARING = {c.NAME: c for c in (Prepared, NotPrepared, OverridesPrepared)}


def _place_reserved(fw, snap, name, cpu):
    result = _place(fw, snap, name, cpu=cpu)
    if result.node_name is not None:
        assert fw.run_reserve(result.state, PodInfo.from_dict(make_pod(name, cpu=cpu)), result.node_name).is_success
    return result


def test_pods_placed_from_a_batch_reuse_the_preparation_of_its_cycle():
    """A plugin promising SIGNED_PREPARATION is pre-filtered once per batch: the pods the batch
    serves read a copy of the state its cycle prepared, and write their own copy. A score it
    skipped for the batch's first pod is skipped for them without asking."""
    for calls in (CpuFromState.pre_filters, CpuFromState.scored, CpuFromState.reserved):
        calls.clear()
    snap = make_snapshot([make_node(f"n{i}", cpu=str(2 + i)) for i in range(6)])  # 2..7 cores
    fw = make_framework(only("NodeResourcesFit", "Prepared"), registry=PREPARING)
    placed = [_place_reserved(fw, snap, f"p{j}", "400m") for j in range(4)]
    assert all(r.node_name in ("n2", "n3", "n4", "n5") for r in placed)  # 4 cores and up: the state's limit held
    assert [r.evaluated_nodes for r in placed] == [6, 1, 1, 1]
    assert CpuFromState.pre_filters == CpuFromState.scored == ["p0"]
    # the reserve of a pod the batch served reads the batch cycle's preparation
    assert CpuFromState.reserved == [("p0", "p0"), ("p1", "p0"), ("p2", "p0"), ("p3", "p0")]
    assert placed[1].state is not placed[2].state and placed[1].state.data is not placed[2].state.data
    # another signature: prepared afresh, in a full cycle
    assert _place(fw, snap, "q", cpu="500m").evaluated_nodes == 6
    assert CpuFromState.pre_filters == CpuFromState.scored == ["p0", "q"]


@pytest.mark.parametrize("plugin", ["NotPrepared", "OverridesPrepared"])
def test_a_plugin_without_the_promise_is_prepared_for_every_pod_the_batch_serves(plugin):
    for calls in (CpuFromState.pre_filters, CpuFromState.scored, CpuFromState.reserved):
        calls.clear()
    snap = make_snapshot([make_node(f"n{i}", cpu=str(2 + i)) for i in range(6)])
    fw = make_framework(only("NodeResourcesFit", plugin), registry=PREPARING)
    placed = [_place_reserved(fw, snap, f"p{j}", "400m") for j in range(4)]
    assert [r.evaluated_nodes for r in placed] == [6, 1, 1, 1]  # still batched
    assert CpuFromState.pre_filters == CpuFromState.scored == ["p0", "p1", "p2", "p3"]
    assert CpuFromState.reserved == [(f"p{j}", f"p{j}") for j in range(4)]


def test_a_nominated_pod_of_the_batchs_signature_is_checked_on_its_node_first():
    snap = make_snapshot([make_node(f"n{i}") for i in range(4)])
    fw = make_framework({"percentageOfNodesToScore": 100})
    first = _place(fw, snap, "p0")
    nominated = next(f"n{i}" for i in range(4) if f"n{i}" != first.node_name)
    info = PodInfo.from_dict(make_pod("p1"))
    result = fw.schedule_one(info, snap, nominated)
    assert (result.node_name, result.evaluated_nodes) == (nominated, 1)


def test_a_cycle_state_clone_has_its_own_data_and_skip_sets_and_shares_the_query():
    state = CycleState()
    state.write("k", 1)
    state.skip_filter.add("A")
    copy = state.clone()
    copy.write("k", 2)
    copy.skip_filter.add("B")
    copy.skip_score.add("C")
    copy.kernel_only.add("D")
    assert (state.read("k"), state.skip_filter, state.skip_score, state.kernel_only) == (1, {"A"}, set(), set())
    assert (copy.read("k"), copy.skip_filter) == (2, {"A", "B"})
    assert copy.query is state.query and copy.snapshot is state.snapshot


class KeepsDiagnosis(Plugin):
    """A post-filter that keeps the nodes preemption could help, as DefaultPreemption asks for them."""

    NAME = "KeepsDiagnosis"
    seen: list = []

    def post_filter(self, state, pod, snapshot, diagnosis):
        scanned = sched.slots_rejected_by(snapshot.table, diagnosis.kinds, diagnosis.details,
                                          [k for k in diagnosis.kernel_counts()
                                           if diagnosis.status(0, k).code == Code.UNSCHEDULABLE])
        KeepsDiagnosis.seen.append((list(diagnosis.slots_with(Code.UNSCHEDULABLE)), list(scanned)))
        return None, Status.unschedulable("no preemption here")


def test_the_nodes_a_preemption_may_help_are_every_slot_only_when_every_slot_was_rejected_so():
    fw = make_framework(only("NodeUnschedulable", "NodeResourcesFit", "KeepsDiagnosis"),
                        registry={"KeepsDiagnosis": KeepsDiagnosis})
    full = make_snapshot([make_node(f"n{i}", cpu="1") for i in range(4)])
    cordoned = make_snapshot([make_node("n0", cpu="1"), make_node("n1", cpu="1", unschedulable=True), make_node("n2", cpu="1")])
    with_a_hole = make_snapshot([make_node(f"n{i}", cpu="1") for i in range(4)])
    with_a_hole.remove_node("n1")  # its slot stays, free
    KeepsDiagnosis.seen = []
    for snap in (full, cordoned, with_a_hole):
        fw.schedule_one(make_pod("p", cpu="2"), snap)
    # every node rejected for cpu: all of them, without a scan; a cordoned node (unresolvable)
    # or a free slot: what the scan finds
    assert KeepsDiagnosis.seen == [([0, 1, 2, 3], [0, 1, 2, 3]), ([0, 2], [0, 2]), ([0, 2, 3], [0, 2, 3])]
