"""The Job controller: run pods until ``completions`` of them succeed (Kubernetes' ``pkg/controller/job``).

- Pods are created from the template (``generateName: <job>-``, the controller ownerReference and
  the :data:`JOB_TRACKING_FINALIZER`), at most ``parallelism`` at once, and never more than the
  completions still missing. Without ``completions`` the Job is a work queue: once one pod
  succeeded no new pod starts, and the Job completes when none is left running.
- Finished pods are counted exactly once, as Kubernetes does: their uids go to
  ``status.uncountedTerminatedPods``, then their finalizer is removed, then they move into
  ``status.succeeded`` / ``status.failed``. A pod being deleted before it succeeded counts as failed.
- Each counted failure delays the next pod creation: :attr:`JobController.backoff_base` seconds,
  doubling per consecutive failure up to :attr:`JobController.backoff_max`.
- More failures than ``backoffLimit`` (``BackoffLimitExceeded``) or running longer than
  ``activeDeadlineSeconds`` (``DeadlineExceeded``) add ``FailureTarget``; enough successes add
  ``SuccessCriteriaMet`` (``CompletionsReached``). Remaining pods are then deleted, and once none
  is left unaccounted the terminal ``Failed`` / ``Complete`` condition follows with the same
  reason (and ``completionTime`` for ``Complete``).
- ``completionMode: Indexed``: pod ``i`` (``0 ≤ i < completions``) carries its index (annotation,
  label, ``JOB_COMPLETION_INDEX``, hostname ``<job>-<i>``); the Job is complete when every index
  succeeded (``status.completedIndexes``, ``succeeded`` = their number); pods of completed or
  duplicated indexes are deleted.
- ``suspend`` deletes the active pods (condition ``Suspended``); resuming restarts ``startTime``.
- ``ttlSecondsAfterFinished`` deletes a finished Job (pods in the background) once it elapsed.

``clock`` (epoch seconds) is injectable for tests, like the backoff durations.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from typing import Callable

import attrs

from orchestra.api.timestamps import format_seconds
from orchestra.controllers.base import (
    Controller,
    Expectations,
    InformerFactory,
    controller_ref,
    delete_pods,
    is_conflict,
    is_namespace_terminating,
    is_not_found,
    key_of,
    meta,
    parse_time,
    split_key,
)
from orchestra.controllers.podutil import RefManager, active_pods_deletion_order, is_pod_ready, owner_reference, selector_of
from orchestra.client import Client

__all__ = [
    "JobController",
    "JOB_TRACKING_FINALIZER",
    "DEFAULT_BACKOFF_BASE",
    "DEFAULT_BACKOFF_MAX",
    "backoff_delay",
    "job_finished",
    "want_active",
    "COMPLETION_INDEX_ANNOTATION",
    "pod_index",
    "format_indexes",
    "parse_indexes",
]

log = logging.getLogger(__name__)

#: The finalizer that keeps a Job's pod until the controller counted it.
JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
#: The annotation (and label) carrying an Indexed Job pod's completion index.
COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
#: Seconds before recreating a pod after the first failure (doubling after each further one).
DEFAULT_BACKOFF_BASE = 10.0
#: The longest pod-failure backoff, in seconds.
DEFAULT_BACKOFF_MAX = 360.0

_BACKOFF_MESSAGE = "Job has reached the specified backoff limit"
_DEADLINE_MESSAGE = "Job was active longer than specified deadline"
_COMPLETIONS_MESSAGE = "Reached expected number of succeeded pods"
_INTERIM = {"FailureTarget": "Failed", "SuccessCriteriaMet": "Complete"}


def backoff_delay(failures: int, base: float = DEFAULT_BACKOFF_BASE, cap: float = DEFAULT_BACKOFF_MAX) -> float:
    """Seconds to wait before a new pod after ``failures`` consecutive failures."""
    if failures <= 0:
        return 0.0
    return min(base * 2 ** min(failures - 1, 64), cap)


def _condition(job: dict, kind: str) -> dict | None:
    for cond in (job.get("status") or {}).get("conditions") or ():
        if cond.get("type") == kind and cond.get("status") == "True":
            return cond
    return None


def job_finished(job: dict) -> str | None:
    """``Complete`` or ``Failed`` when the Job has that terminal condition, else None."""
    for kind in ("Complete", "Failed"):
        if _condition(job, kind) is not None:
            return kind
    return None


def want_active(spec: dict, succeeded: int, active: int) -> int:
    """How many pods should run for a Job spec, given its successes and running pods."""
    parallelism = max(int(spec.get("parallelism") if spec.get("parallelism") is not None else 1), 0)
    completions = spec.get("completions")
    if completions is None:
        return active if succeeded > 0 else parallelism
    return max(min(parallelism, int(completions) - succeeded), 0)


def _pod_failed(pod: dict) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase == "Failed" or (phase != "Succeeded" and bool(meta(pod).get("deletionTimestamp")))


def _pod_finished(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") == "Succeeded" or _pod_failed(pod)


def _set_condition(status: dict, kind: str, value: str, reason: str, message: str, now: float) -> None:
    conditions = list(status.get("conditions") or ())
    for cond in conditions:
        if cond.get("type") == kind:
            if cond.get("status") != value:
                cond["lastTransitionTime"] = format_seconds(now)
            cond.update(status=value, reason=reason, message=message, lastProbeTime=format_seconds(now))
            break
    else:
        conditions.append({"type": kind, "status": value, "reason": reason, "message": message,
                           "lastProbeTime": format_seconds(now), "lastTransitionTime": format_seconds(now)})
    status["conditions"] = conditions


@attrs.define
class _Backoff:
    failures: int = 0
    last_failure: float = 0.0


class JobController(Controller):
    """Creates, counts and cleans up the pods of Jobs (see the module docstring)."""

    name = "job"

    def __init__(self, client: Client, informers: InformerFactory, *, workers: int | None = None,
                 clock: Callable[[], float] = time.time, backoff_base: float = DEFAULT_BACKOFF_BASE,
                 backoff_max: float = DEFAULT_BACKOFF_MAX) -> None:
        self.clock = clock
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        super().__init__(client, informers, workers=workers)

    def setup(self) -> None:
        """Watch Jobs and pods."""
        self.expectations = Expectations()
        self._backoff: dict[str, _Backoff] = {}
        self._unfinalized: dict[str, set[str]] = {}
        self.jobs = self.informers.informer("jobs")
        self.pods = self.informers.informer("pods")
        self.pods_by_owner = self.informers.controller_index("pods")
        self.jobs.add_handler(self.enqueue, lambda old, new: self.enqueue(new), self._job_deleted)
        self.pods.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)


    # ------------------------------------------------------------------ event handlers

    def _job_deleted(self, job: dict) -> None:
        self.expectations.forget(key_of(job))
        self._backoff.pop(key_of(job), None)
        self.enqueue(job)

    def _owner_key(self, pod: dict) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "Job":
            return None
        return f"{meta(pod).get('namespace')}/{ref.get('name')}"

    def _pod_added(self, pod: dict) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.enqueue(key)

    def _pod_updated(self, old: dict, new: dict) -> None:
        key = self._owner_key(new) or self._owner_key(old)
        if key is not None:
            if not _has_tracking(new):
                self._unfinalized.get(key, set()).discard(meta(new).get("uid"))
            if meta(new).get("deletionTimestamp") and not meta(old).get("deletionTimestamp"):
                self.expectations.deletion_observed(key, key_of(new))
            self.enqueue(key)

    def _pod_deleted(self, pod: dict) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, key_of(pod))
            self._unfinalized.get(key, set()).discard(meta(pod).get("uid"))
            self.enqueue(key)

    # ------------------------------------------------------------------ sync

    async def sync(self, key: str) -> None:
        """Count finished pods, decide the Job's fate, create or delete pods, write status."""
        job = self.jobs.get(key)
        namespace, name = split_key(key)
        if job is None:
            self.expectations.forget(key)
            self._unfinalized.pop(key, None)
            await self._release_orphans(namespace, name)
            return
        uid = meta(job).get("uid")
        candidates = self.pods_by_owner.candidates(job)
        selector = selector_of((job.get("spec") or {}).get("selector"))
        pods = await RefManager(self.client, job, selector, "batch/v1", "Job", "pods").claim(
            [p for p in candidates if controller_ref(p) is not None or not _pod_finished(p)])
        pods += [p for p in candidates if (ref := controller_ref(p)) is not None and ref.get("uid") == uid
                 and p not in pods and JOB_TRACKING_FINALIZER in (meta(p).get("finalizers") or ())]
        if job_finished(job) or meta(job).get("deletionTimestamp"):
            # nothing more to count: let the pods go (with the Job, or orphaned)
            await self._remove_finalizers(key, [p for p in pods if _has_tracking(p)])
            await self._expire(job)
            return
        await self._sync_job(key, job, pods)

    async def _sync_job(self, key: str, job: dict, pods: list[dict]) -> None:
        spec = job.get("spec") or {}
        now = self.clock()
        status = copy.deepcopy(job.get("status") or {})
        uncounted = status.get("uncountedTerminatedPods") or {}
        counted_pending = {"succeeded": set(uncounted.get("succeeded") or ()), "failed": set(uncounted.get("failed") or ())}
        skip = self._unfinalized.get(key, set())
        fresh = {"succeeded": [], "failed": []}
        for pod in pods:
            pod_uid = meta(pod).get("uid")
            if not _has_tracking(pod) or pod_uid in skip or not _pod_finished(pod):
                continue
            if pod_uid in counted_pending["succeeded"] or pod_uid in counted_pending["failed"]:
                continue
            fresh["failed" if _pod_failed(pod) else "succeeded"].append(pod_uid)
        active = [p for p in pods if not _pod_finished(p)]
        terminating = [p for p in pods if meta(p).get("deletionTimestamp") and _has_tracking(p)]
        succeeded = int(status.get("succeeded") or 0) + len(counted_pending["succeeded"]) + len(fresh["succeeded"])
        failed = int(status.get("failed") or 0) + len(counted_pending["failed"]) + len(fresh["failed"])
        done: set[int] | None = None
        if spec.get("completionMode") == "Indexed":
            done = _completed_indexes(spec, status, pods)
            succeeded = len(done)
            _set_completed_indexes(status, done)
        if fresh["succeeded"] or fresh["failed"]:
            status["uncountedTerminatedPods"] = {
                "succeeded": sorted(counted_pending["succeeded"] | set(fresh["succeeded"])),
                "failed": sorted(counted_pending["failed"] | set(fresh["failed"]))}
            job = await self._write_status(job, status)
            status = copy.deepcopy(job.get("status") or {})
        self._record_backoff(key, fresh, now)
        suspended = bool(spec.get("suspend"))
        self._set_suspended(status, job, suspended, now)
        if not suspended and not status.get("startTime"):
            status["startTime"] = format_seconds(now)
        interim = self._interim_condition(status)
        if interim is None and not suspended:
            interim = self._decide(spec, status, succeeded, failed, active, now)
            if interim is not None:
                _set_condition(status, interim[0], "True", interim[1], interim[2], now)
        error: Exception | None = None
        if interim is not None or suspended:
            await self._delete_pods(key, active)
        elif self.expectations.satisfied(key):
            try:
                await self._manage(key, job, active, succeeded, now, done)
            except Exception as exc:  # status is still worth writing; re-raised below
                error = exc
        await self._remove_finalizers(key, [p for p in pods if _has_tracking(p) and _pod_finished(p)])
        status["uncountedTerminatedPods"] = {"succeeded": [], "failed": []}
        status["succeeded"], status["failed"] = succeeded, failed
        if done is not None:
            _set_completed_indexes(status, done)
        status["active"] = len(active) if interim is None and not suspended else 0
        status["ready"] = sum(1 for p in active if is_pod_ready(p)) if status["active"] else 0
        status["terminating"] = len(terminating)
        if interim is not None and not any(_has_tracking(p) for p in active):
            terminal = _INTERIM[interim[0]]
            _set_condition(status, terminal, "True", interim[1], interim[2], now)
            if terminal == "Complete":
                status["completionTime"] = format_seconds(now)
            status["active"], status["ready"] = 0, 0
        await self._write_status(job, status)
        self._requeue_for_time(key, spec, status, now)
        if error is not None:
            raise error

    def _interim_condition(self, status: dict) -> tuple[str, str, str] | None:
        for kind in _INTERIM:
            for cond in status.get("conditions") or ():
                if cond.get("type") == kind and cond.get("status") == "True":
                    return kind, cond.get("reason") or "", cond.get("message") or ""
        return None

    def _decide(self, spec: dict, status: dict, succeeded: int, failed: int, active: list[dict],
                now: float) -> tuple[str, str, str] | None:
        restarts = 0
        if ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy") == "OnFailure":
            restarts = sum(int(c.get("restartCount") or 0) for p in active
                           for c in (p.get("status") or {}).get("containerStatuses") or ())
        if failed + restarts > int(spec.get("backoffLimit") if spec.get("backoffLimit") is not None else 6):
            return "FailureTarget", "BackoffLimitExceeded", _BACKOFF_MESSAGE
        deadline = spec.get("activeDeadlineSeconds")
        started = parse_time(status.get("startTime"))
        if deadline is not None and started is not None and now - started >= int(deadline):
            return "FailureTarget", "DeadlineExceeded", _DEADLINE_MESSAGE
        completions = spec.get("completions")
        if completions is not None and succeeded >= int(completions):
            return "SuccessCriteriaMet", "CompletionsReached", _COMPLETIONS_MESSAGE
        if completions is None and succeeded > 0 and not active:
            return "SuccessCriteriaMet", "CompletionsReached", _COMPLETIONS_MESSAGE
        return None

    def _set_suspended(self, status: dict, job: dict, suspended: bool, now: float) -> None:
        current = next((c for c in status.get("conditions") or () if c.get("type") == "Suspended"), None)
        if suspended and (current is None or current.get("status") != "True"):
            _set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended", now)
        elif not suspended and current is not None and current.get("status") == "True":
            _set_condition(status, "Suspended", "False", "JobResumed", "Job resumed", now)
            status["startTime"] = format_seconds(now)

    def _record_backoff(self, key: str, fresh: dict[str, list[str]], now: float) -> None:
        record = self._backoff.setdefault(key, _Backoff())
        if fresh["failed"]:
            record.failures += len(fresh["failed"])
            record.last_failure = now
        elif fresh["succeeded"]:
            record.failures = 0

    def _backoff_remaining(self, key: str, now: float) -> float:
        record = self._backoff.get(key)
        if record is None or record.failures <= 0:
            return 0.0
        return record.last_failure + backoff_delay(record.failures, self.backoff_base, self.backoff_max) - now

    async def _manage(self, key: str, job: dict, active: list[dict], succeeded: int, now: float,
                      done: set[int] | None) -> None:
        spec = job.get("spec") or {}
        indexes: list[int | None] = []
        if done is not None:
            extras, active, free = _sort_indexed(active, done, int(spec.get("completions") or 0))
            if extras:
                await self._delete_pods(key, extras)
                return
        want = want_active(spec, succeeded, len(active))
        if len(active) > want:
            await self._delete_pods(key, active_pods_deletion_order(active)[: len(active) - want])
            return
        missing = want - len(active)
        if missing <= 0:
            return
        wait = self._backoff_remaining(key, now)
        if wait > 0:
            self.enqueue_after(key, wait)
            return
        if done is not None:
            indexes = list(free[:missing])
            missing = len(indexes)
        else:
            indexes = [None] * missing
        self.expectations.expect_creations(key, missing)
        results = await asyncio.gather(*(self._create_pod(job, i) for i in indexes), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        for _ in failures:
            self.expectations.creation_observed(key)
        if failures and not all(is_namespace_terminating(f) for f in failures):
            raise failures[0]

    async def _create_pod(self, job: dict, index: int | None = None) -> None:
        template = copy.deepcopy((job.get("spec") or {}).get("template") or {})
        template_meta = template.get("metadata") or {}
        pod_meta = {
            "generateName": f"{meta(job)['name']}-" if index is None else f"{meta(job)['name']}-{index}-",
            "namespace": meta(job).get("namespace"),
            "labels": dict(template_meta.get("labels") or {}),
            "ownerReferences": [owner_reference(job, "batch/v1", "Job")],
            "finalizers": list(template_meta.get("finalizers") or ()) + [JOB_TRACKING_FINALIZER],
        }
        if template_meta.get("annotations"):
            pod_meta["annotations"] = dict(template_meta["annotations"])
        pod_spec = template.get("spec") or {}
        if index is not None:
            _add_index(pod_meta, pod_spec, meta(job)["name"], index)
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": pod_spec}
        await self.client.create(pod, namespace=meta(job).get("namespace"))

    async def _delete_pods(self, key: str, pods: list[dict]) -> None:
        victims = [p for p in pods if not meta(p).get("deletionTimestamp")]
        if not victims:
            return
        await delete_pods(self.client, self.expectations, key, victims)

    async def _remove_finalizers(self, key: str, pods: list[dict]) -> None:
        skip = self._unfinalized.setdefault(key, set())
        for pod in pods:
            if meta(pod).get("uid") in skip:
                continue
            finalizers = [f for f in meta(pod).get("finalizers") or () if f != JOB_TRACKING_FINALIZER]
            patch = {"metadata": {"finalizers": finalizers or None, "uid": meta(pod)["uid"]}}
            try:
                await self.client.patch("pods", meta(pod)["name"], patch, namespace=meta(pod).get("namespace"))
            except Exception as exc:
                if not is_not_found(exc):
                    raise
            skip.add(meta(pod).get("uid"))

    async def _release_orphans(self, namespace: str | None, name: str) -> None:
        """Remove the tracking finalizer from pods whose Job is gone (nothing will count them)."""
        jobs_alive = {meta(j).get("uid") for j in self.jobs.list()}
        for pod in self.pods.list():
            ref = controller_ref(pod)
            if (meta(pod).get("namespace") == namespace and ref is not None and ref.get("kind") == "Job"
                    and ref.get("name") == name and ref.get("uid") not in jobs_alive and _has_tracking(pod)):
                finalizers = [f for f in meta(pod).get("finalizers") or () if f != JOB_TRACKING_FINALIZER]
                try:
                    await self.client.patch("pods", meta(pod)["name"],
                                            {"metadata": {"finalizers": finalizers or None}}, namespace=namespace)
                except Exception as exc:
                    if not is_not_found(exc):
                        raise

    async def _write_status(self, job: dict, status: dict) -> dict:
        if status == (job.get("status") or {}):
            return job
        updated = {**job, "status": status}  # job is shared: a new top level, the rest as it is
        updated.setdefault("apiVersion", "batch/v1")
        updated.setdefault("kind", "Job")
        try:
            return await self.client.update_status(updated, raw=True)
        except Exception as exc:
            if is_not_found(exc):
                return updated
            raise

    def _requeue_for_time(self, key: str, spec: dict, status: dict, now: float) -> None:
        if job_finished({"status": status}):
            ttl = spec.get("ttlSecondsAfterFinished")
            if ttl is not None:
                self.enqueue_after(key, max(float(ttl), 0.0))
            return
        deadline = spec.get("activeDeadlineSeconds")
        started = parse_time(status.get("startTime"))
        if deadline is not None and started is not None and not spec.get("suspend"):
            self.enqueue_after(key, max(started + int(deadline) - now, 0.0) + 0.01)

    async def _expire(self, job: dict) -> None:
        """Delete a finished Job (pods in the background) once ``ttlSecondsAfterFinished`` passed."""
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None or meta(job).get("deletionTimestamp"):
            return
        status = job.get("status") or {}
        cond = _condition(job, job_finished(job) or "")
        finished = parse_time(status.get("completionTime")) or parse_time((cond or {}).get("lastTransitionTime"))
        if finished is None:
            return
        remaining = finished + int(ttl) - self.clock()
        if remaining > 0:
            self.enqueue_after(key_of(job), remaining)
            return
        try:
            await self.client.delete("jobs", meta(job)["name"], namespace=meta(job).get("namespace"),
                                     propagation_policy="Background",
                                     preconditions={"uid": meta(job)["uid"]})
        except Exception as exc:
            if not (is_not_found(exc) or is_conflict(exc)):
                raise


def pod_index(pod: dict) -> int | None:
    """The completion index of an Indexed Job's pod (None when missing or malformed)."""
    value = (meta(pod).get("annotations") or {}).get(COMPLETION_INDEX_ANNOTATION)
    return int(value) if isinstance(value, str) and value.isdigit() else None


def format_indexes(indexes: set[int]) -> str:
    """Indexes as Kubernetes writes ``completedIndexes``: ``1,3-5,7``."""
    parts: list[str] = []
    ordered = sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def parse_indexes(text: str | None, completions: int) -> set[int]:
    """The indexes below ``completions`` listed in a ``completedIndexes`` string (malformed parts skipped)."""
    indexes: set[int] = set()
    for part in (text or "").split(","):
        low, _, high = part.partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            indexes.update(range(int(low), min(int(high or low), completions - 1) + 1))
    return indexes


def _completed_indexes(spec: dict, status: dict, pods: list[dict]) -> set[int]:
    completions = int(spec.get("completions") or 0)
    done = parse_indexes(status.get("completedIndexes"), completions)
    for pod in pods:
        index = pod_index(pod)
        if (pod.get("status") or {}).get("phase") == "Succeeded" and index is not None and index < completions:
            done.add(index)
    return done


def _set_completed_indexes(status: dict, done: set[int]) -> None:
    if done:
        status["completedIndexes"] = format_indexes(done)
    else:
        status.pop("completedIndexes", None)


def _sort_indexed(active: list[dict], done: set[int], completions: int) -> tuple[list[dict], list[dict], list[int]]:
    """``(pods to delete, pods to keep, indexes without a pod)`` of an Indexed Job's active pods.

    Pods without a valid index, of an index already completed, or duplicating another pod's
    index are deleted.
    """
    extras, keep, taken = [], [], set()
    for pod in sorted(active, key=lambda p: meta(p).get("creationTimestamp") or ""):
        index = pod_index(pod)
        if index is None or index >= completions or index in done or index in taken:
            extras.append(pod)
        else:
            taken.add(index)
            keep.append(pod)
    free = [i for i in range(completions) if i not in done and i not in taken]
    return extras, keep, free


def _add_index(pod_meta: dict, pod_spec: dict, job_name: str, index: int) -> None:
    """Mark a pod with its completion index: annotation, label, hostname and ``JOB_COMPLETION_INDEX``."""
    pod_meta["annotations"] = {**(pod_meta.get("annotations") or {}), COMPLETION_INDEX_ANNOTATION: str(index)}
    pod_meta["labels"] = {**pod_meta["labels"], COMPLETION_INDEX_ANNOTATION: str(index)}
    pod_spec.setdefault("hostname", f"{job_name}-{index}")
    env_var = {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
        "fieldPath": f"metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"}}}
    for container in (pod_spec.get("initContainers") or []) + (pod_spec.get("containers") or []):
        env = [e for e in container.get("env") or () if e.get("name") != "JOB_COMPLETION_INDEX"]
        container["env"] = env + [env_var]


def _has_tracking(pod: dict) -> bool:
    return JOB_TRACKING_FINALIZER in (meta(pod).get("finalizers") or ())
