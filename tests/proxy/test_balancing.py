"""Endpoint choice: the algorithms, ClientIP affinity and its timeout, connection counts."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.plugins.proxies.balancing import ALGORITHMS, Balancer, normalize_algorithm
from orchestra.proxy.mode import Endpoint, ProxyModeError

EPS = (Endpoint("127.1.0.1", 80), Endpoint("127.1.0.2", 80), Endpoint("127.1.0.3", 80))


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def test_algorithm_names():
    assert normalize_algorithm("RoundRobin") == "round-robin"
    assert normalize_algorithm("least_connections") == "least-connections"
    with pytest.raises(ProxyModeError, match="not one of"):
        normalize_algorithm("weighted")


def test_round_robin_cycles():
    balancer = Balancer()
    balancer.update(EPS, None)
    assert [balancer.pick("c") for _ in range(6)] == list(EPS) * 2


def test_least_connections_counts_open_connections():
    balancer = Balancer("least-connections")
    balancer.update(EPS, None)
    balancer.opened(EPS[0])
    balancer.opened(EPS[1])
    assert balancer.pick("c") == EPS[2]
    balancer.opened(EPS[2])
    balancer.closed(EPS[0])
    assert balancer.pick("c") == EPS[0]


def test_affinity_expires_after_its_timeout():
    clock = Clock()
    balancer = Balancer(clock=clock)
    balancer.update(EPS, 10)
    first = balancer.pick("10.0.0.1")
    clock.now = 9
    assert balancer.pick("10.0.0.1") == first  # refreshed: good until 19
    clock.now = 18.5
    assert balancer.pick("10.0.0.1") == first
    clock.now = 40
    assert balancer.pick("10.0.0.1") != first  # expired; round-robin moves on


def test_update_reports_removed_and_forgets_their_affinity():
    balancer = Balancer()
    balancer.update(EPS, 100)
    first = balancer.pick("a")
    removed = balancer.update(tuple(e for e in EPS if e != first), 100)
    assert removed == {first}
    assert balancer.pick("a") != first


@given(st.sampled_from(ALGORITHMS), st.lists(st.integers(0, 2), max_size=5), st.integers(0, 2**32))
def test_picks_only_candidates(algorithm, excluded, seed):
    balancer = Balancer(algorithm, rng=random.Random(seed))
    balancer.update(EPS, None)
    exclude = frozenset(EPS[i] for i in excluded)
    for _ in range(5):
        chosen = balancer.pick("c", exclude)
        if exclude == frozenset(EPS):
            assert chosen is None
        else:
            assert chosen in EPS and chosen not in exclude


def test_random_reaches_every_endpoint():
    balancer = Balancer("random", rng=random.Random(7))
    balancer.update(EPS, None)
    assert set(Counter(balancer.pick("c") for _ in range(60))) == set(EPS)
