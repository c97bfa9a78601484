"""Throughput through the userspace proxy mode against a direct connection, in one run.

Three processes, as in a cluster: the endpoints (a byte sink and a small keep-alive HTTP
server), the proxy (:class:`~orchestra.plugins.proxies.userspace.UserspaceProxy` serving
one ClusterIP for each), and the load generator (this process). Each workload runs
against the endpoint directly and then through the ClusterIP:

- ``stream``: ``--connections`` connections write 64 KiB chunks for ``--seconds``; MB/s
  counted by the sink;
- ``http``: ``--http-connections`` keep-alive connections send small ``GET`` requests one
  after the other; requests/s.

Direct and proxied measurements alternate for ``--rounds`` rounds and the medians count.

Run ``python benchmarks/proxy/bench_userspace.py`` (prints a table and the ratios), or
``pytest benchmarks/proxy/bench_userspace.py --benchmark-enable`` (records them as
``extra_info``). The target is a ratio of at least 0.5 for both.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import time

import attrs
import uvloop

__all__ = ["BenchConfig", "Result", "run"]

ENDPOINT_IP = "127.120.0.1"
CLUSTER_IP = "127.121.0.1"
SINK_PORT, HTTP_PORT = 19001, 19002
CHUNK = b"x" * 65536
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nhello, world\n"


@attrs.frozen
class BenchConfig:
    """How long and how wide each workload runs."""

    seconds: float = 2.0
    connections: int = 4
    http_connections: int = 32
    #: Direct and proxied runs alternate this many times; the medians are reported (the load of
    #: a shared machine drifts, and alternating exposes both sides to the same drift).
    rounds: int = 3


@attrs.frozen
class Result:
    """The rates of one run: direct and proxied, per workload."""

    direct_mb_s: float
    proxied_mb_s: float
    direct_rps: float
    proxied_rps: float

    @property
    def stream_ratio(self) -> float:
        """Proxied over direct MB/s."""
        return self.proxied_mb_s / self.direct_mb_s

    @property
    def http_ratio(self) -> float:
        """Proxied over direct requests/s."""
        return self.proxied_rps / self.direct_rps


# --------------------------------------------------------------------------- endpoint process


class _Sink(asyncio.Protocol):
    counter = [0]

    def data_received(self, data: bytes) -> None:
        self.counter[0] += len(data)


class _Control(asyncio.Protocol):
    """Answers any line with the sink's byte count so far."""

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(b"%d\n" % _Sink.counter[0])


class _HTTP(asyncio.Protocol):
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        count = self.buffer.count(b"\r\n\r\n")
        if count:
            self.buffer = self.buffer[self.buffer.rindex(b"\r\n\r\n") + 4:]
            self.transport.write(RESPONSE * count)


def _endpoints_main(ready) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(_Sink, ENDPOINT_IP, SINK_PORT, reuse_address=True)
        await loop.create_server(_HTTP, ENDPOINT_IP, HTTP_PORT, reuse_address=True, backlog=1024)
        await loop.create_server(_Control, ENDPOINT_IP, SINK_PORT + 100, reuse_address=True)
        ready.set()
        await asyncio.Event().wait()

    uvloop.run(main())


# --------------------------------------------------------------------------- proxy process


def _proxy_main(ready) -> None:
    from orchestra.plugins.proxies.userspace import UserspaceConfig, UserspaceProxy
    from orchestra.proxy.mode import Endpoint, ProxyTable, ServiceEntry

    async def main() -> None:
        mode = UserspaceProxy(UserspaceConfig())
        await mode.sync(ProxyTable((
            ServiceEntry("bench/sink:", "TCP", CLUSTER_IP, SINK_PORT, endpoints=(Endpoint(ENDPOINT_IP, SINK_PORT),)),
            ServiceEntry("bench/http:", "TCP", CLUSTER_IP, HTTP_PORT, endpoints=(Endpoint(ENDPOINT_IP, HTTP_PORT),)),
        )))
        ready.set()
        await asyncio.Event().wait()

    uvloop.run(main())


# --------------------------------------------------------------------------- load generator


class _Writer(asyncio.Protocol):
    """Writes chunks as fast as flow control allows until told to stop."""

    def __init__(self) -> None:
        self.paused = False
        self.stopped = False
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._fill()

    def _fill(self) -> None:
        while not self.paused and not self.stopped:
            self.transport.write(CHUNK)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._fill()

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _sink_count() -> int:
    reader, writer = await asyncio.open_connection(ENDPOINT_IP, SINK_PORT + 100)
    writer.write(b"?\n")
    count = int(await reader.readline())
    writer.close()
    return count


async def _stream(host: str, config: BenchConfig) -> float:
    loop = asyncio.get_running_loop()
    writers = []
    for _ in range(config.connections):
        _, writer = await loop.create_connection(_Writer, host, SINK_PORT)
        writers.append(writer)
    await asyncio.sleep(0.3)  # warm up
    start_bytes, start = await _sink_count(), time.perf_counter()
    await asyncio.sleep(config.seconds)
    end_bytes, end = await _sink_count(), time.perf_counter()
    for writer in writers:
        writer.stopped = True
        writer.transport.close()
    await asyncio.sleep(0.3)
    return (end_bytes - start_bytes) / (end - start) / 1e6


class _Requester(asyncio.Protocol):
    """Sends one request, waits for its whole response, repeats; counts responses."""

    def __init__(self, counter: list[int]) -> None:
        self.counter = counter
        self.buffer = b""
        self.running = True

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(REQUEST)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= len(RESPONSE):
            self.buffer = self.buffer[len(RESPONSE):]
            self.counter[0] += 1
            if self.running:
                self.transport.write(REQUEST)


async def _http(host: str, config: BenchConfig) -> float:
    loop = asyncio.get_running_loop()
    counter = [0]
    clients = []
    for _ in range(config.http_connections):
        _, client = await loop.create_connection(lambda: _Requester(counter), host, HTTP_PORT)
        clients.append(client)
    await asyncio.sleep(0.3)
    start_count, start = counter[0], time.perf_counter()
    await asyncio.sleep(config.seconds)
    end_count, end = counter[0], time.perf_counter()
    for client in clients:
        client.running = False
        client.transport.close()
    await asyncio.sleep(0.3)
    return (end_count - start_count) / (end - start)


def run(config: BenchConfig = BenchConfig()) -> Result:
    """Start the endpoint and proxy processes, measure both workloads direct and proxied."""
    ctx = multiprocessing.get_context("spawn")
    endpoints_ready, proxy_ready = ctx.Event(), ctx.Event()
    processes = [
        ctx.Process(target=_endpoints_main, args=(endpoints_ready,), daemon=True),
        ctx.Process(target=_proxy_main, args=(proxy_ready,), daemon=True),
    ]
    for process in processes:
        process.start()
    try:
        if not (endpoints_ready.wait(30) and proxy_ready.wait(30)):
            raise RuntimeError("the endpoint or proxy process did not start within 30 s")

        async def measure() -> Result:
            rates: dict[str, list[float]] = {"ds": [], "ps": [], "dh": [], "ph": []}
            for _ in range(config.rounds):
                rates["ds"].append(await _stream(ENDPOINT_IP, config))
                rates["ps"].append(await _stream(CLUSTER_IP, config))
                rates["dh"].append(await _http(ENDPOINT_IP, config))
                rates["ph"].append(await _http(CLUSTER_IP, config))
            medians = {k: statistics.median(v) for k, v in rates.items()}
            return Result(medians["ds"], medians["ps"], medians["dh"], medians["ph"])

        return uvloop.run(measure())
    finally:
        for process in processes:
            process.terminate()
            process.join(10)


def test_userspace_throughput(benchmark):
    """pytest-benchmark entry: one run, the rates and ratios in ``extra_info``."""
    config = BenchConfig(seconds=float(os.environ.get("ORCHESTRA_BENCH_SECONDS", "2")))
    result = benchmark.pedantic(run, args=(config,), rounds=1, iterations=1)
    benchmark.extra_info.update(attrs.asdict(result))
    benchmark.extra_info.update(stream_ratio=result.stream_ratio, http_ratio=result.http_ratio)
    assert result.proxied_mb_s > 0 and result.proxied_rps > 0


def main() -> None:
    """Command line: run once and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each measurement")
    parser.add_argument("--connections", type=int, default=4, help="stream connections")
    parser.add_argument("--http-connections", type=int, default=32, help="keep-alive HTTP connections")
    parser.add_argument("--rounds", type=int, default=3, help="alternating direct/proxied rounds (medians)")
    args = parser.parse_args()
    result = run(BenchConfig(args.seconds, args.connections, args.http_connections, args.rounds))
    print(f"{'workload':<10}{'direct':>14}{'userspace':>14}{'ratio':>8}")
    print(f"{'stream':<10}{result.direct_mb_s:>10.0f} MB/s{result.proxied_mb_s:>10.0f} MB/s{result.stream_ratio:>8.2f}")
    print(f"{'http':<10}{result.direct_rps:>11.0f} r/s{result.proxied_rps:>11.0f} r/s{result.http_ratio:>8.2f}")


if __name__ == "__main__":
    main()
