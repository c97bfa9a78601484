"""``pods/log``: the API server proxies the request to the node agent that runs the pod.

The agent is found through the pod's ``spec.nodeName``: the node's first address (InternalIP,
then ExternalIP, then Hostname) and ``status.daemonEndpoints.kubeletEndpoint.Port``. The request
becomes ``GET https://<address>:<port>/containerLogs/<ns>/<pod>/<container>`` with ``follow``,
``tailLines``, ``timestamps``, ``previous``, ``sinceSeconds`` and ``limitBytes`` passed on; the
agent's answer streams back as ``text/plain``. The agent's certificate is verified against the
cluster CA, and the API server presents its client certificate.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any, AsyncIterator
from urllib.parse import quote

from orchestra.api.registry import by_resource
from orchestra.apiserver.errors import APIError, BadRequest, InternalError, NotFound, ServiceUnavailable
from orchestra.apiserver.request import Request, Response
from orchestra.apiserver.routing import parse_bool

if TYPE_CHECKING:
    import aiohttp

__all__ = ["PodLogProxy", "node_address", "kubelet_port", "log_query"]

_ADDRESS_PREFERENCE = ("InternalIP", "ExternalIP", "Hostname")
_BOOL_PARAMS = ("follow", "timestamps", "previous")
_INT_PARAMS = ("tailLines", "sinceSeconds", "limitBytes")
_CHUNK = 64 * 1024


def node_address(node: dict) -> str | None:
    """The address to reach a node's agent at, by Kubernetes' preference order."""
    addresses = (node.get("status") or {}).get("addresses") or []
    for wanted in _ADDRESS_PREFERENCE:
        for a in addresses:
            if a.get("type") == wanted and a.get("address"):
                return a["address"]
    return None


def kubelet_port(node: dict) -> int | None:
    """``status.daemonEndpoints.kubeletEndpoint.Port`` of a node, if set."""
    endpoints = (node.get("status") or {}).get("daemonEndpoints") or {}
    port = (endpoints.get("kubeletEndpoint") or {}).get("Port")
    return port if isinstance(port, int) and 0 < port < 65536 else None


def log_query(request: Request) -> dict[str, str]:
    """The log options of a ``pods/log`` request, checked, as the agent's query parameters."""
    query: dict[str, str] = {}
    for name in _BOOL_PARAMS:
        if parse_bool(name, request.param(name)):
            query[name] = "true"
    for name in _INT_PARAMS:
        value = request.param(name)
        if value is None or value == "":
            continue
        try:
            number = int(value)
        except ValueError:
            raise BadRequest(f"invalid value for {name}: {value!r} is not an integer") from None
        if number < 0:
            raise BadRequest(f"invalid value for {name}: {value!r} must not be negative")
        query[name] = str(number)
    return query


def _container(pod: dict, name: str, wanted: str | None) -> str:
    spec = pod.get("spec") or {}
    names = [c.get("name") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])]
    if wanted:
        if wanted not in names:
            raise BadRequest(f"container {wanted} is not valid for pod {name}")
        return wanted
    main = [c.get("name") for c in spec.get("containers") or []]
    if len(main) == 1:
        return main[0]
    raise BadRequest(f"a container name must be specified for pod {name}, choose one of: [{' '.join(main)}]")


def _agent_error(status: int, text: str, url: str) -> APIError:
    message = text.strip() or f"the node agent answered {status} for {url}"
    if status == 404:
        return NotFound(message)
    if status == 400:
        return BadRequest(message)
    if status in (502, 503, 504):
        return ServiceUnavailable(message)
    return InternalError(message)


class PodLogProxy:
    """Streams container logs from node agents."""

    def __init__(self, storage: Any, ssl_context: ssl.SSLContext | None) -> None:
        self._storage = storage
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        """Close the connections to node agents."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _agent_url(self, namespace: str, name: str, container: str | None) -> tuple[str, str]:
        pods = self._storage.storage(by_resource("", "v1", "pods"))
        pod = await pods.get(namespace, name)
        container_name = _container(pod, name, container)
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            raise BadRequest(f'pod "{name}" does not have a host assigned')
        node = await self._storage.storage(by_resource("", "v1", "nodes")).get(None, node_name)
        address, port = node_address(node), kubelet_port(node)
        if address is None or port is None:
            raise ServiceUnavailable(f'node "{node_name}" has no agent endpoint (address and kubelet port)')
        host = f"[{address}]" if ":" in address else address
        path = "/".join(quote(p, safe="") for p in (namespace, name, container_name))
        return f"https://{host}:{port}/containerLogs/{path}", node_name

    async def logs(self, namespace: str | None, name: str | None, request: Request) -> Response:
        """The logs of one container of pod ``namespace/name``, streamed from its node's agent."""
        assert namespace is not None and name is not None
        query = log_query(request)
        url, node_name = await self._agent_url(namespace, name, request.param("container"))
        import aiohttp  # imported on first use: most API servers never relay a log

        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        try:
            response = await self._session.get(url, params=query, ssl=self._ssl if self._ssl is not None else True)
        except (aiohttp.ClientError, OSError) as exc:
            raise ServiceUnavailable(f'cannot reach the agent of node "{node_name}" at {url}: {exc}') from None
        if response.status != 200:
            text = await response.text(errors="replace")
            response.release()
            raise _agent_error(response.status, text, url)
        return Response(200, b"", "text/plain", stream=_relay(response))


async def _relay(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    import aiohttp

    try:
        async for chunk in response.content.iter_any():
            yield chunk
    except (aiohttp.ClientError, OSError):
        return
    finally:
        response.release()
