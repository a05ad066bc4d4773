from __future__ import annotations

import json
import urllib.request

import pytest
from werkzeug.test import Client

from sync.contract import Health
from sync.daemon.http import OpsApp, OpsServer
from sync.daemon.metrics import CONTENT_TYPE, Metrics
from sync.daemon.readiness import CheckResult, HealthMonitor
from sync.errors import AuthFailed, TransientError


def app(live: dict[str, CheckResult] | None = None, ready: dict[str, CheckResult] | None = None,
        metrics: Metrics | None = None) -> OpsApp:
    metrics = metrics or Metrics()
    return OpsApp(liveness=lambda: live or {"scheduler": CheckResult(True, "running")},
                  readiness=lambda: ready or {}, metrics=metrics.render, metrics_content_type=CONTENT_TYPE)


def test_healthz_is_200_while_alive_and_503_when_the_scheduler_died():
    response = Client(app()).get("/healthz")
    assert response.status_code == 200 and response.json["alive"] is True
    response = Client(app(live={"scheduler": CheckResult(False, "stopped dispatching")})).get("/healthz")
    assert response.status_code == 503
    assert response.json["failing"] == ["scheduler"]


def test_readyz_names_every_check_that_is_not_ready():
    ready = {"rules": CheckResult(True, "rules version v1 in force"),
             "hubspot/eu": CheckResult(False, "not authorised: token revoked"),
             "pipedrive/main": CheckResult(False, "not checked yet")}
    response = Client(app(ready=ready)).get("/readyz")
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/json"
    assert response.json["ready"] is False
    assert response.json["not_ready"] == ["hubspot/eu", "pipedrive/main"]
    assert response.json["checks"]["hubspot/eu"]["message"] == "not authorised: token revoked"
    assert response.json["checks"]["rules"]["ok"] is True


def test_readyz_is_200_when_everything_is_ready():
    response = Client(app(ready={"rules": CheckResult(True)})).get("/readyz")
    assert response.status_code == 200 and response.json == {"ready": True, "checks": {"rules": {"ok": True, "message": ""}}}


def test_metrics_are_served_in_the_prometheus_text_format():
    metrics = Metrics()
    metrics.record_skip("hubspot/eu", "parked")
    response = Client(app(metrics=metrics)).get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert 'crmsync_runs_skipped_total{job="hubspot/eu",reason="parked"} 1.0' in response.text


def test_other_paths_and_methods_are_refused():
    client = Client(app())
    assert client.get("/").status_code == 404
    assert client.post("/healthz").status_code == 405
    assert client.head("/healthz").status_code == 200


def test_a_failing_check_answers_500_and_the_server_goes_on():
    def broken() -> dict[str, CheckResult]:
        raise RuntimeError("bug")

    ops = OpsApp(liveness=broken, readiness=broken, metrics=lambda: b"", metrics_content_type="text/plain")
    assert Client(ops).get("/readyz").status_code == 500
    assert Client(ops).get("/metrics").status_code == 200


def test_the_server_answers_on_a_real_socket():
    server = OpsServer(app(ready={"rules": CheckResult(True)}), host="127.0.0.1", port=0).start()
    try:
        with urllib.request.urlopen(server.url + "/readyz", timeout=5) as response:
            assert response.status == 200 and json.loads(response.read())["ready"] is True
        assert server.alive
    finally:
        server.stop()
    assert not server.alive


def test_health_monitor_keeps_the_last_result_of_each_probe(clock):
    answers = {"hubspot/eu": Health(reachable=True, authorised=True),
               "salesforce/us": Health(reachable=True, authorised=False, message="INVALID_SESSION_ID")}

    def probe(key: str):
        def call() -> Health:
            if key == "pipedrive/main":
                raise TransientError("connection reset", crm="pipedrive")
            if key == "hubspot/revoked":
                raise AuthFailed("the private app token was revoked", crm="hubspot", detail="Bearer pat-secret")
            return answers[key]
        return call

    keys = ["hubspot/eu", "salesforce/us", "pipedrive/main", "hubspot/revoked"]
    monitor = HealthMonitor({key: probe(key) for key in keys}, clock=clock)
    assert {key: result.message for key, result in monitor().items()} == dict.fromkeys(keys, "not checked yet")

    monitor.refresh()
    results = monitor()
    assert results["hubspot/eu"].ok and results["hubspot/eu"].checked_at == clock.now()
    assert not results["salesforce/us"].ok and results["salesforce/us"].message == "INVALID_SESSION_ID"
    assert results["pipedrive/main"].message == "not reachable: connection reset"
    assert results["hubspot/revoked"].message == "not authorised: the private app token was revoked"
    assert "pat-secret" not in json.dumps({k: r.to_json() for k, r in results.items()})


def test_an_account_whose_sync_is_in_flight_is_not_probed(clock):
    calls: list[str] = []
    monitor = HealthMonitor({"a": lambda: calls.append("a") or Health(reachable=True, authorised=True),
                             "b": lambda: calls.append("b") or Health(reachable=True, authorised=True)}, clock=clock)
    assert set(monitor.refresh(skip={"a"})) == {"b"}
    assert calls == ["b"] and monitor()["a"].message == "not checked yet"


@pytest.mark.parametrize("health, message", [
    (Health(reachable=False, authorised=False), "CRM not reachable"),
    (Health(reachable=True, authorised=False), "CRM rejected the credentials"),
])
def test_an_unhealthy_account_without_a_message_still_says_why(health, message, clock):
    result = HealthMonitor({"x": lambda: health}, clock=clock).refresh()["x"]
    assert not result.ok and result.message == message


def _half_open(port: int, count: int) -> list:
    """Connections that send part of a request line and then nothing: what a slowloris client holds."""
    import socket

    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # no blank line: the request never ends
        sockets.append(sock)
    return sockets


def test_half_open_connections_hold_no_thread_and_healthz_still_answers():
    import threading

    server = OpsServer(app(), port=0, threads=2, max_connections=400, idle_timeout=30).start()
    before = threading.active_count()
    sockets = _half_open(server.port, 300)
    try:
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=5) as response:
            assert response.status == 200
        assert threading.active_count() <= before + 2  # the worker pool, however many sockets are open
    finally:
        for sock in sockets:
            sock.close()
        server.stop()


def test_idle_connections_are_closed_after_the_idle_timeout():
    server = OpsServer(app(), port=0, idle_timeout=1).start()
    try:
        (idle,) = _half_open(server.port, 1)
        idle.settimeout(15)
        assert idle.recv(1024) == b""  # closed by the server, not by our timeout (which would raise)
        idle.close()
    finally:
        server.stop()


def test_connections_past_the_cap_wait_until_idle_ones_are_closed():
    server = OpsServer(app(), port=0, max_connections=10, idle_timeout=1).start()
    sockets = _half_open(server.port, 10)
    try:
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=15) as response:  # queued, then served
            assert response.status == 200
        assert all(sock.recv(1024) == b"" for sock in sockets)  # the idle ones were closed to make room
    finally:
        for sock in sockets:
            sock.close()
        server.stop()
