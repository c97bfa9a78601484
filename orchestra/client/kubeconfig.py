"""Reading kubeconfig files: the server, its CA, and the credentials of one context."""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from pathlib import Path
from typing import Any

import attrs
import yaml

__all__ = ["KubeConfigError", "ClusterCredentials", "load_kubeconfig", "default_kubeconfig_path"]


class KubeConfigError(ValueError):
    """A kubeconfig is missing, malformed, or lacks what the chosen context needs."""


@attrs.frozen
class ClusterCredentials:
    """Where the API server is and how to talk to it."""

    server: str
    ca_data: bytes | None = None
    insecure_skip_tls_verify: bool = False
    token: str | None = None
    client_cert_data: bytes | None = None
    client_key_data: bytes | None = None
    tls_server_name: str | None = None

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client TLS context (``None`` for plain HTTP servers)."""
        if not self.server.startswith("https://"):
            return None
        ctx = ssl.create_default_context()
        if self.insecure_skip_tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_data:
            ctx.load_verify_locations(cadata=self.ca_data.decode())
        if self.client_cert_data and self.client_key_data:
            # ssl loads certificate chains only from files: write them to a private temp dir.
            with tempfile.TemporaryDirectory() as tmp:
                cert, key = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
                cert.write_bytes(self.client_cert_data)
                key.touch(mode=0o600)
                key.write_bytes(self.client_key_data)
                ctx.load_cert_chain(str(cert), str(key))
        return ctx


def default_kubeconfig_path() -> str:
    """``$KUBECONFIG`` (its first entry) or ``~/.kube/config``."""
    env = os.environ.get("KUBECONFIG")
    if env:
        return env.split(os.pathsep)[0]
    return str(Path.home() / ".kube" / "config")


def _named(entries: Any, name: str, what: str, path: str) -> dict:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry.get(what) or {}
    raise KubeConfigError(f"{path}: no {what} named {name!r}")


def _data(section: dict, key: str, base: Path) -> bytes | None:
    if section.get(f"{key}-data"):
        try:
            return base64.b64decode(section[f"{key}-data"])
        except ValueError as exc:
            raise KubeConfigError(f"{key}-data is not valid base64: {exc}") from exc
    if section.get(key):
        file = Path(section[key])
        file = file if file.is_absolute() else base / file
        try:
            return file.read_bytes()
        except OSError as exc:
            raise KubeConfigError(f"cannot read {key} {file}: {exc.strerror}") from exc
    return None


def load_kubeconfig(path: str | None = None, *, context: str | None = None) -> ClusterCredentials:
    """The credentials of ``context`` (default: ``current-context``) in the kubeconfig at ``path``."""
    path = path or default_kubeconfig_path()
    try:
        config = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise KubeConfigError(f"cannot read kubeconfig {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise KubeConfigError(f"kubeconfig {path} is not valid YAML: {exc}") from exc
    if not isinstance(config, dict):
        raise KubeConfigError(f"kubeconfig {path} is not a mapping")
    context_name = context or config.get("current-context")
    if not context_name:
        raise KubeConfigError(f"{path}: no current-context set and no context given")
    ctx = _named(config.get("contexts"), context_name, "context", path)
    cluster = _named(config.get("clusters"), ctx.get("cluster", ""), "cluster", path)
    user = _named(config.get("users"), ctx.get("user", ""), "user", path) if ctx.get("user") else {}
    if not cluster.get("server"):
        raise KubeConfigError(f"{path}: cluster {ctx.get('cluster')!r} has no server")
    base = Path(path).parent
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = Path(user["tokenFile"]).read_text().strip()
    return ClusterCredentials(
        server=cluster["server"].rstrip("/"),
        ca_data=_data(cluster, "certificate-authority", base),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")),
        token=token,
        client_cert_data=_data(user, "client-certificate", base),
        client_key_data=_data(user, "client-key", base),
        tls_server_name=cluster.get("tls-server-name"),
    )
