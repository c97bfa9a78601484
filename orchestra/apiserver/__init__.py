"""The API server: the Kubernetes REST API over the store (routing, auth, storage, watch, discovery).

>>> server = await APIServer.create("memory://", data_dir="/var/lib/orchestra")
>>> await server.serve("127.0.0.1", 6443)

``APIServer`` and ``ServeError`` are imported on first use, so that the light modules of this
package (``errors``, ``request``) import without pulling in the whole server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestra.apiserver.request import ADMIN, NODE, READ_ONLY, ROLES, Request, Response, UserInfo

if TYPE_CHECKING:
    from orchestra.apiserver.server import APIServer, ServeError

__all__ = ["APIServer", "ServeError", "Request", "Response", "UserInfo", "ADMIN", "NODE", "READ_ONLY", "ROLES"]


def __getattr__(name: str) -> Any:
    if name in ("APIServer", "ServeError"):
        from orchestra.apiserver import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
