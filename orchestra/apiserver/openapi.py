"""OpenAPI documents of the served API, built from the model: v3 per group-version, and v2.

Schemas are named as Kubernetes names them (``io.k8s.api.core.v1.Pod``,
``io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta``) and carry the extensions kubectl reads:
``x-kubernetes-group-version-kind`` on kinds and on operations, and
``x-kubernetes-patch-strategy`` / ``x-kubernetes-patch-merge-key`` from
:mod:`orchestra.apiserver.mergekeys` (kubectl computes ``kubectl apply`` patches from them).
Descriptions come from the model classes' docstrings only; fields without one have none.

Field validation: every object schema is marked ``x-kubernetes-preserve-unknown-fields``
because Orchestra keeps fields it does not model (they round-trip), and the PATCH, PUT and
POST operations advertise the ``fieldValidation`` query parameter. kubectl (default
``--validate=strict``) therefore leaves validation to the server and sends
``fieldValidation=Strict``; the server must accept unknown fields under Strict, since no
schema here is closed. Without the parameter, kubectl would validate on the client against
these schemas instead.

The documents are static for a process: they are built on first use and cached, as is each
one's hash for the v3 index.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from typing import Any

import orjson

from orchestra.api import autoscaling, core, meta, registry
from orchestra.api.registry import ResourceType
from orchestra.apiserver import mergekeys

__all__ = [
    "schema_name",
    "openapi_v3_index",
    "openapi_v3_document",
    "openapi_v3_document_bytes",
    "openapi_v2",
]

_REF_V3 = "#/components/schemas/"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"

_MODULE_PREFIXES = {
    "orchestra.api.meta": _META,
    "orchestra.api.core": "io.k8s.api.core.v1.",
    "orchestra.api.apps": "io.k8s.api.apps.v1.",
    "orchestra.api.batch": "io.k8s.api.batch.v1.",
    "orchestra.api.coordination": "io.k8s.api.coordination.v1.",
    "orchestra.api.autoscaling": "io.k8s.api.autoscaling.v2.",
}
_V1_AUTOSCALING = frozenset({autoscaling.Scale, autoscaling.ScaleSpec, autoscaling.ScaleStatus})
_RENAMED = {meta.LabelSelectorSpec: "LabelSelector"}


def schema_name(cls: type) -> str:
    """The Kubernetes definition name of a model class (``io.k8s.api.apps.v1.Deployment``)."""
    if cls in _V1_AUTOSCALING:
        return "io.k8s.api.autoscaling.v1." + cls.__name__
    return _MODULE_PREFIXES[cls.__module__] + _RENAMED.get(cls, cls.__name__)


def _description(cls: type) -> str | None:
    doc = inspect.getdoc(cls)
    return " ".join(doc.split()) if doc else None


# --------------------------------------------------------------------------- schemas


def _scalar_schema(scalar: str | None, ref: str) -> dict[str, Any]:
    if scalar == "string":
        return {"type": "string"}
    if scalar == "integer":
        return {"type": "integer"}
    if scalar == "boolean":
        return {"type": "boolean"}
    if scalar == "number":
        return {"type": "number"}
    if scalar == "int-or-string":
        return {"$ref": ref + _INT_OR_STRING}
    if scalar == "quantity":
        return {"$ref": ref + _QUANTITY}
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _item_schema(info: mergekeys.FieldInfo, ref: str) -> dict[str, Any]:
    if info.cls is not None:
        return {"$ref": ref + schema_name(info.cls)}
    return _scalar_schema(info.scalar, ref)


def _property_schema(info: mergekeys.FieldInfo, ref: str) -> dict[str, Any]:
    if info.shape == "list":
        schema: dict[str, Any] = {"type": "array", "items": _item_schema(info, ref)}
    elif info.shape == "map":
        schema = {"type": "object", "additionalProperties": _item_schema(info, ref)}
    elif info.shape == "object":
        schema = {"$ref": ref + schema_name(info.cls)}  # type: ignore[arg-type]
    else:
        schema = _scalar_schema(info.scalar, ref)
    if info.patch is not None:
        schema["x-kubernetes-patch-strategy"] = info.patch.tag
        if info.patch.merge_key:
            schema["x-kubernetes-patch-merge-key"] = info.patch.merge_key
            schema["x-kubernetes-list-type"] = "map"
            schema["x-kubernetes-list-map-keys"] = [info.patch.merge_key]
    return schema


def _class_schemas(root: type, ref: str) -> dict[str, dict[str, Any]]:
    """The schemas of ``root`` and of every model class it reaches."""
    out: dict[str, dict[str, Any]] = {}
    pending = [root]
    while pending:
        cls = pending.pop()
        name = schema_name(cls)
        if name in out:
            continue
        properties = {}
        for wire, info in sorted(mergekeys.fields_of(cls).items()):
            properties[wire] = _property_schema(info, ref)
            if info.cls is not None:
                pending.append(info.cls)
            if info.scalar == "int-or-string":
                out.setdefault(_INT_OR_STRING, _int_or_string_schema(ref))
            elif info.scalar == "quantity":
                out.setdefault(_QUANTITY, _quantity_schema(ref))
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        description = _description(cls)
        if description:
            schema["description"] = description
        schema["x-kubernetes-preserve-unknown-fields"] = True
        out[name] = schema
    return out


def _int_or_string_schema(ref: str) -> dict[str, Any]:
    if ref == _REF_V3:
        return {"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]}
    return {"type": "string", "format": "int-or-string"}


def _quantity_schema(ref: str) -> dict[str, Any]:
    if ref == _REF_V3:
        return {"oneOf": [{"type": "string"}, {"type": "number"}]}
    return {"type": "string"}


def _gvk(group: str, version: str, kind: str) -> list[dict[str, str]]:
    return [{"group": group, "kind": kind, "version": version}]


def _list_schema(rtype: ResourceType, ref: str) -> dict[str, Any]:
    return {
        "description": f"A list of {rtype.kind} objects.",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": ref + schema_name(rtype.cls)}},
            "metadata": {"$ref": ref + _META + "ListMeta"},
        },
        "required": ["items"],
        "x-kubernetes-group-version-kind": _gvk(rtype.group, rtype.version, rtype.list_kind),
    }


def _fixed_schemas(ref: str) -> dict[str, dict[str, Any]]:
    """meta/v1 request and response types the paths refer to that the model does not define."""
    return {
        _META + "Patch": {"type": "object"},
        _META + "Preconditions": {
            "type": "object",
            "properties": {"resourceVersion": {"type": "string"}, "uid": {"type": "string"}},
        },
        _META + "DeleteOptions": {
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "dryRun": {"type": "array", "items": {"type": "string"}},
                "gracePeriodSeconds": {"type": "integer"},
                "orphanDependents": {"type": "boolean"},
                "preconditions": {"$ref": ref + _META + "Preconditions"},
                "propagationPolicy": {"type": "string"},
            },
        },
        _META + "WatchEvent": {
            "type": "object",
            "properties": {
                "type": {"type": "string"},
                "object": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
            "required": ["type", "object"],
        },
    }


def _schemas_for(rtypes: list[ResourceType], ref: str) -> dict[str, dict[str, Any]]:
    schemas: dict[str, dict[str, Any]] = {}
    roots: list[type] = [meta.Status, meta.ListMeta]
    for rtype in rtypes:
        roots.append(rtype.cls)
        if "scale" in rtype.subresources:
            roots.append(autoscaling.Scale)
    for root in roots:
        for name, schema in _class_schemas(root, ref).items():
            schemas.setdefault(name, schema)
    for rtype in rtypes:
        schema = dict(schemas[schema_name(rtype.cls)])
        schema["x-kubernetes-group-version-kind"] = _gvk(rtype.group, rtype.version, rtype.kind)
        schemas[schema_name(rtype.cls)] = schema
        list_name = schema_name(rtype.cls) + "List"
        schemas[list_name] = _list_schema(rtype, ref)
    if any("scale" in rt.subresources for rt in rtypes):
        scale = dict(schemas[schema_name(autoscaling.Scale)])
        scale["x-kubernetes-group-version-kind"] = _gvk("autoscaling", "v1", "Scale")
        schemas[schema_name(autoscaling.Scale)] = scale
    status = dict(schemas[_META + "Status"])
    status["x-kubernetes-group-version-kind"] = _gvk("", "v1", "Status")
    schemas[_META + "Status"] = status
    schemas.update(_fixed_schemas(ref))
    return dict(sorted(schemas.items()))


# --------------------------------------------------------------------------- paths

_JSON = "application/json"
_PATCH_CONTENT_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)


def _query(name: str, kind: str = "string") -> dict[str, Any]:
    return {"in": "query", "name": name, "schema": {"type": kind, "uniqueItems": True}}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "in": "path",
        "name": name,
        "required": True,
        "schema": {"type": "string", "uniqueItems": True},
    }


_LIST_PARAMS = [
    _query("allowWatchBookmarks", "boolean"),
    _query("continue"),
    _query("fieldSelector"),
    _query("labelSelector"),
    _query("limit", "integer"),
    _query("resourceVersion"),
    _query("resourceVersionMatch"),
    _query("sendInitialEvents", "boolean"),
    _query("timeoutSeconds", "integer"),
    _query("watch", "boolean"),
]
_WRITE_PARAMS = [_query("dryRun"), _query("fieldManager"), _query("fieldValidation")]
_DELETE_PARAMS = [_query("dryRun"), _query("gracePeriodSeconds", "integer"), _query("propagationPolicy")]


def _operation_id(verb: str, rtype: ResourceType, namespaced: bool, suffix: str = "") -> str:
    group = "".join(part.capitalize() for part in (rtype.group.split(".")[0] or "core").split("-"))
    scope = "Namespaced" if namespaced else ""
    return f"{verb}{group}{rtype.version.capitalize()}{scope}{rtype.kind}{suffix}"


class _Builder:
    """Builds the operations of one group-version for one dialect (v3 or v2)."""

    def __init__(self, v3: bool) -> None:
        self.v3 = v3
        self.ref = _REF_V3 if v3 else "#/definitions/"

    def body(self, schema_ref: str, content_types: tuple[str, ...] = (_JSON,)) -> dict[str, Any]:
        """A request body of the given schema."""
        schema = {"$ref": self.ref + schema_ref}
        if self.v3:
            return {"requestBody": {"content": {ct: {"schema": schema} for ct in content_types}, "required": True}}
        return {"parameters": [{"in": "body", "name": "body", "required": True, "schema": schema}]}

    def responses(self, schema_ref: str | None, codes: tuple[str, ...] = ("200",)) -> dict[str, Any]:
        """Responses with the given schema (None: plain text)."""
        names = {"200": "OK", "201": "Created", "202": "Accepted"}
        out: dict[str, Any] = {}
        for code in codes:
            if self.v3:
                if schema_ref is None:
                    content = {"text/plain": {"schema": {"type": "string"}}}
                else:
                    schema = {"$ref": self.ref + schema_ref}
                    content = {_JSON: {"schema": schema}, "application/yaml": {"schema": dict(schema)}}
                out[code] = {"description": names[code], "content": content}
            else:
                schema = {"type": "string"} if schema_ref is None else {"$ref": self.ref + schema_ref}
                out[code] = {"description": names[code], "schema": schema}
        return {"responses": out}

    def params(self, params: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Parameters in this dialect (v2 puts the type on the parameter itself)."""
        if self.v3:
            return [dict(p) for p in params]
        return [{k: v for k, v in p.items() if k != "schema"} | {"type": p["schema"]["type"]} for p in params]

    def operation(
        self,
        *,
        action: str,
        operation_id: str,
        description: str,
        gvk: tuple[str, str, str],
        tag: str,
        params: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None,
        responses: dict[str, Any],
    ) -> dict[str, Any]:
        """One operation object with Kubernetes' extensions."""
        op: dict[str, Any] = {
            "description": description,
            "operationId": operation_id,
            "tags": [tag],
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": {"group": gvk[0], "kind": gvk[2], "version": gvk[1]},
        }
        parameters = self.params(params or [])
        if body is not None:
            if "requestBody" in body:
                op["requestBody"] = body["requestBody"]
            else:
                parameters = body["parameters"] + parameters
        if parameters:
            op["parameters"] = parameters
        op.update(responses)
        if not self.v3:
            op["consumes"] = ["*/*"]
            op["produces"] = [_JSON, "application/yaml"]
            if action == "patch":
                op["consumes"] = list(_PATCH_CONTENT_TYPES)
        return op

    def resource_paths(self, rtype: ResourceType) -> dict[str, dict[str, Any]]:
        """The paths and operations of one resource and its subresources."""
        prefix = "/api/" + rtype.version if not rtype.group else f"/apis/{rtype.group}/{rtype.version}"
        tag = f"{(rtype.group.split('.')[0] or 'core')}_{rtype.version}"
        kind_ref = schema_name(rtype.cls)
        gvk = (rtype.group, rtype.version, rtype.kind)
        ns = rtype.namespaced
        common = [_query("pretty")]
        ns_param = [_path_param("namespace", "namespace of the objects")] if ns else []
        name_param = [_path_param("name", f"name of the {rtype.kind}")]
        collection = f"{prefix}/namespaces/{{namespace}}/{rtype.plural}" if ns else f"{prefix}/{rtype.plural}"
        item = f"{collection}/{{name}}"
        paths: dict[str, dict[str, Any]] = {}

        paths[collection] = {
            "parameters": self.params(ns_param + common),
            "get": self.operation(
                action="list", operation_id=_operation_id("list", rtype, ns), tag=tag, gvk=gvk,
                description=f"list or watch objects of kind {rtype.kind}", params=_LIST_PARAMS,
                responses=self.responses(kind_ref + "List"),
            ),
            "post": self.operation(
                action="post", operation_id=_operation_id("create", rtype, ns), tag=tag, gvk=gvk,
                description=f"create a {rtype.kind}", params=_WRITE_PARAMS, body=self.body(kind_ref),
                responses=self.responses(kind_ref, ("200", "201", "202")),
            ),
            "delete": self.operation(
                action="deletecollection", operation_id=_operation_id("deletecollection", rtype, ns),
                tag=tag, gvk=gvk, description=f"delete collection of {rtype.kind}",
                params=_DELETE_PARAMS + _LIST_PARAMS, responses=self.responses(_META + "Status"),
            ),
        }
        if ns:
            paths[f"{prefix}/{rtype.plural}"] = {
                "parameters": self.params(common),
                "get": self.operation(
                    action="list", operation_id=_operation_id("list", rtype, False, "ForAllNamespaces"),
                    tag=tag, gvk=gvk, description=f"list or watch objects of kind {rtype.kind}",
                    params=_LIST_PARAMS, responses=self.responses(kind_ref + "List"),
                ),
            }
        paths[item] = {
            "parameters": self.params(name_param + ns_param + common),
            "get": self.operation(
                action="get", operation_id=_operation_id("read", rtype, ns), tag=tag, gvk=gvk,
                description=f"read the specified {rtype.kind}", responses=self.responses(kind_ref),
            ),
            "put": self.operation(
                action="put", operation_id=_operation_id("replace", rtype, ns), tag=tag, gvk=gvk,
                description=f"replace the specified {rtype.kind}", params=_WRITE_PARAMS,
                body=self.body(kind_ref), responses=self.responses(kind_ref, ("200", "201")),
            ),
            "patch": self.operation(
                action="patch", operation_id=_operation_id("patch", rtype, ns), tag=tag, gvk=gvk,
                description=f"partially update the specified {rtype.kind}", params=_WRITE_PARAMS,
                body=self.body(_META + "Patch", _PATCH_CONTENT_TYPES),
                responses=self.responses(kind_ref, ("200", "201")),
            ),
            "delete": self.operation(
                action="delete", operation_id=_operation_id("delete", rtype, ns), tag=tag, gvk=gvk,
                description=f"delete a {rtype.kind}", params=_DELETE_PARAMS,
                body=self.body(_META + "DeleteOptions"),
                responses=self.responses(_META + "Status", ("200", "202")),
            ),
        }
        for sub in rtype.subresources:
            paths.update(self._subresource(rtype, sub, item, name_param + ns_param + common, tag))
        return paths

    def _subresource(
        self, rtype: ResourceType, sub: str, item: str, params: list[dict[str, Any]], tag: str
    ) -> dict[str, dict[str, Any]]:
        ns = rtype.namespaced
        suffix = sub.capitalize()
        path = f"{item}/{sub}"
        if sub in ("status", "scale"):
            ref = schema_name(rtype.cls) if sub == "status" else schema_name(autoscaling.Scale)
            gvk = (rtype.group, rtype.version, rtype.kind) if sub == "status" else ("autoscaling", "v1", "Scale")
            what = f"{sub} of the specified {rtype.kind}"
            return {
                path: {
                    "parameters": self.params(params),
                    "get": self.operation(
                        action="get", operation_id=_operation_id("read", rtype, ns, suffix), tag=tag, gvk=gvk,
                        description=f"read {what}", responses=self.responses(ref),
                    ),
                    "put": self.operation(
                        action="put", operation_id=_operation_id("replace", rtype, ns, suffix), tag=tag, gvk=gvk,
                        description=f"replace {what}", params=_WRITE_PARAMS, body=self.body(ref),
                        responses=self.responses(ref, ("200", "201")),
                    ),
                    "patch": self.operation(
                        action="patch", operation_id=_operation_id("patch", rtype, ns, suffix), tag=tag, gvk=gvk,
                        description=f"partially update {what}", params=_WRITE_PARAMS,
                        body=self.body(_META + "Patch", _PATCH_CONTENT_TYPES),
                        responses=self.responses(ref, ("200", "201")),
                    ),
                }
            }
        if sub == "binding":
            binding = "io.k8s.api.core.v1.Binding"
            return {
                path: {
                    "parameters": self.params(params),
                    "post": self.operation(
                        action="post", operation_id=_operation_id("create", rtype, ns, suffix), tag=tag,
                        gvk=("", "v1", "Binding"), description=f"create binding of a {rtype.kind}",
                        params=_WRITE_PARAMS, body=self.body(binding),
                        responses=self.responses(binding, ("200", "201", "202")),
                    ),
                }
            }
        if sub == "log":
            log_params = [
                _query("container"), _query("follow", "boolean"), _query("previous", "boolean"),
                _query("sinceSeconds", "integer"), _query("tailLines", "integer"), _query("timestamps", "boolean"),
                _query("limitBytes", "integer"),
            ]
            return {
                path: {
                    "parameters": self.params(params),
                    "get": self.operation(
                        action="get", operation_id=_operation_id("read", rtype, ns, suffix), tag=tag,
                        gvk=(rtype.group, rtype.version, rtype.kind),
                        description=f"read log of the specified {rtype.kind}",
                        params=log_params, responses=self.responses(None),
                    ),
                }
            }
        if sub == "finalize":
            ref = schema_name(rtype.cls)
            return {
                path: {
                    "parameters": self.params(params),
                    "put": self.operation(
                        action="put", operation_id=_operation_id("replace", rtype, ns, suffix), tag=tag,
                        gvk=(rtype.group, rtype.version, rtype.kind),
                        description=f"replace finalize of the specified {rtype.kind}",
                        params=_WRITE_PARAMS, body=self.body(ref), responses=self.responses(ref, ("200", "201")),
                    ),
                }
            }
        return {}


# --------------------------------------------------------------------------- documents


def _group_versions() -> dict[str, list[ResourceType]]:
    """OpenAPI v3 path ("api/v1", "apis/apps/v1") → the resource types served there."""
    out: dict[str, list[ResourceType]] = {}
    for rtype in registry.resource_types():
        key = f"api/{rtype.version}" if not rtype.group else f"apis/{rtype.group}/{rtype.version}"
        out.setdefault(key, []).append(rtype)
    return out


def _extra_schemas(rtypes: list[ResourceType], ref: str) -> dict[str, dict[str, Any]]:
    """Schemas only subresources refer to (pods/binding's Binding)."""
    out: dict[str, dict[str, Any]] = {}
    if any("binding" in rt.subresources for rt in rtypes):
        out.update(_class_schemas(core.Binding, ref))
        binding = dict(out[schema_name(core.Binding)])
        binding["x-kubernetes-group-version-kind"] = _gvk("", "v1", "Binding")
        out[schema_name(core.Binding)] = binding
    return out


@functools.cache
def _v3_documents() -> dict[str, bytes]:
    documents: dict[str, bytes] = {}
    builder = _Builder(v3=True)
    for key, rtypes in _group_versions().items():
        schemas = _schemas_for(rtypes, _REF_V3)
        for name, schema in _extra_schemas(rtypes, _REF_V3).items():
            schemas.setdefault(name, schema)
        paths: dict[str, Any] = {}
        for rtype in rtypes:
            paths.update(builder.resource_paths(rtype))
        version = rtypes[0].api_version
        document = {
            "openapi": "3.0.0",
            "info": {"title": "Orchestra", "version": version},
            "paths": dict(sorted(paths.items())),
            "components": {"schemas": dict(sorted(schemas.items()))},
        }
        documents[key] = orjson.dumps(document)
    return documents


@functools.cache
def _v3_hashes() -> dict[str, str]:
    return {key: hashlib.sha512(data).hexdigest().upper() for key, data in _v3_documents().items()}


def openapi_v3_index() -> dict:
    """The ``/openapi/v3`` discovery document: each group-version's path and its hashed URL."""
    return {
        "paths": {
            key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"} for key, digest in _v3_hashes().items()
        }
    }


def openapi_v3_document_bytes(path: str) -> bytes | None:
    """The encoded v3 document of ``path`` (``"api/v1"``, ``"apis/apps/v1"``), or None."""
    return _v3_documents().get(path.strip("/"))


def openapi_v3_document(path: str) -> dict | None:
    """The v3 document of one group-version (``"api/v1"``, ``"apis/apps/v1"``), or None."""
    data = openapi_v3_document_bytes(path)
    return None if data is None else orjson.loads(data)


@functools.cache
def _v2_bytes() -> bytes:
    builder = _Builder(v3=False)
    definitions: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for rtypes in _group_versions().values():
        for name, schema in _schemas_for(rtypes, builder.ref).items():
            definitions.setdefault(name, schema)
        for name, schema in _extra_schemas(rtypes, builder.ref).items():
            definitions.setdefault(name, schema)
        for rtype in rtypes:
            paths.update(builder.resource_paths(rtype))
    document = {
        "swagger": "2.0",
        "info": {"title": "Orchestra", "version": "v1"},
        "paths": dict(sorted(paths.items())),
        "definitions": dict(sorted(definitions.items())),
    }
    return orjson.dumps(document)


def openapi_v2() -> dict:
    """The swagger 2.0 document of every served group-version (``/openapi/v2`` as JSON)."""
    return orjson.loads(_v2_bytes())
