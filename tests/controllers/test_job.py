"""The Job controller against an in-process API server."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orchestra.controllers.base import controller_ref
from orchestra.controllers.job import (
    COMPLETION_INDEX_ANNOTATION,
    JOB_TRACKING_FINALIZER,
    JobController,
    backoff_delay,
    format_indexes,
    parse_indexes,
    pod_index,
    want_active,
)
from tests.controllers.conftest import eventually, run_controllers


def job(name: str, **spec) -> dict:
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
                                       "containers": [{"name": "c", "image": "busybox"}]}}, **spec},
    }


async def finish(client, pod: dict, phase: str) -> None:
    """The test kubelet: the pod ran and ended in ``phase``."""
    current = await client.get("pods", pod["metadata"]["name"], namespace="default", raw=True)
    current["status"] = {**(current.get("status") or {}), "phase": phase}
    await client.update_status(current, raw=True)


async def running_pods(client, name: str) -> list[dict]:
    listing = await client.list("pods", namespace="default", label_selector=f"batch.kubernetes.io/job-name={name}",
                                raw=True)
    return [p for p in listing.items if not p["metadata"].get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]


async def job_status(client, name: str) -> dict:
    return (await client.get("jobs", name, namespace="default", raw=True)).get("status") or {}


def conditions(status: dict) -> dict[str, dict]:
    return {c["type"]: c for c in status.get("conditions") or () if c.get("status") == "True"}


@given(st.integers(min_value=0, max_value=40))
def test_backoff_doubles_from_the_base_and_is_capped(failures):
    delay = backoff_delay(failures, 10.0, 360.0)
    if failures == 0:
        assert delay == 0
    else:
        assert delay == min(10.0 * 2 ** (failures - 1), 360.0)
        assert backoff_delay(failures + 1, 10.0, 360.0) >= delay


def test_want_active_respects_parallelism_completions_and_work_queues():
    assert want_active({"parallelism": 2, "completions": 5}, 0, 0) == 2
    assert want_active({"parallelism": 2, "completions": 5}, 4, 1) == 1
    assert want_active({"parallelism": 3}, 0, 0) == 3
    assert want_active({"parallelism": 3}, 1, 2) == 2  # a work queue starts nothing after a success


async def test_completions_5_parallelism_2_finishes_complete(client, factory):
    controller = JobController(client, factory, backoff_base=0.01)
    await run_controllers(factory, controller)
    try:
        await client.create(job("pi", completions=5, parallelism=2))
        done = 0
        max_seen = 0
        while done < 5:
            pods = await eventually(lambda: running_pods(client, "pi"))
            max_seen = max(max_seen, len(pods))
            for pod in pods:
                assert controller_ref(pod)["name"] == "pi"
                assert JOB_TRACKING_FINALIZER in pod["metadata"]["finalizers"]
                assert pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "pi"
                assert "batch.kubernetes.io/controller-uid" in pod["metadata"]["labels"]
            await finish(client, pods[0], "Succeeded")
            done += 1

            async def counted(target=done):
                status = await job_status(client, "pi")
                return status if status.get("succeeded") == target else None

            await eventually(counted)
        assert max_seen == 2

        async def complete():
            status = await job_status(client, "pi")
            return status if "Complete" in conditions(status) else None

        status = await eventually(complete)
        conds = conditions(status)
        assert conds["SuccessCriteriaMet"]["reason"] == "CompletionsReached"
        assert conds["Complete"]["reason"] == "CompletionsReached"
        assert status["succeeded"] == 5 and status["failed"] == 0 and status["active"] == 0
        assert status["startTime"] and status["completionTime"]
        listing = await client.list("pods", namespace="default", raw=True)
        assert all(JOB_TRACKING_FINALIZER not in (p["metadata"].get("finalizers") or ()) for p in listing.items)
    finally:
        await controller.stop()


async def test_failing_pods_stop_at_backoff_limit(client, factory):
    controller = JobController(client, factory, backoff_base=0.01, backoff_max=0.05)
    await run_controllers(factory, controller)
    try:
        await client.create(job("flaky", backoffLimit=2))
        seen: set[str] = set()

        async def failed():
            status = await job_status(client, "flaky")
            if "Failed" in conditions(status):
                return status
            for pod in await running_pods(client, "flaky"):
                if pod["metadata"]["name"] not in seen:
                    seen.add(pod["metadata"]["name"])
                    await finish(client, pod, "Failed")
            return None

        status = await eventually(failed)
        conds = conditions(status)
        assert conds["Failed"]["reason"] == "BackoffLimitExceeded"
        assert conds["FailureTarget"]["reason"] == "BackoffLimitExceeded"
        assert status["failed"] == 3 and len(seen) == 3  # each failed pod counted once
        assert "completionTime" not in status and status["active"] == 0
    finally:
        await controller.stop()


async def test_work_queue_completes_when_one_succeeded_and_the_rest_finished(client, factory):
    controller = JobController(client, factory)
    await run_controllers(factory, controller)
    try:
        await client.create(job("queue", parallelism=3))

        async def three():
            pods = await running_pods(client, "queue")
            return pods if len(pods) == 3 else None

        pods = await eventually(three)
        await finish(client, pods[0], "Succeeded")
        await eventually(lambda: _has(client, "queue", succeeded=1, active=2))
        assert len(await running_pods(client, "queue")) == 2  # nothing new starts after a success
        for pod in pods[1:]:
            await finish(client, pod, "Succeeded")

        async def complete():
            status = await job_status(client, "queue")
            return status if "Complete" in conditions(status) else None

        status = await eventually(complete)
        assert status["succeeded"] == 3
    finally:
        await controller.stop()


async def _has(client, name, **fields):
    status = await job_status(client, name)
    return status if all(status.get(k) == v for k, v in fields.items()) else None


async def test_active_deadline_fails_the_job_and_deletes_its_pods(client, factory):
    clock = [1_000_000.0]
    controller = JobController(client, factory, clock=lambda: clock[0])
    await run_controllers(factory, controller)
    try:
        await client.create(job("slow", activeDeadlineSeconds=30, parallelism=2, completions=2))
        await eventually(lambda: _has(client, "slow", active=2))
        clock[0] += 31
        controller.enqueue("default/slow")

        async def failed():
            status = await job_status(client, "slow")
            return status if "Failed" in conditions(status) else None

        status = await eventually(failed)
        assert conditions(status)["Failed"]["reason"] == "DeadlineExceeded"
        assert await running_pods(client, "slow") == []
    finally:
        await controller.stop()


async def test_suspend_deletes_active_pods_and_resume_recreates_them(client, factory):
    controller = JobController(client, factory)
    await run_controllers(factory, controller)
    try:
        await client.create(job("paused", parallelism=2, completions=4, suspend=True))

        async def suspended():
            status = await job_status(client, "paused")
            return status if "Suspended" in conditions(status) else None

        await eventually(suspended)
        assert await running_pods(client, "paused") == []
        await client.patch("jobs", "paused", {"spec": {"suspend": False}}, namespace="default")
        await eventually(lambda: _has(client, "paused", active=2))
        status = await job_status(client, "paused")
        suspended_cond = next(c for c in status["conditions"] if c["type"] == "Suspended")
        assert suspended_cond["status"] == "False" and suspended_cond["reason"] == "JobResumed"
        assert status["startTime"]
        await client.patch("jobs", "paused", {"spec": {"suspend": True}}, namespace="default")

        async def emptied():
            return await running_pods(client, "paused") == []

        await eventually(emptied)
    finally:
        await controller.stop()


async def test_ttl_after_finished_deletes_the_job_and_its_pods(client, factory):
    clock = [2_000_000_000.0]
    controller = JobController(client, factory, clock=lambda: clock[0])
    await run_controllers(factory, controller)
    try:
        await client.create(job("once", ttlSecondsAfterFinished=60))
        pods = await eventually(lambda: running_pods(client, "once"))
        await finish(client, pods[0], "Succeeded")

        async def complete():
            status = await job_status(client, "once")
            return status if "Complete" in conditions(status) else None

        await eventually(complete)
        clock[0] += 61
        controller.enqueue("default/once")

        async def gone():
            listing = await client.list("jobs", namespace="default", raw=True)
            return not listing.items

        await eventually(gone)
    finally:
        await controller.stop()


async def test_deleting_a_job_releases_its_pods_tracking_finalizers(client, factory):
    controller = JobController(client, factory)
    await run_controllers(factory, controller)
    try:
        await client.create(job("gone", parallelism=2, completions=2))

        async def two():
            pods = await running_pods(client, "gone")
            return pods if len(pods) == 2 else None

        await eventually(two)
        await client.delete("jobs", "gone", namespace="default", propagation_policy="Background")

        async def released():
            pods = await running_pods(client, "gone")
            return len(pods) == 2 and all(JOB_TRACKING_FINALIZER not in (p["metadata"].get("finalizers") or ())
                                          for p in pods)

        await eventually(released)
    finally:
        await controller.stop()


@given(st.sets(st.integers(min_value=0, max_value=60)))
def test_completed_indexes_round_trip(indexes):
    text = format_indexes(indexes)
    assert parse_indexes(text, 61) == indexes
    assert "--" not in text and not text.startswith(",")


def test_completed_indexes_are_written_as_ranges():
    assert format_indexes({0, 1, 2, 4, 6, 7}) == "0-2,4,6-7"
    assert parse_indexes("0-2,4,9-12", 11) == {0, 1, 2, 4, 9, 10}


async def test_indexed_job_runs_each_index_once(client, factory):
    controller = JobController(client, factory)
    await run_controllers(factory, controller)
    try:
        await client.create(job("idx", completions=3, parallelism=2, completionMode="Indexed"))

        async def two():
            pods = await running_pods(client, "idx")
            return pods if len(pods) == 2 else None

        pods = await eventually(two)
        assert sorted(pod_index(p) for p in pods) == [0, 1]
        one = next(p for p in pods if pod_index(p) == 1)
        assert one["metadata"]["name"].startswith("idx-1-") and one["spec"]["hostname"] == "idx-1"
        assert one["metadata"]["labels"][COMPLETION_INDEX_ANNOTATION] == "1"
        env = one["spec"]["containers"][0]["env"]
        assert env[-1]["name"] == "JOB_COMPLETION_INDEX"
        await finish(client, one, "Succeeded")

        async def next_index():
            pods = await running_pods(client, "idx")
            return pods if sorted(pod_index(p) for p in pods) == [0, 2] else None

        pods = await eventually(next_index)
        assert (await job_status(client, "idx"))["completedIndexes"] == "1"
        for pod in pods:
            await finish(client, pod, "Succeeded")

        async def complete():
            status = await job_status(client, "idx")
            return status if "Complete" in conditions(status) else None

        status = await eventually(complete)
        assert status["completedIndexes"] == "0-2" and status["succeeded"] == 3
    finally:
        await controller.stop()
