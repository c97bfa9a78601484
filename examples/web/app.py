"""A small web application for Orchestra's examples: it answers with the name of its pod.

Run by the Deployment in ``deployment.yaml`` on the process runtime (a host process per pod):

- ``GET /`` answers ``hello from <pod name>`` (the pod name comes from the downward API as
  ``POD_NAME``; the hostname when it is not set);
- ``GET /ready`` is the readiness endpoint: 200 once the server is serving, 503 while it is
  shutting down (after SIGTERM), so the Service stops sending it requests before it exits;
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Handler", "main"]

POD_NAME = os.environ.get("POD_NAME") or socket.gethostname()
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
            self._answer(200, f"hello from {POD_NAME}\n")
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
    server.daemon_threads = True

    def stop(signum: int, frame: object) -> None:
        STOPPING.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"{POD_NAME} serving on http://{host}:{port}", flush=True)
    server.serve_forever()
    server.server_close()
    print(f"{POD_NAME} stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
