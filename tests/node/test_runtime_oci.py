"""The oci runtime on its own: real runc containers in per-pod network namespaces (root only)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import AsyncIterator

import pytest
from node.runtime_conformance import HARNESSES, sandbox_spec

from orchestra.node.runtime import (
    ContainerSpec,
    ContainerState,
    ResourceLimits,
    Runtime,
    RuntimeUnavailableError,
    create_runtime,
    read_container_log,
)
from orchestra.plugin_manager import get_plugin_manager
from orchestra.plugins.runtimes.oci import host_problem

HARNESS = HARNESSES["oci"]
SKIP = HARNESS.skip_reason()
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")

#: Upper bound on waiting for a server in a container to answer, so a broken network fails the test.
SERVE_WAIT = 30.0


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = await HARNESS.make(tmp_path)
    try:
        yield runtime
    finally:
        await runtime.close()


async def http_get(host: str, port: int, path: str = "/") -> bytes:
    """GET a page with a raw HTTP/1.0 request, retrying until the server listens."""
    async with asyncio.timeout(SERVE_WAIT):
        while True:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            await writer.drain()
            response = await reader.read()
            writer.close()
            return response


async def run(runtime: Runtime, sandbox_id: str, spec: ContainerSpec) -> str:
    created = await runtime.create_container(sandbox_id, spec)
    await HARNESS.started(runtime, created.id)
    return created.id


def busybox(name: str, script: str, **kw) -> ContainerSpec:
    return ContainerSpec(name=name, image="busybox", command=("sh", "-c", script), **kw)


SERVE = "mkdir -p /www && echo {text} > /www/index.html && echo ready && exec httpd -f -p {address} -h /www"


async def test_busybox_pod_serves_http_on_its_pod_ip(runtime: Runtime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec("web"))
    await run(runtime, sandbox.id, busybox("httpd", SERVE.format(text="hello-from-pod", address="80")))
    response = await http_get(sandbox.pod_ip, 80)
    assert response.split(b"\r\n", 1)[0].endswith(b" 200 OK") and response.endswith(b"hello-from-pod\n")


async def test_pod_has_its_own_network_namespace(runtime: Runtime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec("netcheck"))
    host_addresses = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    assert f" {sandbox.pod_ip}/" not in host_addresses
    created = await runtime.create_container(sandbox.id, busybox("show", "ip -o addr show dev eth0; hostname"))
    await runtime.start_container(created.id)
    await runtime.wait_container(created.id)
    output = read_container_log(created.log_path).decode()
    assert f" {sandbox.pod_ip}/" in output
    assert output.strip().endswith("netcheck")


async def test_containers_of_a_pod_talk_over_localhost(runtime: Runtime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec("pair"))
    await run(runtime, sandbox.id, busybox("server", SERVE.format(text="over-localhost", address="127.0.0.1:8080")))
    client = await runtime.create_container(
        sandbox.id, busybox("client", "until wget -q -O - http://127.0.0.1:8080/; do sleep 0.1; done")
    )
    await runtime.start_container(client.id)
    exit = await asyncio.wait_for(runtime.wait_container(client.id), SERVE_WAIT)
    assert exit.exit_code == 0
    assert read_container_log(client.log_path) == b"over-localhost\n"


async def test_pods_on_a_node_reach_each_other(runtime: Runtime) -> None:
    server = await runtime.start_sandbox(sandbox_spec("server"))
    await run(runtime, server.id, busybox("httpd", SERVE.format(text="pod-to-pod", address="80")))
    other = await runtime.start_sandbox(sandbox_spec("client"))
    client = await runtime.create_container(
        other.id, busybox("client", f"until wget -q -O - http://{server.pod_ip}/; do sleep 0.1; done")
    )
    await runtime.start_container(client.id)
    exit = await asyncio.wait_for(runtime.wait_container(client.id), SERVE_WAIT)
    assert exit.exit_code == 0
    assert read_container_log(client.log_path) == b"pod-to-pod\n"


async def test_limits_become_cgroup_settings(runtime: Runtime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    limits = ResourceLimits(cpu_millis=250, memory_bytes=64 * 1024 * 1024)
    spec = busybox("app", 'trap "exit 143" TERM; echo ready; sleep 1000 & wait', limits=limits)
    container_id = await run(runtime, sandbox.id, spec)
    events = subprocess.run(
        ["runc", "--root", runtime.state_root, "events", "--stats", container_id],
        capture_output=True, text=True, check=True,
    )
    assert json.loads(events.stdout)["data"]["memory"]["usage"]["limit"] == 64 * 1024 * 1024
    config = json.loads(Path(runtime.root, "containers", container_id, "config.json").read_text())
    assert config["linux"]["resources"]["cpu"] == {"quota": 25_000, "period": 100_000}


async def test_teardown_removes_namespaces_interfaces_and_mounts(tmp_path: Path) -> None:
    runtime = await HARNESS.make(tmp_path)
    sandbox = await runtime.start_sandbox(sandbox_spec())
    await run(runtime, sandbox.id, busybox("app", 'trap "exit 143" TERM; echo ready; sleep 1000 & wait'))
    netns = os.path.basename(sandbox.netns_path)
    assert netns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    await runtime.close()
    assert netns not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"vo{sandbox.id[:12]}" not in links
    assert runtime.network.bridge not in links
    assert str(tmp_path) not in Path("/proc/mounts").read_text()


async def test_image_from_the_store_with_its_entrypoint(runtime: Runtime, tmp_path: Path) -> None:
    busybox_image = runtime.images.ensure_busybox()
    runtime.images.import_image("greeter:1", busybox_image.rootfs, entrypoint=("echo",), cmd=("hello", "image"))
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, ContainerSpec(name="greeter", image="greeter:1"))
    await runtime.start_container(created.id)
    assert (await runtime.wait_container(created.id)).exit_code == 0
    assert read_container_log(created.log_path) == b"hello image\n"


async def test_writes_stay_in_the_container(runtime: Runtime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    first = await runtime.create_container(sandbox.id, busybox("a", "echo scribble > /bin/note"))
    await runtime.start_container(first.id)
    await runtime.wait_container(first.id)
    second = await runtime.create_container(sandbox.id, busybox("b", "test -e /bin/note && echo leaked || echo clean"))
    await runtime.start_container(second.id)
    await runtime.wait_container(second.id)
    assert read_container_log(second.log_path) == b"clean\n"
    assert not os.path.exists(os.path.join(runtime.images.ensure_busybox().rootfs, "bin", "note"))


async def test_missing_runc_is_reported_clearly(tmp_path: Path) -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    with pytest.raises(RuntimeUnavailableError, match="runc was not found"):
        await create_runtime("oci", {"data_dir": str(tmp_path), "runc": "/nonexistent/runc"}, pm)


def test_host_problem_is_none_here() -> None:
    assert host_problem() is None


async def test_exited_container_reports_its_state(runtime: Runtime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, busybox("app", "exit 5"))
    await runtime.start_container(created.id)
    assert (await runtime.wait_container(created.id)).exit_code == 5
    assert (await runtime.inspect_container(created.id)).state is ContainerState.EXITED
