"""Decoding Kubernetes' protobuf request bodies (``application/vnd.kubernetes.protobuf``).

kubectl (1.32 and later) sends the objects of its typed commands (``create namespace``,
``create configmap``, ``create deployment``, ``create job``, ``create cronjob``,
``create service …``) as protobuf, and client-go never falls back to JSON on a 415 for
protobuf. This module decodes those bodies into the JSON wire dicts the rest of the server works
on: the ``k8s\\x00`` envelope (a ``runtime.Unknown`` with the TypeMeta and the raw message),
then the message by the field numbers of k8s.io/api's ``generated.proto``.

Only the messages in :data:`SCHEMAS` are known: Namespace, ConfigMap, Service, Deployment, Job,
CronJob and the messages they contain, each with the fields kubectl's generators can fill.
Anything else (another kind, or a field number not in the table) is refused with a 415 naming
the message and field, so nothing is ever dropped silently; JSON and YAML bodies carry every kind.

Zero values: Go's protobuf encoder writes every non-pointer field, set or not, so an empty
string, 0 or false of a non-pointer field means "unset" and is left out, as JSON's
``omitempty`` would; pointer fields (``keep_zero``) are written only when set, so their zero
values are kept (``replicas: 0``).
"""

from __future__ import annotations

import base64
import datetime

import attrs

from orchestra.apiserver.errors import BadRequest, UnsupportedMediaType

__all__ = ["MAGIC", "PROTOBUF", "Field", "SCHEMAS", "KINDS", "decode_protobuf"]

MAGIC = b"k8s\x00"
PROTOBUF = "application/vnd.kubernetes.protobuf"


@attrs.frozen
class Field:
    """One message field: its JSON name, its type, whether repeated, whether a zero value is kept.

    ``kind`` is ``string``, ``int``, ``bool``, ``time`` (meta/v1 Time → RFC 3339),
    ``intorstr`` (util/intstr IntOrString), ``quantity`` (resource.Quantity), ``map:string``,
    ``map:bytes`` (values base64, as JSON carries ``[]byte``), ``map:quantity``, or the name of
    another message in :data:`SCHEMAS`.
    """

    name: str
    kind: str
    repeated: bool = False
    keep_zero: bool = False


def _f(name: str, kind: str = "string", *, repeated: bool = False, ptr: bool = False) -> Field:
    return Field(name, kind, repeated, ptr)


#: message → field number → field, from k8s.io/api and k8s.io/apimachinery ``generated.proto``.
SCHEMAS: dict[str, dict[int, Field]] = {
    # k8s.io/apimachinery/pkg/apis/meta/v1
    "ObjectMeta": {
        1: _f("name"), 2: _f("generateName"), 3: _f("namespace"), 4: _f("selfLink"), 5: _f("uid"),
        6: _f("resourceVersion"), 7: _f("generation", "int"), 8: _f("creationTimestamp", "time"),
        9: _f("deletionTimestamp", "time"), 10: _f("deletionGracePeriodSeconds", "int", ptr=True),
        11: _f("labels", "map:string"), 12: _f("annotations", "map:string"),
        13: _f("ownerReferences", "OwnerReference", repeated=True), 14: _f("finalizers", repeated=True),
    },
    "OwnerReference": {
        1: _f("kind"), 3: _f("name"), 4: _f("uid"), 5: _f("apiVersion"),
        6: _f("controller", "bool", ptr=True), 7: _f("blockOwnerDeletion", "bool", ptr=True),
    },
    "LabelSelector": {
        1: _f("matchLabels", "map:string"), 2: _f("matchExpressions", "LabelSelectorRequirement", repeated=True),
    },
    "LabelSelectorRequirement": {1: _f("key"), 2: _f("operator"), 3: _f("values", repeated=True)},
    # core/v1
    "Namespace": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "NamespaceSpec"), 3: _f("status", "NamespaceStatus")},
    "NamespaceSpec": {1: _f("finalizers", repeated=True)},
    "NamespaceStatus": {1: _f("phase")},
    "ConfigMap": {
        1: _f("metadata", "ObjectMeta"), 2: _f("data", "map:string"), 3: _f("binaryData", "map:bytes"),
        4: _f("immutable", "bool", ptr=True),
    },
    "PodTemplateSpec": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "PodSpec")},
    "PodSpec": {
        2: _f("containers", "Container", repeated=True), 3: _f("restartPolicy"),
        4: _f("terminationGracePeriodSeconds", "int", ptr=True), 5: _f("activeDeadlineSeconds", "int", ptr=True),
        6: _f("dnsPolicy"), 7: _f("nodeSelector", "map:string"), 8: _f("serviceAccountName"),
        9: _f("serviceAccount"), 10: _f("nodeName"), 11: _f("hostNetwork", "bool"), 12: _f("hostPID", "bool"),
        13: _f("hostIPC", "bool"), 16: _f("hostname"), 17: _f("subdomain"), 19: _f("schedulerName"),
        20: _f("initContainers", "Container", repeated=True),
        21: _f("automountServiceAccountToken", "bool", ptr=True), 24: _f("priorityClassName"),
        25: _f("priority", "int", ptr=True), 27: _f("shareProcessNamespace", "bool", ptr=True),
        29: _f("runtimeClassName", ptr=True), 30: _f("enableServiceLinks", "bool", ptr=True),
        31: _f("preemptionPolicy", ptr=True), 35: _f("setHostnameAsFQDN", "bool", ptr=True),
        37: _f("hostUsers", "bool", ptr=True),
    },
    "Container": {
        1: _f("name"), 2: _f("image"), 3: _f("command", repeated=True), 4: _f("args", repeated=True),
        5: _f("workingDir"), 6: _f("ports", "ContainerPort", repeated=True), 7: _f("env", "EnvVar", repeated=True),
        8: _f("resources", "ResourceRequirements"), 13: _f("terminationMessagePath"), 14: _f("imagePullPolicy"),
        16: _f("stdin", "bool"), 17: _f("stdinOnce", "bool"), 18: _f("tty", "bool"),
        20: _f("terminationMessagePolicy"), 24: _f("restartPolicy", ptr=True),
    },
    "ContainerPort": {
        1: _f("name"), 2: _f("hostPort", "int"), 3: _f("containerPort", "int"), 4: _f("protocol"), 5: _f("hostIP"),
    },
    "EnvVar": {1: _f("name"), 2: _f("value")},
    "ResourceRequirements": {1: _f("limits", "map:quantity"), 2: _f("requests", "map:quantity")},
    "Service": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "ServiceSpec"), 3: _f("status", "ServiceStatus")},
    "ServiceSpec": {
        1: _f("ports", "ServicePort", repeated=True), 2: _f("selector", "map:string"), 3: _f("clusterIP"),
        4: _f("type"), 5: _f("externalIPs", repeated=True), 7: _f("sessionAffinity"), 8: _f("loadBalancerIP"),
        9: _f("loadBalancerSourceRanges", repeated=True), 10: _f("externalName"), 11: _f("externalTrafficPolicy"),
        12: _f("healthCheckNodePort", "int"), 13: _f("publishNotReadyAddresses", "bool"),
        17: _f("ipFamilyPolicy", ptr=True), 18: _f("clusterIPs", repeated=True), 19: _f("ipFamilies", repeated=True),
        20: _f("allocateLoadBalancerNodePorts", "bool", ptr=True), 21: _f("loadBalancerClass", ptr=True),
        22: _f("internalTrafficPolicy", ptr=True), 23: _f("trafficDistribution", ptr=True),
    },
    "ServicePort": {
        1: _f("name"), 2: _f("protocol"), 3: _f("port", "int"), 4: _f("targetPort", "intorstr"),
        5: _f("nodePort", "int"), 6: _f("appProtocol", ptr=True),
    },
    "ServiceStatus": {1: _f("loadBalancer", "LoadBalancerStatus")},
    "LoadBalancerStatus": {},
    # apps/v1
    "Deployment": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "DeploymentSpec"), 3: _f("status", "DeploymentStatus")},
    "DeploymentSpec": {
        1: _f("replicas", "int", ptr=True), 2: _f("selector", "LabelSelector"), 3: _f("template", "PodTemplateSpec"),
        4: _f("strategy", "DeploymentStrategy"), 5: _f("minReadySeconds", "int"),
        6: _f("revisionHistoryLimit", "int", ptr=True), 7: _f("paused", "bool"),
        9: _f("progressDeadlineSeconds", "int", ptr=True),
    },
    "DeploymentStrategy": {1: _f("type"), 2: _f("rollingUpdate", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: _f("maxUnavailable", "intorstr"), 2: _f("maxSurge", "intorstr")},
    "DeploymentStatus": {
        1: _f("observedGeneration", "int"), 2: _f("replicas", "int"), 3: _f("updatedReplicas", "int"),
        4: _f("availableReplicas", "int"), 5: _f("unavailableReplicas", "int"), 7: _f("readyReplicas", "int"),
        8: _f("collisionCount", "int", ptr=True), 9: _f("terminatingReplicas", "int", ptr=True),
    },
    # batch/v1
    "Job": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "JobSpec"), 3: _f("status", "JobStatus")},
    "JobSpec": {
        1: _f("parallelism", "int", ptr=True), 2: _f("completions", "int", ptr=True),
        3: _f("activeDeadlineSeconds", "int", ptr=True), 4: _f("selector", "LabelSelector"),
        5: _f("manualSelector", "bool", ptr=True), 6: _f("template", "PodTemplateSpec"),
        7: _f("backoffLimit", "int", ptr=True), 8: _f("ttlSecondsAfterFinished", "int", ptr=True),
        9: _f("completionMode", ptr=True), 10: _f("suspend", "bool", ptr=True),
        12: _f("backoffLimitPerIndex", "int", ptr=True), 13: _f("maxFailedIndexes", "int", ptr=True),
        14: _f("podReplacementPolicy", ptr=True), 15: _f("managedBy", ptr=True),
    },
    "JobStatus": {
        2: _f("startTime", "time"), 3: _f("completionTime", "time"), 4: _f("active", "int"),
        5: _f("succeeded", "int"), 6: _f("failed", "int"), 7: _f("completedIndexes"),
        9: _f("ready", "int", ptr=True), 10: _f("failedIndexes", ptr=True), 11: _f("terminating", "int", ptr=True),
    },
    "JobTemplateSpec": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "JobSpec")},
    "CronJob": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "CronJobSpec"), 3: _f("status", "CronJobStatus")},
    "CronJobSpec": {
        1: _f("schedule"), 2: _f("startingDeadlineSeconds", "int", ptr=True), 3: _f("concurrencyPolicy"),
        4: _f("suspend", "bool", ptr=True), 5: _f("jobTemplate", "JobTemplateSpec"),
        6: _f("successfulJobsHistoryLimit", "int", ptr=True), 7: _f("failedJobsHistoryLimit", "int", ptr=True),
        8: _f("timeZone", ptr=True),
    },
    "CronJobStatus": {4: _f("lastScheduleTime", "time"), 5: _f("lastSuccessfulTime", "time")},
}

#: (apiVersion, kind) → top-level message.
KINDS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "Namespace",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Service"): "Service",
    ("apps/v1", "Deployment"): "Deployment",
    ("batch/v1", "Job"): "Job",
    ("batch/v1", "CronJob"): "CronJob",
}

_MAX_DEPTH = 32


class _Malformed(Exception):
    """The bytes are not a well-formed protobuf message."""


def _varint(data: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(data) or shift > 63:
            raise _Malformed("truncated or overlong varint")
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def _fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of every field of one message."""
    out: list[tuple[int, int, int | bytes]] = []
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Malformed("field number 0")
        if wire == 0:
            value, i = _varint(data, i)
            out.append((number, wire, value))
        elif wire == 2:
            length, i = _varint(data, i)
            if i + length > len(data):
                raise _Malformed("a length-delimited field runs past the end")
            out.append((number, wire, data[i:i + length]))
            i += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if i + size > len(data):
                raise _Malformed("a fixed-size field runs past the end")
            out.append((number, wire, int.from_bytes(data[i:i + size], "little")))
            i += size
        else:
            raise _Malformed(f"unsupported wire type {wire}")
    return out


def _unsupported(message: str, number: int) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"protobuf field {number} of {message} is not supported by Orchestra; send the object as "
        "application/json or application/yaml"
    )


def _expect(wire: int, want: int, message: str, number: int) -> None:
    if wire != want:
        raise _Malformed(f"field {number} of {message} has wire type {wire}, expected {want}")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Malformed(f"{where} is not UTF-8") from None


def _time(raw: bytes) -> str | None:
    seconds = nanos = 0
    for number, wire, value in _fields(raw):
        if number == 1 and wire == 0:
            seconds = _signed(value)  # type: ignore[arg-type]
        elif number == 2 and wire == 0:
            nanos = value  # type: ignore[assignment]
    if seconds == 0 and nanos == 0:
        return None
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_string(raw: bytes) -> int | str:
    kind, int_value, str_value = 0, 0, ""
    for number, wire, value in _fields(raw):
        if number == 1 and wire == 0:
            kind = value  # type: ignore[assignment]
        elif number == 2 and wire == 0:
            int_value = _signed(value)  # type: ignore[arg-type]
        elif number == 3 and wire == 2:
            str_value = _text(value, "IntOrString.strVal")  # type: ignore[arg-type]
    return str_value if kind == 1 else int_value


def _map_entry(raw: bytes, value_kind: str) -> tuple[str, object]:
    key, value_out = "", "" if value_kind != "bytes" else b""
    for number, wire, value in _fields(raw):
        if number == 1 and wire == 2:
            key = _text(value, "a map key")  # type: ignore[arg-type]
        elif number == 2 and wire == 2:
            value_out = value
    if value_kind == "bytes":
        return key, base64.b64encode(value_out).decode()  # type: ignore[arg-type]
    if value_kind == "quantity":
        quantity = ""
        for number, wire, value in _fields(value_out):  # type: ignore[arg-type]
            if number == 1 and wire == 2:
                quantity = _text(value, "a Quantity")  # type: ignore[arg-type]
        return key, quantity
    return key, _text(value_out, "a map value")  # type: ignore[arg-type]


def _message(name: str, data: bytes, depth: int) -> dict:
    if depth > _MAX_DEPTH:
        raise _Malformed("messages nest too deeply")
    schema = SCHEMAS[name]
    out: dict = {}
    for number, wire, value in _fields(data):
        field = schema.get(number)
        if field is None:
            raise _unsupported(name, number)
        kind = field.kind
        decoded: object
        if kind == "string":
            _expect(wire, 2, name, number)
            decoded = _text(value, f"field {number} of {name}")  # type: ignore[arg-type]
            if decoded == "" and not field.keep_zero and not field.repeated:
                continue
        elif kind == "int":
            _expect(wire, 0, name, number)
            decoded = _signed(value)  # type: ignore[arg-type]
            if decoded == 0 and not field.keep_zero:
                continue
        elif kind == "bool":
            _expect(wire, 0, name, number)
            decoded = bool(value)
            if not decoded and not field.keep_zero:
                continue
        elif kind == "time":
            _expect(wire, 2, name, number)
            decoded = _time(value)  # type: ignore[arg-type]
            if decoded is None:
                continue
        elif kind == "intorstr":
            _expect(wire, 2, name, number)
            decoded = _int_or_string(value)  # type: ignore[arg-type]
        elif kind.startswith("map:"):
            _expect(wire, 2, name, number)
            key, entry = _map_entry(value, kind[4:])  # type: ignore[arg-type]
            out.setdefault(field.name, {})[key] = entry
            continue
        else:
            _expect(wire, 2, name, number)
            decoded = _message(kind, value, depth + 1)  # type: ignore[arg-type]
        if field.repeated:
            out.setdefault(field.name, []).append(decoded)
        else:
            out[field.name] = decoded
    return out


def decode_protobuf(body: bytes) -> dict:
    """The JSON wire dict of a protobuf-encoded object (``k8s\\x00`` + ``runtime.Unknown``).

    Raises :class:`BadRequest` for malformed bytes and :class:`UnsupportedMediaType` for kinds
    and fields this module does not know.
    """
    if not body.startswith(MAGIC):
        raise BadRequest("the protobuf request body does not start with the Kubernetes envelope (k8s\\x00)")
    try:
        api_version = kind = ""
        raw = b""
        encoding = ""
        for number, wire, value in _fields(body[len(MAGIC):]):
            if number == 1 and wire == 2:
                for sub, sub_wire, sub_value in _fields(value):  # type: ignore[arg-type]
                    if sub == 1 and sub_wire == 2:
                        api_version = _text(sub_value, "apiVersion")  # type: ignore[arg-type]
                    elif sub == 2 and sub_wire == 2:
                        kind = _text(sub_value, "kind")  # type: ignore[arg-type]
            elif number == 2 and wire == 2:
                raw = value  # type: ignore[assignment]
            elif number == 3 and wire == 2:
                encoding = _text(value, "contentEncoding")  # type: ignore[arg-type]
        if encoding:
            raise UnsupportedMediaType(f"protobuf bodies with content encoding {encoding!r} are not supported")
        message = KINDS.get((api_version, kind))
        if message is None:
            raise UnsupportedMediaType(
                f"protobuf bodies of {kind or 'unknown kind'} ({api_version or 'no apiVersion'}) are not supported "
                "by Orchestra; send application/json or application/yaml"
            )
        obj = _message(message, raw, 0)
    except _Malformed as exc:
        raise BadRequest(f"the protobuf request body is malformed: {exc}") from None
    return {"apiVersion": api_version, "kind": kind, **obj}
