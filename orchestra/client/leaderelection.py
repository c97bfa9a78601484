"""Leader election through a ``coordination.k8s.io/v1`` Lease (client-go's ``leaderelection``).

Shared by the components that may run as several instances of which one works: the
controller manager (lease ``kube-system/kube-controller-manager``) and the scheduler
(``kube-system/kube-scheduler``).

Candidates try every ``retry_period`` to take the lease: a lease is free when it does not
exist, has no holder, or its record has not changed for ``lease_duration`` as observed on
this candidate's own clock (clocks of different machines are never compared). The leader
renews every ``retry_period``; when it cannot renew for ``renew_deadline`` it stops leading.
Writes are conditional on the lease's resourceVersion, so two candidates never both win.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from typing import Any, Awaitable, Callable

import attrs

from orchestra.client.client import ApiStatusError, Client
from orchestra.client.transport import TransportError
from orchestra.plugin_manager import await_maybe

__all__ = ["LeaderElectionConfig", "LeaderElector", "LeaseLost"]

log = logging.getLogger(__name__)

Callback = Callable[[], Awaitable[Any] | Any]


class LeaseLost(Exception):
    """The lease could not be renewed within the renew deadline."""


@attrs.frozen
class LeaderElectionConfig:
    """Where the lease lives and the timing (Kubernetes' defaults: 15 s, 10 s, 2 s).

    ``name`` defaults to the controller manager's lease; the scheduler uses ``kube-scheduler``.
    """

    name: str = "kube-controller-manager"
    namespace: str = "kube-system"
    identity: str = attrs.field(factory=lambda: _default_identity())
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __attrs_post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError("leader election needs lease_duration > renew_deadline > retry_period > 0, got "
                             f"{self.lease_duration}, {self.renew_deadline}, {self.retry_period}")


def _is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, ApiStatusError) and exc.code == 404


def _is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, ApiStatusError) and exc.code == 409


def _default_identity() -> str:
    import os
    import socket
    import uuid

    return f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def _micro_time() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Campaigns for a lease and runs callbacks when leadership starts and stops."""

    def __init__(self, client: Client, config: LeaderElectionConfig) -> None:
        self.client = client
        self.config = config
        self.is_leader = False
        self.observed_holder: str | None = None
        self._observed_record: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._lease: dict | None = None

    async def try_acquire_or_renew(self) -> bool:
        """One attempt to take or renew the lease; whether this candidate holds it now."""
        cfg = self.config
        now = _micro_time()
        try:
            lease = await self.client.get("leases", cfg.name, namespace=cfg.namespace, raw=True)
        except ApiStatusError as exc:
            if not _is_not_found(exc):
                raise
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": cfg.name, "namespace": cfg.namespace},
                    "spec": {"holderIdentity": cfg.identity, "leaseDurationSeconds": int(cfg.lease_duration),
                             "acquireTime": now, "renewTime": now, "leaseTransitions": 0}}
            try:
                self._lease = await self.client.create(body, raw=True)
            except ApiStatusError as create_exc:
                if _is_conflict(create_exc):
                    return False
                raise
            self._observe(self._lease)
            return True
        self._observe(lease)
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        duration = float(spec.get("leaseDurationSeconds") or cfg.lease_duration)
        if holder and holder != cfg.identity and self._observed_at + duration > time.monotonic():
            return False
        new_spec = dict(spec)
        if holder != cfg.identity:
            new_spec["acquireTime"] = now
            new_spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if holder else 0)
        new_spec.update(holderIdentity=cfg.identity, leaseDurationSeconds=int(cfg.lease_duration), renewTime=now)
        lease["spec"] = new_spec
        lease.update(apiVersion="coordination.k8s.io/v1", kind="Lease")
        try:
            self._lease = await self.client.update(lease, raw=True)
        except ApiStatusError as exc:
            if _is_conflict(exc):
                return False
            raise
        self._observe(self._lease)
        return True

    def _observe(self, lease: dict) -> None:
        spec = lease.get("spec") or {}
        record = (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("leaseTransitions"))
        if record != self._observed_record:
            self._observed_record = record
            self._observed_at = time.monotonic()
        self.observed_holder = spec.get("holderIdentity")

    async def _attempt(self) -> bool:
        try:
            return await self.try_acquire_or_renew()
        except (ApiStatusError, TransportError, OSError) as exc:
            log.warning("leader election %s/%s: %s", self.config.namespace, self.config.name, exc)
            return False

    async def acquire(self) -> None:
        """Return once this candidate holds the lease."""
        while not await self._attempt():
            await asyncio.sleep(self.config.retry_period)
        self.is_leader = True
        log.info("%s became leader of %s/%s", self.config.identity, self.config.namespace, self.config.name)

    async def renew_until_lost(self) -> None:
        """Renew every retry period; return when a renewal has failed for the renew deadline."""
        last_renewed = time.monotonic()
        while True:
            await asyncio.sleep(self.config.retry_period)
            if await self._attempt():
                last_renewed = time.monotonic()
            elif time.monotonic() - last_renewed >= self.config.renew_deadline or (
                    self.observed_holder not in (None, "", self.config.identity)):
                self.is_leader = False
                log.warning("%s lost the lease %s/%s", self.config.identity, self.config.namespace, self.config.name)
                return

    async def release(self) -> None:
        """Give the lease up (holder cleared) so another candidate need not wait for it to expire."""
        if not self.is_leader or self._lease is None:
            return
        self.is_leader = False
        lease = dict(self._lease)
        lease["spec"] = {**(lease.get("spec") or {}), "holderIdentity": "", "leaseDurationSeconds": 1,
                         "renewTime": _micro_time()}
        lease.update(apiVersion="coordination.k8s.io/v1", kind="Lease")
        try:
            await self.client.update(lease, raw=True)
        except (ApiStatusError, TransportError, OSError) as exc:
            log.info("releasing the lease failed: %s", exc)

    async def run(self, on_started: Callback, on_stopped: Callback) -> None:
        """Campaign forever: lead (``on_started``), and after losing the lease (``on_stopped``) campaign again.

        Cancelling the task stops leading and releases the lease.
        """
        while True:
            await self.acquire()
            try:
                await await_maybe(on_started())
                await self.renew_until_lost()
            except Exception:  # starting the work failed: step down and campaign again
                log.exception("%s: leading failed; stepping down", self.config.identity)
            finally:
                was_leader = self.is_leader
                try:
                    await await_maybe(on_stopped())
                finally:
                    if was_leader:
                        await asyncio.shield(self.release())
            await asyncio.sleep(self.config.retry_period)
