"""The daemon as `crmsync run` assembles it from settings, over fake sandbox accounts and the stand-in rules:
every account synced on its schedule, sweep and rescore jobs over all of them, readiness from the store, the
rules and each CRM, and every log line of a run (ours or a library's) naming its CRM, account, run and counts."""

from __future__ import annotations

import io
import json
import logging
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import structlog

from sync.configfile import parse_yaml
from sync.daemon.reload import RulesWatcher
from sync.daemon.report import RunOutcome
from sync.daemon.service import Service, rescore_unless_recent, build_service
from sync.daemon.testing import Recorder
from sync.log import configure_logging
from sync.settings import Settings, validate_settings
from sync.state import StateStore
from sync.testing import FakeConnector, load_rules

SETTINGS = """\
state:
  url: sqlite:///{db}
sla_sweep:
  interval: 1h
full_rescore:
  interval: 1d
accounts:
  - name: eu
    crm: fake
    sandbox: true
    sandbox_contacts: 12
    interval: 1h
    jitter: 0s
  - name: us
    crm: fake
    sandbox: true
    sandbox_contacts: 5
    interval: 1h
    jitter: 0s
  - name: off
    crm: fake
    sandbox: true
    enabled: false
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return validate_settings(parse_yaml(SETTINGS.format(db=tmp_path / "state.db"), str(tmp_path / "crmsync.yaml")),
                             {})


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text("version: standin-a\nthreshold: 70\n")
    return path


@pytest.fixture
def logs():
    stream = io.StringIO()
    configure_logging(json=True, stream=stream, level="INFO")
    yield stream
    structlog.reset_defaults()


def start(settings: Settings, rules_path: Path, clock, recorder: Recorder) -> Service:
    watcher = RulesWatcher(rules_path, load_rules, clock)
    watcher.load()
    service = build_service(settings, watcher=watcher, clock=clock, port=0, observers=[recorder.observe])
    service.daemon.start()
    return service


def runs_of(service: Service, kind: str) -> list:
    """The service's recorded runs of one kind, newest first (recorded before its observers hear of them)."""
    return [r for r in service.store.runs(limit=100) if r.kind == kind]


def test_every_enabled_account_is_synced_and_the_time_driven_jobs_are_scheduled(settings, rules_path, clock, logs):
    recorder = Recorder()
    with start(settings, rules_path, clock, recorder) as service:
        try:
            # the SLA sweep also runs at start, before or after the first cycles: wait for the cycles by kind
            recorder.wait_for(lambda: len(runs_of(service, "cycle")) >= 2, "the first cycle of both accounts")
            assert sorted(r.key for r in service.runners) == ["fake/eu", "fake/us"]
            first = {r.account: r for r in reversed(runs_of(service, "cycle"))}
            assert first["eu"].outcome is RunOutcome.OK and first["eu"].counts["pushed"] == 12
            assert first["us"].outcome is RunOutcome.OK and first["us"].counts["pushed"] == 5
            sandboxes = {o.account.name: o.sandbox for o in service.opened}
            assert len(sandboxes["eu"].state()) == 12 and len(sandboxes["us"].state()) == 5
            assert {o.sandbox.requests["ensure_fields"] for o in service.opened} == {1}  # fields set up first
            scheduler = service.daemon.scheduler
            rescore_at = scheduler.next_run_time("full_rescore")
            assert scheduler.next_run_time("sla_sweep") is not None and rescore_at is not None
            assert rescore_at - scheduler.next_run_time("sla_sweep") > timedelta(hours=12)  # not at start

            service.daemon.health.refresh()  # what the health job does every minute
            ready = service.daemon.readiness()
            assert {k: v.ok for k, v in ready.items()} == {"rules": True, "fake/eu": True, "fake/us": True,
                                                           "state_store": True}
        finally:
            assert service.daemon.shutdown()
    assert all(o.connector.closed for o in service.opened)
    assert not any(o.connector.health().reachable for o in service.opened)  # sandboxes stopped


def test_the_sweep_and_the_rescore_visit_every_account(settings, rules_path, clock, logs):
    recorder = Recorder()
    with start(settings, rules_path, clock, recorder) as service:
        try:
            recorder.wait_for(lambda: len(runs_of(service, "cycle")) >= 2, "the first cycle of both accounts")
            for key in ("sla_sweep", "full_rescore"):
                service.daemon.scheduler.run_now(key)
            recorder.wait_for(lambda: len(runs_of(service, "rescore")) >= 2 and len(runs_of(service, "sweep")) >= 2,
                              "a sweep and a rescore of both accounts")
            again = rescore_unless_recent(settings.full_rescore.interval, clock)
            assert [again(runner, threading.Event()) for runner in service.runners] == [None, None]  # done already
        finally:
            assert service.daemon.shutdown()
    with StateStore(settings.state.url) as store:
        kinds = [(r.account, r.kind) for r in store.runs(limit=100) if r.kind != "cycle"]
    # the sweep ran at start and may run again on run_now (once, if the start one had not fired yet); the
    # rescore only on run_now (it is not a start job), and not again within its interval (whichever replica's
    # timer fires next)
    assert sorted(set(kinds)) == [("eu", "rescore"), ("eu", "sweep"), ("us", "rescore"), ("us", "sweep")]
    assert sorted(k for k in kinds if k[1] == "rescore") == [("eu", "rescore"), ("us", "rescore")]


def test_every_log_line_of_a_run_even_a_librarys_carries_crm_account_run_id_and_counts(
        settings, rules_path, clock, logs, monkeypatch):
    original = FakeConnector.push

    def push_with_an_sdk_warning(self, updates):
        logging.getLogger("urllib3.connectionpool").warning("Connection pool is full, discarding connection")
        return original(self, updates)

    monkeypatch.setattr(FakeConnector, "push", push_with_an_sdk_warning)
    recorder = Recorder()
    with start(settings, rules_path, clock, recorder) as service:
        try:
            recorder.wait_for(lambda: len(runs_of(service, "cycle")) >= 2, "the first cycle of both accounts")
        finally:
            assert service.daemon.shutdown()
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    run_ids = {s.run_id for s in recorder.summaries}
    of_runs = [line for line in lines if line.get("run_id") in run_ids]
    assert {"run_started", "page_committed", "push_batch_recorded", "run_finished"} <= {x["event"] for x in of_runs}
    sdk = [line for line in lines if line.get("logger") == "urllib3.connectionpool"]
    assert sdk and all(line["run_id"] in run_ids for line in sdk)
    for line in of_runs:
        assert line["crm"] == "fake" and line["account"] in ("eu", "us")
        assert {"pulled", "decided", "changed", "pushed", "push_failed", "deleted"} <= line.keys(), line
    assert any(line["event"] == "fields_ready" for line in lines)
