"""Informer: how its watches are opened."""

from __future__ import annotations

from orchestra.client.informer import MIN_WATCH_TIMEOUT, watch_timeout


def test_watches_ask_for_a_random_timeout_between_one_and_two_minimum_spans():
    spans = {watch_timeout() for _ in range(200)}
    assert all(MIN_WATCH_TIMEOUT <= s < 2 * MIN_WATCH_TIMEOUT for s in spans)
    assert len(spans) > 10  # spread out, not one value for every informer
