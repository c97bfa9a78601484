"""The scheduling kernel (``orchestra._ext.sched``) on its own: exact integer arithmetic,
the rotating filter scan, normalization and tie-breaking."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra._ext import sched

ZERO_WEIGHTS = array("q", [0, 0, 0])


def _table(allocs: list[tuple[int, int]], requested: list[tuple[int, int]]) -> sched.NodeTable:
    t = sched.NodeTable()
    t.ensure(len(allocs))
    for i, ((cpu, mem), (rc, rm)) in enumerate(zip(allocs, requested)):
        t.set_live(i, True)
        t.set_allocatable(i, cpu, mem, 0, 110)
        t.add_requests(i, rc, rm, 0, 0, rc, rm)
    return t


big = st.integers(1, 2**50)


@given(st.lists(st.tuples(big, big, st.integers(0, 2**50), st.integers(0, 2**50)), min_size=1, max_size=20),
       st.integers(0, 2**40), st.integers(0, 2**40))
def test_least_and_most_allocated_are_exact_integer_formulas(nodes, pod_cpu, pod_mem):
    t = _table([(a, b) for a, b, _, _ in nodes], [(c, d) for _, _, c, d in nodes])
    q = sched.PodQuery()
    q.set_requests(pod_cpu, pod_mem, 0, pod_cpu, pod_mem)
    slots = array("i", range(len(nodes)))
    shape = array("q", [0, 100]), array("q", [100, 0])
    least = sched.score_resources(t, q, slots, array("q", [0] * len(nodes)), 0, array("q", [1, 1, 0]), *shape)
    most = sched.score_resources(t, q, slots, array("q", [0] * len(nodes)), 1, array("q", [1, 1, 0]), *shape)
    for k, (ac, am, rc, rm) in enumerate(nodes):
        reqs = [(rc + pod_cpu, ac), (rm + pod_mem, am)]
        expect_least = sum(0 if r > a else (a - r) * 100 // a for r, a in reqs) // 2
        expect_most = sum(min(r, a) * 100 // a for r, a in reqs) // 2
        assert least[k] == expect_least and most[k] == expect_most


def test_run_filters_wraps_stops_and_respects_the_limit():
    t = _table([(1000, 1)] * 6, [(0, 0)] * 6)
    t.set_unschedulable(2, True)
    q = sched.PodQuery()
    order = array("i", [sched.K_UNSCHEDULABLE])
    kinds, details, feasible = array("i", [0] * 6), array("i", [0] * 6), array("i", [0] * 6)
    assert sched.run_filters(t, q, order, 4, 3, feasible, kinds, details) == (3, 3)
    assert list(feasible[:3]) == [4, 5, 0]
    assert sched.run_filters(t, q, order, 1, 10, feasible, kinds, details, 2) == (1, 2)
    assert kinds[2] == sched.K_UNSCHEDULABLE
    # a start outside 0..n-1 counts modulo n, as Python's % does
    assert sched.run_filters(t, q, order, -2, 2, feasible, kinds, details) == (2, 2)
    assert list(feasible[:2]) == [4, 5]
    assert sched.run_filters(t, q, order, 13, 6, feasible, kinds, details) == (5, 6)
    assert list(feasible[:5]) == [1, 3, 4, 5, 0]
    assert sched.reason_histogram(t, kinds, details, 1, 2) == {(sched.K_UNSCHEDULABLE, 0): 1}


def test_reason_kernels_refuse_arrays_of_another_type_or_too_short():
    t = _table([(1000, 1)] * 3, [(0, 0)] * 3)
    t.set_unschedulable(1, True)
    kinds, details = array("i", [0, sched.K_UNSCHEDULABLE, 0]), array("i", [0] * 3)
    with pytest.raises(TypeError, match=r"kinds: an array\('i'\) is needed"):
        sched.reason_histogram(t, array("q", kinds), details, 0, 3)
    with pytest.raises(ValueError, match="details: 3 items are needed"):
        sched.reason_histogram(t, kinds, details[:2], 0, 3)
    assert sched.reason_histogram(t, kinds, array("i"), 0, 0) == {}  # nothing scanned, nothing read
    with pytest.raises(TypeError, match=r"details: an array\('i'\) is needed"):
        sched.slots_rejected_by(t, kinds, array("q", details), [(sched.K_UNSCHEDULABLE, 0)])
    # slots past the arrays' end are not looked at
    assert list(sched.slots_rejected_by(t, kinds[:1], details, [(sched.K_UNSCHEDULABLE, 0)])) == []
    assert list(sched.slots_rejected_by(t, kinds, details, [(sched.K_UNSCHEDULABLE, 0)])) == [1]


reasons = st.lists(st.tuples(st.integers(0, 3), st.integers(-2, 2), st.booleans()), min_size=1, max_size=30)


@given(reasons, st.integers(0, 60), st.integers(0, 60), st.lists(st.tuples(st.integers(1, 3), st.integers(-2, 2)),
                                                                   max_size=4))
def test_reason_histogram_and_slots_rejected_by_count_live_rejected_slots(per_slot, start, scanned, wanted):
    """Against plain Python: runs of one reason, reasons that come back, dead slots, a wrapping scan."""
    n = len(per_slot)
    t = _table([(1, 1)] * n, [(0, 0)] * n)
    for i, (_, _, live) in enumerate(per_slot):
        t.set_live(i, live)
    kinds = array("i", [k for k, _, _ in per_slot])
    details = array("i", [d for _, d, _ in per_slot])
    scanned = min(scanned, n)
    expected: dict[tuple[int, int], int] = {}
    for step in range(scanned):
        i = (start + step) % n
        if per_slot[i][2] and kinds[i]:
            expected[(kinds[i], details[i])] = expected.get((kinds[i], details[i]), 0) + 1
    assert sched.reason_histogram(t, kinds, details, start, scanned) == expected
    rejected = sched.slots_rejected_by(t, kinds, details, wanted)
    assert list(rejected) == [i for i, (k, d, live) in enumerate(per_slot) if live and k and (k, d) in wanted]


node_change = st.one_of(
    st.tuples(st.just("requests"), st.integers(0, 7), st.integers(-1500, 1500)),
    st.tuples(st.just("allocatable"), st.integers(0, 7), st.integers(0, 3000)),
    st.tuples(st.just("label"), st.integers(0, 7), st.integers(-1, 2)),
    st.tuples(st.just("taint"), st.integers(0, 7), st.integers(-1, 1)),
    st.tuples(st.just("cordon"), st.integers(0, 7), st.integers(0, 1)),
    st.tuples(st.just("port"), st.integers(0, 7), st.integers(0, 1)),
    st.tuples(st.just("clear"), st.integers(0, 7), st.just(0)),
    st.tuples(st.just("live"), st.integers(0, 7), st.integers(0, 1)),
)
ZONE_KEY = 0


def _memo_table() -> sched.NodeTable:
    t = _table([(2000, 1 << 30)] * 8, [(0, 0)] * 8)
    t.ensure_key(ZONE_KEY)
    for tid in range(2):
        t.ensure_taint(tid, sched.EFFECT_NO_SCHEDULE)
    for slot in range(8):
        t.set_label(slot, ZONE_KEY, slot % 3)
    return t


def _memo_pods() -> list[sched.PodQuery]:
    """Queries that differ in each input of the memoized filters (and two that are equal)."""
    in_zone = sched.NodeMatcher()
    in_zone.begin_term()
    in_zone.add(ZONE_KEY, sched.OP_IN, [0, 1])
    pods = []
    for cpu, node, cordon_ok, tolerated, port, matcher in (
            (500, -1, False, b"", False, None), (500, -1, False, b"", False, None), (1500, -1, False, b"", False, None),
            (500, 3, False, b"", False, None), (500, -1, True, b"", False, None), (500, -1, False, b"\x01", False, None),
            (500, -1, False, b"", True, None), (500, -1, False, b"", False, in_zone)):
        q = sched.PodQuery()
        q.set_requests(cpu, 1 << 20, 0, cpu, 1 << 20)
        q.only_node = node
        q.tolerates_unschedulable = cordon_ok
        q.set_tolerated(tolerated, b"")
        if port:
            q.set_ports([8080])
        q.required = matcher
        pods.append(q)
    return pods


@given(st.data())
def test_filter_verdicts_remembered_across_pods_and_changes_equal_fresh_ones(data):
    """What a FilterMemo remembers of a slot never outlives a change of the slot, the pod or the table,
    however many pod shapes it remembers (one or two: shapes are forgotten and taken up again)."""
    tables, pods = [_memo_table(), _memo_table()], _memo_pods()
    memo = sched.FilterMemo(data.draw(st.sampled_from([1, 2, sched.MEMO_SHAPES])))
    order = array("i", [sched.K_NODE_NAME, sched.K_UNSCHEDULABLE, sched.K_TAINTS, sched.K_NODE_AFFINITY,
                        sched.K_PORTS, sched.K_RESOURCES])
    for _ in range(data.draw(st.integers(1, 10))):
        t = data.draw(st.sampled_from(tables))
        for change, slot, value in data.draw(st.lists(node_change, max_size=3)):
            if change == "requests":
                t.add_requests(slot, value, 0, 0, 0, value, 0)
            elif change == "allocatable":
                t.set_allocatable(slot, value, 1 << 30, 0, 110)
            elif change == "label":
                t.set_label(slot, ZONE_KEY, value)
            elif change == "taint":
                t.set_taints(slot, [] if value < 0 else [value])
            elif change == "cordon":
                t.set_unschedulable(slot, bool(value))
            elif change == "port":
                (t.add_port if value else t.remove_port)(slot, 8080)
            elif change == "clear":
                t.clear(slot)
                t.set_allocatable(slot, 2000, 1 << 30, 0, 110)
                t.set_live(slot, True)
            else:
                t.set_live(slot, bool(value))
        q = data.draw(st.sampled_from(pods))
        start, want = data.draw(st.integers(0, 7)), data.draw(st.integers(1, 8))
        answers = []
        for m in (memo, None):
            kinds, details, feasible = array("i", [0] * 8), array("i", [0] * 8), array("i", [0] * 8)
            found, scanned = sched.run_filters(t, q, order, start, want, feasible, kinds, details, -1, m)
            answers.append((found, scanned, list(feasible[:found]), list(kinds), list(details)))
        assert answers[0] == answers[1]


def test_a_filter_memo_remembers_the_last_pod_shapes_up_to_its_bound():
    t, pods = _memo_table(), _memo_pods()
    order = array("i", [sched.K_RESOURCES])
    memo = sched.FilterMemo(2)

    def run(q: sched.PodQuery) -> None:
        sched.run_filters(t, q, order, 0, 8, array("i", [0] * 8), array("i", [0] * 8), array("i", [0] * 8), -1, memo)

    run(pods[0])
    run(pods[1])  # an equal query: the same shape
    assert memo.remembered == 1
    run(pods[2])
    assert memo.remembered == 2
    run(pods[3])  # the least recently used shape is forgotten
    assert (memo.shapes, memo.remembered) == (2, 2)
    assert sched.FilterMemo().shapes == sched.MEMO_SHAPES
    for bad in (sched.FilterMemo, sched.ScorePlan):
        with pytest.raises(ValueError, match="shapes: at least 1 pod shape is remembered, not 0"):
            bad(0)


def test_the_hot_kernel_calls_refuse_arrays_of_the_wrong_type_or_size():
    t = _table([(1000, 1)] * 4, [(0, 0)] * 4)
    q = sched.PodQuery()
    order = array("i", [sched.K_UNSCHEDULABLE])
    four = array("i", [0] * 4)
    with pytest.raises(TypeError, match=r"kinds: an array\('i'\) is needed, not array\('q'\)"):
        sched.run_filters(t, q, order, 0, 4, array("i", four), array("q", [0] * 4), array("i", four))
    with pytest.raises(ValueError, match="details: 4 items are needed, it has 3"):
        sched.run_filters(t, q, order, 0, 4, array("i", four), array("i", four), array("i", [0] * 3))
    with pytest.raises(ValueError, match="feasible: 2 items are needed, it has 1"):
        sched.run_filters(t, q, order, 0, 2, array("i", [0]), array("i", four), array("i", four))
    plan = sched.ScorePlan()
    plan.add_taints(1)
    with pytest.raises(IndexError, match=r"nodes\[1\]: slot 4 is not in the table \(0..3\)"):
        plan.run(t, q, array("i", [0, 4]), 4)
    with pytest.raises(IndexError, match=r"nodes\[0\]: slot -1 is not in the table"):
        plan.run(t, q, array("i", [-1]), 4)
    with pytest.raises(TypeError, match=r"totals: an array\('q'\) is needed"):
        sched.select_best(array("i", [1, 2]), 0)
    assert sched.select_best(array("q"), 0) == -1


def test_normalization_and_selection():
    scores = array("q", [0, 5, 10])
    assert list(sched.normalize_default(scores, False)) == [0, 50, 100]
    assert list(sched.normalize_default(array("q", [0, 0]), True)) == [100, 100]
    assert list(sched.normalize_min_max(array("q", [-5, 0, 5]))) == [0, 50, 100]
    totals = array("q", [3, 7, 7, 1])
    assert {sched.select_best(totals, pick) for pick in range(4)} == {1, 2}
    assert sched.in_range(array("q", [0, 101]), 0, 100) == 1


def test_spread_constraints_are_stored_as_given():
    q = sched.PodQuery()
    q.add_spread(3, 2, 1, True, array("q", [4, 5]))
    assert q.spread_constraints() == [(3, 2, 1, 1, [4, 5])]
    assert sched.domain_totals(_table([(1, 1)], [(0, 0)]), 0, array("q", [1]), None, 0)[1:] == (0, 0, 0)


def test_select_victims_reprieves_the_most_important_and_reports_every_visited_node():
    t = sched.NodeTable()
    t.ensure(3)
    for slot in range(3):
        t.set_live(slot, True)
        t.set_allocatable(slot, 4000, 1 << 30, 0, 10)
    # slot 0: two 2-cpu pods of priority 1 and 5 → one victim (priority 1)
    for pid, prio, start in ((1, 1, 10), (2, 5, 10)):
        t.add_pod(0, pid, prio, start, 2000, 0, 0)
        t.add_requests(0, 2000, 0, 0, 1, 2000, 0)
    # slot 1: one 4-cpu pod of priority 50 (not lower): no victims
    t.add_pod(1, 3, 50, 0, 4000, 0, 0)
    t.add_requests(1, 4000, 0, 0, 1, 4000, 0)
    # slot 2: one 1-cpu pod of priority 0 on a node too small even when empty
    t.set_allocatable(2, 1000, 1 << 30, 0, 10)
    t.add_pod(2, 4, 0, 0, 1000, 0, 0)
    t.add_requests(2, 1000, 0, 0, 1, 1000, 0)
    outcome = array("i", [9, 9, 9])
    visited, slot, ids = sched.select_victims(t, array("i", [0, 1, 2]), 1, 5, 10, 2000, 0, 0, outcome)
    assert (visited, slot, list(ids)) == (3, 0, [1])
    assert list(outcome) == [0, -1, 1]  # candidate, no lower-priority pod, short of cpu (bit 1)
    t.remove_pod(0, 1)
    assert t.pod_ids(0) == [2]
    visited, slot, ids = sched.select_victims(t, array("i", [1, 2]), 0, 5, 10, 2000, 0, 0, array("i", [0, 0]))
    assert (visited, slot, len(ids)) == (2, -1, 0)
    with pytest.raises(ValueError, match="outcome: 2 items are needed"):  # never written past its end
        sched.select_victims(t, array("i", [1, 2]), 0, 5, 10, 2000, 0, 0, array("i", [0]))
    with pytest.raises(TypeError, match=r"slots: an array\('i'\) is needed"):
        sched.select_victims(t, array("q", [1, 2]), 0, 5, 10, 2000, 0, 0, array("i", [0, 0]))


# ---------------------------------------------------------------- the fused score pass

resource_strategy = st.sampled_from([
    (0, [1, 1, 0], [0, 100], [100, 0]),
    (1, [1, 3, 0], [0, 100], [100, 0]),
    (2, [2, 1, 1], [0, 50, 100], [0, 80, 100]),
    (0, [0, 0, 5], [0, 100], [100, 0]),
])
fused_node = st.tuples(
    st.integers(0, 64_000), st.integers(0, 2**36), st.integers(0, 2**34), st.integers(1, 110),  # allocatable
    st.integers(0, 64_000), st.integers(0, 2**36), st.integers(0, 2**34), st.integers(0, 110),  # requested
    st.lists(st.integers(0, 3), max_size=3, unique=True),  # taints (ids; effect by id)
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2**31)), max_size=3, unique_by=lambda x: x[0]),  # images
)


def _fused_table(nodes: list[tuple]) -> sched.NodeTable:
    t = sched.NodeTable()
    t.ensure(len(nodes))
    for tid, effect in enumerate((sched.EFFECT_PREFER_NO_SCHEDULE, sched.EFFECT_NO_SCHEDULE,
                                  sched.EFFECT_PREFER_NO_SCHEDULE, sched.EFFECT_PREFER_NO_SCHEDULE)):
        t.ensure_taint(tid, effect)
    for i, (ac, am, ae, ap, rc, rm, re, rp, taints, images) in enumerate(nodes):
        t.set_live(i, True)
        t.set_allocatable(i, ac, am, ae, ap)
        t.add_requests(i, rc, rm, re, rp, max(rc, 100), max(rm, 200 << 20))
        t.set_taints(i, taints)
        t.set_images(i, [img for img, _ in images], [size for _, size in images])
    return t


@given(st.lists(fused_node, min_size=1, max_size=12), st.data())
def test_the_fused_score_pass_equals_the_per_plugin_kernels(nodes, data):
    """ScorePlan.run == Σ weight × (each plugin's kernel score, normalized over the same candidates)."""
    t = _fused_table(nodes)
    cpu, mem, eph = data.draw(st.integers(0, 4000)), data.draw(st.integers(0, 2**33)), data.draw(st.integers(0, 2**30))
    q = sched.PodQuery()
    q.set_requests(cpu, mem, eph, cpu or 100, mem or 200 << 20)
    soft = bytes(data.draw(st.lists(st.booleans(), min_size=0, max_size=4)))
    q.set_tolerated(b"", soft)
    pod_images = data.draw(st.lists(st.integers(0, 2), max_size=3, unique=True))
    containers = data.draw(st.integers(0, 3))
    q.set_images(pod_images, containers)
    strategy, res_weights, util, score = data.draw(resource_strategy)
    balanced = data.draw(st.lists(st.integers(0, 2), max_size=3, unique=True))
    w = {k: data.draw(st.integers(1, 5)) for k in ("res", "bal", "taint", "img")}
    terms = data.draw(st.sets(st.sampled_from(["res", "bal", "taint", "img"])))
    skip = data.draw(st.integers(0, 15))
    slots = array("i", data.draw(st.permutations(range(len(nodes)))))

    plan = sched.ScorePlan()
    expected = array("q", [0] * len(slots))

    def add(term: str, bit: int, scores: array | None) -> None:
        if term in terms and not skip & bit and scores is not None:
            sched.accumulate(expected, scores, w[term])

    def fresh() -> array:
        return array("q", [0] * len(slots))

    if "res" in terms:
        plan.add_resources(w["res"], strategy, array("q", res_weights), array("q", util), array("q", score))
    add("res", sched.S_RESOURCES, sched.score_resources(t, q, slots, fresh(), strategy, array("q", res_weights),
                                                        array("q", util), array("q", score)))
    if "bal" in terms:
        plan.add_balanced(w["bal"], array("q", balanced))
    add("bal", sched.S_BALANCED, sched.score_balanced(t, q, slots, fresh(), array("q", balanced))
        if any((cpu, mem, eph)[r] for r in balanced) else None)
    if "taint" in terms:
        plan.add_taints(w["taint"])
    add("taint", sched.S_TAINTS, sched.normalize_default(sched.score_taints(t, q, slots, fresh()), True))
    if "img" in terms:
        plan.add_images(w["img"])
    add("img", sched.S_IMAGES, sched.score_images(t, array("i", pod_images), containers, len(nodes), slots, fresh())
        if pod_images and containers else None)
    assert plan.terms == sum(bit for term, bit in (("res", 1), ("bal", 2), ("taint", 4), ("img", 8)) if term in terms)
    assert list(plan.run(t, q, slots, len(nodes), skip)) == list(expected)


table_change = st.one_of(
    st.tuples(st.just("requests"), st.integers(0, 11), st.integers(-2000, 2000), st.integers(-2**30, 2**30)),
    st.tuples(st.just("allocatable"), st.integers(0, 11), st.integers(0, 64_000), st.integers(0, 2**36)),
    st.tuples(st.just("clear"), st.integers(0, 11), st.just(0), st.just(0)),
)


@given(st.lists(fused_node, min_size=12, max_size=12), st.data())
def test_a_score_plan_reused_across_pods_and_changes_scores_as_a_fresh_one(nodes, data):
    """What a ScorePlan remembers of a slot never outlives a change of the slot, the pod or the table."""
    tables = [_fused_table(nodes), _fused_table(nodes)]
    strategy, res_weights, util, score = data.draw(resource_strategy)
    balanced = data.draw(st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True))

    def plan(shapes: int = sched.MEMO_SHAPES) -> sched.ScorePlan:
        p = sched.ScorePlan(shapes)
        p.add_resources(2, strategy, array("q", res_weights), array("q", util), array("q", score))
        p.add_balanced(1, array("q", balanced))
        return p

    reused = plan(data.draw(st.sampled_from([1, 2, sched.MEMO_SHAPES])))
    pods = [(0, 0, 0), (500, 1 << 30, 0), (500, 1 << 30, 1 << 20)]
    for _ in range(data.draw(st.integers(1, 12))):
        t = data.draw(st.sampled_from(tables))
        for change, slot, a, b in data.draw(st.lists(table_change, max_size=3)):
            if change == "requests":
                t.add_requests(slot, a, b, 0, 0, a, b)
            elif change == "allocatable":
                t.set_allocatable(slot, a, b, 2**34, 110)
            else:
                t.clear(slot)
                t.set_live(slot, True)
        cpu, mem, eph = data.draw(st.sampled_from(pods))
        q = sched.PodQuery()
        q.set_requests(cpu, mem, eph, cpu or 100, mem or 200 << 20)
        slots = array("i", data.draw(st.lists(st.integers(0, 11), min_size=1, max_size=12, unique=True)))
        skip = data.draw(st.sampled_from([0, sched.S_BALANCED]))
        assert list(reused.run(t, q, slots, 12, skip)) == list(plan().run(t, q, slots, 12, skip))


def test_a_score_plan_takes_each_term_once_with_a_positive_weight():
    import pytest

    plan = sched.ScorePlan()
    plan.add_taints(3)
    with pytest.raises(ValueError, match="already"):
        plan.add_taints(1)
    with pytest.raises(ValueError, match="weight"):
        plan.add_images(0)
    with pytest.raises(ValueError, match="resources"):
        plan.add_balanced(1, [0, 1, 2, 0])
    with pytest.raises(ValueError, match="strategy"):
        plan.add_resources(1, 7, [1, 1, 0], [0, 100], [100, 0])
    assert list(sched.ScorePlan().run(sched.NodeTable(), sched.PodQuery(), array("i"), 0)) == []


def test_cordoned_and_hard_tainted_slots_are_counted_and_their_filters_still_run():
    t = _table([(1000, 1)] * 4, [(0, 0)] * 4)
    t.ensure_taint(0, sched.EFFECT_PREFER_NO_SCHEDULE)
    t.ensure_taint(1, sched.EFFECT_NO_EXECUTE)
    t.set_taints(0, [0])
    t.set_unschedulable(1, True)
    t.set_unschedulable(1, True)
    assert (t.n_unschedulable, t.n_hard_tainted) == (1, 0)
    t.set_taints(2, [0, 1])
    t.set_taints(3, [1])
    assert (t.n_hard_tainted, t.n_soft_tainted) == (2, 2)
    q = sched.PodQuery()
    order = array("i", [sched.K_UNSCHEDULABLE, sched.K_TAINTS])
    kinds, details, feasible = array("i", [0] * 4), array("i", [0] * 4), array("i", [0] * 4)
    assert sched.run_filters(t, q, order, 0, 4, feasible, kinds, details) == (1, 4)
    assert list(kinds) == [0, sched.K_UNSCHEDULABLE, sched.K_TAINTS, sched.K_TAINTS]
    t.clear(3)
    t.set_taints(2, [0])
    t.set_unschedulable(1, False)
    assert (t.n_unschedulable, t.n_hard_tainted, t.n_soft_tainted) == (0, 0, 2)
    t.set_taints(0, [])
    t.set_taints(2, [])
    assert t.n_soft_tainted == 0
    t.set_live(3, True)
    assert sched.run_filters(t, q, order, 0, 4, feasible, kinds, details) == (4, 4)
    assert list(kinds) == [0, 0, 0, 0]


@given(st.lists(st.tuples(st.booleans(), st.integers(-1, 3), st.booleans(), st.integers(0, 9)), min_size=1, max_size=30),
       st.booleans(), st.integers(0, 3))
def test_domain_groups_and_sums_give_domain_totals(slots, use_mask, shorter):
    """(live, value of the key or -1, masked in, pods counted) per slot; counts may be shorter than the table."""
    t = sched.NodeTable()
    t.ensure(len(slots))
    t.ensure_key(0)
    for i, (live, value, _, _) in enumerate(slots):
        t.set_live(i, live)
        t.set_label(i, 0, value)
    mask = array("B", [int(m) for _, _, m, _ in slots]) if use_mask else None
    counts = array("q", [c for *_, c in slots][:max(0, len(slots) - shorter)])
    values, offsets, members = sched.domain_groups(t, 0, mask)
    for j, v in enumerate(values):
        group = list(members[offsets[j]:offsets[j + 1]])
        assert group == sorted(group) and all(t.get_label(i, 0) == v for i in group)
    for n_values in (4, 2):
        got = sched.domain_sums(values, offsets, members, counts, n_values)
        want = sched.domain_totals(t, 0, counts, mask, n_values)
        assert (list(got[0]), *got[1:]) == (list(want[0])[:len(got[0])], *want[1:])
        assert not any(want[0][len(got[0]):])


@given(st.lists(st.integers(-1, 3), min_size=1, max_size=30), st.lists(st.tuples(st.integers(0, 40),
       st.integers(-1, 3), st.sampled_from(["label", "clear", "live", "prepare"])), max_size=30))
def test_a_prepared_matcher_answers_as_an_unprepared_one_through_label_changes(labels, changes):
    """The per-slot verdicts of NodeMatcher.prepare never outlive a change of labels or liveness."""
    t = sched.NodeTable()
    t.ensure(max(len(labels), 41))
    for i, v in enumerate(labels):
        t.set_live(i, True)
        t.set_label(i, 0, v)
    prepared, plain = sched.NodeMatcher(), sched.NodeMatcher()
    for m in (prepared, plain):
        m.begin_term()
        m.add(0, sched.OP_IN, [1, 2])
    prepared.prepare(t)
    prepared.prepare(t)  # the second use computes the verdicts
    for slot, value, change in changes:
        if change == "label":
            t.set_live(slot, True)
            t.set_label(slot, 0, value)
        elif change == "clear":
            t.clear(slot)
        elif change == "live":
            t.set_live(slot, not t.is_live(slot))
        else:
            prepared.prepare(t)
            prepared.prepare(t)
        for node in range(41):
            if t.is_live(node):
                assert prepared.match(t, node) == plain.match(t, node)


def test_label_generation_moves_only_when_a_label_or_liveness_changes():
    t = sched.NodeTable()
    t.ensure(2)
    t.set_live(0, True)
    t.set_label(0, 0, 1)
    before = t.label_generation
    t.set_live(0, True)
    t.set_label(0, 0, 1)  # the same value again (a node's status update)
    assert t.label_generation == before
    t.set_label(0, 0, 2)
    assert t.label_generation == before + 1


@given(st.lists(st.integers(-2**63, 2**63 - 1), max_size=50))
def test_as_int64_array_converts_a_list_as_array_does(values):
    assert sched.as_int64_array(values) == array("q", values)
    assert sched.as_int64_array(tuple(values)) == array("q", values)


def test_as_int64_array_passes_an_int64_array_through_and_refuses_what_array_refuses():
    scores = array("q", [1, 2])
    assert sched.as_int64_array(scores) is scores
    assert sched.as_int64_array(array("i", [3])) == array("q", [3])

    class Index:
        def __index__(self):
            return 7

    assert sched.as_int64_array([True, Index()]) == array("q", [1, 7])
    for bad in ([1.5], ["x"], [None], [2**63], [-2**63 - 1]):
        with pytest.raises((TypeError, OverflowError)) as converted:
            sched.as_int64_array(bad)
        with pytest.raises((TypeError, OverflowError)) as by_array:
            array("q", bad)
        assert converted.type is by_array.type


def test_as_int64_array_survives_a_list_that_shrinks_under_it():
    class Shrinking:
        def __index__(self):
            values.clear()
            return 1

    values = [1, Shrinking(), 3]
    with pytest.raises(IndexError):
        sched.as_int64_array(values)


@given(st.lists(st.sampled_from([True, False, None]), max_size=60))
def test_split_verdicts_sorts_plain_verdicts_in_order(verdicts):
    slots = array("i", [3 * k + 1 for k in range(len(verdicts))])
    passing, rejected = sched.split_verdicts(slots, verdicts)
    assert list(passing) == [s for s, v in zip(slots, verdicts) if v is not False]
    assert list(rejected) == [s for s, v in zip(slots, verdicts) if v is False]


def test_split_verdicts_leaves_other_verdicts_to_the_caller_and_checks_lengths():
    slots = array("i", [0, 1, 2])
    for other in (1, 0, "no", object()):
        assert sched.split_verdicts(slots, [True, other, False]) is None
    with pytest.raises(ValueError, match="3 items are needed"):
        sched.split_verdicts(array("i", [0, 1]), [True, True, True])
    with pytest.raises(TypeError, match="array\\('i'\\)"):
        sched.split_verdicts(array("q", [0, 1, 2]), [True, True, True])
