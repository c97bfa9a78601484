"""Container probes: startup, liveness and readiness, by exec, httpGet or tcpSocket.

Semantics as Kubernetes defines them:

* defaults: ``periodSeconds`` 10, ``timeoutSeconds`` 1, ``successThreshold`` 1,
  ``failureThreshold`` 3, ``initialDelaySeconds`` 0 — no probe runs until that long after the
  container started;
* a result flips only after ``successThreshold`` consecutive successes or ``failureThreshold``
  consecutive failures; readiness starts as failure (not ready), liveness as success, startup as
  unknown;
* httpGet succeeds on a status from 200 to 399 (the host defaults to the pod IP; named ports are
  looked up in the container's ports); tcpSocket succeeds when a connection opens; exec succeeds
  on exit code 0 — each within ``timeoutSeconds``;
* every failed attempt is reported (the kubelet posts an ``Unhealthy`` event for it).

A :class:`ProbeWorker` runs one probe of one container instance; the pod worker starts it when
the container starts and stops it when the container ends, so a restarted container begins
with fresh results. gRPC probes are not implemented: they fail with a message saying so.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Awaitable, Callable

import attrs

from orchestra.aio import cancel_and_wait, wait_for
from orchestra.node.runtime import Runtime

__all__ = [
    "STARTUP",
    "LIVENESS",
    "READINESS",
    "ProbeSettings",
    "ProbeResult",
    "ProbeWorker",
    "ProbeTarget",
    "run_probe",
    "probe_label",
]

log = logging.getLogger(__name__)

STARTUP, LIVENESS, READINESS = "startup", "liveness", "readiness"
_USER_AGENT = "kube-probe/1.32"
_MAX_BODY = 10 * 1024


def probe_label(kind: str) -> str:
    """``Liveness`` / ``Readiness`` / ``Startup``: how events name a probe."""
    return kind.capitalize()


@attrs.frozen
class ProbeSettings:
    """The timing of a probe, defaults applied (seconds and counts)."""

    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def from_spec(cls, probe: dict) -> "ProbeSettings":
        """Settings from a probe's wire dict (zeros and absences take Kubernetes' defaults)."""
        return cls(
            initial_delay=float(probe.get("initialDelaySeconds") or 0),
            period=float(probe.get("periodSeconds") or 10),
            timeout=float(probe.get("timeoutSeconds") or 1),
            success_threshold=int(probe.get("successThreshold") or 1),
            failure_threshold=int(probe.get("failureThreshold") or 3),
        )


@attrs.frozen
class ProbeResult:
    """One attempt: whether it succeeded and what to say about it."""

    success: bool
    output: str = ""


@attrs.frozen
class ProbeTarget:
    """What a probe runs against: the runtime, the container instance, its pod IP and named ports."""

    runtime: Runtime
    container_id: str
    pod_ip: str
    ports: dict[str, int] = attrs.field(factory=dict)


def _port(value: object, target: ProbeTarget) -> int:
    if isinstance(value, int):
        return value
    text = str(value)
    if text.isdigit():
        return int(text)
    if text in target.ports:
        return target.ports[text]
    raise ValueError(f'port "{text}" not found in the container\'s ports')


async def _http_get(action: dict, target: ProbeTarget, timeout: float) -> ProbeResult:
    scheme = (action.get("scheme") or "HTTP").upper()
    host = action.get("host") or target.pod_ip
    port = _port(action.get("port"), target)
    path = action.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    url = f"{scheme.lower()}://{host}:{port}{path}"
    headers = {"Host": f"{host}:{port}", "User-Agent": _USER_AGENT, "Accept": "*/*", "Connection": "close"}
    for header in action.get("httpHeaders") or ():
        headers[header.get("name") or ""] = header.get("value") or ""
    context = None
    if scheme == "HTTPS":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    writer = None
    try:
        reader, writer = await asyncio.open_connection(host, port, ssl=context)
        request = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(request.encode("latin-1"))
        await writer.drain()
        status_line = await reader.readline()
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            return ProbeResult(False, f'Get "{url}": malformed HTTP response {status_line[:80]!r}')
        code = int(parts[1])
        body = b""
        try:
            body = await wait_for(reader.read(_MAX_BODY), 0.2)
        except (asyncio.TimeoutError, OSError):
            pass
        if 200 <= code < 400:
            return ProbeResult(True, "")
        text = body.split(b"\r\n\r\n", 1)[-1][:200].decode(errors="replace")
        return ProbeResult(False, f"HTTP probe failed with statuscode: {code}" + (f" {text}" if text else ""))
    except ConnectionRefusedError:
        return ProbeResult(False, f'Get "{url}": dial tcp {host}:{port}: connect: connection refused')
    except OSError as exc:
        return ProbeResult(False, f'Get "{url}": dial tcp {host}:{port}: {exc.strerror or exc}')
    finally:
        if writer is not None:
            writer.close()


async def _tcp_socket(action: dict, target: ProbeTarget) -> ProbeResult:
    host = action.get("host") or target.pod_ip
    port = _port(action.get("port"), target)
    try:
        _, writer = await asyncio.open_connection(host, port)
    except ConnectionRefusedError:
        return ProbeResult(False, f"dial tcp {host}:{port}: connect: connection refused")
    except OSError as exc:
        return ProbeResult(False, f"dial tcp {host}:{port}: {exc.strerror or exc}")
    writer.close()
    return ProbeResult(True, "")


async def _exec(action: dict, target: ProbeTarget, timeout: float) -> ProbeResult:
    command = list(action.get("command") or ())
    if not command:
        return ProbeResult(False, "exec probe has no command")
    result = await target.runtime.exec_in_container(target.container_id, command, timeout=timeout)
    output = (result.stdout + result.stderr).decode(errors="replace").strip()
    if result.exit_code == 0:
        return ProbeResult(True, output)
    if result.exit_code == 124 and not result.stdout:
        return ProbeResult(False, f"command {command!r} timed out")
    return ProbeResult(False, output or f"command {command!r} exited with {result.exit_code}")


async def run_probe(probe: dict, target: ProbeTarget, timeout: float) -> ProbeResult:
    """Run one attempt of ``probe`` (a wire dict) against ``target`` within ``timeout`` seconds."""
    try:
        if probe.get("exec"):
            return await _exec(probe["exec"], target, timeout)
        if probe.get("httpGet"):
            return await wait_for(_http_get(probe["httpGet"], target, timeout), timeout)
        if probe.get("tcpSocket"):
            return await wait_for(_tcp_socket(probe["tcpSocket"], target), timeout)
        if probe.get("grpc"):
            return ProbeResult(False, "gRPC probes are not supported by this agent")
        return ProbeResult(False, "the probe has no handler (exec, httpGet or tcpSocket)")
    except asyncio.TimeoutError:
        return ProbeResult(False, f"probe timed out after {timeout:g}s")
    except ValueError as exc:
        return ProbeResult(False, str(exc))
    except Exception as exc:  # the probe failing must never take the pod worker down
        log.debug("probe failed unexpectedly", exc_info=True)
        return ProbeResult(False, f"probe error: {exc}")


ResultHandler = Callable[[str, bool], Awaitable[None] | None]
FailureHandler = Callable[[str, str], None]


class ProbeWorker:
    """Runs one probe of one container instance every period and reports flips and failures.

    :param kind: ``startup``, ``liveness`` or ``readiness``.
    :param probe: the probe's wire dict. :param target: what it runs against.
    :param started_at: monotonic time the container started (``initialDelaySeconds`` counts from it).
    :param on_result: ``on_result(kind, healthy)`` when the result flips.
    :param on_failure: ``on_failure(kind, output)`` after each failed attempt.
    """

    def __init__(self, kind: str, probe: dict, target: ProbeTarget, started_at: float,
                 on_result: ResultHandler, on_failure: FailureHandler) -> None:
        self.kind = kind
        self.probe = probe
        self.settings = ProbeSettings.from_spec(probe)
        self.target = target
        self.started_at = started_at
        self.on_result = on_result
        self.on_failure = on_failure
        #: The current result: readiness starts failed, liveness healthy, startup unknown.
        self.result: bool | None = {READINESS: False, LIVENESS: True}.get(kind)
        self._successes = 0
        self._failures = 0
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def start(self) -> None:
        """Start probing in the background."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"probe-{self.kind}")

    async def stop(self) -> None:
        """Stop probing (idempotent; safe to call from the result handler); no result is reported after it."""
        self._stopped = True
        task, self._task = self._task, None
        if task is not asyncio.current_task():
            await cancel_and_wait([task])

    async def _run(self) -> None:
        delay = self.started_at + self.settings.initial_delay - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        while not self._stopped:
            began = time.monotonic()
            outcome = await run_probe(self.probe, self.target, self.settings.timeout)
            if self._stopped:
                # stopped while the attempt ran: nothing is reported after stop()
                return
            if not await self._record(outcome):
                return
            await asyncio.sleep(max(0.0, self.settings.period - (time.monotonic() - began)))

    async def _record(self, outcome: ProbeResult) -> bool:
        """Count an attempt; returns False when probing should stop (liveness/startup gave up, startup done)."""
        if outcome.success:
            self._successes += 1
            self._failures = 0
            if self.result is not True and self._successes >= self.settings.success_threshold:
                self.result = True
                await _call(self.on_result, self.kind, True)
                if self.kind == STARTUP:
                    return False
            return True
        self._failures += 1
        self._successes = 0
        self.on_failure(self.kind, outcome.output)
        if self.result is not False and self._failures >= self.settings.failure_threshold:
            self.result = False
            await _call(self.on_result, self.kind, False)
            if self.kind in (LIVENESS, STARTUP):
                return False
        return True


async def _call(handler: ResultHandler, kind: str, healthy: bool) -> None:
    result = handler(kind, healthy)
    if asyncio.iscoroutine(result):
        await result
