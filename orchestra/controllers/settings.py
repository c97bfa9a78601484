"""The controller manager's per-controller settings (what kube-controller-manager's flags set).

:class:`ControllerSettings` is given to :class:`~orchestra.controllers.manager.ControllerManager`
at construction; the manager builds each controller with the keywords
:meth:`ControllerSettings.constructor_kwargs` derives from it, so a controller never runs with
other settings than the ones it was created with.

- ``node_monitor_grace_period``: ``--node-monitor-grace-period``, the seconds without a node
  heartbeat before the node lifecycle controller marks the node's conditions Unknown (50).
- ``workers``: ``--concurrent-<name>-syncs``, keys synced concurrently, per controller name.
- ``default_workers``: the same for every controller not named in ``workers`` (default: each
  controller's own ``default_workers``).
- ``options``: further constructor keywords per controller name, e.g.
  ``{"job": {"backoff_base": 0.1}}``; each is checked against the controller's constructor.

Pod eviction after a node failure has no setting here, as in Kubernetes since taint-based
eviction: a pod is evicted when its ``tolerationSeconds`` for the ``not-ready``/``unreachable``
taints run out (300 s, added by the API server's DefaultTolerationSeconds admission).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Mapping

import attrs

__all__ = ["ControllerSettings", "ControllerSettingsError", "DEFAULT_NODE_MONITOR_GRACE_PERIOD"]

#: kube-controller-manager's ``--node-monitor-grace-period`` default (seconds).
DEFAULT_NODE_MONITOR_GRACE_PERIOD = 50.0
#: Constructor parameters the manager itself passes; ``options`` may not set them.
_RESERVED = frozenset({"self", "client", "informers", "workers"})


class ControllerSettingsError(ValueError):
    """A controller setting is unknown or out of range; the message names the field."""


def _controllers() -> dict[str, str]:
    from orchestra.controllers.manager import CONTROLLERS

    return CONTROLLERS


def _check_name(field: str, name: str) -> None:
    known = _controllers()
    if name not in known:
        raise ControllerSettingsError(f"{field}: unknown controller {name!r} (known: {', '.join(sorted(known))})")


def _positive_number(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ControllerSettingsError(f"{field} must be a number of seconds greater than 0, got {value!r}")
    return float(value)


def _worker_count(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ControllerSettingsError(f"{field} must be an integer of at least 1, got {value!r}")
    return value


def _load(name: str) -> type:
    module, _, cls = _controllers()[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def _keywords(cls: type) -> set[str]:
    """The keyword parameters of ``cls``'s constructor that a setting may give."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {p.name for p in parameters
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in _RESERVED}


def _frozen_options(value: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ControllerSettingsError(f"options must map controller names to keyword mappings, got {value!r}")
    options = {}
    for name, keywords in value.items():
        if not isinstance(keywords, Mapping):
            raise ControllerSettingsError(f"options[{name!r}] must be a mapping of keywords, got {keywords!r}")
        options[name] = dict(keywords)
    return options


@attrs.frozen
class ControllerSettings:
    """Per-controller settings of a controller manager (see the module docstring)."""

    node_monitor_grace_period: float = DEFAULT_NODE_MONITOR_GRACE_PERIOD
    workers: Mapping[str, int] = attrs.field(factory=dict, converter=lambda v: dict(v or {}))
    default_workers: int | None = None
    options: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict, converter=_frozen_options)

    def __attrs_post_init__(self) -> None:
        _positive_number("node_monitor_grace_period", self.node_monitor_grace_period)
        if self.default_workers is not None:
            _worker_count("default_workers", self.default_workers)
        for name, count in self.workers.items():
            _check_name("workers", name)
            _worker_count(f"workers[{name!r}]", count)
        for name, keywords in self.options.items():
            _check_name("options", name)
            allowed = _keywords(_load(name))
            for keyword in keywords:
                if keyword not in allowed:
                    raise ControllerSettingsError(
                        f"options[{name!r}]: controller {name!r} has no setting {keyword!r} "
                        f"(it has: {', '.join(sorted(allowed)) or 'none'})")

    def constructor_kwargs(self, name: str) -> dict[str, Any]:
        """The keywords controller ``name`` is constructed with (beside the client and informers)."""
        kwargs: dict[str, Any] = {"workers": self.workers.get(name, self.default_workers)}
        if name == "nodelifecycle":
            kwargs["grace_period"] = float(self.node_monitor_grace_period)
        kwargs.update(self.options.get(name, {}))
        return kwargs
