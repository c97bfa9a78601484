"""Type stubs of the RFC 1123 name checks (``orchestra._ext.names``, built from ``ext/names.pyx``)."""

from typing import Any

__all__ = ["dns1123_label", "dns1123_subdomain"]

def dns1123_label(value: Any, /) -> bool:
    """Whether ``value`` is a str Kubernetes' ``IsDNS1123Label`` accepts (at most 63 characters)."""

def dns1123_subdomain(value: Any, /) -> bool:
    """Whether ``value`` is a str Kubernetes' ``IsDNS1123Subdomain`` accepts (at most 253 characters)."""
