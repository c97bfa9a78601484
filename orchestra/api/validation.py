"""Validation of API objects: Kubernetes' rules where users meet them.

:func:`validate` returns every :class:`~orchestra.api.errors.FieldError` found, each with
its full field path (``spec.template.spec.containers[0].ports[0].containerPort``);
:func:`validate_or_raise` raises :class:`~orchestra.api.errors.ValidationError`.
Validation expects defaults to have been applied (as the API server does), but every
rule also holds on objects straight from a manifest.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import zoneinfo
from typing import Any, Callable

from orchestra.api import apps, autoscaling, batch, coordination, core
from orchestra.api.codec import encode
from orchestra.api.duration import is_go_duration
from orchestra.api.errors import FieldError, ValidationError
from orchestra.api.fieldpath import child, index, key
from orchestra.api.meta import LabelSelectorSpec, ObjectMeta
from orchestra.api.names import (
    dns1123_label_ok,
    dns1123_subdomain_ok,
    is_config_map_key,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_env_var_name,
    is_qualified_name,
    is_valid_ip,
    is_valid_label_value,
    is_valid_port_name,
    validate_annotations,
    validate_labels,
)
from orchestra.api.quantity import Quantity, QuantityError
from orchestra.api.selectors import LabelSelector, SelectorError, validate_label_selector

__all__ = [
    "validate",
    "validate_status",
    "validate_or_raise",
    "validate_object_meta",
    "name_errors",
    "validate_pod_spec",
    "validate_pod_template",
    "validate_cron_schedule",
    "plain_event_is_valid",
]

try:
    from orchestra._ext.codec import matches_shape
except ImportError:  # not built: the same check in Python

    def matches_shape(value: Any, shape: dict[str, Any]) -> bool:
        """Whether ``value`` is a dict whose every key is one of ``shape``'s and whose every value
        has exactly the type ``shape`` gives that key, or matches the nested shape it gives, or
        (a one-item list) is a list whose every item matches that item."""
        if type(value) is not dict:
            return False
        for k, v in value.items():
            want = shape.get(k)
            if want is None or not _matches(v, want):
                return False
        return True

    def _matches(value: Any, want: Any) -> bool:
        if type(want) is dict:
            return matches_shape(value, want)
        if type(want) is list:
            return type(value) is list and all(_matches(item, want[0]) for item in value)
        return type(value) is want


Errors = list[FieldError]
NameCheck = Callable[[str], list[str]]

PROTOCOLS = ["SCTP", "TCP", "UDP"]
RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
TAINT_EFFECTS = ["NoExecute", "NoSchedule", "PreferNoSchedule"]
SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
SESSION_AFFINITIES = ["ClientIP", "None"]
MAX_CONFIG_MAP_BYTES = 1024 * 1024
CRON_JOB_NAME_MAX_LENGTH = 52


# --------------------------------------------------------------------------- small rules


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _min_int(value: Any, path: str, minimum: int) -> Errors:
    """Errors when ``value`` is set and not an integer ≥ ``minimum``."""
    if value is None:
        return []
    if not _is_int(value):
        return [FieldError.type_invalid(path, value, "must be an integer")]
    if value < minimum:
        return [FieldError.invalid(path, value, f"must be greater than or equal to {minimum}")]
    return []


def _port_number(value: Any, path: str) -> Errors:
    if not _is_int(value):
        return [FieldError.type_invalid(path, value, "must be an integer")]
    if not 1 <= value <= 65535:
        return [FieldError.invalid(path, value, "must be between 1 and 65535, inclusive")]
    return []


def _int_or_port_name(value: Any, path: str) -> Errors:
    """A probe or Service target port: a number 1–65535 or an IANA_SVC_NAME."""
    if value is None:
        return [FieldError.required(path)]
    if isinstance(value, str):
        if value.isdigit():
            return [FieldError.invalid(path, value, "must contain at least one letter (a-z)")]
        return [FieldError.invalid(path, value, msg) for msg in is_valid_port_name(value)]
    return _port_number(value, path)


def name_errors(check: NameCheck, value: Any, path: str) -> Errors:
    """The errors of ``value`` as a name by ``check`` (e.g. ``is_dns1123_subdomain``), at ``path``."""
    if not isinstance(value, str):
        return [FieldError.type_invalid(path, value, "must be a string")]
    return [FieldError.invalid(path, value, msg) for msg in check(value)]


_name_errors = name_errors


def _enum(value: Any, path: str, supported: list[str], required: bool = False) -> Errors:
    if value is None or value == "":
        return [FieldError.not_supported(path, value or "", supported)] if required else []
    if value not in supported:
        return [FieldError.not_supported(path, value, supported)]
    return []


def _quantity(value: Any, path: str) -> Quantity | FieldError:
    try:
        return Quantity.parse(value)
    except (QuantityError, ValueError, TypeError):
        return FieldError.invalid(
            path, value, "must match the regex ^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
        )


def _selector_of(selector: LabelSelectorSpec | None) -> dict[str, Any] | None:
    return None if selector is None else encode(selector)


# --------------------------------------------------------------------------- metadata


def validate_object_meta(
    meta: ObjectMeta | None, namespaced: bool, check_name: NameCheck, path: str = "metadata"
) -> Errors:
    """Name (or generateName), namespace, labels, annotations, owner references, finalizers."""
    if meta is None:
        return [FieldError.required(child(path, "name"), "name or generateName is required")]
    errs: Errors = []
    # Field paths are built only for what is present: this runs on every write.
    if meta.name:
        if type(meta.name) is not str or check_name(meta.name):
            errs += _name_errors(check_name, meta.name, child(path, "name"))
    elif meta.generate_name:
        prefix = meta.generate_name[:-1] if meta.generate_name.endswith("-") else meta.generate_name
        errs += [
            FieldError.invalid(child(path, "generateName"), meta.generate_name, msg)
            for msg in check_name(prefix)
        ]
    else:
        errs.append(FieldError.required(child(path, "name"), "name or generateName is required"))
    if namespaced:
        if meta.namespace and (type(meta.namespace) is not str or is_dns1123_label(meta.namespace)):
            errs += _name_errors(is_dns1123_label, meta.namespace, child(path, "namespace"))
    elif meta.namespace:
        errs.append(FieldError.forbidden(child(path, "namespace"), "not allowed on this type"))
    if meta.labels is not None:
        errs += validate_labels(meta.labels, child(path, "labels"))
    if meta.annotations is not None:
        errs += validate_annotations(meta.annotations, child(path, "annotations"))
    if not meta.owner_references and not meta.finalizers:
        return errs
    controllers = 0
    for i, ref in enumerate(meta.owner_references or ()):
        ref_path = index(child(path, "ownerReferences"), i)
        for attr, wire in (("api_version", "apiVersion"), ("kind", "kind"), ("name", "name"), ("uid", "uid")):
            if not getattr(ref, attr):
                errs.append(FieldError.required(child(ref_path, wire)))
        controllers += bool(ref.controller)
    if controllers > 1:
        errs.append(
            FieldError.invalid(
                child(path, "ownerReferences"),
                controllers,
                "Only one reference can have Controller set to true",
            )
        )
    for i, finalizer in enumerate(meta.finalizers or ()):
        errs += _name_errors(is_qualified_name, finalizer, index(child(path, "finalizers"), i))
    return errs


# --------------------------------------------------------------------------- containers


def _validate_env(env: list[core.EnvVar] | None, path: str) -> Errors:
    errs: Errors = []
    for i, var in enumerate(env or ()):
        var_path = index(path, i)
        if not var.name:
            errs.append(FieldError.required(child(var_path, "name")))
        else:
            errs += _name_errors(is_env_var_name, var.name, child(var_path, "name"))
        source = var.value_from
        if source is None:
            continue
        from_path = child(var_path, "valueFrom")
        refs = [
            ("fieldRef", source.field_ref),
            ("resourceFieldRef", source.resource_field_ref),
            ("configMapKeyRef", source.config_map_key_ref),
            ("secretKeyRef", source.secret_key_ref),
        ]
        set_refs = [(name, ref) for name, ref in refs if ref is not None]
        if not set_refs:
            errs.append(
                FieldError.invalid(
                    from_path,
                    "",
                    "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
                )
            )
        elif len(set_refs) > 1:
            errs.append(
                FieldError.invalid(from_path, "", "may not have more than one field specified at a time")
            )
        if var.value:
            errs.append(FieldError.invalid(from_path, "", "may not be specified when `value` is not empty"))
        if source.field_ref is not None:
            if not source.field_ref.field_path:
                errs.append(FieldError.required(child(child(from_path, "fieldRef"), "fieldPath")))
        if source.resource_field_ref is not None and not source.resource_field_ref.resource:
            errs.append(FieldError.required(child(child(from_path, "resourceFieldRef"), "resource")))
        for name, ref in (
            ("configMapKeyRef", source.config_map_key_ref),
            ("secretKeyRef", source.secret_key_ref),
        ):
            if ref is None:
                continue
            ref_path = child(from_path, name)
            if not ref.name:
                errs.append(FieldError.required(child(ref_path, "name")))
            if not ref.key:
                errs.append(FieldError.required(child(ref_path, "key")))
            else:
                errs += _name_errors(is_config_map_key, ref.key, child(ref_path, "key"))
    return errs


def _validate_resource_name(name: str, path: str) -> Errors:
    if (
        "/" not in name
        and name not in ("cpu", "memory", "ephemeral-storage", "storage", "pods")
        and not name.startswith("hugepages-")
    ):
        return [FieldError.invalid(path, name, "must be a standard resource type or fully qualified")]
    return [FieldError.invalid(path, name, msg) for msg in is_qualified_name(name)]


def _validate_resources(resources: core.ResourceRequirements | None, path: str) -> Errors:
    if resources is None:
        return []
    errs: Errors = []
    parsed: dict[str, dict[str, Quantity]] = {"limits": {}, "requests": {}}
    for group in ("limits", "requests"):
        values = getattr(resources, group) or {}
        group_path = child(path, group)
        for name, value in values.items():
            value_path = key(group_path, name)
            errs += _validate_resource_name(name, value_path)
            quantity = _quantity(value, value_path)
            if isinstance(quantity, FieldError):
                errs.append(quantity)
                continue
            if quantity.sign() < 0:
                errs.append(FieldError.invalid(value_path, value, "must be greater than or equal to 0"))
                continue
            parsed[group][name] = quantity
    for name, request in parsed["requests"].items():
        limit = parsed["limits"].get(name)
        if limit is not None and request > limit:
            errs.append(
                FieldError.invalid(
                    key(child(path, "requests"), name),
                    str(resources.requests[name]),
                    f"must be less than or equal to {name} limit of {resources.limits[name]}",
                )
            )
    return errs


def _validate_probe(probe: core.Probe | None, path: str, liveness_like: bool) -> Errors:
    if probe is None:
        return []
    errs: Errors = []
    handlers = [
        ("exec", probe.exec),
        ("httpGet", probe.http_get),
        ("tcpSocket", probe.tcp_socket),
        ("grpc", probe.grpc),
    ]
    present = [(name, h) for name, h in handlers if h is not None]
    if not present:
        errs.append(FieldError.required(path, "must specify a handler type"))
    for name, _ in present[1:]:
        errs.append(FieldError.forbidden(child(path, name), "may not specify more than 1 handler type"))
    if probe.exec is not None and not probe.exec.command:
        errs.append(FieldError.required(child(child(path, "exec"), "command")))
    if probe.http_get is not None:
        http_path = child(path, "httpGet")
        errs += _int_or_port_name(probe.http_get.port, child(http_path, "port"))
        errs += _enum(probe.http_get.scheme, child(http_path, "scheme"), ["HTTP", "HTTPS"])
        for i, header in enumerate(probe.http_get.http_headers or ()):
            if not header.name:
                errs.append(FieldError.required(child(index(child(http_path, "httpHeaders"), i), "name")))
    if probe.tcp_socket is not None:
        errs += _int_or_port_name(probe.tcp_socket.port, child(child(path, "tcpSocket"), "port"))
    if probe.grpc is not None:
        errs += _port_number(probe.grpc.port, child(child(path, "grpc"), "port"))
    for attr, wire in (
        ("initial_delay_seconds", "initialDelaySeconds"),
        ("timeout_seconds", "timeoutSeconds"),
        ("period_seconds", "periodSeconds"),
        ("success_threshold", "successThreshold"),
        ("failure_threshold", "failureThreshold"),
    ):
        errs += _min_int(getattr(probe, attr), child(path, wire), 0)
    if liveness_like and _is_int(probe.success_threshold) and probe.success_threshold > 1:
        errs.append(FieldError.invalid(child(path, "successThreshold"), probe.success_threshold, "must be 1"))
    errs += _min_int(probe.termination_grace_period_seconds, child(path, "terminationGracePeriodSeconds"), 1)
    return errs


def _validate_container(container: core.Container, path: str, volumes: set[str], init: bool) -> Errors:
    errs: Errors = []
    if not container.name:
        errs.append(FieldError.required(child(path, "name")))
    else:
        errs += _name_errors(is_dns1123_label, container.name, child(path, "name"))
    if not container.image or not str(container.image).strip():
        errs.append(FieldError.required(child(path, "image")))
    port_names: set[str] = set()
    for i, port in enumerate(container.ports or ()):
        port_path = index(child(path, "ports"), i)
        if port.name:
            name_path = child(port_path, "name")
            errs += _name_errors(is_valid_port_name, port.name, name_path)
            if port.name in port_names:
                errs.append(FieldError.duplicate(name_path, port.name))
            port_names.add(port.name)
        if port.container_port is None:
            errs.append(FieldError.required(child(port_path, "containerPort")))
        else:
            errs += _port_number(port.container_port, child(port_path, "containerPort"))
        if port.host_port:
            errs += _port_number(port.host_port, child(port_path, "hostPort"))
        errs += _enum(port.protocol, child(port_path, "protocol"), PROTOCOLS)
        if port.host_ip:
            errs += _name_errors(is_valid_ip, port.host_ip, child(port_path, "hostIP"))
    errs += _validate_env(container.env, child(path, "env"))
    errs += _validate_resources(container.resources, child(path, "resources"))
    if init and container.restart_policy not in (None, "Always"):
        errs.append(
            FieldError.not_supported(child(path, "restartPolicy"), container.restart_policy, ["Always"])
        )
    elif not init and container.restart_policy is not None:
        errs.append(
            FieldError.forbidden(child(path, "restartPolicy"), "may not be set for non-init containers")
        )
    sidecar = init and container.restart_policy == "Always"
    if init and not sidecar:
        for wire, probe in (
            ("livenessProbe", container.liveness_probe),
            ("readinessProbe", container.readiness_probe),
            ("startupProbe", container.startup_probe),
        ):
            if probe is not None:
                errs.append(
                    FieldError.forbidden(
                        child(path, wire), "may not be set for init containers without restartPolicy=Always"
                    )
                )
    else:
        errs += _validate_probe(container.liveness_probe, child(path, "livenessProbe"), True)
        errs += _validate_probe(container.readiness_probe, child(path, "readinessProbe"), False)
        errs += _validate_probe(container.startup_probe, child(path, "startupProbe"), True)
    mount_paths: set[str] = set()
    for i, mount in enumerate(container.volume_mounts or ()):
        mount_path = index(child(path, "volumeMounts"), i)
        if not mount.name:
            errs.append(FieldError.required(child(mount_path, "name")))
        elif mount.name not in volumes:
            errs.append(FieldError.not_found(child(mount_path, "name"), mount.name))
        if not mount.mount_path:
            errs.append(FieldError.required(child(mount_path, "mountPath")))
        elif mount.mount_path in mount_paths:
            errs.append(
                FieldError.invalid(child(mount_path, "mountPath"), mount.mount_path, "must be unique")
            )
        else:
            mount_paths.add(mount.mount_path)
    errs += _enum(container.image_pull_policy, child(path, "imagePullPolicy"), PULL_POLICIES)
    errs += _enum(
        container.termination_message_policy,
        child(path, "terminationMessagePolicy"),
        ["FallbackToLogsOnError", "File"],
    )
    return errs


# --------------------------------------------------------------------------- volumes

_VOLUME_SOURCES = (
    ("emptyDir", "empty_dir"),
    ("configMap", "config_map"),
    ("secret", "secret"),
    ("hostPath", "host_path"),
    ("persistentVolumeClaim", "persistent_volume_claim"),
)


def _validate_key_to_paths(items: list[core.KeyToPath] | None, path: str) -> Errors:
    errs: Errors = []
    for i, item in enumerate(items or ()):
        item_path = index(path, i)
        if not item.key:
            errs.append(FieldError.required(child(item_path, "key")))
        if not item.path:
            errs.append(FieldError.required(child(item_path, "path")))
        elif item.path.startswith("/") or ".." in item.path.split("/"):
            errs.append(
                FieldError.invalid(
                    child(item_path, "path"), item.path, "must be a relative path without '..'"
                )
            )
        if item.mode is not None and not (_is_int(item.mode) and 0 <= item.mode <= 0o777):
            errs.append(
                FieldError.invalid(
                    child(item_path, "mode"),
                    item.mode,
                    "must be a number between 0 and 0777 (octal), both inclusive",
                )
            )
    return errs


def _validate_volumes(volumes: list[core.Volume] | None, path: str) -> tuple[Errors, set[str]]:
    errs: Errors = []
    names: set[str] = set()
    for i, volume in enumerate(volumes or ()):
        volume_path = index(path, i)
        if not volume.name:
            errs.append(FieldError.required(child(volume_path, "name")))
        else:
            errs += _name_errors(is_dns1123_label, volume.name, child(volume_path, "name"))
            if volume.name in names:
                errs.append(FieldError.duplicate(child(volume_path, "name"), volume.name))
            names.add(volume.name)
        sources = [wire for wire, attr in _VOLUME_SOURCES if getattr(volume, attr) is not None]
        sources += list(volume.extra)  # sources this model does not know are still sources
        if not sources:
            errs.append(FieldError.required(volume_path, "must specify a volume type"))
        for wire in sources[1:]:
            errs.append(
                FieldError.forbidden(child(volume_path, wire), "may not specify more than 1 volume type")
            )
        if volume.empty_dir is not None and volume.empty_dir.size_limit is not None:
            quantity = _quantity(
                volume.empty_dir.size_limit, child(child(volume_path, "emptyDir"), "sizeLimit")
            )
            if isinstance(quantity, FieldError):
                errs.append(quantity)
        if volume.empty_dir is not None:
            errs += _enum(
                volume.empty_dir.medium,
                child(child(volume_path, "emptyDir"), "medium"),
                ["", "HugePages", "Memory"],
            )
        if volume.config_map is not None:
            cm_path = child(volume_path, "configMap")
            if not volume.config_map.name:
                errs.append(FieldError.required(child(cm_path, "name")))
            errs += _validate_key_to_paths(volume.config_map.items, child(cm_path, "items"))
        if volume.secret is not None:
            secret_path = child(volume_path, "secret")
            if not volume.secret.secret_name:
                errs.append(FieldError.required(child(secret_path, "secretName")))
            errs += _validate_key_to_paths(volume.secret.items, child(secret_path, "items"))
        if volume.host_path is not None and not volume.host_path.path:
            errs.append(FieldError.required(child(child(volume_path, "hostPath"), "path")))
        if volume.persistent_volume_claim is not None and not volume.persistent_volume_claim.claim_name:
            errs.append(FieldError.required(child(child(volume_path, "persistentVolumeClaim"), "claimName")))
    return errs, names


# --------------------------------------------------------------------------- scheduling


def _validate_tolerations(tolerations: list[core.Toleration] | None, path: str) -> Errors:
    errs: Errors = []
    for i, toleration in enumerate(tolerations or ()):
        t_path = index(path, i)
        if toleration.key:
            errs += _name_errors(is_qualified_name, toleration.key, child(t_path, "key"))
        elif toleration.operator != "Exists":
            errs.append(
                FieldError.invalid(
                    child(t_path, "operator"),
                    toleration.operator or "",
                    'operator must be Exists when `key` is empty, which means "match all values and all keys"',
                )
            )
        if toleration.toleration_seconds is not None and toleration.effect != "NoExecute":
            errs.append(
                FieldError.invalid(
                    child(t_path, "effect"),
                    toleration.effect or "",
                    "effect must be 'NoExecute' when `tolerationSeconds` is set",
                )
            )
        if toleration.operator in (None, "", "Equal"):
            if toleration.value:
                errs += _name_errors(is_valid_label_value, toleration.value, child(t_path, "value"))
        elif toleration.operator == "Exists":
            if toleration.value:
                errs.append(
                    FieldError.invalid(
                        child(t_path, "operator"),
                        toleration.value,
                        "value must be empty when `operator` is 'Exists'",
                    )
                )
        else:
            errs.append(
                FieldError.not_supported(child(t_path, "operator"), toleration.operator, ["Equal", "Exists"])
            )
        errs += _enum(toleration.effect, child(t_path, "effect"), TAINT_EFFECTS)
    return errs


def _validate_node_selector_requirement(
    req: core.NodeSelectorRequirement, path: str, field_keys: bool
) -> Errors:
    errs: Errors = []
    values = req.values or []
    values_path = child(path, "values")
    if req.operator in ("In", "NotIn"):
        if not values:
            errs.append(
                FieldError.required(values_path, "must be specified when `operator` is 'In' or 'NotIn'")
            )
    elif req.operator in ("Exists", "DoesNotExist"):
        if values:
            errs.append(
                FieldError.forbidden(
                    values_path, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                )
            )
    elif req.operator in ("Gt", "Lt"):
        if len(values) != 1 or not re.fullmatch(r"-?[0-9]+", values[0]):
            errs.append(
                FieldError.required(
                    values_path, "must be specified single value when `operator` is 'Lt' or 'Gt'"
                )
            )
    else:
        errs.append(
            FieldError.invalid(child(path, "operator"), req.operator or "", "not a valid selector operator")
        )
    if field_keys:
        if req.key != "metadata.name":
            errs.append(
                FieldError.invalid(child(path, "key"), req.key or "", "not a valid field selector key")
            )
    elif not req.key:
        errs.append(FieldError.required(child(path, "key")))
    else:
        errs += _name_errors(is_qualified_name, req.key, child(path, "key"))
    return errs


def _validate_node_selector_term(term: core.NodeSelectorTerm | None, path: str) -> Errors:
    if term is None:
        return []
    errs: Errors = []
    for i, req in enumerate(term.match_expressions or ()):
        errs += _validate_node_selector_requirement(req, index(child(path, "matchExpressions"), i), False)
    for i, req in enumerate(term.match_fields or ()):
        errs += _validate_node_selector_requirement(req, index(child(path, "matchFields"), i), True)
    return errs


def _weight(value: Any, path: str) -> Errors:
    if not _is_int(value) or not 1 <= value <= 100:
        return [FieldError.invalid(path, value, "must be in the range 1-100")]
    return []


def _validate_pod_affinity_term(term: core.PodAffinityTerm | None, path: str) -> Errors:
    if term is None:
        return [FieldError.required(path)]
    errs = validate_label_selector(_selector_of(term.label_selector), child(path, "labelSelector"))
    errs += validate_label_selector(_selector_of(term.namespace_selector), child(path, "namespaceSelector"))
    for i, namespace in enumerate(term.namespaces or ()):
        errs += _name_errors(is_dns1123_label, namespace, index(child(path, "namespaces"), i))
    if not term.topology_key:
        errs.append(FieldError.required(child(path, "topologyKey"), "can not be empty"))
    else:
        errs += _name_errors(is_qualified_name, term.topology_key, child(path, "topologyKey"))
    return errs


def _validate_pod_affinity_rules(rules: core.PodAffinity | core.PodAntiAffinity | None, path: str) -> Errors:
    if rules is None:
        return []
    errs: Errors = []
    required = child(path, "requiredDuringSchedulingIgnoredDuringExecution")
    for i, term in enumerate(rules.required_during_scheduling_ignored_during_execution or ()):
        errs += _validate_pod_affinity_term(term, index(required, i))
    preferred = child(path, "preferredDuringSchedulingIgnoredDuringExecution")
    for i, weighted in enumerate(rules.preferred_during_scheduling_ignored_during_execution or ()):
        w_path = index(preferred, i)
        errs += _weight(weighted.weight, child(w_path, "weight"))
        errs += _validate_pod_affinity_term(weighted.pod_affinity_term, child(w_path, "podAffinityTerm"))
    return errs


def _validate_affinity(affinity: core.Affinity | None, path: str) -> Errors:
    if affinity is None:
        return []
    errs: Errors = []
    node = affinity.node_affinity
    if node is not None:
        node_path = child(path, "nodeAffinity")
        required = node.required_during_scheduling_ignored_during_execution
        if required is not None:
            req_path = child(node_path, "requiredDuringSchedulingIgnoredDuringExecution")
            terms = required.node_selector_terms or []
            if not terms:
                errs.append(
                    FieldError.required(
                        child(req_path, "nodeSelectorTerms"), "must have at least one node selector term"
                    )
                )
            for i, term in enumerate(terms):
                errs += _validate_node_selector_term(term, index(child(req_path, "nodeSelectorTerms"), i))
        preferred = child(node_path, "preferredDuringSchedulingIgnoredDuringExecution")
        for i, pref in enumerate(node.preferred_during_scheduling_ignored_during_execution or ()):
            p_path = index(preferred, i)
            errs += _weight(pref.weight, child(p_path, "weight"))
            if pref.preference is None:
                errs.append(FieldError.required(child(p_path, "preference")))
            errs += _validate_node_selector_term(pref.preference, child(p_path, "preference"))
    errs += _validate_pod_affinity_rules(affinity.pod_affinity, child(path, "podAffinity"))
    errs += _validate_pod_affinity_rules(affinity.pod_anti_affinity, child(path, "podAntiAffinity"))
    return errs


def _validate_topology_spread(constraints: list[core.TopologySpreadConstraint] | None, path: str) -> Errors:
    errs: Errors = []
    seen: set[tuple[str, str]] = set()
    for i, c in enumerate(constraints or ()):
        c_path = index(path, i)
        if not _is_int(c.max_skew) or c.max_skew <= 0:
            errs.append(FieldError.invalid(child(c_path, "maxSkew"), c.max_skew, "must be greater than zero"))
        if not c.topology_key:
            errs.append(FieldError.required(child(c_path, "topologyKey"), "can not be empty"))
        else:
            errs += _name_errors(is_qualified_name, c.topology_key, child(c_path, "topologyKey"))
        errs += _enum(
            c.when_unsatisfiable,
            child(c_path, "whenUnsatisfiable"),
            ["DoNotSchedule", "ScheduleAnyway"],
            required=True,
        )
        if c.min_domains is not None:
            if not _is_int(c.min_domains) or c.min_domains <= 0:
                errs.append(
                    FieldError.invalid(child(c_path, "minDomains"), c.min_domains, "must be greater than 0")
                )
            elif c.when_unsatisfiable != "DoNotSchedule":
                errs.append(
                    FieldError.invalid(
                        child(c_path, "minDomains"),
                        c.min_domains,
                        "can only use minDomains if whenUnsatisfiable=DoNotSchedule",
                    )
                )
        pair = (c.topology_key or "", c.when_unsatisfiable or "")
        if pair in seen:
            errs.append(FieldError.duplicate(c_path, f"{{{pair[0]}, {pair[1]}}}"))
        seen.add(pair)
        errs += validate_label_selector(_selector_of(c.label_selector), child(c_path, "labelSelector"))
    return errs


# --------------------------------------------------------------------------- pods


def validate_pod_spec(spec: core.PodSpec | None, path: str) -> Errors:
    """Rules of a PodSpec, in a Pod or in a pod template."""
    if spec is None:
        return [FieldError.required(path)]
    errs, volume_names = _validate_volumes(spec.volumes, child(path, "volumes"))
    if not spec.containers:
        errs.append(FieldError.required(child(path, "containers")))
    names: set[str] = set()
    for group, containers, init in (
        ("initContainers", spec.init_containers, True),
        ("containers", spec.containers, False),
    ):
        for i, container in enumerate(containers or ()):
            c_path = index(child(path, group), i)
            errs += _validate_container(container, c_path, volume_names, init)
            if container.name:
                if container.name in names:
                    errs.append(FieldError.duplicate(child(c_path, "name"), container.name))
                names.add(container.name)
    errs += _enum(spec.restart_policy, child(path, "restartPolicy"), RESTART_POLICIES)
    errs += _enum(spec.dns_policy, child(path, "dnsPolicy"), DNS_POLICIES)
    errs += _min_int(spec.termination_grace_period_seconds, child(path, "terminationGracePeriodSeconds"), 0)
    errs += _min_int(spec.active_deadline_seconds, child(path, "activeDeadlineSeconds"), 1)
    errs += validate_labels(spec.node_selector, child(path, "nodeSelector"))
    if spec.hostname:
        errs += _name_errors(is_dns1123_label, spec.hostname, child(path, "hostname"))
    if spec.subdomain:
        errs += _name_errors(is_dns1123_label, spec.subdomain, child(path, "subdomain"))
    if spec.node_name:
        errs += _name_errors(is_dns1123_subdomain, spec.node_name, child(path, "nodeName"))
    if spec.service_account_name:
        errs += _name_errors(
            is_dns1123_subdomain, spec.service_account_name, child(path, "serviceAccountName")
        )
    errs += _validate_tolerations(spec.tolerations, child(path, "tolerations"))
    errs += _validate_affinity(spec.affinity, child(path, "affinity"))
    errs += _validate_topology_spread(
        spec.topology_spread_constraints, child(path, "topologySpreadConstraints")
    )
    for i, secret in enumerate(spec.image_pull_secrets or ()):
        if not secret.name:
            errs.append(FieldError.required(child(index(child(path, "imagePullSecrets"), i), "name")))
    errs += _enum(spec.preemption_policy, child(path, "preemptionPolicy"), ["Never", "PreemptLowerPriority"])
    return errs


def _validate_pod(pod: core.Pod) -> Errors:
    errs = validate_object_meta(pod.metadata, True, is_dns1123_subdomain)
    return errs + validate_pod_spec(pod.spec, "spec")


def validate_pod_template(template: core.PodTemplateSpec | None, path: str) -> Errors:
    """Rules of a pod template: its labels and annotations, and its PodSpec."""
    if template is None:
        return [FieldError.required(path)]
    errs: Errors = []
    meta = template.metadata
    if meta is not None:
        errs += validate_labels(meta.labels, child(child(path, "metadata"), "labels"))
        errs += validate_annotations(meta.annotations, child(child(path, "metadata"), "annotations"))
    return errs + validate_pod_spec(template.spec, child(path, "spec"))


def _template_labels(template: core.PodTemplateSpec | None) -> dict[str, str]:
    if template is None or template.metadata is None:
        return {}
    return template.metadata.labels or {}


def _validate_selector_matches(
    selector: LabelSelectorSpec | None,
    template: core.PodTemplateSpec | None,
    path: str,
    required: bool,
    what: str,
) -> Errors:
    """Selector required (if ``required``), non-empty, well-formed, and matching the template labels."""
    selector_path = child(path, "selector")
    if selector is None:
        return [FieldError.required(selector_path)] if required else []
    wire = encode(selector)
    if not selector.match_labels and not selector.match_expressions:
        return [FieldError.invalid(selector_path, wire, f"empty selector is invalid for {what}")]
    errs = validate_label_selector(wire, selector_path)
    if errs:
        return errs
    try:
        parsed = LabelSelector.from_dict(wire)
    except SelectorError as exc:
        return [FieldError.invalid(selector_path, wire, str(exc))]
    labels = _template_labels(template)
    if template is not None and not parsed.matches(labels):
        errs.append(
            FieldError.invalid(
                child(child(child(path, "template"), "metadata"), "labels"),
                labels,
                "`selector` does not match template `labels`",
            )
        )
    return errs


def _template_restart_policy(
    template: core.PodTemplateSpec | None, path: str, supported: list[str]
) -> Errors:
    if template is None or template.spec is None:
        return []
    policy = template.spec.restart_policy or "Always"  # the default, as after apply_defaults
    if policy not in supported:
        return [
            FieldError.not_supported(
                child(child(child(path, "template"), "spec"), "restartPolicy"), policy, supported
            )
        ]
    return []


def _no_active_deadline(template: core.PodTemplateSpec | None, path: str, what: str) -> Errors:
    if (
        template is not None
        and template.spec is not None
        and template.spec.active_deadline_seconds is not None
    ):
        return [
            FieldError.forbidden(
                child(child(child(path, "template"), "spec"), "activeDeadlineSeconds"),
                f"activeDeadlineSeconds in {what} is not Supported",
            )
        ]
    return []


# --------------------------------------------------------------------------- apps

_PERCENT = re.compile(r"[0-9]+%")


def _int_or_percent(value: Any, path: str, at_most_100: bool) -> Errors:
    if value is None:
        return []
    if isinstance(value, str):
        if not _PERCENT.fullmatch(value):
            return [
                FieldError.invalid(
                    path,
                    value,
                    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                )
            ]
        if at_most_100 and int(value[:-1]) > 100:
            return [FieldError.invalid(path, value, "must not be greater than 100%")]
        return []
    if not _is_int(value):
        return [FieldError.type_invalid(path, value, "must be an integer or a percentage")]
    if value < 0:
        return [FieldError.invalid(path, value, "must be greater than or equal to 0")]
    return []


def _is_zero(value: Any) -> bool:
    return value == 0 or value == "0%"


def _validate_deployment(deployment: apps.Deployment) -> Errors:
    errs = validate_object_meta(deployment.metadata, True, is_dns1123_subdomain)
    spec = deployment.spec
    if spec is None:
        return errs + [FieldError.required("spec")]
    errs += _min_int(spec.replicas, "spec.replicas", 0)
    errs += _validate_selector_matches(spec.selector, spec.template, "spec", True, "deployment")
    errs += validate_pod_template(spec.template, "spec.template")
    errs += _template_restart_policy(spec.template, "spec", ["Always"])
    errs += _no_active_deadline(spec.template, "spec", "Deployment")
    strategy = spec.strategy
    if strategy is not None:
        errs += _enum(strategy.type, "spec.strategy.type", ["Recreate", "RollingUpdate"])
        rolling = strategy.rolling_update
        if strategy.type == "Recreate" and rolling is not None:
            errs.append(
                FieldError.forbidden(
                    "spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"
                )
            )
        elif rolling is not None:
            errs += _int_or_percent(
                rolling.max_unavailable, "spec.strategy.rollingUpdate.maxUnavailable", True
            )
            errs += _int_or_percent(rolling.max_surge, "spec.strategy.rollingUpdate.maxSurge", False)
            if _is_zero(rolling.max_unavailable) and _is_zero(rolling.max_surge):
                errs.append(
                    FieldError.invalid(
                        "spec.strategy.rollingUpdate.maxUnavailable",
                        rolling.max_unavailable,
                        "may not be 0 when `maxSurge` is 0",
                    )
                )
    errs += _min_int(spec.revision_history_limit, "spec.revisionHistoryLimit", 0)
    errs += _min_int(spec.min_ready_seconds, "spec.minReadySeconds", 0)
    errs += _min_int(spec.progress_deadline_seconds, "spec.progressDeadlineSeconds", 0)
    if (
        _is_int(spec.progress_deadline_seconds)
        and _is_int(spec.min_ready_seconds)
        and spec.progress_deadline_seconds <= spec.min_ready_seconds
    ):
        errs.append(
            FieldError.invalid(
                "spec.progressDeadlineSeconds",
                spec.progress_deadline_seconds,
                "must be greater than minReadySeconds",
            )
        )
    return errs + _deployment_status(deployment)


def _deployment_status(deployment: apps.Deployment) -> Errors:
    return _status_counts(deployment.status, _DEPLOYMENT_STATUS_COUNTS)


#: The counters of a Deployment's and a ReplicaSet's status, which Kubernetes requires to be ≥ 0.
_DEPLOYMENT_STATUS_COUNTS = (
    ("observed_generation", "observedGeneration"), ("replicas", "replicas"), ("updated_replicas", "updatedReplicas"),
    ("ready_replicas", "readyReplicas"), ("available_replicas", "availableReplicas"),
    ("unavailable_replicas", "unavailableReplicas"), ("terminating_replicas", "terminatingReplicas"),
    ("collision_count", "collisionCount"),
)
_REPLICA_SET_STATUS_COUNTS = (
    ("replicas", "replicas"), ("fully_labeled_replicas", "fullyLabeledReplicas"), ("ready_replicas", "readyReplicas"),
    ("available_replicas", "availableReplicas"), ("terminating_replicas", "terminatingReplicas"),
    ("observed_generation", "observedGeneration"),
)


def _status_counts(status: Any, counts: tuple[tuple[str, str], ...]) -> Errors:
    """Every counter of ``status`` (when set) must be ≥ 0."""
    if status is None:
        return []
    errs: Errors = []
    for attr, wire in counts:
        errs += _min_int(getattr(status, attr), f"status.{wire}", 0)
    return errs


def _validate_replica_set(replica_set: apps.ReplicaSet) -> Errors:
    errs = validate_object_meta(replica_set.metadata, True, is_dns1123_subdomain)
    spec = replica_set.spec
    if spec is None:
        return errs + [FieldError.required("spec")]
    errs += _min_int(spec.replicas, "spec.replicas", 0)
    errs += _min_int(spec.min_ready_seconds, "spec.minReadySeconds", 0)
    # Kubernetes words the empty-selector error for ReplicaSets the same way.
    errs += _validate_selector_matches(spec.selector, spec.template, "spec", True, "deployment")
    errs += validate_pod_template(spec.template, "spec.template")
    errs += _template_restart_policy(spec.template, "spec", ["Always"])
    errs += _no_active_deadline(spec.template, "spec", "ReplicaSet")
    return errs + _replica_set_status(replica_set)


def _replica_set_status(replica_set: apps.ReplicaSet) -> Errors:
    return _status_counts(replica_set.status, _REPLICA_SET_STATUS_COUNTS)


# --------------------------------------------------------------------------- batch


def _validate_job_spec(spec: batch.JobSpec | None, path: str) -> Errors:
    if spec is None:
        return [FieldError.required(path)]
    errs: Errors = []
    for attr, wire in (
        ("parallelism", "parallelism"),
        ("completions", "completions"),
        ("active_deadline_seconds", "activeDeadlineSeconds"),
        ("backoff_limit", "backoffLimit"),
        ("ttl_seconds_after_finished", "ttlSecondsAfterFinished"),
    ):
        errs += _min_int(getattr(spec, attr), child(path, wire), 0)
    errs += _enum(spec.completion_mode, child(path, "completionMode"), ["Indexed", "NonIndexed"])
    if spec.completion_mode == "Indexed" and spec.completions is None:
        errs.append(FieldError.required(child(path, "completions"), "when completion mode is Indexed"))
    if spec.selector is not None:
        errs += _validate_selector_matches(spec.selector, spec.template, path, False, "job")
    errs += validate_pod_template(spec.template, child(path, "template"))
    errs += _template_restart_policy(spec.template, path, ["OnFailure", "Never"])
    return errs


def _validate_job(job: batch.Job) -> Errors:
    errs = validate_object_meta(job.metadata, True, is_dns1123_subdomain)
    return errs + _validate_job_spec(job.spec, "spec")


_CRON_FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    (
        "month",
        1,
        12,
        {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())},
    ),
    ("day of week", 0, 6, {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}),
)
_CRON_DESCRIPTORS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)


def _cron_number(text: str, names: dict[str, int], what: str) -> int:
    lowered = text.lower()
    if lowered in names:
        return names[lowered]
    if not text.isdigit():
        raise ValueError(f"failed to parse {what} {text!r}: not a number")
    return int(text)


def _check_cron_field(text: str, what: str, low: int, high: int, names: dict[str, int]) -> None:
    for part in text.split(","):
        if not part:
            raise ValueError(f"empty {what} item in {text!r}")
        range_text, slash, step_text = part.partition("/")
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"invalid step {step_text!r} in {what} {part!r}")
        if range_text in ("*", "?"):
            if range_text == "?" and what not in ("day of month", "day of week"):
                raise ValueError(f"'?' is not allowed in the {what} field")
            continue
        start_text, dash, end_text = range_text.partition("-")
        start = _cron_number(start_text, names, what)
        end = _cron_number(end_text, names, what) if dash else start
        if start < low or end > high:
            raise ValueError(f"{what} value out of range ({low}-{high}): {part!r}")
        if start > end:
            raise ValueError(f"beginning of {what} range ({start}) beyond end of range ({end}): {part!r}")


def validate_cron_schedule(schedule: str) -> str | None:
    """Why ``schedule`` is not a valid standard cron expression, or None when it is.

    Accepts five fields (minute hour day-of-month month day-of-week) with ``*``, ``?``,
    lists, ranges, steps and month/weekday names, the ``@hourly``-style descriptors, and
    ``@every <duration>``, like the parser Kubernetes uses.
    """
    text = schedule.strip()
    if not text:
        return "empty spec string"
    if text.startswith("@"):
        if text in _CRON_DESCRIPTORS:
            return None
        if text.startswith("@every "):
            duration = text[len("@every ") :].strip()
            if is_go_duration(duration):
                return None
            return f"failed to parse duration {text}"
        return f"unrecognized descriptor: {text}"
    fields = text.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: {text}"
    try:
        for field_text, (what, low, high, names) in zip(fields, _CRON_FIELDS):
            _check_cron_field(field_text, what, low, high, names)
    except ValueError as exc:
        return str(exc)
    return None


def _validate_cron_job(cron_job: batch.CronJob) -> Errors:
    errs = validate_object_meta(cron_job.metadata, True, is_dns1123_subdomain)
    meta = cron_job.metadata
    if meta is not None and meta.name and len(meta.name) > CRON_JOB_NAME_MAX_LENGTH:
        errs.append(
            FieldError.invalid(
                "metadata.name", meta.name, f"must be no more than {CRON_JOB_NAME_MAX_LENGTH} characters"
            )
        )
    spec = cron_job.spec
    if spec is None:
        return errs + [FieldError.required("spec")]
    if not spec.schedule:
        errs.append(FieldError.required("spec.schedule"))
    elif "TZ=" in spec.schedule:
        errs.append(
            FieldError.invalid(
                "spec.schedule",
                spec.schedule,
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            )
        )
    else:
        problem = validate_cron_schedule(spec.schedule)
        if problem:
            errs.append(FieldError.invalid("spec.schedule", spec.schedule, problem))
    if spec.time_zone is not None:
        try:
            zoneinfo.ZoneInfo(spec.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errs.append(FieldError.invalid("spec.timeZone", spec.time_zone, "unknown time zone"))
    errs += _enum(spec.concurrency_policy, "spec.concurrencyPolicy", ["Allow", "Forbid", "Replace"])
    errs += _min_int(spec.starting_deadline_seconds, "spec.startingDeadlineSeconds", 0)
    errs += _min_int(spec.successful_jobs_history_limit, "spec.successfulJobsHistoryLimit", 0)
    errs += _min_int(spec.failed_jobs_history_limit, "spec.failedJobsHistoryLimit", 0)
    if spec.job_template is None:
        errs.append(FieldError.required("spec.jobTemplate"))
    else:
        template_meta = spec.job_template.metadata
        if template_meta is not None:
            errs += validate_labels(template_meta.labels, "spec.jobTemplate.metadata.labels")
            errs += validate_annotations(template_meta.annotations, "spec.jobTemplate.metadata.annotations")
        errs += _validate_job_spec(spec.job_template.spec, "spec.jobTemplate.spec")
    return errs


# --------------------------------------------------------------------------- core kinds


def _validate_namespace(namespace: core.Namespace) -> Errors:
    errs = validate_object_meta(namespace.metadata, False, is_dns1123_label)
    if namespace.spec is not None:
        for i, finalizer in enumerate(namespace.spec.finalizers or ()):
            errs += _name_errors(is_qualified_name, finalizer, index("spec.finalizers", i))
    return errs


def _validate_cidr(value: str, path: str) -> Errors:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return [FieldError.invalid(path, value, "must be a valid CIDR (e.g. 10.244.0.0/24)")]
    return []


def _validate_node(node: core.Node) -> Errors:
    errs = validate_object_meta(node.metadata, False, is_dns1123_subdomain)
    spec = node.spec
    if spec is not None:
        if spec.pod_cidr:
            errs += _validate_cidr(spec.pod_cidr, "spec.podCIDR")
        for i, cidr in enumerate(spec.pod_cidrs or ()):
            errs += _validate_cidr(cidr, index("spec.podCIDRs", i))
        seen: set[tuple[str, str]] = set()
        for i, taint in enumerate(spec.taints or ()):
            t_path = index("spec.taints", i)
            if not taint.key:
                errs.append(FieldError.required(child(t_path, "key")))
            else:
                errs += _name_errors(is_qualified_name, taint.key, child(t_path, "key"))
            if taint.value:
                errs += _name_errors(is_valid_label_value, taint.value, child(t_path, "value"))
            errs += _enum(taint.effect, child(t_path, "effect"), TAINT_EFFECTS, required=True)
            pair = (taint.key or "", taint.effect or "")
            if pair in seen:
                errs.append(FieldError.duplicate(t_path, f"{pair[0]}:{pair[1]}"))
            seen.add(pair)
    return errs + _node_status(node)


def _node_status(node: core.Node) -> Errors:
    errs: Errors = []
    status = node.status
    if status is not None:
        for group in ("capacity", "allocatable"):
            for name, value in (getattr(status, group) or {}).items():
                quantity = _quantity(value, key(f"status.{group}", name))
                if isinstance(quantity, FieldError):
                    errs.append(quantity)
    return errs


def _no_status_rules(obj: Any) -> Errors:
    return []


def _validate_service(service: core.Service) -> Errors:
    errs = validate_object_meta(service.metadata, True, is_dns1035_label)
    spec = service.spec
    if spec is None:
        return errs + [FieldError.required("spec")]
    errs += _enum(spec.type, "spec.type", SERVICE_TYPES)
    headless = spec.cluster_ip == "None"
    ports = spec.ports or []
    if spec.type == "ExternalName":
        if not spec.external_name:
            errs.append(FieldError.required("spec.externalName"))
        else:
            errs += _name_errors(is_dns1123_subdomain, spec.external_name.rstrip("."), "spec.externalName")
    elif not ports and not headless:
        errs.append(FieldError.required("spec.ports"))
    names: set[str] = set()
    node_port_allowed = spec.type in ("NodePort", "LoadBalancer")
    for i, port in enumerate(ports):
        p_path = index("spec.ports", i)
        if port.name:
            errs += _name_errors(is_dns1123_label, port.name, child(p_path, "name"))
            if port.name in names:
                errs.append(FieldError.duplicate(child(p_path, "name"), port.name))
            names.add(port.name)
        elif len(ports) > 1:
            errs.append(FieldError.required(child(p_path, "name")))
        errs += _port_number(port.port, child(p_path, "port"))
        errs += _enum(port.protocol, child(p_path, "protocol"), PROTOCOLS)
        if port.target_port is not None:
            errs += _int_or_port_name(port.target_port, child(p_path, "targetPort"))
        if port.node_port:
            np_path = child(p_path, "nodePort")
            if not node_port_allowed:
                errs.append(
                    FieldError.forbidden(
                        np_path, f"may not be used when `type` is '{spec.type or 'ClusterIP'}'"
                    )
                )
            else:
                # As in Kubernetes, only the port syntax is checked here; the API server's
                # allocator owns the node-port range (30000-32767 unless configured).
                errs += _port_number(port.node_port, np_path)
    errs += _enum(spec.session_affinity, "spec.sessionAffinity", SESSION_AFFINITIES)
    config = spec.session_affinity_config
    if config is not None and config.client_ip is not None and config.client_ip.timeout_seconds is not None:
        timeout = config.client_ip.timeout_seconds
        if not _is_int(timeout) or not 0 < timeout <= 86400:
            errs.append(
                FieldError.invalid(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    timeout,
                    "must be greater than 0 and less than 86400",
                )
            )
    if spec.selector:
        errs += validate_labels(spec.selector, "spec.selector")
    if spec.cluster_ip and spec.cluster_ip != "None":
        errs += _name_errors(is_valid_ip, spec.cluster_ip, "spec.clusterIP")
    for i, ip in enumerate(spec.external_ips or ()):
        errs += _name_errors(is_valid_ip, ip, index("spec.externalIPs", i))
    return errs


def _validate_endpoints(endpoints: core.Endpoints) -> Errors:
    errs = validate_object_meta(endpoints.metadata, True, is_dns1123_subdomain)
    for i, subset in enumerate(endpoints.subsets or ()):
        s_path = index("subsets", i)
        for group in ("addresses", "notReadyAddresses"):
            addresses = subset.addresses if group == "addresses" else subset.not_ready_addresses
            for j, address in enumerate(addresses or ()):
                a_path = index(child(s_path, group), j)
                if not address.ip:
                    errs.append(FieldError.required(child(a_path, "ip")))
                else:
                    errs += _name_errors(is_valid_ip, address.ip, child(a_path, "ip"))
                if address.hostname:
                    errs += _name_errors(is_dns1123_label, address.hostname, child(a_path, "hostname"))
        ports = subset.ports or []
        for j, port in enumerate(ports):
            p_path = index(child(s_path, "ports"), j)
            if port.name:
                errs += _name_errors(is_dns1123_label, port.name, child(p_path, "name"))
            elif len(ports) > 1:
                errs.append(FieldError.required(child(p_path, "name")))
            errs += _port_number(port.port, child(p_path, "port"))
            errs += _enum(port.protocol, child(p_path, "protocol"), PROTOCOLS, required=True)
    return errs


def _validate_event(event: core.Event) -> Errors:
    errs = validate_object_meta(event.metadata, True, is_dns1123_subdomain)
    involved = event.involved_object
    if involved is None:
        errs.append(FieldError.required("involvedObject"))
    else:
        if not involved.kind:
            errs.append(FieldError.required("involvedObject.kind"))
        if not involved.name:
            errs.append(FieldError.required("involvedObject.name"))
        namespace = event.metadata.namespace if event.metadata is not None else None
        if involved.namespace and namespace and involved.namespace != namespace:
            errs.append(
                FieldError.invalid(
                    "involvedObject.namespace", involved.namespace, "does not match event.namespace"
                )
            )
    errs += _enum(event.type, "type", ["Normal", "Warning"])
    errs += _min_int(event.count, "count", 0)
    return errs


#: The shape of a plain Event (see :func:`plain_event_is_valid`): each key it may have, and the
#: exact type of its value, or the shape of the section under it.
_PLAIN_EVENT_SHAPE: dict[str, Any] = {
    **dict.fromkeys(("apiVersion", "kind", "reason", "message", "firstTimestamp", "lastTimestamp", "eventTime",
                     "type", "action", "reportingComponent", "reportingInstance"), str),
    "count": int,
    "metadata": dict.fromkeys(("name", "namespace", "uid", "creationTimestamp"), str),
    "involvedObject": dict.fromkeys(("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion",
                                     "fieldPath"), str),
    "source": dict.fromkeys(("component", "host"), str),
}
_EVENT_TYPES = frozenset({"Normal", "Warning"})


def plain_event_is_valid(event: dict) -> bool:
    """Whether an Event wire dict is plain and meets every rule of :func:`validate`.

    Plain: no key but the core Event's string fields, ``count``, ``involvedObject``,
    ``source`` and the metadata a created Event has (name, namespace, uid,
    creationTimestamp), each value of exactly the type its model decodes to (no null, no
    conversion). Decoding such an Event, validating and encoding it gives it back
    unchanged, but for the order of its keys; the API server stores it as it is. False
    says nothing: such an Event takes the full path, which reports what is wrong.
    """
    if not matches_shape(event, _PLAIN_EVENT_SHAPE):
        return False
    meta, involved = event.get("metadata"), event.get("involvedObject")
    if meta is None or involved is None or event.get("count", 0) < 0:
        return False
    event_type = event.get("type")
    if event_type and event_type not in _EVENT_TYPES:
        return False
    name, namespace = meta.get("name"), meta.get("namespace")
    if not dns1123_subdomain_ok(name) or (namespace and not dns1123_label_ok(namespace)):
        return False
    if not involved.get("kind") or not involved.get("name"):
        return False
    involved_namespace = involved.get("namespace")
    return not (involved_namespace and namespace and involved_namespace != namespace)


def _validate_config_map(config_map: core.ConfigMap) -> Errors:
    errs = validate_object_meta(config_map.metadata, True, is_dns1123_subdomain)
    total = 0
    data = config_map.data or {}
    for name, value in data.items():
        errs += _name_errors(is_config_map_key, name, key("data", name))
        total += len(name) + len(value.encode())
    for name, value in (config_map.binary_data or {}).items():
        path = key("binaryData", name)
        errs += _name_errors(is_config_map_key, name, path)
        if name in data:
            errs.append(FieldError.invalid(path, name, "duplicate of key present in data"))
        try:
            total += len(name) + len(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            errs.append(FieldError.invalid(path, "<binary>", "must be base64-encoded"))
    if total > MAX_CONFIG_MAP_BYTES:
        errs.append(FieldError.too_long("", "", MAX_CONFIG_MAP_BYTES))
    return errs


def _validate_binding(binding: core.Binding) -> Errors:
    errs = validate_object_meta(binding.metadata, True, is_dns1123_subdomain)
    if binding.target is None or not binding.target.name:
        errs.append(FieldError.required("target.name"))
    elif binding.target.kind not in (None, "", "Node"):
        errs.append(FieldError.not_supported("target.kind", binding.target.kind, ["Node"]))
    return errs


def _validate_lease(lease: coordination.Lease) -> Errors:
    errs = validate_object_meta(lease.metadata, True, is_dns1123_subdomain)
    spec = lease.spec
    if spec is None:
        return errs
    if spec.lease_duration_seconds is not None and (
        not _is_int(spec.lease_duration_seconds) or spec.lease_duration_seconds <= 0
    ):
        errs.append(
            FieldError.invalid(
                "spec.leaseDurationSeconds", spec.lease_duration_seconds, "must be greater than 0"
            )
        )
    errs += _min_int(spec.lease_transitions, "spec.leaseTransitions", 0)
    errs += _enum(spec.strategy, "spec.strategy", ["OldestEmulationVersion"])
    if spec.preferred_holder and not spec.strategy:
        errs.append(
            FieldError.forbidden("spec.preferredHolder", "preferredHolder is only allowed if strategy is set")
        )
    return errs


# --------------------------------------------------------------------------- autoscaling

_METRIC_SOURCES = {
    "Object": "object",
    "Pods": "pods",
    "Resource": "resource",
    "ContainerResource": "container_resource",
    "External": "external",
}
_METRIC_WIRE = {
    "object": "object",
    "pods": "pods",
    "resource": "resource",
    "container_resource": "containerResource",
    "external": "external",
}


def _validate_metric_target(target: autoscaling.MetricTarget | None, path: str) -> Errors:
    if target is None:
        return [FieldError.required(path)]
    errs = _enum(target.type, child(path, "type"), ["AverageValue", "Utilization", "Value"], required=True)
    if target.average_utilization is not None and (
        not _is_int(target.average_utilization) or target.average_utilization <= 0
    ):
        errs.append(
            FieldError.invalid(
                child(path, "averageUtilization"), target.average_utilization, "must be greater than 0"
            )
        )
    for attr, wire in (("value", "value"), ("average_value", "averageValue")):
        value = getattr(target, attr)
        if value is None:
            continue
        quantity = _quantity(value, child(path, wire))
        if isinstance(quantity, FieldError):
            errs.append(quantity)
        elif quantity.sign() <= 0:
            errs.append(FieldError.invalid(child(path, wire), value, "must be positive"))
    wanted = {"Utilization": "average_utilization", "Value": "value", "AverageValue": "average_value"}.get(
        target.type or ""
    )
    if wanted and getattr(target, wanted) is None:
        errs.append(
            FieldError.required(
                child(
                    path,
                    {
                        "average_utilization": "averageUtilization",
                        "value": "value",
                        "average_value": "averageValue",
                    }[wanted],
                ),
                f"must set {wanted} when type is {target.type}",
            )
        )
    return errs


def _validate_metric(metric: autoscaling.MetricSpec, path: str) -> Errors:
    errs = _enum(metric.type, child(path, "type"), sorted(_METRIC_SOURCES), required=True)
    wanted = _METRIC_SOURCES.get(metric.type or "")
    for attr, wire in _METRIC_WIRE.items():
        source = getattr(metric, attr)
        if source is not None and attr != wanted:
            errs.append(
                FieldError.forbidden(
                    child(path, wire),
                    "must populate information for the given metric source (only allowed when type matches)",
                )
            )
    if wanted is None:
        return errs
    source = getattr(metric, wanted)
    source_path = child(path, _METRIC_WIRE[wanted])
    if source is None:
        return errs + [
            FieldError.required(source_path, "must populate information for the given metric source")
        ]
    if wanted in ("resource", "container_resource"):
        if not source.name:
            errs.append(FieldError.required(child(source_path, "name")))
        if wanted == "container_resource" and not source.container:
            errs.append(FieldError.required(child(source_path, "container")))
    else:
        if source.metric is None or not source.metric.name:
            errs.append(FieldError.required(child(child(source_path, "metric"), "name")))
    if wanted == "object" and (
        source.described_object is None
        or not source.described_object.kind
        or not source.described_object.name
    ):
        errs.append(FieldError.required(child(source_path, "describedObject")))
    errs += _validate_metric_target(source.target, child(source_path, "target"))
    return errs


def _validate_scaling_rules(rules: autoscaling.HPAScalingRules | None, path: str) -> Errors:
    if rules is None:
        return []
    errs: Errors = []
    window = rules.stabilization_window_seconds
    if window is not None and (not _is_int(window) or not 0 <= window <= 3600):
        errs.append(
            FieldError.invalid(
                child(path, "stabilizationWindowSeconds"), window, "must be between 0 and 3600 seconds"
            )
        )
    errs += _enum(rules.select_policy, child(path, "selectPolicy"), ["Disabled", "Max", "Min"])
    if rules.policies is not None and not rules.policies and rules.select_policy != "Disabled":
        errs.append(FieldError.required(child(path, "policies"), "must specify at least one Policy"))
    for i, policy in enumerate(rules.policies or ()):
        p_path = index(child(path, "policies"), i)
        errs += _enum(policy.type, child(p_path, "type"), ["Percent", "Pods"], required=True)
        if not _is_int(policy.value) or policy.value <= 0:
            errs.append(FieldError.invalid(child(p_path, "value"), policy.value, "must be greater than zero"))
        if not _is_int(policy.period_seconds) or not 0 < policy.period_seconds <= 1800:
            errs.append(
                FieldError.invalid(
                    child(p_path, "periodSeconds"),
                    policy.period_seconds,
                    "must be greater than zero and less than or equal to 1800",
                )
            )
    return errs


def _validate_hpa(hpa: autoscaling.HorizontalPodAutoscaler) -> Errors:
    errs = validate_object_meta(hpa.metadata, True, is_dns1123_subdomain)
    spec = hpa.spec
    if spec is None:
        return errs + [FieldError.required("spec")]
    ref = spec.scale_target_ref
    if ref is None:
        errs.append(FieldError.required("spec.scaleTargetRef"))
    else:
        if not ref.kind:
            errs.append(FieldError.required("spec.scaleTargetRef.kind"))
        if not ref.name:
            errs.append(FieldError.required("spec.scaleTargetRef.name"))
        elif "/" in ref.name or ref.name in (".", ".."):
            errs.append(
                FieldError.invalid(
                    "spec.scaleTargetRef.name", ref.name, "may not contain '/' or be '.' or '..'"
                )
            )
    errs += _min_int(spec.min_replicas, "spec.minReplicas", 1)
    if spec.max_replicas is None:
        errs.append(FieldError.required("spec.maxReplicas"))
    elif not _is_int(spec.max_replicas) or spec.max_replicas < 1:
        errs.append(FieldError.invalid("spec.maxReplicas", spec.max_replicas, "must be greater than 0"))
    elif _is_int(spec.min_replicas) and spec.max_replicas < spec.min_replicas:
        errs.append(
            FieldError.invalid(
                "spec.maxReplicas", spec.max_replicas, "must be greater than or equal to `minReplicas`"
            )
        )
    for i, metric in enumerate(spec.metrics or ()):
        errs += _validate_metric(metric, index("spec.metrics", i))
    if spec.behavior is not None:
        errs += _validate_scaling_rules(spec.behavior.scale_up, "spec.behavior.scaleUp")
        errs += _validate_scaling_rules(spec.behavior.scale_down, "spec.behavior.scaleDown")
    return errs


def _validate_scale(scale: autoscaling.Scale) -> Errors:
    errs = validate_object_meta(scale.metadata, True, is_dns1123_subdomain)
    if scale.spec is not None:
        errs += _min_int(scale.spec.replicas, "spec.replicas", 0)
    return errs


# --------------------------------------------------------------------------- entry points

_VALIDATORS: dict[type, Callable[[Any], Errors]] = {
    core.Namespace: _validate_namespace,
    core.Pod: _validate_pod,
    core.Node: _validate_node,
    core.Service: _validate_service,
    core.Endpoints: _validate_endpoints,
    core.Event: _validate_event,
    core.ConfigMap: _validate_config_map,
    core.Binding: _validate_binding,
    coordination.Lease: _validate_lease,
    apps.Deployment: _validate_deployment,
    apps.ReplicaSet: _validate_replica_set,
    batch.Job: _validate_job,
    batch.CronJob: _validate_cron_job,
    autoscaling.HorizontalPodAutoscaler: _validate_hpa,
    autoscaling.Scale: _validate_scale,
}


def validate(obj: Any) -> list[FieldError]:
    """Every rule violation of ``obj`` (an API object), each with its full field path.

    Raises :class:`TypeError` for an object of a kind without validation rules.
    """
    validator = _VALIDATORS.get(type(obj))
    if validator is None:
        raise TypeError(f"no validation rules for {type(obj).__name__}")
    return validator(obj)


#: The status rules of the kinds whose validation has the status apart; a Pod's status has none yet.
_STATUS_VALIDATORS: dict[type, Callable[[Any], Errors]] = {
    core.Pod: _no_status_rules,
    core.Node: _node_status,
    apps.Deployment: _deployment_status,
    apps.ReplicaSet: _replica_set_status,
}


def validate_status(obj: Any) -> list[FieldError]:
    """The rule violations of ``obj``'s ``status`` alone, for a ``/status`` update.

    Such an update keeps everything but the status from the stored object, which was
    valid when written, so only the status is checked (Kubernetes' ``Validate…StatusUpdate``).
    A kind whose status rules are not kept apart is validated whole, as :func:`validate`.
    """
    validator = _STATUS_VALIDATORS.get(type(obj))
    if validator is None:
        return validate(obj)
    return validator(obj)


def validate_or_raise(obj: Any) -> Any:
    """Return ``obj`` when valid; else raise :class:`ValidationError` with every error."""
    errors = validate(obj)
    if errors:
        meta = getattr(obj, "metadata", None)
        name = (meta.name or meta.generate_name or "") if meta is not None else ""
        raise ValidationError(errors, kind=getattr(obj, "kind", None) or type(obj).__name__, name=name)
    return obj
