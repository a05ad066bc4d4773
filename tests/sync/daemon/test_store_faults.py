"""The daemon when its database misbehaves: a table locked by another session fails the run within the lock
timeout with a classified error (not a hang) and a SIGTERM then stops the daemon with exit 0; `/readyz`
answers from a background check, so a lost database turns it 503 within one check period, and a probe
never waits on the database itself."""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import urllib.error
import urllib.request
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from sync.configfile import parse_yaml
from sync.contract import Health
from sync.daemon import service as service_module
from sync.daemon.readiness import BackgroundCheck, CheckResult, HealthMonitor
from sync.daemon.reload import RulesWatcher
from sync.daemon.report import RunOutcome
from sync.daemon.service import build_service
from sync.daemon.testing import Recorder, summary_for
from sync.settings import validate_settings
from sync.testing import POSTGRES_URL_ENV, load_rules, postgres_schema

SETTINGS = """\
state:
  url: {url}
  lock_timeout: 0.3
  statement_timeout: 5s
  connect_timeout: 2s
sla_sweep: {{interval: 1h}}
full_rescore: {{interval: null}}
replicas: {{lease: 3s}}  # on PostgreSQL the daemon is a replica: it claims the account after a tick, lease / 3
accounts:
  - {{name: eu, crm: fake, sandbox: true, sandbox_contacts: 5, interval: 1h, jitter: 0s}}
"""


def _service(url: str, tmp_path: Path, clock, recorder: Recorder, **options):
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: standin-a\nthreshold: 70\n")
    settings = validate_settings(parse_yaml(SETTINGS.format(url=url), str(tmp_path / "crmsync.yaml")), {})
    watcher = RulesWatcher(rules, load_rules, clock)
    watcher.load()
    return build_service(settings, watcher=watcher, clock=clock, port=0, observers=[recorder.observe], **options)


def test_a_locked_table_fails_the_run_with_a_classified_error_and_sigterm_still_exits_0(store_url, tmp_path, clock):
    recorder = Recorder()
    service = _service(store_url, tmp_path, clock, recorder)
    with service:
        if service.store.engine.dialect.name == "sqlite":
            holder = sqlite3.connect(service.store.engine.url.database, isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
            release = holder.close
        else:
            connection = service.store.engine.connect()
            connection.execute(text("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE"))
            release = connection.close
        codes: list[int] = []
        runner = threading.Thread(target=lambda: codes.append(service.daemon.run(install_signals=False)))
        runner.start()
        try:
            recorder.wait_for(lambda: any(s.account == "eu" for s in recorder.summaries), "the first cycle's end")
            summary = next(s for s in recorder.summaries if s.account == "eu")
            assert summary.outcome is RunOutcome.FAILED
            assert summary.store_problem == "timed out"
            assert any("timed out" in error and "lock" in error for error in summary.errors), summary.errors
        finally:
            service.daemon.request_stop()  # what the SIGTERM handler does
            runner.join(timeout=30)
            release()
    assert codes == [0]


class Proxy:
    """A TCP proxy in front of PostgreSQL that can be frozen (it stops forwarding, keeps its sockets: a
    black-holed network) or closed (every socket shut, the port refusing: a database gone)."""

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.frozen = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                while self.frozen.is_set():
                    if self.listener.fileno() == -1:
                        return
                    threading.Event().wait(0.05)
                sink.sendall(data)
        except OSError:
            return

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def _readyz(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.postgres
@pytest.mark.parametrize("fault", ["gone", "black-holed"])
def test_readyz_turns_503_within_one_check_period_when_postgres_is_lost(fault, tmp_path, clock, monkeypatch):
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        pytest.fail(f"{POSTGRES_URL_ENV} is not set: this test needs PostgreSQL")
    monkeypatch.setattr(service_module, "STORE_CHECK_INTERVAL", timedelta(milliseconds=200))
    monkeypatch.setattr(service_module, "STORE_CHECK_BOUND", timedelta(seconds=1))
    from sqlalchemy.engine import make_url

    with postgres_schema(base) as direct:
        proxy = Proxy(make_url(direct).port or 5432)
        via_proxy = make_url(direct).set(port=proxy.port).render_as_string(hide_password=False)
        recorder = Recorder()
        with _service(via_proxy, tmp_path, clock, recorder) as service:
            service.daemon.start()
            try:
                recorder.wait_for(lambda: bool(recorder.summaries), "the first cycle")
                assert _readyz(service.daemon.url)[0] == 200
                if fault == "gone":
                    proxy.close()
                else:
                    proxy.frozen.set()
                status, body = _wait_for_status(service.daemon.url, 503)
                assert '"state_store"' in body
                expected = "is not reachable" if fault == "gone" else "not answering"
                assert expected in body, body
            finally:
                proxy.close()
                service.daemon.shutdown(timedelta(seconds=10))


def _wait_for_status(url: str, wanted: int) -> tuple[int, str]:
    """Probe like an orchestrator (a few times a second) until `wanted`; the probes themselves must answer."""
    done = threading.Event()
    last: list[tuple[int, str]] = []
    for _ in range(100):  # at most ~10 s: ten check periods of the monkeypatched bound
        last.append(_readyz(url))
        if last[-1][0] == wanted:
            return last[-1]
        done.wait(0.1)
    raise AssertionError(f"/readyz stayed {last[-1]}")


def test_a_background_check_that_hangs_reads_as_not_answering_and_probes_never_wait(clock):
    release = threading.Event()
    calls: list[int] = []

    def check() -> dict[str, CheckResult]:
        calls.append(1)
        if len(calls) > 1:
            release.wait(30)
        return {"db": CheckResult(True, "fine")}

    background = BackgroundCheck(check, names=["db"], interval=timedelta(0), bound=timedelta(0), clock=clock)
    assert background()["db"].message == "not checked yet"
    background.run_once()
    assert background()["db"].ok
    hung = threading.Thread(target=background.run_once, daemon=True)
    hung.start()
    try:
        Recorder().wait_for(lambda: len(calls) == 2, "the second check to start", timeout=5)
        threading.Event().wait(0.01)  # past the zero bound
        answer = background()  # returns at once although the check is stuck
        assert not answer["db"].ok and "not answering" in answer["db"].message
    finally:
        release.set()
        hung.join(5)
    assert background()["db"].ok


def test_a_crashing_background_check_is_a_failing_one(clock):
    def check() -> dict[str, CheckResult]:
        raise RuntimeError("boom")

    background = BackgroundCheck(check, names=["db"], interval=timedelta(seconds=1), bound=timedelta(seconds=5),
                                 clock=clock)
    background.run_once()
    assert background()["db"] == CheckResult(False, "check crashed (RuntimeError)", checked_at=clock.now())


def test_an_account_busy_at_every_probe_is_checked_by_its_own_runs(clock):
    monitor = HealthMonitor({"hubspot/eu": lambda: Health(False, False, "down")}, clock=clock)
    monitor.refresh(skip={"hubspot/eu"})  # mid-run at the probe's time
    assert monitor()["hubspot/eu"].message == "not checked yet"
    monitor.observe_run(summary_for("hubspot", "eu", clock))  # a run that asked nothing of the CRM proves nothing
    assert not monitor()["hubspot/eu"].ok
    monitor.observe_run(summary_for("hubspot", "eu", clock, api_calls=Counter(contacts=2)))
    assert monitor()["hubspot/eu"].ok and "last run" in monitor()["hubspot/eu"].message
    monitor.refresh()
    assert monitor()["hubspot/eu"].message == "down"
    monitor.observe_run(summary_for("hubspot", "eu", clock, RunOutcome.FAILED, api_calls=Counter(contacts=1)))
    assert monitor()["hubspot/eu"].message == "down"  # a failed run is no evidence of health
