"""The process runtime on its own: loopback pod IPs, process groups, /proc stats, log rotation."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import subprocess
import sys
from pathlib import Path
from typing import AsyncIterator

import pytest
from node.runtime_conformance import HARNESSES, sandbox_spec

from orchestra.node.runtime import (
    ContainerSpec,
    CreateContainerError,
    EmptyDirVolume,
    Runtime,
    RunContainerError,
    VolumeMount,
    read_container_log,
)
from orchestra.plugins.runtimes.addresses import AddressAllocator, AddressesExhaustedError
from orchestra.plugins.runtimes.process import ProcessRuntime, volume_env_name

HARNESS = HARNESSES["process"]

#: Upper bound on waiting for a program in a container, so a broken runtime fails instead of hanging.
WAIT = 30.0


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    runtime = await HARNESS.make(tmp_path)
    try:
        yield runtime
    finally:
        await runtime.close()


def sh(script: str, name: str = "app", **kw) -> ContainerSpec:
    return ContainerSpec(name=name, command=("sh", "-c", script), **kw)


async def run_to_exit(runtime: Runtime, sandbox_id: str, spec: ContainerSpec):
    created = await runtime.create_container(sandbox_id, spec)
    await runtime.start_container(created.id)
    return created, await asyncio.wait_for(runtime.wait_container(created.id), WAIT)


async def test_pod_ips_come_from_the_loopback_cidr(runtime: ProcessRuntime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    assert ipaddress.ip_address(sandbox.pod_ip) in ipaddress.ip_network("127.1.0.0/16")


async def test_pod_cidr_is_configurable(tmp_path: Path) -> None:
    runtime = ProcessRuntime.from_config({"data_dir": str(tmp_path), "pod_cidr": "127.77.0.0/24"})
    try:
        sandbox = await runtime.start_sandbox(sandbox_spec())
        assert sandbox.pod_ip.startswith("127.77.0.")
    finally:
        await runtime.close()


async def test_containers_of_a_pod_share_its_pod_ip(runtime: ProcessRuntime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    first, _ = await run_to_exit(runtime, sandbox.id, sh("echo $POD_IP", "a"))
    second, _ = await run_to_exit(runtime, sandbox.id, sh("echo $POD_IP", "b"))
    assert read_container_log(first.log_path) == read_container_log(second.log_path) == f"{sandbox.pod_ip}\n".encode()


async def test_http_server_answers_on_the_pod_ip(runtime: ProcessRuntime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    spec = ContainerSpec(name="web", command=(sys.executable, "-m", "http.server", "--bind", sandbox.pod_ip, "8080"))
    created = await runtime.create_container(sandbox.id, spec)
    await runtime.start_container(created.id)
    async with asyncio.timeout(WAIT):
        while True:
            try:
                reader, writer = await asyncio.open_connection(sandbox.pod_ip, 8080)
                break
            except OSError:
                await asyncio.sleep(0.05)
    writer.write(b"GET / HTTP/1.0\r\n\r\n")
    assert (await reader.readline()).startswith(b"HTTP/1.0 200")
    writer.close()
    await runtime.stop_container(created.id, timeout=WAIT)
    assert b'"GET / HTTP/1.0" 200' in read_container_log(created.log_path)


async def test_leftover_processes_die_with_the_main_process(runtime: ProcessRuntime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created, exit = await run_to_exit(runtime, sandbox.id, sh("sleep 1000 & echo $!"))
    assert exit.exit_code == 0
    leftover = int(read_container_log(created.log_path))
    async with asyncio.timeout(WAIT):  # SIGKILL was sent before the exit was reported; wait for it to land
        while alive(leftover):
            await asyncio.sleep(0.01)


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        return not Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return False


async def test_no_command_is_a_create_error(runtime: ProcessRuntime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    with pytest.raises(CreateContainerError, match="no command specified"):
        await runtime.create_container(sandbox.id, ContainerSpec(name="app", image="nginx"))


async def test_missing_working_dir_is_a_run_error(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, sh("pwd", working_dir=str(tmp_path / "nope")))
    with pytest.raises(RunContainerError, match="no such file or directory"):
        await runtime.start_container(created.id)


async def test_missing_relative_path_command_is_a_run_error(runtime: ProcessRuntime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, ContainerSpec(name="app", command=("./nope",)))
    with pytest.raises(RunContainerError, match='exec: "./nope": stat ./nope: no such file or directory'):
        await runtime.start_container(created.id)


async def test_image_is_recorded_not_pulled(runtime: ProcessRuntime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    spec = ContainerSpec(name="app", image="no/such:image", command=("true",))
    created, exit = await run_to_exit(runtime, sandbox.id, spec)
    assert exit.exit_code == 0
    assert (await runtime.inspect_container(created.id)).image == "no/such:image"


async def test_volumes_are_announced_in_the_environment(runtime: ProcessRuntime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec(empty_dirs=[EmptyDirVolume("cache-dir")]))
    mount = VolumeMount(sandbox.volumes["cache-dir"], "/cache", name="cache-dir")
    created, _ = await run_to_exit(runtime, sandbox.id, sh(f'echo "${volume_env_name("cache-dir")}"', mounts=[mount]))
    assert volume_env_name("cache-dir") == "ORCHESTRA_VOLUME_CACHE_DIR"
    assert read_container_log(created.log_path) == f"{sandbox.volumes['cache-dir']}\n".encode()


async def test_empty_dirs_are_removed_with_the_pod(runtime: ProcessRuntime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec(empty_dirs=[EmptyDirVolume("data")]))
    directory = Path(sandbox.volumes["data"])
    (directory / "file").write_text("x")
    await runtime.stop_sandbox(sandbox.id)
    assert directory.exists()  # a stopped pod keeps its volumes until it is removed
    await runtime.remove_sandbox(sandbox.id)
    assert not directory.exists()


async def test_logs_rotate_at_the_configured_size(tmp_path: Path) -> None:
    runtime = ProcessRuntime.from_config({"data_dir": str(tmp_path), "log_max_bytes": 2000, "log_max_files": 100})
    try:
        sandbox = await runtime.start_sandbox(sandbox_spec())
        script = "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done"
        created, _ = await run_to_exit(runtime, sandbox.id, sh(script))
        assert Path(created.log_path + ".1").exists()
        assert read_container_log(created.log_path) == b"".join(b"line %d\n" % i for i in range(200))
    finally:
        await runtime.close()


async def test_output_without_final_newline_is_kept(runtime: ProcessRuntime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created, _ = await run_to_exit(runtime, sandbox.id, sh("printf 'no newline'"))
    assert read_container_log(created.log_path) == b"no newline"


async def test_cpu_usage_grows_while_busy(runtime: ProcessRuntime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, sh("while :; do :; done"))
    await runtime.start_container(created.id)
    async with asyncio.timeout(WAIT):
        while (await runtime.container_stats(created.id)).cpu_usage_nanoseconds == 0:
            await asyncio.sleep(0.02)
    await runtime.stop_container(created.id, timeout=0)


async def test_exec_timeout_is_124(runtime: ProcessRuntime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, sh('trap "exit 143" TERM; sleep 1000 & wait'))
    await runtime.start_container(created.id)
    result = await runtime.exec_in_container(created.id, ["sleep", "1000"], timeout=0.1)
    assert result.exit_code == 124


def test_allocators_never_share_an_address(tmp_path: Path) -> None:
    first = AddressAllocator("127.88.0.0/29", str(tmp_path))
    second = AddressAllocator("127.88.0.0/29", str(tmp_path))
    try:
        taken = [first.allocate(), second.allocate(), first.allocate(), second.allocate()]
        assert len(set(taken)) == 4
        first.release(taken[0])
        assert second.allocate() == taken[0]  # released addresses are reused, lowest first
    finally:
        first.release_all()
        second.release_all()


def test_exhausted_cidr_is_an_error(tmp_path: Path) -> None:
    allocator = AddressAllocator("127.88.1.0/30", str(tmp_path))
    try:
        assert [allocator.allocate(), allocator.allocate()] == ["127.88.1.1", "127.88.1.2"]
        with pytest.raises(AddressesExhaustedError, match="127.88.1.0/30"):
            allocator.allocate()
    finally:
        allocator.release_all()


def test_addresses_held_by_another_process_are_skipped(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys; from orchestra.plugins.runtimes.addresses import AddressAllocator; "
            f"a = AddressAllocator('127.88.2.0/29', {str(tmp_path)!r}); "
            "print(a.allocate(), flush=True); sys.stdin.read()"
        )],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        held = holder.stdout.readline().strip()
        allocator = AddressAllocator("127.88.2.0/29", str(tmp_path))
        mine = allocator.allocate()
        assert held == "127.88.2.1" and mine == "127.88.2.2"
        allocator.release_all()
    finally:
        holder.stdin.close()
        holder.wait()
    allocator = AddressAllocator("127.88.2.0/29", str(tmp_path))
    assert allocator.allocate() == "127.88.2.1"  # the holder's exit released its address
    allocator.release_all()


def test_process_runtime_owns_its_temporary_root() -> None:
    runtime = ProcessRuntime.from_config({})
    root = runtime.root
    assert os.path.isdir(root)
    asyncio.run(runtime.close())
    assert not os.path.exists(root)
