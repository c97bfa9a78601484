"""Admission: built-in plugins, then the ``orchestra_admission_*`` hooks of plugins.

Order for a create or update (as in Kubernetes): mutating admission (built-ins,
then ``orchestra_admission_mutate`` of each plugin), validation of the object,
then validating admission (built-ins, then ``orchestra_admission_validate``).

Built-ins:

- **NamespaceLifecycle**: no new objects in a namespace that does not exist
  (404 ``namespaces "x" not found``) or is terminating (403 ``unable to create new
  content in namespace x because it is being terminated``); the namespaces
  ``default``, ``kube-system``, ``kube-public`` and ``kube-node-lease`` may not be
  deleted (403 ``this namespace may not be deleted``).
- **DefaultTolerationSeconds**: new pods tolerate the ``not-ready`` and
  ``unreachable`` NoExecute taints for 300 s unless they already tolerate them.
- **NodeRestriction**: a node agent (user ``system:node:<name>``) may create only
  its own Node (403 ``node "a" is not allowed to modify node "b"``); authorization
  cannot tell, because a create names the node only in its body.

A plugin refuses a request by raising :class:`~orchestra.api.ValidationError`
(→ 422 ``Invalid``, one cause per field) or by returning field errors (422) or
messages (403 ``Forbidden``) from its validate hook; the message names the plugin
the way Kubernetes names a webhook: ``admission webhook "name" denied the request: …``.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

import attrs
import pluggy

from orchestra.api import core
from orchestra.api.errors import FieldError, ValidationError
from orchestra.api.registry import ResourceType
from orchestra.apiserver.auth import NODE_USER_PREFIX
from orchestra.apiserver.errors import APIError, Forbidden, InternalError, Invalid, NotFound
from orchestra.apiserver.request import UserInfo
from orchestra.plugin_manager import await_maybe

__all__ = [
    "AdmissionRequest",
    "Admission",
    "IMMORTAL_NAMESPACES",
    "DEFAULT_NAMESPACES",
    "NOT_READY_TAINT",
    "UNREACHABLE_TAINT",
    "DEFAULT_TOLERATION_SECONDS",
    "CREATE",
    "UPDATE",
    "DELETE",
]

log = logging.getLogger(__name__)

CREATE, UPDATE, DELETE = "CREATE", "UPDATE", "DELETE"
#: Namespaces NamespaceLifecycle refuses to delete.
IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
#: Namespaces that exist from the start.
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
DEFAULT_TOLERATION_SECONDS = 300

#: ``namespace -> "Active" | "Terminating" | None`` (None: no such namespace).
NamespacePhase = Callable[[str], Awaitable[str | None]]
#: ``namespace -> phase``, answered without waiting when it can be; None: ask :data:`NamespacePhase`.
CachedNamespacePhase = Callable[[str], str | None]


@attrs.define
class AdmissionRequest:
    """What an admission plugin sees of one write.

    ``object`` is the decoded model object (mutating plugins change it in
    place); ``old_object`` the stored one for updates and deletes; ``user`` the
    caller; ``dry_run`` whether nothing will be stored.
    """

    operation: str
    resource: ResourceType
    namespace: str | None
    name: str
    object: Any = None
    old_object: Any = None
    user: UserInfo | None = None
    dry_run: bool = False
    subresource: str | None = None


def _denied(plugin: str, detail: str) -> str:
    return f'admission webhook "{plugin}" denied the request: {detail}'


def _invalid(request: AdmissionRequest, plugin: str, errors: list[FieldError]) -> Invalid:
    """422 with one cause per field error, naming the plugin."""
    rt = request.resource
    exc = Invalid.from_field_errors(rt.kind, request.name, errors, group=rt.group)
    exc.message = _denied(plugin, ", ".join(str(e) for e in errors))
    exc.args = (exc.message,)
    return exc


def _forbidden(request: AdmissionRequest, plugin: str, messages: list[str]) -> Forbidden:
    """403 naming the plugin (Kubernetes' webhook denial message)."""
    return Forbidden(
        _denied(plugin, "; ".join(messages)),
        kind=request.resource.plural,
        name=request.name,
        group=request.resource.group,
    )


def _node_restriction(request: AdmissionRequest) -> None:
    """NodeRestriction: a ``system:node:<name>`` user creates only the Node called ``<name>``."""
    user = request.user
    if request.operation != CREATE or request.resource.plural != "nodes" or user is None:
        return
    if not user.name.startswith(NODE_USER_PREFIX):
        return
    own = user.name[len(NODE_USER_PREFIX):]
    if request.name != own:
        raise Forbidden(
            f'nodes "{request.name}" is forbidden: node "{own}" is not allowed to modify node "{request.name}"',
            kind="nodes",
            name=request.name,
        )


def _tolerates(tolerations: list[core.Toleration], key: str) -> bool:
    return any(
        (t.key == key or not t.key) and (t.effect == "NoExecute" or not t.effect) for t in tolerations
    )


def default_toleration_seconds(pod: core.Pod) -> None:
    """DefaultTolerationSeconds: add the not-ready/unreachable NoExecute tolerations (300 s)."""
    if pod.spec is None:
        return
    tolerations = list(pod.spec.tolerations or ())
    for key in (NOT_READY_TAINT, UNREACHABLE_TAINT):
        if not _tolerates(tolerations, key):
            tolerations.append(
                core.Toleration(
                    key=key, operator="Exists", effect="NoExecute", toleration_seconds=DEFAULT_TOLERATION_SECONDS
                )
            )
    pod.spec.tolerations = tolerations


#: The places of the mutate and validate hook callers in :meth:`Admission._hook_callers`.
_MUTATE, _VALIDATE = 0, 1


class Admission:
    """Runs the admission chain for one API server.

    :param namespace_phase: how NamespaceLifecycle learns a namespace's phase.
    :param plugin_manager: whose ``orchestra_admission_*`` hooks run after the built-ins (None: none).
    :param cached_namespace_phase: asked first, when given: a phase it knows at once (e.g. from a
        cache), or None to ask ``namespace_phase``.
    """

    def __init__(self, namespace_phase: NamespacePhase, plugin_manager: pluggy.PluginManager | None = None,
                 *, cached_namespace_phase: CachedNamespacePhase | None = None) -> None:
        self.namespace_phase = namespace_phase
        self.cached_namespace_phase = cached_namespace_phase
        self.plugin_manager = plugin_manager
        self._hooks: tuple[Any, Any] | None = None

    def _hook_callers(self) -> tuple[Any, Any] | None:
        """The mutate and validate hook callers, looked up once (None without a plugin manager).

        A hook caller lists the implementations registered at the time it is asked, so
        plugins registered later are still seen.
        """
        hooks = self._hooks
        if hooks is None and self.plugin_manager is not None:
            relay = self.plugin_manager.hook
            hooks = self._hooks = (relay.orchestra_admission_mutate, relay.orchestra_admission_validate)
        return hooks

    @property
    def has_plugins(self) -> bool:
        """Whether any plugin implements an admission hook (else old objects need not be decoded)."""
        hooks = self._hook_callers()
        return hooks is not None and bool(hooks[_MUTATE].get_hookimpls() or hooks[_VALIDATE].get_hookimpls())

    def _impls(self, hook: int) -> list[Any]:
        """The implementations of ``hook`` (:data:`_MUTATE` or :data:`_VALIDATE`), last registered first."""
        hooks = self._hook_callers()
        if hooks is None:
            return []
        impls = hooks[hook].get_hookimpls()  # a fresh list
        if impls:
            impls.reverse()
        return impls

    def mutate(self, request: AdmissionRequest) -> Awaitable[None] | None:
        """Built-in mutations, then every plugin's ``orchestra_admission_mutate``; may raise APIError.

        The built-ins run at once; returns the plugins' part to await, or None when no plugin
        has the hook (most writes: no coroutine is made for them).
        """
        if request.operation == CREATE and not request.subresource and isinstance(request.object, core.Pod):
            default_toleration_seconds(request.object)
        impls = self._impls(_MUTATE)
        return self._mutate_by_plugins(impls, request) if impls else None

    async def _mutate_by_plugins(self, impls: list[Any], request: AdmissionRequest) -> None:
        for impl in impls:
            await self._call(impl, request)

    def admits_plain_create(self, rtype: ResourceType, namespace: str | None) -> bool:
        """Whether the built-ins let a create of ``rtype`` in ``namespace`` through without a
        request to look at: NodeRestriction concerns only nodes, and NamespaceLifecycle lets
        a create into a namespace the cache knows as Active. False says nothing: the caller
        runs :meth:`validate`, which decides (and says why it refuses)."""
        if rtype.plural == "nodes":
            return False
        if not (rtype.namespaced and namespace):
            return True
        cached = self.cached_namespace_phase
        return cached is not None and cached(namespace) == "Active"

    def validate(self, request: AdmissionRequest, plugins: bool = True) -> Awaitable[None] | None:
        """NamespaceLifecycle, NodeRestriction, then every plugin's ``orchestra_admission_validate``.

        Returns what is left to await (a namespace phase the cache cannot tell, the plugins'
        hooks), or None when all is done; refusals the built-ins can make at once raise here.
        ``plugins=False``: the built-ins alone, for a caller that found no plugin registered
        (:attr:`has_plugins`), so the hooks are not looked up again.
        """
        rt = request.resource
        if request.operation == DELETE and rt.plural == "namespaces" and request.name in IMMORTAL_NAMESPACES:
            raise Forbidden(
                f'namespaces "{request.name}" is forbidden: this namespace may not be deleted',
                kind="namespaces",
                name=request.name,
            )
        if request.operation == CREATE and rt.namespaced and request.namespace:
            # NamespaceLifecycle: no new object in a missing or terminating namespace.
            cached = self.cached_namespace_phase
            phase = cached(request.namespace) if cached is not None else None
            if phase is None:
                return self._validate_in_stored_namespace(request, plugins)
            if phase != "Active":
                _refuse_in_namespace(request, phase)
        return self._validate_rest(request, plugins)

    async def _validate_in_stored_namespace(self, request: AdmissionRequest, plugins: bool) -> None:
        """:meth:`validate` of a create once the store has told the namespace's phase."""
        phase = await self.namespace_phase(request.namespace)  # type: ignore[arg-type]
        if phase != "Active":
            _refuse_in_namespace(request, phase)
        pending = self._validate_rest(request, plugins)
        if pending is not None:
            await pending

    def _validate_rest(self, request: AdmissionRequest, plugins: bool) -> Awaitable[None] | None:
        """NodeRestriction now; with ``plugins``, the plugins' validation to await (None: no
        plugin has the hook)."""
        if request.resource.plural == "nodes":
            _node_restriction(request)
        impls = self._impls(_VALIDATE) if plugins else None
        return self._validate_by_plugins(impls, request) if impls else None

    async def _validate_by_plugins(self, impls: list[Any], request: AdmissionRequest) -> None:
        for impl in impls:
            result = await self._call(impl, request)
            if not result:
                continue
            if isinstance(result, (FieldError, str)):
                result = [result]
            errors = [r for r in result if isinstance(r, FieldError)]
            if errors:
                raise _invalid(request, impl.plugin_name, errors)
            raise _forbidden(request, impl.plugin_name, [str(r) for r in result])

    async def _call(self, impl: Any, request: AdmissionRequest) -> Any:
        try:
            args = {"request": request}
            return await await_maybe(impl.function(*(args[name] for name in impl.argnames)))
        except APIError:
            raise
        except ValidationError as exc:
            raise _invalid(request, impl.plugin_name, exc.errors) from None
        except Exception as exc:
            log.exception("admission plugin %s failed", impl.plugin_name)
            raise InternalError(f'admission plugin "{impl.plugin_name}" failed: {exc!r}') from None


def _refuse_in_namespace(request: AdmissionRequest, phase: str | None) -> None:
    """NamespaceLifecycle for a create in a namespace whose phase is not Active: 404 when there
    is no such namespace, 403 while it terminates (another phase is let through)."""
    rt = request.resource
    if phase is None:
        raise NotFound(f'namespaces "{request.namespace}" not found', kind="namespaces", name=request.namespace)
    if phase == "Terminating":
        resource = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
        raise Forbidden(
            f'{resource} "{request.name}" is forbidden: unable to create new content in namespace '
            f"{request.namespace} because it is being terminated",
            kind=rt.plural,
            name=request.name,
            group=rt.group,
            causes=[
                {
                    "reason": "NamespaceTerminating",
                    "message": f"namespace {request.namespace} is being terminated",
                    "field": "metadata.namespace",
                }
            ],
        )
