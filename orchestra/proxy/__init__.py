"""The service proxy: Services and Endpoints in, a table for the proxy mode out.

:class:`ServiceProxy` watches the API; the mode contract (:class:`ProxyMode`, the table
types) lives in :mod:`orchestra.proxy.mode`; modes are plugins (``plugins/proxies``).
"""

from orchestra.proxy.mode import Endpoint, ProxyMode, ProxyModeError, ProxyTable, ServiceEntry
from orchestra.proxy.proxy import ServiceProxy, build_table, create_mode, mode_names

__all__ = [
    "Endpoint",
    "ProxyMode",
    "ProxyModeError",
    "ProxyTable",
    "ServiceEntry",
    "ServiceProxy",
    "build_table",
    "create_mode",
    "mode_names",
]
