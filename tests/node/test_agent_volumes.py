"""configMap volumes on the process runtime: files written for the container, modes, items, optional."""

from __future__ import annotations

import os

import pytest

from orchestra.node.runtime import read_container_log
from node.agent_support import agent_cluster, container_waiting, pod_in_phase, pod_manifest, sh_container, wait_for

pytestmark = pytest.mark.timeout(120)


async def test_config_map_volume_files_modes_and_items(tmp_path):
    script = ('d="$ORCHESTRA_VOLUME_CONFIG"; cat "$d/app.conf"; stat -L -c %a "$d/app.conf"; '
              'e="$ORCHESTRA_VOLUME_PICKED"; ls "$e"; cat "$e/sub/renamed"; echo; stat -L -c %a "$e/sub/renamed"')
    async with agent_cluster(tmp_path) as cluster:
        await cluster.admin.create({"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "app", "namespace": "default"},
                                    "data": {"app.conf": "port=8080\n", "mode": "fast"}}, raw=True)
        volumes = [{"name": "config", "configMap": {"name": "app", "defaultMode": 0o600}},
                   {"name": "picked", "configMap": {"name": "app", "items": [
                       {"key": "mode", "path": "sub/renamed", "mode": 0o444}]}}]
        mounts = [{"name": "config", "mountPath": "/etc/app"}, {"name": "picked", "mountPath": "/etc/picked"}]
        await cluster.create_pod(pod_manifest("cm", [sh_container("main", script, volumeMounts=mounts)], volumes=volumes,
                                              restart_policy="Never"))
        pod = await wait_for(lambda: pod_in_phase(cluster, "cm", "Succeeded", "Failed"), "a terminal phase")
        worker = cluster.agent.find_worker("default", "cm")
        output = read_container_log(worker.log_path("main")).decode()
        assert pod["status"]["phase"] == "Succeeded", output
        assert output.splitlines() == ["port=8080", "600", "sub", "fast", "444"]
        uid = pod["metadata"]["uid"]
        pod_dir = os.path.join(cluster.agent.data_dir, "pods", uid)
        assert os.path.isdir(pod_dir)
        await cluster.admin.delete("pods", "cm", namespace="default", grace_period_seconds=0)
        await wait_for(lambda: _gone(cluster, "cm"), "the pod removed")
        await wait_for(lambda: _async(not os.path.exists(pod_dir)), "the pod's volume directory removed")


async def test_missing_config_map_waits_unless_optional(tmp_path):
    async with agent_cluster(tmp_path) as cluster:
        volumes = [{"name": "config", "configMap": {"name": "absent"}}]
        mounts = [{"name": "config", "mountPath": "/etc/app"}]
        await cluster.create_pod(pod_manifest("nocm", [sh_container("main", "sleep 1000", volumeMounts=mounts)],
                                              volumes=volumes))

        waiting = await wait_for(lambda: container_waiting(cluster, "nocm", "CreateContainerConfigError"),
                                 "CreateContainerConfigError")
        assert waiting["message"] == 'configmap "absent" not found'

        optional = [{"name": "config", "configMap": {"name": "absent", "optional": True}}]
        await cluster.create_pod(pod_manifest("optcm", [sh_container("main", 'ls -A "$ORCHESTRA_VOLUME_CONFIG" | grep -v "^\\.\\."'
                                                                    '; echo done', volumeMounts=mounts)],
                                              volumes=optional, restart_policy="Never"))
        pod = await wait_for(lambda: pod_in_phase(cluster, "optcm", "Succeeded", "Failed"), "a terminal phase")
        worker = cluster.agent.find_worker("default", "optcm")
        assert read_container_log(worker.log_path("main")).decode() == "done\n"
        assert pod["status"]["phase"] == "Succeeded"


async def _gone(cluster, name: str) -> bool:
    return await cluster.pod(name) is None and cluster.agent.find_worker("default", name) is None


async def _async(value: bool) -> bool:
    return value
