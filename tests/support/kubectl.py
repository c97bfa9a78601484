"""Find and run a real ``kubectl`` against a test server.

The binary is ``$ORCHESTRA_KUBECTL`` if set, else ``/usr/bin/kubectl``, else ``kubectl`` on PATH;
tests that need it are skipped (with that reason) when none is found.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import attrs
import pytest

__all__ = ["KUBECTL_ENV", "find_kubectl", "requires_kubectl", "Kubectl", "KubectlError"]

KUBECTL_ENV = "ORCHESTRA_KUBECTL"
_DEFAULT = "/usr/bin/kubectl"
#: Seconds one kubectl command may take before the test fails (no command here should wait).
_TIMEOUT = 60


def find_kubectl() -> str | None:
    """The kubectl to use: ``$ORCHESTRA_KUBECTL``, ``/usr/bin/kubectl`` or ``kubectl`` on PATH; None if absent."""
    explicit = os.environ.get(KUBECTL_ENV)
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    if os.access(_DEFAULT, os.X_OK):
        return _DEFAULT
    return shutil.which("kubectl")


requires_kubectl = pytest.mark.skipif(
    find_kubectl() is None,
    reason=f"no kubectl found (set ${KUBECTL_ENV}, or install /usr/bin/kubectl or kubectl on PATH)",
)


class KubectlError(AssertionError):
    """A kubectl command exited with an unexpected code; the message carries its output."""


@attrs.frozen
class Kubectl:
    """Runs kubectl with one kubeconfig, in a clean environment (no user config, no cache)."""

    binary: str
    kubeconfig: Path
    home: Path

    def env(self) -> dict[str, str]:
        """The environment of every command: the kubeconfig, a private HOME and cache directory."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.home / "cache"),
        }

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """``kubectl ARGS...``; with ``check``, a non-zero exit raises :class:`KubectlError`."""
        result = subprocess.run(
            [self.binary, *args], input=stdin, capture_output=True, text=True, env=self.env(), timeout=_TIMEOUT,
        )
        if check and result.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def fails(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        """``kubectl ARGS...`` that must fail; raises :class:`KubectlError` if it succeeds."""
        result = self.run(*args, stdin=stdin, check=False)
        if result.returncode == 0:
            raise KubectlError(f"kubectl {' '.join(args)} succeeded but should have failed:\n{result.stdout}")
        return result

    def popen(self, *args: str) -> subprocess.Popen:
        """Start ``kubectl ARGS...`` in the background (e.g. ``get -w``); stdout and stderr are pipes."""
        return subprocess.Popen(
            [self.binary, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env(),
        )
