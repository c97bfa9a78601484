"""The scheduler's configuration file, modelled on ``KubeSchedulerConfiguration`` (``kubescheduler.config.k8s.io/v1``)::

    apiVersion: kubescheduler.config.k8s.io/v1
    kind: KubeSchedulerConfiguration
    percentageOfNodesToScore: 0            # default of every profile (0: adaptive)
    podInitialBackoffSeconds: 1
    podMaxBackoffSeconds: 10
    podMaxInUnschedulablePodsDuration: 300 # Orchestra: seconds before an unschedulable pod is retried anyway
    bindConcurrency: 16                    # Orchestra: bindings in flight at once
    opportunisticBatching: true            # Orchestra: Kubernetes' OpportunisticBatching feature gate
    leaderElection:                        # several schedulers, one schedules (Kubernetes' fields)
      leaderElect: false                   # Orchestra's default; kube-scheduler's is true
      leaseDuration: 15s                   # renewDeadline: 10s, retryPeriod: 2s
      resourceName: kube-scheduler         # the Lease kube-system/kube-scheduler
      resourceNamespace: kube-system
    profiles:
      - schedulerName: default-scheduler
        plugins:
          score: {enabled: [{name: NodeResourcesFit, weight: 2}], disabled: [{name: ImageLocality}]}
        pluginConfig:
          - {name: NodeResourcesFit, args: {scoringStrategy: {type: MostAllocated}}}

Every profile is checked when the configuration is loaded — plugin names, weights, plugin
arguments — and a mistake raises :class:`ConfigError` naming the file and the field.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Callable, Mapping

import attrs
import yaml

from orchestra.api.duration import is_go_duration, parse_go_duration
from orchestra.client.leaderelection import LeaderElectionConfig
from orchestra.scheduler.framework import Framework, ProfileError
from orchestra.scheduler.profiles import DEFAULT_SCHEDULER_NAME

__all__ = ["API_VERSION", "KIND", "ConfigError", "SchedulerConfig", "build_frameworks", "load_config", "parse_config",
           "parse_duration"]

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"

_FIELDS = {
    "apiVersion", "kind", "profiles", "percentageOfNodesToScore", "podInitialBackoffSeconds", "podMaxBackoffSeconds",
    "podMaxInUnschedulablePodsDuration", "bindConcurrency", "leaderElection", "clientConnection", "parallelism",
    "opportunisticBatching",
}


class ConfigError(ValueError):
    """The scheduler configuration is invalid; the message names the file and the field."""


@attrs.frozen
class SchedulerConfig:
    """A validated scheduler configuration (see the module docstring for the file format)."""

    profiles: tuple[Mapping[str, Any], ...] = ({"schedulerName": DEFAULT_SCHEDULER_NAME},)
    pod_initial_backoff: float = 1.0
    pod_max_backoff: float = 10.0
    max_unschedulable: float = 300.0
    bind_concurrency: int = 16
    #: Place a pod from the ranked candidates of the previous pod with its signature
    #: (:mod:`orchestra.scheduler.batch`).
    opportunistic_batching: bool = True
    #: Seconds of grace given to preemption victims (None: the pod's own terminationGracePeriodSeconds).
    preemption_grace_seconds: int | None = None
    #: How long the scheduling loop runs cycles back to back, while pods are queued, before it
    #: yields to the event loop. Yielding after every pod costs SchedulingBasic a third of its
    #: throughput in task switches; a millisecond adds about that much to a pod's binding latency.
    cycle_slice_seconds: float = 0.001
    #: Campaign for this lease and schedule only while holding it (None: schedule at once, alone).
    leader_election: LeaderElectionConfig | None = None
    source: str = "<defaults>"

    @property
    def scheduler_names(self) -> list[str]:
        """The profiles' scheduler names, in order."""
        return [p.get("schedulerName") or DEFAULT_SCHEDULER_NAME for p in self.profiles]


def _number(data: Mapping[str, Any], key: str, default: float, where: str, *, minimum: float = 0,
            integer: bool = False) -> Any:
    value = data.get(key, default)
    if value is None:
        return default
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or value < minimum:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{where}: {key} must be {kind} ≥ {minimum:g}, not {value!r}")
    return value


def parse_config(data: Any, source: str = "<config>") -> SchedulerConfig:
    """Validate a parsed configuration document (a dict); profiles are checked by :func:`build_frameworks`."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: the configuration must be a map, not {type(data).__name__}")
    api_version = data.get("apiVersion", API_VERSION)
    if api_version != API_VERSION:
        raise ConfigError(f"{source}: apiVersion must be {API_VERSION}, not {api_version!r}")
    kind = data.get("kind", KIND)
    if kind != KIND:
        raise ConfigError(f"{source}: kind must be {KIND}, not {kind!r}")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ConfigError(f"{source}: unknown field(s) {', '.join(unknown)}")
    pct = _number(data, "percentageOfNodesToScore", 0, source, integer=True)
    if pct > 100:
        raise ConfigError(f"{source}: percentageOfNodesToScore must be 0..100, not {pct}")
    initial = _number(data, "podInitialBackoffSeconds", 1, source)
    maximum = _number(data, "podMaxBackoffSeconds", 10, source)
    if initial <= 0:
        raise ConfigError(f"{source}: podInitialBackoffSeconds must be greater than 0, not {initial!r}")
    if maximum < initial:
        raise ConfigError(f"{source}: podMaxBackoffSeconds ({maximum}) must not be less than podInitialBackoffSeconds ({initial})")
    unschedulable = _number(data, "podMaxInUnschedulablePodsDuration", 300, source)
    concurrency = _number(data, "bindConcurrency", 16, source, minimum=1, integer=True)
    batching = data.get("opportunisticBatching", True)
    if not isinstance(batching, bool):
        raise ConfigError(f"{source}: opportunisticBatching must be true or false, not {batching!r}")
    leader_election = _leader_election(data.get("leaderElection"), source)
    profiles_raw = data.get("profiles")
    if profiles_raw is None or profiles_raw == []:
        profiles_raw = [{}]
    if not isinstance(profiles_raw, list):
        raise ConfigError(f"{source}: profiles must be a list")
    profiles: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for i, p in enumerate(profiles_raw):
        if not isinstance(p, Mapping):
            raise ConfigError(f"{source}: profiles[{i}] must be a map")
        profile = dict(p)
        name = profile.get("schedulerName") or DEFAULT_SCHEDULER_NAME
        if not isinstance(name, str):
            raise ConfigError(f"{source}: profiles[{i}].schedulerName must be a string")
        if name in seen:
            raise ConfigError(f"{source}: profiles[{i}].schedulerName: {name!r} is already used by profiles[{seen[name]}]")
        seen[name] = i
        profile["schedulerName"] = name
        if profile.get("percentageOfNodesToScore") is None and pct:
            profile["percentageOfNodesToScore"] = pct
        profiles.append(profile)
    return SchedulerConfig(
        profiles=tuple(profiles), pod_initial_backoff=float(initial), pod_max_backoff=float(maximum),
        max_unschedulable=float(unschedulable), bind_concurrency=concurrency, opportunistic_batching=batching,
        leader_election=leader_election, source=source,
    )


_ELECTION_FIELDS = {"leaderElect", "leaseDuration", "renewDeadline", "retryPeriod", "resourceLock", "resourceName",
                    "resourceNamespace"}


def parse_duration(value: Any, where: str) -> float:
    """Seconds from a Go duration (``"15s"``, ``"1m30s"``, ``"500ms"``) or a number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif is_go_duration(value):
        seconds = parse_go_duration(value)
    else:
        raise ConfigError(f"{where} must be a duration such as 15s or 1m30s, not {value!r}")
    if seconds <= 0:
        raise ConfigError(f"{where} must be greater than 0, not {value!r}")
    return seconds


def _leader_election(election: Any, source: str) -> LeaderElectionConfig | None:
    """``leaderElection`` → the lease to campaign for, or None when ``leaderElect`` is false or absent."""
    if election is None:
        return None
    if not isinstance(election, Mapping):
        raise ConfigError(f"{source}: leaderElection must be a map")
    unknown = sorted(set(election) - _ELECTION_FIELDS)
    if unknown:
        raise ConfigError(f"{source}: leaderElection: unknown field(s) {', '.join(unknown)}")
    elect = election.get("leaderElect", False)
    if not isinstance(elect, bool):
        raise ConfigError(f"{source}: leaderElection.leaderElect must be true or false, not {elect!r}")
    lock = election.get("resourceLock", "leases")
    if lock != "leases":
        raise ConfigError(f"{source}: leaderElection.resourceLock: only leases are supported, not {lock!r}")
    names = {}
    for key, default in (("resourceName", "kube-scheduler"), ("resourceNamespace", "kube-system")):
        value = election.get(key) or default
        if not isinstance(value, str):
            raise ConfigError(f"{source}: leaderElection.{key} must be a string, not {value!r}")
        names[key] = value
    timing = {attr: parse_duration(election[key], f"{source}: leaderElection.{key}") if key in election else default
              for key, attr, default in (("leaseDuration", "lease_duration", 15.0), ("renewDeadline", "renew_deadline", 10.0),
                                         ("retryPeriod", "retry_period", 2.0))}
    if not elect:
        return None
    try:
        return LeaderElectionConfig(name=names["resourceName"], namespace=names["resourceNamespace"], **timing)
    except ValueError as exc:
        raise ConfigError(f"{source}: leaderElection: {exc}") from None


def load_config(path: str | Path) -> SchedulerConfig:
    """Read and validate a configuration file (YAML or JSON)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read scheduler configuration {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    return parse_config(data, str(path))


def build_frameworks(config: SchedulerConfig, plugins: Any, *, binder: Callable | None = None,
                     rng: random.Random | None = None) -> dict[str, Framework]:
    """One :class:`Framework` per profile, by scheduler name; raise :class:`ConfigError` naming the field.

    Every profile must use the same queue-sort plugin (one queue serves them all, as in Kubernetes).
    """
    frameworks: dict[str, Framework] = {}
    queue_sort: tuple[str, str] | None = None
    for i, profile in enumerate(config.profiles):
        try:
            fw = Framework.from_profile(profile, plugins, binder=binder, rng=rng, batching=config.opportunistic_batching)
        except ProfileError as exc:
            raise ConfigError(f"{config.source}: profiles[{i}]: {exc}") from None
        sorters = fw.plugins("queueSort")
        if not sorters:
            raise ConfigError(f"{config.source}: profiles[{i}]: a queueSort plugin must be enabled")
        name = sorters[0].NAME
        if queue_sort is not None and name != queue_sort[1]:
            raise ConfigError(f"{config.source}: profiles[{i}].plugins.queueSort: {name} differs from {queue_sort[1]} "
                              f"of {queue_sort[0]}; every profile must use the same queue sort")
        queue_sort = queue_sort or (f"profiles[{i}]", name)
        frameworks[fw.scheduler_name] = fw
    return frameworks
