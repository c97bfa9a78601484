"""The agent on the oci runtime: a busybox pod serves HTTP on its own pod IP (root and runc only)."""

from __future__ import annotations

import asyncio

import pytest
from node.runtime_conformance import HARNESSES

from node.agent_support import agent_cluster, pod_manifest, wait_for

SKIP = HARNESSES["oci"].skip_reason()
pytestmark = [pytest.mark.skipif(SKIP is not None, reason=SKIP or ""), pytest.mark.timeout(180)]


def _oci(tmp_path) -> dict:
    return {"runtime": "oci", "runtime_config": {"data_dir": str(tmp_path / "runtime"), "pod_cidr": "10.91.0.0/16",
                                                 "bridge": "orchagent0", "image_dir": str(tmp_path / "images")}}


async def _fetch(host: str, port: int) -> bytes | None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
    except (OSError, asyncio.TimeoutError):
        return None
    writer.write(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


async def test_busybox_pod_serves_http_on_its_pod_ip(tmp_path):
    script = "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 8080 -h /www"
    container = {"name": "web", "image": "busybox", "command": ["sh", "-c", script],
                 "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}
    async with agent_cluster(tmp_path, **_oci(tmp_path)) as cluster:
        await cluster.create_pod(pod_manifest("bb", [container], grace=1))

        async def ready() -> dict | None:
            pod = await cluster.pod("bb")
            conditions = {c["type"]: c["status"] for c in ((pod or {}).get("status") or {}).get("conditions") or ()}
            return pod if conditions.get("Ready") == "True" else None

        pod = await wait_for(ready, "the busybox pod Ready")
        pod_ip = pod["status"]["podIP"]
        assert pod_ip.startswith("10.91.")
        body = await wait_for(lambda: _fetch(pod_ip, 8080), "an HTTP answer on the pod IP")
        assert b"200 OK" in body and b"hello-from-bb" in body


async def test_missing_oci_image_is_err_image_pull(tmp_path):
    container = {"name": "main", "image": "no-such-image:1", "command": ["true"]}
    async with agent_cluster(tmp_path, **_oci(tmp_path)) as cluster:
        await cluster.create_pod(pod_manifest("noimg", [container]))

        async def backing_off() -> dict | None:
            status = await cluster.container_status("noimg")
            waiting = (status or {}).get("state", {}).get("waiting") or {}
            return waiting if waiting.get("reason") == "ImagePullBackOff" else None

        await wait_for(backing_off, "ImagePullBackOff")
        messages = {e["message"] for e in await cluster.events("noimg")}
        assert "Error: ErrImagePull" in messages
