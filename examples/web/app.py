"""A small web application for Orchestra's examples: it answers with the name of its pod.

Run by the Deployment in ``deployment.yaml`` on the process runtime (a host process per pod):

- ``GET /`` answers ``<greeting> from <pod name>``: the greeting is ``$GREETING`` (``hello`` when
  unset), the pod name comes from the downward API as ``POD_NAME`` (the hostname when it is not
  set) — so ``kubectl set env deployment/web GREETING=hi`` shows a rollout in the answers;
- ``GET /ready`` is the readiness endpoint: 200 once the server is serving, 503 while it is
  shutting down (after SIGTERM);
- on SIGTERM it keeps serving for ``$SHUTDOWN_DELAY`` seconds (2 when unset) before it stops
  accepting connections, then finishes the requests in flight and exits. Removing a deleted pod
  from the Service's endpoints and sending it SIGTERM happen at the same time (as in Kubernetes),
  so a server that closed its socket at once would drop the connections the proxy had just sent
  it; SIGINT stops at once;
- it listens on ``$POD_IP`` (each pod has its own address in 127.0.0.0/8 on the process
  runtime; 127.0.0.1 when unset) and port ``$PORT`` (8080 when unset).

Standard library only, so it runs with any ``python3``.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Handler", "main"]

POD_NAME = os.environ.get("POD_NAME") or socket.gethostname()
GREETING = os.environ.get("GREETING") or "hello"
#: Seconds the server keeps serving after SIGTERM, while the pod leaves the Service's endpoints.
SHUTDOWN_DELAY = float(os.environ.get("SHUTDOWN_DELAY") or 2.0)
#: Set on SIGTERM: the readiness endpoint fails from then on.
STOPPING = threading.Event()


class Handler(BaseHTTPRequestHandler):
    """Answers ``/`` with the pod name and ``/ready`` with the readiness state."""

    server_version = "orchestra-example-web/1"

    def do_GET(self) -> None:  # noqa: N802 (the http.server naming)
        """Serve one GET request."""
        if self.path == "/ready":
            ready = not STOPPING.is_set()
            self._answer(200 if ready else 503, "ready\n" if ready else "stopping\n")
        elif self.path == "/":
            self._answer(200, f"{GREETING} from {POD_NAME}\n")
        else:
            self._answer(404, "not found\n")

    def _answer(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the http.server signature)
        """Log requests, except the readiness probe's, to stdout (the container log)."""
        if self.path != "/ready":
            print(f"{self.address_string()} {format % args}", flush=True)


def main() -> int:
    """Serve until SIGTERM or SIGINT."""
    host = os.environ.get("POD_IP") or "127.0.0.1"
    port = int(os.environ.get("PORT") or 8080)
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = False  # server_close() waits for the requests in flight

    def shut_down(delay: float) -> None:
        time.sleep(delay)
        server.shutdown()

    def stop(signum: int, frame: object) -> None:
        if STOPPING.is_set() and signum == signal.SIGTERM:
            return
        STOPPING.set()
        delay = SHUTDOWN_DELAY if signum == signal.SIGTERM else 0.0
        threading.Thread(target=shut_down, args=(delay,), daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"{POD_NAME} serving on http://{host}:{port}", flush=True)
    server.serve_forever()
    server.server_close()
    print(f"{POD_NAME} stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
