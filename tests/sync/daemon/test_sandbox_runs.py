"""The engine over each CRM's sandbox, as the daemon runs it (field setup, then cycles), counted by the
sandboxes' request logs: a push after a pull of the same run reads no native value again (the pull's
`crm_values` go with it), an outbox replay still reads them, and a run summary's API calls are every request
the connector sent for it, setup and health check included."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from sync.clock import FrozenClock
from sync.daemon.report import RunOutcome
from sync.testing import SimulatedCrash
from sync.testing.sandbox_runs import crash_after_first_page, sandbox_run

CRMS = ("hubspot", "salesforce", "pipedrive")
CONTACTS = 30


@pytest.mark.parametrize("crm", CRMS)
def test_a_push_after_a_pull_of_the_same_run_reads_no_native_value_and_a_replay_does(crm, tmp_path: Path,
                                                                                     clock: FrozenClock):
    run = sandbox_run(crm, CONTACTS, db=f"sqlite:///{tmp_path / 'pulled.db'}", clock=clock)
    try:
        summary = run.cycle()
        assert summary.outcome is RunOutcome.OK and summary.pushed == CONTACTS
        assert run.native_reads() == 0  # every value was known from the pull a moment before
    finally:
        run.close()

    db = f"sqlite:///{tmp_path / 'replayed.db'}"
    run = sandbox_run(crm, CONTACTS, db=db, clock=clock, fault=crash_after_first_page())
    try:
        with pytest.raises(SimulatedCrash):
            run.cycle()
        run.restart_store(db, clock)  # the outbox holds the page's writes; the CRM's values are unknown
        before = run.native_reads()
        summary = run.cycle()
        assert summary.outcome is RunOutcome.OK and summary.pushed >= 1
        assert run.native_reads() - before >= 1  # read before deciding, never assumed
    finally:
        run.close()


@pytest.mark.parametrize("crm", CRMS)
def test_a_run_summary_counts_every_call_setup_and_health_included(crm, tmp_path: Path, clock: FrozenClock):
    run = sandbox_run(crm, CONTACTS, db=f"sqlite:///{tmp_path / 'state.db'}", clock=clock)
    try:
        first = run.cycle()
        assert first.api_calls["setup"] >= 1 and first.api_calls["health"] == 1
        assert sum(first.api_calls.values()) == run.requests()  # every request the sandbox saw
        sent = run.requests()
        clock.advance(timedelta(minutes=20))  # the health check is due again
        second = run.cycle()
        assert second.api_calls["setup"] == 0 and second.api_calls["health"] == 1
        assert sum(second.api_calls.values()) == run.requests() - sent
        (stored, *_) = run.store.runs()
        assert sum(stored.api_calls.values()) == run.requests() - sent  # as `status` and the metrics see it
    finally:
        run.close()


def test_a_setup_warning_of_a_real_connector_is_logged_once_and_kept_for_status(tmp_path: Path,
                                                                                clock: FrozenClock):
    labels = {"hot": "Very hot", "warm": "Warm lead", "cold": "Cold lead"}  # the account has no "Very hot"
    run = sandbox_run("pipedrive", 5, db=f"sqlite:///{tmp_path / 'state.db'}", clock=clock,
                      settings={"maturity_labels": labels})
    try:
        with capture_logs() as logs:
            first, second = run.cycle(), run.cycle()
        warned = [line for line in logs if line["event"] == "setup_warning" and line["log_level"] == "warning"]
        assert [line["what"] for line in warned] == ["person label 'Very hot' for hot maturity does not exist"]
        assert warned[0]["crm"] == "pipedrive" and "maturity_labels" in warned[0]["enable"]
        assert first.setup_warnings == second.setup_warnings == 1  # said once, kept while it holds
        ((ref, warning, _since),) = run.store.record_problems.warnings()
        assert ref.crm == "pipedrive" and "labels" in warning.lost
    finally:
        run.close()
