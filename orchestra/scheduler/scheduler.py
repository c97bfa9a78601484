"""The scheduler service: informers → queue → scheduling cycle → binding, with events and conditions.

>>> scheduler = Scheduler.create(client)          # the default profile
>>> await scheduler.start()                       # informers synced, loop running
>>> ...
>>> await scheduler.stop()

With ``config.leader_election`` set (``leaderElection.leaderElect: true``), :meth:`Scheduler.start`
syncs the informers and then campaigns for the Lease (``kube-system/kube-scheduler`` by
default): the instance holding it schedules, the others keep warm caches and wait. An
instance that loses the lease stops scheduling for good (:attr:`Scheduler.lost_lease` is set;
``orchestra scheduler`` then exits, as kube-scheduler does, for its supervisor to restart it);
:meth:`Scheduler.stop` gives the lease up so another instance takes over at once.

One pod at a time: pop the queue's head, run its profile's framework (chosen by
``spec.schedulerName``; pods for other schedulers are ignored) against the cache's snapshot,
assume the pod on the chosen node, reserve and permit — then bind *off* the scheduling cycle
through the API's ``pods/binding`` subresource, so the next pod is scheduled while the binding
travels. Binding cycles wait in a queue for binder tasks, at most ``bind_concurrency`` of them:
one binder runs cycles back to back while they finish at once (in process they do), and another
starts whenever a binder takes a cycle while more wait, so a cycle that suspends (an HTTP
request, a Permit wait) holds up none of the others. A failed binding
unreserves, forgets the assumed pod and retries it after its backoff. While pods are queued,
cycles run back to back for up to ``cycle_slice_seconds`` (a :class:`SchedulerConfig` field,
1 ms by default) before the loop lets bindings,
informers and event writes run: each of those then handles a batch, not one pod's worth.

A pod no node fits gets a ``FailedScheduling`` event and the condition ``PodScheduled=False``
(reason ``Unschedulable``) with kube-scheduler's message, and waits among the unschedulable
pods until a cluster event may help. When preemption nominates a node, the victims are deleted
through the API and the pod's ``status.nominatedNodeName`` is set; the preemptor then waits,
deaf to other events, until its victims' deletions are seen (or a deletion fails), and is
retried at once if nothing else is queued (see :mod:`orchestra.scheduler.queue`). A plugin that raises fails
only that pod's attempt (reported in its events, retried after backoff).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from typing import Any, Awaitable, Callable, Mapping

from orchestra.aio import cancel_and_wait
from orchestra.api.timestamps import now_rfc3339
from orchestra.client import ApiStatusError, Client, Informer, resolve_kind
from orchestra.client.client import PATCH_CONTENT_TYPES
from orchestra.client.leaderelection import LeaderElector
from orchestra.client.transport import TransportError
from orchestra.scheduler.cache import SchedulerCache, is_terminal, raw_pod_key
from orchestra.scheduler.config import SchedulerConfig, build_frameworks
from orchestra.scheduler.events import NORMAL, WARNING, EventRecorder
from orchestra.scheduler.framework import SUCCESS, Code, Framework, ScheduleResult, Status
from orchestra.scheduler.podinfo import PodInfo, PodInfoError
from orchestra.scheduler.queue import QueueClosed, QueuedPodInfo, SchedulingQueue

__all__ = ["Scheduler", "SCHEDULER_USER", "requeue_plugins"]

log = logging.getLogger(__name__)

#: The identity the scheduler uses over an in-process client.
SCHEDULER_USER = "system:kube-scheduler"
_PODS = resolve_kind("pods")
_STRATEGIC = PATCH_CONTENT_TYPES["strategic"]

#: Plugins whose rejections a cluster event may resolve (Kubernetes' EventsToRegister, simplified).
_NODE_EVENT_PLUGINS = None  # any node change may help any plugin
_POD_DELETE_PLUGINS = frozenset({"NodeResourcesFit", "NodePorts", "InterPodAffinity", "PodTopologySpread"})
_POD_ADD_PLUGINS = frozenset({"InterPodAffinity", "PodTopologySpread"})


#: Built-in plugins whose rejections only the events above may resolve (Kubernetes' EventsToRegister);
#: a pod rejected by any other plugin is retried on every cluster event, as in Kubernetes.
_EVENT_AWARE_PLUGINS = frozenset({"NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts",
                                  "NodeResourcesFit", "PodTopologySpread", "InterPodAffinity"})


def requeue_plugins(result: ScheduleResult) -> frozenset[str]:
    """The plugins whose events may make an unschedulable pod fit: its :attr:`~ScheduleResult.rejecting_plugins`,
    or empty (every event) when one of them is not a built-in with known events."""
    plugins = result.rejecting_plugins
    return plugins if plugins <= _EVENT_AWARE_PLUGINS else frozenset()


def _is_priority_sort(fw: Framework) -> bool:
    sorters = fw.plugins("queueSort")
    return bool(sorters) and type(sorters[0]).__module__.endswith("scheduling.prioritysort")


def _pending_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether a pending pod changed in a way that may change where it fits (not just its status)."""
    if old.get("spec") != new.get("spec"):
        return True
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    return om.get("labels") != nm.get("labels") or om.get("annotations") != nm.get("annotations")


class Scheduler:
    """The scheduling service over an API client (HTTP or in-process); build it with :meth:`create`.

    :attr:`frameworks` maps scheduler names to their frameworks; :attr:`queue`, :attr:`cache`
    and :attr:`recorder` are the parts. ``on_bound(qpi, node_name)`` (optional) is called after
    every successful binding.
    """

    def __init__(self, client: Client, config: SchedulerConfig, frameworks: dict[str, Framework],
                 queue: SchedulingQueue, cache: SchedulerCache, recorder: EventRecorder,
                 on_bound: Callable[[QueuedPodInfo, str], None] | None = None) -> None:
        self.client = client
        self.config = config
        self.frameworks = frameworks
        self.queue = queue
        self.cache = cache
        self.recorder = recorder
        self.on_bound = on_bound
        self.informers: list[Informer] = []
        #: preemptor → the victims whose deletion it waits for; victim → its preemptor
        self._awaiting: dict[str, set[str]] = {}
        self._victim_of: dict[str, str] = {}
        self.bound = 0
        self.attempts = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Binding cycles waiting for a binder task, and the binders alive and not yet started.
        self._bindings: collections.deque[tuple[Framework, ScheduleResult, QueuedPodInfo, str, bool]] = (
            collections.deque())
        self._binders = 0
        self._binders_starting = 0
        #: Preemptors holding their nominated node: pod key → node (assumed there until retried).
        self._placeholders: dict[str, str] = {}
        self._loop: asyncio.Task[None] | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self._election: asyncio.Task[None] | None = None
        self._stopped = False
        #: The lease campaign when ``config.leader_election`` is set.
        self.elector: LeaderElector | None = (LeaderElector(client, config.leader_election)
                                              if config.leader_election is not None else None)
        #: Set once this instance held the lease and lost it: it no longer schedules.
        self.lost_lease = asyncio.Event()

    @classmethod
    def create(cls, client: Client, config: SchedulerConfig | None = None, *, plugins: Any = None,
               rng: random.Random | None = None, clock: Callable[[], float] = time.monotonic,
               on_bound: Callable[[QueuedPodInfo, str], None] | None = None) -> "Scheduler":
        """A scheduler with ``config``'s profiles (default: the default profile) over ``client``.

        :param plugins: a plugin manager, ``{name: class}`` or classes (default: the plugin
            manager with the built-in and entry-point plugins).
        :raises ConfigError: when a profile is invalid (naming the file and field).
        """
        config = config or SchedulerConfig()
        if plugins is None:
            from orchestra.plugin_manager import get_plugin_manager

            plugins = get_plugin_manager()
        holder: list[Scheduler] = []

        def binder(pod: PodInfo, node_name: str) -> Awaitable[Status]:
            return holder[0].bind_through_api(pod, node_name)

        frameworks = build_frameworks(config, plugins, binder=binder, rng=rng)
        first = next(iter(frameworks.values()))
        queue = SchedulingQueue(None if _is_priority_sort(first) else first.less,
                                initial_backoff=config.pod_initial_backoff, max_backoff=config.pod_max_backoff,
                                max_unschedulable=config.max_unschedulable, clock=clock)
        cache = SchedulerCache(clock=clock)
        recorder = EventRecorder(client, component=first.scheduler_name)
        scheduler = cls(client, config, frameworks, queue, cache, recorder, on_bound)
        holder.append(scheduler)
        return scheduler

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, sync_timeout: float | None = 60.0) -> None:
        """Start the informers, wait for their first lists, then start scheduling."""
        # The scheduler only reads what it watches: in process, it shares the API server's objects.
        nodes = Informer(self.client, "nodes", raw=True, shared=True)
        nodes.add_handler(self._on_node_add, self._on_node_update, self._on_node_delete)
        namespaces = Informer(self.client, "namespaces", raw=True, shared=True)
        namespaces.add_handler(self._on_namespace, lambda old, new: self._on_namespace(new),
                               lambda ns: self.cache.snapshot.set_namespace_labels(ns["metadata"]["name"], None))
        pods = Informer(self.client, "pods", raw=True, shared=True)
        pods.add_handler(self._on_pod_add, self._on_pod_update, self._on_pod_delete)
        self.informers = [nodes, namespaces, pods]
        for informer in self.informers:
            informer.start()
        for informer in self.informers:
            await informer.wait_synced(sync_timeout)
        self.recorder.start()
        loop = asyncio.get_running_loop()
        self._housekeeping = loop.create_task(self._housekeep(), name="scheduler-housekeeping")
        if self.elector is None:
            self._loop = loop.create_task(self.run(), name="scheduler-loop")
        else:
            self._election = loop.create_task(self._lead(), name="scheduler-leader-election")

    @property
    def is_leader(self) -> bool:
        """Whether this instance schedules: it holds the lease, or runs without leader election."""
        if self.elector is None:
            return self._loop is not None and not self._stopped
        return self.elector.is_leader and self._loop is not None

    async def _lead(self) -> None:
        """Campaign for the lease; schedule while holding it; stop scheduling when it is lost."""
        assert self.elector is not None
        election = self.elector.config
        await self.elector.acquire()
        log.info("%s leads %s/%s: scheduling", election.identity, election.namespace, election.name)
        self._loop = asyncio.get_running_loop().create_task(self.run(), name="scheduler-loop")
        await self.elector.renew_until_lost()
        log.error("%s lost the lease %s/%s: no longer scheduling", election.identity, election.namespace, election.name)
        await self._stop_loop()
        self.lost_lease.set()

    async def _stop_loop(self) -> None:
        task, self._loop = self._loop, None
        await cancel_and_wait([task])

    async def stop(self) -> None:
        """Stop scheduling, wait for the bindings in flight, write pending events, stop the informers."""
        if self._stopped:
            return
        self._stopped = True
        self.queue.close()
        await cancel_and_wait([self._election, self._loop, self._housekeeping])
        self._loop = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.elector is not None:
            await self.elector.release()  # the bindings in flight are done: another instance may lead
        await self.recorder.stop()
        for informer in self.informers:
            await informer.stop()

    async def __aenter__(self) -> "Scheduler":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_idle(self) -> None:
        """Wait until the bindings, status writes and events in flight are done (for tests and benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.recorder.flush()

    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.cache.cleanup_expired()

    # ------------------------------------------------------------------ informer handlers

    def responsible_for(self, pod: Mapping[str, Any]) -> bool:
        """Whether one of this scheduler's profiles schedules ``pod`` (by ``spec.schedulerName``)."""
        return ((pod.get("spec") or {}).get("schedulerName") or "default-scheduler") in self.frameworks

    def _on_namespace(self, ns: Mapping[str, Any]) -> None:
        meta = ns.get("metadata") or {}
        self.cache.snapshot.set_namespace_labels(meta.get("name") or "", meta.get("labels") or {})

    def _on_node_add(self, node: Mapping[str, Any]) -> None:
        if self.cache.add_node(node):
            self.queue.move_all_to_active_or_backoff("NodeAdd", _NODE_EVENT_PLUGINS)

    def _on_node_update(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        if self.cache.update_node(new) and (old.get("spec") != new.get("spec")
                                            or (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels")
                                            or (old.get("status") or {}).get("allocatable") != (new.get("status") or {}).get("allocatable")):
            self.queue.move_all_to_active_or_backoff("NodeUpdate", _NODE_EVENT_PLUGINS)

    def _on_node_delete(self, node: Mapping[str, Any]) -> None:
        self.cache.remove_node(node)

    def _pending_info(self, pod: Mapping[str, Any]) -> PodInfo | None:
        try:
            return PodInfo.from_dict(pod)
        except PodInfoError as exc:
            log.warning("cannot schedule pod: %s", exc)
            return None

    def _on_pod_add(self, pod: Mapping[str, Any]) -> None:
        if (pod.get("spec") or {}).get("nodeName"):
            if self.cache.add_pod(pod):
                self.queue.move_all_to_active_or_backoff("AssignedPodAdd", _POD_ADD_PLUGINS)
            return
        if not self.responsible_for(pod) or is_terminal(pod) or (pod.get("metadata") or {}).get("deletionTimestamp"):
            return
        info = self._pending_info(pod)
        if info is not None:
            self.queue.add(info)

    def _on_pod_update(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        key = raw_pod_key(new)
        if (new.get("spec") or {}).get("nodeName"):
            if key in self._victim_of:
                # a victim being deleted for a waiting preemptor: it left the cache when it was
                # chosen, and its DisruptionTarget and terminating updates do not bring it back
                return
            newly_bound = not (old.get("spec") or {}).get("nodeName")
            if newly_bound:
                self.queue.delete(key)
                self._stop_awaiting(key)
            if is_terminal(new):
                if self.cache.remove_pod(key) is not None:
                    self.queue.move_all_to_active_or_backoff("AssignedPodDelete", _POD_DELETE_PLUGINS)
                return
            self.cache.update_pod(new, key)
            if newly_bound:
                self.queue.move_all_to_active_or_backoff("AssignedPodAdd", _POD_ADD_PLUGINS)
            elif (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"):
                self.queue.move_all_to_active_or_backoff("AssignedPodUpdate", _POD_ADD_PLUGINS)
            return
        if not self.responsible_for(new) or is_terminal(new) or (new.get("metadata") or {}).get("deletionTimestamp"):
            self.queue.delete(key)
            return
        current = self.queue.get(key)
        if current is not None and not _pending_changed(old, new):
            current.pod = current.pod.with_raw(new)  # a status-only change
            return
        info = self._pending_info(new)
        if info is not None:
            self.queue.update(info)

    def _on_pod_delete(self, pod: Mapping[str, Any]) -> None:
        key = raw_pod_key(pod)
        self._placeholders.pop(key, None)
        self._victim_gone(key)
        self._stop_awaiting(key)
        if (pod.get("spec") or {}).get("nodeName") or self.cache.is_assumed(key):
            if self.cache.remove_pod(key) is not None:
                self.queue.move_all_to_active_or_backoff("AssignedPodDelete", _POD_DELETE_PLUGINS)
        self.queue.delete(key)

    # ------------------------------------------------------------------ the scheduling loop

    async def run(self) -> None:
        """Schedule pods until the queue is closed (:meth:`start` runs this in a task)."""
        clock = time.perf_counter
        slice_start = clock()
        slice_seconds = self.config.cycle_slice_seconds
        queue = self.queue
        while True:
            qpi = queue.pop_nowait() if not queue.closed else None
            if qpi is None:
                try:
                    qpi = await queue.pop()  # waits for a pod that is due
                except QueueClosed:
                    return
            try:
                self.schedule_pod(qpi)
            except Exception as exc:  # a bug here must not stop the scheduler
                log.exception("scheduling %s failed", qpi.key)
                self._failure(qpi, None, Status.error(f"scheduling failed: {exc!r}"))
            if clock() - slice_start >= slice_seconds:
                # let bindings, informers and event writes progress
                await asyncio.sleep(0)
                slice_start = clock()

    def schedule_pod(self, qpi: QueuedPodInfo) -> None:
        """One scheduling cycle for a popped pod (synchronous; the binding is started as a task)."""
        pod = qpi.pod
        fw = self.frameworks.get(pod.scheduler_name)
        if fw is None:
            self.queue.done(qpi.key)
            return
        self.attempts += 1
        if self._placeholders.pop(pod.key, None) is not None:
            self.cache.forget(pod.key)  # the preemptor's hold on its nominated node
        result = fw.schedule_one(pod, self.cache.snapshot, self.queue.nominated_node(pod.key) or pod.nominated_node)
        node = result.node_name
        if node is None:
            self._handle_unschedulable(fw, qpi, result)
            return
        state = result.state
        self.cache.assume(pod, node)
        status = fw.run_reserve(state, pod, node)
        if status.is_success:
            status = fw.run_permit(state, pod, node)
        if not status.is_success and status.code != Code.WAIT:
            fw.run_unreserve(state, pod, node)
            self.cache.forget(pod.key)
            self._failure(qpi, fw, status)
            return
        self._bindings.append((fw, result, qpi, node, status.code == Code.WAIT))
        self._start_binder()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _start_binder(self) -> None:
        """Start a binder task for the queued binding cycles, unless one is about to run or
        ``bind_concurrency`` are alive."""
        if self._bindings and not self._binders_starting and self._binders < self.config.bind_concurrency:
            self._binders += 1
            self._binders_starting += 1
            self._spawn(self._binder())

    async def _binder(self) -> None:
        """Run queued binding cycles until none is left (see the module's docstring)."""
        self._binders_starting -= 1
        try:
            while self._bindings:
                fw, result, qpi, node, waiting = self._bindings.popleft()
                self._start_binder()  # the cycles left must not wait for this one if it suspends
                try:
                    status = await self._bind(fw, result, qpi, node, waiting)
                except Exception as exc:  # a bug here must not strand the cycles queued behind it
                    log.exception("binding %s failed", qpi.key)
                    status = Status.error(f"binding failed: {exc!r}")
                if not status.is_success:
                    self._binding_failed(fw, result, qpi, node, status)
                    continue
                try:
                    await self._bound(fw, result, qpi, node)
                except Exception:
                    log.exception("after binding %s", qpi.key)
        finally:
            self._binders -= 1

    async def _bind(self, fw: Framework, result: ScheduleResult, qpi: QueuedPodInfo, node: str,
                    waiting: bool) -> Status:
        """The binding cycle up to the binding: wait at permit, pre-bind, bind."""
        pod, state = qpi.pod, result.state
        status = await fw.wait_on_permit(pod) if waiting else SUCCESS
        if status.is_success and fw.has_plugins("preBind"):
            status = await fw.run_pre_bind(state, pod, node)
        if status.is_success:
            status = await fw.run_bind(state, pod, node)
        return status

    async def _bound(self, fw: Framework, result: ScheduleResult, qpi: QueuedPodInfo, node: str) -> None:
        """The binding cycle after a successful binding: confirm the assumption, report, post-bind."""
        pod = qpi.pod
        self.cache.finish_binding(pod.key)
        self.queue.done(pod.key)
        self.queue.delete_nomination(pod.key)
        self._stop_awaiting(pod.key)
        self.queue.release(pod.key)  # no longer held: it is bound
        self.bound += 1
        self.recorder.record(pod, NORMAL, "Scheduled", "Binding", f"Successfully assigned {pod.key} to {node}")
        if self.on_bound is not None:
            self.on_bound(qpi, node)
        if fw.has_plugins("postBind"):
            await fw.run_post_bind(result.state, pod, node)

    def _binding_failed(self, fw: Framework, result: ScheduleResult, qpi: QueuedPodInfo, node: str,
                        status: Status) -> None:
        """Undo the assumption of a pod whose binding cycle failed and retry it after its backoff."""
        fw.run_unreserve(result.state, qpi.pod, node)
        self.cache.forget(qpi.pod.key)
        # pods rejected because of this one may fit now
        self.queue.move_all_to_active_or_backoff("AssignedPodDelete", _POD_DELETE_PLUGINS)
        self._failure(qpi, fw, status, binding=True)

    async def bind_through_api(self, pod: PodInfo, node_name: str) -> Status:
        """DefaultBinder's binder: POST the pod's ``binding`` subresource."""
        body = {"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": pod.name, "namespace": pod.namespace, **({"uid": pod.uid} if pod.uid else {})},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}}
        try:
            await self.client.hand_over("POST", _PODS, body, namespace=pod.namespace, name=pod.name,
                                        subresource="binding")
        except (ApiStatusError, TransportError, OSError) as exc:
            return Status.error(f"binding rejected: {exc}")
        return SUCCESS

    # ------------------------------------------------------------------ failures

    def _handle_unschedulable(self, fw: Framework, qpi: QueuedPodInfo, result: ScheduleResult) -> None:
        if result.fit_error is None:
            self._failure(qpi, fw, result.status)
            return
        pod = qpi.pod
        message = result.fit_error.message()
        nominated = result.nominated_node
        if nominated:
            victims = tuple(v for v in result.victims if v.key not in self._placeholders)
            for victim in victims:
                self.cache.remove_pod(victim.key)  # being deleted: no other pod may count on them
            for other in result.victims:
                if other.key in self._placeholders:  # a lower-priority preemptor loses its hold
                    del self._placeholders[other.key]
                    self.cache.forget(other.key)
                    self.queue.delete_nomination(other.key)
                    self._stop_awaiting(other.key)
                    self.queue.release(other.key)
            # the preemptor holds the room it made until it is retried (nominated pods reserve
            # their node, so the next pods neither take it nor preempt the same victims)
            self.cache.assume(pod, nominated)
            self._placeholders[pod.key] = nominated
            self.queue.add_nomination(pod, nominated)
            if victims:
                self._await_victims(pod.key, victims)
            self._spawn(self._preempt(pod, nominated, victims, message))
        else:
            self._spawn(self._set_condition(pod, "Unschedulable", message, None))
        self.queue.add_unschedulable(qpi, requeue_plugins(result))
        self.recorder.record(pod, WARNING, "FailedScheduling", "Scheduling", message)

    def _failure(self, qpi: QueuedPodInfo, fw: Framework | None, status: Status, *, binding: bool = False) -> None:
        """An error (a plugin failed, a binding was refused): report it and retry after the backoff."""
        pod = qpi.pod
        message = status.message() or "scheduling failed"
        log.warning("scheduling %s: %s", pod.key, message)
        self.queue.add_backoff(qpi)
        self.recorder.record(pod, WARNING, "FailedScheduling", "Binding" if binding else "Scheduling", message)
        reason = "Unschedulable" if status.is_rejected else "SchedulerError"
        self._spawn(self._set_condition(pod, reason, message, None))

    async def _set_condition(self, pod: PodInfo, reason: str, message: str, nominated: str | None) -> None:
        """Write ``PodScheduled=False`` (and the nominated node) through ``pods/status`` when it changed."""
        status = pod.raw.get("status") or {}
        current = next((c for c in status.get("conditions") or () if c.get("type") == "PodScheduled"), None)
        if (current is not None and current.get("status") == "False" and current.get("reason") == reason
                and current.get("message") == message and (nominated is None or status.get("nominatedNodeName") == nominated)):
            return
        patch: dict[str, Any] = {"status": {"conditions": [{
            "type": "PodScheduled", "status": "False", "reason": reason, "message": message,
            "lastProbeTime": None, "lastTransitionTime": now_rfc3339()}]}}
        if nominated is not None:
            patch["status"]["nominatedNodeName"] = nominated
        try:
            await self.client.hand_over("PATCH", _PODS, patch, namespace=pod.namespace, name=pod.name,
                                        subresource="status", content_type=_STRATEGIC)
        except (ApiStatusError, TransportError, OSError) as exc:
            log.warning("cannot update the PodScheduled condition of %s: %s", pod.key, exc)

    def _await_victims(self, preemptor: str, victims: tuple[PodInfo, ...]) -> None:
        """Hold the preemptor until every victim's deletion is seen (Kubernetes retries a preemptor
        when the AssignedPodDelete of its victims arrives, not before)."""
        self._stop_awaiting(preemptor)
        keys = {v.key for v in victims}
        self._awaiting[preemptor] = keys
        for key in keys:
            self._victim_of[key] = preemptor
        self.queue.hold(preemptor)

    def _stop_awaiting(self, preemptor: str) -> None:
        for key in self._awaiting.pop(preemptor, ()):
            if self._victim_of.get(key) == preemptor:
                del self._victim_of[key]

    def _victim_gone(self, victim: str, *, release: bool = False) -> None:
        """A victim was deleted (or, with ``release``, could not be): retry its preemptor once none is left."""
        preemptor = self._victim_of.pop(victim, None)
        if preemptor is None:
            return
        waiting = self._awaiting.get(preemptor)
        if waiting is not None:
            waiting.discard(victim)
            if waiting and not release:
                return
            self._stop_awaiting(preemptor)
        self.queue.release(preemptor)

    def _reject_waiting(self, victim: PodInfo) -> bool:
        """A victim still held at permit is rejected there rather than deleted (it is not bound)."""
        for fw in self.frameworks.values():
            waiting = fw.waiting_pods.get(victim.uid or victim.key)
            if waiting is not None:
                waiting.reject("DefaultPreemption", "preempted")
                self._victim_gone(victim.key)
                return True
        return False

    async def _mark_disruption_target(self, victim: PodInfo, preemptor: PodInfo) -> None:
        """Set the victim's ``DisruptionTarget`` condition before deleting it, as Kubernetes does,
        so that its owner (a Job's pod failure policy, a disruption budget) sees why it went."""
        conditions = (victim.raw.get("status") or {}).get("conditions") or ()
        if any(c.get("type") == "DisruptionTarget" and c.get("status") == "True"
               and c.get("reason") == "PreemptionByScheduler" for c in conditions):
            return
        condition = {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                     "message": f"{preemptor.scheduler_name}: preempting to accommodate a higher priority pod",
                     "lastTransitionTime": now_rfc3339()}
        await self.client.hand_over("PATCH", _PODS, {"status": {"conditions": [condition]}},
                                    namespace=victim.namespace, name=victim.name, subresource="status",
                                    content_type=_STRATEGIC)

    async def _delete_victim(self, victim: PodInfo) -> None:
        """Delete a preemption victim with the configured grace period, on the condition that it
        is still the pod that was chosen (its uid)."""
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        grace = self.config.preemption_grace_seconds
        if grace is not None:
            options["gracePeriodSeconds"] = grace
        if victim.uid:
            options["preconditions"] = {"uid": victim.uid}
        await self.client.hand_over("DELETE", _PODS, options, namespace=victim.namespace, name=victim.name)

    async def _preempt(self, pod: PodInfo, node: str, victims: tuple[PodInfo, ...], message: str) -> None:
        """Delete the victims through the API and clear lower-priority nominations on ``node``,
        then write the preemptor's ``PodScheduled=False`` (``message``) and its nominated node,
        in Kubernetes' order: its PostFilter evicts before the failure handler updates the pod."""
        try:
            await self._evict(pod, node, victims)
        except Exception:  # a bug here must not leave the preemptor's condition unwritten
            log.exception("preempting for %s failed", pod.key)
        await self._set_condition(pod, "Unschedulable", message, node)

    async def _evict(self, pod: PodInfo, node: str, victims: tuple[PodInfo, ...]) -> None:
        for other in self.queue.nominated_pods(node):
            if other.key != pod.key and other.priority < pod.priority:
                self.queue.delete_nomination(other.key)
                try:
                    await self.client.hand_over(
                        "PATCH", _PODS, {"status": {"nominatedNodeName": None}}, namespace=other.namespace,
                        name=other.name, subresource="status", content_type=PATCH_CONTENT_TYPES["merge"])
                except (ApiStatusError, TransportError, OSError) as exc:
                    log.warning("cannot clear the nominated node of %s: %s", other.key, exc)
        for victim in victims:
            self.recorder.record(victim, NORMAL, "Preempted", "Preempting",
                                 f"Preempted by pod {pod.uid or pod.key} on node {node}")
            if self._reject_waiting(victim):
                continue
            try:
                await self._mark_disruption_target(victim, pod)
                await self._delete_victim(victim)
            except ApiStatusError as exc:
                if exc.code == 404:
                    self._victim_gone(victim.key)
                else:
                    log.warning("cannot delete preemption victim %s: %s", victim.key, exc)
                    self.cache.add_pod(victim.raw)  # still there: count it again
                    self._victim_gone(victim.key, release=True)  # the preemptor tries again
            except (TransportError, OSError) as exc:
                log.warning("cannot delete preemption victim %s: %s", victim.key, exc)
                self.cache.add_pod(victim.raw)
                self._victim_gone(victim.key, release=True)
        self.queue.move_all_to_active_or_backoff("AssignedPodDelete", _POD_DELETE_PLUGINS)
