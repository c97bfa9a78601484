"""Controllers and a fake kubelet running on a threaded test server's loop.

:func:`start_controllers` starts a :class:`ControllerManager` (no leader election) and an
:class:`AutoKubelet` that marks every new pod Running and Ready — the test's driver for pod
state, since no scheduler or node agent runs — so ``kubectl rollout`` and ``orchestra rollout``
see deployments roll out to completion.
"""

from __future__ import annotations

import attrs

from orchestra.apiserver.request import UserInfo
from orchestra.client import Client, Informer
from orchestra.api.timestamps import now_rfc3339
from orchestra.controllers.manager import ControllerManager
from tests.support.cli_server import ThreadedServer

__all__ = ["AutoKubelet", "RunningControllers", "start_controllers"]


class AutoKubelet:
    """Marks every pod that is not Ready as Running and Ready through ``pods/status``."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.informer = Informer(client, "pods", raw=True)
        self.informer.add_handler(self._seen, lambda old, new: self._seen(new), None)

    async def _seen(self, pod: dict) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            return
        conditions = {c["type"]: c["status"] for c in (pod.get("status") or {}).get("conditions") or ()}
        if conditions.get("Ready") == "True":
            return
        stamp = now_rfc3339()
        pod = dict(pod, apiVersion="v1", kind="Pod")
        pod["status"] = {**(pod.get("status") or {}), "phase": "Running",
                         "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": stamp}]}
        try:
            await self.client.update_status(pod, raw=True)
        except Exception:  # a conflict or a deleted pod: the next event brings it again
            pass

    def start(self) -> None:
        """Start watching pods."""
        self.informer.start()

    async def stop(self) -> None:
        """Stop watching."""
        await self.informer.stop()


@attrs.define
class RunningControllers:
    """The manager and kubelet started on a threaded server's loop."""

    cluster: ThreadedServer
    manager: ControllerManager
    kubelet: AutoKubelet
    client: Client

    def stop(self) -> None:
        """Stop both, on the server's loop."""
        async def stop(_server):
            await self.kubelet.stop()
            await self.manager.stop()
            await self.client.close()

        self.cluster.call(stop)


def start_controllers(cluster: ThreadedServer) -> RunningControllers:
    """Run every controller and the auto kubelet against ``cluster``."""
    async def start(server):
        client = Client.in_process(server, UserInfo("system:kube-controller-manager", role="admin"))
        manager = ControllerManager(client)
        await manager.start()
        kubelet = AutoKubelet(client)
        kubelet.start()
        return manager, kubelet, client

    manager, kubelet, client = cluster.call(start)
    return RunningControllers(cluster, manager, kubelet, client)
