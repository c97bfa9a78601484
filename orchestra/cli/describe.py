"""``orchestra describe KIND [NAME...]``: a readable, multi-section description of objects.

The last-applied-configuration annotation is left out of ``Annotations``, as kubectl does.

Every object gets its metadata (name, namespace, labels, annotations, owner), then what
matters for its kind — containers with image, ports, environment and probes for pods and pod
templates; replicas and strategy for deployments; ports and selector for services; addresses,
capacity and system info for nodes; spec and status fields as nested lists for the other
kinds —, a conditions table, and the object's Events (listed with the field selector
``involvedObject.name=…,involvedObject.namespace=…``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

import attrs
import click

from orchestra.api.registry import ResourceType
from orchestra.apiserver.tables import human_duration
from orchestra.cli.common import (
    Connection,
    connection_options,
    error_line,
    fail,
    format_columns,
    parse_targets,
    run,
)
from orchestra.client import ApiStatusError, Client
from orchestra.client.apply import LAST_APPLIED_ANNOTATION

__all__ = ["describe_command", "Description", "describe_object", "format_events"]

_NONE = "<none>"


@attrs.frozen
class _Entry:
    indent: int
    label: str
    value: str | None = None  # None: a heading or a free line (``raw``)
    raw: bool = False


@attrs.define
class Description:
    """Lines under construction: ``Label:  value`` fields (aligned per block), sections, tables."""

    _entries: list[_Entry] = attrs.field(factory=list)

    def field(self, label: str, value: Any, indent: int = 0) -> None:
        """``Label:  value``; an empty value prints ``<none>``; an empty label continues the field above."""
        self._entries.append(_Entry(indent, label, _text(value)))

    def section(self, title: str, indent: int = 0) -> None:
        """A heading line ``Title:`` whose content follows, indented."""
        self._entries.append(_Entry(indent, title))

    def line(self, text: str, indent: int = 0) -> None:
        """A free line (table rows, list items)."""
        self._entries.append(_Entry(indent, text, raw=True))

    def mapping(self, label: str, values: dict | None, indent: int = 0, separator: str = "=") -> None:
        """``Label:  k=v`` with one pair per line (labels, selectors; annotations use ``: ``)."""
        pairs = [f"{k}{separator}{v}" for k, v in sorted((values or {}).items())]
        self.field(label, pairs[0] if pairs else _NONE, indent)
        for pair in pairs[1:]:
            self.field("", pair, indent)

    def table(self, headers: list[str], rows: list[list[Any]], indent: int = 2) -> None:
        """An aligned table with a dashed rule under the header."""
        if not rows:
            return
        rule = ["-" * len(h) for h in headers]
        for text in format_columns(headers, [rule, *rows]):
            self.line(text, indent)

    def render(self) -> str:
        """The finished text: labels padded to the widest one in each run of same-indent fields."""
        out: list[str] = []
        entries = self._entries
        i = 0
        while i < len(entries):
            entry = entries[i]
            if entry.value is None:
                out.append(" " * entry.indent + (entry.label if entry.raw else f"{entry.label}:"))
                i += 1
                continue
            j = i
            while j < len(entries) and entries[j].value is not None and entries[j].indent == entry.indent:
                j += 1
            width = max(len(e.label) + 1 for e in entries[i:j]) + 2
            for e in entries[i:j]:
                head = f"{e.label}:" if e.label else ""
                out.append((" " * e.indent + head.ljust(width) + (e.value or "")).rstrip())
            i = j
        return "\n".join(out) + "\n"


def _text(value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return _NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


# --------------------------------------------------------------------------- shared sections


def _metadata(d: Description, obj: dict, rtype: ResourceType) -> None:
    meta = obj.get("metadata") or {}
    d.field("Name", meta.get("name"))
    if rtype.namespaced:
        d.field("Namespace", meta.get("namespace"))
    d.field("CreationTimestamp", meta.get("creationTimestamp"))
    d.mapping("Labels", meta.get("labels"))
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED_ANNOTATION}
    d.mapping("Annotations", annotations, separator=": ")
    owners = [o for o in meta.get("ownerReferences") or [] if o.get("controller")]
    if owners:
        d.field("Controlled By", f"{owners[0].get('kind')}/{owners[0].get('name')}")
    if meta.get("deletionTimestamp"):
        d.field("Terminating Since", meta["deletionTimestamp"])
    if meta.get("finalizers"):
        d.field("Finalizers", meta["finalizers"])


def _probe(probe: dict) -> str:
    if "httpGet" in probe:
        get = probe["httpGet"]
        what = f"http-get {get.get('scheme', 'HTTP').lower()}://{get.get('host', '')}:{get.get('port')}{get.get('path', '')}"
    elif "tcpSocket" in probe:
        what = f"tcp-socket {probe['tcpSocket'].get('host', '')}:{probe['tcpSocket'].get('port')}"
    elif "exec" in probe:
        what = "exec [" + " ".join(_get(probe, "exec", "command") or []) + "]"
    elif "grpc" in probe:
        what = f"grpc <pod>:{_get(probe, 'grpc', 'port')}"
    else:
        what = "unknown"
    timing = (f"delay={probe.get('initialDelaySeconds', 0)}s timeout={probe.get('timeoutSeconds', 1)}s "
              f"period={probe.get('periodSeconds', 10)}s #success={probe.get('successThreshold', 1)} "
              f"#failure={probe.get('failureThreshold', 3)}")
    return f"{what} {timing}"


def _env_value(var: dict) -> str:
    if "value" in var:
        return str(var["value"])
    source = var.get("valueFrom") or {}
    if "fieldRef" in source:
        return f"({source['fieldRef'].get('apiVersion', 'v1')}:{source['fieldRef'].get('fieldPath')})"
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"]
        return f"<set to the key '{ref.get('key')}' of config map '{ref.get('name')}'>"
    if "secretKeyRef" in source:
        ref = source["secretKeyRef"]
        return f"<set to the key '{ref.get('key')}' in secret '{ref.get('name')}'>"
    if "resourceFieldRef" in source:
        return f"{source['resourceFieldRef'].get('resource')}"
    return ""


def _state(state: dict | None) -> tuple[str, list[tuple[str, Any]]]:
    for name, detail in (state or {}).items():
        detail = detail or {}
        extra = [(k[0].upper() + k[1:], v) for k, v in detail.items() if k in ("reason", "message", "exitCode",
                                                                             "startedAt", "finishedAt")]
        return name.capitalize(), extra
    return "Waiting", []


def _containers(d: Description, title: str, containers: list[dict], statuses: list[dict] | None,
                indent: int = 0) -> None:
    if not containers:
        return
    d.section(title, indent)
    by_name = {s.get("name"): s for s in statuses or []}
    for c in containers:
        d.section(c.get("name", "?"), indent + 2)
        i = indent + 4
        status = by_name.get(c.get("name"))
        if status and status.get("containerID"):
            d.field("Container ID", status["containerID"], i)
        d.field("Image", c.get("image"), i)
        ports = [f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" for p in c.get("ports") or []]
        d.field("Ports" if len(ports) > 1 else "Port", ports, i)
        if c.get("command"):
            d.field("Command", " ".join(c["command"]), i)
        if c.get("args"):
            d.field("Args", " ".join(c["args"]), i)
        if status is not None:
            state, details = _state(status.get("state"))
            d.field("State", state, i)
            for label, value in details:
                d.field(label, value, i + 2)
            d.field("Ready", bool(status.get("ready")), i)
            d.field("Restart Count", status.get("restartCount", 0), i)
        for kind in ("limits", "requests"):
            values = _get(c, "resources", kind)
            if values:
                d.section(kind.capitalize(), i)
                for key, value in sorted(values.items()):
                    d.field(key, value, i + 2)
        for label, key in (("Liveness", "livenessProbe"), ("Readiness", "readinessProbe"), ("Startup", "startupProbe")):
            if c.get(key):
                d.field(label, _probe(c[key]), i)
        env = c.get("env") or []
        if env:
            d.section("Environment", i)
            for var in env:
                d.field(var.get("name", "?"), _env_value(var), i + 2)
        else:
            d.field("Environment", _NONE, i)
        mounts = [f"{m.get('mountPath')} from {m.get('name')} ({'ro' if m.get('readOnly') else 'rw'})"
                  for m in c.get("volumeMounts") or []]
        if mounts:
            d.section("Mounts", i)
            for mount in mounts:
                d.line(mount, i + 2)
        else:
            d.field("Mounts", _NONE, i)


def _volumes(d: Description, volumes: list[dict] | None, indent: int = 0) -> None:
    if not volumes:
        d.field("Volumes", _NONE, indent)
        return
    d.section("Volumes", indent)
    for volume in volumes:
        d.section(volume.get("name", "?"), indent + 2)
        for source, detail in volume.items():
            if source == "name":
                continue
            d.field("Type", source, indent + 4)
            for key, value in (detail or {}).items() if isinstance(detail, dict) else ():
                d.field(key[0].upper() + key[1:], value if not isinstance(value, (dict, list)) else str(value),
                        indent + 4)


def _pod_template(d: Description, template: dict | None) -> None:
    template = template or {}
    d.section("Pod Template")
    d.mapping("Labels", _get(template, "metadata", "labels"), 2)
    if _get(template, "metadata", "annotations"):
        d.mapping("Annotations", _get(template, "metadata", "annotations"), 2)
    spec = template.get("spec") or {}
    if spec.get("serviceAccountName"):
        d.field("Service Account", spec["serviceAccountName"], 2)
    _containers(d, "Init Containers", spec.get("initContainers") or [], None, 2)
    _containers(d, "Containers", spec.get("containers") or [], None, 2)
    _volumes(d, spec.get("volumes"), 2)
    if spec.get("nodeSelector"):
        d.mapping("Node-Selectors", spec["nodeSelector"], 2)


def _conditions(d: Description, conditions: list[dict] | None, extra: tuple[str, ...] = ()) -> None:
    if not conditions:
        return
    d.section("Conditions")
    headers = ["Type", "Status", *extra]
    keys = {"Reason": "reason", "Message": "message", "LastHeartbeatTime": "lastHeartbeatTime",
            "LastTransitionTime": "lastTransitionTime"}
    rows = [[c.get("type"), c.get("status"), *(c.get(keys[h], "") for h in extra)] for c in conditions]
    d.table(headers, rows)


def _selector_text(selector: dict | None) -> str:
    if not selector:
        return _NONE
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        values = ",".join(expr.get("values") or [])
        op = expr.get("operator")
        key = expr.get("key")
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                      "Exists": key, "DoesNotExist": f"!{key}"}.get(op, f"{key} {op} ({values})"))
    return ",".join(parts) or _NONE


# --------------------------------------------------------------------------- per kind


def _describe_pod(d: Description, obj: dict) -> None:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    d.field("Priority", spec.get("priority", 0))
    d.field("Service Account", spec.get("serviceAccountName"))
    d.field("Node", spec.get("nodeName") and f"{spec['nodeName']}/{status.get('hostIP', '')}".rstrip("/"))
    d.field("Start Time", status.get("startTime"))
    d.field("Status", "Terminating" if _get(obj, "metadata", "deletionTimestamp") else status.get("phase"))
    if status.get("reason"):
        d.field("Reason", status["reason"])
    if status.get("message"):
        d.field("Message", status["message"])
    d.field("IP", status.get("podIP"))
    ips = [p.get("ip") for p in status.get("podIPs") or []]
    if ips:
        d.section("IPs")
        for ip in ips:
            d.field("IP", ip, 2)
    _containers(d, "Init Containers", spec.get("initContainers") or [], status.get("initContainerStatuses"))
    _containers(d, "Containers", spec.get("containers") or [], status.get("containerStatuses"))
    _conditions(d, status.get("conditions"))
    _volumes(d, spec.get("volumes"))
    d.field("QoS Class", status.get("qosClass"))
    d.mapping("Node-Selectors", spec.get("nodeSelector"))
    tolerations = [f"{t.get('key', '')}{':' + t['effect'] if t.get('effect') else ''} op={t.get('operator', 'Equal')}"
                   + (f" for {t['tolerationSeconds']}s" if t.get("tolerationSeconds") is not None else "")
                   for t in spec.get("tolerations") or []]
    d.field("Tolerations", tolerations[0] if tolerations else _NONE)
    for toleration in tolerations[1:]:
        d.field("", toleration)


def _describe_deployment(d: Description, obj: dict) -> None:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    d.field("Selector", _selector_text(spec.get("selector")))
    total = status.get("replicas", 0)
    d.field("Replicas", f"{spec.get('replicas', 1)} desired | {status.get('updatedReplicas', 0)} updated | "
                        f"{total} total | {status.get('availableReplicas', 0)} available | "
                        f"{status.get('unavailableReplicas', 0)} unavailable")
    strategy = spec.get("strategy") or {}
    d.field("StrategyType", strategy.get("type"))
    d.field("MinReadySeconds", spec.get("minReadySeconds", 0))
    rolling = strategy.get("rollingUpdate")
    if rolling:
        d.field("RollingUpdateStrategy", f"{rolling.get('maxUnavailable')} max unavailable, "
                                         f"{rolling.get('maxSurge')} max surge")
    if spec.get("paused"):
        d.field("Paused", True)
    _pod_template(d, spec.get("template"))
    _conditions(d, status.get("conditions"), ("Reason",))


def _describe_replicaset(d: Description, obj: dict) -> None:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    d.field("Selector", _selector_text(spec.get("selector")))
    d.field("Replicas", f"{status.get('replicas', 0)} current / {spec.get('replicas', 1)} desired")
    d.field("Ready Replicas", status.get("readyReplicas", 0))
    _pod_template(d, spec.get("template"))
    _conditions(d, status.get("conditions"), ("Reason",))


def _describe_job(d: Description, obj: dict) -> None:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    d.field("Selector", _selector_text(spec.get("selector")))
    d.field("Parallelism", spec.get("parallelism", 1))
    d.field("Completions", spec.get("completions", _NONE))
    d.field("Completion Mode", spec.get("completionMode", "NonIndexed"))
    d.field("Backoff Limit", spec.get("backoffLimit", 6))
    d.field("Start Time", status.get("startTime"))
    d.field("Pods Statuses", f"{status.get('active', 0)} Active / {status.get('succeeded', 0)} Succeeded / "
                             f"{status.get('failed', 0)} Failed")
    _pod_template(d, spec.get("template"))
    _conditions(d, status.get("conditions"), ("Reason",))


def _describe_service(d: Description, obj: dict) -> None:
    spec = obj.get("spec") or {}
    d.mapping("Selector", spec.get("selector"))
    d.field("Type", spec.get("type", "ClusterIP"))
    d.field("IP Families", spec.get("ipFamilies"))
    d.field("IP", spec.get("clusterIP"))
    if spec.get("externalIPs"):
        d.field("External IPs", spec["externalIPs"])
    for port in spec.get("ports") or []:
        name = port.get("name") or "<unset>"
        d.field("Port", f"{name}  {port.get('port')}/{port.get('protocol', 'TCP')}")
        d.field("TargetPort", f"{port.get('targetPort', port.get('port'))}/{port.get('protocol', 'TCP')}")
        if port.get("nodePort"):
            d.field("NodePort", f"{name}  {port['nodePort']}/{port.get('protocol', 'TCP')}")
    d.field("Session Affinity", spec.get("sessionAffinity", "None"))


def _describe_node(d: Description, obj: dict) -> None:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    taints = [f"{t.get('key')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect')}"
              for t in spec.get("taints") or []]
    d.field("Taints", taints[0] if taints else _NONE)
    for taint in taints[1:]:
        d.field("", taint)
    d.field("Unschedulable", bool(spec.get("unschedulable")))
    _conditions(d, status.get("conditions"), ("LastHeartbeatTime", "Reason", "Message"))
    addresses = status.get("addresses") or []
    if addresses:
        d.section("Addresses")
        for address in addresses:
            d.field(address.get("type", "?"), address.get("address"), 2)
    for title, key in (("Capacity", "capacity"), ("Allocatable", "allocatable")):
        values = status.get(key) or {}
        if values:
            d.section(title)
            for name, value in sorted(values.items()):
                d.field(name, value, 2)
    info = status.get("nodeInfo") or {}
    if info:
        d.section("System Info")
        for key, value in info.items():
            d.field(key[0].upper() + key[1:], value, 2)
    d.field("PodCIDR", spec.get("podCIDR"))


def _nested(d: Description, value: Any, indent: int) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            label = key[0].upper() + key[1:] if key else key
            if isinstance(item, (dict, list)) and item:
                d.section(label, indent)
                _nested(d, item, indent + 2)
            else:
                d.field(label, item, indent)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                _nested(d, item, indent)
            else:
                d.line(_text(item), indent)


def _describe_generic(d: Description, obj: dict) -> None:
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "metadata"):
            continue
        label = key[0].upper() + key[1:]
        if isinstance(value, (dict, list)) and value:
            d.section(label)
            _nested(d, value, 2)
        else:
            d.field(label, value)


_DESCRIBERS: dict[str, Callable[[Description, dict], None]] = {
    "Pod": _describe_pod,
    "Deployment": _describe_deployment,
    "ReplicaSet": _describe_replicaset,
    "Job": _describe_job,
    "Service": _describe_service,
    "Node": _describe_node,
}


def _event_time(event: dict) -> str | None:
    return event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp") or \
        _get(event, "metadata", "creationTimestamp")


def _age(value: str | None, now: datetime) -> str:
    if not value:
        return "<unknown>"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return human_duration((now - moment).total_seconds())


def format_events(events: list[dict], now: datetime | None = None) -> list[str]:
    """The ``Events:`` block: Type, Reason, Age, From, Message, oldest first."""
    if not events:
        return ["Events:  <none>"]
    now = now or datetime.now(timezone.utc)
    events = sorted(events, key=lambda e: _event_time(e) or "")
    rows = []
    for event in events:
        age = _age(_event_time(event), now)
        count = event.get("count") or 1
        if count > 1 and event.get("firstTimestamp"):
            age = f"{age} (x{count} over {_age(event['firstTimestamp'], now)})"
        source = event.get("reportingComponent") or _get(event, "source", "component") or ""
        rows.append([event.get("type", ""), event.get("reason", ""), age, source,
                     (event.get("message") or "").strip()])
    headers = ["Type", "Reason", "Age", "From", "Message"]
    rule = ["-" * len(h) for h in headers]
    return ["Events:", *("  " + line for line in format_columns(headers, [rule, *rows]))]


def describe_object(rtype: ResourceType, obj: dict, events: list[dict] | None = None,
                    now: datetime | None = None) -> str:
    """The full description of one object (``events=None`` leaves the Events block out)."""
    d = Description()
    _metadata(d, obj, rtype)
    _DESCRIBERS.get(rtype.kind, _describe_generic)(d, obj)
    text = d.render()
    if events is not None:
        text += "\n".join(format_events(events, now)) + "\n"
    return text


async def _events_of(client: Client, obj: dict) -> list[dict]:
    meta = obj.get("metadata") or {}
    selector = f"involvedObject.name={meta.get('name')}"
    namespace = meta.get("namespace")
    if namespace:
        selector += f",involvedObject.namespace={namespace}"
    listed = await client.list("events", namespace=namespace, field_selector=selector, raw=True)
    uid = meta.get("uid")
    return [e for e in listed.items if not uid or _get(e, "involvedObject", "uid") in (None, "", uid)]


async def _describe(conn: Connection, args: tuple[str, ...], label_selector: str | None, show_events: bool) -> int:
    failures = 0
    printed = 0
    async with conn.client() as client:
        for target in parse_targets(args):
            rtype = target.rtype
            if target.names:
                objects = []
                for name in target.names:
                    try:
                        objects.append(await client.get(rtype, name, namespace=conn.namespace_for(rtype), raw=True))
                    except ApiStatusError as exc:
                        failures += 1
                        click.echo(error_line(exc), err=True)
            else:
                listed = await client.list(rtype, namespace=conn.namespace_for(rtype), label_selector=label_selector,
                                           raw=True)
                objects = listed.items
            for obj in objects:
                events = await _events_of(client, obj) if show_events else None
                if printed:
                    click.echo("\n")
                click.echo(describe_object(rtype, obj, events), nl=False)
                printed += 1
    if not printed and not failures:
        click.echo(f"No resources found in {conn.namespace} namespace.", err=True)
    return failures


@click.command("describe")
@click.argument("args", nargs=-1, required=True, metavar="KIND [NAME...] | KIND/NAME...")
@click.option("-l", "--selector", "label_selector", default=None, help="Describe the objects matching this label selector.")
@click.option("--show-events/--no-show-events", default=True, show_default=True, help="Print the object's events.")
@connection_options
def describe_command(conn: Connection, args: tuple[str, ...], label_selector: str | None, show_events: bool) -> None:
    """Show details of objects: metadata, spec highlights, conditions and events."""
    if run(lambda: _describe(conn, args, label_selector, show_events)):
        fail("")
