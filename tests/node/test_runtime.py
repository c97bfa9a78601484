"""The contract module itself: argv rules, reasons, errors, plugin lookup, and the CRI log format."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.node.runtime import (
    ContainerLogWriter,
    EmptyDirLimitExceeded,
    ImagePullError,
    LogStream,
    RunContainerError,
    UnknownRuntimeError,
    container_log_path,
    create_runtime,
    directory_usage,
    exit_reason,
    follow_container_log,
    format_log_line,
    parse_log_line,
    read_container_log,
    resolve_argv,
    runtime_names,
)
from orchestra.plugin_manager import get_plugin_manager

UTC = dt.timezone.utc


# --------------------------------------------------------------------------- argv, reasons, errors


@pytest.mark.parametrize(
    "command, args, entrypoint, cmd, expected",
    [
        ([], [], ["/ep"], ["c1"], ["/ep", "c1"]),  # the image's entrypoint and cmd
        (["run"], [], ["/ep"], ["c1"], ["run"]),  # command replaces both
        ([], ["a1"], ["/ep"], ["c1"], ["/ep", "a1"]),  # args replace the cmd only
        (["run"], ["a1"], ["/ep"], ["c1"], ["run", "a1"]),
        ([], [], [], [], []),
    ],
)
def test_resolve_argv_follows_kubernetes(command, args, entrypoint, cmd, expected) -> None:
    assert resolve_argv(command, args, entrypoint, cmd) == expected


def test_exit_reasons() -> None:
    assert exit_reason(0) == "Completed"
    assert exit_reason(1) == exit_reason(137) == "Error"


def test_errors_carry_kubernetes_reasons() -> None:
    assert ImagePullError("x").reason == "ErrImagePull"
    assert RunContainerError("x").reason == "RunContainerError"
    error = EmptyDirLimitExceeded("cache", 2048, "1Ki")
    assert error.reason == "Evicted"
    assert error.message == 'Usage of EmptyDir volume "cache" exceeds the limit "1Ki".'


def test_directory_usage_counts_allocated_bytes(tmp_path: Path) -> None:
    assert directory_usage(tmp_path / "missing") == 0
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "blob").write_bytes(b"x" * 100_000)
    assert directory_usage(tmp_path) >= 100_000


# --------------------------------------------------------------------------- plugins


def test_runtime_names_lists_the_built_ins() -> None:
    assert {"process", "simulated", "oci"} <= set(runtime_names(get_plugin_manager(load_entrypoints=False)))


async def test_unknown_runtime_lists_the_known_names() -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    with pytest.raises(UnknownRuntimeError) as caught:
        await create_runtime("docker", {}, pm)
    message = str(caught.value)
    assert "'docker'" in message
    assert "oci, process, simulated" in message


async def test_create_runtime_opens_the_runtime() -> None:
    runtime = await create_runtime("simulated", {"unknown_key": 1}, get_plugin_manager(load_entrypoints=False))
    try:
        assert runtime.name == "simulated"
    finally:
        await runtime.close()


# --------------------------------------------------------------------------- log lines

texts = st.binary(max_size=200).filter(lambda b: b"\n" not in b)
times = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(UTC))


@given(when=times, stream=st.sampled_from(LogStream), text=texts, partial=st.booleans())
def test_log_lines_round_trip(when: dt.datetime, stream: LogStream, text: bytes, partial: bool) -> None:
    line = parse_log_line(format_log_line(when, stream, text, partial))
    assert (line.timestamp, line.stream, line.text, line.partial) == (when, stream, text, partial)


def test_log_line_is_cri_format() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert format_log_line(when, LogStream.STDERR, b"oops") == b"2026-01-02T03:04:05.678901000Z stderr F oops\n"


@pytest.mark.parametrize("raw", [b"", b"garbage", b"2026-01-02T03:04:05Z stdout X text\n"])
def test_malformed_log_lines_are_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        parse_log_line(raw)


def test_container_log_path_numbers_attempts(tmp_path: Path) -> None:
    assert container_log_path(tmp_path, "app", 2) == str(tmp_path / "app" / "2.log")


# --------------------------------------------------------------------------- writing and reading logs


def write_lines(path: str, count: int, **kw) -> None:
    writer = ContainerLogWriter(path, **kw)
    for i in range(count):
        writer.write(LogStream.STDOUT, b"line %d\n" % i)
    writer.close()


def test_writer_rotates_and_reader_reads_in_order(tmp_path: Path) -> None:
    path = str(tmp_path / "app" / "0.log")
    write_lines(path, 100, max_bytes=600, max_files=50)
    assert Path(path + ".1").exists()
    assert read_container_log(path) == b"".join(b"line %d\n" % i for i in range(100))


def test_writer_keeps_at_most_max_files(tmp_path: Path) -> None:
    path = str(tmp_path / "0.log")
    write_lines(path, 200, max_bytes=300, max_files=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.log", "0.log.1", "0.log.2"]
    lines = read_container_log(path).splitlines()
    assert lines[-1] == b"line 199"
    assert lines == [b"line %d" % i for i in range(200 - len(lines), 200)]  # the newest, contiguous


def test_long_lines_are_split_into_partial_lines(tmp_path: Path) -> None:
    path = str(tmp_path / "0.log")
    writer = ContainerLogWriter(path, max_line=10)
    writer.write(LogStream.STDOUT, b"x" * 25 + b"\n")
    writer.close()
    lines = [parse_log_line(raw) for raw in Path(path).read_bytes().splitlines(keepends=True)]
    assert [(len(line.text), line.partial) for line in lines] == [(10, True), (10, True), (5, False)]
    assert read_container_log(path) == b"x" * 25 + b"\n"


def test_read_tail_since_timestamps_and_limit(tmp_path: Path) -> None:
    path = str(tmp_path / "0.log")
    writer = ContainerLogWriter(path)
    for second in range(5):
        writer.write(LogStream.STDOUT, b"at %d\n" % second, when=dt.datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC))
    writer.close()
    assert read_container_log(path, tail_lines=2) == b"at 3\nat 4\n"
    assert read_container_log(path, tail_lines=0) == b""
    assert read_container_log(path, since=dt.datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC)) == b"at 3\nat 4\n"
    assert read_container_log(path, tail_lines=1, timestamps=True) == b"2026-01-01T00:00:04.000000000Z at 4\n"
    assert read_container_log(path, limit_bytes=7) == b"at 0\nat"
    assert read_container_log(str(tmp_path / "missing.log")) == b""


async def test_follow_yields_new_output_across_a_rotation(tmp_path: Path) -> None:
    path = str(tmp_path / "0.log")
    writer = ContainerLogWriter(path, max_bytes=200, max_files=5)
    writer.write(LogStream.STDOUT, b"before\n")
    done = asyncio.Event()
    received: list[bytes] = []

    async def follow() -> None:
        async for chunk in follow_container_log(path, done, poll_interval=0.01):
            received.append(chunk)

    follower = asyncio.ensure_future(follow())
    await asyncio.sleep(0)  # the follower takes its starting position (the end of the file)
    for i in range(10):
        writer.write(LogStream.STDOUT, b"new %d\n" % i)
    writer.close()
    done.set()
    await asyncio.wait_for(follower, 10)
    assert Path(path + ".1").exists()
    assert b"".join(received) == b"".join(b"new %d\n" % i for i in range(10))
