"""What the SLA reminders did in the period, per account: reminder tasks created in the CRMs, completed by
crmsync on touch or left to their owner, escalation tasks, breach webhooks delivered or given up, and the rows
skipped (a contact without an owner, no one to escalate to, a breach too old when first seen).

Counted from the `sla_reminders` rows (`ReminderStore.outcomes`): a task as created in the period it was
decided in, the other outcomes in the period the row reached them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sync.insight.funnel import ALL
from sync.insight.period import Period
from sync.state import AccountRef, StateStore
from sync.state.reminders import (
    COMPLETED,
    CREATED,
    DELIVERED,
    ESCALATION,
    FAILED,
    LEFT,
    REMINDER,
    SKIPPED,
    TASK_KINDS,
    WEBHOOK,
    ReminderStore,
)

#: the report's columns: heading, then the (kind, outcome) pairs it adds up
COLUMNS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("reminders created", ((REMINDER, CREATED),)),
    ("completed on touch", ((REMINDER, COMPLETED),)),
    ("left to the owner", ((REMINDER, LEFT),)),
    ("escalation tasks", ((ESCALATION, CREATED),)),
    ("webhooks delivered", ((WEBHOOK, DELIVERED),)),
    ("webhooks failed", ((WEBHOOK, FAILED),)),
    ("tasks failed", tuple((kind, FAILED) for kind in TASK_KINDS)),
    ("skipped", tuple((kind, SKIPPED) for kind in (*TASK_KINDS, WEBHOOK))),
)


def reminder_work(store: StateStore, period: Period,
                  accounts: Sequence[AccountRef] | None = None) -> dict[str, Counter[tuple[str, str]]]:
    """account key (and `ALL`) -> (kind, outcome) -> rows, for the accounts that had any in the period."""
    out: dict[str, Counter[tuple[str, str]]] = {}
    total: Counter[tuple[str, str]] = Counter()
    for ref, counts in sorted(ReminderStore(store).outcomes(period.start, period.end, accounts).items()):
        out[str(ref)] = counts
        total.update(counts)
    if out:
        out[ALL] = total
    return out


def column_values(counts: Counter[tuple[str, str]]) -> list[int]:
    """The row of one account under `COLUMNS`."""
    return [sum(counts[pair] for pair in pairs) for _, pairs in COLUMNS]


__all__ = ["COLUMNS", "column_values", "reminder_work"]
