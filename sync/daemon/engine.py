"""The machinery every kind of run shares: decide contacts, diff against what was pushed, make it durable,
push the outbox, record results. `run_cycle`, `run_sweep` and `run_resync` are small compositions of it.

The order of a step never changes: decide -> ONE transaction (snapshots, memories, decisions, outbox,
cursor) -> push the outbox batch by batch -> ONE transaction per batch of results. So a crash anywhere
leaves either a page that will be pulled again (cursor not advanced) or outbox rows that the next run
pushes again with the same values: the CRM converges to the same state, and audit rows are written only
by the transaction that deletes the outbox rows, so they are never duplicated.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from sync.clock import Clock
from sync.contract import Connector, FieldUpdate, FieldValue
from sync.daemon import call_accounting, problem_records
from sync.daemon.report import RunOutcome, RunSummary
from sync.errors import PermanentError
from sync.model import Contact, Stage, merge_related
from sync.registry import RulesLike
from sync.reminders.policy import Escalation
from sync.rules.decision import ContactMemory, Decision, SlaStatus
from sync.state import AccountRef, ContactState, Decided, PageWrite, PendingUpdate, PushOutcome, StateStore
from sync.state.values import decode_value, encode_value

log = structlog.get_logger("crmsync.sync")

RulesProvider = Callable[[], RulesLike]
ProgressCallback = Callable[[RunSummary], None]


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Knobs of one run, from settings (`push`, `sla_sweep`) or the resync command line."""

    batch_size: int | None = None  # None: the connector's own batch size
    max_attempts: int = 5
    review_within: timedelta = timedelta(days=1)
    health_interval: timedelta | None = timedelta(minutes=15)
    rescore_chunk: int = 500
    escalation: Escalation = Escalation()  # the account's SLA breach escalation (tasks, webhook)


@dataclass(frozen=True, slots=True)
class FieldDiff:
    """One field a run would write (dry run) or did decide to write."""

    crm: str
    account: str
    contact_id: str
    field: str
    before: FieldValue
    after: FieldValue
    pending: bool = False  # already in the outbox from an earlier run


@dataclass
class Plan:
    """What a dry run collects instead of writing anything: the last diff per contact and field."""

    entries: dict[tuple[str, str, str, str], FieldDiff] = field(default_factory=dict)
    # whether each contact decided in the run is breached: the store's open breaches after the run, had it
    # been written, are these plus the stored ones of contacts the run did not decide
    breached: dict[tuple[str, str, str], bool] = field(default_factory=dict)

    def add(self, diff: FieldDiff, *, replace: bool = True) -> None:
        key = (diff.crm, diff.account, diff.contact_id, diff.field)
        if replace or key not in self.entries:
            self.entries[key] = diff

    def discard(self, crm: str, account: str, contact_id: str, name: str) -> None:
        self.entries.pop((crm, account, contact_id, name), None)

    @property
    def diffs(self) -> list[FieldDiff]:
        return [self.entries[key] for key in sorted(self.entries)]


class Stopped(Exception):
    """The stop event was set between two steps: the run ends INTERRUPTED after its last checkpoint."""


def next_review_at(decision: Decision, now: datetime, review_within: timedelta) -> datetime | None:
    """When the contact must be decided again even if the CRM shows no change: at its SLA due time (to flag
    the breach) and, for prospects, at least every `review_within` (inactivity window, engagement decay)."""
    candidates = []
    if decision.sla.status is SlaStatus.RUNNING and decision.sla.due_at is not None:
        candidates.append(decision.sla.due_at)
    if decision.stage is Stage.PROSPECT:
        candidates.append(now + review_within)
    return min(candidates) if candidates else None


def batch_size_of(connector: Connector, configured: int | None) -> int:
    if configured:
        return configured
    for owner in (connector, getattr(connector, "settings", None)):
        size = getattr(owner, "batch_size", None)
        if isinstance(size, int) and size > 0:
            return size
    return 100


class AccountSync:
    """One run of one account: holds the summary and the stop event, and does the durable steps."""

    def __init__(self, *, store: StateStore, connector: Connector, rules: RulesLike, clock: Clock,
                 stop: threading.Event, summary: RunSummary, options: RunOptions,
                 progress: ProgressCallback | None = None, plan: Plan | None = None) -> None:
        self.store, self.connector, self.rules, self.clock = store, connector, rules, clock
        self.stop, self.summary, self.options = stop, summary, options
        self.ref = AccountRef(connector.crm, connector.account)
        self.progress = progress
        self.plan = plan
        self.batch_size = batch_size_of(connector, options.batch_size)
        self.attempted: set[tuple[str, str, int]] = set()
        self.planned_ids: set[str] = set()  # dry run: contacts already decided from fresh CRM data
        self.log = log.bind(crm=self.ref.crm, account=self.ref.account, run_id=summary.run_id)
        # from the end of the previous summary: the field setup made before this run is this run's too
        self._calls_before = call_accounting.unreported(connector)
        # the native values of the contacts the page in hand was pulled with, for their pushes
        self.crm_values: dict[str, dict[str, FieldValue]] = {}

    def checkpoint(self) -> None:
        if self.progress is not None:
            self.progress(self.summary)
        if self.stop.is_set():
            raise Stopped()

    def event(self, name: str, **fields: Any) -> None:
        self.log.info(name, **self.summary.counts(), **fields)

    # --- deciding ---

    def decide(self, contacts: Sequence[Contact], *, tombstones: dict[str, str | None] | None = None,
               cursor: str | None = None, advance_cursor: bool = False, related_complete: bool = True) -> None:
        """Evaluate, diff and make durable (or, in a dry run, add to the plan) one page of contacts."""
        now = self.clock.now()
        unique = list({c.id: c for c in contacts}.values())  # a page may repeat a contact: keep its last state
        if not related_complete and unique:
            unique = self._with_history(unique)
        if self.plan is not None:
            self.planned_ids.update(c.id for c in unique)
        states = self.store.contact_states(self.ref, [c.id for c in unique]) if unique else {}
        memories: dict[str, ContactMemory] = {cid: s.memory for cid, s in states.items() if s.memory is not None}
        results = self.rules.evaluate_many(unique, now, memories) if unique else []
        write = PageWrite(run_id=self.summary.run_id, rules_version=self.rules.version,
                          tombstones=dict(tombstones or {}), cursor=cursor, advance_cursor=advance_cursor)
        for contact, result in zip(unique, results):
            if not isinstance(result, Decision):
                self.summary.errors.append(f"contact {contact.id}: {getattr(result, 'message', result)}")
                self.log.warning("contact_not_decided", contact_id=contact.id,
                                 message=getattr(result, "message", str(result)))
                continue
            self.summary.decided += 1
            if self.plan is not None:
                self.plan.breached[(self.ref.crm, self.ref.account, contact.id)] = result.sla.status is SlaStatus.BREACHED
            write.decided.append(Decided(contact, result, next_review_at(result, now, self.options.review_within)))
            self._diff(contact.id, result, states.get(contact.id, ContactState()), write)
        if self.plan is None:
            self.store.write_page(self.ref, write)

    def _with_history(self, contacts: list[Contact]) -> list[Contact]:
        """Complete contacts whose page carried only changed deals and activities from their snapshots."""
        stored = {c.id: c for c, _ in self.store.snapshots(self.ref, ids=[c.id for c in contacts],
                                                          limit=len(contacts))}
        return [merge_related(c, stored[c.id]) if c.id in stored else c for c in contacts]

    def _diff(self, contact_id: str, decision: Decision, state: ContactState, write: PageWrite) -> None:
        enqueue: dict[str, FieldValue] = {}
        cancel: list[str] = []
        changed = False
        for name, value in decision.to_fields().items():
            text = encode_value(value)
            pushed, pending = state.pushed.get(name), state.pending.get(name)
            if text == pushed:
                if pending is not None:
                    cancel.append(name)  # an earlier decision queued another value: it must not reach the CRM
                    if self.plan is not None:
                        self.plan.discard(self.ref.crm, self.ref.account, contact_id, name)
                continue
            changed = True
            if text != pending:
                enqueue[name] = value
            if self.plan is not None:
                before = decode_value(pushed) if pushed is not None else None
                self.plan.add(FieldDiff(self.ref.crm, self.ref.account, contact_id, name, before, value,
                                        pending=text == pending))
        if enqueue:
            write.enqueue[contact_id] = enqueue
        if cancel:
            write.cancel[contact_id] = cancel
        if changed:
            self.summary.changed += 1

    # --- pushing ---

    def push_pending(self) -> None:
        """Push every outbox row of the account once in this run, batch by batch, recording each batch."""
        after: str | None = None
        while True:
            self.checkpoint()
            batch = self.store.pending_updates(self.ref, after=after, limit=self.batch_size)
            if not batch:
                return
            after = batch[-1].contact_id
            fresh = [p for p in batch if not all((p.contact_id, f, v) in self.attempted for f, v in p.versions.items())]
            if self.plan is not None:
                self._plan_pending(fresh)
                continue
            if not fresh:
                continue
            self.store.check_lease()  # a replica that lost the account pushes nothing more
            for pending in fresh:
                self.attempted.update((pending.contact_id, f, v) for f, v in pending.versions.items())
            updates = [FieldUpdate(p.contact_id, dict(p.values), dict(p.previous),
                                   dict(self.crm_values.get(p.contact_id, {}))) for p in fresh]
            results = self.connector.push(updates)
            if len(results) != len(updates) or any(r.contact_id != u.contact_id for r, u in zip(results, updates)):
                raise PermanentError("the connector returned push results that do not match the batch sent",
                                     crm=self.ref.crm)
            tally = self.store.record_push(self.ref, [PushOutcome(p, r) for p, r in zip(fresh, results)],
                                           run_id=self.summary.run_id, max_attempts=self.options.max_attempts)
            problem_records.record_pushes(self.store, self.ref, fresh, results,
                                          max_attempts=self.options.max_attempts, run_id=self.summary.run_id,
                                          now=self.clock.now())
            for pending, result in zip(fresh, results):  # written: its outbox rows are gone, it cannot come back
                if result.ok:  # so only writes kept for a retry stay remembered (memory bounded by failures)
                    self.attempted.difference_update((pending.contact_id, f, v) for f, v in pending.versions.items())
            gone: dict[str, str | None] = {result.contact_id: None for result in results if result.gone}
            if gone:  # deleted or merged away in the CRM: out of the funnel, the SLA timers and the sweeps now
                self.store.write_page(self.ref, PageWrite(run_id=self.summary.run_id,
                                                          rules_version=self.rules.version, tombstones=gone))
                self.summary.deleted += len(gone)
            self.summary.pushed += tally.pushed
            self.summary.push_failed += tally.failed
            self.summary.fields_written += tally.fields_written
            self.summary.kept += tally.kept
            for result in results:  # the id and code only: the CRM's message may quote the record's values
                if not result.ok and result.error is not None:
                    self.log.warning("push_record_failed", contact_id=result.contact_id, code=result.error.code,
                                     retryable=result.error.retryable)
            self.event("push_batch_recorded", batch=len(updates), retried=tally.retried, rejected=tally.rejected,
                       kept=tally.kept)

    def _plan_pending(self, batch: Sequence[PendingUpdate]) -> None:
        """A dry run shows outbox rows as writes too (they would be pushed), unless this run decided otherwise."""
        for pending in batch:
            for name, value in pending.values.items():
                if self.plan is not None:
                    self.plan.add(FieldDiff(self.ref.crm, self.ref.account, pending.contact_id, name,
                                            pending.previous.get(name), value, pending=True), replace=False)

    # --- rescoring from snapshots ---

    def rescore(self, *, due_by: datetime | None = None, not_version: str | None = None,
                ids: Sequence[str] | None = None) -> int:
        """Decide again, from their snapshots, the contacts due for review / decided by other rules / named."""
        after: str | None = None
        count = 0
        while True:
            self.checkpoint()
            chunk = self.store.snapshots(self.ref, after=after, limit=self.options.rescore_chunk, due_by=due_by,
                                         not_version=not_version, ids=ids)
            if not chunk:
                return count
            after = chunk[-1][0].id
            contacts = [contact for contact, _ in chunk]
            if self.plan is not None:  # nothing was written, so the store still shows them as stale
                contacts = [c for c in contacts if c.id not in self.planned_ids]
            self.decide(contacts)
            count += len(chunk)
            self.event("rescore_chunk_committed", chunk=len(chunk))
            self.push_pending()

    # --- closing ---

    def finish(self) -> RunSummary:
        summary = self.summary
        now = self.clock.now()
        if self.plan is None:
            summary.breaches_open = self.store.count_open_breaches(self.ref)
            self._record_health(now)  # before the calls are counted: the health check is this run's call too
            self._record_problems(now)
        # every call since the previous summary: this run's setup, pull, push and health check
        summary.api_calls = call_accounting.settle(self.connector, self._calls_before) or summary.api_calls
        if self.plan is not None:  # what the summary would say had the run been written: it agrees with the plan
            decided = {cid: hit for (crm, account, cid), hit in self.plan.breached.items()
                       if (crm, account) == (self.ref.crm, self.ref.account)}
            stored = {b.contact_id for b in self.store.open_breaches(self.ref) if b.contact_id not in decided}
            summary.breaches_open = len(stored) + sum(decided.values())
        summary.finished_at = now
        if summary.outcome is RunOutcome.OK and (summary.errors or summary.push_failed):
            summary.outcome = RunOutcome.PARTIAL
        return summary

    def _record_problems(self, now: datetime) -> None:
        """The records with problems now, and the setup warnings as the connector reports them at the end."""
        try:
            self.summary.setup_warnings = problem_records.record_setup_warnings(
                self.store, self.connector, now=now, run_id=self.summary.run_id)
            self.summary.record_problems = problem_records.open_counts(self.store, self.ref)
        except Exception as exc:  # noqa: BLE001 (the run's own work is durable: a report must not fail it)
            self.log.warning("record_problems_not_counted", error=type(exc).__name__)

    def _record_health(self, now: datetime) -> None:
        interval = self.options.health_interval
        if interval is None or self.summary.outcome is not RunOutcome.OK:
            return
        last = self.store.health(self.ref)
        if last is not None and now - last.checked_at < interval:
            return
        try:
            self.store.record_health(self.ref, self.connector.health())
        except Exception as exc:  # noqa: BLE001 (a health check must never turn a good run into a failed one)
            self.log.warning("health_check_failed", error=type(exc).__name__, message=str(exc))
