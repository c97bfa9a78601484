"""The node agent (Kubernetes' kubelet): wires registration, pod workers, the endpoint and the runtime.

>>> agent = NodeAgent(client, AgentConfig("node-1"), ca=server.pki.ca(), ca_file=server.pki.ca_cert)
>>> await agent.start()     # registers node-1, heartbeats, runs the pods bound to it
>>> await agent.stop()

The agent watches the pods with ``spec.nodeName=<node>`` through an informer and runs one
:class:`~orchestra.node.podworker.PodWorker` per pod (by uid). It speaks to the API only through
its :class:`~orchestra.client.Client`, so the same code runs in-process or across machines.
Every ``volume_check_period`` seconds it checks emptyDir sizeLimits (evicting offenders).
Its HTTPS endpoint (:mod:`orchestra.node.server`) uses ``tls_cert_file``/``tls_key_file`` when
given, else a certificate issued by the cluster CA (``ca``) for the node's address and name.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import attrs

from orchestra.aio import cancel_and_wait
from orchestra.client import ApiStatusError, Client, Informer
from orchestra.node.backoff import Backoff
from orchestra.node.events import EventRecorder
from orchestra.node.podworker import PodContext, PodWorker
from orchestra.node.registration import NodeRegistration, NodeSettings
from orchestra.node.runtime import DEFAULT_RUNTIME, Runtime, create_runtime
from orchestra.node.server import AgentServer

__all__ = ["AgentConfig", "NodeAgent", "AgentConfigError"]

log = logging.getLogger(__name__)


class AgentConfigError(ValueError):
    """The agent's configuration cannot work (e.g. TLS requested without any certificate)."""


@attrs.define
class AgentConfig:
    """Everything an agent is told; only ``node_name`` is required.

    Periods are in seconds. ``port`` 0 picks a free port (tests); ``serve=False`` runs no
    endpoint at all (simulated nodes at scale).
    """

    node_name: str
    runtime: str = DEFAULT_RUNTIME
    runtime_config: Mapping[str, Any] = attrs.field(factory=dict)
    data_dir: str | None = None
    address: str = "127.0.0.1"
    bind_address: str | None = None
    port: int = 10250
    serve: bool = True
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    client_ca_file: str | None = None
    capacity: Mapping[str, str] | None = None
    labels: Mapping[str, str] = attrs.field(factory=dict)
    taints: list[dict[str, Any]] = attrs.field(factory=list)
    pod_cidr: str | None = None
    lease_duration: int = 40
    lease_period: float = 10.0
    status_check_period: float = 10.0
    status_report_period: float = 60.0
    volume_check_period: float = 10.0
    crash_backoff_initial: float = 10.0
    crash_backoff_max: float = 300.0
    crash_backoff_reset: float = 600.0
    image_backoff_initial: float = 10.0
    image_backoff_max: float = 300.0
    host_pressure: bool = True


class NodeAgent:
    """One node: its registration, its pods, its endpoint (see the module docstring).

    :param client: how to reach the API (node credentials: ``system:node:<name>``).
    :param config: the agent's settings.
    :param plugin_manager: where runtimes come from (default: :func:`get_plugin_manager`).
    :param runtime: an already opened runtime to use instead of creating one (not closed by stop).
    :param ca: the cluster CA (``CertificateAuthority``) to issue the endpoint's certificate.
    :param ca_file: the CA certificate file that verifies client certificates (the API server's).
    """

    def __init__(self, client: Client, config: AgentConfig, *, plugin_manager: Any = None,
                 runtime: Runtime | None = None, ca: Any = None, ca_file: str | os.PathLike[str] | None = None) -> None:
        self.client = client
        self.config = config
        self.plugin_manager = plugin_manager
        self.runtime: Runtime | None = runtime
        self._owns_runtime = runtime is None
        self.ca = ca
        self.ca_file = str(ca_file) if ca_file is not None else config.client_ca_file
        self.workers: dict[str, PodWorker] = {}
        self.server: AgentServer | None = None
        self.registration: NodeRegistration | None = None
        self.events = EventRecorder(client, config.node_name)
        self.informer: Informer | None = None
        self.data_dir: str = ""
        self._owns_data_dir = False
        self._tasks: list[asyncio.Task[None]] = []
        self._has_pods = asyncio.Event()
        self.context: PodContext | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def name(self) -> str:
        """The node's name."""
        return self.config.node_name

    @property
    def port(self) -> int:
        """The endpoint's port (known after :meth:`start`)."""
        return self.server.port if self.server is not None else self.config.port

    async def start(self) -> None:
        """Open the runtime, serve the endpoint, register the node and start running its pods."""
        config = self.config
        if config.data_dir:
            self.data_dir = config.data_dir
            Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        else:
            self.data_dir = tempfile.mkdtemp(prefix=f"orchestra-agent-{config.node_name}-")
            self._owns_data_dir = True
        if self.runtime is None:
            pm = self.plugin_manager
            if pm is None:
                from orchestra.plugin_manager import get_plugin_manager

                pm = get_plugin_manager()
            runtime_config = {"data_dir": self.data_dir, **dict(config.runtime_config)}
            self.runtime = await create_runtime(config.runtime, runtime_config, pm)
        try:
            if config.serve:
                await self._serve()
            port = self.server.port if self.server is not None else config.port
            self.registration = NodeRegistration(self.client, NodeSettings(
                name=config.node_name, address=config.address, port=port, data_dir=self.data_dir,
                capacity=config.capacity, labels=dict(config.labels), taints=list(config.taints),
                pod_cidr=config.pod_cidr, runtime_name=self.runtime.name or config.runtime,
                lease_duration=config.lease_duration, lease_period=config.lease_period,
                status_check_period=config.status_check_period, status_report_period=config.status_report_period,
                host_pressure=config.host_pressure))
            await self.registration.register()
            self.registration.start()
            self.events.start()
            self.context = PodContext(
                client=self.client, runtime=self.runtime, events=self.events, node_name=config.node_name,
                host_ip=config.address,
                crash_backoff=Backoff(config.crash_backoff_initial, config.crash_backoff_max, config.crash_backoff_reset),
                image_backoff=Backoff(config.image_backoff_initial, config.image_backoff_max),
                get_object=self._get_object, on_removed=self._forget, pods_root=os.path.join(self.data_dir, "pods"))
            # The workers only read their pods (statuses are built afresh, specs copied into
            # ContainerSpecs): in process, the agent shares the API server's pod objects.
            self.informer = Informer(self.client, "pods", field_selector=f"spec.nodeName={config.node_name}",
                                     raw=True, shared=True)
            self.informer.add_handler(self._on_add, self._on_update, self._on_delete)
            self.informer.start()
            self._tasks.append(asyncio.get_running_loop().create_task(self._check_volumes(),
                                                                      name=f"volumes-{config.node_name}"))
        except BaseException:
            await self.stop()
            raise

    async def _serve(self) -> None:
        config = self.config
        cert_file, key_file = config.tls_cert_file, config.tls_key_file
        if bool(cert_file) != bool(key_file):
            raise AgentConfigError("--tls-cert-file and --tls-private-key-file go together: give both or neither")
        if not cert_file:
            if self.ca is None:
                raise AgentConfigError(
                    "the agent's HTTPS endpoint needs a certificate: give --tls-cert-file and --tls-private-key-file, "
                    "or a data directory holding the cluster CA (ca.crt and ca.key)")
            issued = self.ca.issue(f"system:node:{config.node_name}", organizations=("system:nodes",),
                                   addresses=tuple(dict.fromkeys((config.address, config.node_name, "localhost"))),
                                   server=True)
            pki = Path(self.data_dir) / "pki"
            pki.mkdir(parents=True, exist_ok=True)
            cert_file, key_file = str(pki / "agent.crt"), str(pki / "agent.key")
            Path(key_file).touch(mode=0o600)
            Path(key_file).write_bytes(issued.key_pem)
            Path(cert_file).write_bytes(issued.cert_pem)
        self.server = AgentServer(config.node_name, self.runtime, self, cert_file=cert_file, key_file=key_file,
                                  client_ca_file=self.ca_file, host_stats=config.host_pressure)
        await self.server.start(config.bind_address or config.address, config.port)

    async def stop(self) -> None:
        """Stop watching, stop the workers, the runtime (if the agent made it), the endpoint."""
        if self.informer is not None:
            await self.informer.stop()
            self.informer = None
        await cancel_and_wait(self._tasks)
        self._tasks = []
        for worker in list(self.workers.values()):
            await worker.stop()
        self.workers.clear()
        if self.registration is not None:
            await self.registration.stop()
        await self.events.stop()
        if self.runtime is not None and self._owns_runtime:
            await self.runtime.close()
            self.runtime = None
        if self.server is not None:
            await self.server.close()
            self.server = None
        if self._owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    async def __aenter__(self) -> "NodeAgent":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ the pod directory

    def find_worker(self, namespace: str, name: str) -> PodWorker | None:
        """The worker of pod ``namespace/name`` (the newest when several uids share the name)."""
        found = None
        for worker in self.workers.values():
            if worker.namespace == namespace and worker.name == name:
                found = worker
        return found

    def all_workers(self) -> Iterable[PodWorker]:
        """Every pod worker."""
        return list(self.workers.values())

    # ------------------------------------------------------------------ handlers

    async def _get_object(self, kind: str, namespace: str, name: str) -> dict | None:
        try:
            return await self.client.get(kind, name, namespace=namespace, raw=True)
        except ApiStatusError as exc:
            if exc.code == 404:
                return None
            raise

    def _on_add(self, pod: dict) -> None:
        uid = (pod.get("metadata") or {}).get("uid") or ""
        worker = self.workers.get(uid)
        if worker is not None:
            worker.update(pod)
            return
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            return  # finished before this agent saw it: nothing to run
        assert self.context is not None
        worker = self.workers[uid] = PodWorker(self.context, pod)
        self._has_pods.set()
        worker.start()

    def _on_update(self, old: dict, new: dict) -> None:
        self._on_add(new)

    def _on_delete(self, pod: dict) -> None:
        uid = (pod.get("metadata") or {}).get("uid") or ""
        worker = self.workers.get(uid)
        if worker is not None:
            worker.removed(pod)

    def _forget(self, worker: PodWorker) -> None:
        if self.workers.get(worker.uid) is worker:
            del self.workers[worker.uid]

    async def _check_volumes(self) -> None:
        while True:
            if not self.workers:
                # nothing to measure: sleep until a pod arrives (thousands of idle simulated nodes
                # would otherwise wake every period for nothing)
                self._has_pods.clear()
                await self._has_pods.wait()
            await asyncio.sleep(self.config.volume_check_period)
            for worker in list(self.workers.values()):
                try:
                    await worker.check_volumes()
                except Exception:
                    log.exception("pod %s: volume check failed", worker.key)
