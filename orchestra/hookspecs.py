"""Every hook a plugin can implement, grouped by family.

Plugin authors implement these with ``@orchestra.hookimpl`` on a module or
object and register it (built-ins in ``plugins/``, third parties through the
``orchestra`` entry-point group, embedding programs by passing it to
:func:`orchestra.get_plugin_manager`). The plugin author's guide,
``docs/plugins.md``, has one section per hook.

Conventions:

* Arguments are passed by keyword; an implementation may accept any subset.
* "firstresult" hooks pick one answer: the first implementation that returns
  something other than ``None`` wins (later-registered plugins are asked first).
  All other hooks collect a list of the non-``None`` results.
* pluggy is synchronous. Where a docstring says "may be awaitable", the caller
  passes the result through :func:`orchestra.await_maybe`, so an implementation
  may be a plain function or return a coroutine.
"""

from __future__ import annotations

from typing import Any

import pluggy

__all__ = ["hookspec", "hookimpl", "PROJECT_NAME"]

#: The pluggy project name: markers, entry-point group and manager share it.
PROJECT_NAME = "orchestra"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# --------------------------------------------------------------------------- stores


@hookspec(firstresult=True)
def orchestra_store_open(url: str, scheme: str) -> Any:
    """Open a store for ``url`` if this plugin serves its scheme.

    Called by :func:`orchestra.store.open_store` each time a store is opened.

    :param url: the whole store URL, e.g. ``file:///var/lib/orchestra/store``.
    :param scheme: the URL's scheme, lower-cased (``memory``, ``file``, …).
    :return: a :class:`orchestra.store.Store` (may be awaitable) when the
        plugin serves ``scheme``, else ``None``. firstresult.
    """


@hookspec
def orchestra_store_schemes() -> Any:
    """The URL schemes this plugin opens, for help texts and error messages.

    Called when listing plugins and when no plugin opened a URL.

    :return: a list of scheme names (``["memory"]``). Results are collected.
    """


# --------------------------------------------------------------------------- scheduler


@hookspec
def orchestra_scheduler_plugins() -> Any:
    """Scheduling-framework plugins this plugin provides.

    Called once when the scheduler builds its profiles. A scheduling plugin is a
    class with a ``NAME`` and one method per extension point it implements
    (queue sort, pre-filter, filter, post-filter, pre-score, score with
    normalize, reserve/unreserve, permit, pre-bind, bind, post-bind), with the
    semantics of the Kubernetes scheduling framework, plus ``sign`` for
    opportunistic batching; profiles enable plugins by ``NAME``.

    :return: a list of scheduling plugin classes. Results are collected.
    """


# --------------------------------------------------------------------------- runtimes


@hookspec(firstresult=True)
def orchestra_runtime_create(name: str, config: dict) -> Any:
    """Create the container runtime called ``name`` for a node agent.

    Called once per node agent at start.

    :param name: the runtime name the agent was configured with
        (``process``, ``oci``, ``simulated``, or a third-party name).
    :param config: runtime settings from the agent's configuration (data
        directory, node name, …); unknown keys are to be ignored.
    :return: a runtime object (may be awaitable) when this plugin provides
        ``name``, else ``None``. firstresult.
    """


@hookspec
def orchestra_runtime_names() -> Any:
    """The runtime names this plugin provides, for help texts and error messages.

    :return: a list of names. Results are collected.
    """


# --------------------------------------------------------------------------- proxy modes


@hookspec(firstresult=True)
def orchestra_proxy_mode_create(name: str, config: dict) -> Any:
    """Create the service-proxy mode called ``name``.

    Called once when a service proxy starts. The mode receives the table of
    Services and their ready endpoints and programs the data path.

    :param name: the mode name (``userspace`` or a third-party name).
    :param config: proxy settings (bind addresses, balancing algorithm, …);
        unknown keys are to be ignored.
    :return: a proxy mode object (may be awaitable) when this plugin provides
        ``name``, else ``None``. firstresult.
    """


@hookspec
def orchestra_proxy_mode_names() -> Any:
    """The proxy mode names this plugin provides, for help texts and error messages.

    :return: a list of names. Results are collected.
    """


# --------------------------------------------------------------------------- lifecycle


@hookspec(historic=True)
def orchestra_configure(config: dict) -> None:
    """Called once when a plugin manager is set up, with the settings of the program.

    Historic: a plugin registered later still receives the call.

    :param config: the settings the program was started with (may be empty).
    :return: ignored.
    """


@hookspec
def orchestra_component_started(component: str, name: str) -> None:
    """Called after a component has started and is serving.

    :param component: the component kind (``apiserver``, ``scheduler``,
        ``controller-manager``, ``agent``, ``proxy``, ``store``).
    :param name: the instance name (a node name for an agent, else the kind).
    :return: ignored.
    """


@hookspec
def orchestra_component_stopped(component: str, name: str) -> None:
    """Called after a component has stopped.

    :param component: the component kind, as for ``orchestra_component_started``.
    :param name: the instance name.
    :return: ignored.
    """


# --------------------------------------------------------------------------- events


@hookspec
def orchestra_event(event: Any) -> None:
    """Observe one event published on the event bus (:mod:`orchestra.bus`).

    Called in publication order from the bus's observer task, never on the
    publisher's path; a slow observer delays only other observers. An
    implementation that raises is logged and skipped.

    :param event: an :class:`orchestra.bus.ObjectEvent` (an object added,
        modified or deleted, with its revision) or an
        :class:`orchestra.bus.ComponentEvent` (a component started or stopped).
    :return: ignored; may be awaitable (awaited before the next event).
    """


# --------------------------------------------------------------------------- admission


@hookspec
def orchestra_admission_mutate(request: Any) -> Any:
    """Mutating admission: change an object before it is validated and stored.

    Called by the API server for every create and update (and for deletes,
    with no object), after decoding and defaulting, before validation.

    :param request: an admission request with ``operation`` (``CREATE``,
        ``UPDATE``, ``DELETE``), ``resource`` (the registry entry),
        ``namespace``, ``name``, ``object`` (the decoded object; change it in
        place), ``old_object`` (for updates) and ``user``.
    :return: ignored; may be awaitable. Raise
        :class:`orchestra.api.ValidationError` to refuse the request.
    """


@hookspec
def orchestra_admission_validate(request: Any) -> Any:
    """Validating admission: accept or refuse an object after it has been validated.

    Called by the API server for every create, update and delete, after
    mutation and validation, before the store write.

    :param request: the admission request, as for ``orchestra_admission_mutate``;
        the object must not be changed.
    :return: a list of :class:`orchestra.api.FieldError` (or messages) to
        refuse the request, or ``None``; may be awaitable. Results are collected.
    """
