from __future__ import annotations

from collections import Counter
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from sync.daemon.metrics import Metrics
from sync.daemon.report import RunOutcome, RunSummary


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = metrics.render().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def run(clock, **changes) -> RunSummary:
    summary = RunSummary(crm="hubspot", account="eu", run_id="r1", started_at=clock.now(),
                         finished_at=clock.now() + timedelta(seconds=42))
    for name, value in changes.items():
        setattr(summary, name, value)
    return summary


EU = frozenset({("crm", "hubspot"), ("account", "eu")})


def test_a_recorded_run_shows_in_every_series(clock):
    metrics = Metrics()
    metrics.record_run(run(clock, pulled=120, pushed=30, push_failed=2, rate_limited=3, breaches_open=4,
                           cursor_lag_seconds=90.0, errors=["a", "b"],
                           api_calls=Counter({"contacts": 2, "push": 1})))
    metrics.record_run(run(clock, outcome=RunOutcome.PARKED, pulled=5, breaches_open=1,
                           api_calls=Counter({"contacts": 1})))
    got = samples(metrics)

    assert got[("crmsync_runs_total", EU | {("outcome", "ok")})] == 1
    assert got[("crmsync_runs_total", EU | {("outcome", "parked")})] == 1
    assert got[("crmsync_contacts_pulled_total", EU)] == 125
    assert got[("crmsync_contacts_pushed_total", EU)] == 30
    assert got[("crmsync_push_failures_total", EU)] == 2
    assert got[("crmsync_api_calls_total", EU | {("category", "contacts")})] == 3
    assert got[("crmsync_api_calls_total", EU | {("category", "push")})] == 1
    assert got[("crmsync_rate_limited_total", EU)] == 3
    assert got[("crmsync_errors_total", EU)] == 2
    assert got[("crmsync_sla_breaches_open", EU)] == 1  # a gauge: the latest run's count
    assert got[("crmsync_cursor_lag_seconds", EU)] == 90.0  # the second run did not report a lag: kept
    assert got[("crmsync_last_run_timestamp_seconds", EU)] == (clock.now() + timedelta(seconds=42)).timestamp()
    assert got[("crmsync_run_duration_seconds_count", EU)] == 2
    assert got[("crmsync_run_duration_seconds_sum", EU)] == 84


def test_accounts_of_one_crm_are_separate_series(clock):
    metrics = Metrics()
    metrics.record_run(run(clock, pulled=1))
    us = run(clock, pulled=7)
    us.account = "us"
    metrics.record_run(us)
    got = samples(metrics)
    assert got[("crmsync_contacts_pulled_total", EU)] == 1
    assert got[("crmsync_contacts_pulled_total", frozenset({("crm", "hubspot"), ("account", "us")}))] == 7


def test_skips_and_rules_reloads_are_counted():
    metrics = Metrics()
    metrics.record_skip("hubspot/eu", "still_running")
    metrics.record_rules(applied=True)
    metrics.record_rules(applied=False)
    got = samples(metrics)
    assert got[("crmsync_runs_skipped_total", frozenset({("job", "hubspot/eu"), ("reason", "still_running")}))] == 1
    assert got[("crmsync_rules_reloads_total", frozenset({("result", "rejected")}))] == 1
    assert got[("crmsync_rules_loaded", frozenset())] == 0


def test_each_daemon_has_its_own_registry(clock):
    first, second = Metrics(), Metrics()  # the same names twice: a global registry would refuse
    first.record_run(run(clock, pulled=3))
    assert samples(second).get(("crmsync_contacts_pulled_total", EU)) is None
    assert b"python_gc" not in first.render()  # crmsync's series and the process ones, nothing global


def test_leases_held_replicas_alive_and_lease_losses_are_exposed():
    metrics = Metrics()
    metrics.record_leases(held=3, alive=2)
    metrics.record_lease_loss("hubspot/eu")
    metrics.record_lease_loss("hubspot/eu")
    got = samples(metrics)
    assert got[("crmsync_leases_held", frozenset())] == 3
    assert got[("crmsync_replicas_alive", frozenset())] == 2
    assert got[("crmsync_lease_losses_total", frozenset({("crm", "hubspot"), ("account", "eu")}))] == 2
