"""NodeAffinity: nodeSelector, required terms (OR of ANDs, all operators), preferred weights."""

from scheduler.sched_builders import make_framework, make_node, make_pod, make_snapshot, only, scores_of

REASON = "node(s) didn't match Pod's node affinity/selector"


def _required(*terms):
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


def _fits(pod, snap):
    fw = make_framework(only("NodeAffinity"))
    from orchestra.scheduler import PodInfo

    info = PodInfo.from_dict(pod)
    return sorted(snap.node(s).name for s in snap.slots() if fw.check_node(info, snap, s).is_success)


SNAP = make_snapshot([make_node("n1", labels={"zone": "a", "rank": "3"}), make_node("n2", labels={"zone": "b", "rank": "7"}),
                      make_node("n3", labels={"zone": "c", "gpu": "yes"})])


def test_node_selector_must_match_every_label():
    assert _fits(make_pod("p", nodeSelector={"zone": "a"}), SNAP) == ["n1"]
    result = make_framework(only("NodeAffinity")).schedule_one(make_pod("p", nodeSelector={"zone": "z"}), SNAP)
    assert result.fit_error.reasons == {REASON: 3}


def test_required_operators():
    def expr(key, op, *values):
        return {"matchExpressions": [{"key": key, "operator": op, **({"values": list(values)} if values else {})}]}

    assert _fits(make_pod("p", affinity=_required(expr("zone", "In", "a", "b"))), SNAP) == ["n1", "n2"]
    assert _fits(make_pod("p", affinity=_required(expr("zone", "NotIn", "a"))), SNAP) == ["n2", "n3"]
    assert _fits(make_pod("p", affinity=_required(expr("gpu", "Exists"))), SNAP) == ["n3"]
    assert _fits(make_pod("p", affinity=_required(expr("gpu", "DoesNotExist"))), SNAP) == ["n1", "n2"]
    assert _fits(make_pod("p", affinity=_required(expr("rank", "Gt", "5"))), SNAP) == ["n2"]
    assert _fits(make_pod("p", affinity=_required(expr("rank", "Lt", "5"))), SNAP) == ["n1"]


def test_terms_are_ored_and_requirements_anded():
    t1 = {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}, {"key": "rank", "operator": "Gt", "values": ["5"]}]}
    t2 = {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}
    assert _fits(make_pod("p", affinity=_required(t1, t2)), SNAP) == ["n3"]


def test_match_fields_on_the_node_name_and_empty_terms_match_nothing():
    byname = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}
    assert _fits(make_pod("p", affinity=_required(byname)), SNAP) == ["n2"]
    assert _fits(make_pod("p", affinity=_required({})), SNAP) == []


def test_selector_and_affinity_must_both_hold():
    pod = make_pod("p", nodeSelector={"zone": "a"}, affinity=_required({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}))
    assert _fits(pod, SNAP) == []


def test_preferred_terms_sum_weights_and_normalize():
    prefs = [{"weight": 80, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}},
             {"weight": 20, "preference": {"matchExpressions": [{"key": "rank", "operator": "Gt", "values": ["5"]}]}}]
    pod = make_pod("p", affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": prefs}})
    assert scores_of(make_framework(only("NodeAffinity")), pod, SNAP) == {"n1": 80, "n2": 100, "n3": 0}
    prefs[1]["weight"] = 40
    assert scores_of(make_framework(only("NodeAffinity")), pod, SNAP) == {"n1": 66, "n2": 100, "n3": 0}
