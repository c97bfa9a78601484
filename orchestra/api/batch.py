"""The ``batch/v1`` API group: Job and CronJob."""

from __future__ import annotations

from typing import Any

from orchestra.api._model import extra_field, field, model
from orchestra.api.core import ObjectReference, PodTemplateSpec
from orchestra.api.meta import LabelSelectorSpec, ObjectMeta

__all__ = [
    "JobSpec",
    "JobCondition",
    "JobStatus",
    "Job",
    "JobTemplateSpec",
    "CronJobSpec",
    "CronJobStatus",
    "CronJob",
]


@model
class JobSpec:
    """The desired state of a Job: how many pods must succeed, how many run at once."""

    parallelism: int | None = field()
    completions: int | None = field()
    active_deadline_seconds: int | None = field()
    pod_failure_policy: dict[str, Any] | None = field()
    success_policy: dict[str, Any] | None = field()
    backoff_limit: int | None = field()
    backoff_limit_per_index: int | None = field()
    max_failed_indexes: int | None = field()
    selector: LabelSelectorSpec | None = field()
    manual_selector: bool | None = field()
    template: PodTemplateSpec | None = field()
    ttl_seconds_after_finished: int | None = field()
    completion_mode: str | None = field()
    suspend: bool | None = field()
    pod_replacement_policy: str | None = field()
    managed_by: str | None = field()
    extra: dict = extra_field()


@model
class JobCondition:
    """One observed condition of a Job (Complete, Failed, Suspended, …)."""

    type: str | None = field()
    status: str | None = field()
    last_probe_time: str | None = field()
    last_transition_time: str | None = field()
    reason: str | None = field()
    message: str | None = field()
    extra: dict = extra_field()


@model
class JobStatus:
    """The observed state of a Job."""

    conditions: list[JobCondition] | None = field()
    start_time: str | None = field()
    completion_time: str | None = field()
    active: int | None = field()
    succeeded: int | None = field()
    failed: int | None = field()
    terminating: int | None = field()
    completed_indexes: str | None = field()
    failed_indexes: str | None = field()
    uncounted_terminated_pods: dict[str, Any] | None = field()
    ready: int | None = field()
    extra: dict = extra_field()


@model
class Job:
    """Runs pods until a number of them succeed."""

    api_version: str | None = field()
    kind: str | None = field()
    metadata: ObjectMeta | None = field()
    spec: JobSpec | None = field()
    status: JobStatus | None = field()
    extra: dict = extra_field()


@model
class JobTemplateSpec:
    """The Job a CronJob creates."""

    metadata: ObjectMeta | None = field()
    spec: JobSpec | None = field()
    extra: dict = extra_field()


@model
class CronJobSpec:
    """When a CronJob runs (``schedule``) and what (``job_template``)."""

    schedule: str | None = field()
    time_zone: str | None = field()
    starting_deadline_seconds: int | None = field()
    concurrency_policy: str | None = field()
    suspend: bool | None = field()
    job_template: JobTemplateSpec | None = field()
    successful_jobs_history_limit: int | None = field()
    failed_jobs_history_limit: int | None = field()
    extra: dict = extra_field()


@model
class CronJobStatus:
    """The observed state of a CronJob."""

    active: list[ObjectReference] | None = field()
    last_schedule_time: str | None = field()
    last_successful_time: str | None = field()
    extra: dict = extra_field()


@model
class CronJob:
    """Creates Jobs on a repeating schedule."""

    api_version: str | None = field()
    kind: str | None = field()
    metadata: ObjectMeta | None = field()
    spec: CronJobSpec | None = field()
    status: CronJobStatus | None = field()
    extra: dict = extra_field()
