"""The scheduling queue: Kubernetes' activeQ, backoffQ and unschedulable pods, plus nominations.

- **activeQ** — pods ready to be tried, ordered by the profile's queue-sort ``less``
  (PrioritySort: higher priority first, then earlier arrival). :meth:`SchedulingQueue.pop`
  hands out the head.
- **backoffQ** — pods that failed and wait out their backoff: ``initial × 2^(attempts-1)``,
  capped at ``maximum`` (1 s doubling to 10 s by default). They move to activeQ when it expires.
  When activeQ is empty, :meth:`SchedulingQueue.pop` takes the pod whose backoff ends first
  at once (Kubernetes' ``SchedulerPopFromBackoffQ``, KEP-5142): a scheduler with nothing else
  to do does not sit out the backoff of a pod an event has just made schedulable — e.g. a
  preemptor whose victims are gone. Pods backing off after an *error* (a plugin failed, a
  binding was refused) are never taken early; they serve their whole backoff.
- **unschedulable pods** — pods no node fits. A cluster event that may make them fit (a node
  added or changed, a pod deleted, ...) moves them back (to backoffQ while their backoff lasts);
  none stays parked longer than ``max_unschedulable`` seconds (5 minutes by default).
- **nominated pods** — pods that preempted others and wait for a node, by node name.

A pod that failed while a move request arrived during its attempt goes to backoffQ instead of
the unschedulable pods (the event may have been the one that makes it fit), as in Kubernetes.
A *held* pod (:meth:`SchedulingQueue.hold`: a preemptor waiting for its victims to go) is
parked among the unschedulable pods whatever the events, until :meth:`SchedulingQueue.release`
— the one event that resolves it, as kube-scheduler's queueing hints single out the deletion
of the preemptor's victims — or the ``max_unschedulable`` flush.
The clock is injectable, so tests drive time by hand.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Any, Callable, Iterator

import attrs

from orchestra.aio import wait_for
from orchestra.scheduler.podinfo import PodInfo

__all__ = [
    "DEFAULT_INITIAL_BACKOFF",
    "DEFAULT_MAX_BACKOFF",
    "DEFAULT_MAX_UNSCHEDULABLE",
    "QueueClosed",
    "QueuedPodInfo",
    "SchedulingQueue",
    "backoff_duration",
]

DEFAULT_INITIAL_BACKOFF = 1.0
DEFAULT_MAX_BACKOFF = 10.0
DEFAULT_MAX_UNSCHEDULABLE = 300.0


class QueueClosed(Exception):
    """The queue was closed; :meth:`SchedulingQueue.pop` raises it to end the scheduling loop."""


@attrs.define(eq=False)
class QueuedPodInfo:
    """A pod in the queue: the pod, when it was queued, and its scheduling attempts so far.

    ``timestamp`` orders pods of equal priority; ``initial_attempt`` is when it was first
    popped (for latency figures); ``backoff_expires`` is when it may leave backoffQ.
    """

    pod: PodInfo
    timestamp: float
    attempts: int = 0
    initial_attempt: float | None = None
    backoff_expires: float = 0.0
    unschedulable_since: float = 0.0
    unschedulable_plugins: frozenset[str] = frozenset()
    #: Backing off after an error rather than a rejection (then never popped before its backoff ends).
    error_backoff: bool = False
    #: The pod's ``namespace/name``: kept, as the queue reads it at every step (a pod is only
    #: ever replaced by an update of itself, so it never changes).
    key: str = attrs.field(init=False, default=attrs.Factory(lambda qpi: qpi.pod.key, takes_self=True))


def backoff_duration(attempts: int, initial: float, maximum: float) -> float:
    """The backoff after ``attempts`` failed attempts: ``initial`` doubled per attempt beyond the first, capped."""
    duration = initial
    for _ in range(1, attempts):
        duration *= 2
        if duration >= maximum:
            return maximum
    return min(duration, maximum)


class _Entry:
    """A heap entry ordered by the queue-sort ``less`` (ties broken by insertion order)."""

    __slots__ = ("qpi", "seq", "less")

    def __init__(self, qpi: QueuedPodInfo, seq: int, less: Callable[[Any, Any], bool]) -> None:
        self.qpi = qpi
        self.seq = seq
        self.less = less

    def __lt__(self, other: "_Entry") -> bool:
        if self.less(self.qpi, other.qpi):
            return True
        if self.less(other.qpi, self.qpi):
            return False
        return self.seq < other.seq


class SchedulingQueue:
    """activeQ, backoffQ, unschedulable pods and nominated pods (see the module docstring).

    :param less: the queue-sort function over :class:`QueuedPodInfo` (``Framework.less``);
        ``None`` orders by priority then arrival (PrioritySort) without a Python call per
        comparison.
    :param initial_backoff: / :param max_backoff: seconds (Kubernetes: 1 and 10).
    :param max_unschedulable: seconds a pod may stay unschedulable before it is retried anyway.
    :param clock: monotonic seconds.
    :param pop_from_backoff: when activeQ is empty, pop the rejected pod whose backoff ends
        first rather than wait (Kubernetes' ``SchedulerPopFromBackoffQ``, on by default there).
    """

    def __init__(self, less: Callable[[Any, Any], bool] | None = None, *,
                 initial_backoff: float = DEFAULT_INITIAL_BACKOFF, max_backoff: float = DEFAULT_MAX_BACKOFF,
                 max_unschedulable: float = DEFAULT_MAX_UNSCHEDULABLE,
                 clock: Callable[[], float] = time.monotonic, pop_from_backoff: bool = True) -> None:
        self.less = less
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable = max_unschedulable
        self.clock = clock
        self.pop_from_backoff = pop_from_backoff
        self._seq = itertools.count()
        self._active: list[Any] = []
        self._active_entries: dict[str, Any] = {}
        # rejected pods and errored pods back off in separate heaps: only the first may be popped early
        self._backoff: list[tuple[float, int, str]] = []
        self._error_backoff: list[tuple[float, int, str]] = []
        self._backoff_pods: dict[str, QueuedPodInfo] = {}
        self._unschedulable: dict[str, QueuedPodInfo] = {}
        self._in_flight: dict[str, QueuedPodInfo] = {}
        self._held: set[str] = set()
        self._nominated: dict[str, dict[str, PodInfo]] = {}
        self._nominated_node: dict[str, str] = {}
        self._wakeup = asyncio.Event()
        self._closed = False
        #: Incremented on every move request; an attempt that saw a newer one is retried sooner.
        self.move_request_cycle = 0
        #: Incremented on every pop: the cycle of the attempt that popped the pod.
        self.scheduling_cycle = 0

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self._active_entries) + len(self._backoff_pods) + len(self._unschedulable)

    def __contains__(self, key: object) -> bool:
        return key in self._active_entries or key in self._backoff_pods or key in self._unschedulable

    @property
    def active_count(self) -> int:
        """Pods in activeQ."""
        return len(self._active_entries)

    @property
    def backoff_count(self) -> int:
        """Pods in backoffQ."""
        return len(self._backoff_pods)

    @property
    def unschedulable_count(self) -> int:
        """Pods parked as unschedulable."""
        return len(self._unschedulable)

    def where(self, key: str) -> str | None:
        """``"active"``, ``"backoff"``, ``"unschedulable"``, ``"in-flight"`` or None."""
        if key in self._active_entries:
            return "active"
        if key in self._backoff_pods:
            return "backoff"
        if key in self._unschedulable:
            return "unschedulable"
        if key in self._in_flight:
            return "in-flight"
        return None

    def get(self, key: str) -> QueuedPodInfo | None:
        """The queued (or in-flight) entry of pod ``key``."""
        entry = self._active_entries.get(key)
        if entry is not None:
            return self._qpi(entry)
        return self._backoff_pods.get(key) or self._unschedulable.get(key) or self._in_flight.get(key)

    # ------------------------------------------------------------------ adding and removing

    def add(self, pod: PodInfo) -> None:
        """A new pending pod: straight into activeQ (replacing any queued copy)."""
        self._discard(pod.key)
        self._push_active(QueuedPodInfo(pod, self.clock()))

    def update(self, pod: PodInfo) -> None:
        """A pending pod changed: replace it where it waits; an unschedulable one is retried."""
        key = pod.key
        entry = self._active_entries.get(key)
        if entry is not None:
            qpi = self._qpi(entry)
            qpi.pod = pod
            del self._active_entries[key]
            self._push_active(qpi)  # the order may have changed (priority)
            return
        qpi = self._backoff_pods.get(key)
        if qpi is not None:
            qpi.pod = pod
            return
        qpi = self._unschedulable.pop(key, None)
        if qpi is not None:
            qpi.pod = pod
            self._requeue(qpi, self.clock())
            return
        in_flight = self._in_flight.get(key)
        if in_flight is not None:
            in_flight.pod = pod
            return
        self.add(pod)

    def delete(self, key: str) -> None:
        """A pod was deleted or bound by someone else: forget it everywhere."""
        self._held.discard(key)
        self._discard(key)
        self._in_flight.pop(key, None)
        self.delete_nomination(key)

    def _discard(self, key: str) -> None:
        self._active_entries.pop(key, None)
        self._backoff_pods.pop(key, None)
        self._unschedulable.pop(key, None)

    # ------------------------------------------------------------------ activeQ

    def _push_active(self, qpi: QueuedPodInfo) -> None:
        """Queue ``qpi`` in activeQ. A heap entry is live while :attr:`_active_entries` holds it:
        an entry replaced or removed there stays in the heap until popped, and is skipped then.
        PrioritySort's entries are tuples, compared without a Python call and read with
        fewer memory accesses than objects are."""
        seq = next(self._seq)
        if self.less is None:
            entry: Any = (-qpi.pod.priority, qpi.timestamp, seq, qpi)
        else:
            entry = _Entry(qpi, seq, self.less)
        self._active_entries[qpi.key] = entry
        heapq.heappush(self._active, entry)
        self._wakeup.set()

    @staticmethod
    def _qpi(entry: Any) -> QueuedPodInfo:
        return entry.qpi if type(entry) is _Entry else entry[3]

    def _pop_active(self) -> QueuedPodInfo | None:
        active, entries = self._active, self._active_entries
        while active:
            entry = heapq.heappop(active)
            qpi = entry[3] if type(entry) is tuple else entry.qpi  # _qpi, inlined: every pod pops once
            key = qpi.key
            if entries.get(key) is entry:
                del entries[key]
                return qpi
        return None

    def _pop_backoff_early(self) -> QueuedPodInfo | None:
        heap = self._backoff
        while heap:
            expires, _, key = heapq.heappop(heap)
            qpi = self._backoff_pods.get(key)
            if qpi is None or qpi.backoff_expires != expires or qpi.error_backoff:
                continue
            del self._backoff_pods[key]
            return qpi
        return None

    def pop_nowait(self) -> QueuedPodInfo | None:
        """Flush what is due, then the head of activeQ — or, if it is empty, the rejected pod in
        backoffQ whose backoff ends first (see ``pop_from_backoff``); None if there is none.
        The pod is now in flight."""
        self.flush()
        qpi = self._pop_active()
        if qpi is None and self.pop_from_backoff:
            qpi = self._pop_backoff_early()
        if qpi is None:
            return None
        self.scheduling_cycle += 1
        qpi.attempts += 1
        if qpi.initial_attempt is None:
            qpi.initial_attempt = self.clock()
        self._in_flight[qpi.key] = qpi
        return qpi

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (then :meth:`pop` raises :class:`QueueClosed`)."""
        return self._closed

    async def pop(self) -> QueuedPodInfo:
        """Wait for a pod in activeQ and hand it out (raise :class:`QueueClosed` once closed)."""
        while True:
            if self._closed:
                raise QueueClosed("the scheduling queue is closed")
            qpi = self.pop_nowait()
            if qpi is not None:
                return qpi
            self._wakeup.clear()
            deadline = self.next_deadline()
            timeout = None if deadline is None else max(deadline - self.clock(), 0.0) + 0.001
            try:
                await wait_for(self._wakeup.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    def done(self, key: str) -> None:
        """The attempt on ``key`` finished (bound, or requeued by one of the methods below)."""
        self._in_flight.pop(key, None)

    def close(self) -> None:
        """Wake every :meth:`pop` and make it raise :class:`QueueClosed`."""
        self._closed = True
        self._wakeup.set()

    # ------------------------------------------------------------------ after a failed attempt

    def add_unschedulable(self, qpi: QueuedPodInfo, plugins: frozenset[str] = frozenset(),
                          cycle: int | None = None) -> None:
        """No node fits the pod: park it (or back it off if a move request came during its attempt).

        :param cycle: the scheduling cycle of the attempt (default: the current one).
        """
        key = qpi.key
        if self._in_flight.pop(key, None) is None or key in self:
            return  # deleted (or re-added) while it was being scheduled
        now = self.clock()
        qpi.unschedulable_plugins = plugins
        qpi.backoff_expires = now + backoff_duration(qpi.attempts, self.initial_backoff, self.max_backoff)
        if key not in self._held and self.move_request_cycle >= (cycle if cycle is not None else self.scheduling_cycle):
            self._push_backoff(qpi, error=False)
        else:
            qpi.unschedulable_since = now
            self._unschedulable[key] = qpi

    def add_backoff(self, qpi: QueuedPodInfo) -> None:
        """The attempt failed for another reason (an error, a failed binding): retry after the backoff."""
        key = qpi.key
        if self._in_flight.pop(key, None) is None or key in self:
            return  # deleted (or re-added) while it was being scheduled
        qpi.backoff_expires = self.clock() + backoff_duration(qpi.attempts, self.initial_backoff, self.max_backoff)
        self._push_backoff(qpi, error=True)

    def _push_backoff(self, qpi: QueuedPodInfo, *, error: bool) -> None:
        qpi.error_backoff = error
        self._backoff_pods[qpi.key] = qpi
        heapq.heappush(self._error_backoff if error else self._backoff, (qpi.backoff_expires, next(self._seq), qpi.key))
        self._wakeup.set()

    def _requeue(self, qpi: QueuedPodInfo, now: float) -> None:
        if qpi.backoff_expires > now:
            self._push_backoff(qpi, error=False)
        else:
            self._push_active(qpi)

    # ------------------------------------------------------------------ time and events

    def flush(self) -> None:
        """Move pods whose backoff expired to activeQ, and pods unschedulable for too long back."""
        if not (self._backoff or self._error_backoff or self._unschedulable):
            return  # the usual case while pods fit: nothing waits, no clock to read
        now = self.clock()
        for heap in (self._backoff, self._error_backoff):
            while heap and heap[0][0] <= now:
                expires, _, key = heapq.heappop(heap)
                qpi = self._backoff_pods.get(key)
                if qpi is None or qpi.backoff_expires != expires or qpi.error_backoff != (heap is self._error_backoff):
                    continue
                del self._backoff_pods[key]
                self._push_active(qpi)
        if self._unschedulable:
            limit = now - self.max_unschedulable
            stale = [qpi for qpi in self._unschedulable.values() if qpi.unschedulable_since <= limit]
            for qpi in stale:
                del self._unschedulable[qpi.key]
                self._requeue(qpi, now)

    def next_deadline(self) -> float | None:
        """When :meth:`flush` next has something to do (None: nothing waits on time)."""
        times = []
        for heap in (self._backoff, self._error_backoff):
            while heap:
                expires, _, key = heap[0]
                qpi = self._backoff_pods.get(key)
                if qpi is not None and qpi.backoff_expires == expires and qpi.error_backoff == (heap is self._error_backoff):
                    times.append(expires)
                    break
                heapq.heappop(heap)
        if self._unschedulable:
            times.append(min(q.unschedulable_since for q in self._unschedulable.values()) + self.max_unschedulable)
        return min(times) if times else None

    def move_all_to_active_or_backoff(self, event: str, plugins: frozenset[str] | None = None) -> int:
        """A cluster event happened: retry the unschedulable pods it may help; return how many moved.

        :param event: what happened (``NodeAdd``, ``PodDelete``, ...; for logs and callers).
        :param plugins: only pods rejected by one of these plugins move (None: every pod; a pod
            whose rejecting plugins are unknown always moves).
        """
        self.move_request_cycle = self.scheduling_cycle
        if not self._unschedulable:  # the usual case while pods fit: nothing waits for an event
            return 0
        held = self._held
        moved = [qpi for qpi in self._unschedulable.values()
                 if qpi.key not in held
                 and (plugins is None or not qpi.unschedulable_plugins or qpi.unschedulable_plugins & plugins)]
        if not moved:  # e.g. only preemptors held until their victims are gone
            return 0
        now = self.clock()
        for qpi in moved:
            del self._unschedulable[qpi.key]
            self._requeue(qpi, now)
        return len(moved)

    def hold(self, key: str) -> None:
        """Keep pod ``key`` among the unschedulable pods, deaf to cluster events, until :meth:`release`."""
        self._held.add(key)

    def release(self, key: str) -> bool:
        """End :meth:`hold`: an unschedulable pod goes to backoffQ (or activeQ if its backoff is over).

        Returns whether the pod was waiting among the unschedulable pods.
        """
        self._held.discard(key)
        qpi = self._unschedulable.pop(key, None)
        if qpi is None:
            return False
        self._requeue(qpi, self.clock())
        return True

    def is_held(self, key: str) -> bool:
        """Whether pod ``key`` is held (see :meth:`hold`)."""
        return key in self._held

    # ------------------------------------------------------------------ nominated pods

    def add_nomination(self, pod: PodInfo, node_name: str) -> None:
        """Record that ``pod`` is nominated to run on ``node_name`` (after a preemption)."""
        self.delete_nomination(pod.key)
        self._nominated.setdefault(node_name, {})[pod.key] = pod
        self._nominated_node[pod.key] = node_name

    def delete_nomination(self, key: str) -> None:
        """Forget pod ``key``'s nomination."""
        node = self._nominated_node.pop(key, None)
        if node is not None:
            pods = self._nominated.get(node)
            if pods is not None:
                pods.pop(key, None)
                if not pods:
                    del self._nominated[node]

    def nominated_pods(self, node_name: str) -> list[PodInfo]:
        """The pods nominated to ``node_name``."""
        return list(self._nominated.get(node_name, {}).values())

    def nominated_node(self, key: str) -> str | None:
        """The node pod ``key`` is nominated to, if any."""
        return self._nominated_node.get(key)

    def pending(self) -> Iterator[QueuedPodInfo]:
        """Every queued pod (active, backoff, unschedulable), in no particular order."""
        for entry in self._active_entries.values():
            yield self._qpi(entry)
        yield from self._backoff_pods.values()
        yield from self._unschedulable.values()
