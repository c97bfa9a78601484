"""The generic REST storage: one :class:`ResourceStorage` per resource type, over the store.

Objects live under ``/registry/<resource>/<namespace>/<name>`` (cluster-scoped:
``/registry/<resource>/<name>``) as their JSON without ``metadata.resourceVersion``,
which is the key's mod revision and is filled in on every read.

Writes follow Kubernetes' generic registry: decode → defaults → mutating
admission → validation (422, one cause per field) → validating admission → one
store transaction guarded on the key's revision. Per-kind rules come from
:mod:`orchestra.apiserver.strategy`; admission from :mod:`orchestra.apiserver.admission`.
``pods/binding`` is lighter, as Kubernetes' BindingREST: the Binding is validated on its
own and the pod only gets its node, the binding's annotations and the PodScheduled
condition (the full pipeline runs only for the admission hooks of plugins, when any).

Reads: ``resourceVersion`` unset or ``""`` is a consistent read: a list without
``limit`` answers from the watch cache once the cache has caught up with the store's
current revision (as Kubernetes' consistent reads from cache), a get or a paged list
reads the store; ``"0"`` answers from the watch cache; ``N`` with ``NotOlderThan`` waits until the store
is at ``N``; ``N`` with ``Exact`` (or a ``limit`` without a match rule) reads the
store at revision ``N`` (410 once compacted). ``limit``/``continue`` page through
the store at one pinned revision with an opaque continue token. A kind whose cache
is not running (Events until first watched) answers every read from the store.

Watches come from the :class:`~orchestra.apiserver.watchcache.WatchCache`; the
first watch of a kind whose cache is not running starts it.

**Field validation.** Orchestra keeps fields its model does not know (they
round-trip), so this storage never rejects a field for being unknown, whatever
``RequestContext.field_validation`` says: a manifest applied with kubectl's
default ``--validate=strict`` and an unmodelled field is stored as sent. The only
rejection ``Strict`` can make without a closed schema — duplicate fields in the
raw body — needs the undecoded bytes and is the decoding layer's (the handlers')
to make; ``field_validation`` is carried here for admission plugins to read.
"""

from __future__ import annotations

import base64
import binascii
import copy
import contextlib
from typing import Any, AsyncGenerator, AsyncIterator, Awaitable, Callable

import attrs
import orjson

from orchestra._ext.codec import copy_json, is_string_map
from orchestra.api import core
from orchestra.api.codec import decode, decode_as, encode, redecode_fields
from orchestra.api.defaults import apply_defaults, has_defaults
from orchestra.api.errors import DecodeError, FieldError
from orchestra.api.registry import ResourceType
from orchestra.api.selectors import FieldSelector, LabelSelector, SelectorError
from orchestra.api.names import (
    dns1123_label_ok,
    dns1123_subdomain_ok,
    is_dns1123_label,
    is_dns1123_subdomain,
    validate_annotations,
)
from orchestra.api.timestamps import now_rfc3339
from orchestra.api.validation import matches_shape, name_errors, validate, validate_status
from orchestra.apiserver.admission import CREATE, DELETE, UPDATE, Admission, AdmissionRequest
from orchestra.apiserver.errors import (
    AlreadyExists,
    APIError,
    BadRequest,
    Conflict,
    Gone,
    Invalid,
    NotFound,
    status_object,
)
from orchestra.apiserver.expiry import ExpiryLeases
from orchestra.apiserver.mergekeys import plain_shape
from orchestra.apiserver.patch import apply_patch, parse_patch, patch_in_place, patch_type_of, touches_status_only
from orchestra.apiserver.request import UserInfo
from orchestra.apiserver.strategy import (
    FOREGROUND_FINALIZER,
    NAMESPACE_FINALIZER,
    ORPHAN_FINALIZER,
    Strategy,
    generate_name,
)
from orchestra.apiserver.watchcache import TooLargeResourceVersion, WatchCache, WatchEvent, error_event
from orchestra.records import maker
from orchestra.store import CompactedError, FutureRevisionError, LeaseNotFoundError, Store, prefix_end

__all__ = ["RequestContext", "ListOptions", "WatchEvent", "WatchStream", "ResourceStorage", "GENERATE_NAME_ATTEMPTS"]

#: How often a create with ``generateName`` tries a fresh name after a collision.
GENERATE_NAME_ATTEMPTS = 8

#: Metadata ``Strategy.prepare_for_create`` sets or drops.
_SERVER_SET_METADATA = frozenset(
    {"uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "selfLink",
     "generation"}
)
_CONFLICT_MESSAGE = "the object has been modified; please apply your changes to the latest version and try again"
_CONTINUE_VERSION = "meta.k8s.io/v1"
_PROPAGATION_POLICIES = ("Foreground", "Background", "Orphan")
_RV_MATCHES = ("Exact", "NotOlderThan")
#: Makes an AdmissionRequest from its nine fields, slot by slot (every admitted write makes one).
_admission_request = maker(AdmissionRequest)


@attrs.frozen
class RequestContext:
    """Who is asking and how: the user, dry run, field manager, field validation level."""

    user: UserInfo
    dry_run: bool = False
    field_manager: str | None = None
    field_validation: str = "Ignore"


@attrs.frozen
class ListOptions:
    """The query of a list, watch or deletecollection."""

    label_selector: LabelSelector = attrs.field(factory=LabelSelector.everything)
    field_selector: FieldSelector = attrs.field(factory=FieldSelector.everything)
    limit: int = 0
    continue_token: str | None = None
    resource_version: str | None = None
    resource_version_match: str | None = None
    allow_watch_bookmarks: bool = False
    send_initial_events: bool | None = None
    timeout_seconds: int | None = None


def _json(obj: dict) -> bytes:
    """``obj`` as JSON; 400 for what JSON cannot hold (e.g. nesting too deep)."""
    try:
        return orjson.dumps(obj)
    except TypeError as exc:
        raise BadRequest(f"the object cannot be encoded as JSON: {exc}") from None


def _serialize(obj: dict) -> bytes:
    """``obj`` as the JSON bytes the store keeps, in a bytes object of their own size.

    orjson answers in the buffer it grew while writing, several times the JSON's size (8 KiB
    for a 600-byte Event, 16 KiB for a 1.5 KiB pod, orjson 3.10 to 3.13). The store and the
    watch cache keep these bytes for the object's life: kept as they come, they would take
    several times the memory, and each write would touch fresh pages. (Joining them with
    nothing copies them into a new object of their size at less than half the cost of
    ``bytes(memoryview(...))``.)
    """
    return b"".join((_json(obj), b""))


def _copy(obj: dict) -> dict:
    return orjson.loads(_json(obj))


def _without_rv(obj: dict) -> dict:
    meta = obj.get("metadata")
    if meta and "resourceVersion" in meta:
        obj = dict(obj)
        meta = dict(meta)
        del meta["resourceVersion"]
        obj["metadata"] = meta
    return obj


def _parse_rv(value: str, what: str = "resourceVersion") -> int:
    try:
        revision = int(value)
    except ValueError:
        raise BadRequest(f'invalid {what}: "{value}" is not an integer') from None
    if revision < 0:
        raise BadRequest(f'invalid {what}: "{value}" is negative')
    return revision


def _all_finalizers(obj: dict) -> list[str]:
    """metadata.finalizers, plus spec.finalizers of a namespace."""
    finalizers = list((obj.get("metadata") or {}).get("finalizers") or ())
    if obj.get("kind") == "Namespace":
        finalizers += list((obj.get("spec") or {}).get("finalizers") or ())
    return finalizers


class ResourceStorage:
    """The REST verbs of one resource type over the store and its watch cache.

    Dicts passed in are not changed. Dicts returned from the watch cache
    (``resourceVersion="0"`` reads, watch events) are shared: do not mutate them.
    With ``ttl`` (seconds, Events' ``--event-ttl``), every write attaches the object to a
    lease from ``expiry``, so the store deletes it ``ttl`` seconds after its last change.
    """

    def __init__(
        self,
        rtype: ResourceType,
        store: Store,
        cache: WatchCache,
        admission: Admission,
        strategy: Strategy,
        *,
        ttl: int = 0,
        expiry: ExpiryLeases | None = None,
    ) -> None:
        if ttl and expiry is None:
            raise ValueError(f"{rtype.plural}: a ttl needs the ExpiryLeases its leases come from")
        self.rtype = rtype
        self.store = store
        self.cache = cache
        self.admission = admission
        self.strategy = strategy
        self.ttl = ttl
        self._expiry = expiry
        self._prefix = f"/registry/{rtype.plural}/"
        self._resource_name = f"{rtype.plural}.{rtype.group}" if rtype.group else rtype.plural
        self._kind_name = f"{rtype.kind}.{rtype.group}" if rtype.group else rtype.kind
        self._api_version = rtype.api_version
        self._kind = rtype.kind
        self._prepares_metadata_only = strategy.prepares_metadata_only
        if strategy.plain_create is not None and has_defaults(rtype.cls):
            raise ValueError(f"{rtype.plural}: a kind with defaults cannot store plain objects as they come")
        self._plain_create = strategy.plain_create
        self._field_labels = strategy.field_labels()
        #: The shape of a status :meth:`_patch_status_alone` stores without decoding (worked out
        #: here, not on the first patch, which would otherwise pay for it).
        self._plain_status = plain_shape(strategy.status_model) if strategy.status_model is not None else None

    # -- keys and errors -----------------------------------------------------------------

    def key(self, namespace: str | None, name: str) -> bytes:
        """The store key of one object."""
        if self.rtype.namespaced:
            if not namespace:
                raise BadRequest(f"{self.rtype.plural} are namespaced: a namespace is required")
            return f"{self._prefix}{namespace}/{name}".encode()
        return f"{self._prefix}{name}".encode()

    def _list_prefix(self, namespace: str | None) -> bytes:
        if self.rtype.namespaced and namespace:
            return f"{self._prefix}{namespace}/".encode()
        return self._prefix.encode()

    def _not_found(self, name: str) -> NotFound:
        return NotFound(
            f'{self._resource_name} "{name}" not found', kind=self.rtype.plural, name=name, group=self.rtype.group
        )

    def _conflict(self, name: str, detail: str = _CONFLICT_MESSAGE, resource: str | None = None) -> Conflict:
        return Conflict(
            f'Operation cannot be fulfilled on {resource or self._resource_name} "{name}": {detail}',
            kind=self.rtype.plural,
            name=name,
            group=self.rtype.group,
        )

    def _invalid(self, name: str, errors: list[FieldError]) -> Invalid:
        exc = Invalid.from_field_errors(self.rtype.kind, name, errors, group=self.rtype.group)
        exc.message = f'{self._kind_name} "{name}" is invalid: ' + ", ".join(str(e) for e in errors)
        exc.args = (exc.message,)
        return exc

    @staticmethod
    def _load(kv: Any) -> dict:
        obj = orjson.loads(kv.value)
        obj.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
        return obj

    # -- reads -----------------------------------------------------------------------------

    async def get(self, namespace: str | None, name: str, *, resource_version: str | None = None) -> dict:
        """One object (a shared dict: do not mutate it); ``resource_version="0"`` may answer from the cache.

        Other reads go to the store; when the watch cache already holds the object at the
        store's mod revision, that decoded copy is returned instead of decoding the value again.
        """
        key = self.key(namespace, name)
        if resource_version == "0" and self.cache.running:
            obj = self.cache.get(key)
            if obj is None:
                raise self._not_found(name)
            return obj
        if resource_version:
            await self._ensure_not_older_than(_parse_rv(resource_version))
        kv = await self.store.get(key)
        if kv is None:
            raise self._not_found(name)
        return self._shared_load(key, kv)

    async def _stored(self, key: bytes, name: str) -> tuple[dict, int]:
        """The store's current object under ``key`` (shared: never mutate it) and its revision;
        404 when there is none. The trusted try of a write that starts from the watch cache's
        copy (the light binding, ``/status`` patch and delete)."""
        kv = await self.store.get(key)
        if kv is None:
            raise self._not_found(name)
        return self._shared_load(key, kv), kv.mod_revision

    def _shared_load(self, key: bytes, kv: Any) -> dict:
        """``kv`` decoded: the watch cache's copy (shared: never mutate it) when it holds that revision,
        or the object a write of exactly these bytes handed to the cache before its event arrived."""
        revision = str(kv.mod_revision)
        cached = self.cache.get(key)
        if cached is not None and cached["metadata"]["resourceVersion"] == revision:
            return cached
        pending = self.cache.expected(key)
        if pending is not None and pending[1]["metadata"].get("resourceVersion") == revision and pending[0] == kv.value:
            return pending[1]
        return self._load(kv)

    async def _ensure_not_older_than(self, revision: int) -> None:
        current = await self.store.current_revision()
        if revision > current:
            raise TooLargeResourceVersion(
                f"Too large resource version: {revision}, current: {current}", retry_after=1
            )

    def _check_field_selector(self, selector: FieldSelector) -> None:
        for field in selector.fields():
            if field not in self._field_labels:
                raise BadRequest(f'field label not supported: {field}')

    def _matcher(self, opts: ListOptions) -> Callable[[dict], bool] | None:
        labels, fields = opts.label_selector, opts.field_selector
        if labels.empty and fields.empty:
            return None
        field_set = self.strategy.field_set

        def matches(obj: dict) -> bool:
            if not labels.matches((obj.get("metadata") or {}).get("labels")):
                return False
            if fields.empty:
                return True
            values = field_set(obj)
            for r in fields.requirements:
                if (values.get(r.field, "") == r.value) != (r.operator == "="):
                    return False
            return True

        return matches

    def _validate_list_options(self, opts: ListOptions, *, watch: bool) -> None:
        errors: list[FieldError] = []
        match = opts.resource_version_match
        if match is not None and match not in _RV_MATCHES:
            errors.append(FieldError.not_supported("resourceVersionMatch", match, list(_RV_MATCHES)))
        if watch:
            if opts.send_initial_events is not None:
                if match != "NotOlderThan":
                    errors.append(
                        FieldError.forbidden(
                            "resourceVersionMatch",
                            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                        )
                    )
                if not opts.allow_watch_bookmarks:
                    errors.append(
                        FieldError.required(
                            "allowWatchBookmarks", "sendInitialEvents requires setting allowWatchBookmarks to true"
                        )
                    )
            elif match is not None:
                errors.append(
                    FieldError.forbidden(
                        "resourceVersionMatch",
                        "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                    )
                )
        else:
            if opts.send_initial_events is not None:
                errors.append(FieldError.forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"))
            if match is not None and not opts.resource_version:
                errors.append(
                    FieldError.forbidden(
                        "resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided"
                    )
                )
            if match is not None and opts.continue_token:
                errors.append(
                    FieldError.forbidden(
                        "resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"
                    )
                )
            if match == "Exact" and opts.resource_version == "0":
                errors.append(
                    FieldError.forbidden(
                        "resourceVersionMatch", 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'
                    )
                )
        if errors:
            exc = Invalid.from_field_errors("ListOptions", "", errors, group="meta.k8s.io")
            exc.message = 'ListOptions.meta.k8s.io "" is invalid: ' + ", ".join(str(e) for e in errors)
            exc.args = (exc.message,)
            raise exc
        if opts.limit < 0:
            raise BadRequest(f"limit must not be negative, got {opts.limit}")
        self._check_field_selector(opts.field_selector)

    def _list_object(
        self, items: list[dict], revision: int, continue_token: str = "", remaining: int | None = None
    ) -> dict:
        meta: dict[str, Any] = {"resourceVersion": str(revision)}
        if continue_token:
            meta["continue"] = continue_token
        if remaining is not None:
            meta["remainingItemCount"] = remaining
        return {"kind": self.rtype.list_kind, "apiVersion": self.rtype.api_version, "metadata": meta, "items": items}

    async def list(self, namespace: str | None, opts: ListOptions) -> dict:
        """The ``<Kind>List`` of the matching objects (see the module docs for resourceVersion rules)."""
        self._validate_list_options(opts, watch=False)
        rv, match = opts.resource_version, opts.resource_version_match
        prefix = self._list_prefix(namespace)
        if opts.continue_token:
            if rv:
                raise BadRequest("specifying resource version is not allowed when using continue")
            revision, start = self._decode_continue(opts.continue_token, prefix)
            return await self._list_store(prefix, start, revision, opts, continued=True)
        cached = self.cache.running  # else (Events nobody watches) every list reads the store
        if not rv:
            # A consistent read: from the watch cache once it has seen the store's current
            # revision (no value decoded again), else from the store itself.
            if (cached and opts.limit <= 0
                    and await self.cache.wait_for_revision(await self.store.current_revision())):
                return self._list_cache(namespace, opts)
            return await self._list_store(prefix, prefix, 0, opts)
        if rv == "0" and match != "Exact":
            if cached:
                return self._list_cache(namespace, opts)
            return await self._list_store(prefix, prefix, 0, opts)
        revision = _parse_rv(rv)
        if match == "Exact" or (match is None and opts.limit > 0):
            return await self._list_store(prefix, prefix, revision, opts)
        await self._ensure_not_older_than(revision)
        if opts.limit > 0 or not cached:
            return await self._list_store(prefix, prefix, 0, opts)
        await self.cache.wait_not_older_than(revision)
        return self._list_cache(namespace, opts)

    def _list_cache(self, namespace: str | None, opts: ListOptions) -> dict:
        matches = self._matcher(opts)
        revision = self.cache.revision
        items = self.cache.snapshot(namespace)
        if matches is not None:
            items = [obj for obj in items if matches(obj)]
        return self._list_object(items, revision)

    async def _list_store(
        self, prefix: bytes, start: bytes, revision: int, opts: ListOptions, *, continued: bool = False
    ) -> dict:
        end = prefix_end(prefix)
        matches = self._matcher(opts)
        limit = opts.limit
        items: list[dict] = []
        token, remaining = "", None
        while True:
            try:
                result = await self.store.range(start, end, limit=limit, revision=revision)
            except CompactedError:
                if continued:
                    raise Gone(
                        "The provided continue parameter is too old to display a consistent list result. "
                        "You can start a new list without the continue parameter."
                    ) from None
                raise Gone("The resourceVersion for the provided list is too old.") from None
            except FutureRevisionError as exc:
                raise TooLargeResourceVersion(
                    f"Too large resource version: {revision}, current: {exc.current_revision}", retry_after=1
                ) from None
            if revision == 0:
                revision = result.revision
            kvs = result.kvs
            for i, kv in enumerate(kvs):
                obj = self._load(kv)
                if matches is None or matches(obj):
                    items.append(obj)
                    if limit and len(items) >= limit:
                        if i + 1 < len(kvs) or result.more:
                            token = self._encode_continue(revision, kv.key + b"\0", prefix)
                            if matches is None:
                                remaining = result.count - (i + 1)
                        return self._list_object(items, revision, token, remaining)
            if not limit or not result.more or not kvs:
                return self._list_object(items, revision)
            start = kvs[-1].key + b"\0"

    @staticmethod
    def _encode_continue(revision: int, start: bytes, prefix: bytes) -> str:
        relative = start[len(prefix):].decode("utf-8", "surrogateescape")
        token = orjson.dumps({"v": _CONTINUE_VERSION, "rv": revision, "start": relative})
        return base64.b64encode(token).decode()

    @staticmethod
    def _decode_continue(token: str, prefix: bytes) -> tuple[int, bytes]:
        try:
            data = orjson.loads(base64.b64decode(token.encode(), validate=True))
        except (binascii.Error, ValueError, orjson.JSONDecodeError):
            raise BadRequest("continue key is not valid: not a base64-encoded JSON token") from None
        if not isinstance(data, dict) or data.get("v") != _CONTINUE_VERSION:
            raise BadRequest(
                f"continue key is not valid: incorrect encoded start resourceVersion (version {_CONTINUE_VERSION})"
            )
        revision, start = data.get("rv"), data.get("start")
        if type(revision) is not int or revision <= 0 or not isinstance(start, str) or not start:
            raise BadRequest("continue key is not valid: incorrect encoded start resourceVersion")
        if start.startswith("/") or ".." in start.split("/"):
            raise BadRequest("continue key is not valid: the start key may not go outside the list's prefix")
        return revision, prefix + start.encode("utf-8", "surrogateescape")

    # -- watch -------------------------------------------------------------------------------

    def watch(self, namespace: str | None, opts: ListOptions) -> "WatchStream":
        """A stream of watch events; bad options raise here, an expired start is an ERROR event."""
        self._validate_list_options(opts, watch=True)
        if opts.resource_version not in (None, "", "0"):
            _parse_rv(opts.resource_version)
        return WatchStream(lambda batched: self._open_watch(namespace or None, opts, batched))

    async def _open_watch(self, namespace: str | None, opts: ListOptions,
                          batched: bool = False) -> AsyncIterator[Any]:
        """Open the cache watcher ``opts`` ask for; its stream of events, or of lists of events
        when ``batched`` (APIError when it cannot start)."""
        cache = self.cache
        rv, initial_events = opts.resource_version, opts.send_initial_events
        revision = None if rv in (None, "", "0") else int(rv)  # type: ignore[arg-type]
        if not cache.running:
            # The first watch of a kind cached on demand: the cache starts where the watch does.
            await cache.start(revision or 0)
        labels, fields = opts.label_selector, opts.field_selector
        if initial_events is True:
            if revision is not None:
                await cache.wait_not_older_than(revision)
            elif rv != "0":
                await cache.wait_fresh()
            watcher = cache.open_watcher(namespace, labels, fields, initial=True, since=None)
        elif revision is not None:
            await cache.wait_not_older_than(revision)
            watcher = cache.open_watcher(namespace, labels, fields, initial=False, since=revision)
        elif initial_events is False:
            watcher = cache.open_watcher(namespace, labels, fields, initial=False, since=None)
        else:
            if rv != "0":
                await cache.wait_fresh()
            watcher = cache.open_watcher(namespace, labels, fields, initial=True, since=None)
        return (cache.batches if batched else cache.stream)(
            watcher,
            api_version=self.rtype.api_version,
            kind=self.rtype.kind,
            bookmarks=opts.allow_watch_bookmarks,
            initial_events_end=initial_events is True,
            timeout_seconds=opts.timeout_seconds,
        )

    # -- the write pipeline --------------------------------------------------------------

    def _check_type(self, obj: dict, *, decoded: bool = True) -> Any:
        """Check (and fill in) apiVersion, kind and metadata; the decoded model, 400 when a field is mistyped.

        With ``decoded=False`` only the checks run (None is returned).
        """
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version is None:
            obj["apiVersion"] = self._api_version
        elif api_version != self._api_version:
            raise BadRequest(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({self._api_version})"
            )
        if kind is None:
            obj["kind"] = self.rtype.kind
        elif kind != self.rtype.kind:
            raise BadRequest(f"the object provided is unrecognized (must be of type {self.rtype.kind}): kind {kind!r}")
        meta = obj.get("metadata")
        if meta is None:
            obj["metadata"] = {}
        elif not isinstance(meta, dict):
            raise BadRequest("metadata: expected object")
        if not decoded:
            return None
        # Decode before the strategy's hooks run on the wire dict, as Kubernetes decodes first:
        # the hooks may then rely on every modelled field having its type (a "spec": 5 is a 400).
        return self._decode(obj)

    def _decode(self, obj: dict) -> Any:
        """``obj`` decoded (its ``apiVersion`` and ``kind`` name the class); 400 naming a mistyped field."""
        try:
            return self._decode_unchecked(obj)
        except DecodeError as exc:
            raise self._cannot_handle(exc) from None

    def _decode_unchecked(self, obj: dict) -> Any:
        """:func:`decode`, straight to this resource's class when ``obj`` is of its kind (most
        are: the write pipeline checks it first), without looking the class up by name."""
        if obj.get("kind") == self._kind and obj.get("apiVersion") == self._api_version:
            return decode_as(self.rtype.cls, obj)
        return decode(obj)

    def _cannot_handle(self, exc: DecodeError) -> BadRequest:
        return BadRequest(f"{self.rtype.kind} in version \"{self.rtype.version}\" cannot be handled as a "
                          f"{self.rtype.kind}: {exc}")

    def _check_namespace(self, obj: dict, namespace: str | None) -> None:
        meta = obj["metadata"]
        if not self.rtype.namespaced:
            meta.pop("namespace", None)
            return
        body_namespace = meta.get("namespace")
        if body_namespace and body_namespace != namespace:
            raise BadRequest("the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = namespace

    async def _admit(
        self,
        operation: str,
        namespace: str | None,
        name: str,
        obj: dict,
        old: dict | None,
        ctx: RequestContext,
        subresource: str | None,
        *,
        check_update: bool = True,
        model: Any = None,
    ) -> dict:
        """decode → defaults → mutating admission → validation → validating admission; the wire result.

        ``model``, when given, is ``obj`` decoded already (it is not decoded again).
        """
        if model is None:
            model = self._decode(obj)
        apply_defaults(model)
        old_model = None
        if old is not None and self.admission.has_plugins:
            old_model = self._decode_unchecked(old)
        request = _admission_request(
            operation,
            self.rtype,
            namespace,
            name,
            model,
            old_model,
            ctx.user,
            ctx.dry_run,
            subresource,
        )
        pending = self.admission.mutate(request)
        if pending is not None:
            await pending
        # A /status update keeps the rest of the stored object, valid when written: only its
        # status is checked, unless admission plugins (which may change anything) ran.
        check = validate_status if subresource == "status" and not self.admission.has_plugins else validate
        try:
            errors = check(model)
        except TypeError:
            errors = []
        result = encode(model)
        if old is not None and check_update:
            errors += self.strategy.validate_update(result, old)
        if errors:
            raise self._invalid(name, errors)
        pending = self.admission.validate(request)
        if pending is not None:
            await pending
        return result

    async def _admit_plain(self, namespace: str | None, name: str, ctx: RequestContext) -> None:
        """The built-in admission of a plain create (:attr:`Strategy.plain_create`), which
        decides on the request's names alone, when :meth:`Admission.admits_plain_create` cannot
        tell at once. Mutation has nothing to do: no plugin is registered (the caller checked)
        and the built-in mutations change decoded objects."""
        request = _admission_request(CREATE, self.rtype, namespace, name, None, None, ctx.user, ctx.dry_run, None)
        pending = self.admission.validate(request, plugins=False)
        if pending is not None:
            await pending

    def _put(self, key: bytes, value: bytes, mod_revision: int) -> Awaitable[int]:
        """The store write of one object if its key is at ``mod_revision`` (0: absent); the write's
        revision, or 0 when the key had moved on. A kind with a TTL puts it on an expiring lease."""
        if self.ttl:
            return self._put_expiring(key, value, mod_revision)
        return self.store.put_if_revision(key, value, mod_revision)

    async def _put_expiring(self, key: bytes, value: bytes, mod_revision: int) -> int:
        """:meth:`_put` of an object with a time to live: attached to a lease that ends ``ttl``
        seconds from now. A lease the store no longer has (revoked by hand) is replaced once."""
        expiry = self._expiry
        assert expiry is not None
        try:
            lease = expiry.reusable(self.ttl) or await expiry.grant(self.ttl)
            return await self.store.put_if_revision(key, value, mod_revision, lease=lease)
        except LeaseNotFoundError:
            expiry.forget()
        return await self.store.put_if_revision(key, value, mod_revision, lease=await expiry.grant(self.ttl))

    # -- create --------------------------------------------------------------------------

    async def create(self, namespace: str | None, body: dict, ctx: RequestContext, *, owned: bool = False) -> dict:
        """Create an object; 409 AlreadyExists when the name is taken, 422 when invalid.

        ``owned``: the caller hands ``body`` over (a freshly decoded request body), so it is
        worked on in place instead of copied first, and only reads the returned object
        (which the watch cache may then share).
        """
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        obj = body if owned else _copy(body)
        self._check_type(obj, decoded=False)
        meta = obj["metadata"]
        if self._prepares_before_decoding(meta, namespace):
            # Nothing the strategy sets can be mistyped in this body: set it, then decode once.
            self._check_namespace(obj, namespace)
            self.strategy.prepare_for_create(obj)
            plain = self._plain_create
            if plain is not None and owned and not self.admission.has_plugins and plain(obj):
                created = await self._create_once(namespace, obj, ctx, prepared=True, share=True, plain=True)
            else:
                created = await self._create_once(namespace, obj, ctx, model=self._decode(obj), prepared=True,
                                                  share=owned)
            if created is not None:
                return created
        else:
            model = self._decode(obj)
            self._check_namespace(obj, namespace)
            base = meta.get("generateName") if not meta.get("name") else None
            for number in range(GENERATE_NAME_ATTEMPTS if base else 1):
                attempt = copy.deepcopy(obj) if base else obj
                if base:
                    attempt["metadata"]["name"] = generate_name(base)
                # Defaults and admission change the model in place: only the first attempt may reuse it.
                created = await self._create_once(
                    namespace, attempt, ctx, model=model if number == 0 else None, share=owned
                )
                if created is not None:
                    return created
            if base:
                raise AlreadyExists(
                    f'{self._resource_name} "{base}" already exists: no unique name could be generated, try again',
                    kind=self.rtype.plural,
                    name=base,
                    group=self.rtype.group,
                )
        name = meta.get("name") or ""
        raise AlreadyExists(
            f'{self._resource_name} "{name}" already exists', kind=self.rtype.plural, name=name, group=self.rtype.group
        )

    def _prepares_before_decoding(self, meta: dict, namespace: str | None) -> bool:
        """Whether ``prepare_for_create`` may run before the body is decoded, so it is decoded once.

        So when the strategy changes only metadata, the object is named (no generated
        names to try), the body carries none of the metadata the strategy sets or drops
        (a mistyped one must still be a 400) and its namespace is absent or the URL's.
        """
        if not self._prepares_metadata_only or not meta.get("name"):
            return False
        if not _SERVER_SET_METADATA.isdisjoint(meta):
            return False
        body_namespace = meta.get("namespace")
        if self.rtype.namespaced:
            return body_namespace is None or body_namespace == namespace
        return body_namespace is None

    async def _create_once(
        self,
        namespace: str | None,
        obj: dict,
        ctx: RequestContext,
        *,
        model: Any = None,
        prepared: bool = False,
        share: bool = False,
        plain: bool = False,
    ) -> dict | None:
        """One try at creating ``obj`` under its name; None when the name is taken.

        ``model``: ``obj`` decoded already, before ``prepare_for_create`` or, when
        ``prepared``, after it. ``share``: the result is only read by the caller, so the
        watch cache may keep it as the decoded object (see :meth:`WatchCache.expect`).
        ``plain``: ``obj``, prepared, passed the strategy's ``plain_create`` and no admission
        plugin is registered: only the built-in admission runs, and ``obj`` is stored as it is.
        """
        if plain:
            name = obj["metadata"]["name"]
            result = obj
            if not self.admission.admits_plain_create(self.rtype, namespace):
                await self._admit_plain(namespace, name, ctx)
        else:
            if model is None:
                self.strategy.prepare_for_create(obj)
            elif not prepared:
                model = self._prepare_decoded(obj, model)
            name = obj["metadata"].get("name") or ""
            result = await self._admit(CREATE, namespace, name, obj, None, ctx, None, model=model)
        key = self.key(namespace, name)
        if ctx.dry_run:
            if await self.store.get(key) is not None:
                return None
            return result
        value = _serialize(_without_rv(result))
        if share:
            self.cache.expect(key, value, result)
        revision = await self._put(key, value, 0)
        if not revision:
            if share:
                self.cache.forget(key)
            return None
        result["metadata"]["resourceVersion"] = str(revision)
        return result

    def _prepare_decoded(self, obj: dict, model: Any) -> Any:
        """``prepare_for_create`` on ``obj``, and ``model`` (``obj`` decoded before it) brought up to date.

        Only the sections the strategy says it changes are decoded again
        (:attr:`Strategy.create_sections`); a full decode when the model cannot be
        updated in place.
        """
        self.strategy.prepare_for_create(obj)
        try:
            if redecode_fields(model, obj, self.strategy.create_sections):
                return model
            return self._decode_unchecked(obj)
        except DecodeError as exc:
            raise self._cannot_handle(exc) from None

    # -- update and patch ----------------------------------------------------------------

    async def update(
        self,
        namespace: str | None,
        name: str,
        body: dict,
        ctx: RequestContext,
        subresource: str | None = None,
    ) -> tuple[dict, bool]:
        """Replace an object (or its ``status`` / a namespace's ``finalize``); ``(object, created)``."""
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        self._check_subresource(subresource)
        body = _copy(body)
        self._check_type(body)
        self._check_namespace(body, namespace)
        body_name = body["metadata"].get("name")
        if body_name and body_name != name:
            raise BadRequest(f"the name of the object ({body_name}) does not match the name on the URL ({name})")
        body["metadata"]["name"] = name
        if subresource is None and self.strategy.allow_create_on_update:
            if await self.store.get(self.key(namespace, name)) is None:
                created = await self._create_once(namespace, _without_rv(body), ctx)
                if created is not None:
                    return created, True
        retry = not body["metadata"].get("resourceVersion")

        def transform(current: dict) -> dict:
            return _copy(body)

        return await self._guaranteed_update(namespace, name, transform, ctx, subresource, retry=retry), False

    def _check_subresource(self, subresource: str | None) -> None:
        if subresource is None:
            return
        if subresource == "status" and "status" in self.rtype.subresources:
            return
        if subresource == "finalize" and self.rtype.plural == "namespaces":
            return
        raise NotFound(f"the server could not find the requested resource ({self.rtype.plural}/{subresource})")

    async def patch(
        self,
        namespace: str | None,
        name: str,
        patch_type: str,
        patch: bytes | Any,
        ctx: RequestContext,
        subresource: str | None = None,
    ) -> dict:
        """Apply a JSON, merge or strategic merge patch; conflicts retry unless the patch pins a resourceVersion.

        ``patch``: the request body, or its document already parsed (a body handed over in process).
        """
        self._check_subresource(subresource)
        try:
            document = parse_patch(patch)  # once, for every try
        except BadRequest:
            # the general path reports it, after the 404 of a missing object
            return await self._patch_generally(namespace, name, patch_type, patch, ctx, subresource)
        status_model = self.strategy.status_model if subresource == "status" else None
        if status_model is not None and not self.admission.has_plugins:
            short = patch_type_of(patch_type)
            if touches_status_only(short, document):
                return await self._patch_status_alone(namespace, name, short, document, ctx, status_model)
        return await self._patch_generally(namespace, name, patch_type, document, ctx, subresource)

    async def _patch_generally(
        self,
        namespace: str | None,
        name: str,
        patch_type: str,
        patch: Any,
        ctx: RequestContext,
        subresource: str | None,
    ) -> dict:
        """:meth:`patch` through the full update pipeline (``patch``: the body or its parsed document)."""
        decoded: list = []

        def transform(current: dict) -> dict:
            patched = apply_patch(
                current, patch_type, patch, kind=self.rtype.kind, api_version=self.rtype.api_version, in_place=True
            )
            if not isinstance(patched, dict):
                raise BadRequest("the patched object is not a JSON object")
            model = self._check_type(patched)
            meta = patched["metadata"]
            # The model stays true to ``patched`` unless _check_namespace changes its namespace.
            if meta.get("namespace") == namespace if self.rtype.namespaced else "namespace" not in meta:
                decoded[:] = [patched, model]
            else:
                decoded.clear()
            self._check_namespace(patched, namespace)
            if patched["metadata"].get("name") != name:
                raise BadRequest(
                    f"the name of the object ({patched['metadata'].get('name')}) "
                    f"does not match the name on the URL ({name})"
                )
            return patched

        return await self._guaranteed_update(namespace, name, transform, ctx, subresource, retry=True,
                                             decoded=decoded)

    async def _patch_status_alone(
        self, namespace: str | None, name: str, short: str, patch: Any, ctx: RequestContext,
        status_model: type,
    ) -> dict:
        """A ``/status`` patch that touches only ``status``, without admission plugins
        (``short``: its short patch type; ``patch``: its parsed document).

        The general path's outcome with a fraction of its work: the kind's status has no
        defaults and no rules beyond its types (:attr:`Strategy.status_model`), and the rest
        of the stored object (valid when written) is kept, so only the patched status is
        checked: by its shape when every value has exactly its field's type
        (:func:`~orchestra.apiserver.mergekeys.plain_shape`), else decoded and encoded again. A status
        of the wrong type takes the general path, which reports it.

        As :meth:`_bind_light`, the first try starts from the watch cache's copy of the object,
        guarded on its revision, without reading the store; that the patch changes nothing is
        only trusted after a try from the store's current object.
        """
        key = self.key(namespace, name)
        cached = None if ctx.dry_run else self.cache.get(key)
        while True:
            trusted = cached is None
            if trusted:
                current, revision = await self._stored(key, name)  # only read: the status is patched on a copy
            else:
                current, revision, cached = cached, int(cached["metadata"]["resourceVersion"]), None
            old_status = current.get("status")
            target: dict = {"status": copy_json(old_status)} if old_status is not None else {}
            patched = patch_in_place(target, short, patch, self.rtype.cls)
            if type(patched) is not dict or not set(patched) <= {"status"}:
                return await self._patch_generally(namespace, name, short, patch, ctx, "status")
            status = patched.get("status")
            if status is not None and not matches_shape(status, self._plain_status):
                try:
                    status = encode(decode_as(status_model, status))
                except DecodeError:
                    return await self._patch_generally(namespace, name, short, patch, ctx, "status")
            if status == old_status:
                if trusted:
                    return current
                continue
            # ``result`` is this method's own (its shared parts are the cache's, never changed);
            # its metadata goes without resourceVersion until the write gives it one
            result = {k: v for k, v in current.items() if k != "status"}
            meta = result["metadata"] = dict(current["metadata"])
            del meta["resourceVersion"]
            if status is not None:
                result["status"] = status
            if ctx.dry_run:
                meta["resourceVersion"] = current["metadata"]["resourceVersion"]
                return result
            value = _serialize(result)
            self.cache.expect(key, value, result)
            written = await self._put(key, value, revision)
            if written:
                meta["resourceVersion"] = str(written)
                return result
            self.cache.forget(key)

    async def _guaranteed_update(
        self,
        namespace: str | None,
        name: str,
        transform: Callable[[dict], dict | Awaitable[dict]],
        ctx: RequestContext,
        subresource: str | None,
        *,
        retry: bool,
        internal: bool = False,
        decoded: list | None = None,
    ) -> dict:
        """Read, transform, prepare, admit and write under a revision guard, retrying when ``retry``.

        ``decoded``: where ``transform`` leaves ``[new, model]``, its result and that result
        decoded. When preparing leaves ``new``'s content as it is (a ``/status`` update that
        changed only the status; a main update that kept the stored status and server-owned
        metadata), the update is admitted with ``model`` instead of decoding again.
        """
        key = self.key(namespace, name)
        while True:
            kv = await self.store.get(key)
            if kv is None:
                raise self._not_found(name)
            current = self._shared_load(key, kv)  # only read: transform gets a copy
            current_rv = current["metadata"]["resourceVersion"]
            new = transform(copy_json(current))
            if not isinstance(new, dict):
                new = await new
            model = None
            wanted_rv = (new.get("metadata") or {}).get("resourceVersion")
            if wanted_rv and wanted_rv != current_rv:
                raise self._conflict(name)
            if internal:
                prepared = new
            elif subresource == "status":
                prepared = self.strategy.prepare_for_status_update(new, current)
                if decoded and decoded[0] is new and prepared == new:
                    model = decoded[1]
            elif subresource == "finalize":
                prepared = self.strategy.prepare_for_finalize(new, current)
            else:
                new_uid = new["metadata"].get("uid")
                if new_uid and new_uid != current["metadata"].get("uid"):
                    raise self._invalid(name, [FieldError.invalid("metadata.uid", new_uid, "field is immutable")])
                prepared = new
                if decoded and decoded[0] is new and self.strategy.update_changes_nothing(new, current):
                    model = decoded[1]
                self.strategy.prepare_for_update(prepared, current)
            result = await self._admit(
                UPDATE, namespace, name, prepared, current, ctx, subresource, check_update=not internal, model=model
            )
            self.strategy.update_generation(result, current)
            result["metadata"]["resourceVersion"] = current_rv
            if result == current:
                return current
            if ctx.dry_run:
                return result
            if self._should_delete_during_update(result, current):
                revision = await self.store.delete_if_revision(key, kv.mod_revision)
            else:
                revision = await self._put(key, _serialize(_without_rv(result)), kv.mod_revision)
            if revision:
                result["metadata"]["resourceVersion"] = str(revision)
                return result
            if not retry:
                raise self._conflict(name)

    @staticmethod
    def _should_delete_during_update(new: dict, old: dict) -> bool:
        """Whether an update removed the last finalizer of an object being deleted (Kubernetes' rule)."""
        meta = new.get("metadata") or {}
        if not meta.get("deletionTimestamp") or _all_finalizers(new):
            return False
        return bool(_all_finalizers(old)) and not meta.get("deletionGracePeriodSeconds")

    # -- delete --------------------------------------------------------------------------

    def _delete_options(self, options: dict) -> tuple[int | None, dict, str | None, bool | None, bool]:
        if not isinstance(options, dict):
            raise BadRequest("DeleteOptions must be a JSON object")
        errors: list[FieldError] = []
        grace = options.get("gracePeriodSeconds")
        if grace is not None and (type(grace) is not int):
            errors.append(FieldError.invalid("gracePeriodSeconds", grace, "must be an integer"))
        policy = options.get("propagationPolicy")
        orphan = options.get("orphanDependents")
        if policy is not None and policy not in _PROPAGATION_POLICIES:
            errors.append(FieldError.not_supported("propagationPolicy", policy, list(_PROPAGATION_POLICIES)))
        if policy is not None and orphan is not None:
            errors.append(
                FieldError.invalid(
                    "orphanDependents", orphan, "orphanDependents and deletionPropagation cannot be both set"
                )
            )
        dry_run = options.get("dryRun") or []
        if dry_run and dry_run != ["All"]:
            errors.append(FieldError.not_supported("dryRun", dry_run, ["All"]))
        if errors:
            exc = Invalid.from_field_errors("DeleteOptions", "", errors, group="meta.k8s.io")
            exc.message = 'DeleteOptions.meta.k8s.io "" is invalid: ' + ", ".join(str(e) for e in errors)
            exc.args = (exc.message,)
            raise exc
        preconditions = options.get("preconditions") or {}
        return grace, preconditions, policy, orphan, bool(dry_run)

    def _check_preconditions(self, name: str, current: dict, preconditions: dict) -> None:
        meta = current["metadata"]
        uid = preconditions.get("uid")
        if uid and uid != meta.get("uid"):
            raise self._conflict(
                name, f"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta.get('uid')}"
            )
        rv = preconditions.get("resourceVersion")
        if rv and rv != meta.get("resourceVersion"):
            raise self._conflict(
                name,
                f"Precondition failed: ResourceVersion in precondition: {rv}, "
                f"ResourceVersion in object meta: {meta.get('resourceVersion')}",
            )

    def _finalizers_for(self, current: dict, policy: str | None, orphan: bool | None) -> list[str]:
        finalizers = list(current["metadata"].get("finalizers") or ())
        if policy is None and orphan is not None:
            policy = "Orphan" if orphan else "Background"
        if policy is None:
            if self.strategy.default_propagation == "Orphan" and not current["metadata"].get("deletionTimestamp"):
                if FOREGROUND_FINALIZER not in finalizers and ORPHAN_FINALIZER not in finalizers:
                    finalizers.append(ORPHAN_FINALIZER)
            return finalizers
        finalizers = [f for f in finalizers if f not in (ORPHAN_FINALIZER, FOREGROUND_FINALIZER)]
        if policy == "Orphan":
            finalizers.append(ORPHAN_FINALIZER)
        elif policy == "Foreground":
            finalizers.append(FOREGROUND_FINALIZER)
        return finalizers

    async def delete(
        self, namespace: str | None, name: str, options: dict, ctx: RequestContext
    ) -> tuple[dict, int]:
        """Delete an object (gracefully, or by marking it when finalizers remain); ``(body, status code)``.

        As :meth:`_bind_light`, the first try starts from the watch cache's copy of the object,
        guarded on its revision, without reading the store; a refusal, or a deletion that
        changes nothing, is only trusted after a try from the store's current object.
        """
        grace_requested, preconditions, policy, orphan, dry_run = self._delete_options(options or {})
        dry_run = dry_run or ctx.dry_run
        key = self.key(namespace, name)
        cached = None if dry_run else self.cache.get(key)
        while True:
            trusted = cached is None
            if trusted:
                current, revision = await self._stored(key, name)  # only read: the marked object copies what changes
            else:
                current, revision, cached = cached, int(cached["metadata"]["resourceVersion"]), None
            try:
                self._check_preconditions(name, current, preconditions)
                pending = self.admission.validate(
                    _admission_request(DELETE, self.rtype, namespace, name, None, None, ctx.user, dry_run)
                )
                if pending is not None:
                    await pending
                marked = self._mark_for_deletion(name, current, grace_requested, policy, orphan)
            except APIError:
                if trusted:
                    raise
                continue
            if marked is None:
                if dry_run:
                    return self._deleted_body(current), 200
                if not await self.store.delete_if_revision(key, revision):
                    continue
                return self._deleted_body(current), 200
            code = 202 if orphan is False else 200
            if marked == current or dry_run:
                if trusted:
                    return marked, code
                continue
            marked_value = _serialize(_without_rv(marked))
            written = await self._put(key, marked_value, revision)
            if not written:
                continue
            marked["metadata"]["resourceVersion"] = str(written)
            return marked, code

    def _mark_for_deletion(
        self, name: str, current: dict, grace_requested: int | None, policy: str | None, orphan: bool | None
    ) -> dict | None:
        """The object marked as being deleted, or None when it is to go now."""
        is_namespace = self.rtype.plural == "namespaces"
        meta = current["metadata"]
        finalizers = self._finalizers_for(current, policy, orphan)
        deleting = bool(meta.get("deletionTimestamp"))
        if is_namespace:
            spec_finalizers = list((current.get("spec") or {}).get("finalizers") or ())
            if deleting and (spec_finalizers or finalizers):
                raise self._conflict(
                    name,
                    "The system is ensuring all content is removed from this namespace.  "
                    "Upon completion, this namespace will automatically be purged by the system.",
                )
            if not deleting and NAMESPACE_FINALIZER not in spec_finalizers:
                spec_finalizers.append(NAMESPACE_FINALIZER)
            if deleting and not spec_finalizers and not finalizers:
                return None
            marked = dict(current)
            marked["spec"] = {**(current.get("spec") or {}), "finalizers": spec_finalizers}
            marked["status"] = {**(current.get("status") or {}), "phase": "Terminating"}
            marked_meta = marked["metadata"] = dict(meta)
            marked_meta["deletionTimestamp"] = now_rfc3339()
            marked_meta["deletionGracePeriodSeconds"] = 0
            if finalizers:
                marked_meta["finalizers"] = finalizers
            return marked
        grace = self.strategy.grace_period(current, grace_requested)
        if not finalizers and grace == 0:
            return None
        # Only metadata's own keys change: the rest is shared with ``current``, which nobody changes.
        marked = dict(current)
        marked_meta = marked["metadata"] = dict(meta)
        if finalizers:
            marked_meta["finalizers"] = finalizers
        else:
            marked_meta.pop("finalizers", None)
        old_grace = meta.get("deletionGracePeriodSeconds")
        if not deleting or (old_grace is not None and grace < old_grace):
            marked_meta["deletionTimestamp"] = now_rfc3339(grace)
            marked_meta["deletionGracePeriodSeconds"] = grace
            if not deleting and self.strategy.track_generation and marked_meta.get("generation"):
                marked_meta["generation"] += 1
        return marked

    def _deleted_body(self, last: dict) -> dict:
        if self.strategy.return_deleted_object:
            return last
        meta = last.get("metadata") or {}
        details: dict[str, Any] = {"name": meta.get("name"), "kind": self.rtype.plural, "uid": meta.get("uid")}
        if self.rtype.group:
            details["group"] = self.rtype.group
        status = status_object(200, "", "", details)
        del status["message"]
        return status

    async def delete_collection(
        self, namespace: str | None, opts: ListOptions, options: dict, ctx: RequestContext
    ) -> dict:
        """Delete every matching object with the same rules as :meth:`delete`; the list of what was deleted."""
        self._delete_options(options or {})
        listing = await self.list(namespace, attrs.evolve(opts, limit=0, continue_token=None))
        items = []
        for obj in listing["items"]:
            meta = obj["metadata"]
            try:
                body, _code = await self.delete(meta.get("namespace"), meta["name"], options or {}, ctx)
            except NotFound:
                continue
            items.append(body if body.get("kind") != "Status" else obj)
        return self._list_object(items, int(listing["metadata"]["resourceVersion"]))

    # -- scale ---------------------------------------------------------------------------

    def _check_scalable(self) -> None:
        if "scale" not in self.rtype.subresources:
            raise NotFound(f"the server could not find the requested resource ({self.rtype.plural}/scale)")

    def _scale_of(self, obj: dict) -> dict:
        meta = obj["metadata"]
        spec = obj.get("spec") or {}
        selector = spec.get("selector")
        try:
            selector_text = str(LabelSelector.from_dict(selector)) if selector else ""
        except SelectorError:
            selector_text = ""
        scale_meta = {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta
        }
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": scale_meta,
            "spec": {"replicas": spec.get("replicas", 0)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0), "selector": selector_text},
        }

    async def get_scale(self, namespace: str | None, name: str) -> dict:
        """The ``autoscaling/v1`` Scale of a Deployment or ReplicaSet."""
        self._check_scalable()
        return self._scale_of(await self.get(namespace, name))

    async def update_scale(self, namespace: str | None, name: str, body: dict, ctx: RequestContext) -> dict:
        """Set ``spec.replicas`` from a Scale; its resourceVersion, when set, is a precondition."""
        self._check_scalable()
        scale = self._checked_scale(name, body)
        retry = not scale["metadata"].get("resourceVersion")
        return await self._scale_update(namespace, name, lambda current: scale, ctx, retry=retry)

    async def patch_scale(
        self, namespace: str | None, name: str, patch_type: str, patch: Any, ctx: RequestContext
    ) -> dict:
        """Patch the Scale of a Deployment or ReplicaSet (``patch``: the body or its parsed document)."""
        self._check_scalable()

        def transform(current_scale: dict) -> dict:
            patched = apply_patch(current_scale, patch_type, patch, kind="Scale", api_version="autoscaling/v1")
            return self._checked_scale(name, patched)

        return await self._scale_update(namespace, name, transform, ctx, retry=True)

    def _checked_scale(self, name: str, body: Any) -> dict:
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        if body.get("kind") not in (None, "Scale"):
            raise BadRequest(f"the object provided is unrecognized (must be of type Scale): kind {body.get('kind')!r}")
        meta = body.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise BadRequest(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
        replicas = (body.get("spec") or {}).get("replicas", 0)
        errors = []
        if type(replicas) is not int:
            errors.append(FieldError.invalid("spec.replicas", replicas, "must be an integer"))
        elif replicas < 0:
            errors.append(FieldError.invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
        if errors:
            exc = Invalid.from_field_errors("Scale", name, errors, group="autoscaling")
            exc.message = f'Scale.autoscaling "{name}" is invalid: ' + ", ".join(str(e) for e in errors)
            exc.args = (exc.message,)
            raise exc
        return {"metadata": dict(meta), "spec": {"replicas": replicas}}

    async def _scale_update(
        self,
        namespace: str | None,
        name: str,
        scale_transform: Callable[[dict], dict],
        ctx: RequestContext,
        *,
        retry: bool,
    ) -> dict:
        def transform(current: dict) -> dict:
            scale = scale_transform(self._scale_of(current))
            current.setdefault("spec", {})["replicas"] = scale["spec"]["replicas"]
            wanted = scale["metadata"].get("resourceVersion")
            if wanted:
                current["metadata"]["resourceVersion"] = wanted
            return current

        updated = await self._guaranteed_update(namespace, name, transform, ctx, None, retry=retry)
        return self._scale_of(updated)

    # -- binding -------------------------------------------------------------------------

    async def bind(self, namespace: str | None, name: str, binding: dict, ctx: RequestContext) -> dict:
        """``pods/binding``: set ``spec.nodeName`` once (409 if the pod is bound or being deleted).

        As Kubernetes' BindingREST: the Binding is validated on its own (name, namespace,
        annotations, ``target.kind`` Node, ``target.name`` a valid node name), then the pod
        gets its node, the binding's annotations and the PodScheduled condition in one
        guarded update; a ``metadata.uid`` on the Binding is a precondition. The pod
        itself is not decoded, defaulted or validated again (only the merged annotations
        are checked), unless admission plugins are registered: they then see the update
        of the pod, as they always have.
        """
        if self.rtype.plural != "pods":
            raise NotFound(f"the server could not find the requested resource ({self.rtype.plural}/binding)")
        if not isinstance(binding, dict):
            raise BadRequest("the request body must be a JSON object")
        meta = binding.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            _decode_binding(binding)  # names the mistyped field (400)
        meta = meta or {}
        if meta.get("name") and meta["name"] != name:
            raise BadRequest(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise BadRequest("the namespace of the provided object does not match the namespace sent on the request")
        errors = self._binding_errors(name, namespace, binding, meta)
        if errors:
            raise Invalid.from_field_errors("Binding", name, errors)
        node = binding["target"]["name"]
        annotations = meta.get("annotations") or {}
        wanted_uid = meta.get("uid")
        if self.admission.has_plugins:
            await self._bind_admitted(namespace, name, node, annotations, wanted_uid, ctx)
        else:
            await self._bind_light(namespace, name, node, annotations, wanted_uid, ctx)
        # status_object(201, "", "", None) without its empty message
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    def _binding_errors(self, name: str, namespace: str | None, binding: dict, meta: dict) -> list[FieldError]:
        """The Binding's field errors (400 for a mistyped field); its metadata names the URL's pod."""
        target = binding.get("target")
        if _plain_binding(binding, meta, target):
            # The shape every scheduler sends: checked on the dict, with the model's rules (the
            # URL's name and namespace are strings).
            errors = [] if dns1123_subdomain_ok(name) else name_errors(is_dns1123_subdomain, name, "metadata.name")
            if namespace and not dns1123_label_ok(namespace):
                errors += name_errors(is_dns1123_label, namespace, "metadata.namespace")
            annotations = meta.get("annotations")
            if annotations is not None:
                errors += validate_annotations(annotations, "metadata.annotations")
        else:
            body = dict(binding)
            body["metadata"] = {**meta, "name": name, "namespace": namespace}
            body.setdefault("apiVersion", "v1")
            body.setdefault("kind", "Binding")
            errors = validate(_decode_binding(body))
            if errors:
                return errors
        node = target.get("name") if isinstance(target, dict) else None
        if not node:
            errors.append(FieldError.required("target.name"))
        elif target.get("kind") not in (None, "", "Node"):
            errors.append(FieldError.not_supported("target.kind", target["kind"], ["Node"]))
        elif not dns1123_subdomain_ok(node):
            errors += name_errors(is_dns1123_subdomain, node, "target.name")
        return errors

    def _check_bindable(self, name: str, pod_meta: dict, spec: dict, wanted_uid: str | None) -> None:
        if pod_meta.get("deletionTimestamp"):
            raise self._conflict(
                name, f"pod {name} is being deleted, cannot be assigned to a host", resource="pods/binding"
            )
        assigned = spec.get("nodeName")
        if assigned:
            raise self._conflict(name, f'pod {name} is already assigned to node "{assigned}"', resource="pods/binding")
        if wanted_uid and wanted_uid != pod_meta.get("uid"):
            raise self._conflict(
                name,
                f"Precondition failed: UID in precondition: {wanted_uid}, UID in object meta: {pod_meta.get('uid')}",
                resource="pods/binding",
            )

    async def _bind_light(
        self, namespace: str | None, name: str, node: str, annotations: dict, wanted_uid: str | None,
        ctx: RequestContext,
    ) -> None:
        """Assign the pod under a revision guard, touching only the fields a binding sets.

        The first try starts from the watch cache's copy of the pod, guarded on its
        revision, without reading the store; a refusal or a failed guard is only trusted
        after a try from the store's current pod.
        """
        key = self.key(namespace, name)
        cached = None if ctx.dry_run else self.cache.get(key)
        while True:
            trusted = cached is None
            if trusted:
                current, revision = await self._stored(key, name)
            else:
                current, revision, cached = cached, int(cached["metadata"]["resourceVersion"]), None
            # Shallow copies of the sections that change: ``current`` may be the watch cache's.
            pod_meta = dict(current["metadata"])
            spec = dict(current.get("spec") or {})
            merged = None
            try:
                self._check_bindable(name, pod_meta, spec, wanted_uid)
                if annotations:
                    merged = {**(pod_meta.get("annotations") or {}), **annotations}
                    errors = validate_annotations(merged, "metadata.annotations")
                    if errors:
                        raise self._invalid(name, errors)
            except APIError:
                if trusted:
                    raise
                continue
            new = dict(current)
            spec["nodeName"] = node
            new["spec"] = spec
            if merged is not None:
                pod_meta["annotations"] = merged
            if self.strategy.track_generation:
                pod_meta["generation"] = (pod_meta.get("generation") or 1) + 1
            pod_meta.pop("resourceVersion", None)
            new["metadata"] = pod_meta
            status = dict(current.get("status") or {})
            conditions = [c for c in status.get("conditions") or () if c.get("type") != "PodScheduled"]
            conditions.append({"type": "PodScheduled", "status": "True", "lastTransitionTime": now_rfc3339()})
            status["conditions"] = conditions
            new["status"] = status
            if ctx.dry_run:
                return
            value = _serialize(new)
            # ``new`` is this method's own (its unchanged parts are the cache's, never mutated).
            self.cache.expect(key, value, new)
            if await self._put(key, value, revision):
                return
            self.cache.forget(key)

    async def _bind_admitted(
        self, namespace: str | None, name: str, node: str, annotations: dict, wanted_uid: str | None,
        ctx: RequestContext,
    ) -> None:
        """Assign the pod through the full update pipeline, so admission plugins see the pod's update."""

        def transform(current: dict) -> dict:
            pod_meta = current["metadata"]
            spec = current.setdefault("spec", {})
            self._check_bindable(name, pod_meta, spec, wanted_uid)
            spec["nodeName"] = node
            if annotations:
                pod_meta["annotations"] = {**(pod_meta.get("annotations") or {}), **annotations}
            status = current.setdefault("status", {})
            conditions = [c for c in status.get("conditions") or () if c.get("type") != "PodScheduled"]
            conditions.append({"type": "PodScheduled", "status": "True", "lastTransitionTime": now_rfc3339()})
            status["conditions"] = conditions
            return current

        await self._guaranteed_update(namespace, name, transform, ctx, None, retry=True, internal=True)


class WatchStream:
    """What :meth:`ResourceStorage.watch` returns: opens the cache's watcher on the first step, then
    hands every step to the cache's stream itself (no generator frame of its own per event).
    Iterated either event by event or, through :meth:`batches`, a list of events a step.

    A watch that cannot start (an expired or future resourceVersion) yields one ``ERROR`` event.
    """

    def __init__(self, open_stream: Callable[[bool], Awaitable[AsyncIterator[Any]]]) -> None:
        self._open = open_stream
        self._stream: Any = None
        self._batches: AsyncGenerator[list[WatchEvent], None] | None = None
        self._ended = False

    def __aiter__(self) -> "WatchStream":
        return self

    def __anext__(self) -> Awaitable[WatchEvent]:
        if self._stream is not None:
            return self._stream.__anext__()
        return self._first()

    async def _first(self) -> WatchEvent:
        if self._ended:
            raise StopAsyncIteration
        try:
            self._stream = await self._open(False)
        except APIError as exc:
            self._ended = True
            return error_event(exc)
        return await self._stream.__anext__()

    def batches(self) -> AsyncIterator[list[WatchEvent]]:
        """The watch's events as lists: each step, every event the cache has for it by then
        (see :meth:`WatchCache.batches`). A watch is read this way or event by event, not both."""
        if self._stream is not None or self._batches is not None:
            raise RuntimeError("this watch is already being read")
        self._batches = self._open_batches()
        return self._batches

    async def _open_batches(self) -> AsyncGenerator[list[WatchEvent], None]:
        if self._ended:
            return
        try:
            self._stream = await self._open(True)
        except APIError as exc:
            self._ended = True
            yield [error_event(exc)]
            return
        async with contextlib.aclosing(self._stream):
            async for batch in self._stream:
                yield batch

    async def aclose(self) -> None:
        """End the watch (its cache watcher closes)."""
        self._ended = True
        if self._batches is not None:
            await self._batches.aclose()
        if self._stream is not None:
            await self._stream.aclose()


_BINDING_KEYS = frozenset({"apiVersion", "kind", "metadata", "target"})
_BINDING_SECTIONS = frozenset({"metadata", "target"})
_BINDING_META_KEYS = frozenset({"name", "namespace", "uid", "resourceVersion", "annotations"})
_ANNOTATIONS = frozenset({"annotations"})
_BINDING_TARGET_KEYS = frozenset({"kind", "name", "namespace", "uid", "apiVersion", "resourceVersion", "fieldPath"})


def _plain_binding(binding: dict, meta: dict, target: Any) -> bool:
    """Whether a Binding has only string fields the hand check covers (else the model decodes it)."""
    if not is_string_map(target, _BINDING_TARGET_KEYS) or not is_string_map(binding, _BINDING_KEYS, _BINDING_SECTIONS):
        return False
    if not is_string_map(meta, _BINDING_META_KEYS, _ANNOTATIONS):
        return False
    return "annotations" not in meta or is_string_map(meta["annotations"])


def _decode_binding(body: dict) -> core.Binding:
    """``body`` as a Binding model; 400 naming the field whose value has the wrong type."""
    try:
        return decode_as(core.Binding, body)
    except DecodeError as exc:
        raise BadRequest(f"Binding cannot be handled: {exc}") from None
