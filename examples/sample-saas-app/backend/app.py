"""The sample-saas-app backend: a small JSON API on port 8080, standard library only.

GET /healthz   200 {"status": "ok"}; the Deployment's readiness and liveness probes.
GET /api/info  200 the service's name, version (the commit it was built from) and settings.

Settings come from the environment, as the GitOps overlays set it: PORT (default 8080),
APP_VERSION (set at build time), LOG_LEVEL. DATABASE_URL is never echoed, only whether it is set.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("backend")


def info() -> dict[str, object]:
    """What GET /api/info answers."""
    return {
        "service": "backend",
        "version": os.environ.get("APP_VERSION", "dev"),
        "log_level": os.environ.get("LOG_LEVEL", "info"),
        "database_configured": bool(os.environ.get("DATABASE_URL")),
    }


class Handler(BaseHTTPRequestHandler):
    server_version = "sample-saas-app-backend"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 (the name http.server dispatches to)
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self.send_json(HTTPStatus.OK, {"status": "ok"})
        elif path == "/api/info":
            self.send_json(HTTPStatus.OK, info())
        else:
            self.send_json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def send_json(self, status: HTTPStatus, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base's name)
        # Probes hit /healthz every few seconds: keep them out of the log.
        if not self.path.startswith("/healthz"):
            log.info("%s %s", self.address_string(), format % args)


def make_server(port: int) -> ThreadingHTTPServer:
    return ThreadingHTTPServer(("", port), Handler)


def main() -> None:
    level = os.environ.get("LOG_LEVEL", "info").upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO), format="%(message)s")
    server = make_server(int(os.environ.get("PORT", "8080")))

    # Kubernetes stops a pod with SIGTERM: finish the requests in flight, then exit.
    # shutdown() waits for serve_forever() to return, so it must run on another thread.
    def stop(_signum: int, _frame: object) -> None:
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    log.info("listening on :%d", server.server_address[1])
    with server:
        server.serve_forever()


if __name__ == "__main__":
    main()
