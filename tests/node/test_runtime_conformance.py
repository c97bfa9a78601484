"""The runtime contract, one behaviour per test, run against every runtime (no fakes).

Runtimes that cannot run here (the oci runtime without root or runc) are
skipped with the reason. Behaviours that need real programs (environment,
working directory, files in volumes, exec output) run only where the harness
says the runtime runs programs.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import AsyncIterator

import pytest
from node.runtime_conformance import HARNESSES, NOT_FOUND_MESSAGE, Harness, sandbox_spec

from orchestra.node.runtime import (
    REASON_COMPLETED,
    REASON_ERR_IMAGE_PULL,
    REASON_ERROR,
    REASON_EVICTED,
    REASON_RUN_CONTAINER_ERROR,
    ContainerNotFoundError,
    ContainerSpec,
    ContainerState,
    EmptyDirLimitExceeded,
    EmptyDirVolume,
    ImagePullError,
    LogStream,
    Runtime,
    RunContainerError,
    SandboxNotFoundError,
    parse_log_line,
    read_container_log,
    runtime_names,
)
from orchestra.plugin_manager import get_plugin_manager

#: Long enough that a stop "after the timeout" only happens when SIGTERM was ignored.
GENEROUS = 60.0


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest) -> Harness:
    """One runtime's harness; skipped with the reason when the runtime cannot run here."""
    harness = HARNESSES[request.param]
    reason = harness.skip_reason()
    if reason:
        pytest.skip(reason)
    return harness


@pytest.fixture
async def runtime(harness: Harness, tmp_path: Path) -> AsyncIterator[Runtime]:
    """A fresh runtime, closed (everything it started stopped) after the test."""
    runtime = await harness.make(tmp_path)
    try:
        yield runtime
    finally:
        await runtime.close()


def needs_programs(harness: Harness) -> None:
    if not harness.runs_programs:
        pytest.skip(f"the {harness.name} runtime runs no programs")


async def run_to_exit(runtime: Runtime, sandbox_id: str, spec: ContainerSpec):
    created = await runtime.create_container(sandbox_id, spec)
    await runtime.start_container(created.id)
    return created, await runtime.wait_container(created.id)


def test_every_built_in_runtime_has_a_harness() -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    assert set(HARNESSES) == set(runtime_names(pm))


# --------------------------------------------------------------------------- sandboxes


async def test_sandbox_has_a_pod_ip(runtime: Runtime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    assert sandbox.pod_ip
    assert sandbox.ready
    assert (await runtime.inspect_sandbox(sandbox.id)).pod_ip == sandbox.pod_ip


async def test_live_sandboxes_never_share_a_pod_ip(runtime: Runtime) -> None:
    sandboxes = [await runtime.start_sandbox(sandbox_spec(f"p{i}")) for i in range(5)]
    assert len({s.pod_ip for s in sandboxes}) == 5


async def test_sandbox_has_each_empty_dir(runtime: Runtime) -> None:
    spec = sandbox_spec(empty_dirs=[EmptyDirVolume("cache"), EmptyDirVolume("scratch")])
    sandbox = await runtime.start_sandbox(spec)
    assert set(sandbox.volumes) == {"cache", "scratch"}


async def test_stopped_sandbox_is_not_ready_and_its_containers_have_exited(runtime: Runtime, harness: Harness) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, harness.forever())
    await harness.started(runtime, created.id)
    await runtime.stop_sandbox(sandbox.id, timeout=GENEROUS)
    assert not (await runtime.inspect_sandbox(sandbox.id)).ready
    assert (await runtime.inspect_container(created.id)).state is ContainerState.EXITED


async def test_removed_sandbox_is_gone_with_its_containers(runtime: Runtime, harness: Harness) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, harness.forever())
    await harness.started(runtime, created.id)
    await runtime.stop_sandbox(sandbox.id, timeout=GENEROUS)
    await runtime.remove_sandbox(sandbox.id)
    with pytest.raises(SandboxNotFoundError):
        await runtime.inspect_sandbox(sandbox.id)
    with pytest.raises(ContainerNotFoundError):
        await runtime.inspect_container(created.id)
    assert await runtime.list_sandboxes() == []


async def test_stop_and_remove_sandbox_are_idempotent(runtime: Runtime) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    await runtime.stop_sandbox(sandbox.id)
    await runtime.stop_sandbox(sandbox.id)
    await runtime.remove_sandbox(sandbox.id)
    await runtime.remove_sandbox(sandbox.id)


async def test_unknown_sandbox_is_a_lookup_error(runtime: Runtime, harness: Harness) -> None:
    with pytest.raises(SandboxNotFoundError):
        await runtime.create_container("no-such-sandbox", harness.exits(0))


# --------------------------------------------------------------------------- container life


async def test_created_container_is_created(runtime: Runtime, harness: Harness) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, harness.exits(0))
    status = await runtime.inspect_container(created.id)
    assert status.state is ContainerState.CREATED
    assert status.name == "app" and status.sandbox_id == sandbox.id
    assert status.started_at is None and status.exit_code is None


async def test_started_container_is_running(runtime: Runtime, harness: Harness) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, harness.forever())
    await harness.started(runtime, created.id)
    status = await runtime.inspect_container(created.id)
    assert status.state is ContainerState.RUNNING
    assert status.started_at is not None
    if harness.runs_programs:
        assert status.pid and status.pid > 0


async def test_zero_exit_is_completed(runtime: Runtime, harness: Harness) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created, exit = await run_to_exit(runtime, sandbox.id, harness.exits(0))
    assert (exit.exit_code, exit.reason) == (0, REASON_COMPLETED)
    status = await runtime.inspect_container(created.id)
    assert status.state is ContainerState.EXITED
    assert status.exit_code == 0 and status.finished_at == exit.finished_at
    assert status.started_at <= status.finished_at


async def test_nonzero_exit_is_error_with_its_code(runtime: Runtime, harness: Harness) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    _, exit = await run_to_exit(runtime, sandbox.id, harness.exits(3))
    assert (exit.exit_code, exit.reason) == (3, REASON_ERROR)


async def test_stop_sends_sigterm_first(runtime: Runtime, harness: Harness) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, harness.forever())
    await harness.started(runtime, created.id)
    exit = await runtime.stop_container(created.id, timeout=GENEROUS)
    assert exit is not None and exit.exit_code == 128 + signal.SIGTERM


async def test_stop_kills_after_the_timeout(runtime: Runtime, harness: Harness) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, harness.deaf())
    await harness.started(runtime, created.id)
    exit = await runtime.stop_container(created.id, timeout=0.2)
    assert exit is not None and exit.exit_code == 128 + signal.SIGKILL
    assert (await runtime.inspect_container(created.id)).state is ContainerState.EXITED


async def test_stop_of_exited_container_returns_its_exit(runtime: Runtime, harness: Harness) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created, exit = await run_to_exit(runtime, sandbox.id, harness.exits(4))
    assert await runtime.stop_container(created.id) == exit


async def test_stop_of_created_container_returns_none(runtime: Runtime, harness: Harness) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, harness.forever())
    assert await runtime.stop_container(created.id) is None


async def test_waiters_all_see_the_exit(runtime: Runtime, harness: Harness) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, harness.forever())
    await harness.started(runtime, created.id)
    waits = [asyncio.ensure_future(runtime.wait_container(created.id)) for _ in range(3)]
    await runtime.stop_container(created.id, timeout=GENEROUS)
    exits = await asyncio.gather(*waits)
    assert {e.exit_code for e in exits} == {128 + signal.SIGTERM}


async def test_removed_container_is_gone(runtime: Runtime, harness: Harness) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, harness.forever())
    await harness.started(runtime, created.id)
    await runtime.remove_container(created.id)
    with pytest.raises(ContainerNotFoundError):
        await runtime.inspect_container(created.id)
    assert await runtime.list_containers(sandbox.id) == []
    await runtime.remove_container(created.id)  # idempotent


async def test_list_containers_by_sandbox(runtime: Runtime, harness: Harness) -> None:
    one = await runtime.start_sandbox(sandbox_spec("one"))
    two = await runtime.start_sandbox(sandbox_spec("two"))
    a = await runtime.create_container(one.id, harness.exits(0, name="a"))
    b = await runtime.create_container(two.id, harness.exits(0, name="b"))
    assert [c.id for c in await runtime.list_containers(one.id)] == [a.id]
    assert {c.id for c in await runtime.list_containers()} == {a.id, b.id}


async def test_close_stops_everything(harness: Harness, tmp_path: Path) -> None:
    runtime = await harness.make(tmp_path)
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, harness.deaf())
    await harness.started(runtime, created.id)
    await runtime.close()
    assert await runtime.list_sandboxes() == []


# --------------------------------------------------------------------------- errors


async def test_missing_command_is_run_container_error(runtime: Runtime, harness: Harness) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, harness.missing_command())
    with pytest.raises(RunContainerError) as caught:
        await runtime.start_container(created.id)
    assert caught.value.reason == REASON_RUN_CONTAINER_ERROR
    assert NOT_FOUND_MESSAGE in caught.value.message
    status = await runtime.inspect_container(created.id)
    assert status.state is ContainerState.EXITED


async def test_missing_image_is_err_image_pull(runtime: Runtime, harness: Harness) -> None:
    if harness.missing_image is None:
        pytest.skip(f"the {harness.name} runtime pulls no images")
    sandbox = await runtime.start_sandbox(sandbox_spec())
    spec = ContainerSpec(name="app", image=harness.missing_image, command=("true",))
    with pytest.raises(ImagePullError) as caught:
        await runtime.create_container(sandbox.id, spec)
    assert caught.value.reason == REASON_ERR_IMAGE_PULL
    assert harness.missing_image in caught.value.message


# --------------------------------------------------------------------------- logs


async def test_output_goes_to_the_log_with_streams(runtime: Runtime, harness: Harness) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created, _ = await run_to_exit(runtime, sandbox.id, harness.prints("to out", "to err"))
    with open(created.log_path, "rb") as f:
        lines = [parse_log_line(raw) for raw in f]
    streams = {(line.stream, line.text) for line in lines}
    assert streams == {(LogStream.STDOUT, b"to out"), (LogStream.STDERR, b"to err")}
    assert set(read_container_log(created.log_path).splitlines()) == {b"to out", b"to err"}


async def test_each_attempt_keeps_its_own_log(runtime: Runtime, harness: Harness) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    first, _ = await run_to_exit(runtime, sandbox.id, harness.prints("first", "e1", attempt=0))
    await runtime.remove_container(first.id)
    second, _ = await run_to_exit(runtime, sandbox.id, harness.prints("second", "e2", attempt=1))
    assert first.log_path != second.log_path
    assert b"first" in read_container_log(first.log_path)  # the previous attempt survives removal
    assert b"second" in read_container_log(second.log_path)


# --------------------------------------------------------------------------- stats and exec


async def test_running_container_has_usage(runtime: Runtime, harness: Harness) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, harness.forever())
    await harness.started(runtime, created.id)
    stats = await runtime.container_stats(created.id)
    assert stats.memory_working_set_bytes > 0
    assert stats.cpu_usage_nanoseconds >= 0
    pod = await runtime.sandbox_stats(sandbox.id)
    assert pod.memory_working_set_bytes > 0
    assert pod.cpu_usage_nanoseconds >= stats.cpu_usage_nanoseconds  # cumulative: it only grows


async def test_exec_in_running_container_succeeds(runtime: Runtime, harness: Harness) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, harness.forever())
    await harness.started(runtime, created.id)
    result = await runtime.exec_in_container(created.id, ["true"])
    assert result.exit_code == 0


async def test_exec_returns_output_and_exit_code(runtime: Runtime, harness: Harness) -> None:
    needs_programs(harness)
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, harness.forever(env={"GREETING": "hi"}))
    await harness.started(runtime, created.id)
    result = await runtime.exec_in_container(created.id, ["sh", "-c", "echo $GREETING; echo oops >&2; exit 7"])
    assert (result.exit_code, result.stdout, result.stderr) == (7, b"hi\n", b"oops\n")


async def test_exec_of_missing_command_fails(runtime: Runtime, harness: Harness) -> None:
    needs_programs(harness)
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created = await runtime.create_container(sandbox.id, harness.forever())
    await harness.started(runtime, created.id)
    result = await runtime.exec_in_container(created.id, ["nosuchcmd"])
    assert result.exit_code != 0


async def test_exec_in_exited_container_is_refused(runtime: Runtime, harness: Harness) -> None:
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created, _ = await run_to_exit(runtime, sandbox.id, harness.exits(0))
    with pytest.raises(RunContainerError):
        await runtime.exec_in_container(created.id, ["true"])


# --------------------------------------------------------------------------- the container's context


async def test_environment_has_pod_ip_and_env(runtime: Runtime, harness: Harness) -> None:
    needs_programs(harness)
    sandbox = await runtime.start_sandbox(sandbox_spec())
    spec = harness.script('echo "$POD_IP $FOO"', env={"FOO": "bar baz"})
    created, _ = await run_to_exit(runtime, sandbox.id, spec)
    assert read_container_log(created.log_path) == f"{sandbox.pod_ip} bar baz\n".encode()


async def test_working_dir(runtime: Runtime, harness: Harness) -> None:
    needs_programs(harness)
    sandbox = await runtime.start_sandbox(sandbox_spec())
    created, _ = await run_to_exit(runtime, sandbox.id, harness.script("pwd", working_dir="/tmp"))
    assert read_container_log(created.log_path) == b"/tmp\n"


async def test_containers_of_a_pod_share_an_empty_dir(runtime: Runtime, harness: Harness) -> None:
    needs_programs(harness)
    sandbox = await runtime.start_sandbox(sandbox_spec(empty_dirs=[EmptyDirVolume("shared")]))
    mount, path = harness.volume(sandbox, "shared", "/shared")
    await run_to_exit(runtime, sandbox.id, harness.script(f"echo hello > {path}/note", name="writer", mounts=[mount]))
    read = harness.script(f"cat {path}/note", name="reader", mounts=[mount])
    reader, exit = await run_to_exit(runtime, sandbox.id, read)
    assert exit.exit_code == 0
    assert read_container_log(reader.log_path) == b"hello\n"


async def test_empty_dir_over_its_size_limit_is_an_eviction(runtime: Runtime, harness: Harness) -> None:
    needs_programs(harness)
    volume = EmptyDirVolume("cache", size_limit_bytes=64 * 1024, size_limit="64Ki")
    sandbox = await runtime.start_sandbox(sandbox_spec(empty_dirs=[volume]))
    await runtime.check_volume_limits(sandbox.id)  # empty: within its limit
    mount, path = harness.volume(sandbox, "cache", "/cache")
    script = f"dd if=/dev/zero of={path}/blob bs=1024 count=256 2>/dev/null"
    await run_to_exit(runtime, sandbox.id, harness.script(script, mounts=[mount]))
    with pytest.raises(EmptyDirLimitExceeded) as caught:
        await runtime.check_volume_limits(sandbox.id)
    assert caught.value.reason == REASON_EVICTED
    assert caught.value.message == 'Usage of EmptyDir volume "cache" exceeds the limit "64Ki".'


async def test_empty_dirs_within_limits_pass_the_check(runtime: Runtime) -> None:
    volume = EmptyDirVolume("cache", size_limit_bytes=1024 * 1024, size_limit="1Mi")
    sandbox = await runtime.start_sandbox(sandbox_spec(empty_dirs=[volume]))
    await runtime.check_volume_limits(sandbox.id)
    assert (await runtime.volume_usage(sandbox.id))["cache"] < 1024 * 1024
