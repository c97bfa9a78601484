"""Restart policies, bad commands, init containers, env, emptyDir limits and graceful deletion."""

from __future__ import annotations

import os

import pytest

from node.agent_support import agent_cluster, container_waiting, pod_in_phase, pod_manifest, sh_container, wait_for

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize(("code", "phase", "reason"), [(0, "Succeeded", "Completed"), (3, "Failed", "Error")])
async def test_restart_policy_never(tmp_path, code, phase, reason):
    async with agent_cluster(tmp_path) as cluster:
        await cluster.create_pod(pod_manifest("once", [sh_container("main", f"echo bye; exit {code}")], restart_policy="Never"))
        pod = await wait_for(lambda: pod_in_phase(cluster, "once", "Succeeded", "Failed"), "a terminal phase")
        assert pod["status"]["phase"] == phase
        status = pod["status"]["containerStatuses"][0]
        assert status["restartCount"] == 0
        assert status["state"]["terminated"]["exitCode"] == code
        assert status["state"]["terminated"]["reason"] == reason
        ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "False" and ready["reason"] == ("PodCompleted" if code == 0 else "PodFailed")


async def test_restart_policy_on_failure_restarts_until_success(tmp_path):
    script = 'if [ -e "$ORCHESTRA_VOLUME_DATA/ran" ]; then exit 0; fi; touch "$ORCHESTRA_VOLUME_DATA/ran"; exit 1'
    async with agent_cluster(tmp_path) as cluster:
        await cluster.create_pod(pod_manifest(
            "retry", [sh_container("main", script, volumeMounts=[{"name": "data", "mountPath": "/data"}])],
            restart_policy="OnFailure", volumes=[{"name": "data", "emptyDir": {}}]))
        pod = await wait_for(lambda: pod_in_phase(cluster, "retry", "Succeeded", "Failed"), "a terminal phase")
        assert pod["status"]["phase"] == "Succeeded"
        status = pod["status"]["containerStatuses"][0]
        assert status["restartCount"] == 1
        assert status["lastState"]["terminated"]["exitCode"] == 1
        assert status["state"]["terminated"]["exitCode"] == 0


async def test_restart_policy_always_restarts_a_completed_container_with_backoff(tmp_path):
    async with agent_cluster(tmp_path, crash_backoff_initial=0.5) as cluster:
        await cluster.create_pod(pod_manifest("loop", [sh_container("main", "exit 0")]))

        async def looping() -> dict | None:
            status = await cluster.container_status("loop")
            return status if status and status["restartCount"] >= 2 else None

        await wait_for(looping, "two restarts")
        pod = await cluster.pod("loop")
        assert pod["status"]["phase"] == "Running"
        reasons = [e["reason"] for e in await cluster.events("loop")]
        assert "BackOff" in reasons


async def test_missing_command_is_run_container_error_and_the_agent_keeps_going(tmp_path):
    async with agent_cluster(tmp_path) as cluster:
        await cluster.create_pod(pod_manifest("bad", [{"name": "main", "image": "x", "command": ["no-such-cmd-xyz"]}]))

        waiting = await wait_for(lambda: container_waiting(cluster, "bad", "RunContainerError"),
                                 "waiting reason RunContainerError")
        assert 'exec: "no-such-cmd-xyz": executable file not found in $PATH' in waiting["message"]
        failed = [e["message"] for e in await cluster.events("bad") if e["reason"] == "Failed"]
        assert any("executable file not found" in m for m in failed)
        await cluster.create_pod(pod_manifest("good", [sh_container("main", "exit 0")], restart_policy="Never"))
        pod = await wait_for(lambda: pod_in_phase(cluster, "good", "Succeeded"), "the next pod to succeed")
        assert pod["status"]["phase"] == "Succeeded"


async def test_init_containers_env_and_shared_empty_dir(tmp_path):
    async with agent_cluster(tmp_path) as cluster:
        await cluster.admin.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
                                    "data": {"greeting": "hello"}}, namespace="default", raw=True)
        mount = [{"name": "shared", "mountPath": "/shared"}]
        init = [sh_container("first", 'echo one > "$ORCHESTRA_VOLUME_SHARED/order"', volumeMounts=mount),
                sh_container("second", 'echo two >> "$ORCHESTRA_VOLUME_SHARED/order"', volumeMounts=mount)]
        main = sh_container("main", 'cat "$ORCHESTRA_VOLUME_SHARED/order"; echo "$GREETING $NAME $NS $NODE $IP $ALIAS"',
                   volumeMounts=mount, env=[
                       {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}},
                       {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                       {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                       {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                       {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                       {"name": "ALIAS", "value": "$(NAME)-x"}])
        await cluster.create_pod(pod_manifest("init", [main], restart_policy="Never", init_containers=init,
                                              volumes=[{"name": "shared", "emptyDir": {}}]))
        pod = await wait_for(lambda: pod_in_phase(cluster, "init", "Succeeded", "Failed"), "a terminal phase")
        assert pod["status"]["phase"] == "Succeeded"
        assert [s["state"]["terminated"]["exitCode"] for s in pod["status"]["initContainerStatuses"]] == [0, 0]
        worker = cluster.agent.find_worker("default", "init")
        from orchestra.node.runtime import read_container_log

        output = read_container_log(worker.log_path("main")).decode()
        ip = pod["status"]["podIP"]
        assert output.splitlines() == ["one", "two", f"hello init default node-1 {ip} init-x"]


async def test_missing_config_map_is_create_container_config_error(tmp_path):
    container = sh_container("main", "true", env=[{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent",
                                                                                         "key": "k"}}}])
    async with agent_cluster(tmp_path) as cluster:
        await cluster.create_pod(pod_manifest("nocm", [container]))

        waiting = await wait_for(lambda: container_waiting(cluster, "nocm", "CreateContainerConfigError"),
                                 "CreateContainerConfigError")
        assert waiting["message"] == 'configmap "absent" not found'


async def test_empty_dir_over_its_size_limit_evicts_the_pod(tmp_path):
    script = 'head -c 2097152 /dev/zero > "$ORCHESTRA_VOLUME_CACHE/fill"; sleep 1000'
    async with agent_cluster(tmp_path) as cluster:
        await cluster.create_pod(pod_manifest(
            "hog", [sh_container("main", script, volumeMounts=[{"name": "cache", "mountPath": "/cache"}])],
            volumes=[{"name": "cache", "emptyDir": {"sizeLimit": "1Mi"}}]))
        pod = await wait_for(lambda: pod_in_phase(cluster, "hog", "Failed"), "the pod evicted")
        status = pod["status"]
        message = 'Usage of EmptyDir volume "cache" exceeds the limit "1Mi".'
        assert status["reason"] == "Evicted" and status["message"] == message
        assert "terminated" in status["containerStatuses"][0]["state"]
        disruption = next(c for c in status["conditions"] if c["type"] == "DisruptionTarget")
        assert disruption["reason"] == "TerminationByKubelet"
        evicted = [e for e in await cluster.events("hog") if e["reason"] == "Evicted"]
        assert evicted and evicted[0]["message"] == message and evicted[0]["type"] == "Warning"
        # the agent keeps serving other pods
        await cluster.create_pod(pod_manifest("after", [sh_container("main", "exit 0")], restart_policy="Never"))
        await wait_for(lambda: pod_in_phase(cluster, "after", "Succeeded"), "the next pod to succeed")


async def test_delete_sends_sigterm_then_sigkill_and_the_pod_goes_only_then(tmp_path):
    script = 'trap "echo got TERM" TERM; echo started; while true; do sleep 0.1; done'
    async with agent_cluster(tmp_path) as cluster:
        await cluster.create_pod(pod_manifest("stubborn", [sh_container("main", script)], grace=30))

        async def running() -> dict | None:
            status = await cluster.container_status("stubborn")
            return status if status and "running" in status["state"] else None

        await wait_for(running, "the container running")
        worker = cluster.agent.find_worker("default", "stubborn")
        log_path = worker.log_path("main")
        container = await cluster.agent.runtime.inspect_container(worker.runners["main"].container_id)
        from orchestra.node.runtime import read_container_log

        await wait_for(lambda: _async(b"started" in read_container_log(log_path)), "the trap installed")
        await cluster.admin.delete("pods", "stubborn", namespace="default", grace_period_seconds=3)
        pod = await cluster.pod("stubborn")
        assert pod is not None and pod["metadata"].get("deletionTimestamp")
        await wait_for(lambda: _async(b"got TERM" in read_container_log(log_path)), "SIGTERM delivered")
        os.kill(container.pid, 0)  # still alive: it ignores SIGTERM until the grace period ends

        async def gone() -> bool:
            return await cluster.pod("stubborn") is None

        await wait_for(gone, "the pod deleted")
        with pytest.raises(ProcessLookupError):
            os.kill(container.pid, 0)
        reasons = [e["reason"] for e in await cluster.events("stubborn")]
        assert "Killing" in reasons
        assert cluster.agent.find_worker("default", "stubborn") is None


async def _async(value):
    return value
