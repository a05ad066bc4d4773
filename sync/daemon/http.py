"""The operations endpoints: `/healthz`, `/readyz`, `/metrics`, on a small threaded HTTP server.

werkzeug's threaded server (already a dependency for the sandboxes) is plenty for a probe every few
seconds and a Prometheus scrape a minute; an ASGI stack would add a framework for three GET routes.
Each answer is computed from state the daemon already holds: no endpoint calls a CRM or the database,
so a probe never waits on a slow API and never spends an API budget.

- `/healthz` (liveness): 200 while the process and the scheduler loop are alive; 503 otherwise, so the
  orchestrator restarts a daemon whose scheduler died.
- `/readyz` (readiness): 200 when every check is ok (rules loaded without error, each CRM account
  reachable and authorised at its last health check); else 503 with a JSON body naming each check
  that is not ready and why.
- `/metrics`: the Prometheus text exposition format.
- `/report` (when the daemon is given one): the funnel and SLA report page; unlike the probes it reads the
  state store, so it is rendered on request and briefly cached by its provider (`sync.insight.served`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import structlog
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from sync.daemon.readiness import CheckResult

log = structlog.get_logger("crmsync.daemon.http")
Checks = Callable[[], Mapping[str, CheckResult]]
ReportProvider = Callable[[Mapping[str, str]], str]  # query arguments -> HTML; ValueError: a bad argument


def _checks_response(checks: Mapping[str, CheckResult], *, ok_key: str) -> Response:
    failing = sorted(name for name, result in checks.items() if not result.ok)
    ok = not failing
    body: dict[str, Any] = {ok_key: ok, "checks": {name: result.to_json() for name, result in sorted(checks.items())}}
    if not ok:
        body["not_ready" if ok_key == "ready" else "failing"] = failing
    return Response(json.dumps(body, indent=1) + "\n", status=200 if ok else 503, content_type="application/json",
                    headers={"Cache-Control": "no-store"})


class OpsApp:
    """The WSGI application, separate from the server so tests can call it with werkzeug's test client."""

    def __init__(self, *, liveness: Checks, readiness: Checks, metrics: Callable[[], bytes],
                 metrics_content_type: str, report: ReportProvider | None = None) -> None:
        self.liveness = liveness
        self.report = report
        self.readiness = readiness
        self.metrics = metrics
        self.metrics_content_type = metrics_content_type

    def respond(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response("method not allowed\n", status=405, headers={"Allow": "GET, HEAD"})
        try:
            if request.path == "/healthz":
                return _checks_response(self.liveness(), ok_key="alive")
            if request.path == "/readyz":
                return _checks_response(self.readiness(), ok_key="ready")
            if request.path == "/metrics":
                return Response(self.metrics(), content_type=self.metrics_content_type)
            if request.path == "/report" and self.report is not None:
                return self._report(request)
        except Exception as exc:  # a failing check must answer 500, not kill the server thread
            log.exception("ops_endpoint_failed", path=request.path, error_type=type(exc).__name__)
            return Response(json.dumps({"error": type(exc).__name__}) + "\n", status=500,
                            content_type="application/json")
        return Response("not found: try /healthz, /readyz or /metrics\n", status=404)

    def _report(self, request: Request) -> Response:
        try:
            page = self.report(dict(request.args)) if self.report is not None else ""
        except ValueError as exc:
            return Response(f"{exc}\n", status=400, content_type="text/plain; charset=utf-8")
        return Response(page, content_type="text/html; charset=utf-8", headers={"Cache-Control": "no-store"})

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        response: Iterable[bytes] = self.respond(Request(environ))(environ, start_response)
        return response


class OpsServer:
    """Serves an `OpsApp` on host:port in a background thread. Port 0 picks a free port (tests)."""

    def __init__(self, app: OpsApp, *, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.app = app
        # threaded=True gives daemon request threads: a probe hanging on a dead client never blocks exit
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        self.host = host
        self.port: int = self._server.socket.getsockname()[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> OpsServer:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="ops-http", daemon=True)
        self._thread.start()
        log.info("ops_http_listening", host=self.host, port=self.port)
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
