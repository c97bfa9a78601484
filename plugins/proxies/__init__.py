"""Service-proxy modes, one module per mode name: ``userspace``."""
