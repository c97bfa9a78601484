"""The CronJob controller against an in-process API server, on an injected clock."""

from __future__ import annotations

import pytest

from orchestra.client import ApiStatusError
from orchestra.controllers.base import controller_ref, parse_time
from orchestra.controllers.cron import parse_schedule
from orchestra.controllers.cronjob import SCHEDULED_TIMESTAMP_ANNOTATION, CronJobController, job_name_for
from orchestra.api.timestamps import format_seconds as format_time
from tests.controllers.conftest import eventually, run_controllers


def cronjob(name: str, schedule: str = "*/10 * * * *", **spec) -> dict:
    return {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": "default"},
        "spec": {"schedule": schedule, "timeZone": "UTC",
                 "jobTemplate": {"metadata": {"labels": {"run": name}},
                                 "spec": {"template": {"spec": {"restartPolicy": "Never",
                                                                "containers": [{"name": "c", "image": "busybox"}]}}}},
                 **spec},
    }


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def setup(client, factory, clock, body) -> tuple[CronJobController, dict, list[float]]:
    """Create the CronJob, start the controller; the clock sits just before the first firings."""
    created = await client.create(body, raw=True)
    born = parse_time(created["metadata"]["creationTimestamp"])
    schedule = parse_schedule(body["spec"]["schedule"], body["spec"]["timeZone"])
    firings = [schedule.next_after(born)]
    for _ in range(4):
        firings.append(schedule.next_after(firings[-1]))
    clock.now = firings[0] - 1
    controller = CronJobController(client, factory, clock=clock)
    await run_controllers(factory, controller)
    return controller, created, firings


async def jobs(client) -> list[dict]:
    listing = await client.list("jobs", namespace="default", raw=True)
    return [j for j in listing.items if not j["metadata"].get("deletionTimestamp")]


async def job_names(client) -> list[str]:
    return sorted(j["metadata"]["name"] for j in await jobs(client))


async def tick(controller, clock, when: float, expected: list[str], client) -> None:
    clock.now = when
    controller.enqueue("default/cj")

    async def names():
        return await job_names(client) == sorted(expected)

    await eventually(names)


async def sync_once(controller) -> None:
    """One sync run by the test (retried when its write races a worker's and conflicts)."""

    async def synced():
        try:
            await controller.sync("default/cj")
        except ApiStatusError:
            return False
        return True

    await eventually(synced)


async def finish(client, name: str, state: str, when: float) -> None:
    job = await client.get("jobs", name, namespace="default", raw=True)
    stamp = format_time(when)
    status = {"conditions": [{"type": state, "status": "True", "lastTransitionTime": stamp}], "startTime": stamp}
    if state == "Complete":
        status["completionTime"] = stamp
    job["status"] = status
    await client.update_status(job, raw=True)


async def cj_status(client) -> dict:
    return (await client.get("cronjobs", "cj", namespace="default", raw=True)).get("status") or {}


async def test_creates_the_job_of_each_scheduled_time(client, factory, clock):
    controller, created, firings = await setup(client, factory, clock, cronjob("cj"))
    try:
        controller.enqueue("default/cj")
        first = job_name_for("cj", firings[0])
        await tick(controller, clock, firings[0] + 5, [first], client)
        job = await client.get("jobs", first, namespace="default", raw=True)
        assert first == f"cj-{int(firings[0] // 60)}"
        assert controller_ref(job)["uid"] == created["metadata"]["uid"]
        assert job["metadata"]["labels"]["run"] == "cj"
        assert job["metadata"]["annotations"][SCHEDULED_TIMESTAMP_ANNOTATION] == format_time(firings[0])

        async def recorded():
            status = await cj_status(client)
            return status if status.get("lastScheduleTime") == format_time(firings[0]) else None

        status = await eventually(recorded)
        assert [ref["name"] for ref in status["active"]] == [first]
        # Allow: the next firing starts another Job while the first still runs
        await tick(controller, clock, firings[1] + 1, [first, job_name_for("cj", firings[1])], client)
        await finish(client, first, "Complete", firings[1] + 30)

        async def succeeded():
            status = await cj_status(client)
            names = [ref["name"] for ref in status.get("active") or ()]
            return status if status.get("lastSuccessfulTime") == format_time(firings[1] + 30) and \
                names == [job_name_for("cj", firings[1])] else None

        await eventually(succeeded)
    finally:
        await controller.stop()


async def test_forbid_skips_while_a_job_runs(client, factory, clock):
    controller, _, firings = await setup(client, factory, clock, cronjob("cj", concurrencyPolicy="Forbid"))
    try:
        first = job_name_for("cj", firings[0])
        await tick(controller, clock, firings[0] + 1, [first], client)
        await eventually(lambda: _active(client, [first]))
        await tick(controller, clock, firings[1] + 1, [first], client)
        await sync_once(controller)
        assert await job_names(client) == [first]
        await finish(client, first, "Complete", firings[1] + 2)
        await tick(controller, clock, firings[2] + 1, [first, job_name_for("cj", firings[2])], client)
    finally:
        await controller.stop()


async def _active(client, names):
    status = await cj_status(client)
    return sorted(ref["name"] for ref in status.get("active") or ()) == sorted(names)


async def test_replace_deletes_the_running_job(client, factory, clock):
    controller, _, firings = await setup(client, factory, clock, cronjob("cj", concurrencyPolicy="Replace"))
    try:
        first, second = job_name_for("cj", firings[0]), job_name_for("cj", firings[1])
        await tick(controller, clock, firings[0] + 1, [first], client)
        await eventually(lambda: _active(client, [first]))
        await tick(controller, clock, firings[1] + 1, [second], client)
        await eventually(lambda: _active(client, [second]))
    finally:
        await controller.stop()


async def test_suspend_and_starting_deadline_skip_firings(client, factory, clock):
    controller, _, firings = await setup(client, factory, clock,
                                         cronjob("cj", suspend=True, startingDeadlineSeconds=60))
    try:
        await tick(controller, clock, firings[0] + 1, [], client)
        await sync_once(controller)
        assert await job_names(client) == []
        # resumed 5 minutes after the firing: outside the 60 s starting deadline
        clock.now = firings[0] + 300
        await client.patch("cronjobs", "cj", {"spec": {"suspend": False}}, namespace="default")

        async def resumed():
            return (controller.cronjobs.get("default/cj") or {}).get("spec", {}).get("suspend") is False

        await eventually(resumed)
        await sync_once(controller)
        assert await job_names(client) == []
        await tick(controller, clock, firings[1] + 30, [job_name_for("cj", firings[1])], client)
    finally:
        await controller.stop()


async def test_history_limits_prune_the_oldest_finished_jobs(client, factory, clock):
    controller, _, firings = await setup(client, factory, clock,
                                         cronjob("cj", successfulJobsHistoryLimit=1, failedJobsHistoryLimit=1))
    try:
        names = [job_name_for("cj", f) for f in firings[:4]]
        for i in range(4):
            await tick(controller, clock, firings[i] + 1, names[: i + 1], client)
            await eventually(lambda i=i: _active(client, names[: i + 1]))
        await finish(client, names[0], "Complete", firings[3] + 1)
        await finish(client, names[1], "Complete", firings[3] + 2)
        await finish(client, names[2], "Failed", firings[3] + 3)
        await finish(client, names[3], "Failed", firings[3] + 4)
        controller.enqueue("default/cj")

        async def pruned():
            return await job_names(client) == sorted([names[1], names[3]])

        await eventually(pruned)
        await eventually(lambda: _active(client, []))
    finally:
        await controller.stop()


async def test_time_zone_sets_the_wall_clock_of_the_schedule(client, factory, clock):
    controller, _, firings = await setup(client, factory, clock,
                                         cronjob("cj", schedule="0 9 * * *", timeZone="Asia/Tokyo"))
    try:
        assert firings[0] % 86400 == 0  # 09:00 in Tokyo is 00:00 UTC
        first = job_name_for("cj", firings[0])
        await tick(controller, clock, firings[0] + 1, [first], client)
        job = await client.get("jobs", first, namespace="default", raw=True)
        assert job["metadata"]["annotations"][SCHEDULED_TIMESTAMP_ANNOTATION].endswith("T09:00:00+09:00")
    finally:
        await controller.stop()
