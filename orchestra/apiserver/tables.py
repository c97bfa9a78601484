"""Server-side Tables (``meta.k8s.io/v1`` ``Table``): what ``kubectl get`` prints.

kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the cells it
gets back. The columns and cell values here follow Kubernetes' printers
(``pkg/printers/internalversion/printers.go``) for each served kind: pods' READY, STATUS
(``Running``, ``Init:0/1``, ``CrashLoopBackOff``, ``Terminating``, …) and RESTARTS
(``3 (5m ago)``), deployments' ``READY 2/3``, nodes' ``Ready,SchedulingDisabled``, and so on.
Columns with priority 1 are the extra ones ``-o wide`` shows. Ages are formatted on the
server as Kubernetes' ``HumanDuration`` (``5s``, ``3m2s``, ``2d3h``); kinds without a
printer get Kubernetes' default Name / Created At columns.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

import attrs

from orchestra.api.registry import ResourceType
from orchestra.api.selectors import LabelSelector, SelectorError
from orchestra.apiserver.errors import BadRequest

__all__ = [
    "Column",
    "Printer",
    "INCLUDE_OBJECT_POLICIES",
    "human_duration",
    "printer_for",
    "to_table",
]

INCLUDE_OBJECT_POLICIES = ("None", "Metadata", "Object")
"""Values of the ``includeObject`` query parameter."""


@attrs.frozen
class Column:
    """One ``columnDefinitions`` entry; ``priority`` 1 columns show only with ``-o wide``."""

    name: str
    type: str = "string"
    format: str = ""
    description: str = ""
    priority: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The wire form (every key present, as Kubernetes sends it)."""
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


Cells = Callable[[dict, datetime], list]


@attrs.frozen
class Printer:
    """The columns of one kind, the function computing a row's cells, and optional row conditions.

    ``column_dicts`` is the wire form of the columns, built once.
    """

    columns: tuple[Column, ...]
    cells: Cells
    conditions: Callable[[dict], list[dict]] | None = None
    column_dicts: tuple[dict[str, Any], ...] = attrs.field(
        init=False, eq=False, repr=False,
        default=attrs.Factory(lambda self: tuple(c.to_dict() for c in self.columns), takes_self=True),
    )


# --------------------------------------------------------------------------- formatting


def human_duration(seconds: float) -> str:
    """Kubernetes' ``duration.HumanDuration``: ``45s``, ``3m2s``, ``15m``, ``5h3m``, ``2d3h``, ``3y12d``."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _since(value: Any, now: datetime) -> str:
    """``translateTimestampSince``: the age of a timestamp, ``<unknown>`` when absent."""
    moment = _parse_time(value)
    if moment is None:
        return "<unknown>"
    return human_duration((now - moment).total_seconds())


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _list(obj: Any, *path: str) -> list:
    value = _get(obj, *path)
    return value if isinstance(value, list) else []


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _age(obj: dict, now: datetime) -> str:
    return _since(_get(obj, "metadata", "creationTimestamp"), now)


def _name(obj: dict) -> str:
    return _get(obj, "metadata", "name") or ""


def _format_selector(selector: Any) -> str:
    """``metav1.FormatLabelSelector``: ``app=web,tier in (a,b)``, ``<none>`` when empty."""
    if selector is None:
        return "<none>"
    try:
        text = str(LabelSelector.from_dict(selector))
    except SelectorError:
        return "<error>"
    return text or "<none>"


def _containers_cells(spec: Any) -> list[str]:
    containers = [c for c in _list(spec, "containers") if isinstance(c, dict)]
    return [",".join(c.get("name") or "" for c in containers), ",".join(c.get("image") or "" for c in containers)]


def _template_spec(obj: dict) -> Any:
    return _get(obj, "spec", "template", "spec")


_NAME = Column("Name", format="name", description="Name of the object.")
_AGE = Column("Age", description="Time since the object was created.")
_CONTAINERS = Column("Containers", priority=1, description="Names of each container in the template.")
_IMAGES = Column("Images", priority=1, description="Images referenced by each container in the template.")
_SELECTOR = Column("Selector", priority=1, description="Label selector of the pods.")


# --------------------------------------------------------------------------- pods


def _condition_true(conditions: list, kind: str) -> bool:
    return any(isinstance(c, dict) and c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _restartable_init(container: Any) -> bool:
    return isinstance(container, dict) and container.get("restartPolicy") == "Always"


def _later(current: datetime | None, value: Any) -> datetime | None:
    moment = _parse_time(value)
    if moment is not None and (current is None or moment > current):
        return moment
    return current


def _pod_cells(pod: dict, now: datetime) -> list:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    conditions = _list(status, "conditions")
    init_specs = {c.get("name"): c for c in _list(spec, "initContainers") if isinstance(c, dict)}
    total = len(_list(spec, "containers")) + sum(1 for c in init_specs.values() if _restartable_init(c))
    ready = 0
    restarts = 0
    sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for condition in conditions:
        if not isinstance(condition, dict):
            continue
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    initializing = False
    init_statuses = _list(status, "initContainerStatuses")
    for i, container in enumerate(init_statuses):
        if not isinstance(container, dict):
            continue
        count = _int(container.get("restartCount"))
        restarts += count
        finished = _get(container, "lastState", "terminated", "finishedAt")
        last_restart = _later(last_restart, finished)
        sidecar = _restartable_init(init_specs.get(container.get("name")))
        if sidecar:
            sidecar_restarts += count
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        terminated = _get(container, "state", "terminated")
        waiting = _get(container, "state", "waiting")
        if isinstance(terminated, dict) and _int(terminated.get("exitCode")) == 0:
            continue
        if sidecar and container.get("started") is True:
            if container.get("ready"):
                ready += 1
            continue
        if isinstance(terminated, dict):
            if terminated.get("reason"):
                reason = "Init:" + terminated["reason"]
            elif _int(terminated.get("signal")):
                reason = f"Init:Signal:{terminated['signal']}"
            else:
                reason = f"Init:ExitCode:{_int(terminated.get('exitCode'))}"
        elif isinstance(waiting, dict) and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs) or len(init_statuses)}"
        initializing = True
        break

    if not initializing or _condition_true(conditions, "Initialized"):
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for container in reversed(_list(status, "containerStatuses")):
            if not isinstance(container, dict):
                continue
            restarts += _int(container.get("restartCount"))
            last_restart = _later(last_restart, _get(container, "lastState", "terminated", "finishedAt"))
            waiting = _get(container, "state", "waiting")
            terminated = _get(container, "state", "terminated")
            if isinstance(waiting, dict) and waiting.get("reason"):
                reason = waiting["reason"]
            elif isinstance(terminated, dict) and terminated.get("reason"):
                reason = terminated["reason"]
            elif isinstance(terminated, dict):
                if _int(terminated.get("signal")):
                    reason = f"Signal:{terminated['signal']}"
                else:
                    reason = f"ExitCode:{_int(terminated.get('exitCode'))}"
            elif container.get("ready") and isinstance(_get(container, "state", "running"), dict):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(conditions, "Ready") else "NotReady"

    deleting = bool(_get(pod, "metadata", "deletionTimestamp"))
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_cell = str(restarts)
    if restarts and last_restart is not None:
        restarts_cell = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"

    pod_ips = _list(status, "podIPs")
    pod_ip = (pod_ips[0].get("ip") if pod_ips and isinstance(pod_ips[0], dict) else None) or "<none>"
    gates = _list(spec, "readinessGates")
    readiness = "<none>"
    if gates:
        true_count = 0
        for gate in gates:
            wanted = gate.get("conditionType") if isinstance(gate, dict) else None
            for condition in conditions:
                if isinstance(condition, dict) and condition.get("type") == wanted:
                    true_count += condition.get("status") == "True"
                    break
        readiness = f"{true_count}/{len(gates)}"
    return [
        _name(pod),
        f"{ready}/{total}",
        reason,
        restarts_cell,
        _age(pod, now),
        pod_ip,
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        readiness,
    ]


def _pod_conditions(pod: dict) -> list[dict]:
    phase = _get(pod, "status", "phase")
    if phase == "Succeeded":
        return [
            {"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod completed successfully."}
        ]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return []


_POD = Printer(
    columns=(
        _NAME,
        Column("Ready", description="Ready containers out of all containers."),
        Column("Status", description="The aggregate status of the pod's containers."),
        Column("Restarts", description="Container restarts, and how long ago the last one was."),
        _AGE,
        Column("IP", priority=1, description="The pod's IP address."),
        Column("Node", priority=1, description="The node the pod is bound to."),
        Column("Nominated Node", priority=1, description="The node the scheduler nominated for preemption."),
        Column("Readiness Gates", priority=1, description="Readiness gates that are True out of all gates."),
    ),
    cells=_pod_cells,
    conditions=_pod_conditions,
)


# --------------------------------------------------------------------------- workloads


def _deployment_cells(obj: dict, now: datetime) -> list:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    selector = spec.get("selector")
    try:
        selector_text = str(LabelSelector.from_dict(selector)) if selector is not None else ""
    except SelectorError:
        selector_text = "<invalid>"
    return [
        _name(obj),
        f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas'))}",
        _int(status.get("updatedReplicas")),
        _int(status.get("availableReplicas")),
        _age(obj, now),
        *_containers_cells(_template_spec(obj)),
        selector_text,
    ]


_DEPLOYMENT = Printer(
    columns=(
        _NAME,
        Column("Ready", description="Ready pods out of desired pods."),
        Column("Up-to-date", "integer", description="Pods running the current template."),
        Column("Available", "integer", description="Pods available to serve."),
        _AGE,
        _CONTAINERS,
        _IMAGES,
        _SELECTOR,
    ),
    cells=_deployment_cells,
)


def _replicaset_cells(obj: dict, now: datetime) -> list:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    return [
        _name(obj),
        _int(spec.get("replicas")),
        _int(status.get("replicas")),
        _int(status.get("readyReplicas")),
        _age(obj, now),
        *_containers_cells(_template_spec(obj)),
        _format_selector(spec.get("selector")),
    ]


_REPLICASET = Printer(
    columns=(
        _NAME,
        Column("Desired", "integer", description="Desired number of pods."),
        Column("Current", "integer", description="Number of pods that exist."),
        Column("Ready", "integer", description="Number of ready pods."),
        _AGE,
        _CONTAINERS,
        _IMAGES,
        _SELECTOR,
    ),
    cells=_replicaset_cells,
)


def _job_cells(obj: dict, now: datetime) -> list:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    succeeded = _int(status.get("succeeded"))
    completions = spec.get("completions")
    if isinstance(completions, int):
        completions_cell = f"{succeeded}/{completions}"
    else:
        parallelism = _int(spec.get("parallelism"))
        completions_cell = f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"
    start = _parse_time(status.get("startTime"))
    end = _parse_time(status.get("completionTime"))
    if start is None:
        duration = ""
    else:
        duration = human_duration(((end or now) - start).total_seconds())
    conditions = _list(status, "conditions")
    if _condition_true(conditions, "Complete"):
        state = "Complete"
    elif _condition_true(conditions, "Failed"):
        state = "Failed"
    elif _get(obj, "metadata", "deletionTimestamp"):
        state = "Terminating"
    elif _condition_true(conditions, "Suspended"):
        state = "Suspended"
    elif _condition_true(conditions, "FailureTarget"):
        state = "FailureTarget"
    else:
        state = "Running"
    return [
        _name(obj),
        state,
        completions_cell,
        duration,
        _age(obj, now),
        *_containers_cells(_template_spec(obj)),
        _format_selector(spec.get("selector")),
    ]


_JOB = Printer(
    columns=(
        _NAME,
        Column("Status", description="Status of the job."),
        Column("Completions", description="Succeeded pods out of the completions wanted."),
        Column("Duration", description="Time the job took, or has run so far."),
        _AGE,
        _CONTAINERS,
        _IMAGES,
        _SELECTOR,
    ),
    cells=_job_cells,
)


def _cronjob_cells(obj: dict, now: datetime) -> list:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    last = status.get("lastScheduleTime")
    job_spec = _get(spec, "jobTemplate", "spec") or {}
    return [
        _name(obj),
        spec.get("schedule") or "",
        spec.get("timeZone") or "<none>",
        "<unset>" if spec.get("suspend") is None else ("true" if spec.get("suspend") else "false"),
        len(_list(status, "active")),
        _since(last, now) if last else "<none>",
        _age(obj, now),
        *_containers_cells(_get(job_spec, "template", "spec")),
        _format_selector(job_spec.get("selector")),
    ]


_CRONJOB = Printer(
    columns=(
        _NAME,
        Column("Schedule", description="The cron schedule."),
        Column("Timezone", description="The time zone of the schedule."),
        Column("Suspend", "boolean", description="Whether new runs are suspended."),
        Column("Active", "integer", description="Number of running jobs."),
        Column("Last Schedule", description="Time since a job was last scheduled."),
        _AGE,
        _CONTAINERS,
        _IMAGES,
        _SELECTOR,
    ),
    cells=_cronjob_cells,
)


def _hpa_metrics(obj: dict) -> str:
    specs = _list(obj, "spec", "metrics")
    statuses = _list(obj, "status", "currentMetrics")
    if not specs:
        return "<none>"
    entries: list[str] = []
    for i, metric in enumerate(specs):
        current_status = statuses[i] if i < len(statuses) and isinstance(statuses[i], dict) else {}
        kind = metric.get("type") if isinstance(metric, dict) else None
        source_key = {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods",
                      "Object": "object", "External": "external"}.get(kind or "")
        if source_key is None:
            entries.append("<unknown type>")
            continue
        source = metric.get(source_key) or {}
        target = source.get("target") or {}
        current = _get(current_status, source_key, "current") or {}
        if source_key in ("resource", "containerResource"):
            name = source.get("name") or ""
            if target.get("averageValue") is not None:
                now_value = current.get("averageValue", "<unknown>")
                entries.append(f"{name}: {now_value}/{target['averageValue']}")
            else:
                utilization = current.get("averageUtilization")
                now_value = f"{utilization}%" if utilization is not None else "<unknown>"
                goal = target.get("averageUtilization")
                entries.append(f"{name}: {now_value}/{f'{goal}%' if goal is not None else '<auto>'}")
        elif source_key == "pods":
            entries.append(f"{current.get('averageValue', '<unknown>')}/{target.get('averageValue')}")
        elif target.get("averageValue") is not None:
            entries.append(f"{current.get('averageValue', '<unknown>')}/{target['averageValue']} (avg)")
        else:
            entries.append(f"{current.get('value', '<unknown>')}/{target.get('value')}")
    if len(entries) > 2:
        return ", ".join(entries[:2]) + f" + {len(entries) - 2} more..."
    return ", ".join(entries)


def _hpa_cells(obj: dict, now: datetime) -> list:
    spec = obj.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    min_replicas = spec.get("minReplicas")
    return [
        _name(obj),
        f"{ref.get('kind') or ''}/{ref.get('name') or ''}",
        _hpa_metrics(obj),
        "<unset>" if min_replicas is None else str(min_replicas),
        _int(spec.get("maxReplicas")),
        _int(_get(obj, "status", "currentReplicas")),
        _age(obj, now),
    ]


_HPA = Printer(
    columns=(
        _NAME,
        Column("Reference", description="The scaled object."),
        Column("Targets", description="Current and target value of each metric."),
        Column("MinPods", description="Lower bound of replicas."),
        Column("MaxPods", "integer", description="Upper bound of replicas."),
        Column("Replicas", "integer", description="Current number of replicas."),
        _AGE,
    ),
    cells=_hpa_cells,
)


# --------------------------------------------------------------------------- core kinds


def _node_cells(obj: dict, now: datetime) -> list:
    status = obj.get("status") or {}
    states: list[str] = []
    for condition in _list(status, "conditions"):
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            states.append("Ready" if condition.get("status") == "True" else "NotReady")
            break
    if not states:
        states.append("Unknown")
    if _get(obj, "spec", "unschedulable"):
        states.append("SchedulingDisabled")
    roles = set()
    for key, value in (_get(obj, "metadata", "labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/") and len(key) > len("node-role.kubernetes.io/"):
            roles.add(key[len("node-role.kubernetes.io/"):])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    info = status.get("nodeInfo") or {}

    def address(kind: str) -> str:
        for entry in _list(status, "addresses"):
            if isinstance(entry, dict) and entry.get("type") == kind:
                return entry.get("address") or ""
        return "<none>"

    return [
        _name(obj),
        ",".join(states),
        ",".join(sorted(roles)) or "<none>",
        _age(obj, now),
        info.get("kubeletVersion") or "",
        address("InternalIP"),
        address("ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


_NODE = Printer(
    columns=(
        _NAME,
        Column("Status", description="The status of the node."),
        Column("Roles", description="The roles of the node."),
        _AGE,
        Column("Version", description="The node agent's version."),
        Column("Internal-IP", priority=1, description="The node's first InternalIP address."),
        Column("External-IP", priority=1, description="The node's first ExternalIP address."),
        Column("OS-Image", priority=1, description="The node's operating system image."),
        Column("Kernel-Version", priority=1, description="The node's kernel version."),
        Column("Container-Runtime", priority=1, description="The node's container runtime and version."),
    ),
    cells=_node_cells,
)


def _external_ip(spec: dict, status: dict) -> str:
    external = [ip for ip in spec.get("externalIPs") or [] if isinstance(ip, str)]
    kind = spec.get("type")
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        balancer: list[str] = []
        for ingress in _list(status, "loadBalancer", "ingress"):
            if isinstance(ingress, dict):
                value = ingress.get("ip") or ingress.get("hostname")
                if value and value not in balancer:
                    balancer.append(value)
        return ",".join(balancer + external) or "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName") or ""
    return "<unknown>"


def _service_cells(obj: dict, now: datetime) -> list:
    spec = obj.get("spec") or {}
    cluster_ips = spec.get("clusterIPs") or []
    ports = []
    for port in _list(spec, "ports"):
        if not isinstance(port, dict):
            continue
        protocol = port.get("protocol") or ""
        if _int(port.get("nodePort")) > 0:
            ports.append(f"{_int(port.get('port'))}:{port['nodePort']}/{protocol}")
        else:
            ports.append(f"{_int(port.get('port'))}/{protocol}")
    selector = spec.get("selector") or {}
    return [
        _name(obj),
        spec.get("type") or "",
        cluster_ips[0] if cluster_ips else "<none>",
        _external_ip(spec, obj.get("status") or {}),
        ",".join(ports) or "<none>",
        _age(obj, now),
        ",".join(f"{k}={selector[k]}" for k in sorted(selector)) or "<none>",
    ]


_SERVICE = Printer(
    columns=(
        _NAME,
        Column("Type", description="The service type."),
        Column("Cluster-IP", description="The service's cluster IP."),
        Column("External-IP", description="Addresses the service is reachable at from outside."),
        Column("Port(s)", description="The ports the service exposes."),
        _AGE,
        Column("Selector", priority=1, description="The pods the service routes to."),
    ),
    cells=_service_cells,
)


def _format_endpoints(obj: dict) -> str:
    subsets = _list(obj, "subsets")
    if not subsets:
        return "<none>"
    shown: list[str] = []
    limit = 3
    count = 0
    more = False
    for subset in subsets:
        if not isinstance(subset, dict):
            continue
        addresses = [a for a in subset.get("addresses") or [] if isinstance(a, dict)]
        ports = [p for p in subset.get("ports") or [] if isinstance(p, dict)]
        if not ports:
            count += len(addresses)
            for address in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(address.get("ip") or "")
            continue
        for port in ports:
            count += len(addresses)
            for address in addresses:
                if len(shown) == limit:
                    more = True
                    break
                ip = address.get("ip") or ""
                host = f"[{ip}]" if ":" in ip else ip
                shown.append(f"{host}:{_int(port.get('port'))}")
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if more else text


_ENDPOINTS = Printer(
    columns=(_NAME, Column("Endpoints", description="Backend addresses and ports."), _AGE),
    cells=lambda obj, now: [_name(obj), _format_endpoints(obj), _age(obj, now)],
)

_NAMESPACE = Printer(
    columns=(_NAME, Column("Status", description="The phase of the namespace."), _AGE),
    cells=lambda obj, now: [_name(obj), _get(obj, "status", "phase") or "", _age(obj, now)],
)

_CONFIGMAP = Printer(
    columns=(_NAME, Column("Data", "integer", description="Number of data and binaryData keys."), _AGE),
    cells=lambda obj, now: [
        _name(obj),
        len(obj.get("data") or {}) + len(obj.get("binaryData") or {}),
        _age(obj, now),
    ],
)

_LEASE = Printer(
    columns=(_NAME, Column("Holder", description="Who holds the lease."), _AGE),
    cells=lambda obj, now: [_name(obj), _get(obj, "spec", "holderIdentity") or "", _age(obj, now)],
)


def _event_cells(obj: dict, now: datetime) -> list:
    first = obj.get("firstTimestamp")
    first_cell = _since(first, now) if first else _since(obj.get("eventTime"), now)
    last = obj.get("lastTimestamp")
    last_cell = _since(last, now) if last else first_cell
    count = _int(obj.get("count"))
    series = obj.get("series")
    if isinstance(series, dict):
        last_cell = _since(series.get("lastObservedTime"), now)
        count = _int(series.get("count"))
    elif count == 0:
        count = 1
    involved = obj.get("involvedObject") or {}
    kind = (involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = obj.get("source") or {}
    component = source.get("component") or obj.get("reportingComponent") or ""
    instance = source.get("host") or obj.get("reportingInstance") or ""
    return [
        last_cell,
        obj.get("type") or "",
        obj.get("reason") or "",
        target,
        involved.get("fieldPath") or "",
        f"{component}, {instance}" if instance else component,
        (obj.get("message") or "").strip(),
        first_cell,
        count,
        _name(obj),
    ]


_EVENT = Printer(
    columns=(
        Column("Last Seen", description="Time since the event last happened."),
        Column("Type", description="Normal or Warning."),
        Column("Reason", description="Why the event happened, in one word."),
        Column("Object", description="The object the event is about."),
        Column("Subobject", priority=1, description="The part of the object the event is about."),
        Column("Source", priority=1, description="The component that reported the event."),
        Column("Message", description="What happened."),
        Column("First Seen", priority=1, description="Time since the event first happened."),
        Column("Count", priority=1, description="How many times the event happened."),
        Column("Name", priority=1, format="name", description="Name of the event object."),
    ),
    cells=_event_cells,
)

_DEFAULT = Printer(
    columns=(_NAME, Column("Created At", "date", description="When the object was created.")),
    cells=lambda obj, now: [_name(obj), _get(obj, "metadata", "creationTimestamp") or ""],
)

_PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "Pod"): _POD,
    ("", "Node"): _NODE,
    ("", "Service"): _SERVICE,
    ("", "Endpoints"): _ENDPOINTS,
    ("", "Namespace"): _NAMESPACE,
    ("", "Event"): _EVENT,
    ("", "ConfigMap"): _CONFIGMAP,
    ("coordination.k8s.io", "Lease"): _LEASE,
    ("apps", "Deployment"): _DEPLOYMENT,
    ("apps", "ReplicaSet"): _REPLICASET,
    ("batch", "Job"): _JOB,
    ("batch", "CronJob"): _CRONJOB,
    ("autoscaling", "HorizontalPodAutoscaler"): _HPA,
}


def printer_for(rtype: ResourceType) -> Printer:
    """The printer of a resource type; Kubernetes' default Name / Created At for others."""
    return _PRINTERS.get((rtype.group, rtype.kind), _DEFAULT)


def _partial_metadata(obj: dict) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata") or {}}


def to_table(
    rtype: ResourceType,
    objects: list[dict],
    *,
    include_object: str = "Metadata",
    list_metadata: dict | None = None,
    now: datetime | None = None,
) -> dict:
    """A ``meta.k8s.io/v1`` Table of ``objects`` (wire dicts of ``rtype``).

    ``include_object`` is ``None`` (rows without objects), ``Metadata`` (each row carries a
    ``PartialObjectMetadata``) or ``Object`` (the whole object); ``list_metadata`` becomes
    the table's metadata (resourceVersion, continue); ``now`` is the reference for ages.
    """
    if include_object not in INCLUDE_OBJECT_POLICIES:
        raise BadRequest(
            f"includeObject must be one of {', '.join(INCLUDE_OBJECT_POLICIES)}, got {include_object!r}"
        )
    printer = printer_for(rtype)
    moment = now or datetime.now(timezone.utc)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": printer.cells(obj, moment)}
        if printer.conditions is not None:
            conditions = printer.conditions(obj)
            if conditions:
                row["conditions"] = conditions
        if include_object == "Metadata":
            row["object"] = _partial_metadata(obj)
        elif include_object == "Object":
            row["object"] = obj
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(list_metadata) if list_metadata else {},
        "columnDefinitions": list(printer.column_dicts),
        "rows": rows,
    }
