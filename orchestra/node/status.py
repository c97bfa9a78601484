"""A pod's status as the kubelet reports it, computed from what the pod worker knows.

Pure functions over wire dicts: :func:`pod_phase` (kubelet's ``getPhase``),
:func:`pod_conditions` (PodReadyToStartContainers, Initialized, ContainersReady, Ready,
PodScheduled; transition times kept while a condition's status holds) and
:func:`build_pod_status`, which merges them with the status fields other components own.
The worker writes the result through ``pods/status`` only when it differs from what it last
wrote (:func:`status_changed` ignores heartbeat-like noise: nothing here carries one).
"""

from __future__ import annotations

import copy
from typing import Any, Iterable

import attrs

from orchestra.node.events import rfc3339

__all__ = [
    "ContainerView",
    "PodView",
    "WAITING_CONTAINER_CREATING",
    "WAITING_POD_INITIALIZING",
    "WAITING_CRASH_LOOP_BACK_OFF",
    "waiting",
    "container_status",
    "pod_phase",
    "pod_conditions",
    "build_pod_status",
    "status_changed",
    "OWN_CONDITIONS",
]

WAITING_CONTAINER_CREATING = "ContainerCreating"
WAITING_POD_INITIALIZING = "PodInitializing"
WAITING_CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
#: The condition types the agent owns; others (set by controllers or the scheduler) are kept.
OWN_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled",
                  "DisruptionTarget")


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    """A ``state`` dict for a waiting container."""
    body: dict[str, Any] = {"reason": reason}
    if message:
        body["message"] = message
    return {"waiting": body}


@attrs.define
class ContainerView:
    """What the pod worker knows of one container: its current and last state, restarts, health."""

    name: str
    image: str
    init: bool = False
    container_id: str = ""
    restart_count: int = 0
    state: dict[str, Any] = attrs.field(factory=lambda: waiting(WAITING_CONTAINER_CREATING))
    last_state: dict[str, Any] = attrs.field(factory=dict)
    ready: bool = False
    started: bool = False

    @property
    def running(self) -> bool:
        """Whether the current state is running."""
        return "running" in self.state

    @property
    def terminated(self) -> dict[str, Any] | None:
        """The terminated state, if the container is terminated."""
        return self.state.get("terminated")


@attrs.define
class PodView:
    """The pod-level facts of a worker: addresses, start time, terminal verdicts, its containers."""

    host_ip: str
    pod_ip: str = ""
    start_time: str | None = None
    sandbox_ready: bool = False
    init_containers: list[ContainerView] = attrs.field(factory=list)
    containers: list[ContainerView] = attrs.field(factory=list)
    #: Set when the agent ends the pod itself (eviction): phase, reason, message.
    terminal_phase: str | None = None
    reason: str | None = None
    message: str | None = None
    disruption: dict[str, Any] | None = None


def container_status(view: ContainerView) -> dict[str, Any]:
    """The ``containerStatuses`` entry of one container."""
    status: dict[str, Any] = {
        "name": view.name,
        "image": view.image,
        "imageID": "",
        "ready": view.ready,
        "restartCount": view.restart_count,
        "started": view.started,
        "state": copy.deepcopy(view.state),
        "lastState": copy.deepcopy(view.last_state),
    }
    if view.container_id:
        status["containerID"] = view.container_id
    return status


def _stopped(view: ContainerView) -> bool:
    return "terminated" in view.state or ("waiting" in view.state and "terminated" in view.last_state)


def pod_phase(restart_policy: str, init_containers: Iterable[ContainerView], containers: Iterable[ContainerView],
              terminating: bool = False) -> str:
    """Kubernetes' pod phase from the container states (the kubelet's ``getPhase``)."""
    pending_init = failed_init = 0
    for view in init_containers:
        if view.running:
            pending_init += 1
        elif view.terminated is not None:
            if view.terminated.get("exitCode") != 0:
                failed_init += 1
        elif "terminated" in view.last_state:
            if view.last_state["terminated"].get("exitCode") != 0:
                failed_init += 1
            else:
                pending_init += 1
        else:
            pending_init += 1
    running = waiting_count = stopped = succeeded = 0
    for view in containers:
        if view.running:
            running += 1
        elif view.terminated is not None:
            stopped += 1
            if view.terminated.get("exitCode") == 0:
                succeeded += 1
        elif "terminated" in view.last_state:
            stopped += 1
        else:
            waiting_count += 1
    if failed_init and restart_policy == "Never":
        return "Failed"
    if pending_init or (failed_init and not running and not stopped):
        return "Pending"
    if waiting_count:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if terminating:
            return "Succeeded" if stopped == succeeded else "Failed"
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _condition(kind: str, ok: bool, previous: dict[str, dict], now: str, reason: str = "",
               message: str = "") -> dict[str, Any]:
    status = "True" if ok else "False"
    old = previous.get(kind)
    condition: dict[str, Any] = {"type": kind, "status": status, "lastProbeTime": None}
    condition["lastTransitionTime"] = old.get("lastTransitionTime") if old and old.get("status") == status else now
    if not ok and reason:
        condition["reason"] = reason
    if not ok and message:
        condition["message"] = message
    return condition


def pod_conditions(pod: dict, view: PodView, phase: str, now: str | None = None) -> list[dict[str, Any]]:
    """The pod's conditions: those the agent owns recomputed, the others kept as they are."""
    now = now or rfc3339()
    existing = list((pod.get("status") or {}).get("conditions") or ())
    previous = {c.get("type"): c for c in existing}
    out: list[dict[str, Any]] = []
    out.append(_condition("PodReadyToStartContainers", view.sandbox_ready, previous, now))
    incomplete = [v.name for v in view.init_containers
                  if not (v.terminated is not None and v.terminated.get("exitCode") == 0)]
    if phase == "Succeeded" or (phase == "Failed" and not incomplete):
        incomplete = []
    out.append(_condition("Initialized", not incomplete, previous, now, "ContainersNotInitialized",
                          f"containers with incomplete status: [{' '.join(incomplete)}]"))
    if phase in ("Succeeded", "Failed"):
        unready = [v.name for v in view.containers]
        reason = "PodCompleted" if phase == "Succeeded" else "PodFailed"
    else:
        unready = [v.name for v in view.containers if not v.ready]
        reason = "ContainersNotReady"
    message = f"containers with unready status: [{' '.join(unready)}]"
    containers_ready = not unready
    out.append(_condition("ContainersReady", containers_ready, previous, now, reason, message))
    gates_ok, gate_message = True, ""
    for gate in (pod.get("spec") or {}).get("readinessGates") or ():
        kind = gate.get("conditionType")
        if (previous.get(kind) or {}).get("status") != "True":
            gates_ok = False
            gate_message = f'the status of pod readiness gate "{kind}" is not "True", but False'
            break
    if containers_ready and not gates_ok:
        out.append(_condition("Ready", False, previous, now, "ReadinessGatesNotReady", gate_message))
    else:
        out.append(_condition("Ready", containers_ready, previous, now, reason, message))
    scheduled = previous.get("PodScheduled")
    out.append(scheduled if scheduled is not None else _condition("PodScheduled", True, previous, now))
    if view.disruption is not None:
        out.append(view.disruption)
    elif "DisruptionTarget" in previous:
        out.append(previous["DisruptionTarget"])
    out.extend(c for c in existing if c.get("type") not in OWN_CONDITIONS)
    return out


def build_pod_status(pod: dict, view: PodView, terminating: bool = False) -> dict[str, Any]:
    """The whole ``status`` to write for ``pod``: the agent's fields over what others set.

    ``pod`` is not changed; the status is a new dict, though conditions kept from the pod are
    its own dicts (so neither may be changed afterwards)."""
    spec = pod.get("spec") or {}
    status = dict(pod.get("status") or {})
    phase = view.terminal_phase or pod_phase(spec.get("restartPolicy") or "Always", view.init_containers,
                                             view.containers, terminating)
    status["phase"] = phase
    status["conditions"] = pod_conditions(pod, view, phase)
    status["hostIP"] = view.host_ip
    status["hostIPs"] = [{"ip": view.host_ip}]
    if view.pod_ip:
        status["podIP"] = view.pod_ip
        status["podIPs"] = [{"ip": view.pod_ip}]
    if view.start_time:
        status["startTime"] = view.start_time
    if view.init_containers:
        status["initContainerStatuses"] = [container_status(v) for v in view.init_containers]
    status["containerStatuses"] = [container_status(v) for v in view.containers]
    if view.reason:
        status["reason"] = view.reason
    if view.message:
        status["message"] = view.message
    return status


def status_changed(written: dict | None, fresh: dict) -> bool:
    """Whether ``fresh`` differs from the status last written (``None``: nothing written yet)."""
    return written != fresh
