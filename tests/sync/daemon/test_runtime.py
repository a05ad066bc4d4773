from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from datetime import timedelta

import pytest
import structlog

from sync.contract import Health
from sync.daemon.readiness import CheckResult, HealthMonitor
from sync.daemon.report import RunOutcome
from sync.daemon.runtime import Daemon
from sync.daemon.scheduling import AccountJob, SweepJob
from sync.daemon.testing import WAIT, FakeAccount, Recorder, summary_for
from sync.log import configure_logging

HOUR = timedelta(hours=1)


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def json_logs():
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    yield stream
    structlog.reset_defaults()


def test_a_daemon_runs_every_account_and_exposes_what_they_did(clock, json_logs):
    recorder = Recorder()
    accounts = [FakeAccount(recorder, clock, "hubspot", "eu", script=[lambda: summary_for(
                    "hubspot", "eu", clock, pulled=40, pushed=12, api_calls=Counter({"contacts": 1, "push": 1}))]),
                FakeAccount(recorder, clock, "pipedrive", "main")]
    health = HealthMonitor({a.key: (lambda: Health(reachable=True, authorised=True)) for a in accounts}, clock=clock)
    daemon = Daemon([a.job(interval=HOUR) for a in accounts], health=health, port=0, clock=clock,
                    observers=[recorder.observe], readiness=[lambda: {"store": CheckResult(True, "migrated")}])
    daemon.start()
    try:
        recorder.wait_for(lambda: len(recorder.summaries) == 2, "one finished run of each account")
        health.refresh()  # what the health job does at start and every health_interval
        metrics = urllib.request.urlopen(daemon.url + "/metrics", timeout=5).read().decode()
        assert 'crmsync_contacts_pushed_total{account="eu",crm="hubspot"} 12.0' in metrics
        assert 'crmsync_runs_total{account="main",crm="pipedrive",outcome="ok"} 1.0' in metrics
        assert 'crmsync_api_calls_total{account="eu",category="push",crm="hubspot"} 1.0' in metrics
        assert status(daemon.url + "/healthz") == 200
        assert status(daemon.url + "/readyz") == 200
        assert set(daemon.readiness()) == {"hubspot/eu", "pipedrive/main", "store"}
    finally:
        assert daemon.shutdown()

    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    finished = [line for line in lines if line["event"] == "run_finished"]
    assert len(finished) == 2
    for line in finished:
        assert {"crm", "account", "run_id", "outcome", "pulled", "decided", "changed", "pushed", "push_failed",
                "deleted", "api_calls", "duration_s"} <= line.keys()
    assert {(line["crm"], line["account"], line["pushed"]) for line in finished} == {("hubspot", "eu", 12),
                                                                                     ("pipedrive", "main", 1)}


def test_an_unreachable_account_makes_the_daemon_not_ready(clock):
    health = HealthMonitor({"salesforce/us": lambda: Health(reachable=False, authorised=False, message="DNS")},
                           clock=clock)
    daemon = Daemon([], health=health, port=0, clock=clock)
    daemon.start()
    try:
        health.refresh()
        assert status(daemon.url + "/readyz") == 503
        assert status(daemon.url + "/healthz") == 200  # not ready is not dead: no restart for a CRM outage
    finally:
        daemon.shutdown()


def test_liveness_fails_when_the_scheduler_stops_dispatching_but_not_while_draining(clock):
    daemon = Daemon([], port=0, clock=clock, heartbeat=timedelta(milliseconds=20))
    daemon.start()
    try:
        assert daemon.liveness()["scheduler"].ok
        daemon.scheduler.stop_taking_work()  # the scheduler dies without a shutdown being asked for
        assert status(daemon.url + "/healthz") == 503
        daemon.request_stop()
        assert daemon.liveness()["scheduler"].ok  # draining on purpose is alive
    finally:
        daemon.shutdown()


def test_run_returns_0_once_the_run_in_flight_has_checkpointed(clock):
    recorder = Recorder()
    started = threading.Event()

    def cycle(stop: threading.Event):
        started.set()
        stop.wait(WAIT)
        return summary_for("fake", "main", clock, RunOutcome.INTERRUPTED, pulled=100)

    daemon = Daemon([AccountJob("fake/main", HOUR, timedelta(0), cycle, crm="fake", account="main")],
                    port=0, clock=clock, observers=[recorder.observe])
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(daemon.run(install_signals=False)))
    runner.start()
    assert started.wait(WAIT)
    daemon.request_stop()
    runner.join(WAIT)
    assert codes == [0]
    assert [s.outcome for s in recorder.summaries] == [RunOutcome.INTERRUPTED]


def test_run_gives_up_after_the_bound_and_exits_1(clock):
    release = threading.Event()
    started = threading.Event()

    def stubborn(stop: threading.Event):
        started.set()
        release.wait(WAIT)  # ignores the stop event
        return summary_for("fake", "main", clock)

    exits: list[int] = []
    daemon = Daemon([AccountJob("fake/main", HOUR, timedelta(0), stubborn)], port=0, clock=clock,
                    shutdown_timeout=timedelta(milliseconds=200), force_exit=exits.append)
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(daemon.run(install_signals=False)))
    runner.start()
    try:
        assert started.wait(WAIT)
        daemon.request_stop()
        runner.join(WAIT)
        assert exits == [1] and codes == [1]
    finally:
        release.set()


def test_the_sweep_is_scheduled_and_its_breaches_reach_the_metrics(clock):
    recorder = Recorder()

    def sweep(stop: threading.Event):
        return summary_for("hubspot", "eu", clock, breaches_open=5)

    daemon = Daemon([], sweep=SweepJob(HOUR, sweep), port=0, clock=clock, observers=[recorder.observe])
    daemon.start()
    try:
        recorder.wait_for(lambda: len(recorder.summaries) == 1, "the sweep's summary")
        assert 'crmsync_sla_breaches_open{account="eu",crm="hubspot"} 5.0' in daemon.metrics.render().decode()
    finally:
        daemon.shutdown()
