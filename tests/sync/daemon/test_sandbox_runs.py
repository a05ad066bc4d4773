"""The engine over each CRM's sandbox, as the daemon runs it (field setup, then cycles), counted by the
sandboxes' request logs: a push after a pull of the same run reads no native value again (the pull's
`crm_values` go with it), an outbox replay still reads them, and a run summary's API calls are every request
the connector sent for it, setup and health check included."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from sync.clock import FrozenClock
from sync.daemon.report import RunOutcome
from sync.state import StateStore
from sync.testing import SimulatedCrash
from sync.testing.sandbox_runs import sandbox_run

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

    crashed: list[str] = []

    def crash_after_the_first_page(point: str) -> None:
        if point == "write_page:after_commit" and not crashed:
            crashed.append(point)
            raise SimulatedCrash(point)

    db = f"sqlite:///{tmp_path / 'replayed.db'}"
    run = sandbox_run(crm, CONTACTS, db=db, clock=clock, fault=crash_after_the_first_page)
    try:
        with pytest.raises(SimulatedCrash):
            run.cycle()
        run.store.close()  # the process restarts: the outbox holds the page's writes, the values are unknown
        run.store = run.runner.store = StateStore(db, clock=clock)
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
