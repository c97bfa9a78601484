"""TaintToleration: hard taints filter, PreferNoSchedule taints score (reversed, normalized)."""

from scheduler.sched_builders import make_framework, make_node, make_pod, make_snapshot, only, scores_of


def _t(key, effect, value="x"):
    return {"key": key, "value": value, "effect": effect}


def test_untolerated_taints_reject_with_the_first_taint_named():
    snap = make_snapshot([make_node("n1", taints=[_t("dedicated", "NoSchedule", "gpu")]),
                          make_node("n2", taints=[_t("evict", "NoExecute", "")])])
    result = make_framework(only("TaintToleration")).schedule_one(make_pod("p"), snap)
    assert result.fit_error.message() == (
        "0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, "
        "1 node(s) had untolerated taint {evict: }.")


def test_tolerations_match_key_value_effect_and_exists():
    snap = make_snapshot([make_node("n1", taints=[_t("dedicated", "NoSchedule", "gpu")])])
    fw = make_framework(only("TaintToleration"))
    ok = [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
          {"key": "dedicated", "operator": "Exists"}, {"operator": "Exists"}]
    bad = [{"key": "dedicated", "operator": "Equal", "value": "cpu"},
           {"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}]
    for tol in ok:
        assert fw.schedule_one(make_pod("p", tolerations=[tol]), snap).node_name == "n1", tol
    for tol in bad:
        assert fw.schedule_one(make_pod("p", tolerations=[tol]), snap).node_name is None, tol


def test_prefer_no_schedule_taints_are_counted_and_reversed():
    snap = make_snapshot([make_node("n1", taints=[_t("a", "PreferNoSchedule")]), make_node("n2"),
                          make_node("n3", taints=[_t("a", "PreferNoSchedule"), _t("b", "PreferNoSchedule")])])
    scores = scores_of(make_framework(only("TaintToleration")), make_pod("p"), snap)
    assert scores == {"n1": 50, "n2": 100, "n3": 0}
    tolerant = make_pod("q", tolerations=[{"key": "b", "operator": "Exists", "effect": "PreferNoSchedule"}])
    assert scores_of(make_framework(only("TaintToleration")), tolerant, snap) == {"n1": 0, "n2": 100, "n3": 0}


def test_no_prefer_taints_anywhere_gives_everyone_full_marks():
    snap = make_snapshot([make_node("n1"), make_node("n2")])
    assert scores_of(make_framework(only("TaintToleration")), make_pod("p"), snap) == {"n1": 100, "n2": 100}
