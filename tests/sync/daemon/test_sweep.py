"""The clock moves, the contact does not: breaches are flagged, cleared by a touch, prospects go to nurture."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sync.daemon.engine import RunOptions
from sync.daemon.report import RunOutcome
from sync.daemon.sweep import run_sweep
from sync.model import Contact
from sync.state import AccountRef
from sync.testing import won_deal

REF = AccountRef("fake", "main")


@pytest.fixture
def alone(make_world):
    """A CRM holding only the buyer, so every count below is about it."""
    return make_world("alone", 0)


@pytest.fixture
def buyer(alone, clock):
    """A director at a 250-person company who has done nothing yet: a lead."""
    world = alone
    (native,) = world.sandbox.seed([Contact(crm="seed", id="buyer", seniority="director", company_size=250,
                                            owner_id="1000", created_at=clock.now())]).values()
    world.cycle()
    world.cycle()  # the echo of our first writes
    assert world.sandbox.written(native)["stage"] == "lead"
    return native


def sweep(world, **kwargs):
    return run_sweep(store=world.store, connector=world.connector, rules=lambda: world.rules, clock=world.clock,
                     options=RunOptions(health_interval=None), **kwargs)


def test_the_sla_is_flagged_when_the_clock_passes_it_and_cleared_by_a_touch(alone, clock, buyer):
    world = alone
    world.sandbox.record_event(buyer, "demo_request")
    world.sandbox.record_event(buyer, "meeting_booked")
    world.cycle()
    written = world.sandbox.written(buyer)
    assert written["stage"] == "prospect" and written["sla_status"] == "running"
    assert written["sla_breached"] is False and written["sla_due_at"] == clock.now() + timedelta(hours=24)

    clock.advance(timedelta(hours=23))
    early = sweep(world)
    assert early.fields_written == 0 and world.sandbox.written(buyer)["sla_breached"] is False

    clock.advance(timedelta(hours=2))
    pulls = world.sandbox.requests["pull"]
    late = sweep(world)
    assert late.outcome is RunOutcome.OK and late.breaches_open == 1
    assert world.sandbox.written(buyer)["sla_breached"] is True
    assert world.sandbox.written(buyer)["sla_status"] == "breached"
    assert world.sandbox.requests["pull"] == pulls  # decided from the snapshot, without reading the CRM
    assert [b.contact_id for b in world.store.open_breaches()] == [buyer]

    world.cycle()  # the echo of the flag
    world.sandbox.log_activity(buyer, by="1000")
    touched = world.cycle()
    assert world.sandbox.written(buyer)["sla_breached"] is False
    assert world.sandbox.written(buyer)["sla_status"] == "late"
    assert touched.breaches_open == 0 and world.store.open_breaches() == []


def test_a_prospect_that_goes_quiet_moves_to_nurture_without_a_change_in_the_crm(alone, clock, buyer):
    world = alone
    world.sandbox.record_event(buyer, "demo_request")
    world.sandbox.record_event(buyer, "meeting_booked")
    world.sandbox.log_activity(buyer, by="1000")
    world.cycle()
    world.cycle()
    assert world.sandbox.written(buyer)["stage"] == "prospect"
    clock.advance(timedelta(days=91))
    summary = sweep(world)
    assert summary.changed >= 1
    assert world.sandbox.written(buyer)["stage"] == "nurture"


def test_a_won_deal_makes_a_client(alone, clock, buyer):
    world = alone
    world.sandbox.upsert_deal(buyer, won_deal("d1", at=clock.now(), recurring=True))
    world.cycle()
    assert world.sandbox.written(buyer)["stage"] == "client"
    assert world.sandbox.written(buyer)["client_kind"] == "recurring"


def test_the_periodic_full_rescore_catches_scores_that_decayed(world, clock):
    world.cycle()
    world.cycle()
    prospects = world.store.stage_counts()[REF].get("prospect", 0)
    clock.advance(timedelta(days=120))
    assert sweep(world).decided == prospects < 30  # only prospects have a review date
    summary = sweep(world, full=True)
    assert summary.decided == 30 and summary.changed > 0
    assert sorted(r.kind for r in world.store.runs(REF)) == ["cycle", "cycle", "rescore", "sweep"]
