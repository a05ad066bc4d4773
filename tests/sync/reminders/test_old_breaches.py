"""Escalation turned on for an account with old open breaches escalates the recent ones only: a breach first
seen more overdue than `escalation.max_overdue` is recorded as skipped (no task, no webhook), once and for
good, so nobody is flooded with months of backlog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sync.configfile import parse_yaml
from sync.daemon.accounts import run_options
from sync.errors import ConfigError
from sync.reminders.policy import Escalation
from sync.settings import validate_settings
from sync.state.reminders import ESCALATION, OPEN, PENDING, SKIPPED, WEBHOOK, ReminderStore

MANAGER = "1007"


def test_turning_escalation_on_skips_the_breaches_already_too_old(make_world, new_prospect, rules_with_reminder,
                                                                  clock):
    world = make_world("hubspot", rules_with_reminder(enabled=False))
    world.seed(new_prospect(clock.now()))
    world.cycle()
    clock.advance(timedelta(days=20))  # p1's breach is a fortnight old and more; nobody escalated it
    world.seed(new_prospect(clock.now(), 2))
    world.cycle()
    clock.set(world.sla_clock("p2")[1] + timedelta(minutes=5))  # p2 has just breached
    world.escalation = Escalation(user_id=world.owner(MANAGER), webhook=True)  # the feature is turned on
    summary = world.sweep()
    assert summary.breaches_open == 2, summary.errors
    assert world.tasks("p1") == [] and [task["owner_id"] for task in world.tasks("p2")] == [world.owner(MANAGER)]
    rows = {(item.contact_id, item.kind): item for item in ReminderStore(world.store).rows(
        world.ref, statuses=[PENDING, OPEN, SKIPPED], kinds=[ESCALATION, WEBHOOK])}
    old, new = world.ids["p1"], world.ids["p2"]
    assert {key: item.status for key, item in rows.items()} == {
        (old, ESCALATION): SKIPPED, (old, WEBHOOK): SKIPPED, (new, ESCALATION): OPEN, (new, WEBHOOK): PENDING}
    assert "escalation.max_overdue (7d 0h)" in (rows[(old, WEBHOOK)].last_error or "")
    assert summary.reminders == {(ESCALATION, SKIPPED): 1, (WEBHOOK, SKIPPED): 1, (ESCALATION, "decided"): 1,
                                 (ESCALATION, "created"): 1, (WEBHOOK, "queued"): 1}
    world.sweep()  # decided once: the old breach stays skipped
    assert world.tasks("p1") == [] and len(world.tasks("p2")) == 1


def test_without_a_cut_off_an_old_breach_is_escalated(make_world, new_prospect, rules_with_reminder, clock):
    world = make_world("hubspot", rules_with_reminder(enabled=False))
    world.seed(new_prospect(clock.now()))
    world.cycle()
    clock.advance(timedelta(days=20))
    world.escalation = Escalation(user_id=world.owner(MANAGER), max_overdue=None)
    world.sweep()
    assert [task["owner_id"] for task in world.tasks("p1")] == [world.owner(MANAGER)]


def test_too_old_is_strictly_more_overdue_than_the_cut_off():
    due = datetime(2026, 3, 2, 9, tzinfo=UTC)
    week = Escalation()
    assert week.max_overdue == timedelta(days=7)
    assert not week.too_old(due, due + timedelta(days=7)) and week.too_old(due, due + timedelta(days=7, seconds=1))
    assert not Escalation(max_overdue=None).too_old(due, due + timedelta(days=365))


FILE = """\
accounts:
  - name: main
    crm: fake
    settings: {api_token: {env: FAKE_TOKEN}}
    escalation: {to: user, user_id: "42", max_overdue: MAX}
"""


@pytest.mark.parametrize(("written", "expected"), [("2d", timedelta(days=2)), ("36h", timedelta(hours=36)),
                                                   ("null", None)])
def test_the_cut_off_is_a_duration_of_each_accounts_escalation(written, expected):
    settings = validate_settings(parse_yaml(FILE.replace("MAX", written), "crmsync.yaml"), {"FAKE_TOKEN": "tok-1"})
    assert run_options(settings, settings.accounts[0]).escalation.max_overdue == expected


def test_a_bad_cut_off_is_located():
    with pytest.raises(ConfigError) as info:
        validate_settings(parse_yaml(FILE.replace("MAX", "a week"), "crmsync.yaml"), {"FAKE_TOKEN": "tok-1"})
    assert any("5:" in str(issue) and "max_overdue" in str(issue) for issue in info.value.issues), \
        [str(issue) for issue in info.value.issues]
