from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
import structlog.testing

from sync.daemon.report import RunOutcome
from sync.errors import AuthFailed, RateLimited
from sync.state import AccountRef
from sync.testing import SimulatedCrash, StandInRules

REF = AccountRef("fake", "main")


def test_a_first_cycle_decides_every_contact_and_pushes_only_fields_that_change(world):
    summary = world.cycle()
    assert summary.outcome is RunOutcome.OK, summary.errors
    assert summary.pulled == summary.decided == summary.changed == summary.pushed == 30
    assert summary.fields_written == 30 * 13
    some = next(iter(world.ids.values()))
    assert world.sandbox.written(some)["rules_version"] == "standin-1"
    assert world.store.outbox_size(REF) == 0
    assert len(world.store.audit(REF)) == summary.fields_written
    assert world.store.cursor(REF) is not None
    # each page of 10 is pushed once durable, in batches of at most 7
    assert summary.api_calls["push"] == world.sandbox.requests["push"] == 6


def test_our_own_writes_coming_back_as_changes_produce_no_new_writes(world):
    world.cycle()
    pushes = world.sandbox.requests["push"]
    echo = world.cycle()  # every contact changed in the CRM: we wrote to it
    assert echo.pulled == 30 and echo.decided == 30
    assert echo.changed == 0 and echo.pushed == 0 and echo.fields_written == 0
    assert world.sandbox.requests["push"] == pushes
    steady = world.cycle()
    assert steady.pulled == 0 and steady.api_calls == Counter({"contacts": 1})


def test_a_change_in_the_crm_pushes_only_the_fields_it_changes(world):
    world.cycle()
    world.cycle()
    native = world.ids["100003"]
    before = world.sandbox.written(native)
    world.sandbox.record_event(native, "webinar")
    summary = world.cycle()
    assert summary.pulled == 1 and summary.changed == 1
    (batch,) = world.sandbox.pushed_batches[-1:]
    (update,) = batch
    assert set(update.values) <= {"score", "score_engagement", "stage", "maturity", "reason", "sla_status",
                                  "sla_due_at", "sla_breached", "criteria_met"}
    assert update.previous == {name: before[name] for name in update.values}


CRASH_POINTS = [
    ("connector", "pull:after_page", 0), ("connector", "pull:after_page", 1),
    ("connector", "push:before_apply", 0), ("connector", "push:after_apply", 0), ("connector", "push:after_apply", 2),
    ("store", "write_page:before_commit", 0), ("store", "write_page:after_commit", 1),
    ("store", "record_push:before_commit", 0), ("store", "record_push:before_commit", 3),
    ("store", "record_push:after_commit", 1),
]


@pytest.mark.parametrize(("where", "point", "after"), CRASH_POINTS)
def test_a_crash_anywhere_then_a_restart_converges_to_the_uninterrupted_state(make_world, where, point, after):
    reference = make_world("ref")
    reference.cycle()
    expected_state = reference.sandbox.state()
    expected_audit = Counter((a.contact_id, a.field, repr(a.after)) for a in reference.store.audit(REF))

    crashed = make_world("crash")
    if where == "connector":
        crashed.sandbox.faults.crash_at(point, after)
    else:
        remaining = [after]

        def fault(name):
            if name == point:
                if remaining[0] == 0:
                    remaining[0] = -1
                    raise SimulatedCrash(name)
                remaining[0] -= 1
        crashed.restart(fault)
    with pytest.raises(SimulatedCrash):
        crashed.cycle()
    crashed.restart()
    crashed.sandbox.faults.clear()
    assert crashed.cycle().outcome is RunOutcome.OK
    assert crashed.sandbox.state() == expected_state
    assert Counter((a.contact_id, a.field, repr(a.after)) for a in crashed.store.audit(REF)) == expected_audit
    assert crashed.store.outbox_size(REF) == 0
    quiet = crashed.cycle()
    assert quiet.fields_written == 0


def test_changed_rules_rescore_unchanged_contacts_from_their_snapshots(world):
    world.cycle()
    world.cycle()
    world.rules = StandInRules(version="standin-2", threshold=40)
    summary = world.cycle()
    assert summary.pulled == 0 and summary.decided == 30 and summary.rules_version == "standin-2"
    assert all(values["rules_version"] == "standin-2" for values in world.sandbox.state().values())
    assert world.store.snapshots(REF, not_version="standin-2") == []


def test_deleted_and_merged_contacts_are_no_longer_managed_and_their_writes_are_dropped(world):
    world.cycle()
    world.cycle()
    gone, merged, survivor = world.ids["100001"], world.ids["100002"], world.ids["100003"]
    world.sandbox.faults.reject(gone, "locked", "busy", retryable=True)
    world.sandbox.record_event(gone, "demo_request")
    world.cycle()
    assert world.store.outbox_size(REF) > 0  # kept for a retry
    world.sandbox.delete_contact(gone)
    world.sandbox.delete_contact(merged, merged_into=survivor)
    summary = world.cycle()
    assert summary.deleted == 2
    assert world.store.outbox_size(REF) == 0
    assert not world.store.is_managed(REF, gone) and not world.store.is_managed(REF, merged)
    assert world.store.is_managed(REF, survivor)


def test_record_errors_permanent_dropped_retryable_retried_next_run(world):
    bad, flaky = world.ids["100004"], world.ids["100005"]
    world.sandbox.faults.reject(bad, "INVALID_EMAIL", "Email is invalid")
    world.sandbox.faults.reject(flaky, "UNABLE_TO_LOCK_ROW", "row locked", retryable=True)
    summary = world.cycle()
    assert summary.outcome is RunOutcome.PARTIAL and summary.push_failed == 2 and summary.pushed == 28
    assert [(r.contact_id, r.message) for r in world.store.rejections(REF)] == [(bad, "Email is invalid")]
    assert world.sandbox.written(bad) == {}
    retry = world.cycle()
    assert world.sandbox.written(flaky)["stage"] and retry.pushed >= 1
    assert world.store.outbox_size(REF) == 0


def test_a_contact_the_rules_cannot_evaluate_does_not_block_the_others(world):
    world.sandbox.set_field(world.ids["100006"], "rules_error", "bad value")
    summary = world.cycle()
    assert summary.outcome is RunOutcome.PARTIAL and summary.decided == 29
    assert any("100006" in e and "bad value" in e for e in summary.errors)
    assert world.cycle().pulled == 29  # the cursor moved on: only our echoes come back


def test_daily_budget_parks_the_account_and_auth_failure_fails_it_without_touching_others(make_world, clock):
    parked, failing, healthy = (make_world(n, 5, account=n) for n in ("parked", "failing", "healthy"))
    parked.sandbox.faults.raise_on("pull", RateLimited("daily budget spent", crm="fake", retry_after=3600,
                                                       scope="daily"))
    failing.sandbox.faults.raise_on("pull", AuthFailed("token revoked", crm="fake", status=401))
    p, f, h = parked.cycle(), failing.cycle(), healthy.cycle()
    assert p.outcome is RunOutcome.PARKED and p.retry_at == clock.now() + timedelta(hours=1)
    assert f.outcome is RunOutcome.FAILED and "authorisation failed: token revoked" in f.errors[0]
    assert h.outcome is RunOutcome.OK and h.pushed == 5
    assert parked.cycle().outcome is RunOutcome.OK  # resumes from its cursor


def test_a_stop_request_checkpoints_the_page_in_flight_and_the_next_run_resumes(world):
    stop = threading.Event()
    summary = world.cycle(stop=stop, progress=lambda s: stop.set() if s.pulled >= 10 else None)
    assert summary.outcome is RunOutcome.INTERRUPTED and summary.pulled == 10
    assert world.store.cursor(REF) is not None
    rest = world.cycle()  # drains the first page's writes, then pulls the 20 others and those 10 echoes
    assert rest.outcome is RunOutcome.OK and rest.pulled == 30 and rest.changed == 20
    assert len(world.sandbox.state()) == 30


def test_every_log_line_of_a_run_names_the_account_and_run_and_carries_counts(world):
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        summary = world.cycle()
    assert logs
    for line in logs:
        assert line["crm"] == "fake" and line["account"] == "main" and line["run_id"] == summary.run_id
        assert {"pulled", "decided", "changed", "pushed"} <= set(line)
    assert {"run_started", "page_committed", "push_batch_recorded", "run_finished"} <= {x["event"] for x in logs}
