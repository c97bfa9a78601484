"""Opportunistic batching: reuse one pod's ranked candidates for the next pods like it.

Kubernetes' OpportunisticBatching (KEP-5598, with the rescoring of its later revision): pods
with the same scheduling *signature* get the same filter verdicts and scores on every node,
so after a full cycle for one of them the scheduler keeps the other feasible candidates,
ranked by their scores. While the cluster changed only on the node the previous pod went to,
the next pod with that signature checks and rescores that one node and takes the better of
it and the best kept candidate, instead of filtering and scoring every candidate again.

A signature is the tuple of every filter and score plugin's :meth:`Plugin.sign` answer
(see ``docs/scheduler.md``); a plugin that answers None makes the pod unsignable, and a
profile with a plugin that does not implement ``sign`` never batches.
"""

from __future__ import annotations

import heapq
from array import array
from typing import Any, Hashable

from orchestra.scheduler.snapshot import ClusterSnapshot

__all__ = ["OpportunisticBatch"]

_SLOT_BITS = 32
_SLOT_MASK = (1 << _SLOT_BITS) - 1


class OpportunisticBatch:
    """The ranked candidates one profile kept from its last full cycle, and counts of their use.

    :meth:`store` keeps a cycle's candidates; :meth:`follows` and :meth:`usable` say whether the
    next pod may use them; :meth:`take` picks its node. A batch places at most as many pods (its
    own cycle's included) as that cycle had candidates: pods placed from one batch spread no
    narrower than pods placed one full cycle each (with ``percentageOfNodesToScore``, each full
    cycle looks at other nodes).
    """

    __slots__ = ("signature", "chosen", "since", "cycle", "uses_left", "prepared", "_cycle_result", "_ranked",
                 "batched", "stored")

    def __init__(self) -> None:
        #: The signature of the pods the batch serves (None: no batch).
        self.signature: Hashable | None = None
        #: The slot of the node the last pod was placed on.
        self.chosen = -1
        #: The snapshot's generation when the last pod's node was chosen.
        self.since = 0
        #: The framework's cycle number that chose it (the batch serves the very next cycle only).
        self.cycle = -1
        self.uses_left = 0
        #: What the storing cycle prepared for the pods the batch serves (the framework's to
        #: read; None: they are prepared afresh).
        self.prepared: Any = None
        #: The storing cycle's ``(candidates, totals, best)``, ranked on first use: pods of
        #: several shapes in turn store a batch every cycle and use none.
        self._cycle_result: tuple[array, array, int] | None = None
        #: Heap of the other candidates as ``-total score << 32 | slot`` (one int compares faster
        #: than a tuple): the best score first, the lowest slot first among equals.
        self._ranked: list[int] = []
        #: Pods placed from a batch, and batches stored (for benchmarks and tests).
        self.batched = 0
        self.stored = 0

    def __len__(self) -> int:
        """The number of kept candidates (besides the chosen node)."""
        if self._cycle_result is not None:
            return len(self._cycle_result[0]) - 1
        return len(self._ranked)

    def store(self, signature: Hashable, candidates: array, totals: array, best: int, generation: int,
              cycle: int, prepared: Any = None) -> None:
        """Keep a full cycle's ``candidates`` (slots) and their ``totals``; ``best`` indexes the chosen one.
        The arrays are kept as they are: the caller must not change them. ``prepared``: see
        :attr:`prepared`."""
        self._cycle_result = (candidates, totals, best)
        self.prepared = prepared
        self._ranked = []
        self.signature = signature
        self.chosen = candidates[best]
        self.since = generation
        self.cycle = cycle
        self.uses_left = len(candidates) - 1  # the pod of the storing cycle took one
        self.stored += 1

    def clear(self) -> None:
        """Drop the kept candidates."""
        self.signature = None
        self.prepared = None
        self._cycle_result = None
        self._ranked = []

    def follows(self, cycle: int) -> bool:
        """Whether the batch holds candidates and cycle ``cycle`` comes right after the cycle that
        stored or last used them (a cycle in between, whatever its pod, ends the batch)."""
        return self.cycle == cycle - 1 and self.signature is not None

    def usable(self, signature: Hashable, snapshot: ClusterSnapshot) -> bool:
        """Whether a pod with ``signature`` may use the batch (that :meth:`follows` its cycle is
        asked first): the signatures are equal, uses are left, and every change to ``snapshot``
        since was confined to the chosen node."""
        return self.uses_left > 0 and signature == self.signature and snapshot.changed_only_on(self.chosen, self.since)

    def take(self, chosen_total: int | None, generation: int, cycle: int) -> int:
        """The slot for the next pod: the chosen node again, rescored to ``chosen_total``, when it
        scores higher than every kept candidate; else the best kept candidate (the chosen node is
        kept in its place while it still fits; ``chosen_total`` None: it does not). -1 when nothing
        is left."""
        if self._cycle_result is not None:
            candidates, totals, best = self._cycle_result
            self._cycle_result = None
            self._ranked = [(-totals[i] << _SLOT_BITS) | candidates[i] for i in range(len(candidates)) if i != best]
            heapq.heapify(self._ranked)
        ranked = self._ranked
        if chosen_total is not None and (not ranked or chosen_total > -(ranked[0] >> _SLOT_BITS)):
            slot = self.chosen
        elif not ranked:
            return -1
        elif chosen_total is None:
            slot = heapq.heappop(ranked) & _SLOT_MASK
        else:
            slot = heapq.heapreplace(ranked, (-chosen_total << _SLOT_BITS) | self.chosen) & _SLOT_MASK
        self.chosen = slot
        self.since = generation
        self.cycle = cycle
        self.uses_left -= 1
        self.batched += 1
        return slot
