"""Events about pods (``Scheduled``, ``FailedScheduling``, ``Preempted``), written off the scheduling cycle.

The scheduling loop only appends to a queue (:meth:`EventRecorder.record`); a background
task drains the queue whenever it wakes, writing core ``v1`` Events through the API. A repeat of an event (same pod, reason and message) updates the count and last
timestamp of the event already written instead of creating a new one, as client-go's
event correlator does, so a pod that keeps failing does not flood the store.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
from typing import Any

from orchestra.aio import cancel_and_wait
from orchestra.api.timestamps import now_rfc3339
from orchestra.client import ApiStatusError, Client, resolve_kind
from orchestra.client.client import PATCH_CONTENT_TYPES
from orchestra.client.transport import TransportError
from orchestra.scheduler.podinfo import PodInfo

__all__ = ["EventRecorder", "NORMAL", "WARNING"]

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"
_SEEN_LIMIT = 4096
_EVENTS = resolve_kind("events")

#: A queued event: (namespace, pod name, pod uid, type, reason, action, message, timestamp). A
#: tuple, not a dict: every scheduled pod queues one.
_Pending = tuple[str, str, str, str, str, str, str, str]


class EventRecorder:
    """Queues events and writes them in the background as ``v1`` Events.

    :param client: the API client.
    :param component: ``source.component`` / ``reportingComponent`` (the scheduler's name).
    :param instance: ``reportingInstance`` (defaults to ``<component>-<host>``).
    """

    def __init__(self, client: Client, component: str = "default-scheduler", instance: str | None = None) -> None:
        self.client = client
        self.component = component
        self.instance = instance or f"{component}-{os.uname().nodename}"
        self._pending: collections.deque[_Pending] = collections.deque()
        self._seen: collections.OrderedDict[tuple[str, str, str, str], tuple[str, int]] = collections.OrderedDict()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        #: A new Event's fields in the order of the Event model's, as the API server writes a
        #: decoded Event. Each write copies it and sets the event's own values; the nested
        #: dicts are made anew, as the server owns the body it is handed and may change it.
        self._template: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Event", "metadata": None, "involvedObject": None, "reason": "",
            "message": "", "source": None, "firstTimestamp": "", "lastTimestamp": "", "count": 1, "type": "",
            "action": "", "reportingComponent": component, "reportingInstance": self.instance,
        }

    def record(self, pod: PodInfo | dict[str, Any], event_type: str, reason: str, action: str, message: str) -> None:
        """Queue one event about ``pod`` (a :class:`PodInfo` or wire dict); returns at once."""
        if isinstance(pod, PodInfo):
            ns, name, uid = pod.namespace, pod.name, pod.uid
        else:
            meta = pod.get("metadata") or {}
            ns, name, uid = meta.get("namespace") or "default", meta.get("name") or "", meta.get("uid") or ""
        pending = self._pending
        if not pending:  # else the writer is not idle and has yet to drain the queue: it needs no wake-up
            self._idle.clear()
            self._wakeup.set()
        pending.append((ns, name, uid, event_type, reason, action, message, now_rfc3339()))

    def start(self) -> None:
        """Start the background writer."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="scheduler-events")

    async def flush(self) -> None:
        """Wait until every queued event is written (or failed)."""
        if self._task is None:
            await self._write_pending()
            return
        await self._idle.wait()

    async def stop(self) -> None:
        """Write what is queued, then stop the writer."""
        await self.flush()
        await cancel_and_wait([self._task])
        self._task = None

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await self._write_pending()

    async def _write_pending(self) -> None:
        while self._pending:
            event = self._pending.popleft()
            try:
                await self._write(event)
            except (ApiStatusError, TransportError, OSError) as exc:
                log.warning("cannot write event %s for pod %s/%s: %s", event[4], event[0], event[1], exc)
        self._idle.set()

    async def _write(self, event: _Pending) -> None:
        ns, pod_name, uid, event_type, reason, action, message, when = event
        key = (ns, uid or pod_name, reason, message)
        seen = self._seen.get(key)
        if seen is not None:
            name, count = seen
            try:
                await self.client.hand_over("PATCH", _EVENTS, {"count": count + 1, "lastTimestamp": when},
                                            namespace=ns, name=name, content_type=PATCH_CONTENT_TYPES["merge"])
                self._seen[key] = (name, count + 1)
                self._seen.move_to_end(key)
                self.written += 1
                return
            except ApiStatusError as exc:
                if exc.code != 404:
                    raise
                del self._seen[key]
        name = f"{pod_name}.{time.time_ns():x}"
        body = self._template.copy()  # cheaper than a dict display, which inserts every key anew
        body["metadata"] = {"name": name, "namespace": ns}
        body["involvedObject"] = {"kind": "Pod", "namespace": ns, "name": pod_name, "uid": uid, "apiVersion": "v1"}
        body["reason"] = reason
        body["message"] = message
        body["source"] = {"component": self.component}
        body["firstTimestamp"] = body["lastTimestamp"] = when
        body["type"] = event_type
        body["action"] = action
        await self.client.hand_over("POST", _EVENTS, body, namespace=ns)
        self._seen[key] = (name, 1)
        if len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)
        self.written += 1
