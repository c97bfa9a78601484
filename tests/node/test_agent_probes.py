"""Probe handlers and thresholds."""

from __future__ import annotations

import asyncio

import pytest

from orchestra.node.probes import LIVENESS, READINESS, ProbeResult, ProbeSettings, ProbeTarget, ProbeWorker, run_probe
from orchestra.node.runtime import ExecResult


class FakeRuntime:
    def __init__(self, code: int) -> None:
        self.code = code

    async def exec_in_container(self, container_id, command, timeout=10.0):
        return ExecResult(self.code, b"out", b"")


class HeldExecRuntime:
    """Exec commands that answer when the test says, awaited through ``asyncio.wait_for`` as the
    process runtime awaits its command (and ``run_probe`` an httpGet or tcpSocket attempt)."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.answer: asyncio.Future | None = None
        self.calls = 0

    async def exec_in_container(self, container_id, command, timeout=10.0):
        self.calls += 1
        if self.answer is None:  # only the first attempt is held
            self.answer = asyncio.get_running_loop().create_future()
            self.asked.set()
            await asyncio.wait_for(self.answer, timeout)
        return ExecResult(0, b"", b"")


async def _server(status: int):
    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\n\r\nhi".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_defaults():
    assert ProbeSettings.from_spec({}) == ProbeSettings(0, 10, 1, 1, 3)


@pytest.mark.parametrize(("status", "success"), [(200, True), (302, True), (404, False), (500, False)])
async def test_http_get_status_codes(status, success):
    server, port = await _server(status)
    try:
        result = await run_probe({"httpGet": {"port": "web", "path": "/x"}},
                                 ProbeTarget(FakeRuntime(0), "c", "127.0.0.1", {"web": port}), 1.0)
    finally:
        server.close()
    assert result.success is success
    if not success:
        assert result.output.startswith(f"HTTP probe failed with statuscode: {status}")


async def test_tcp_and_exec_and_unknown_port():
    server, port = await _server(200)
    target = ProbeTarget(FakeRuntime(1), "c", "127.0.0.1")
    try:
        assert (await run_probe({"tcpSocket": {"port": port}}, target, 1.0)).success
    finally:
        server.close()
        await server.wait_closed()
    closed = await run_probe({"tcpSocket": {"port": port}}, target, 1.0)
    assert not closed.success and "connection refused" in closed.output
    assert await run_probe({"exec": {"command": ["x"]}}, target, 1.0) == ProbeResult(False, "out")
    named = await run_probe({"httpGet": {"port": "missing"}}, target, 1.0)
    assert named == ProbeResult(False, 'port "missing" not found in the container\'s ports')


async def test_thresholds_flip_results_and_report_every_failure():
    flips, failures = [], []
    worker = ProbeWorker(READINESS, {"successThreshold": 2, "failureThreshold": 2}, None, 0.0,
                         lambda kind, ok: flips.append(ok), lambda kind, out: failures.append(out))
    assert worker.result is False
    for outcome in (True, True, False, True, False, False):
        await worker._record(ProbeResult(outcome, "bad" if not outcome else ""))
    assert flips == [True, False]
    assert failures == ["bad", "bad", "bad"]
    liveness = ProbeWorker(LIVENESS, {"failureThreshold": 1}, None, 0.0, lambda k, ok: flips.append(ok),
                           lambda k, o: None)
    assert liveness.result is True
    assert await liveness._record(ProbeResult(False)) is False  # gave up: the container is killed


async def test_a_stop_that_lands_as_an_attempt_completes_still_stops_the_probe():
    # Python 3.11's asyncio.wait_for returns the result instead of raising when the task running it
    # is cancelled after the awaited attempt completed but before the task resumed: the probe's one
    # cancellation is lost, and stop() used to wait for a probe that went on probing for ever.
    runtime = HeldExecRuntime()
    flips = []
    probe = ProbeWorker(READINESS, {"exec": {"command": ["true"]}, "periodSeconds": 1},
                        ProbeTarget(runtime, "c", "127.0.0.1"), 0.0, lambda kind, ok: flips.append(ok),
                        lambda kind, output: None)
    probe.start()
    await runtime.asked.wait()
    runtime.answer.set_result(None)  # the attempt completes ...
    stopping = asyncio.ensure_future(probe.stop())  # ... and the stop arrives in the same turn of the loop
    await asyncio.wait_for(stopping, 60.0)  # a deadline against a hang, not a timing assertion
    assert runtime.calls == 1  # no attempt after the stop
    assert flips == []  # and no result reported after it either
