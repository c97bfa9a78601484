"""The simulated runtime on its own: timings, fake usage, image lists, and its cost at scale."""

from __future__ import annotations

import asyncio
import signal

import pytest
from node.runtime_conformance import sandbox_spec

from orchestra.node.runtime import ContainerSpec, ContainerState, ImagePullError, RunContainerError
from orchestra.plugins.runtimes.simulated import SimulatedConfig, SimulatedRuntime

#: Upper bound on waiting for a simulated container, so a broken timer fails instead of hanging.
WAIT = 10.0


def runtime(**config) -> SimulatedRuntime:
    return SimulatedRuntime(SimulatedConfig.from_config(config))


async def test_container_exits_after_its_run_time_with_its_code() -> None:
    rt = runtime(run_seconds=0.01, exit_code=2)
    sandbox = await rt.start_sandbox(sandbox_spec())
    created = await rt.create_container(sandbox.id, ContainerSpec(name="app"))
    await rt.start_container(created.id)
    exit = await asyncio.wait_for(rt.wait_container(created.id), WAIT)
    assert (exit.exit_code, exit.reason) == (2, "Error")
    await rt.close()


async def test_environment_overrides_the_configuration() -> None:
    rt = runtime(run_seconds=1000, exit_code=2)
    sandbox = await rt.start_sandbox(sandbox_spec())
    spec = ContainerSpec(name="app", env={"SIMULATED_RUN_SECONDS": "0", "SIMULATED_EXIT_CODE": "0"})
    created = await rt.create_container(sandbox.id, spec)
    await rt.start_container(created.id)
    assert (await asyncio.wait_for(rt.wait_container(created.id), WAIT)).exit_code == 0
    await rt.close()


async def test_forever_is_the_default_and_stop_ends_it() -> None:
    rt = runtime()
    sandbox = await rt.start_sandbox(sandbox_spec())
    created = await rt.create_container(sandbox.id, ContainerSpec(name="app"))
    await rt.start_container(created.id)
    assert (await rt.inspect_container(created.id)).state is ContainerState.RUNNING
    exit = await rt.stop_container(created.id, timeout=30, signal=signal.SIGINT)
    assert exit.exit_code == 128 + signal.SIGINT
    await rt.close()


async def test_start_delay_is_spent_in_start_container() -> None:
    rt = runtime(start_delay=0.01)
    sandbox = await rt.start_sandbox(sandbox_spec())
    created = await rt.create_container(sandbox.id, ContainerSpec(name="app"))
    status = await rt.start_container(created.id)
    assert status.state is ContainerState.RUNNING
    await rt.close()


async def test_fake_usage_figures() -> None:
    rt = runtime(memory_bytes=1234, cpu_millicores=500)
    sandbox = await rt.start_sandbox(sandbox_spec())
    created = await rt.create_container(sandbox.id, ContainerSpec(name="app", env={"SIMULATED_MEMORY_BYTES": "4096"}))
    await rt.start_container(created.id)
    stats = await rt.container_stats(created.id)
    assert stats.memory_working_set_bytes == 4096
    assert stats.cpu_usage_nanoseconds >= 0
    await rt.stop_container(created.id)
    assert (await rt.container_stats(created.id)).memory_working_set_bytes == 0
    await rt.close()


async def test_only_listed_images_exist_when_a_list_is_given() -> None:
    rt = runtime(images=["busybox:latest"])
    sandbox = await rt.start_sandbox(sandbox_spec())
    await rt.create_container(sandbox.id, ContainerSpec(name="ok", image="busybox:latest"))
    with pytest.raises(ImagePullError, match='"nginx:1"'):
        await rt.create_container(sandbox.id, ContainerSpec(name="bad", image="nginx:1"))
    await rt.close()


async def test_released_pod_ips_are_reused_and_live_ones_are_unique() -> None:
    rt = runtime(pod_cidr="10.1.0.0/29")
    first = await rt.start_sandbox(sandbox_spec("a"))
    second = await rt.start_sandbox(sandbox_spec("b"))
    assert first.pod_ip != second.pod_ip
    await rt.stop_sandbox(first.id)
    third = await rt.start_sandbox(sandbox_spec("c"))
    assert third.pod_ip == first.pod_ip
    await rt.close()


async def test_the_simulated_nodes_of_a_process_never_share_a_pod_ip() -> None:
    """Every simulated node of a cluster uses the default range: an address is live on one only."""
    nodes = [runtime(pod_cidr="10.2.0.0/30"), runtime(pod_cidr="10.2.0.0/30")]
    first = await nodes[0].start_sandbox(sandbox_spec("a"))
    second = await nodes[1].start_sandbox(sandbox_spec("b"))
    assert {first.pod_ip, second.pod_ip} == {"10.2.0.1", "10.2.0.2"}
    with pytest.raises(RunContainerError, match=r"no free pod IP left in 10\.2\.0\.0/30"):
        await nodes[0].start_sandbox(sandbox_spec("c"))
    await nodes[1].close()  # its address goes back to the range
    third = await nodes[0].start_sandbox(sandbox_spec("d"))
    assert third.pod_ip == second.pod_ip
    await nodes[0].close()


async def test_thousands_of_nodes_create_no_tasks() -> None:
    before = len(asyncio.all_tasks())
    nodes = [runtime(run_seconds=3600) for _ in range(2000)]
    for node in nodes:
        sandbox = await node.start_sandbox(sandbox_spec())
        created = await node.create_container(sandbox.id, ContainerSpec(name="app"))
        await node.start_container(created.id)
    assert len(asyncio.all_tasks()) == before  # containers are timers, not tasks
    for node in nodes:
        await node.close()
    assert [await node.list_sandboxes() for node in nodes] == [[]] * len(nodes)
