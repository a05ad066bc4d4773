"""The SLA reminders' rows in the state store: what crmsync owes each SLA clock, and where each stands.

A reminder task, an escalation task and a breach webhook are outbox entries like a field write: decided and
made durable first (`add`), then sent, then recorded. A task's CRM call is bracketed by two transactions:
`begin_sending` marks the rows `sending` before the call, `record_created` records the CRM's answer after it.
A crash between the two leaves `sending` rows, whose outcome is unknown: the next run asks the CRM for a task
carrying the row's marker before creating one (`sync.reminders.run`), so each task exists once. The test seam
`StateStore._fault` is called around the commit of `record_created`, so tests crash exactly there.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update

from sync.contract import TaskResult
from sync.model import decode_contact
from sync.spill import chunks
from sync.state.leases import check_fence
from sync.state.records import AccountRef, rejected_for_good
from sync.state.store import StateStore
from sync.state.tables import ContactRow, ReminderRow, SlaTimerRow, of_account

REMINDER, ESCALATION, WEBHOOK = "reminder", "escalation", "webhook"
TASK_KINDS = (REMINDER, ESCALATION)
PENDING, SENDING, OPEN, COMPLETING, COMPLETED = "pending", "sending", "open", "completing", "completed"
LEFT, FAILED, SKIPPED, CANCELLED, DELIVERED = "left", "failed", "skipped", "cancelled", "delivered"
CREATED = "created"  # not a status: what `outcomes` counts a row with a task id as
#: the SLA statuses during which a clock still waits for its first touch
WAITING = ("running", "breached")


@dataclass(frozen=True, slots=True)
class Clock:
    """One contact's SLA clock as of its last decision."""

    contact_id: str
    status: str
    started_at: datetime
    due_at: datetime


@dataclass(frozen=True, slots=True)
class Owed:
    """One row: a task or a webhook owed to one clock."""

    contact_id: str
    clock_start: datetime
    kind: str
    marker: str
    status: str
    due_at: datetime
    payload: dict[str, Any]
    assignee_id: str | None = None
    owner_id: str | None = None
    task_id: str | None = None
    attempts: int = 0
    last_error: str | None = None
    crm: str = ""
    account: str = ""

    @property
    def key(self) -> tuple[str, datetime, str]:
        return (self.contact_id, self.clock_start, self.kind)


def _owed(row: Any) -> Owed:
    return Owed(contact_id=row.contact_id, clock_start=row.clock_start, kind=row.kind, marker=row.marker,
                status=row.status, due_at=row.due_at, payload=json.loads(row.payload), assignee_id=row.assignee_id,
                owner_id=row.owner_id, task_id=row.task_id, attempts=row.attempts, last_error=row.last_error,
                crm=row.crm, account=row.account)


class ReminderStore:
    """The `sla_reminders` table of one state store."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.engine = store.engine

    @staticmethod
    def _row(ref: AccountRef, contact_id: str, clock_start: datetime, kind: str) -> Any:
        return and_(of_account(ReminderRow, ref), ReminderRow.contact_id == contact_id,
                    ReminderRow.clock_start == clock_start, ReminderRow.kind == kind)

    # --- deciding what is owed ----------------------------------------------------------------------------

    def clocks_without(self, ref: AccountRef, kind: str, statuses: Sequence[str]) -> list[Clock]:
        """The clocks in one of `statuses` that owe no row of `kind` yet (each is decided once per clock)."""
        owed = select(ReminderRow.contact_id).where(
            ReminderRow.crm == SlaTimerRow.crm, ReminderRow.account == SlaTimerRow.account,
            ReminderRow.contact_id == SlaTimerRow.contact_id, ReminderRow.clock_start == SlaTimerRow.started_at,
            ReminderRow.kind == kind)
        query = (select(SlaTimerRow.contact_id, SlaTimerRow.status, SlaTimerRow.started_at, SlaTimerRow.due_at)
                 .where(of_account(SlaTimerRow, ref), SlaTimerRow.status.in_(list(statuses)),
                        SlaTimerRow.started_at.is_not(None), SlaTimerRow.due_at.is_not(None), ~exists(owed))
                 .order_by(SlaTimerRow.contact_id))
        with self.engine.connect() as conn:
            return [Clock(row.contact_id, row.status, row.started_at, row.due_at) for row in conn.execute(query)]

    def contacts(self, ref: AccountRef, ids: Iterable[str]) -> dict[str, tuple[str | None, str]]:
        """contact id -> (owner id, display name) from the stored snapshots."""
        found: dict[str, tuple[str | None, str]] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(list(ids)):
                for cid, snapshot in conn.execute(select(ContactRow.contact_id, ContactRow.snapshot).where(
                        of_account(ContactRow, ref), ContactRow.contact_id.in_(chunk))):
                    contact = decode_contact(snapshot)
                    name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
                    found[cid] = (contact.owner_id, name)
        return found

    def add(self, ref: AccountRef, owed: Sequence[Owed]) -> list[Owed]:
        """Make the rows durable, in one transaction; a row already there (same clock and kind) is kept.
        Returns the rows added."""
        added: list[Owed] = []
        if not owed:
            return added
        now = self.store.clock.now()
        with self.engine.begin() as conn:
            check_fence(conn)  # with replicas: only the account's owner writes
            there: set[tuple[str, datetime, str]] = set()  # the rows already there, read a chunk at a time
            for chunk in chunks(sorted({item.contact_id for item in owed})):
                there.update((row.contact_id, row.clock_start, row.kind) for row in conn.execute(
                    select(ReminderRow.contact_id, ReminderRow.clock_start, ReminderRow.kind)
                    .where(of_account(ReminderRow, ref), ReminderRow.contact_id.in_(chunk))))
            for item in owed:
                if (item.contact_id, item.clock_start, item.kind) not in there:
                    there.add((item.contact_id, item.clock_start, item.kind))
                    added.append(item)
            if added:
                conn.execute(ReminderRow.__table__.insert(), [{
                    "crm": ref.crm, "account": ref.account, "contact_id": item.contact_id,
                    "clock_start": item.clock_start, "kind": item.kind, "marker": item.marker,
                    "status": item.status, "assignee_id": item.assignee_id, "owner_id": item.owner_id,
                    "due_at": item.due_at, "payload": json.dumps(item.payload, sort_keys=True),
                    "task_id": item.task_id, "attempts": 0, "last_error": item.last_error,
                    "next_attempt_at": now if item.kind == WEBHOOK else None, "created_at": now, "updated_at": now}
                    for item in added])
        return added

    # --- reading ----------------------------------------------------------------------------------------

    def rows(self, ref: AccountRef | None, *, statuses: Sequence[str], kinds: Sequence[str] = TASK_KINDS,
             due_by: datetime | None = None, updated_by: datetime | None = None,
             limit: int | None = None, among: Collection[AccountRef] | None = None) -> list[Owed]:
        """`ref`: one account's rows, or every account's; `among`: only these accounts' (a replica's own,
        chosen in the query so that `limit` counts only them)."""
        if among is not None and not among:
            return []
        query = select(ReminderRow).where(ReminderRow.status.in_(list(statuses)), ReminderRow.kind.in_(list(kinds)))
        if updated_by is not None:
            query = query.where(ReminderRow.updated_at <= updated_by)
        if ref is not None:
            query = query.where(of_account(ReminderRow, ref))
        if among is not None:
            query = query.where(or_(*(of_account(ReminderRow, held) for held in among)))
        if due_by is not None:
            query = query.where(ReminderRow.next_attempt_at <= due_by)
        query = query.order_by(ReminderRow.crm, ReminderRow.account, ReminderRow.contact_id, ReminderRow.kind)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_owed(row) for row in conn.execute(query)]

    def settled(self, ref: AccountRef) -> list[Owed]:
        """Task rows not yet done whose clock no longer waits for a touch: touched (met, late), or ended
        otherwise (no longer a prospect, deleted, a new hand-off)."""
        waiting = select(SlaTimerRow.contact_id).where(
            SlaTimerRow.crm == ReminderRow.crm, SlaTimerRow.account == ReminderRow.account,
            SlaTimerRow.contact_id == ReminderRow.contact_id, SlaTimerRow.started_at == ReminderRow.clock_start,
            SlaTimerRow.status.in_(WAITING))
        query = (select(ReminderRow).where(of_account(ReminderRow, ref), ReminderRow.kind.in_(TASK_KINDS),
                                           ReminderRow.status.in_([PENDING, OPEN]), ~exists(waiting))
                 .order_by(ReminderRow.contact_id, ReminderRow.kind))
        with self.engine.connect() as conn:
            return [_owed(row) for row in conn.execute(query)]

    def counts(self, ref: AccountRef | None = None) -> dict[tuple[str, str], int]:
        """(kind, status) -> rows, for reports and the demo."""
        query = select(ReminderRow.kind, ReminderRow.status, func.count()).group_by(ReminderRow.kind,
                                                                                     ReminderRow.status)
        if ref is not None:
            query = query.where(of_account(ReminderRow, ref))
        with self.engine.connect() as conn:
            return {(kind, status): int(count) for kind, status, count in conn.execute(query)}

    def by_account(self) -> dict[AccountRef, Counter[tuple[str, str]]]:
        """Per account, (kind, status) -> rows: what `crmsync status` shows."""
        query = (select(ReminderRow.crm, ReminderRow.account, ReminderRow.kind, ReminderRow.status, func.count())
                 .group_by(ReminderRow.crm, ReminderRow.account, ReminderRow.kind, ReminderRow.status))
        out: dict[AccountRef, Counter[tuple[str, str]]] = defaultdict(Counter)
        with self.engine.connect() as conn:
            for crm, account, kind, status, count in conn.execute(query):
                out[AccountRef(crm, account)][(kind, status)] += int(count)
        return dict(out)

    def outcomes(self, since: datetime, until: datetime,
                 accounts: Sequence[AccountRef] | None = None) -> dict[AccountRef, Counter[tuple[str, str]]]:
        """Per account, (kind, status) -> rows that reached their status within [since, until]: a task row
        that carries a task id counts as `created` when it was decided in the period, whatever became of it
        since; the other statuses by when the row last moved (completed, left, delivered, failed, skipped...)."""
        out: dict[AccountRef, Counter[tuple[str, str]]] = defaultdict(Counter)
        created = (select(ReminderRow.crm, ReminderRow.account, ReminderRow.kind, func.count())
                   .where(ReminderRow.task_id.is_not(None), ReminderRow.created_at >= since,
                          ReminderRow.created_at <= until)
                   .group_by(ReminderRow.crm, ReminderRow.account, ReminderRow.kind))
        moved = (select(ReminderRow.crm, ReminderRow.account, ReminderRow.kind, ReminderRow.status, func.count())
                 .where(ReminderRow.updated_at >= since, ReminderRow.updated_at <= until)
                 .group_by(ReminderRow.crm, ReminderRow.account, ReminderRow.kind, ReminderRow.status))
        wanted = set(accounts) if accounts is not None else None
        with self.engine.connect() as conn:
            for crm, account, kind, count in conn.execute(created):
                out[AccountRef(crm, account)][(kind, CREATED)] += int(count)
            for crm, account, kind, status, count in conn.execute(moved):
                out[AccountRef(crm, account)][(kind, status)] += int(count)
        return {ref: counts for ref, counts in out.items() if wanted is None or ref in wanted}

    # --- moving rows on -----------------------------------------------------------------------------------

    def mark(self, ref: AccountRef, owed: Sequence[Owed], status: str, *, error: str | None = None,
             count_attempt: bool = False, next_attempt_at: datetime | None = None) -> None:
        """Move the rows to `status` in one transaction (`begin_sending` is this with `sending`)."""
        if not owed:
            return
        now = self.store.clock.now()
        with self.engine.begin() as conn:
            check_fence(conn)  # with replicas: only the account's owner writes
            for item in owed:
                values: dict[str, Any] = {"status": status, "updated_at": now, "last_error": error}
                if count_attempt:
                    values["attempts"] = ReminderRow.attempts + 1
                if next_attempt_at is not None:
                    values["next_attempt_at"] = next_attempt_at
                conn.execute(update(ReminderRow).where(
                    self._row(ref, item.contact_id, item.clock_start, item.kind)).values(**values))

    def begin_sending(self, ref: AccountRef, owed: Sequence[Owed]) -> None:
        """Before the CRM call: from now on the outcome is unknown until `record_created`."""
        self.mark(ref, owed, SENDING, count_attempt=True)

    def record_created(self, ref: AccountRef, outcomes: Sequence[tuple[Owed, TaskResult]], *,
                       max_attempts: int) -> list[str]:
        """The CRM's answers for tasks sent (or found after a crash), in one transaction: a task id makes the
        row `open`; a retryable error sends it back to `pending` until `max_attempts`, others fail it.
        Returns the status each row got, in the order of `outcomes`."""
        now = self.store.clock.now()
        statuses: list[str] = []
        with self.engine.begin() as conn:
            check_fence(conn)  # with replicas: only the account's owner writes
            for item, result in outcomes:
                values: dict[str, Any] = {"updated_at": now}
                if result.task_id is not None and result.error is None:
                    values.update(status=OPEN, task_id=result.task_id, last_error=None)
                else:
                    error = result.error
                    values["last_error"] = error.message if error else "the CRM gave no task id"
                    values["status"] = FAILED if rejected_for_good(error, item.attempts, max_attempts) else PENDING
                statuses.append(values["status"])
                conn.execute(update(ReminderRow).where(
                    self._row(ref, item.contact_id, item.clock_start, item.kind)).values(**values))
            self.store._fault("record_tasks:before_commit")
        self.store._fault("record_tasks:after_commit")
        return statuses


__all__ = ["CANCELLED", "COMPLETED", "COMPLETING", "CREATED", "DELIVERED", "ESCALATION", "FAILED", "LEFT", "OPEN", "PENDING",
           "REMINDER", "SENDING", "SKIPPED", "TASK_KINDS", "WAITING", "WEBHOOK", "Clock", "Owed", "ReminderStore"]
