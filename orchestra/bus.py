"""The in-process event bus: typed events published synchronously, consumed by asyncio subscribers.

Publishing never waits: :meth:`EventBus.publish` puts the event in every
subscriber's bounded buffer and returns. What happens when a subscriber's
buffer is full is the subscriber's **overflow policy**, chosen when it subscribes:

``"disconnect"`` (the default)
    The subscription is ended. The consumer first receives every event that was
    buffered, then iteration raises :class:`SubscriberOverflow`. A consumer that
    keeps a cache (an informer, the watch cache) must then rebuild it, exactly as
    a Kubernetes client re-lists after its watch is closed. Nothing is ever
    silently lost.

``"drop-oldest"``
    The oldest buffered event is discarded to make room, and the subscription's
    ``dropped`` counter grows. For consumers that only need recent events
    (metrics, logging observers).

Observer plugins receive every event through the ``orchestra_event`` hook once
:meth:`EventBus.start_observers` runs; their subscription uses ``"drop-oldest"``
(a slow observer must not end the stream for the others) and logs a warning
each time it drops.

A bus nobody subscribes to costs its publishers nothing: they check
:attr:`EventBus.has_subscribers` before building an event, and a publisher that
keeps nothing to publish while the bus is idle (the API server's Events cache)
wakes through :meth:`EventBus.on_first_subscriber`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any, Callable, Literal

import attrs
import pluggy

from orchestra.plugin_manager import await_maybe

__all__ = [
    "ObjectEvent",
    "ComponentEvent",
    "EventBus",
    "Subscription",
    "SubscriberOverflow",
    "DEFAULT_BUFFER",
]

log = logging.getLogger(__name__)

#: Default number of events a subscriber may have waiting.
DEFAULT_BUFFER = 1024

OverflowPolicy = Literal["disconnect", "drop-oldest"]


@attrs.frozen
class ObjectEvent:
    """An API object was added, modified or deleted, at store revision ``revision``.

    ``resource`` is the plural resource name (``pods``); ``namespace`` is empty
    for cluster-scoped objects; ``object`` is the object as stored (for
    ``DELETED``, its last state).
    """

    type: Literal["ADDED", "MODIFIED", "DELETED"]
    resource: str
    namespace: str
    name: str
    revision: int
    object: Any = attrs.field(default=None, repr=False, eq=False)


@attrs.frozen
class ComponentEvent:
    """A component (``apiserver``, ``scheduler``, an ``agent`` …) started or stopped."""

    type: Literal["STARTED", "STOPPED"]
    component: str
    name: str


Event = ObjectEvent | ComponentEvent


class SubscriberOverflow(Exception):
    """A ``"disconnect"`` subscriber fell more than its buffer behind and was ended."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        super().__init__(
            f"subscriber fell {maxsize} events behind and was disconnected; rebuild state and subscribe again"
        )


class Subscription:
    """One subscriber's bounded buffer; iterate it with ``async for``.

    Created by :meth:`EventBus.subscribe`. Iteration ends after :meth:`close`
    (or when the bus closes) once the buffer is drained.
    """

    def __init__(
        self,
        bus: "EventBus",
        maxsize: int,
        overflow: OverflowPolicy,
        accept: Callable[[Event], bool] | None,
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"subscriber buffer size must be at least 1, got {maxsize}")
        if overflow not in ("disconnect", "drop-oldest"):
            raise ValueError(f'overflow policy must be "disconnect" or "drop-oldest", got {overflow!r}')
        self._bus = bus
        self._buffer: collections.deque[Event] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._accept = accept
        self.maxsize = maxsize
        self.overflow = overflow
        #: Events discarded under the ``"drop-oldest"`` policy.
        self.dropped = 0
        self.closed = False
        self.overflowed = False

    def _offer(self, event: Event) -> None:
        if self.closed or (self._accept is not None and not self._accept(event)):
            return
        if len(self._buffer) >= self.maxsize:
            if self.overflow == "disconnect":
                self.overflowed = True
                self._end()
                return
            self._buffer.popleft()
            self.dropped += 1
        self._buffer.append(event)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _end(self) -> None:
        self.closed = True
        self._bus._unsubscribe(self)
        self._wake()

    def pending(self) -> int:
        """How many events wait in the buffer."""
        return len(self._buffer)

    def close(self) -> None:
        """Stop receiving; buffered events are still delivered, then iteration ends."""
        if not self.closed:
            self._end()

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> Event:
        while not self._buffer:
            if self.closed:
                if self.overflowed:
                    raise SubscriberOverflow(self.maxsize)
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._buffer.popleft()


class EventBus:
    """Publish/subscribe of :class:`ObjectEvent` and :class:`ComponentEvent` inside one process."""

    def __init__(self, plugin_manager: pluggy.PluginManager | None = None) -> None:
        self._subscriptions: list[Subscription] = []
        self._pm = plugin_manager
        self._observer_task: asyncio.Task[None] | None = None
        self._on_first: list[Callable[[], None]] = []
        #: Whether any subscription is open: a publisher may skip building an event nobody receives.
        self.has_subscribers = False

    def subscribe(
        self,
        *,
        maxsize: int = DEFAULT_BUFFER,
        overflow: OverflowPolicy = "disconnect",
        accept: Callable[[Event], bool] | None = None,
    ) -> Subscription:
        """A new subscription receiving every event published from now on.

        :param maxsize: how many events may wait before the overflow policy applies.
        :param overflow: ``"disconnect"`` or ``"drop-oldest"`` (see the module docs).
        :param accept: a predicate; events it rejects are never buffered.
        """
        sub = Subscription(self, maxsize, overflow, accept)
        self._subscriptions.append(sub)
        if not self.has_subscribers:
            self.has_subscribers = True
            for callback in list(self._on_first):
                callback()
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        try:
            self._subscriptions.remove(sub)
        except ValueError:
            pass
        self.has_subscribers = bool(self._subscriptions)

    def on_first_subscriber(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` each time the bus goes from no subscription to one, inside
        :meth:`subscribe` and before it returns (so before anything is published to the new
        subscription)."""
        self._on_first.append(callback)

    @property
    def subscriber_count(self) -> int:
        """How many subscriptions are open."""
        return len(self._subscriptions)

    def publish(self, event: Event) -> None:
        """Hand ``event`` to every subscriber; never blocks and never raises for a slow subscriber."""
        for sub in list(self._subscriptions):
            sub._offer(event)

    def start_observers(self, *, maxsize: int = DEFAULT_BUFFER) -> None:
        """Start delivering events to the ``orchestra_event`` hook (needs a running loop)."""
        if self._pm is None:
            raise RuntimeError("EventBus has no plugin manager: pass one to deliver events to observer plugins")
        if self._observer_task is None:
            sub = self.subscribe(maxsize=maxsize, overflow="drop-oldest")
            self._observer_task = asyncio.get_running_loop().create_task(
                self._observe(sub), name="orchestra-bus-observers"
            )

    async def _observe(self, sub: Subscription) -> None:
        assert self._pm is not None
        hook = self._pm.hook.orchestra_event
        reported = 0
        async for event in sub:
            if sub.dropped > reported:
                log.warning("event observers are slow: %d events dropped", sub.dropped - reported)
                reported = sub.dropped
            args = {"event": event}
            for impl in reversed(hook.get_hookimpls()):
                try:
                    await await_maybe(impl.function(*(args[name] for name in impl.argnames)))
                except Exception:
                    log.exception("observer plugin %s failed on %r", impl.plugin_name, event)

    async def close(self) -> None:
        """End every subscription and wait for the observers to drain."""
        for sub in list(self._subscriptions):
            sub.close()
        if self._observer_task is not None:
            await self._observer_task
            self._observer_task = None
