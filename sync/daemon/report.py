"""What one sync run of one CRM account did: the numbers every log line, metric and `status` row is made of."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime


class RunOutcome(enum.StrEnum):
    OK = "ok"
    PARTIAL = "partial"  # some records failed permanently; the rest landed
    FAILED = "failed"  # the run stopped on an error; the cursor stayed where the last durable page left it
    PARKED = "parked"  # daily API budget spent: the account waits for the reset and resumes from its cursor
    INTERRUPTED = "interrupted"  # stop requested (SIGTERM): the page in flight was checkpointed


@dataclass
class RunSummary:
    crm: str
    account: str
    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    outcome: RunOutcome = RunOutcome.OK
    pulled: int = 0  # contacts read from the CRM
    deleted: int = 0
    decided: int = 0  # contacts evaluated by the rules
    changed: int = 0  # contacts with at least one field to write
    pushed: int = 0  # contacts written successfully
    push_failed: int = 0
    fields_written: int = 0
    api_calls: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    retry_at: datetime | None = None  # when a parked account may run again
    errors: list[str] = field(default_factory=list)  # user-facing messages, never secrets or contact data
    cursor_lag_seconds: float | None = None  # now minus the cursor's high-water mark
    breaches_open: int = 0
    rules_version: str = ""
    store_problem: str | None = None  # the state store ended the run: its kind (sync.state.problems), e.g. disk full
    kept: int = 0  # fields whose native place kept a value a person set (not written, not an error)
    # records with a problem in the store after the run, by source (pull: unreadable, push: refused for good)
    record_problems: dict[str, int] = field(default_factory=dict)
    setup_warnings: int | None = None  # setup problems that switch a feature off (None: not reported)
    lease_lost: bool = False  # another replica took the account over: the run stopped and recorded nothing more
    # the SLA reminders' work of the run (`sync.reminders`): (kind, outcome) -> rows, e.g. ("reminder", "created")
    reminders: Counter[tuple[str, str]] = field(default_factory=Counter)

    def counts(self) -> dict[str, int]:
        """The numbers bound to every log line about this run."""
        return {"pulled": self.pulled, "decided": self.decided, "changed": self.changed, "pushed": self.pushed,
                "push_failed": self.push_failed, "deleted": self.deleted}

    def reminder_counts(self) -> dict[str, int]:
        return reminder_fields(self.reminders)


def reminder_fields(reminders: Counter[tuple[str, str]]) -> dict[str, int]:
    """The SLA reminders' work as log fields: `reminders_created`, `escalations_skipped`, `webhooks_queued`..."""
    return {f"{kind}s_{outcome}": count for (kind, outcome), count in sorted(reminders.items()) if count}
