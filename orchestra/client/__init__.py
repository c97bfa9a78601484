"""The API client: typed verbs over HTTP or in-process transports, informers and work queues.

Every Orchestra component talks to the API server through this package and
nothing else, so the same code runs embedded in one process or across machines.
"""

from orchestra.client.client import (
    ApiStatusError,
    Client,
    ObjectList,
    ResourceExpired,
    UnknownKindError,
    WatchEvent,
    raise_for_status,
    resolve_kind,
    resource_path,
)
from orchestra.client.informer import Informer, object_key
from orchestra.client.kubeconfig import ClusterCredentials, KubeConfigError, load_kubeconfig
from orchestra.client.transport import HTTPTransport, InProcessTransport, Transport, TransportError
from orchestra.client.workqueue import ShutDown, WorkQueue, default_rate_limiter

__all__ = [
    "ApiStatusError",
    "Client",
    "ClusterCredentials",
    "HTTPTransport",
    "InProcessTransport",
    "Informer",
    "KubeConfigError",
    "ObjectList",
    "ResourceExpired",
    "ShutDown",
    "Transport",
    "TransportError",
    "UnknownKindError",
    "WatchEvent",
    "WorkQueue",
    "default_rate_limiter",
    "load_kubeconfig",
    "object_key",
    "raise_for_status",
    "resolve_kind",
    "resource_path",
]
