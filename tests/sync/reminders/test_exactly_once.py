"""SLA reminders written into each CRM, once: before the SLA is due, completed on touch, escalated on breach,
and never twice across a crash between the CRM's create and crmsync's record of it."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from sync.daemon.report import RunOutcome
from sync.model import Activity, ActivityKind
from sync.reminders.policy import MARKER_PREFIX, Escalation
from sync.state.reminders import ReminderStore
from sync.testing import SimulatedCrash

OWNER, MANAGER = "1001", "1007"
CRMS = ["hubspot", "salesforce", "pipedrive"]


@pytest.mark.parametrize("crm", CRMS)
def test_a_reminder_is_created_once_at_the_share_of_the_sla_and_completed_on_touch(make_world, new_prospect,
                                                                                   clock, crm):
    world = make_world(crm)
    world.seed(new_prospect(clock.now()))
    assert world.cycle().outcome is RunOutcome.OK
    assert world.sweep().outcome is RunOutcome.OK
    started, due = world.sla_clock("p1")
    remind = world.remind_at("p1")
    assert started < remind < due
    clock.set(remind - timedelta(minutes=1))
    assert world.sweep().outcome is RunOutcome.OK
    assert world.tasks("p1") == []  # not yet at 75% of the business hours
    clock.set(remind)
    summary = world.sweep()
    assert summary.outcome is RunOutcome.OK, summary.errors
    (task,) = world.tasks("p1")
    assert task["owner_id"] == world.owner(OWNER) and not task["done"]
    assert MARKER_PREFIX in task["body"] and "first sales touch" in task["body"]
    world.sweep()
    world.cycle()
    assert len(world.tasks("p1")) == 1  # once per clock
    world.sandbox.log_activity(world.ids["p1"], Activity(kind=ActivityKind.CALL, at=clock.now(), by=OWNER,
                                                         direction="outbound", subject="First call"))
    world.cycle()
    assert world.sweep().outcome is RunOutcome.OK
    (task,) = world.tasks("p1")
    assert task["done"]


@pytest.mark.parametrize("crm", CRMS)
def test_left_to_the_owner_a_touched_prospects_reminder_stays_open(make_world, new_prospect, rules_with_reminder,
                                                                    clock, crm):
    world = make_world(crm, rules_with_reminder(enabled=True, on_touch="leave"))
    world.seed(new_prospect(clock.now()))
    world.cycle()
    clock.set(world.remind_at("p1"))
    world.sweep()
    world.sandbox.log_activity(world.ids["p1"], Activity(kind=ActivityKind.CALL, at=clock.now(), by=OWNER,
                                                         direction="outbound", subject="First call"))
    world.cycle()
    world.sweep()
    (task,) = world.tasks("p1")
    assert not task["done"]


@pytest.mark.parametrize("crm", CRMS)
@pytest.mark.parametrize("point", ["record_tasks:before_commit", "record_tasks:after_commit"])
def test_a_crash_between_the_crm_create_and_the_record_leaves_exactly_one_task(make_world, new_prospect, clock,
                                                                               crm, point):
    world = make_world(crm)
    world.seed(new_prospect(clock.now()), new_prospect(clock.now(), 2))
    world.cycle()
    clock.set(max(world.remind_at("p1"), world.remind_at("p2")))

    def crash(name: str) -> None:
        if name == point:
            raise SimulatedCrash(name)

    world.restart(fault=crash)
    with pytest.raises(SimulatedCrash):
        world.sweep()
    assert [len(world.tasks(p)) for p in ("p1", "p2")] == [1, 1]  # the CRM took them; the record was lost

    world.restart()  # the process starts again
    assert world.sweep().outcome is RunOutcome.OK  # too soon to trust a search: unrecorded rows wait
    recorded = point == "record_tasks:after_commit"
    assert ReminderStore(world.store).counts(world.ref) == {("reminder", "open" if recorded else "sending"): 2}
    clock.advance(timedelta(minutes=1))
    assert world.sweep().outcome is RunOutcome.OK
    world.sweep()
    tasks = [world.tasks(p) for p in ("p1", "p2")]
    assert [len(found) for found in tasks] == [1, 1]
    counts = ReminderStore(world.store).counts(world.ref)
    assert counts == {("reminder", "open"): 2}


@pytest.mark.parametrize("crm", CRMS)
def test_a_breach_escalates_once_to_the_configured_user(make_world, new_prospect, clock, crm):
    world = make_world(crm)
    world.escalation = Escalation(user_id=world.owner(MANAGER), webhook=True)
    world.seed(new_prospect(clock.now()))
    world.cycle()
    clock.set(world.sla_clock("p1")[1] + timedelta(minutes=1))  # past the due time, untouched
    summary = world.sweep()
    assert summary.breaches_open == 1, summary.errors
    world.sweep()
    (escalation,) = world.tasks("p1")  # no reminder: the sweep first saw the clock already breached
    assert escalation["owner_id"] == world.owner(MANAGER) and "SLA breached" in escalation["subject"]
    due = escalation["due_at"]  # a date only in Salesforce
    assert (due if isinstance(due, date) and not isinstance(due, datetime) else due.date()) == \
        summary.started_at.date()  # due as soon as the breach is seen
    assert ReminderStore(world.store).counts(world.ref) == {("escalation", "open"): 1, ("webhook", "pending"): 1}


def test_in_salesforce_a_breach_escalates_to_the_owners_manager(make_world, new_prospect, clock):
    world = make_world("salesforce")
    owner, manager = world.owner(OWNER), world.owner(MANAGER)
    world.sandbox.set_manager(owner, manager)
    world.escalation = Escalation(manager=True, user_id=world.owner("1003"))
    world.seed(new_prospect(clock.now()))
    world.cycle()
    clock.set(world.sla_clock("p1")[1] + timedelta(minutes=1))
    world.sweep()
    (escalation,) = world.tasks("p1")
    assert escalation["owner_id"] == manager  # the manager, not the configured fallback


def test_without_tasks_nothing_is_decided_and_reminders_off_write_nothing(make_world, new_prospect,
                                                                           rules_with_reminder, clock):
    world = make_world("hubspot", rules_with_reminder(enabled=False))
    world.seed(new_prospect(clock.now()))
    world.cycle()
    clock.set(world.sla_clock("p1")[1] + timedelta(minutes=1))
    summary = world.sweep()
    assert summary.breaches_open == 1 and world.tasks("p1") == []
    assert ReminderStore(world.store).counts(world.ref) == {}
