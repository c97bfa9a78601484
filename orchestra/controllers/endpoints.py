"""The Endpoints controller: each selector Service's pod addresses (Kubernetes' ``pkg/controller/endpoint``).

For a Service with a selector, the Endpoints object of the same name lists the matching pods
that have an IP and are neither finished nor being deleted: Ready pods under ``addresses``, the
others under ``notReadyAddresses`` (every pod under ``addresses`` with
``publishNotReadyAddresses``, which also keeps terminating pods). Each address carries the pod
IP, ``nodeName``, ``targetRef`` and, for pods whose ``subdomain`` is the Service, ``hostname``.

Ports come from the Service's ports: ``targetPort`` as a number, as a container port name looked
up in the pod (a pod without that port is left out of that port), or the service port when
unset. Addresses with the same ports share a subset. A headless Service without ports lists
its addresses with no ports. Services without a selector are left alone; the Endpoints of a
deleted Service are deleted.
"""

from __future__ import annotations

import logging

from orchestra.controllers.base import Controller, is_conflict, is_not_found, key_of, meta, split_key
from orchestra.controllers.podutil import is_pod_ready

__all__ = ["EndpointsController", "HEADLESS_LABEL", "endpoint_subsets", "resolve_port", "pod_in_endpoints"]

log = logging.getLogger(__name__)

#: The label Kubernetes puts on the Endpoints of a headless Service.
HEADLESS_LABEL = "service.kubernetes.io/headless"


def pod_in_endpoints(pod: dict, include_terminating: bool) -> bool:
    """Whether a pod may be listed at all: it has an IP, is not finished, and is not being deleted."""
    status = pod.get("status") or {}
    if not status.get("podIP"):
        return False
    if status.get("phase") in ("Succeeded", "Failed"):
        return False
    return include_terminating or not meta(pod).get("deletionTimestamp")


def resolve_port(pod: dict, service_port: dict) -> int | None:
    """The pod port a service port sends to (``targetPort`` by number or container port name)."""
    target = service_port.get("targetPort")
    if target is None or target == "":
        return service_port.get("port")
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    for container in (pod.get("spec") or {}).get("containers") or ():
        for port in container.get("ports") or ():
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return port.get("containerPort")
    return None


def _address(pod: dict, service_name: str) -> dict:
    spec = pod.get("spec") or {}
    address = {"ip": (pod.get("status") or {})["podIP"],
               "targetRef": {"kind": "Pod", "namespace": meta(pod).get("namespace"), "name": meta(pod).get("name"),
                             "uid": meta(pod).get("uid")}}
    if spec.get("nodeName"):
        address["nodeName"] = spec["nodeName"]
    if spec.get("hostname") and spec.get("subdomain") == service_name:
        address["hostname"] = spec["hostname"]
    return address


def endpoint_subsets(service: dict, pods: list[dict]) -> list[dict]:
    """The subsets of a Service's Endpoints for the pods matching its selector."""
    spec = service.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses"))
    service_ports = spec.get("ports") or []
    headless = spec.get("clusterIP") == "None"
    name = meta(service).get("name") or ""
    groups: dict[tuple, dict] = {}
    for pod in pods:
        if not pod_in_endpoints(pod, publish):
            continue
        ports = []
        for sp in service_ports:
            number = resolve_port(pod, sp)
            if number is None:
                continue
            port = {"port": number, "protocol": sp.get("protocol") or "TCP"}
            if sp.get("name"):
                port["name"] = sp["name"]
            if sp.get("appProtocol"):
                port["appProtocol"] = sp["appProtocol"]
            ports.append(port)
        if not ports and not (headless and not service_ports):
            continue
        signature = tuple(sorted((p.get("name", ""), p["port"], p["protocol"]) for p in ports))
        group = groups.setdefault(signature, {"addresses": [], "notReadyAddresses": [],
                                              "ports": sorted(ports, key=lambda p: (p.get("name", ""), p["port"]))})
        ready = publish or is_pod_ready(pod)
        group["addresses" if ready else "notReadyAddresses"].append(_address(pod, name))
    subsets = []
    for signature in sorted(groups):
        group = groups[signature]
        subset: dict = {}
        for field in ("addresses", "notReadyAddresses"):
            if group[field]:
                subset[field] = sorted(group[field], key=lambda a: (a["ip"], a["targetRef"]["name"]))
        if group["ports"]:
            subset["ports"] = group["ports"]
        subsets.append(subset)
    return subsets


def _selector_matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


class EndpointsController(Controller):
    """Keeps one Endpoints object per selector Service in step with its pods."""

    name = "endpoints"

    def setup(self) -> None:
        """Watch Services, pods (indexed by namespace) and Endpoints."""
        self._pods_by_namespace: dict[str, dict[str, dict]] = {}
        self._by_label: dict[tuple[str, str, str], set[str]] = {}
        self._service_label: dict[str, tuple[str, str, str]] = {}
        self.services = self.informers.informer("services")
        self.pods = self.informers.informer("pods")
        self.endpoints = self.informers.informer("endpoints")
        self.services.add_handler(self._service_changed, lambda old, new: self._service_changed(new),
                                  self._service_deleted)
        self.pods.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        self.endpoints.add_handler(None, None, self._endpoints_deleted)

    # ------------------------------------------------------------------ event handlers

    def _service_changed(self, service: dict) -> None:
        """Index the Service under one of its selector's labels, and sync it."""
        key = key_of(service)
        self._unindex(key)
        selector = (service.get("spec") or {}).get("selector")
        if selector:
            label = min(selector.items())
            entry = (meta(service).get("namespace") or "", label[0], label[1])
            self._by_label.setdefault(entry, set()).add(key)
            self._service_label[key] = entry
        self.enqueue(key)

    def _service_deleted(self, service: dict) -> None:
        self._unindex(key_of(service))
        self.enqueue(service)

    def _unindex(self, key: str) -> None:
        entry = self._service_label.pop(key, None)
        if entry is not None:
            keys = self._by_label.get(entry, set())
            keys.discard(key)
            if not keys:
                self._by_label.pop(entry, None)

    def _services_for(self, pod: dict) -> list[str]:
        """The keys of the selector Services matching the pod (through the label index)."""
        namespace = meta(pod).get("namespace") or ""
        labels = meta(pod).get("labels") or {}
        keys = []
        for label, value in labels.items():
            for key in self._by_label.get((namespace, label, value), ()):
                service = self.services.get(key)
                selector = (service or {}).get("spec", {}).get("selector")
                if selector and _selector_matches(selector, labels):
                    keys.append(key)
        return keys

    def _pod_added(self, pod: dict) -> None:
        self._pods_by_namespace.setdefault(meta(pod).get("namespace") or "", {})[key_of(pod)] = pod
        for key in self._services_for(pod):
            self.enqueue(key)

    def _pod_updated(self, old: dict, new: dict) -> None:
        self._pods_by_namespace.setdefault(meta(new).get("namespace") or "", {})[key_of(new)] = new
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        keys = set(self._services_for(new))
        if meta(old).get("labels") != meta(new).get("labels"):
            keys |= set(self._services_for(old))
        for key in keys:
            self.enqueue(key)

    def _pod_deleted(self, pod: dict) -> None:
        self._pods_by_namespace.get(meta(pod).get("namespace") or "", {}).pop(key_of(pod), None)
        for key in self._services_for(pod):
            self.enqueue(key)

    def _endpoints_deleted(self, endpoints: dict) -> None:
        if self.services.get(key_of(endpoints)) is not None:
            self.enqueue(key_of(endpoints))

    # ------------------------------------------------------------------ sync

    async def sync(self, key: str) -> None:
        """Write the Service's Endpoints (or delete them when the Service is gone)."""
        namespace, name = split_key(key)
        service = self.services.get(key)
        if service is None:
            if self.endpoints.get(key) is not None:
                try:
                    await self.client.delete("endpoints", name, namespace=namespace)
                except Exception as exc:
                    if not is_not_found(exc):
                        raise
            return
        selector = (service.get("spec") or {}).get("selector")
        if not selector or meta(service).get("deletionTimestamp"):
            return
        pods = [p for p in self._pods_by_namespace.get(namespace or "", {}).values()
                if _selector_matches(selector, meta(p).get("labels") or {})]
        subsets = endpoint_subsets(service, pods)
        labels = dict(meta(service).get("labels") or {})
        if (service.get("spec") or {}).get("clusterIP") == "None":
            labels[HEADLESS_LABEL] = ""
        current = self.endpoints.get(key)
        if current is not None and (current.get("subsets") or []) == subsets \
                and (meta(current).get("labels") or {}) == labels:
            return
        body = {"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": name, "namespace": namespace, "labels": labels}}
        if subsets:
            body["subsets"] = subsets
        if current is None:
            try:
                await self.client.create(body, namespace=namespace)
                return
            except Exception as exc:
                if not is_conflict(exc):
                    raise
                current = await self.client.get("endpoints", name, namespace=namespace, raw=True)
        body["metadata"] = {**meta(current), "labels": labels}
        await self.client.update(body, raw=True)
