"""Tests for orchestra.scheduler.events: the scheduler's Events, written through a real in-process API."""

from __future__ import annotations

import asyncio
import logging

from orchestra.client import Client
from orchestra.scheduler import events as events_module
from orchestra.scheduler.events import NORMAL, WARNING, EventRecorder
from orchestra.scheduler.podinfo import PodInfo
from scheduler.sched_builders import make_pod


async def events_about(client: Client, name: str) -> list[dict]:
    items = (await client.list("events", namespace="default", raw=True)).items
    return [e for e in items if e["involvedObject"]["name"] == name]


def pod_info(name: str) -> PodInfo:
    return PodInfo.from_dict(make_pod(name))


async def test_a_recorded_event_is_written_as_a_core_v1_event(client):
    recorder = EventRecorder(client, component="my-scheduler", instance="my-scheduler-host")
    pod = pod_info("web-0")
    recorder.record(pod, NORMAL, "Scheduled", "Binding", "Successfully assigned default/web-0 to n1")
    await recorder.flush()
    [event] = await events_about(client, "web-0")
    assert event["metadata"]["name"].startswith("web-0.")
    assert event["involvedObject"] == {"kind": "Pod", "namespace": "default", "name": "web-0",
                                       "uid": pod.uid, "apiVersion": "v1"}
    assert (event["type"], event["reason"], event["action"]) == (NORMAL, "Scheduled", "Binding")
    assert event["message"] == "Successfully assigned default/web-0 to n1"
    assert event["source"] == {"component": "my-scheduler"}
    assert (event["reportingComponent"], event["reportingInstance"]) == ("my-scheduler", "my-scheduler-host")
    assert event["count"] == 1 and event["firstTimestamp"] == event["lastTimestamp"]
    assert recorder.written == 1


async def test_a_pod_given_as_its_wire_dict_is_reported_too(client):
    recorder = EventRecorder(client)
    raw = make_pod("api-0", namespace="default")
    recorder.record(raw, WARNING, "FailedScheduling", "Scheduling", "0/1 nodes are available")
    await recorder.flush()
    [event] = await events_about(client, "api-0")
    assert event["involvedObject"]["uid"] == raw["metadata"]["uid"]
    assert event["type"] == WARNING


async def test_a_repeated_event_counts_up_instead_of_making_another(client):
    recorder = EventRecorder(client)
    pod = pod_info("big")
    for _ in range(3):
        recorder.record(pod, WARNING, "FailedScheduling", "Scheduling", "0/2 nodes are available: 2 Insufficient cpu.")
    recorder.record(pod, WARNING, "FailedScheduling", "Scheduling", "0/3 nodes are available: 3 Insufficient cpu.")
    await recorder.flush()
    events = sorted(await events_about(client, "big"), key=lambda e: e["message"])
    assert [(e["message"][:4], e["count"]) for e in events] == [("0/2 ", 3), ("0/3 ", 1)]
    assert recorder.written == 4


async def test_a_repeat_of_an_event_deleted_meanwhile_is_written_anew(client):
    recorder = EventRecorder(client)
    pod = pod_info("gone")
    recorder.record(pod, WARNING, "FailedScheduling", "Scheduling", "no fit")
    await recorder.flush()
    [first] = await events_about(client, "gone")
    await client.request_json("DELETE", f"/api/v1/namespaces/default/events/{first['metadata']['name']}")
    recorder.record(pod, WARNING, "FailedScheduling", "Scheduling", "no fit")
    await recorder.flush()
    [second] = await events_about(client, "gone")
    assert second["count"] == 1 and second["metadata"]["uid"] != first["metadata"]["uid"]


async def test_the_background_writer_drains_the_queue_and_stops(client):
    recorder = EventRecorder(client)
    recorder.start()
    for i in range(5):
        recorder.record(pod_info(f"p{i}"), NORMAL, "Scheduled", "Binding", f"assigned p{i}")
    await recorder.stop()
    assert recorder.written == 5
    assert len((await client.list("events", namespace="default", raw=True)).items) == 5


async def test_events_recorded_while_the_writer_is_busy_are_written_before_flush_returns(client, monkeypatch):
    recorder = EventRecorder(client)
    recorder.start()
    hand_over = client.hand_over
    busy: list[bool] = []

    async def slow_hand_over(*args, **kwargs):
        await asyncio.sleep(0)  # the writer suspends in its first write ...
        if not busy:  # ... while more events are recorded: the first onto an empty queue
            busy.append(True)
            for i in range(1, 4):
                recorder.record(pod_info(f"q{i}"), NORMAL, "Scheduled", "Binding", f"assigned q{i}")
        return await hand_over(*args, **kwargs)

    monkeypatch.setattr(client, "hand_over", slow_hand_over)
    recorder.record(pod_info("q0"), NORMAL, "Scheduled", "Binding", "assigned q0")
    await recorder.flush()
    assert busy and recorder.written == 4
    assert sorted(e["involvedObject"]["name"] for e in (await client.list("events", namespace="default", raw=True)).items) \
        == ["q0", "q1", "q2", "q3"]
    await recorder.stop()


async def test_a_refused_event_is_logged_and_the_rest_are_still_written(client, caplog):
    recorder = EventRecorder(client)
    recorder.record(pod_info("p0"), NORMAL, "Scheduled", "Binding", "ok")
    recorder.record(pod_info("p1"), "Sideways", "Scheduled", "Binding", "an event type the API refuses")
    recorder.record(pod_info("p2"), NORMAL, "Scheduled", "Binding", "ok")
    with caplog.at_level(logging.WARNING, logger="orchestra.scheduler.events"):
        await recorder.flush()
    assert recorder.written == 2
    assert [r.getMessage() for r in caplog.records if "cannot write event Scheduled for pod default/p1" in r.getMessage()]
    assert await events_about(client, "p1") == []


async def test_the_events_it_remembers_for_repeats_are_bounded(client, monkeypatch):
    monkeypatch.setattr(events_module, "_SEEN_LIMIT", 2)
    recorder = EventRecorder(client)
    for name in ("a", "b", "c"):
        recorder.record(pod_info(name), NORMAL, "Scheduled", "Binding", "assigned")
    await recorder.flush()
    assert len(recorder._seen) == 2
    # the oldest was forgotten: its repeat makes a second Event instead of counting up
    recorder.record(pod_info("a"), NORMAL, "Scheduled", "Binding", "assigned")
    await recorder.flush()
    assert sorted(e["count"] for e in await events_about(client, "a")) == [1, 1]
