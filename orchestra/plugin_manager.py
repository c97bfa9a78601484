"""Building the plugin manager: built-ins, then entry points, then explicit plugins.

Nothing happens at import time; :func:`get_plugin_manager` does the work each
time it is called, so every embedded cluster can have its own set of plugins.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
from typing import Any, Iterable

import pluggy

from orchestra import hookspecs

__all__ = [
    "DEFAULT_PLUGINS",
    "DISABLE_AUTOLOAD_ENV",
    "PluginLoadError",
    "await_maybe",
    "get_plugin_manager",
    "plugin_hooks",
]

log = logging.getLogger(__name__)

#: Built-in plugins, registered under these names (modules of ``orchestra.plugins``).
DEFAULT_PLUGINS: tuple[str, ...] = (
    "stores.memory",
    "stores.file",
    "stores.sqlite",
    "stores.etcd",
    "runtimes.process",
    "runtimes.simulated",
    "runtimes.oci",
    "proxies.userspace",
    "scheduling.prioritysort",
    "scheduling.nodeunschedulable",
    "scheduling.nodename",
    "scheduling.tainttoleration",
    "scheduling.nodeaffinity",
    "scheduling.nodeports",
    "scheduling.noderesourcesfit",
    "scheduling.podtopologyspread",
    "scheduling.interpodaffinity",
    "scheduling.defaultpreemption",
    "scheduling.balancedallocation",
    "scheduling.imagelocality",
    "scheduling.defaultbinder",
)

#: Set this environment variable (to anything but empty or ``0``) to skip entry-point plugins.
DISABLE_AUTOLOAD_ENV = "ORCHESTRA_DISABLE_PLUGIN_AUTOLOAD"


class PluginLoadError(Exception):
    """A plugin could not be imported or registered; the message names the plugin."""


def get_plugin_manager(
    plugins: Iterable[Any] = (),
    *,
    block: Iterable[str] = (),
    load_entrypoints: bool | None = None,
    config: dict | None = None,
) -> pluggy.PluginManager:
    """A plugin manager with Orchestra's hook specifications and plugins registered.

    :param plugins: plugin objects (modules, classes or instances with
        ``@hookimpl`` methods) registered last, so their firstresult hooks are
        asked first.
    :param block: plugin names not to register: a built-in by its name in
        :data:`DEFAULT_PLUGINS` (``"stores.sqlite"``) or an entry point by its name.
    :param load_entrypoints: load plugins from the ``orchestra`` entry-point
        group; by default yes, unless ``ORCHESTRA_DISABLE_PLUGIN_AUTOLOAD`` is set.
    :param config: settings passed to the historic ``orchestra_configure`` hook.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in block:
        pm.set_blocked(name)

    for name in DEFAULT_PLUGINS:
        if pm.is_blocked(name):
            continue
        try:
            module = importlib.import_module(f"orchestra.plugins.{name}")
        except ImportError as exc:
            raise PluginLoadError(f"built-in plugin {name!r} failed to import: {exc}") from exc
        pm.register(module, name=name)

    if load_entrypoints is None:
        load_entrypoints = os.environ.get(DISABLE_AUTOLOAD_ENV, "") in ("", "0")
    if load_entrypoints:
        try:
            pm.load_setuptools_entrypoints(hookspecs.PROJECT_NAME)
        except Exception as exc:  # a third-party plugin's import error must name it
            raise PluginLoadError(f"an entry-point plugin failed to load: {exc!r}") from exc

    for plugin in plugins:
        pm.register(plugin)

    pm.hook.orchestra_configure.call_historic(kwargs={"config": dict(config or {})})
    return pm


async def await_maybe(value: Any) -> Any:
    """``await value`` if it is awaitable, else return it: the bridge from pluggy's sync hooks."""
    if inspect.isawaitable(value):
        return await value
    return value


def plugin_hooks(pm: pluggy.PluginManager) -> list[tuple[str, str, list[str]]]:
    """``(name, origin, hooks)`` for every registered plugin, in registration order.

    ``origin`` is ``builtin``, ``entrypoint <dist>`` or ``explicit``.
    """
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        if id(plugin) in dists:
            dist = dists[id(plugin)]
            origin = f"entrypoint {dist.metadata['name']} {dist.version}"
        elif name in DEFAULT_PLUGINS:
            origin = "builtin"
        else:
            origin = "explicit"
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())
        rows.append((name, origin, hooks))
    return rows
