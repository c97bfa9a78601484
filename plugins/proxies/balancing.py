"""Choosing an endpoint for a new connection: algorithms, ClientIP affinity, connection counts.

A :class:`Balancer` serves one table entry (one service port). It knows the entry's
ready endpoints, how many open connections each has, and — with sessionAffinity
ClientIP — which endpoint each client IP was last sent to and until when.
"""

from __future__ import annotations

import random
import time
from typing import Callable

from orchestra.proxy.mode import Endpoint, ProxyModeError

__all__ = ["ALGORITHMS", "DEFAULT_ALGORITHM", "Balancer", "normalize_algorithm"]

ALGORITHMS = ("round-robin", "least-connections", "random")
DEFAULT_ALGORITHM = "round-robin"


def normalize_algorithm(name: str) -> str:
    """``round_robin`` / ``RoundRobin`` / ``rr`` style spellings to one of :data:`ALGORITHMS`."""
    aliases = {"rr": "round-robin", "lc": "least-connections", "leastconn": "least-connections"}
    key = str(name).strip().lower().replace("_", "-")
    key = {"roundrobin": "round-robin", "leastconnections": "least-connections"}.get(key, key)
    key = aliases.get(key, key)
    if key not in ALGORITHMS:
        raise ProxyModeError(f"algorithm {name!r} is not one of {', '.join(ALGORITHMS)}")
    return key


class Balancer:
    """Picks endpoints for one service port.

    :param algorithm: one of :data:`ALGORITHMS`.
    :param clock: seconds, for affinity expiry (tests pass their own).
    """

    def __init__(
        self,
        algorithm: str = DEFAULT_ALGORITHM,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.algorithm = normalize_algorithm(algorithm)
        self.endpoints: tuple[Endpoint, ...] = ()
        self.affinity_seconds: int | None = None
        self.active: dict[Endpoint, int] = {}
        self._affinity: dict[str, tuple[Endpoint, float]] = {}
        self._next = 0
        self._clock = clock
        self._rng = rng or random.Random()

    def update(self, endpoints: tuple[Endpoint, ...], affinity_seconds: int | None) -> set[Endpoint]:
        """Take a new endpoint set and affinity timeout; returns the endpoints that left."""
        removed = set(self.endpoints) - set(endpoints)
        self.endpoints = tuple(endpoints)
        if affinity_seconds != self.affinity_seconds:
            self._affinity.clear()
        self.affinity_seconds = affinity_seconds
        if removed:
            self._affinity = {ip: v for ip, v in self._affinity.items() if v[0] not in removed}
        return removed

    def pick(self, client_ip: str, exclude: frozenset[Endpoint] = frozenset()) -> Endpoint | None:
        """The endpoint for a new connection from ``client_ip`` (None when none is left)."""
        candidates = self.endpoints
        if exclude:
            candidates = tuple(e for e in candidates if e not in exclude)
        if not candidates:
            return None
        if self.affinity_seconds is not None:
            now = self._clock()
            remembered = self._affinity.get(client_ip)
            if remembered is not None and remembered[1] > now and remembered[0] in candidates:
                chosen = remembered[0]
            else:
                chosen = self._choose(candidates)
            self._affinity[client_ip] = (chosen, now + self.affinity_seconds)
            return chosen
        return self._choose(candidates)

    def _choose(self, candidates: tuple[Endpoint, ...]) -> Endpoint:
        if self.algorithm == "random":
            return self._rng.choice(candidates)
        start = self._next % len(candidates)
        self._next = start + 1
        if self.algorithm == "round-robin":
            return candidates[start]
        ordered = candidates[start:] + candidates[:start]
        return min(ordered, key=lambda e: self.active.get(e, 0))

    def opened(self, endpoint: Endpoint) -> None:
        """Count a connection to ``endpoint`` (least-connections reads the counts)."""
        self.active[endpoint] = self.active.get(endpoint, 0) + 1

    def closed(self, endpoint: Endpoint) -> None:
        """A connection to ``endpoint`` ended."""
        count = self.active.get(endpoint, 0) - 1
        if count > 0:
            self.active[endpoint] = count
        else:
            self.active.pop(endpoint, None)
