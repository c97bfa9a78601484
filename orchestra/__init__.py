"""Orchestra: a Kubernetes-compatible container orchestrator as a Python SDK.

The public names are listed in ``__all__`` and pinned by ``tests/test_public_api.py``.
"""

from orchestra._version import __version__
from orchestra.hookspecs import hookimpl, hookspec
from orchestra.plugin_manager import DEFAULT_PLUGINS, await_maybe, get_plugin_manager

__all__ = [
    "__version__",
    "hookimpl",
    "hookspec",
    "get_plugin_manager",
    "await_maybe",
    "DEFAULT_PLUGINS",
    "Cluster",
]


def __getattr__(name: str):
    """``orchestra.Cluster`` is imported on first use, so ``import orchestra`` stays light."""
    if name == "Cluster":
        from orchestra.cluster import Cluster

        return Cluster
    raise AttributeError(f"module 'orchestra' has no attribute {name!r}")
