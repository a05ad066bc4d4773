"""The harness every sandbox CRM runs in: a threaded WSGI server on 127.0.0.1, optional TLS from a
throw-away local CA, a record of every request, and fault injection.

Faults are scheduled, not random, so a test says exactly what goes wrong and when: "the next 3
calls to /crm/v3/objects/contacts/search answer 429", "the token expires after 5 calls", "drop the
connection on the next batch update", "call me when the 4th batch update arrives, before (or after) it
is applied" (a `hook`: what crash tests use to SIGKILL a client process at an exact point of a push). Generic faults (slow answer, dropped connection, malformed
JSON) are applied here; faults whose body is API-specific (429, 5xx, expired token) are rendered by
the sandbox's own `ApiStyle`, so each CRM answers in its real error shape.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import ssl
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import trustme
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

FAULT_KINDS = frozenset({"rate_limit", "server_error", "slow", "drop", "malformed", "expire_token", "hook"})


@dataclass
class Fault:
    kind: str
    times: int = 1
    path: str | None = None  # prefix of the request path; None matches every path
    method: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    skip: int = 0  # matching requests let through untouched before this fault applies

    def matches(self, method: str, path: str) -> bool:
        return (self.path is None or path.startswith(self.path)) and (
            self.method is None or self.method.upper() == method.upper())


class FaultPlan:
    """What goes wrong next. Thread-safe; faults are consumed in the order they were added."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.token_calls_left: int | None = None  # calls until the current access token expires

    def add(self, kind: str, times: int = 1, *, path: str | None = None, method: str | None = None,
            skip: int = 0, **params: Any) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {sorted(FAULT_KINDS)}")
        with self._lock:
            self._faults.append(Fault(kind, times, path, method, params, skip))

    def on_request(self, callback: Callable[[Request], None], *, nth: int = 1, path: str | None = None,
                   method: str | None = None, after: bool = False) -> None:
        """Call `callback(request)` when the `nth` matching request arrives: before the app sees it (the
        request is then dropped unanswered, never applied), or `after` the app applied it and before its
        answer is sent."""
        if nth < 1:
            raise ValueError("nth counts from 1")
        self.add("hook", path=path, method=method, skip=nth - 1, callback=callback,
                 when="after" if after else "before")

    def expire_token_after(self, calls: int) -> None:
        with self._lock:
            self.token_calls_left = calls

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.token_calls_left = None

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def count_authenticated_call(self) -> bool:
        """Count one authenticated call; True when the token has now expired."""
        with self._lock:
            if self.token_calls_left is None:
                return False
            if self.token_calls_left <= 0:
                return True
            self.token_calls_left -= 1
            return False


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    status: int = 0

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class ApiStyle(Protocol):
    """How one CRM renders the faults whose bodies are API-specific."""

    def rate_limited(self, request: Request, fault: Fault) -> Response: ...

    def server_error(self, request: Request, fault: Fault) -> Response: ...

    def auth_expired(self, request: Request) -> Response: ...


class RequestLog:
    def __init__(self) -> None:
        self._items: list[RecordedRequest] = []
        self._lock = threading.Lock()

    def append(self, item: RecordedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def all(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def count(self, method: str | None = None, path_prefix: str = "") -> int:
        return sum(1 for request in self.all()
                   if request.path.startswith(path_prefix) and (method is None or request.method == method.upper()))


class FaultInjector:
    """WSGI middleware: records each request, then applies the next matching fault, if any."""

    def __init__(self, app: Callable[..., Iterable[bytes]], style: ApiStyle, faults: FaultPlan,
                 log: RequestLog, *, is_authenticated_call: Callable[[Request], bool]) -> None:
        self.app = app
        self.style = style
        self.faults = faults
        self.log = log
        self.is_authenticated_call = is_authenticated_call

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        body = request.get_data(cache=True)
        # the app below reads the body again from a fresh Request: hand it a rewound copy of what was read
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        status_box: list[int] = [0]

        def recording_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status_box[0] = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        try:
            response = self._fault_response(request, environ)
            if response is None:
                return self.app(environ, recording_start)
            if response == "drop":
                return []
            if isinstance(response, Fault):  # a hook after the app: apply the request fully, then call it
                answer = list(self.app(environ, recording_start))
                response.params["callback"](request)
                return answer
            return response(environ, recording_start)
        finally:
            self.log.append(RecordedRequest(
                method=request.method, path=request.path, query=request.query_string.decode(),
                headers=dict(request.headers), body=body, status=status_box[0]))

    def _fault_response(self, request: Request, environ: dict[str, Any]) -> Any:
        if self.is_authenticated_call(request) and self.faults.count_authenticated_call():
            return self.style.auth_expired(request)
        fault = self.faults.take(request.method, request.path)
        if fault is None:
            return None
        if fault.kind == "slow":
            time.sleep(float(fault.params.get("seconds", 1.0)))
            return None
        if fault.kind == "drop":
            sock = environ.get("werkzeug.socket")
            if isinstance(sock, socket.socket):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            return "drop"
        if fault.kind == "malformed":
            return Response(fault.params.get("body", '{"results": [{"id": '), status=int(fault.params.get("status", 200)),
                            content_type="application/json")
        if fault.kind == "rate_limit":
            return self.style.rate_limited(request, fault)
        if fault.kind == "server_error":
            return self.style.server_error(request, fault)
        if fault.kind == "expire_token":
            return self.style.auth_expired(request)
        if fault.kind == "hook":
            if fault.params.get("when") == "after":
                return fault
            fault.params["callback"](request)
            return "drop"
        return None


class LocalCA:
    """A throw-away certificate authority and a server certificate for 127.0.0.1 / localhost.
    Clients trust it through `ca_path` (requests' `verify=`), never by disabling verification.

    The CA file must be a real file (requests reads `verify=` from a path), so it lives in a temporary
    directory that `close()` removes: the owner closes it when its server stops. A CA never closed (a
    process that dies before its sandbox stops, a test that forgets) is removed when it is garbage
    collected or at interpreter exit, so runs do not leave `crmsync-ca-*` directories behind. A
    `directory` given by the caller is the caller's: it is never removed."""

    def __init__(self, directory: Path | None = None) -> None:
        self._ca = trustme.CA()
        self._cert = self._ca.issue_cert("127.0.0.1", "localhost", "::1")
        self._remove_dir: Callable[[], object] | None = None
        if directory is None:
            self._dir = Path(tempfile.mkdtemp(prefix="crmsync-ca-"))
            self._remove_dir = weakref.finalize(self, shutil.rmtree, self._dir, ignore_errors=True)
        else:
            self._dir = Path(directory)
            self._dir.mkdir(parents=True, exist_ok=True)
        self.ca_path = self._dir / "crmsync-sandbox-ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_path))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._cert.configure_cert(context)
        return context

    def close(self) -> None:
        """Remove the temporary directory holding `ca_path` (idempotent). Servers already configured keep
        their certificate; only new clients can no longer load the CA file."""
        if self._remove_dir is not None:
            self._remove_dir()


class SandboxServer:
    """Runs one sandbox WSGI app on 127.0.0.1 in a background thread. Port 0 picks a free port."""

    def __init__(self, app: Callable[..., Iterable[bytes]], *, style: ApiStyle,
                 is_authenticated_call: Callable[[Request], bool], host: str = "127.0.0.1", port: int = 0,
                 tls: LocalCA | None = None) -> None:
        self.faults = FaultPlan()
        self.requests = RequestLog()
        self.tls = tls
        wrapped = FaultInjector(app, style, self.faults, self.requests, is_authenticated_call=is_authenticated_call)
        self._server: BaseWSGIServer = make_server(
            host, port, wrapped, threaded=True, ssl_context=tls.server_context() if tls else None)
        self._thread: threading.Thread | None = None
        scheme = "https" if tls else "http"
        self.host = host
        self.port = self._server.socket.getsockname()[1]
        self.base_url = f"{scheme}://{host}:{self.port}"

    def start(self) -> SandboxServer:
        # serve_forever notices shutdown() only at its next poll (0.5 s by default): each stopped sandbox cost
        # the daemon's exit (and every test that stops one) up to half a second
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"sandbox:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), status=status, headers=headers,
                    content_type="application/json")
