"""The SLA reminders step of a sweep: decide what each SLA clock is owed, then do it, exactly once.

Order, every sweep of an account (after its contacts due for review were decided again, so the clocks are
current):
1. recover: rows left `sending` by a run that stopped between the CRM call and its record are looked for in
   the CRM by their marker, once the CRM's search can see them (a minute later); a task found is recorded,
   one not found goes back to `pending` (created below);
2. settle: task rows whose clock no longer waits for a touch are completed in the CRM (`on_touch: complete`)
   or left to the owner (`leave`); a row not created yet is cancelled;
3. decide: a clock still running once `share` of its business hours have passed owes its owner a reminder;
   a breached clock owes an escalation task (manager or configured user) and a webhook, as configured.
   Each is one row per clock and kind, decided once;
4. create the pending tasks (`begin_sending` -> CRM -> `record_created`) in batches, and complete those
   settled.
The webhook rows are delivered by their own job (`sync.webhook`). A CRM error on a reminder call is reported
on the run (PARTIAL) and retried next sweep; it never undoes the sweep's decisions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from sync.contract import KnowsManagers, TaskRequest, TaskResult, WritesTasks
from sync.daemon.engine import AccountSync
from sync.daemon.report import reminder_fields
from sync.errors import PermanentError, TransientError
from sync.reminders.policy import Escalation, ReminderPolicy, escalation_text, marker, reminder_policy, reminder_text
from sync.state.records import rejected_for_good
from sync.state.reminders import (
    CANCELLED,
    COMPLETED,
    COMPLETING,
    ESCALATION,
    FAILED,
    LEFT,
    OPEN,
    PENDING,
    REMINDER,
    SENDING,
    SKIPPED,
    WEBHOOK,
    Clock,
    Owed,
    ReminderStore,
)

BATCH = 50  # tasks per create call (HubSpot takes 100 a batch, Salesforce 200, Pipedrive one at a time)
# a task created this recently may not be searchable yet (HubSpot's search index lags its writes by seconds):
# a row left `sending` is looked for only once this much time has passed since its CRM call
SEARCHABLE_AFTER = timedelta(minutes=1)


def run_reminders(sync_: AccountSync, escalation: Escalation | None = None) -> Counter[tuple[str, str]]:
    """The reminders step for the account `sync_` runs (see the module docstring). Returns what it did,
    (kind, outcome) -> rows, which is added to the run's summary (its log line and metrics) too."""
    tally: Counter[tuple[str, str]] = Counter()
    policy = reminder_policy(sync_.rules)
    escalation = escalation or sync_.options.escalation
    if policy is None or sync_.plan is not None or not (policy.enabled or escalation.active):
        return tally
    store = ReminderStore(sync_.store)
    connector = sync_.connector
    tasks = connector if isinstance(connector, WritesTasks) else None
    try:
        if tasks is not None:
            _recover(sync_, store, tasks, tally)
        _settle(sync_, store, policy, tally)
        _decide(sync_, store, policy, escalation, tasks is not None, tally)
        if tasks is not None:
            _create(sync_, store, tasks, tally)
            _complete(sync_, store, tasks, tally)
    except (PermanentError, TransientError) as exc:  # the sweep's own work stands; the rows wait for the next
        sync_.summary.errors.append(f"SLA reminders: {exc.user_message}")
        sync_.log.warning("reminders_failed", error=type(exc).__name__, message=exc.user_message)
    finally:
        sync_.summary.reminders.update(tally)
    if tally:
        sync_.event("reminders_done", **reminder_fields(tally))
    return tally


def _request(item: Owed) -> TaskRequest:
    """The task of a row: due at the SLA's due time (a reminder) or when the breach was seen (an escalation)."""
    due = datetime.fromisoformat(item.payload["task_due"]) if item.payload.get("task_due") else item.due_at
    return TaskRequest(marker=item.marker, contact_id=item.contact_id, assignee_id=item.assignee_id or "",
                       due_at=due, subject=str(item.payload.get("subject", "")),
                       body=str(item.payload.get("body", "")))


def _recover(sync_: AccountSync, store: ReminderStore, tasks: WritesTasks, tally: Counter[tuple[str, str]]) -> None:
    """Rows whose CRM call may or may not have happened: found in the CRM, or back to pending."""
    settled = sync_.clock.now() - SEARCHABLE_AFTER
    for batch in _batches(store.rows(sync_.ref, statuses=[SENDING], updated_by=settled)):
        found = tasks.find_tasks([_request(item) for item in batch])
        outcomes = [(item, TaskResult(item.marker, task_id=found[item.marker])) for item in batch
                    if item.marker in found]
        if outcomes:
            statuses = store.record_created(sync_.ref, outcomes, max_attempts=sync_.options.max_attempts)
            tally.update((item.kind, "recovered") for (item, _), status in zip(outcomes, statuses, strict=True)
                         if status == OPEN)
        store.mark(sync_.ref, [item for item in batch if item.marker not in found], PENDING)


def _settle(sync_: AccountSync, store: ReminderStore, policy: ReminderPolicy,
            tally: Counter[tuple[str, str]]) -> None:
    settled = store.settled(sync_.ref)
    cancelled = [item for item in settled if item.status == PENDING]
    store.mark(sync_.ref, cancelled, CANCELLED)
    tally.update((item.kind, CANCELLED) for item in cancelled)
    opened = [item for item in settled if item.status == OPEN]
    store.mark(sync_.ref, opened, COMPLETING if policy.on_touch == "complete" else LEFT)
    if policy.on_touch != "complete":
        tally.update((item.kind, LEFT) for item in opened)


def _decide(sync_: AccountSync, store: ReminderStore, policy: ReminderPolicy, escalation: Escalation,
            can_write_tasks: bool, tally: Counter[tuple[str, str]]) -> None:
    ref, now = sync_.ref, sync_.clock.now()
    due: list[Clock] = []
    if policy.enabled and can_write_tasks:
        due = [clock for clock in store.clocks_without(ref, REMINDER, ["running"])
               if now >= policy.remind_at(clock.started_at, clock.due_at)]
    breached_tasks = (store.clocks_without(ref, ESCALATION, ["breached"])
                      if escalation.tasks and can_write_tasks else [])
    breached_hooks = store.clocks_without(ref, WEBHOOK, ["breached"]) if escalation.webhook else []
    people = store.contacts(ref, {clock.contact_id for clock in (*due, *breached_tasks, *breached_hooks)})
    owed: list[Owed] = []
    for clock in due:
        owner, _ = people.get(clock.contact_id, (None, ""))
        ref_id = marker(ref, clock.contact_id, clock.started_at, REMINDER)
        subject, body = reminder_text(policy, started_at=clock.started_at, due_at=clock.due_at, ref=ref_id)
        owed.append(Owed(clock.contact_id, clock.started_at, REMINDER, ref_id, PENDING if owner else SKIPPED,
                         clock.due_at, {"subject": subject, "body": body}, assignee_id=owner, owner_id=owner,
                         last_error=None if owner else "the contact has no owner"))
    managers = _managers(sync_, escalation, [people.get(c.contact_id, (None, ""))[0] for c in breached_tasks])
    for clock in breached_tasks:
        owner, _ = people.get(clock.contact_id, (None, ""))
        assignee = managers.get(owner or "") or escalation.user_id
        ref_id = marker(ref, clock.contact_id, clock.started_at, ESCALATION)
        subject, body = escalation_text(policy, started_at=clock.started_at, due_at=clock.due_at, owner_id=owner,
                                        ref=ref_id)
        why = _too_old(escalation, clock, now) or (
            None if assignee else "no manager known and no escalation user configured")
        owed.append(Owed(clock.contact_id, clock.started_at, ESCALATION, ref_id, SKIPPED if why else PENDING,
                         clock.due_at, {"subject": subject, "body": body, "task_due": now.isoformat()},
                         assignee_id=assignee, owner_id=owner, last_error=why))
    for clock in breached_hooks:
        owner, name = people.get(clock.contact_id, (None, ""))
        why = _too_old(escalation, clock, now)
        owed.append(Owed(clock.contact_id, clock.started_at, WEBHOOK, marker(ref, clock.contact_id,
                                                                             clock.started_at, WEBHOOK),
                         SKIPPED if why else PENDING, clock.due_at,
                         {"contact_name": name, "started_at": clock.started_at.isoformat()}, owner_id=owner,
                         last_error=why))
    added = store.add(ref, owed)
    tally.update((item.kind, SKIPPED if item.status == SKIPPED else _DECIDED[item.kind]) for item in added)


# what a row decided and not skipped is counted as, until it is done
_DECIDED = {REMINDER: "decided", ESCALATION: "decided", WEBHOOK: "queued"}


def _too_old(escalation: Escalation, clock: Clock, now: datetime) -> str | None:
    """Why a breach first seen now is not escalated: more overdue than `escalation.max_overdue`."""
    if not escalation.too_old(clock.due_at, now):
        return None
    return (f"breached {_days(now - clock.due_at)} ago when first seen, over escalation.max_overdue "
            f"({_days(escalation.max_overdue or timedelta(0))})")


def _days(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if days else f"{hours}h"


def _managers(sync_: AccountSync, escalation: Escalation, owners: Sequence[str | None]) -> dict[str, str]:
    wanted = sorted({owner for owner in owners if owner})
    if not escalation.manager or not wanted or not isinstance(sync_.connector, KnowsManagers):
        return {}
    return sync_.connector.managers(wanted)


def _create(sync_: AccountSync, store: ReminderStore, tasks: WritesTasks, tally: Counter[tuple[str, str]]) -> None:
    for batch in _batches(store.rows(sync_.ref, statuses=[PENDING])):
        sync_.checkpoint()
        store.begin_sending(sync_.ref, batch)  # fenced: with replicas, only the account's owner gets past it
        results = tasks.create_tasks([_request(item) for item in batch])
        if len(results) != len(batch):
            raise PermanentError("the connector returned task results that do not match the batch sent",
                                 crm=sync_.ref.crm)
        statuses = store.record_created(sync_.ref, list(zip(batch, results, strict=True)),
                                        max_attempts=sync_.options.max_attempts)
        tally.update((item.kind, _CREATE_OUTCOMES[status]) for item, status in zip(batch, statuses, strict=True))
        for item, result in zip(batch, results, strict=True):
            if result.error is not None:
                sync_.log.warning("reminder_task_failed", contact_id=item.contact_id, kind=item.kind,
                                  code=result.error.code, message=result.error.message)


# a CRM create's answer as counted: a task, an error tried again next sweep, an error for good
_CREATE_OUTCOMES = {OPEN: "created", PENDING: "retried", FAILED: "failed"}


def _complete(sync_: AccountSync, store: ReminderStore, tasks: WritesTasks, tally: Counter[tuple[str, str]]) -> None:
    for batch in _batches(store.rows(sync_.ref, statuses=[COMPLETING])):
        sync_.checkpoint()
        sync_.store.check_lease()  # with replicas: a replica that lost the account writes nothing more
        results = tasks.complete_tasks([item.task_id or "" for item in batch])
        done = [item for item, result in zip(batch, results, strict=True) if result.error is None]
        refused = [(item, result) for item, result in zip(batch, results, strict=True) if result.error is not None]
        store.mark(sync_.ref, done, COMPLETED)
        for item, result in refused:  # a task deleted in the CRM meanwhile: nothing left to complete
            assert result.error is not None
            again = not rejected_for_good(result.error, item.attempts, sync_.options.max_attempts)
            store.mark(sync_.ref, [item], COMPLETING if again else FAILED, error=result.error.message,
                       count_attempt=True)
            if not again:
                tally[(item.kind, "not_completed")] += 1
        tally.update((item.kind, COMPLETED) for item in done)


def _batches(rows: list[Owed]) -> list[list[Owed]]:
    return [rows[start:start + BATCH] for start in range(0, len(rows), BATCH)]


__all__ = ["run_reminders"]
