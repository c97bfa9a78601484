"""The API server benchmark: GET, LIST, CREATE and watch fan-out, over HTTP and in-process.

Workloads (pods in the memory store; each pod a small Deployment-made pod with one container):

- ``hello`` (HTTP only, the floor): a handler that answers a fixed body, served by the
  same :class:`~orchestra.apiserver.http.HTTPServer` the API server uses.
- ``get``: GET of one pod.
- ``list-<N>``: LIST of a namespace holding ``N`` pods (consistent read, ``resourceVersion`` unset).
- ``create``: POST of pods with distinct names.
- ``fanout-<W>``: ``W`` watches on one namespace (with bookmarks allowed, as informers and
  kubectl ask), then one pod created per round; the latency of each delivery (create sent →
  event received by that watcher), p50 / p99 / max over all rounds.

Over HTTP the server runs in its own process pinned to one core (``server_cpu``) and the load
comes from another process on another core (``load_cpu``): ``wrk`` when it is installed
(keep-alive connections; CREATE through a Lua script that numbers the names), else a
multi-connection keep-alive loop on ``httptools`` in a separate process. The watches of the
fan-out are ``W`` keep-alive connections from one process. The in-process workloads run the
server and :meth:`orchestra.client.Client.in_process` clients together in one process pinned to
``server_cpu``: that is what one core buys an embedded control plane.

Run it with ``orchestra bench apiserver`` or through ``benchmarks/apiserver/``. The targets of
issue 4 (one core): GET ≥ 0.5 × the floor's requests/s, CREATE ≥ 3,000/s, fan-out p99 ≤ 100 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import multiprocessing.connection
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import attrs
import orjson

from orchestra.aio import wait_for

__all__ = [
    "ApiBenchConfig",
    "ApiMeasurement",
    "RequestSpec",
    "ServerProcess",
    "TARGETS",
    "bench_pod",
    "http_get",
    "http_list",
    "http_create",
    "http_fanout",
    "http_floor",
    "run_in_process",
    "run_http",
    "run_apiserver_bench",
    "target_rows",
    "percentile",
]

#: Namespaces the workloads use (the LIST namespace is filled before the run).
GET_NAMESPACE, LIST_NAMESPACE, CREATE_NAMESPACE, FANOUT_NAMESPACE = "default", "bench-list", "bench-create", "bench-fanout"
GET_NAME = "bench-get"
TRANSPORTS = ("http", "in-process")
WORKLOADS = ("get", "list", "create", "fanout")


@attrs.frozen
class ApiBenchConfig:
    """Sizes and placement of one API server benchmark run."""

    seconds: float = 5.0  # per throughput workload
    warmup_seconds: float = 1.0
    connections: int = 32  # keep-alive connections of the HTTP load
    concurrency: int = 8  # concurrent callers of the in-process workloads
    list_items: int = 1000
    watchers: int = 1000
    fanout_rounds: int = 20
    transports: tuple[str, ...] = TRANSPORTS
    workloads: tuple[str, ...] = WORKLOADS
    tls: bool = False
    load: str = "auto"  # "wrk", "python" or "auto" (wrk when installed)
    server_cpu: int = 0
    load_cpu: int = 1


@attrs.frozen
class ApiMeasurement:
    """One workload over one transport: ``ops`` successful operations in ``seconds``.

    A fan-out carries its delivery latencies in milliseconds (``p50_ms``, ``p99_ms``, ``max_ms``);
    ``errors`` counts failed requests or missed deliveries; ``tool`` names the load generator.
    ``cpu_seconds`` is the CPU time the server process used meanwhile: ``ops / cpu_seconds``
    is what one core would do if nothing else ran on it (the machine may be shared).
    """

    transport: str
    workload: str
    ops: int
    seconds: float
    errors: int = 0
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    tool: str = ""
    cpu_seconds: float | None = None
    rounds: int = 0

    @property
    def rate(self) -> float:
        """Operations per second."""
        return self.ops / self.seconds if self.seconds > 0 else 0.0

    @property
    def rate_per_cpu_second(self) -> float | None:
        """Operations per CPU-second of the server (None when not measured)."""
        if not self.cpu_seconds:
            return None
        return self.ops / self.cpu_seconds

    @property
    def cpu_ms_per_event(self) -> float | None:
        """A fan-out's server CPU milliseconds per event (every watcher served once)."""
        if self.cpu_seconds is None or not self.is_latency or not self.rounds:
            return None
        return self.cpu_seconds * 1000 / self.rounds

    @property
    def is_latency(self) -> bool:
        """Whether this is a latency measurement (a fan-out) rather than a rate."""
        return self.p99_ms is not None

    def cell(self) -> str:
        """The table cell: ``12,345/s`` or ``p50 / p99 / max ms``; errors appended."""
        if self.is_latency:
            text = f"{self.p50_ms:.1f} / {self.p99_ms:.1f} / {self.max_ms:.1f} ms"
            if self.cpu_ms_per_event is not None:
                text += f" ({self.cpu_ms_per_event:.1f} cpu-ms/event)"
        else:
            text = f"{self.rate:,.0f}/s"
            per_cpu = self.rate_per_cpu_second
            if per_cpu is not None:
                text += f" ({per_cpu:,.0f}/cpu-s)"
        return f"{text} ({self.errors} errors)" if self.errors else text

    def to_dict(self) -> dict[str, Any]:
        """The figures as a JSON-ready dict."""
        return {**attrs.asdict(self), "rate": self.rate, "rate_per_cpu_second": self.rate_per_cpu_second,
                "cpu_ms_per_event": self.cpu_ms_per_event}


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` (0–1) percentile of ``values`` by nearest rank (0.0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def bench_pod(name: str) -> dict:
    """The benchmark's pod: what a Deployment of a small web server creates (one container)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"app": "web", "pod-template-hash": "5d8f7c6b9"},
            "annotations": {"orchestra.dev/bench": "true"},
        },
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "nginx:1.27",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "env": [{"name": "MODE", "value": "bench"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                }
            ],
        },
    }


def _pod_path(namespace: str, name: str | None = None) -> str:
    return f"/api/v1/namespaces/{namespace}/pods" + (f"/{name}" if name else "")


_NAME_MARK = b"@@NAME@@"


@attrs.frozen
class RequestSpec:
    """One request shape of the HTTP load; a body holding ``@@NAME@@`` gets a fresh name each time."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    @property
    def unique_names(self) -> bool:
        """Whether every request carries a distinct name."""
        return _NAME_MARK in self.body

    def encode(self, host: str, name: str = "") -> bytes:
        """The raw HTTP/1.1 request (keep-alive)."""
        body = self.body.replace(_NAME_MARK, name.encode()) if self.unique_names else self.body
        head = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}"]
        head += [f"{k}: {v}" for k, v in self.headers]
        if body or self.method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _pin(cpu: int) -> None:
    """Run this process on ``cpu`` only (when the machine has it)."""
    available = os.sched_getaffinity(0)
    if cpu in available or cpu < (os.cpu_count() or 1):
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError:
            pass


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used, from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _spawn() -> multiprocessing.context.SpawnContext:
    return multiprocessing.get_context("spawn")


# --------------------------------------------------------------------------- the server process


async def _preload(server: Any, user: Any, cfg: ApiBenchConfig) -> None:
    """The GET pod, the namespaces, and ``cfg.list_items`` pods in the LIST namespace."""
    from orchestra.client import Client

    client = Client.in_process(server, user)
    for namespace in (LIST_NAMESPACE, CREATE_NAMESPACE, FANOUT_NAMESPACE):
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    await client.create(bench_pod(GET_NAME), namespace=GET_NAMESPACE)
    for i in range(cfg.list_items):
        await client.create(bench_pod(f"list-{i:05d}"), namespace=LIST_NAMESPACE)


async def _hello(request: Any) -> Any:
    from orchestra.apiserver.request import Response

    return Response(200, b'{"hello":"world"}', "application/json")


async def _serve(kind: str, cfg: ApiBenchConfig, data_dir: str, conn: multiprocessing.connection.Connection) -> None:
    from orchestra.apiserver.http import HTTPServer, server_ssl_context
    from orchestra.apiserver.registry_storage import SYSTEM_USER
    from orchestra.apiserver.server import APIServer
    from orchestra.cli.apiserver import tune_gc_for_serving

    server = await APIServer.create("memory://", data_dir=data_dir)
    try:
        assert server.pki is not None
        if kind == "floor":
            context = None
            if cfg.tls:
                pki = server.pki
                context = server_ssl_context(str(pki.serving_cert), str(pki.serving_key), str(pki.ca_cert))
            http = HTTPServer(_hello, ssl_context=context)
            await http.start("127.0.0.1", 0)
        else:
            await _preload(server, SYSTEM_USER, cfg)
            http = await server.serve("127.0.0.1", 0, tls=cfg.tls)
        tune_gc_for_serving()  # as `orchestra apiserver` does once it serves
        conn.send({"port": http.port, "token": server.pki.admin_token(), "ca": str(server.pki.ca_cert)})
        loop = asyncio.get_running_loop()
        # "cpu" asks for the process's CPU time so far; any other message (or EOF) stops the server.
        while await loop.run_in_executor(None, conn.recv) == "cpu":
            conn.send(time.process_time())
        if kind == "floor":
            await http.close()
    finally:
        await server.close()


def _server_main(kind: str, cfg: ApiBenchConfig, data_dir: str, conn: multiprocessing.connection.Connection) -> None:
    import uvloop

    _pin(cfg.server_cpu)
    try:
        uvloop.run(_serve(kind, cfg, data_dir, conn))
    except EOFError:
        pass


class ServerProcess:
    """The API server (``kind="apiserver"``) or the hello-world floor (``kind="floor"``) in a
    process of its own pinned to ``cfg.server_cpu``; use it as a context manager."""

    def __init__(self, kind: str, cfg: ApiBenchConfig) -> None:
        self.kind = kind
        self.cfg = cfg
        self.port = 0
        self.token = ""
        self.ca_file = ""
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._tmp = ""

    @property
    def host(self) -> str:
        """Where the server listens."""
        return "127.0.0.1"

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"{'https' if self.cfg.tls else 'http'}://{self.host}:{self.port}"

    @property
    def auth_headers(self) -> tuple[tuple[str, str], ...]:
        """The admin's bearer token header."""
        return (("Authorization", f"Bearer {self.token}"),)

    def __enter__(self) -> "ServerProcess":
        self._tmp = tempfile.mkdtemp(prefix="orchestra-apibench-")
        ctx = _spawn()
        parent, child = ctx.Pipe()
        self._conn = parent
        self._process = ctx.Process(target=_server_main, args=(self.kind, self.cfg, self._tmp, child), daemon=True)
        self._process.start()
        child.close()
        if not parent.poll(120):
            self.__exit__()
            raise RuntimeError(f"the benchmark {self.kind} server did not start within 120 s")
        info = parent.recv()
        self.port, self.token, self.ca_file = info["port"], info["token"], info["ca"]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, BrokenPipeError):
                self._conn.send("stop")
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(10)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(5)
            self._process = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = ""

    @property
    def pid(self) -> int:
        """The server process's id."""
        assert self._process is not None and self._process.pid is not None
        return self._process.pid

    def cpu_time(self) -> float:
        """CPU seconds the server process has used so far."""
        assert self._conn is not None
        self._conn.send("cpu")
        return self._conn.recv()

    def client_ssl(self) -> ssl.SSLContext | None:
        """A client TLS context trusting the server's CA (None for plain HTTP)."""
        if not self.cfg.tls:
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        context.check_hostname = False
        return context


# --------------------------------------------------------------------------- HTTP load: wrk


def _wrk_tool(cfg: ApiBenchConfig) -> str | None:
    if cfg.load == "python":
        return None
    path = shutil.which("wrk")
    if path is None and cfg.load == "wrk":
        raise RuntimeError("wrk is not installed (apt-get install wrk), and --load wrk asks for it")
    return path


_WRK_SCRIPT = """
local counter = 0
local prefix = "{prefix}"
local template = {body}
local headers = {{}}
{headers}
function setup(thread)
  thread:set("id", tostring(math.random(1, 1000000000)))
end
request = function()
  counter = counter + 1
  local body = string.gsub(template, "@@NAME@@", prefix .. "-" .. id .. "-" .. counter)
  return wrk.format("{method}", "{path}", headers, body)
end
"""


def _lua_string(data: bytes) -> str:
    return '"' + "".join(f"\\{b:03d}" if b < 32 or b in (34, 92) or b > 126 else chr(b) for b in data) + '"'


def _parse_wrk(output: str) -> tuple[int, float, int]:
    """``(requests, seconds, non-2xx or socket errors)`` from wrk's report."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    if total is None:
        raise RuntimeError(f"cannot read wrk's report:\n{output}")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[total.group(3)]
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return int(total.group(1)), float(total.group(2)) * scale, errors


def _run_wrk(wrk: str, server: ServerProcess, spec: RequestSpec, seconds: float) -> tuple[int, float, int]:
    cfg = server.cfg
    cmd = [wrk, "-t1", f"-c{cfg.connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    for name, value in spec.headers:
        cmd += ["-H", f"{name}: {value}"]
    with tempfile.TemporaryDirectory(prefix="orchestra-wrk-") as tmp:
        if spec.method != "GET" or spec.body:
            headers = "\n".join(f"headers[{_lua_string(k.encode())}] = {_lua_string(v.encode())}" for k, v in spec.headers)
            script = Path(tmp, "request.lua")
            script.write_text(_WRK_SCRIPT.format(
                prefix=f"w{os.getpid()}-{time.monotonic_ns() % 10**9}", body=_lua_string(spec.body),
                headers=headers, method=spec.method, path=spec.path,
            ))
            cmd += ["-s", str(script)]
        cmd.append(server.url + (spec.path if spec.method == "GET" and not spec.body else "/"))
        if hasattr(os, "sched_setaffinity"):
            preexec = lambda: _pin(cfg.load_cpu)  # noqa: E731
        else:  # pragma: no cover
            preexec = None
        done = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=preexec, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return _parse_wrk(done.stdout)


# --------------------------------------------------------------------------- HTTP load: the Python loop


class _LoadConnection(asyncio.Protocol):
    """One keep-alive connection sending ``spec`` requests one after another until told to stop."""

    def __init__(self, load: "_Load") -> None:
        import httptools

        self.load = load
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        self.load.record(self.parser.get_status_code())
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if self.load.stopping:
            self.transport.close()
            return
        self.transport.write(self.load.next_request())


class _Load:
    def __init__(self, spec: RequestSpec, host: str) -> None:
        self.spec = spec
        self.host = host
        self.stopping = False
        self.ok = 0
        self.errors = 0
        self.counter = 0
        self.prefix = f"p{os.getpid()}-{time.monotonic_ns() % 10**9}"
        self._fixed = None if spec.unique_names else spec.encode(host)

    def next_request(self) -> bytes:
        if self._fixed is not None:
            return self._fixed
        self.counter += 1
        return self.spec.encode(self.host, f"{self.prefix}-{self.counter}")

    def record(self, status: int) -> None:
        if 200 <= status < 300:
            self.ok += 1
        else:
            self.errors += 1


async def _python_load(host: str, port: int, ca_file: str | None, spec: RequestSpec, connections: int,
                       seconds: float, warmup: float) -> tuple[int, float, int]:
    loop = asyncio.get_running_loop()
    context = None
    if ca_file:
        context = ssl.create_default_context(cafile=ca_file)
        context.check_hostname = False
    load = _Load(spec, f"{host}:{port}")
    conns = [(await loop.create_connection(lambda: _LoadConnection(load), host, port, ssl=context))[1]
             for _ in range(connections)]
    await asyncio.sleep(warmup)
    ok0, err0, start = load.ok, load.errors, time.perf_counter()
    await asyncio.sleep(seconds)
    ok, errors, elapsed = load.ok - ok0, load.errors - err0, time.perf_counter() - start
    load.stopping = True
    await asyncio.wait([c.closed for c in conns], timeout=10)
    return ok, elapsed, errors


def _python_load_main(args: tuple, load_cpu: int, conn: multiprocessing.connection.Connection) -> None:
    import uvloop

    _pin(load_cpu)
    try:
        conn.send(("ok", uvloop.run(_python_load(*args))))
    except Exception as exc:  # reported to the parent, which raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _run_python_load(server: ServerProcess, spec: RequestSpec, seconds: float) -> tuple[int, float, int]:
    cfg = server.cfg
    args = (server.host, server.port, server.ca_file if cfg.tls else None, spec, cfg.connections, seconds,
            cfg.warmup_seconds)
    return _run_child(_python_load_main, args, cfg.load_cpu, timeout=seconds + cfg.warmup_seconds + 120)


def _run_child(target: Callable, args: tuple, cpu: int, *, timeout: float) -> Any:
    ctx = _spawn()
    parent, child = ctx.Pipe()
    process = ctx.Process(target=target, args=(args, cpu, child), daemon=True)
    process.start()
    child.close()
    try:
        if not parent.poll(timeout):
            raise RuntimeError(f"the benchmark load process gave no answer within {timeout:.0f} s")
        status, value = parent.recv()
    finally:
        process.join(10)
        if process.is_alive():
            process.terminate()
            process.join(5)
        parent.close()
    if status != "ok":
        raise RuntimeError(f"the benchmark load process failed: {value}")
    return value


def _throughput(server: ServerProcess, transport: str, workload: str, spec: RequestSpec) -> ApiMeasurement:
    cfg = server.cfg
    wrk = _wrk_tool(cfg)
    if wrk is not None:
        if cfg.warmup_seconds > 0:
            _run_wrk(wrk, server, spec, cfg.warmup_seconds)
        cpu = server.cpu_time()
        ops, seconds, errors = _run_wrk(wrk, server, spec, cfg.seconds)
        cpu = server.cpu_time() - cpu
        return ApiMeasurement(transport, workload, ops - errors, seconds, errors, tool="wrk", cpu_seconds=cpu)
    # The Python loop warms up inside its own run, so the server's CPU time spans warm-up and
    # measurement alike: it is scaled to the measured share of the wall time.
    cpu = server.cpu_time()
    started = time.perf_counter()
    ops, seconds, errors = _run_python_load(server, spec, cfg.seconds)
    cpu = (server.cpu_time() - cpu) * seconds / max(time.perf_counter() - started, seconds)
    return ApiMeasurement(transport, workload, ops, seconds, errors, tool="python", cpu_seconds=cpu)


def http_floor(floor: ServerProcess) -> ApiMeasurement:
    """Requests/s of the hello-world endpoint on the same HTTP stack (the floor)."""
    spec = RequestSpec("GET", "/hello", floor.auth_headers)
    return _throughput(floor, "floor", "get", spec)


def http_get(server: ServerProcess) -> ApiMeasurement:
    """GETs/s of one pod over keep-alive connections."""
    return _throughput(server, "http", "get", RequestSpec("GET", _pod_path(GET_NAMESPACE, GET_NAME), server.auth_headers))


def http_list(server: ServerProcess) -> ApiMeasurement:
    """LISTs/s of the namespace holding ``cfg.list_items`` pods."""
    spec = RequestSpec("GET", _pod_path(LIST_NAMESPACE), server.auth_headers)
    return _throughput(server, "http", f"list-{server.cfg.list_items}", spec)


def http_create(server: ServerProcess) -> ApiMeasurement:
    """CREATEs/s of pods with distinct names over keep-alive connections."""
    body = orjson.dumps(bench_pod(_NAME_MARK.decode()))
    spec = RequestSpec("POST", _pod_path(CREATE_NAMESPACE), server.auth_headers + (("Content-Type", "application/json"),),
                       body)
    return _throughput(server, "http", "create", spec)


# --------------------------------------------------------------------------- HTTP fan-out


class _WatchConnection(asyncio.Protocol):
    """One watch: records when each round's first bytes arrive."""

    def __init__(self, fan: "_FanOut") -> None:
        self.fan = fan
        self.seen_round = 0
        self.headers = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.headers.done():
            if b"\r\n\r\n" in data:
                self.headers.set_result(data.split(b"\r\n", 1)[0])
            return
        fan = self.fan
        if self.seen_round < fan.round:
            self.seen_round = fan.round
            fan.delivered(time.perf_counter())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.headers.done():
            self.headers.set_exception(ConnectionError("the watch connection closed before its headers"))


class _FanOut:
    def __init__(self, watchers: int) -> None:
        self.watchers = watchers
        self.round = 0
        self.started = 0.0
        self.latencies: list[float] = []
        self.count = 0
        self.all_in: asyncio.Future[None] | None = None

    def begin(self) -> None:
        self.round += 1
        self.count = 0
        self.all_in = asyncio.get_running_loop().create_future()
        self.started = time.perf_counter()

    def delivered(self, at: float) -> None:
        self.latencies.append((at - self.started) * 1000)
        self.count += 1
        if self.count >= self.watchers and self.all_in is not None and not self.all_in.done():
            self.all_in.set_result(None)


async def _http_fanout(host: str, port: int, ca_file: str | None, headers: tuple[tuple[str, str], ...],
                       watchers: int, rounds: int, server_pid: int) -> tuple[list[float], int, float, float]:
    import aiohttp

    loop = asyncio.get_running_loop()
    context = None
    if ca_file:
        context = ssl.create_default_context(cafile=ca_file)
        context.check_hostname = False
    base = f"{'https' if context else 'http'}://{host}:{port}"
    connector = aiohttp.TCPConnector(ssl=context if context else False, limit=1)
    async with aiohttp.ClientSession(connector=connector, headers=dict(headers)) as session:
        async with session.get(base + _pod_path(FANOUT_NAMESPACE)) as response:
            rv = (await response.json())["metadata"]["resourceVersion"]
        fan = _FanOut(watchers)
        request = RequestSpec("GET", _pod_path(FANOUT_NAMESPACE) + f"?watch=true&resourceVersion={rv}&allowWatchBookmarks=true", headers)
        raw = request.encode(f"{host}:{port}")
        conns: list[_WatchConnection] = []
        for start in range(0, watchers, 100):  # connect in batches so the listen backlog never overflows
            batch = await asyncio.gather(*(loop.create_connection(lambda: _WatchConnection(fan), host, port,
                                                                  ssl=context)
                                           for _ in range(start, min(watchers, start + 100))))
            for _transport, conn in batch:
                assert conn.transport is not None
                conn.transport.write(raw)
                conns.append(conn)
        status_lines = await asyncio.gather(*(c.headers for c in conns))
        bad = [line for line in status_lines if b" 200 " not in line]
        if bad:
            raise RuntimeError(f"{len(bad)} watches were refused: {bad[0]!r}")
        await asyncio.sleep(0.5)  # every watch is registered with the cache by now
        missed = 0
        elapsed = 0.0
        cpu = process_cpu_seconds(server_pid)
        for r in range(rounds):
            fan.begin()
            body = orjson.dumps(bench_pod(f"fan-{os.getpid()}-{r}"))
            async with session.post(base + _pod_path(FANOUT_NAMESPACE), data=body,
                                    headers={"Content-Type": "application/json"}) as response:
                if response.status != 201:
                    raise RuntimeError(f"creating the fan-out pod failed: {response.status} {await response.text()}")
            assert fan.all_in is not None
            try:
                await wait_for(asyncio.shield(fan.all_in), timeout=10)
            except asyncio.TimeoutError:
                missed += watchers - fan.count
            elapsed += time.perf_counter() - fan.started
            await asyncio.sleep(0.05)
        cpu = process_cpu_seconds(server_pid) - cpu
        for conn in conns:
            if conn.transport is not None:
                conn.transport.close()
    return fan.latencies, missed, elapsed, cpu


def _fanout_main(args: tuple, load_cpu: int, conn: multiprocessing.connection.Connection) -> None:
    import uvloop

    _pin(load_cpu)
    try:
        conn.send(("ok", uvloop.run(_http_fanout(*args))))
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _fanout_measurement(transport: str, watchers: int, latencies: list[float], missed: int,
                        elapsed: float, tool: str, cpu_seconds: float, rounds: int) -> ApiMeasurement:
    return ApiMeasurement(
        transport, f"fanout-{watchers}", len(latencies), elapsed, missed,
        p50_ms=percentile(latencies, 0.50), p99_ms=percentile(latencies, 0.99),
        max_ms=max(latencies) if latencies else 0.0, tool=tool, cpu_seconds=cpu_seconds, rounds=rounds,
    )


def http_fanout(server: ServerProcess) -> ApiMeasurement:
    """``cfg.watchers`` watch connections; per-watcher latency of each created pod's event."""
    cfg = server.cfg
    args = (server.host, server.port, server.ca_file if cfg.tls else None, server.auth_headers, cfg.watchers,
            cfg.fanout_rounds, server.pid)
    latencies, missed, elapsed, cpu = _run_child(_fanout_main, args, cfg.load_cpu,
                                                 timeout=cfg.fanout_rounds * 15 + 120)
    return _fanout_measurement("http", cfg.watchers, latencies, missed, elapsed, "python", cpu, cfg.fanout_rounds)


def run_http(cfg: ApiBenchConfig, progress: Callable[[str], None] = lambda s: None) -> list[ApiMeasurement]:
    """The floor and every selected workload over HTTP, server and load on separate cores."""
    out: list[ApiMeasurement] = []
    if "get" in cfg.workloads:
        progress("http: hello-world floor …")
        with ServerProcess("floor", cfg) as floor:
            out.append(http_floor(floor))
    progress("http: starting the API server …")
    with ServerProcess("apiserver", cfg) as server:
        steps = {"get": http_get, "list": http_list, "create": http_create, "fanout": http_fanout}
        for workload in cfg.workloads:
            progress(f"http: {workload} …")
            out.append(steps[workload](server))
    return out


# --------------------------------------------------------------------------- in-process


async def _timed(call: Callable[[int], Any], concurrency: int, seconds: float, warmup: float) -> tuple[int, float, int]:
    """Run ``await call(i)`` from ``concurrency`` tasks: ``warmup`` seconds, then ``seconds`` counted.

    Each task yields to the loop after every call: an in-process call on the memory store may
    complete without ever suspending, and the watch caches must keep up as they would in a server.
    """
    counter = 0
    ok = errors = 0
    loop = asyncio.get_running_loop()
    start = loop.time() + warmup
    end = start + seconds

    async def worker() -> None:
        nonlocal counter, ok, errors
        while True:
            now = loop.time()
            if now >= end:
                return
            counter += 1
            try:
                await call(counter)
            except Exception:
                if now >= start:
                    errors += 1
            else:
                if now >= start:
                    ok += 1
            await asyncio.sleep(0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok, seconds, errors


async def inprocess_get(client: Any, cfg: ApiBenchConfig) -> ApiMeasurement:
    """GETs/s of one pod through :meth:`Client.get` on the in-process transport."""
    ops, secs, errors = await _timed(lambda i: client.get("pods", GET_NAME, namespace=GET_NAMESPACE, raw=True),
                                     cfg.concurrency, cfg.seconds, cfg.warmup_seconds)
    return ApiMeasurement("in-process", "get", ops, secs, errors, tool="client")


async def inprocess_list(client: Any, cfg: ApiBenchConfig) -> ApiMeasurement:
    """LISTs/s of the namespace holding ``cfg.list_items`` pods (raw wire dicts)."""
    ops, secs, errors = await _timed(lambda i: client.list("pods", namespace=LIST_NAMESPACE, raw=True),
                                     cfg.concurrency, cfg.seconds, cfg.warmup_seconds)
    return ApiMeasurement("in-process", f"list-{cfg.list_items}", ops, secs, errors, tool="client")


async def inprocess_create(client: Any, cfg: ApiBenchConfig) -> ApiMeasurement:
    """CREATEs/s of pods with distinct names through :meth:`Client.create`."""
    prefix = f"c{time.monotonic_ns() % 10**9}"
    ops, secs, errors = await _timed(
        lambda i: client.create(bench_pod(f"{prefix}-{i}"), namespace=CREATE_NAMESPACE, raw=True),
        cfg.concurrency, cfg.seconds, cfg.warmup_seconds,
    )
    return ApiMeasurement("in-process", "create", ops, secs, errors, tool="client")


async def inprocess_fanout(client: Any, cfg: ApiBenchConfig) -> ApiMeasurement:
    """``cfg.watchers`` watches through :meth:`Client.watch`; per-watcher latency of each created pod."""
    listing = await client.list("pods", namespace=FANOUT_NAMESPACE, raw=True)
    fan = _FanOut(cfg.watchers)
    ready = 0
    all_ready = asyncio.get_running_loop().create_future()

    async def watch() -> None:
        nonlocal ready
        seen = 0
        stream = client.watch("pods", namespace=FANOUT_NAMESPACE, resource_version=listing.resource_version,
                              allow_bookmarks=True, raw=True)
        ready += 1
        if ready == cfg.watchers and not all_ready.done():
            all_ready.set_result(None)
        async for _event in stream:
            if seen < fan.round:
                seen = fan.round
                fan.delivered(time.perf_counter())

    tasks = [asyncio.ensure_future(watch()) for _ in range(cfg.watchers)]
    await all_ready
    await asyncio.sleep(0.5)
    missed = 0
    elapsed = 0.0
    cpu = time.process_time()
    for r in range(cfg.fanout_rounds):
        fan.begin()
        await client.create(bench_pod(f"fan-{r}"), namespace=FANOUT_NAMESPACE, raw=True)
        assert fan.all_in is not None
        try:
            await wait_for(asyncio.shield(fan.all_in), timeout=10)
        except asyncio.TimeoutError:
            missed += cfg.watchers - fan.count
        elapsed += time.perf_counter() - fan.started
        await asyncio.sleep(0.05)
    cpu = time.process_time() - cpu
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return _fanout_measurement("in-process", cfg.watchers, fan.latencies, missed, elapsed, "client", cpu,
                               cfg.fanout_rounds)


_IN_PROCESS = {"get": inprocess_get, "list": inprocess_list, "create": inprocess_create, "fanout": inprocess_fanout}


async def _in_process(cfg: ApiBenchConfig, workloads: tuple[str, ...]) -> list[ApiMeasurement]:
    from orchestra.apiserver.registry_storage import SYSTEM_USER
    from orchestra.apiserver.server import APIServer
    from orchestra.cli.apiserver import tune_gc_for_serving
    from orchestra.client import Client

    server = await APIServer.create("memory://")
    try:
        await _preload(server, SYSTEM_USER, cfg)
        tune_gc_for_serving()  # as `orchestra apiserver` does once it serves
        client = Client.in_process(server, SYSTEM_USER)
        results = []
        for workload in workloads:
            cpu = time.process_time()
            m = await _IN_PROCESS[workload](client, cfg)
            if not m.is_latency:
                cpu = (time.process_time() - cpu) * m.seconds / (m.seconds + cfg.warmup_seconds)
                m = attrs.evolve(m, cpu_seconds=cpu)
            results.append(m)
        return results
    finally:
        await server.close()


def _in_process_main(args: tuple, cpu: int, conn: multiprocessing.connection.Connection) -> None:
    import uvloop

    _pin(cpu)
    try:
        conn.send(("ok", uvloop.run(_in_process(*args))))
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


def run_in_process(cfg: ApiBenchConfig, workloads: tuple[str, ...] | None = None) -> list[ApiMeasurement]:
    """The selected workloads over the in-process transport, in a process pinned to ``cfg.server_cpu``."""
    chosen = tuple(workloads if workloads is not None else cfg.workloads)
    budget = len(chosen) * (cfg.seconds + cfg.warmup_seconds) + cfg.fanout_rounds * 15 + 180
    return _run_child(_in_process_main, (cfg, chosen), cfg.server_cpu, timeout=budget)


# --------------------------------------------------------------------------- driver and targets


def run_apiserver_bench(cfg: ApiBenchConfig, *, progress: Callable[[str], None] = lambda s: None) -> list[ApiMeasurement]:
    """Every selected workload over every selected transport."""
    unknown = set(cfg.workloads) - set(WORKLOADS)
    if unknown:
        raise ValueError(f"unknown workloads {sorted(unknown)}; choose from {WORKLOADS}")
    unknown = set(cfg.transports) - set(TRANSPORTS)
    if unknown:
        raise ValueError(f"unknown transports {sorted(unknown)}; choose from {TRANSPORTS}")
    results: list[ApiMeasurement] = []
    if "http" in cfg.transports:
        results += run_http(cfg, progress)
    if "in-process" in cfg.transports:
        progress("in-process: " + ", ".join(cfg.workloads) + " …")
        results += run_in_process(cfg)
    return results


#: (label, transport, workload prefix, what is compared, threshold): the targets of issue 4 on one core.
TARGETS = (
    ("GET ÷ floor (HTTP)", "http", "get", "floor-ratio", 0.5),
    ("CREATE/s (HTTP)", "http", "create", "rate", 3000.0),
    ("CREATE/s (in-process)", "in-process", "create", "rate", 3000.0),
    ("fan-out p99 ms (HTTP)", "http", "fanout", "p99", 100.0),
    ("fan-out p99 ms (in-process)", "in-process", "fanout", "p99", 100.0),
    ("fan-out server CPU ms per event (HTTP)", "http", "fanout", "cpu-per-event", 100.0),
    ("fan-out CPU ms per event (in-process)", "in-process", "fanout", "cpu-per-event", 100.0),
)


def target_rows(results: list[ApiMeasurement]) -> list[tuple[str, float, float, bool]]:
    """``(label, measured, target, met)`` for every target this run measured.

    Rates are checked as measured (wall clock) and, where the server's CPU time was measured,
    per CPU-second of the server too: on a shared machine the wall-clock rate only shows the
    share of the core the server got.
    """
    def find(transport: str, prefix: str) -> ApiMeasurement | None:
        for m in results:
            if m.transport == transport and m.workload.startswith(prefix):
                return m
        return None

    rows = []
    for label, transport, workload, what, threshold in TARGETS:
        m = find(transport, workload)
        if m is None:
            continue
        if what == "floor-ratio":
            floor = find("floor", "get")
            if floor is None or floor.rate <= 0:
                continue
            value = m.rate / floor.rate
            rows.append((label, value, threshold, value >= threshold))
            m_cpu, floor_cpu = m.rate_per_cpu_second, floor.rate_per_cpu_second
            if m_cpu is not None and floor_cpu:
                value = m_cpu / floor_cpu
                rows.append((label + ", per CPU-second", value, threshold, value >= threshold))
        elif what == "rate":
            rows.append((label, m.rate, threshold, m.rate >= threshold))
            per_cpu = m.rate_per_cpu_second
            if per_cpu is not None:
                rows.append((label + ", per CPU-second", per_cpu, threshold, per_cpu >= threshold))
        elif what == "cpu-per-event":
            if m.cpu_ms_per_event is not None:
                rows.append((label, m.cpu_ms_per_event, threshold, m.cpu_ms_per_event <= threshold))
        else:
            assert m.p99_ms is not None
            rows.append((label, m.p99_ms, threshold, m.p99_ms <= threshold and m.errors == 0))
    return rows
