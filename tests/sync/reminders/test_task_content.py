"""What a reminder task says and when it is due, in each CRM: due at the SLA's due time (Salesforce keeps a
date only), assigned to the owner, and saying why: the hand-off, the due time, and the share of the time
allowed already gone."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

OWNER = "1001"


@pytest.mark.parametrize("crm", ["hubspot", "salesforce", "pipedrive"])
def test_a_reminder_is_due_when_the_sla_is_and_says_why(make_world, new_prospect, clock, crm):
    world = make_world(crm)
    world.seed(new_prospect(clock.now()))
    world.cycle()
    started, due = world.sla_clock("p1")
    clock.set(world.remind_at("p1"))
    world.sweep()
    (task,) = world.tasks("p1")
    if isinstance(task["due_at"], datetime):
        assert abs(task["due_at"] - due) < timedelta(minutes=1), (task["due_at"], due)
    else:  # a Salesforce Task's ActivityDate
        assert isinstance(task["due_at"], date) and task["due_at"] == due.date()
    assert task["owner_id"] == world.owner(OWNER)
    text = f"{task['subject']}\n{task['body']}"
    assert "handed to sales on" in text and "75% of the time allowed has passed" in text
    assert f"{due.astimezone(world.rules.sla.calendar.zone):%Y-%m-%d %H:%M}" in text  # the due time, local
