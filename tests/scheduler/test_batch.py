"""OpportunisticBatch: keeping a cycle's ranked candidates and handing them out."""

from __future__ import annotations

from array import array

from scheduler.sched_builders import make_node, make_pod, make_snapshot
from orchestra.scheduler.batch import OpportunisticBatch
from orchestra.scheduler.podinfo import PodInfo


def _stored(totals: list[int], best: int, snap=None) -> OpportunisticBatch:
    batch = OpportunisticBatch()
    generation = snap.generation if snap is not None else 0
    batch.store(("sig",), array("i", range(len(totals))), array("q", totals), best, generation, cycle=1)
    return batch


def test_the_kept_candidates_come_out_best_first_and_the_chosen_node_competes_with_its_new_score():
    batch = _stored([50, 90, 70, 60], best=1)
    assert (batch.chosen, len(batch)) == (1, 3)
    # the chosen node, rescored, still beats every kept candidate: it is taken again
    assert batch.take(80, generation=5, cycle=2) == 1
    # now it scores below the best kept one (70): that one is taken, the chosen node kept at 65
    assert batch.take(65, generation=6, cycle=3) == 2
    assert batch.take(None, generation=7, cycle=4) == 1  # node 2 no longer fits: the best kept, node 1 at 65
    assert batch.take(None, generation=8, cycle=5) == 3
    assert batch.take(None, generation=9, cycle=6) == 0
    assert batch.take(None, generation=10, cycle=7) == -1
    assert batch.batched == 5


def test_a_tie_goes_to_the_kept_candidate():
    batch = _stored([40, 40, 10], best=0)
    assert batch.take(40, generation=1, cycle=2) == 1
    assert batch.take(40, generation=2, cycle=3) == 0


def test_a_batch_serves_the_next_cycle_of_the_same_signature_while_only_the_chosen_node_changed():
    snap = make_snapshot([make_node(f"n{i}") for i in range(4)])
    batch = _stored([1, 2, 3, 4], best=3, snap=snap)
    assert batch.follows(2) and not batch.follows(3)  # a cycle in between ends the batch
    assert batch.usable(("sig",), snap)
    assert not batch.usable(("other",), snap)
    snap.assume_pod(PodInfo.from_dict(make_pod("a")), "n3")
    assert batch.usable(("sig",), snap)
    snap.assume_pod(PodInfo.from_dict(make_pod("b")), "n0")
    assert not batch.usable(("sig",), snap)
    batch.clear()
    assert not batch.follows(2) and len(batch) == 0


def test_a_batch_places_as_many_pods_as_its_cycle_had_candidates():
    snap = make_snapshot([make_node(f"n{i}") for i in range(3)])
    batch = _stored([5, 5, 5], best=0, snap=snap)  # the storing cycle placed the first pod
    for cycle in (2, 3):
        assert batch.follows(cycle) and batch.usable(("sig",), snap)
        assert batch.take(5, snap.generation, cycle) >= 0
    assert batch.follows(4) and not batch.usable(("sig",), snap)


def test_a_batch_hands_back_what_its_cycle_prepared_until_it_is_cleared_or_stored_again():
    batch = OpportunisticBatch()
    batch.store(("sig",), array("i", [0, 1]), array("q", [1, 2]), 1, 0, cycle=1, prepared="state")
    assert batch.prepared == "state"
    batch.store(("sig",), array("i", [0, 1]), array("q", [1, 2]), 1, 0, cycle=2)
    assert batch.prepared is None
    batch.store(("sig",), array("i", [0, 1]), array("q", [1, 2]), 1, 0, cycle=3, prepared="state")
    batch.clear()
    assert batch.prepared is None
