"""Per-kind REST rules: what create and update may set, generation, names, deletion, field labels.

Every rule here works on wire dicts (camelCase, as stored), mirroring the
``Strategy`` types of Kubernetes' ``pkg/registry``:

- **create** (:meth:`Strategy.prepare_for_create`): the server sets ``uid``,
  ``creationTimestamp`` and ``generation`` (for kinds that track it), drops
  deletion fields, and resets ``status`` where Kubernetes does (pods start
  ``Pending`` with their QoS class, namespaces ``Active`` with the ``kubernetes``
  finalizer; nodes keep the status they are created with).
- **update** of the main resource (:meth:`Strategy.prepare_for_update`) keeps the
  stored status and server-owned metadata; ``/status``
  (:meth:`Strategy.prepare_for_status_update`) keeps everything but ``status``;
  ``generation`` grows when anything but ``metadata`` and ``status`` changed.
- **immutable fields** (:meth:`Strategy.validate_update`): pod spec (but images,
  activeDeadlineSeconds, added tolerations, terminationGracePeriodSeconds), the
  selector of Deployments, ReplicaSets and Jobs, a Job's template and completion
  mode, a Service's cluster IP once allocated.
- **field labels** (:meth:`Strategy.field_set`): the fields a field selector may
  name for the kind, as Kubernetes' ``GetAttrs`` functions report them.
"""

from __future__ import annotations

import os
import secrets
from typing import Any, Callable

import attrs

from orchestra._ext.codec import copy_json
from orchestra._ext.uids import uuid4_texts
from orchestra.api import core
from orchestra.api.errors import FieldError
from orchestra.api.timestamps import now_rfc3339
from orchestra.api.validation import plain_event_is_valid

__all__ = [
    "Strategy",
    "strategy_for",
    "generate_name",
    "new_uid",
    "NAME_SUFFIX_ALPHABET",
    "NAME_SUFFIX_LENGTH",
    "MAX_GENERATED_NAME_LENGTH",
    "NAMESPACE_FINALIZER",
    "ORPHAN_FINALIZER",
    "FOREGROUND_FINALIZER",
]

#: The characters of a generated name's suffix (Kubernetes' ``utilrand.String``: no vowels, no look-alikes).
NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
NAME_SUFFIX_LENGTH = 5
#: A generated name is at most this long (a DNS-1123 label), so the base is cut to 58 characters.
MAX_GENERATED_NAME_LENGTH = 63

NAMESPACE_FINALIZER = "kubernetes"
ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"

#: Metadata fields the server owns: an update keeps the stored values.
_SERVER_METADATA = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")

_POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
    "`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


#: UIDs made ahead from one read of random bytes (one system call per 256 UIDs), handed out from the end.
_uid_pool: list[str] = []
_UIDS_PER_READ = 256


def _forget_uid_pool() -> None:
    """A forked child must not hand out the UIDs its parent will."""
    _uid_pool.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_uid_pool)


def new_uid() -> str:
    """A random (version 4) UUID as text, as ``str(uuid.uuid4())`` gives, without building a UUID object."""
    if not _uid_pool:
        _uid_pool[:] = uuid4_texts(os.urandom(16 * _UIDS_PER_READ))
    return _uid_pool.pop()


#: Server-set metadata a new object never keeps from its body.
_DROPPED_ON_CREATE = frozenset({"deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "selfLink"})


def generate_name(base: str) -> str:
    """``base`` plus a random 5-character suffix, ``base`` cut so the result fits 63 characters."""
    limit = MAX_GENERATED_NAME_LENGTH - NAME_SUFFIX_LENGTH
    suffix = "".join(secrets.choice(NAME_SUFFIX_ALPHABET) for _ in range(NAME_SUFFIX_LENGTH))
    return base[:limit] + suffix


def _spec_part(obj: dict) -> dict:
    """Everything of an object but metadata, status and the type fields (what bumps generation)."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------- pods


def _qos_class(spec: dict) -> str:
    """Kubernetes' pod QoS class: Guaranteed, Burstable or BestEffort."""
    containers = list(spec.get("containers") or ()) + list(spec.get("initContainers") or ())
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        c_requests = {k: v for k, v in (resources.get("requests") or {}).items() if k in ("cpu", "memory")}
        c_limits = {k: v for k, v in (resources.get("limits") or {}).items() if k in ("cpu", "memory")}
        requests.update(c_requests)
        limits.update(c_limits)
        if set(c_limits) != {"cpu", "memory"}:
            guaranteed = False
        for name, value in c_requests.items():
            if c_limits.get(name) != value:
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _pod_create_status(obj: dict) -> dict:
    return {"phase": "Pending", "qosClass": _qos_class(obj.get("spec") or {})}


def _namespace_create_status(obj: dict) -> dict:
    spec = obj.setdefault("spec", {})
    finalizers = list(spec.get("finalizers") or ())
    if NAMESPACE_FINALIZER not in finalizers:
        finalizers.append(NAMESPACE_FINALIZER)
    spec["finalizers"] = finalizers
    return {"phase": "Active"}


def _job_generate_selector(obj: dict) -> None:
    """Kubernetes' Job selector: ``controller-uid`` labels unless ``spec.manualSelector``."""
    spec = obj.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector"):
        return
    meta = obj["metadata"]
    uid, name = meta["uid"], meta.get("name") or ""
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    template = spec.setdefault("template", {})
    template_meta = template.setdefault("metadata", {})
    labels = dict(template_meta.get("labels") or {})
    labels.update(
        {
            "batch.kubernetes.io/controller-uid": uid,
            "controller-uid": uid,
            "batch.kubernetes.io/job-name": name,
            "job-name": name,
        }
    )
    template_meta["labels"] = labels


def _validate_pod_update(new: dict, old: dict) -> list[FieldError]:
    old_spec = old.get("spec") or {}
    if (new.get("spec") or {}) == old_spec and old_spec.get("tolerations", True):
        # _pod_spec_update_errors would only set equal values again (a status update, most updates).
        return []
    return _pod_spec_update_errors(new, old)


def _pod_spec_update_errors(new: dict, old: dict) -> list[FieldError]:
    """The spec of ``new`` with what a pod update may change taken from ``old``: Forbidden unless equal."""
    old_spec = old.get("spec") or {}
    new_spec = copy_json(new.get("spec") or {})  # ``new`` is the codec's encoding: JSON values only
    for list_name in ("containers", "initContainers"):
        old_containers = old_spec.get(list_name) or []
        new_containers = new_spec.get(list_name) or []
        if len(old_containers) == len(new_containers):
            for new_c, old_c in zip(new_containers, old_containers):
                if "image" in old_c:
                    new_c["image"] = old_c["image"]
                else:
                    new_c.pop("image", None)
    for name in ("activeDeadlineSeconds", "terminationGracePeriodSeconds"):
        if name in old_spec:
            new_spec[name] = old_spec[name]
        else:
            new_spec.pop(name, None)
    old_tolerations = old_spec.get("tolerations") or []
    new_tolerations = new_spec.get("tolerations") or []
    if all(t in new_tolerations for t in old_tolerations):
        if old_tolerations:
            new_spec["tolerations"] = old_tolerations
        else:
            new_spec.pop("tolerations", None)
    # The scheduler binds through pods/binding; a PUT may carry the nodeName it already has.
    if new_spec != old_spec:
        return [FieldError.forbidden("spec", _POD_UPDATE_FORBIDDEN)]
    return []


def _pod_fields(obj: dict) -> dict[str, str]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    pod_ips = status.get("podIPs") or []
    return {
        "spec.nodeName": _str(spec.get("nodeName")),
        "spec.restartPolicy": _str(spec.get("restartPolicy")),
        "spec.schedulerName": _str(spec.get("schedulerName")),
        "spec.serviceAccountName": _str(spec.get("serviceAccountName")),
        "spec.hostNetwork": _str(bool(spec.get("hostNetwork"))),
        "status.phase": _str(status.get("phase")),
        "status.podIP": _str(status.get("podIP")),
        "status.podIPs": ",".join(_str(ip.get("ip")) for ip in pod_ips if isinstance(ip, dict)),
        "status.nominatedNodeName": _str(status.get("nominatedNodeName")),
    }


def _event_fields(obj: dict) -> dict[str, str]:
    involved = obj.get("involvedObject") or {}
    fields = {
        f"involvedObject.{name}": _str(involved.get(name))
        for name in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
    }
    fields["reason"] = _str(obj.get("reason"))
    fields["reportingComponent"] = _str(obj.get("reportingComponent"))
    fields["source"] = _str((obj.get("source") or {}).get("component"))
    fields["type"] = _str(obj.get("type"))
    return fields


def _namespace_fields(obj: dict) -> dict[str, str]:
    return {"status.phase": _str((obj.get("status") or {}).get("phase"))}


def _node_fields(obj: dict) -> dict[str, str]:
    return {"spec.unschedulable": _str(bool((obj.get("spec") or {}).get("unschedulable")))}


def _service_fields(obj: dict) -> dict[str, str]:
    spec = obj.get("spec") or {}
    return {"spec.clusterIP": _str(spec.get("clusterIP")), "spec.type": _str(spec.get("type"))}


def _replica_set_fields(obj: dict) -> dict[str, str]:
    return {"status.replicas": _str((obj.get("status") or {}).get("replicas", 0))}


def _job_fields(obj: dict) -> dict[str, str]:
    return {"status.successful": _str((obj.get("status") or {}).get("succeeded", 0))}


def _immutable(*paths: str) -> Callable[[dict, dict], list[FieldError]]:
    def check(new: dict, old: dict) -> list[FieldError]:
        errs = []
        for path in paths:
            new_value, old_value = _dig(new, path), _dig(old, path)
            if new_value != old_value:
                errs.append(FieldError.invalid(path, new_value, "field is immutable"))
        return errs

    return check


def _dig(obj: dict, path: str) -> Any:
    value: Any = obj
    for step in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def _service_update(new: dict, old: dict) -> None:
    new_spec = new.setdefault("spec", {})
    old_spec = old.get("spec") or {}
    for name in ("clusterIP", "clusterIPs"):
        if not new_spec.get(name) and old_spec.get(name):
            new_spec[name] = old_spec[name]


def _validate_service_update(new: dict, old: dict) -> list[FieldError]:
    old_ips = (old.get("spec") or {}).get("clusterIPs") or []
    new_ips = (new.get("spec") or {}).get("clusterIPs") or []
    old_ip = (old.get("spec") or {}).get("clusterIP")
    new_ip = (new.get("spec") or {}).get("clusterIP")
    if old_ip and old_ip != "None" and new_ip != old_ip:
        return [FieldError.invalid("spec.clusterIPs[0]", new_ips or [new_ip], "may not change once set")]
    if old_ips and new_ips and old_ips[0] != new_ips[0]:
        return [FieldError.invalid("spec.clusterIPs[0]", new_ips, "may not change once set")]
    return []


def _namespace_update(new: dict, old: dict) -> None:
    finalizers = (old.get("spec") or {}).get("finalizers")
    spec = new.setdefault("spec", {})
    if finalizers is None:
        spec.pop("finalizers", None)
    else:
        spec["finalizers"] = finalizers
    if not spec:
        del new["spec"]


# --------------------------------------------------------------------------- the strategy


@attrs.frozen
class Strategy:
    """The REST rules of one kind; :func:`strategy_for` gives the one for a plural resource."""

    resource: str
    namespaced: bool = True
    #: Whether ``metadata.generation`` starts at 1 and grows with every spec change.
    track_generation: bool = False
    #: The status a new object gets (None: keep what the client sent).
    create_status: Callable[[dict], dict | None] | None = None
    #: Extra rules for a new object (after uid and name are set), in place.
    create_hook: Callable[[dict], None] | None = None
    #: The top-level sections :meth:`prepare_for_create` may change: server-set metadata, the
    #: create status, and whatever ``create_status`` and ``create_hook`` touch besides.
    create_sections: tuple[str, ...] = ("metadata", "status")
    #: Whether PUT of a missing object creates it.
    allow_create_on_update: bool = False
    #: Whether an immediate delete answers with the object (else a ``Status`` Success).
    return_deleted_object: bool = False
    #: Propagation policy when a delete names none (``Orphan`` for batch/v1 Jobs).
    default_propagation: str | None = None
    #: Whether deletes are graceful (pods: the node agent confirms).
    graceful: bool = False
    #: Extra rules for a main-resource update, applied to the new object in place.
    update_hook: Callable[[dict, dict], None] | None = None
    #: Immutability rules: ``(new, old) -> [FieldError]``.
    update_rules: tuple[Callable[[dict, dict], list[FieldError]], ...] = ()
    #: The kind-specific field labels: ``obj -> {label: value}``.
    extra_fields: Callable[[dict], dict[str, str]] | None = None
    #: The model class of ``status`` when the kind's status has no defaults and no rules beyond
    #: its types, so a ``/status`` patch of the status alone is checked on the status alone.
    status_model: type | None = None
    #: Whether a new object, prepared, is plain and valid: of exactly the types its model
    #: decodes to, so that decoding, validating and encoding it would give it back (the kind
    #: must have no defaults). Such an object is stored as it is. None: every one is decoded.
    plain_create: Callable[[dict], bool] | None = None

    @property
    def prepares_metadata_only(self) -> bool:
        """Whether :meth:`prepare_for_create` changes nothing but the server-set metadata."""
        return self.create_status is None and self.create_hook is None

    def prepare_for_create(self, obj: dict) -> None:
        """Set the server-owned fields of a new object (in place); name generation is separate."""
        meta = obj.setdefault("metadata", {})
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = now_rfc3339()
        if not _DROPPED_ON_CREATE.isdisjoint(meta):
            for name in _DROPPED_ON_CREATE:
                meta.pop(name, None)
        if self.track_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if self.create_status is not None:
            status = self.create_status(obj)
            if status is None:
                obj.pop("status", None)
            else:
                obj["status"] = status
        if self.create_hook is not None:
            self.create_hook(obj)

    def prepare_for_update(self, new: dict, old: dict) -> None:
        """A main-resource update: keep the stored status and server-owned metadata (in place)."""
        self._keep_server_metadata(new, old)
        if "status" in old:
            new["status"] = copy_json(old["status"])
        else:
            new.pop("status", None)
        if self.update_hook is not None:
            self.update_hook(new, old)

    def update_changes_nothing(self, new: dict, old: dict) -> bool:
        """Whether :meth:`prepare_for_update` would leave ``new`` as it is (equal values throughout).

        So when ``new`` already carries the stored status and server-owned metadata and
        the kind has no update hook: a model decoded from ``new`` stays true to it.
        """
        if self.update_hook is not None:
            return False
        if new.get("status") != old.get("status") or ("status" in new) != ("status" in old):
            return False
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            return False
        old_meta = old.get("metadata") or {}
        for name in _SERVER_METADATA:
            if (name in meta) != (name in old_meta) or meta.get(name) != old_meta.get(name):
                return False
        return True

    def prepare_for_status_update(self, new: dict, old: dict) -> dict:
        """A ``/status`` update: the stored object with only ``status`` taken from ``new``.

        The result shares its sections with ``old`` and ``new`` (only its ``metadata`` is its
        own), so it is only read: admission works on a decoded model of it.
        """
        result = {key: value for key, value in old.items() if key != "status"}
        result["metadata"] = dict(old.get("metadata") or {})
        if "status" in new:
            result["status"] = new["status"]
        result["metadata"]["resourceVersion"] = (new.get("metadata") or {}).get("resourceVersion")
        return result

    def prepare_for_finalize(self, new: dict, old: dict) -> dict:
        """A namespace ``/finalize`` update: the stored object with only ``spec.finalizers`` from ``new``."""
        result = copy_json(old)
        finalizers = (new.get("spec") or {}).get("finalizers")
        spec = result.setdefault("spec", {})
        if finalizers:
            spec["finalizers"] = list(finalizers)
        else:
            spec.pop("finalizers", None)
        result["metadata"]["resourceVersion"] = (new.get("metadata") or {}).get("resourceVersion")
        return result

    @staticmethod
    def _keep_server_metadata(new: dict, old: dict) -> None:
        meta = new.setdefault("metadata", {})
        old_meta = old.get("metadata") or {}
        for name in _SERVER_METADATA:
            if name in old_meta:
                meta[name] = old_meta[name]
            else:
                meta.pop(name, None)

    def update_generation(self, new: dict, old: dict) -> None:
        """Bump ``generation`` when anything but metadata and status changed (kinds that track it)."""
        if not self.track_generation:
            return
        generation = (old.get("metadata") or {}).get("generation") or 1
        if _spec_part(new) != _spec_part(old):
            generation += 1
        new["metadata"]["generation"] = generation

    def validate_update(self, new: dict, old: dict) -> list[FieldError]:
        """Immutable-field and metadata-update errors of an update."""
        errs: list[FieldError] = []
        old_meta = old.get("metadata") or {}
        new_meta = new.get("metadata") or {}
        if old_meta.get("deletionTimestamp"):
            old_finalizers = set(old_meta.get("finalizers") or ())
            added = [f for f in new_meta.get("finalizers") or () if f not in old_finalizers]
            if added:
                errs.append(
                    FieldError.forbidden(
                        "metadata.finalizers", "no new finalizers can be added if the object is being deleted"
                    )
                )
        for rule in self.update_rules:
            errs.extend(rule(new, old))
        return errs

    def field_set(self, obj: dict) -> dict[str, str]:
        """The field labels of ``obj`` a field selector may test."""
        meta = obj.get("metadata") or {}
        fields = {"metadata.name": meta.get("name") or ""}
        if self.namespaced:
            fields["metadata.namespace"] = meta.get("namespace") or ""
        if self.extra_fields is not None:
            fields.update(self.extra_fields(obj))
        return fields

    def field_labels(self) -> frozenset[str]:
        """The field labels this kind supports in field selectors."""
        return frozenset(self.field_set({}))

    def grace_period(self, obj: dict, requested: int | None) -> int:
        """Seconds a delete waits before removal: 0 except for bound, running pods."""
        if not self.graceful:
            return 0
        spec = obj.get("spec") or {}
        phase = (obj.get("status") or {}).get("phase")
        if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
            return 0
        if requested is None:
            requested = spec.get("terminationGracePeriodSeconds")
            if requested is None:
                requested = 30
        # As Kubernetes: a negative grace period becomes 1 second; 0 deletes at once (the
        # node agent's confirmation, or a forced delete).
        return 1 if requested < 0 else int(requested)


_STRATEGIES: dict[str, Strategy] = {
    s.resource: s
    for s in (
        Strategy(
            "pods",
            track_generation=True,
            create_status=_pod_create_status,
            return_deleted_object=True,
            graceful=True,
            update_rules=(_validate_pod_update,),
            extra_fields=_pod_fields,
            status_model=core.PodStatus,
        ),
        Strategy(
            "namespaces",
            namespaced=False,
            create_status=_namespace_create_status,
            create_sections=("metadata", "status", "spec"),
            return_deleted_object=True,
            update_hook=_namespace_update,
            extra_fields=_namespace_fields,
        ),
        Strategy("nodes", namespaced=False, extra_fields=_node_fields),
        Strategy(
            "services",
            create_status=lambda obj: None,
            allow_create_on_update=True,
            return_deleted_object=True,
            update_hook=_service_update,
            update_rules=(_validate_service_update,),
            extra_fields=_service_fields,
        ),
        Strategy("endpoints", allow_create_on_update=True),
        Strategy("events", allow_create_on_update=True, extra_fields=_event_fields,
                 plain_create=plain_event_is_valid),
        Strategy("configmaps"),
        Strategy("leases", allow_create_on_update=True),
        Strategy(
            "deployments",
            track_generation=True,
            create_status=lambda obj: None,
            update_rules=(_immutable("spec.selector"),),
        ),
        Strategy(
            "replicasets",
            track_generation=True,
            create_status=lambda obj: None,
            update_rules=(_immutable("spec.selector"),),
            extra_fields=_replica_set_fields,
        ),
        Strategy(
            "jobs",
            track_generation=True,
            create_status=lambda obj: None,
            default_propagation="Orphan",
            create_hook=_job_generate_selector,
            create_sections=("metadata", "status", "spec"),
            update_rules=(_immutable("spec.selector", "spec.template", "spec.completionMode"),),
            extra_fields=_job_fields,
        ),
        Strategy("cronjobs", track_generation=True, create_status=lambda obj: None),
        Strategy("horizontalpodautoscalers", track_generation=True, create_status=lambda obj: None),
    )
}


def strategy_for(resource: str, namespaced: bool = True) -> Strategy:
    """The strategy of a plural resource; resources without special rules get the generic one."""
    strategy = _STRATEGIES.get(resource)
    if strategy is None:
        return Strategy(resource, namespaced=namespaced)
    return strategy
