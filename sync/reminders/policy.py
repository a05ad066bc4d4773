"""When a reminder is due, whom an escalation goes to, and what the tasks say.

The reminder comes at a share of the SLA's business hours (`sla.reminder.share` in the rules, 0.75 by
default), measured on the SLA's own business calendar: 75% of 24 business hours handed off on a Friday
afternoon is on Tuesday morning, not on Monday night. The task is due at the SLA's due time. The texts
say why, and end with the row's marker (`crmsync-ref: ...`), by which the task is found after a crash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sync.rules.calendar import Calendar
from sync.state.records import AccountRef

MARKER_PREFIX = "crmsync-ref: "


@dataclass(frozen=True, slots=True)
class ReminderPolicy:
    """The rules' `sla.reminder` with the SLA's calendar."""

    enabled: bool
    share: float
    on_touch: str  # complete | leave
    calendar: Calendar

    def remind_at(self, started_at: datetime, due_at: datetime) -> datetime:
        """When `share` of the business hours from hand-off to due time have passed."""
        hours = self.calendar.business_hours_between(started_at, due_at)
        if hours <= 0:
            return started_at + (due_at - started_at) * self.share
        return min(self.calendar.add_business_hours(started_at, hours * self.share), due_at)

    def local(self, moment: datetime) -> str:
        return f"{moment.astimezone(self.calendar.zone):%Y-%m-%d %H:%M} ({self.calendar.zone.key})"


@dataclass(frozen=True, slots=True)
class Escalation:
    """Per account: whom a breach is escalated to as a task (the owner's manager where the CRM records it, else
    `user_id`; neither: no task), whether a breach is posted to the webhook, and how overdue a breach may be
    when first seen and still be escalated (`max_overdue`; None: any): escalation turned on for an account
    with months of open breaches must not send each of them at once."""

    manager: bool = False
    user_id: str | None = None
    webhook: bool = False
    max_overdue: timedelta | None = timedelta(days=7)

    def too_old(self, due_at: datetime, now: datetime) -> bool:
        """Whether a breach due at `due_at`, first seen `now`, is past escalating."""
        return self.max_overdue is not None and now - due_at > self.max_overdue

    @property
    def tasks(self) -> bool:
        return self.manager or self.user_id is not None

    @property
    def active(self) -> bool:
        return self.tasks or self.webhook


def reminder_policy(rules: Any) -> ReminderPolicy | None:
    """The policy of compiled rules; None for rules that carry no SLA (a stand-in in tests)."""
    spec = getattr(getattr(rules, "spec", None), "sla", None)
    sla = getattr(rules, "sla", None)
    if spec is None or sla is None or not spec.enabled:
        return None
    reminder = spec.reminder
    return ReminderPolicy(enabled=reminder.enabled, share=float(reminder.share), on_touch=reminder.on_touch,
                          calendar=sla.calendar)


def marker(ref: AccountRef, contact_id: str, clock_start: datetime, kind: str) -> str:
    """crmsync's id of one task or webhook: the same clock and kind always give the same marker."""
    text = f"{ref.crm}|{ref.account}|{contact_id}|{clock_start.isoformat()}|{kind}"
    return "crmsync-" + hashlib.sha256(text.encode()).hexdigest()[:24]


def reminder_text(policy: ReminderPolicy, *, started_at: datetime, due_at: datetime, ref: str) -> tuple[str, str]:
    subject = f"SLA: first touch due by {policy.local(due_at)}"
    body = (f"crmsync reminder: this prospect was handed to sales on {policy.local(started_at)} and the SLA asks "
            f"for a first sales touch (a call, an email or a meeting) by {policy.local(due_at)}. None is logged "
            f"yet, and {round(policy.share * 100)}% of the time allowed has passed.\n\n{MARKER_PREFIX}{ref}")
    return subject, body


def escalation_text(policy: ReminderPolicy, *, started_at: datetime, due_at: datetime, owner_id: str | None,
                    ref: str) -> tuple[str, str]:
    subject = f"SLA breached: prospect not touched since {policy.local(started_at)}"
    owner = f"its owner (user {owner_id})" if owner_id else "nobody (it has no owner)"
    body = (f"crmsync escalation: this prospect was handed to sales on {policy.local(started_at)}; the first "
            f"sales touch was due by {policy.local(due_at)} and none is logged. It is assigned to {owner}.\n\n"
            f"{MARKER_PREFIX}{ref}")
    return subject, body


def carries(text: str | None, ref: str) -> bool:
    """Whether a task's text carries the marker (CRMs may wrap it in HTML or trim whitespace)."""
    return bool(text) and f"{MARKER_PREFIX}{ref}" in str(text)


__all__ = ["MARKER_PREFIX", "Escalation", "ReminderPolicy", "carries", "escalation_text", "marker",
           "reminder_policy", "reminder_text"]
