"""The operations endpoints: `/healthz`, `/readyz`, `/metrics`, on a small threaded HTTP server.

The server is waitress: its event loop reads each request in full before a fixed pool of worker threads
runs it, so a client that connects and never finishes its request (or never reads the answer) costs a
socket, not a thread; connections idle past `idle_timeout` are closed, and past `max_connections` open
ones the server stops accepting until some close. werkzeug's development server, which the sandboxes
use, starts one thread per connection with no read timeout: 500 half-open requests held 510 threads.
Each probe's answer is computed from state the daemon already holds: no endpoint calls a CRM or the
database, so a probe never waits on a slow API or a locked table and never spends an API budget.

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
from waitress.server import create_server
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
    """Serves an `OpsApp` on host:port in a background thread. Port 0 picks a free port (tests).

    `threads` answer requests (probes and scrapes are quick; the report renders one at a time anyway);
    `max_connections` bounds the sockets held open, `idle_timeout` how long one may stay silent."""

    def __init__(self, app: OpsApp, *, host: str = "127.0.0.1", port: int = 8080, threads: int = 4,
                 max_connections: int = 256, idle_timeout: float = 10.0) -> None:
        self.app = app
        self._server: Any = create_server(
            app, host=host, port=port, threads=threads, connection_limit=max_connections,
            channel_timeout=max(1, round(idle_timeout)), cleanup_interval=max(1, round(idle_timeout / 4)),
            asyncore_loop_timeout=0.2, asyncore_use_poll=True,  # poll: no FD_SETSIZE ceiling on sockets
            ident="crmsync", expose_tracebacks=False)
        self.host = host
        self.port: int = int(self._server.effective_port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> OpsServer:
        self._thread = threading.Thread(target=self._server.run, name="ops-http", daemon=True)
        self._thread.start()
        log.info("ops_http_listening", host=self.host, port=self.port)
        return self

    def _close_all(self) -> None:
        """In the event loop's thread: close every socket it watches, the listener last, so the loop ends."""
        for channel in list(self._server._map.values()):
            if channel is not self._server and channel is not self._server.trigger:
                channel.handle_close()
        self._server.close()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.trigger.pull_trigger(self._close_all)
            self._thread.join(timeout=5)
            self._thread = None
        else:
            self._server.close()
        self._server.task_dispatcher.shutdown(timeout=2)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
