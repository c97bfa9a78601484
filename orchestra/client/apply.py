"""Client-side apply, as ``kubectl apply`` does it: last-applied annotation + three-way patch.

The configuration a user applied last is kept on the object in the
``kubectl.kubernetes.io/last-applied-configuration`` annotation. Applying a new
configuration computes a strategic merge patch from three versions of the object:

- ``original``: the last-applied configuration (what the user said before);
- ``modified``: the new configuration (what the user says now);
- ``current``: the live object (what the server has, with everything it added).

Fields set in ``modified`` that differ from ``current`` are set; fields present in
``original`` but gone from ``modified`` are deleted (a map key becomes ``null``, a list
item with a merge key becomes ``{key: value, "$patch": "delete"}``, a primitive item of a
merging list goes to ``$deleteFromPrimitiveList/<field>``). Fields only ``current`` has
(defaults, status, uid…) are left alone. Lists without a merge strategy are replaced
whole when they differ. The merge keys and strategies are those of
:mod:`orchestra.apiserver.mergekeys` (a table of the model, importable without a server).

A merging list that changes also gets kubectl's ``$setElementOrder/<field>`` directive (the
merge keys in the configuration's order), so the live list follows the configuration's order
while items only the server has keep their place.

>>> result = await apply_object(client, manifest)
>>> result.action
'configured'
"""

from __future__ import annotations

import copy
from typing import Any

import attrs
import orjson

from orchestra.api.registry import ResourceType, resource_types
from orchestra.apiserver import mergekeys
from orchestra.client.client import PATCH_CONTENT_TYPES, ApiStatusError, Client, UnknownKindError, resource_path

__all__ = [
    "LAST_APPLIED_ANNOTATION",
    "ApplyResult",
    "three_way_merge_patch",
    "last_applied",
    "with_last_applied",
    "apply_object",
    "kind_of_manifest",
]

LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"

_MISSING = object()


def _merge_meta(cls: type | None, key: str) -> tuple[type | None, mergekeys.PatchMeta | None]:
    """The model class of ``cls.key``'s values (or items) and its patch metadata."""
    info = mergekeys.field_info(cls, key)
    if info is None:
        return None, None
    return info.cls, info.patch


def _diff_map(original: dict, modified: dict, current: dict, cls: type | None) -> dict:
    patch: dict[str, Any] = {}
    for key, new in modified.items():
        live = current.get(key, _MISSING)
        if live is _MISSING:
            patch[key] = copy.deepcopy(new)
            continue
        old = original.get(key)
        child_cls, meta = _merge_meta(cls, key)
        if isinstance(new, dict) and isinstance(live, dict):
            sub = _diff_map(old if isinstance(old, dict) else {}, new, live, child_cls)
            if sub and meta is not None and "retainKeys" in meta.strategy:
                sub["$retainKeys"] = sorted(new)
            if sub:
                patch[key] = sub
        elif isinstance(new, list) and isinstance(live, list) and meta is not None and meta.merges_lists:
            old_list = old if isinstance(old, list) else []
            if meta.merge_key is not None:
                items = _diff_keyed_list(old_list, new, live, child_cls, meta.merge_key)
                if items is None:  # an item lacks its merge key: the server names the bad item
                    if new != live:
                        patch[key] = copy.deepcopy(new)
                elif items:
                    patch[f"$setElementOrder/{key}"] = [{meta.merge_key: item[meta.merge_key]} for item in new]
                    patch[key] = items
            else:
                additions = [item for item in new if item not in live]
                removed = [item for item in old_list if item not in new and item in live]
                if additions or removed:
                    patch[f"$setElementOrder/{key}"] = copy.deepcopy(new)
                if additions:
                    patch[key] = copy.deepcopy(new)
                if removed:
                    patch[f"$deleteFromPrimitiveList/{key}"] = removed
        elif new != live:
            patch[key] = copy.deepcopy(new)
    for key in original:
        if key not in modified and key in current:
            patch[key] = None
    return patch


def _keyed(items: list, merge_key: str) -> dict[Any, dict] | None:
    out: dict[Any, dict] = {}
    for item in items:
        if not isinstance(item, dict) or merge_key not in item:
            return None
        out[_hashable(item[merge_key])] = item
    return out


def _hashable(value: Any) -> Any:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS) if isinstance(value, (dict, list)) else value


def _diff_keyed_list(original: list, modified: list, current: list, cls: type | None,
                     merge_key: str) -> list | None:
    """The patch items of a list merged by ``merge_key``; None when an item lacks the key."""
    new_items, live_items = _keyed(modified, merge_key), _keyed(current, merge_key)
    if new_items is None or live_items is None:
        return None
    old_items = _keyed(original, merge_key) or {}
    items: list[dict] = []
    for key, new in new_items.items():
        live = live_items.get(key)
        if live is None:
            items.append(copy.deepcopy(new))
            continue
        sub = _diff_map(old_items.get(key, {}), new, live, cls)
        if sub:
            items.append({merge_key: new[merge_key], **sub})
    for key, old in old_items.items():
        if key not in new_items and key in live_items:
            items.append({merge_key: old[merge_key], "$patch": "delete"})
    return items


def three_way_merge_patch(original: dict | None, modified: dict, current: dict,
                          cls: type | None = None) -> dict:
    """The strategic merge patch that takes ``current`` to ``modified``, deleting what ``original``
    had and ``modified`` dropped; ``{}`` when nothing changes.

    ``cls`` is the model class of the object's kind (for merge keys); with ``None`` every
    list is replaced whole. None of the arguments is modified.
    """
    return _diff_map(original or {}, modified, current, cls)


def last_applied(obj: dict) -> dict | None:
    """The last-applied configuration stored on ``obj``, or None when absent or unreadable."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(LAST_APPLIED_ANNOTATION)
    if not text:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def with_last_applied(config: dict) -> dict:
    """A copy of ``config`` carrying itself (without that annotation) in the last-applied annotation.

    The annotation's text is what kubectl writes — compact JSON with sorted keys, an
    ``annotations`` map even when empty, a final newline — so kubectl and Orchestra can take
    turns applying the same manifest without reporting spurious changes.
    """
    modified = copy.deepcopy(config)
    metadata = modified.setdefault("metadata", {})
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop(LAST_APPLIED_ANNOTATION, None)
    bare = copy.deepcopy(modified)
    bare["metadata"]["annotations"] = dict(annotations)  # kubectl keeps an empty map: same bytes as kubectl
    annotations[LAST_APPLIED_ANNOTATION] = orjson.dumps(bare, option=orjson.OPT_SORT_KEYS).decode() + "\n"
    metadata["annotations"] = annotations
    return modified


def kind_of_manifest(config: dict) -> ResourceType:
    """The served resource type of a manifest's ``apiVersion`` and ``kind``."""
    api_version, kind = config.get("apiVersion"), config.get("kind")
    if not api_version or not kind:
        raise UnknownKindError("the object has no apiVersion or kind")
    for rt in resource_types():
        if rt.kind == kind and rt.api_version == api_version:
            return rt
    raise UnknownKindError(f'no matches for kind "{kind}" in version "{api_version}"')


@attrs.frozen
class ApplyResult:
    """What applying one object did: ``action`` is ``created``, ``configured`` or ``unchanged``;
    ``warning`` says when the live object had no last-applied configuration (nothing could be
    pruned, as kubectl warns)."""

    rtype: ResourceType
    action: str
    object: dict
    warning: str | None = None


async def apply_object(client: Client, config: dict, *, namespace: str | None = None,
                       dry_run: bool = False) -> ApplyResult:
    """Create ``config`` with the last-applied annotation, or patch the live object to it.

    The object's namespace is ``metadata.namespace``, else ``namespace``, else ``default``
    (namespaced kinds). A ``metadata.namespace`` that differs from an explicit ``namespace``
    raises ``ValueError``, as kubectl refuses it. Server errors raise :class:`ApiStatusError`.
    """
    rtype = kind_of_manifest(config)
    config = copy.deepcopy(config)
    metadata = config.setdefault("metadata", {})
    if not isinstance(metadata, dict) or not metadata.get("name"):
        raise ValueError("the object has no metadata.name (apply needs a name)")
    if rtype.namespaced:
        own = metadata.get("namespace")
        if own and namespace and own != namespace:
            raise ValueError(f"the namespace from the provided object {own!r} does not match the namespace "
                             f"{namespace!r}. You must pass '--namespace={own}' to perform this operation.")
        metadata["namespace"] = own or namespace or "default"
    else:
        metadata.pop("namespace", None)
    name, ns = metadata["name"], metadata.get("namespace")
    modified = with_last_applied(config)
    try:
        current = await client.get(rtype, name, namespace=ns, raw=True)
    except ApiStatusError as exc:
        if exc.code != 404:
            raise
        created = await client.create(modified, namespace=ns, dry_run=dry_run, raw=True)
        return ApplyResult(rtype, "created", created)
    original = last_applied(current)
    warning = None if original is not None else (
        f"resource {rtype.plural}/{name} is missing the {LAST_APPLIED_ANNOTATION} annotation which is "
        "required by apply; it has been added now, so later applies can remove fields")
    patch = three_way_merge_patch(original, modified, current, rtype.cls)
    if not patch:
        return ApplyResult(rtype, "unchanged", current, warning)
    query = {"dryRun": "All"} if dry_run else None
    patched = await client.request_json("PATCH", resource_path(rtype, ns, name), query=query, body=patch,
                                        content_type=PATCH_CONTENT_TYPES["strategic"])
    return ApplyResult(rtype, "configured", patched, warning)
