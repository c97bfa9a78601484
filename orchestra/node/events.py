"""Events the agent posts about pods and its node (Pulling, Started, Killing, BackOff, Unhealthy…).

Like client-go's event recorder used by the kubelet: events are queued and written in the
background, so a slow or failing API never blocks a pod worker, and a repeat of the same event
(same object, field path, reason and message) bumps ``count`` and ``lastTimestamp`` of the one
already written instead of creating another.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
import secrets
from typing import Any

from orchestra.aio import cancel_and_wait, wait_for
from orchestra.client import ApiStatusError, Client, TransportError, resolve_kind

__all__ = ["EventRecorder", "NORMAL", "WARNING", "COMPONENT", "pod_reference", "container_field_path", "rfc3339"]

log = logging.getLogger(__name__)

NORMAL, WARNING = "Normal", "Warning"
#: The ``source.component`` of the agent's events (kubectl's "From" column).
COMPONENT = "kubelet"
_QUEUE_LIMIT = 10_000
_REMEMBERED = 4096
_EVENTS = resolve_kind("events")


def rfc3339(when: dt.datetime | None = None) -> str:
    """A Kubernetes ``Time`` (seconds precision, UTC, ``Z``)."""
    when = when or dt.datetime.now(dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_reference(pod: dict, field_path: str | None = None) -> dict[str, Any]:
    """The ``involvedObject`` of an event about ``pod`` (optionally one of its containers)."""
    meta = pod.get("metadata") or {}
    ref: dict[str, Any] = {
        "kind": "Pod",
        "apiVersion": "v1",
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
    }
    if field_path:
        ref["fieldPath"] = field_path
    return ref


def container_field_path(name: str, init: bool = False) -> str:
    """``spec.containers{web}`` / ``spec.initContainers{setup}``: where a container's events point."""
    return f"spec.{'initContainers' if init else 'containers'}{{{name}}}"


class EventRecorder:
    """Queues events and writes them through the client, aggregating repeats."""

    def __init__(self, client: Client, host: str) -> None:
        self.client = client
        self.host = host
        self._queue: asyncio.Queue[tuple[dict, str, str, str, dt.datetime]] = asyncio.Queue(_QUEUE_LIMIT)
        self._written: collections.OrderedDict[tuple, tuple[str, str, int]] = collections.OrderedDict()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start writing queued events."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"events-{self.host}")

    async def stop(self, drain_timeout: float = 2.0) -> None:
        """Write what is queued (for at most ``drain_timeout`` seconds), then stop."""
        if self._task is None:
            return
        try:
            await wait_for(self._queue.join(), drain_timeout)
        except asyncio.TimeoutError:
            pass
        await cancel_and_wait([self._task])
        self._task = None

    def record(self, involved: dict, event_type: str, reason: str, message: str) -> None:
        """Queue one event about ``involved`` (an ``involvedObject`` dict); dropped when the queue is full."""
        try:
            self._queue.put_nowait((involved, event_type, reason, message, dt.datetime.now(dt.timezone.utc)))
        except asyncio.QueueFull:
            log.warning("event queue full; dropping %s event %s", reason, message)

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._write(*item)
            except (ApiStatusError, TransportError, OSError) as exc:
                log.info("could not write event %s: %s", item[2], exc)
            except Exception:
                log.exception("could not write event %s", item[2])
            finally:
                self._queue.task_done()

    async def _write(self, involved: dict, event_type: str, reason: str, message: str, when: dt.datetime) -> None:
        namespace = involved.get("namespace") or "default"
        key = (involved.get("uid"), involved.get("fieldPath"), event_type, reason, message)
        stamp = rfc3339(when)
        seen = self._written.get(key)
        if seen is not None:
            name, ns, count = seen
            try:
                await self.client.patch("events", name, {"count": count + 1, "lastTimestamp": stamp}, namespace=ns,
                                        raw=True)
                self._written[key] = (name, ns, count + 1)
                self._written.move_to_end(key)
                return
            except ApiStatusError as exc:
                if exc.code != 404:
                    raise
        name = f"{involved.get('name')}.{int(when.timestamp() * 1e9):x}{secrets.token_hex(2)}"
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": dict(involved),  # the body is handed over: nothing of the caller's goes in
            "reason": reason,
            "message": message,
            "type": event_type,
            "source": {"component": COMPONENT, "host": self.host},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "reportingComponent": COMPONENT,
            "reportingInstance": self.host,
        }
        # Handed over: in process the server takes the dict itself (no encode, no decode, no answer).
        await self.client.hand_over("POST", _EVENTS, event, namespace=namespace)
        self._written[key] = (name, namespace, 1)
        if len(self._written) > _REMEMBERED:
            self._written.popitem(last=False)
