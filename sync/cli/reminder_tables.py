"""The part of `crmsync status` about the SLA reminders crmsync writes into each CRM: per account, the tasks
still open there (reminders, escalations), those that could not be made, and the breach webhooks waiting or
given up. Account names are `id` columns: never cut, at any width.
"""

from __future__ import annotations

from collections import Counter

from rich.console import RenderableType
from rich.text import Text

from sync.cli.layout import Cell, Column, fitted
from sync.cli.tables import alarming
from sync.state import StateStore
from sync.state.reminders import (
    COMPLETING,
    ESCALATION,
    FAILED,
    OPEN,
    PENDING,
    REMINDER,
    SENDING,
    TASK_KINDS,
    WEBHOOK,
    ReminderStore,
)


def reminder_tables(store: StateStore, *, width: int) -> list[RenderableType]:
    """One row per account that has reminder rows; one line when none has (reminders and escalation off)."""
    accounts = ReminderStore(store).by_account()
    if not accounts:
        return [Text("SLA reminders and escalations: none yet", style="italic")]
    rows = [[ref.account, ref.crm, *_cells(counts)] for ref, counts in sorted(accounts.items())]
    return [fitted("SLA reminders and escalations in the CRMs",
                   [Column("account", "id"), Column("crm", "id"), Column("open reminders", "number"),
                    Column("open escalations", "number"), Column("tasks waiting", "number"),
                    Column("tasks failed", "number"), Column("webhooks waiting", "number"),
                    Column("webhooks failed", "number")], rows, width,
                   caption="open: a task in the CRM not yet touched; waiting: to be made by the next sweep or "
                           "webhook run")]


def _cells(counts: Counter[tuple[str, str]]) -> list[Cell]:
    def of(kinds: tuple[str, ...], statuses: tuple[str, ...]) -> int:
        return sum(counts[(kind, status)] for kind in kinds for status in statuses)

    return [str(of((REMINDER,), (OPEN, COMPLETING))), str(of((ESCALATION,), (OPEN, COMPLETING))),
            str(of(TASK_KINDS, (PENDING, SENDING))), alarming(of(TASK_KINDS, (FAILED,))),
            str(of((WEBHOOK,), (PENDING,))), alarming(of((WEBHOOK,), (FAILED,)))]
