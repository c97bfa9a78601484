"""The ``coordination.k8s.io/v1`` API group: Lease."""

from __future__ import annotations

from orchestra.api._model import extra_field, field, model
from orchestra.api.meta import ObjectMeta

__all__ = ["LeaseSpec", "Lease"]


@model
class LeaseSpec:
    """Who holds a lease, for how long, and since when."""

    holder_identity: str | None = field()
    lease_duration_seconds: int | None = field()
    acquire_time: str | None = field()
    renew_time: str | None = field()
    lease_transitions: int | None = field()
    strategy: str | None = field()
    preferred_holder: str | None = field()
    extra: dict = extra_field()


@model
class Lease:
    """A lease used for leader election and node heartbeats."""

    api_version: str | None = field()
    kind: str | None = field()
    metadata: ObjectMeta | None = field()
    spec: LeaseSpec | None = field()
    extra: dict = extra_field()
