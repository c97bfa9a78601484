"""The CronJob controller: create Jobs on a schedule (Kubernetes' ``pkg/controller/cronjob``, v2).

A sync of a CronJob:

1. reconciles ``status.active`` with the Jobs it owns (finished and vanished Jobs leave it,
   running ones it owns join it) and raises ``status.lastSuccessfulTime`` to the newest
   ``completionTime`` of its Complete Jobs;
2. deletes the oldest finished Jobs beyond ``successfulJobsHistoryLimit`` /
   ``failedJobsHistoryLimit`` (their pods in the background);
3. unless suspended, finds the most recent scheduled time not yet acted on — after
   ``lastScheduleTime`` (or the CronJob's creation), and not before ``now - startingDeadlineSeconds``
   — and, when it is not too late, applies ``concurrencyPolicy`` (``Forbid`` skips while a Job runs,
   ``Replace`` deletes the running ones) and creates the Job
   ``<cronjob>-<scheduled minutes since the epoch>`` from ``jobTemplate``;
4. writes status and asks to be synced again at the next scheduled time.

Schedules are evaluated in ``spec.timeZone`` (:mod:`orchestra.controllers.cron`). ``clock``
(epoch seconds) is injectable, so tests need not wait for minutes to pass.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import time
from typing import Callable
from zoneinfo import ZoneInfo

from orchestra.api.timestamps import format_seconds
from orchestra.client import Client
from orchestra.controllers.base import (
    Controller,
    InformerFactory,
    controller_ref,
    is_conflict,
    is_not_found,
    key_of,
    meta,
    parse_time,
    split_key,
)
from orchestra.controllers.cron import ScheduleError, parse_schedule
from orchestra.controllers.job import job_finished
from orchestra.controllers.podutil import owner_reference

__all__ = ["CronJobController", "SCHEDULED_TIMESTAMP_ANNOTATION", "job_name_for", "most_recent_schedule"]

log = logging.getLogger(__name__)

#: The annotation carrying a Job's scheduled time (in the CronJob's time zone), as Kubernetes 1.28+.
SCHEDULED_TIMESTAMP_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"


def job_name_for(cronjob_name: str, scheduled: float) -> str:
    """``<cronjob>-<minutes since the epoch>``: the same name for the same scheduled time."""
    return f"{cronjob_name}-{int(scheduled // 60)}"


def most_recent_schedule(cronjob: dict, now: float) -> tuple[float | None, float | None]:
    """``(the latest scheduled time not yet acted on, or None; the next scheduled time after now)``.

    Raises :class:`ScheduleError` for an unusable schedule or time zone.
    """
    spec = cronjob.get("spec") or {}
    schedule = parse_schedule(spec.get("schedule") or "", spec.get("timeZone"))
    status = cronjob.get("status") or {}
    earliest = parse_time(status.get("lastScheduleTime")) or parse_time(meta(cronjob).get("creationTimestamp")) or now
    deadline = spec.get("startingDeadlineSeconds")
    if deadline is not None:
        earliest = max(earliest, now - int(deadline))
    return schedule.latest_between(earliest, now), schedule.next_after(now)


def _scheduled_stamp(scheduled: float, time_zone: str | None) -> str:
    zone = ZoneInfo(time_zone) if time_zone else None
    stamp = dt.datetime.fromtimestamp(scheduled, zone).astimezone(zone).replace(microsecond=0).isoformat()
    return stamp[:-6] + "Z" if stamp.endswith("+00:00") else stamp


def _job_ref(job: dict) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job", "name": meta(job)["name"],
            "namespace": meta(job).get("namespace"), "uid": meta(job).get("uid"),
            "resourceVersion": meta(job).get("resourceVersion")}


class CronJobController(Controller):
    """Creates, replaces and prunes the Jobs of CronJobs (see the module docstring)."""

    name = "cronjob"
    default_workers = 2

    def __init__(self, client: Client, informers: InformerFactory, *, workers: int | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        super().__init__(client, informers, workers=workers)

    def setup(self) -> None:
        """Watch CronJobs and Jobs."""
        self.cronjobs = self.informers.informer("cronjobs")
        self.jobs = self.informers.informer("jobs")
        self.cronjobs.add_handler(self.enqueue, lambda old, new: self.enqueue(new), None)
        self.jobs.add_handler(self._job_event, lambda old, new: self._job_event(new), self._job_event)



    def _job_event(self, job: dict) -> None:
        ref = controller_ref(job)
        if ref is not None and ref.get("kind") == "CronJob":
            self.enqueue(f"{meta(job).get('namespace')}/{ref.get('name')}")

    # ------------------------------------------------------------------ sync

    async def sync(self, key: str) -> None:
        """Reconcile active Jobs, prune history, start the due Job, write status."""
        cronjob = self.cronjobs.get(key)
        if cronjob is None:
            return
        namespace, name = split_key(key)
        uid = meta(cronjob).get("uid")
        owned = [j for j in self.jobs.list() if meta(j).get("namespace") == namespace
                 and (ref := controller_ref(j)) is not None and ref.get("uid") == uid]
        status = copy.deepcopy(cronjob.get("status") or {})
        await self._reconcile_active(status, owned, namespace)
        await self._prune_history(cronjob, owned)
        spec = cronjob.get("spec") or {}
        now = self.clock()
        next_time: float | None = None
        if not spec.get("suspend") and not meta(cronjob).get("deletionTimestamp"):
            try:
                scheduled, next_time = most_recent_schedule(cronjob, now)
            except ScheduleError as exc:
                log.warning("cronjob %s: %s", key, exc)
                scheduled = None
            if scheduled is not None:
                await self._run(cronjob, status, owned, scheduled, now)
        await self._write_status(cronjob, status)
        if next_time is not None:
            self.enqueue_after(key, next_time - now + 0.01)

    async def _reconcile_active(self, status: dict, owned: list[dict], namespace: str | None) -> None:
        by_uid = {meta(j).get("uid"): j for j in owned}
        active = []
        for ref in status.get("active") or ():
            job = by_uid.get(ref.get("uid"))
            if job is None:
                try:
                    job = await self.client.get("jobs", ref.get("name"), namespace=namespace, raw=True)
                except Exception as exc:
                    if not is_not_found(exc):
                        raise
                    continue
                if meta(job).get("uid") != ref.get("uid"):
                    continue
            if not job_finished(job):
                active.append(ref)
        listed = {ref.get("uid") for ref in active}
        for job in owned:
            if not job_finished(job) and meta(job).get("uid") not in listed:
                active.append(_job_ref(job))
        for job in owned:
            completed = parse_time((job.get("status") or {}).get("completionTime"))
            if job_finished(job) == "Complete" and completed is not None:
                current = parse_time(status.get("lastSuccessfulTime"))
                if current is None or completed > current:
                    status["lastSuccessfulTime"] = format_seconds(completed)
        if active:
            status["active"] = active
        else:
            status.pop("active", None)

    async def _prune_history(self, cronjob: dict, owned: list[dict]) -> None:
        spec = cronjob.get("spec") or {}
        for state, field, default in (("Complete", "successfulJobsHistoryLimit", 3),
                                      ("Failed", "failedJobsHistoryLimit", 1)):
            limit = spec.get(field)
            limit = default if limit is None else int(limit)
            finished = [j for j in owned if job_finished(j) == state and not meta(j).get("deletionTimestamp")]
            finished.sort(key=lambda j: (parse_time((j.get("status") or {}).get("startTime"))
                                         or parse_time(meta(j).get("creationTimestamp")) or 0.0, meta(j)["name"]))
            for job in finished[: max(len(finished) - limit, 0)]:
                await self._delete_job(job)

    async def _run(self, cronjob: dict, status: dict, owned: list[dict], scheduled: float, now: float) -> None:
        spec = cronjob.get("spec") or {}
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and scheduled + int(deadline) < now:
            log.info("cronjob %s: missed the starting window of %s", key_of(cronjob), format_seconds(scheduled))
            return
        job_name = job_name_for(meta(cronjob)["name"], scheduled)
        if any(meta(j)["name"] == job_name for j in owned) or any(
                ref.get("name") == job_name for ref in status.get("active") or ()):
            return
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and status.get("active"):
            log.info("cronjob %s: not starting %s, the previous Job still runs (Forbid)", key_of(cronjob), job_name)
            return
        if policy == "Replace":
            for ref in status.get("active") or ():
                job = next((j for j in owned if meta(j).get("uid") == ref.get("uid")), None)
                if job is not None:
                    await self._delete_job(job)
            status.pop("active", None)
        job = await self._create_job(cronjob, job_name, scheduled)
        status["active"] = list(status.get("active") or ()) + [_job_ref(job)]
        status["lastScheduleTime"] = format_seconds(scheduled)

    async def _create_job(self, cronjob: dict, job_name: str, scheduled: float) -> dict:
        template = copy.deepcopy((cronjob.get("spec") or {}).get("jobTemplate") or {})
        template_meta = template.get("metadata") or {}
        annotations = dict(template_meta.get("annotations") or {})
        annotations[SCHEDULED_TIMESTAMP_ANNOTATION] = _scheduled_stamp(scheduled, (cronjob.get("spec") or {}).get("timeZone"))
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": job_name, "namespace": meta(cronjob).get("namespace"),
                            "labels": dict(template_meta.get("labels") or {}), "annotations": annotations,
                            "ownerReferences": [owner_reference(cronjob, "batch/v1", "CronJob")]},
               "spec": template.get("spec") or {}}
        try:
            return await self.client.create(job, namespace=meta(cronjob).get("namespace"), raw=True)
        except Exception as exc:
            if not is_conflict(exc):
                raise
        existing = await self.client.get("jobs", job_name, namespace=meta(cronjob).get("namespace"), raw=True)
        ref = controller_ref(existing)
        if ref is None or ref.get("uid") != meta(cronjob).get("uid"):
            raise RuntimeError(f"cronjob {key_of(cronjob)}: job {job_name} exists and is not owned by it")
        return existing  # created by an earlier sync whose effects the informer has not shown yet

    async def _delete_job(self, job: dict) -> None:
        try:
            await self.client.delete("jobs", meta(job)["name"], namespace=meta(job).get("namespace"),
                                     propagation_policy="Background")
        except Exception as exc:
            if not is_not_found(exc):
                raise

    async def _write_status(self, cronjob: dict, status: dict) -> None:
        if status == (cronjob.get("status") or {}):
            return
        updated = {**cronjob, "status": status}  # cronjob is shared: a new top level, the rest as it is
        updated.setdefault("apiVersion", "batch/v1")
        updated.setdefault("kind", "CronJob")
        try:
            await self.client.update_status(updated, raw=True)
        except Exception as exc:
            if not is_not_found(exc):
                raise
