"""Image not found: ErrImagePull, then ImagePullBackOff, with Kubernetes' events (simulated runtime)."""

from __future__ import annotations

import pytest

from node.agent_support import agent_cluster, pod_manifest, wait_for

pytestmark = pytest.mark.timeout(120)

MISSING = "registry.invalid/no-such-image:1"


async def test_missing_image_is_err_image_pull_then_image_pull_backoff(tmp_path):
    config = {"runtime": "simulated", "serve": False, "host_pressure": False, "image_backoff_initial": 30.0,
              "runtime_config": {"missing_images": [MISSING], "log_root": str(tmp_path / "logs")}}
    async with agent_cluster(tmp_path, **config) as cluster:
        await cluster.create_pod(pod_manifest("img", [{"name": "main", "image": MISSING, "command": ["sim"]}]))

        async def backing_off() -> dict | None:
            status = await cluster.container_status("img")
            waiting = (status or {}).get("state", {}).get("waiting") or {}
            return waiting if waiting.get("reason") == "ImagePullBackOff" else None

        waiting = await wait_for(backing_off, "ImagePullBackOff")
        assert waiting["message"] == f'Back-off pulling image "{MISSING}"'
        pod = await cluster.pod("img")
        assert pod["status"]["phase"] == "Pending"
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 0

        async def all_events() -> list | None:
            found = await cluster.events("img")
            messages = {e["message"] for e in found}
            return found if {"Error: ErrImagePull", "Error: ImagePullBackOff"} <= messages else None

        events = await wait_for(all_events, "the image events")
        assert any(e["reason"] == "Failed" and e["message"].startswith(f'Failed to pull image "{MISSING}"')
                   for e in events)
        assert any(e["reason"] == "BackOff" for e in events)


async def test_simulated_pod_runs_and_an_available_image_is_fine(tmp_path):
    config = {"runtime": "simulated", "serve": False, "host_pressure": False,
              "runtime_config": {"missing_images": [MISSING], "log_root": str(tmp_path / "logs")}}
    async with agent_cluster(tmp_path, **config) as cluster:
        await cluster.create_pod(pod_manifest("sim", [{"name": "main", "image": "busybox", "command": ["sim"],
                                                       "env": [{"name": "SIMULATED_RUN_SECONDS", "value": "0"}]}],
                                              restart_policy="Never"))

        async def succeeded() -> dict | None:
            pod = await cluster.pod("sim")
            return pod if pod and pod["status"].get("phase") == "Succeeded" else None

        pod = await wait_for(succeeded, "the simulated pod to succeed")
        assert pod["status"]["podIP"].startswith("10.")
