"""A container's environment as the kubelet builds it: literal values, the downward API, ConfigMaps.

Order and rules follow Kubernetes: ``envFrom`` sources first (each key, with the source's prefix;
keys that are not valid variable names are skipped), then ``env`` in order, later names winning.
``$(VAR)`` in a value expands to a variable defined before it (``$$`` escapes a ``$``; an unknown
reference stays as written); :func:`expand` does the same for command and args.

``valueFrom`` supports ``fieldRef`` (``metadata.name``, ``metadata.namespace``, ``metadata.uid``,
``metadata.labels['k']``, ``metadata.annotations['k']``, ``spec.nodeName``,
``spec.serviceAccountName``, ``status.podIP``, ``status.podIPs``, ``status.hostIP``,
``status.hostIPs``), ``resourceFieldRef`` (``limits.*`` / ``requests.*`` with a divisor) and
``configMapKeyRef`` / ``secretKeyRef``. A missing, non-optional ConfigMap or key fails with
:class:`CreateContainerConfigError` (the kubelet's waiting reason ``CreateContainerConfigError``).
"""

from __future__ import annotations

import base64
import math
import re
from typing import Awaitable, Callable

from orchestra.api.quantity import Quantity, QuantityError
from orchestra.node.runtime import ContainerRuntimeError

__all__ = [
    "REASON_CREATE_CONTAINER_CONFIG_ERROR",
    "CreateContainerConfigError",
    "PodAddresses",
    "ObjectGetter",
    "build_environment",
    "expand",
    "field_value",
]

#: Waiting reason when a container's configuration (env sources) cannot be resolved.
REASON_CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"

_VALID_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_REFERENCE = re.compile(r"\$\$|\$\(([^)]*)\)")
_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")

#: ``await get("configmaps", namespace, name)`` → the object's dict, or ``None`` when absent.
ObjectGetter = Callable[[str, str, str], Awaitable[dict | None]]


class CreateContainerConfigError(ContainerRuntimeError):
    """A container's env sources cannot be resolved (``CreateContainerConfigError``)."""

    reason = REASON_CREATE_CONTAINER_CONFIG_ERROR


class PodAddresses:
    """The addresses a pod's downward API may ask for: its pod IP and its node's IP."""

    __slots__ = ("pod_ip", "host_ip")

    def __init__(self, pod_ip: str, host_ip: str) -> None:
        self.pod_ip = pod_ip
        self.host_ip = host_ip


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: known names replaced, ``$$`` → ``$``, the rest kept."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _REFERENCE.sub(replace, text) if "$" in text else text


def field_value(pod: dict, path: str, addresses: PodAddresses) -> str:
    """The value of a downward-API ``fieldRef.fieldPath``; raises :class:`CreateContainerConfigError`."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": addresses.pod_ip,
        "status.podIPs": addresses.pod_ip,
        "status.hostIP": addresses.host_ip,
        "status.hostIPs": addresses.host_ip,
    }
    if path in simple:
        return simple[path] or ""
    match = _SUBSCRIPT.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise CreateContainerConfigError(f'unsupported fieldPath "{path}" in a fieldRef')


def _resource_value(container: dict, selector: dict) -> str:
    resource = selector.get("resource") or ""
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or not name:
        raise CreateContainerConfigError(f'unsupported resource "{resource}" in a resourceFieldRef')
    value = ((container.get("resources") or {}).get(kind) or {}).get(name)
    if value is None:
        return "0"
    try:
        amount = Quantity.decode(value).as_float()
        divisor = Quantity.decode(selector.get("divisor") or "1").as_float() or 1.0
    except QuantityError as exc:
        raise CreateContainerConfigError(f"invalid quantity in resourceFieldRef {resource}: {exc.reason}") from None
    return str(int(math.ceil(amount / divisor)))


async def _key_ref(kind: str, namespace: str, ref: dict, get: ObjectGetter) -> str | None:
    what = "configmap" if kind == "configmaps" else "secret"
    name, key, optional = ref.get("name") or "", ref.get("key") or "", bool(ref.get("optional"))
    obj = await get(kind, namespace, name)
    if obj is None:
        if optional:
            return None
        raise CreateContainerConfigError(f'{what} "{name}" not found')
    data = obj.get("data") or {}
    if key not in data:
        if optional:
            return None
        kind_name = "ConfigMap" if kind == "configmaps" else "Secret"
        raise CreateContainerConfigError(f"couldn't find key {key} in {kind_name} {namespace}/{name}")
    value = data[key]
    if kind == "secrets":
        value = base64.b64decode(value).decode(errors="replace")
    return value


async def build_environment(pod: dict, container: dict, addresses: PodAddresses, get: ObjectGetter) -> list[tuple[str, str]]:
    """The container's variables in order (see the module docstring); raises :class:`CreateContainerConfigError`."""
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    env: dict[str, str] = {}
    for source in container.get("envFrom") or ():
        prefix = source.get("prefix") or ""
        for kind, field_name, what in (("configmaps", "configMapRef", "configmap"), ("secrets", "secretRef", "secret")):
            ref = source.get(field_name)
            if not ref:
                continue
            obj = await get(kind, namespace, ref.get("name") or "")
            if obj is None:
                if ref.get("optional"):
                    continue
                raise CreateContainerConfigError(f'{what} "{ref.get("name")}" not found')
            for key, value in (obj.get("data") or {}).items():
                if kind == "secrets":
                    value = base64.b64decode(value).decode(errors="replace")
                if _VALID_NAME.match(prefix + key):
                    env[prefix + key] = value
    for var in container.get("env") or ():
        name = var.get("name") or ""
        source = var.get("valueFrom")
        if source is None:
            env[name] = expand(var.get("value") or "", env)
            continue
        if source.get("fieldRef"):
            env[name] = field_value(pod, source["fieldRef"].get("fieldPath") or "", addresses)
        elif source.get("resourceFieldRef"):
            env[name] = _resource_value(container, source["resourceFieldRef"])
        elif source.get("configMapKeyRef"):
            value = await _key_ref("configmaps", namespace, source["configMapKeyRef"], get)
            if value is not None:
                env[name] = value
        elif source.get("secretKeyRef"):
            value = await _key_ref("secrets", namespace, source["secretKeyRef"], get)
            if value is not None:
                env[name] = value
    return list(env.items())
