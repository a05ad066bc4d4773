"""The state store: one class, one typed API, one transaction per durable step.

What the sync cycle needs to be crash-safe lives here: `write_page` makes a
page's snapshots, memories, decisions, outbox rows and cursor durable together
(the cursor never runs ahead of what it depends on), and `record_push` turns
CRM results into last-pushed values, audit rows and outbox deletions in one
transaction, deleting an outbox row only if it still holds the version that
was pushed. `fault` is a test seam: it is called with a named point around
each commit so tests can crash the store exactly there. With replicas, every write transaction of an
account run also checks the run's lease (`_writing`, `sync.state.leases`).

Over 450 lines on purpose: the durable steps and the queries that read them back share one class so each
transaction's rows sit beside each other (what commits with what is easier to audit together); what stands
apart (report history, record problems and setup warnings, leases: `sync.state.history`,
`sync.state.record_problems`, `sync.state.leases`) lives in its own module.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Self

import msgspec
from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL

from sync.clock import Clock, SystemClock
from sync.contract import FieldValue, Health
from sync.daemon.report import RunOutcome, RunSummary
from sync.model import Contact, decode_contact, encode
from sync.rules.decision import ContactMemory
from sync.spill import chunks
from sync.state import migrate
from sync.state.engine import StoreTimeouts, make_engine
from sync.state.history import record_history
from sync.state.record_problems import ProblemLedger
from sync.state.leases import check_fence, current_fence
from sync.state.records import (
    CONTACTS_STREAM,
    AccountRef,
    AuditEntry,
    Breach,
    Classification,
    ContactState,
    HealthRecord,
    PageWrite,
    PendingUpdate,
    PushOutcome,
    PushTally,
    Rejection,
    RunRecord,
    rejected_for_good,
)
from sync.state.tables import (
    AuditRow,
    ContactRow,
    CursorRow,
    HandoffRow,
    HealthRow,
    OutboxRow,
    PushedRow,
    RecordProblemRow,
    RejectionRow,
    ReminderRow,
    RunRow,
    SetupWarningRow,
    SlaTimerRow,
    StageTransitionRow,
    of_account,
)
from sync.state.values import decode_value, encode_value

_memory_decoder = msgspec.json.Decoder(ContactMemory)


def _no_fault(_point: str) -> None:
    return None


def _by_version(statement: Any) -> Any:
    """An outbox statement keyed by (account, contact, field, version), for executemany: a batch of results
    becomes one round trip instead of one per field."""
    return statement.where(
        OutboxRow.crm == bindparam("k_crm"), OutboxRow.account == bindparam("k_account"),
        OutboxRow.contact_id == bindparam("k_contact"), OutboxRow.field == bindparam("k_field"),
        OutboxRow.version == bindparam("k_version"))


_DELETE_VERSION = _by_version(delete(OutboxRow))
_RETRY_VERSION = _by_version(update(OutboxRow)).values(attempts=OutboxRow.attempts + 1,
                                                          last_error=bindparam("k_error"))


def _version_keys(ref: AccountRef, pending: PendingUpdate, **extra: Any) -> list[dict[str, Any]]:
    return [{"k_crm": ref.crm, "k_account": ref.account, "k_contact": pending.contact_id, "k_field": name,
             "k_version": version, **extra} for name, version in pending.versions.items()]


class StateStore:
    """Cursors, snapshots, last pushed values, outbox, SLA timers, audit log, run history and health."""

    def __init__(self, url: str | URL, *, clock: Clock | None = None, migrate_schema: bool = True,
                 fault: Callable[[str], None] | None = None, timeouts: StoreTimeouts | None = None) -> None:
        self.engine = make_engine(url, timeouts)
        self.clock = clock or SystemClock()
        self._fault = fault or _no_fault
        if migrate_schema:
            migrate.upgrade(self.engine)
        self.record_problems = ProblemLedger(self.engine)  # bad records and setup warnings, per account

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction of an account run: refused with `LeaseLost` when the run's replica no longer
        holds the account (`sync.state.leases`); a plain transaction where no lease is in play."""
        with self.engine.begin() as conn:
            check_fence(conn)
            yield conn

    def check_lease(self) -> None:
        """Raise `LeaseLost` if this thread's run no longer holds its account: asked before each push batch."""
        if current_fence() is not None:
            with self.engine.begin() as conn:
                check_fence(conn)

    def schema_revision(self) -> str | None:
        """The migration the database is at; None for a database crmsync never touched."""
        return migrate.current_revision(self.engine)

    # --- dialect helpers -------------------------------------------------------------------------------

    def _upsert(self, conn: Connection, table: Any, rows: list[dict[str, Any]], keys: list[str],
                updates: dict[str, Any] | None = None) -> None:
        if not rows:
            return
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        stmt = dialect_insert(table)
        columns = updates if updates is not None else {
            name: stmt.excluded[name] for name in rows[0] if name not in keys}
        conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=columns), rows)

    # --- cursors ---------------------------------------------------------------------------------------

    def cursor(self, ref: AccountRef, stream: str = CONTACTS_STREAM) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(CursorRow.cursor).where(
                of_account(CursorRow, ref), CursorRow.stream == stream)).scalar_one_or_none()

    # --- the page transaction ---------------------------------------------------------------------------

    def contact_states(self, ref: AccountRef, ids: Iterable[str]) -> dict[str, ContactState]:
        """Memory, last pushed and pending values of these contacts (absent ones get an empty state)."""
        wanted = list(dict.fromkeys(ids))
        memories: dict[str, ContactMemory] = {}
        pushed: dict[str, dict[str, str]] = defaultdict(dict)
        pending: dict[str, dict[str, str]] = defaultdict(dict)
        with self.engine.connect() as conn:
            for chunk in chunks(wanted):
                for cid, memory in conn.execute(select(ContactRow.contact_id, ContactRow.memory).where(
                        of_account(ContactRow, ref), ContactRow.contact_id.in_(chunk))):
                    memories[cid] = _memory_decoder.decode(memory)
                for cid, name, value in conn.execute(select(PushedRow.contact_id, PushedRow.field, PushedRow.value)
                                                     .where(of_account(PushedRow, ref), PushedRow.contact_id.in_(chunk))):
                    pushed[cid][name] = value
                for cid, name, value in conn.execute(select(OutboxRow.contact_id, OutboxRow.field, OutboxRow.value)
                                                     .where(of_account(OutboxRow, ref), OutboxRow.contact_id.in_(chunk))):
                    pending[cid][name] = value
        return {cid: ContactState(memory=memories.get(cid), pushed=dict(pushed.get(cid, {})),
                                  pending=dict(pending.get(cid, {}))) for cid in wanted}

    def write_page(self, ref: AccountRef, write: PageWrite) -> None:
        """Snapshots, memories, decisions, SLA timers, tombstones, outbox changes and (optionally) the cursor,
        in ONE transaction."""
        now = self.clock.now()
        with self._writing() as conn:
            # rows built and sent 500 contacts at a time (`chunks`), inside the one transaction: a page of 2,000
            # Salesforce parents as 26,000 outbox rows (and SQLAlchemy's bound parameters for all of them)
            # was the largest allocation of a sync
            for decided in chunks(write.decided):
                contacts, timers = [], []
                for item in decided:
                    d, c = item.decision, item.contact
                    contacts.append({
                        "crm": ref.crm, "account": ref.account, "contact_id": c.id,
                        "snapshot": encode(c).decode(), "memory": encode(d.memory).decode(),
                        "crm_updated_at": c.updated_at, "stage": d.stage.value, "score": d.score,
                        "maturity": d.maturity.value if d.maturity else None,
                        "client_kind": d.client_kind.value if d.client_kind else None,
                        "rules_version": d.rules_version, "sla_status": d.sla.status.value,
                        "sla_due_at": d.sla.due_at, "next_review_at": item.next_review_at, "decided_at": now,
                        "seen_at": now, "tombstoned_at": None, "merged_into": None,
                    })
                    timers.append({
                        "crm": ref.crm, "account": ref.account, "contact_id": c.id, "status": d.sla.status.value,
                        "started_at": d.sla.started_at, "due_at": d.sla.due_at, "touched_at": d.sla.touched_at,
                        "touched_by": d.sla.touched_by, "updated_at": now,
                    })
                record_history(conn, ref, decided, run_id=write.run_id, now=now)  # reads the stages replaced
                self._upsert(conn, ContactRow, contacts, ["crm", "account", "contact_id"])
                self._upsert(conn, SlaTimerRow, timers, ["crm", "account", "contact_id"])
            gone = list(write.tombstones)
            for cid, survivor in write.tombstones.items():
                conn.execute(update(ContactRow).where(of_account(ContactRow, ref), ContactRow.contact_id == cid)
                             .values(tombstoned_at=now, merged_into=survivor, next_review_at=None))
            for chunk in chunks(gone):
                conn.execute(delete(OutboxRow).where(of_account(OutboxRow, ref), OutboxRow.contact_id.in_(chunk)))
                conn.execute(delete(SlaTimerRow).where(of_account(SlaTimerRow, ref), SlaTimerRow.contact_id.in_(chunk)))
            for cid, names in write.cancel.items():
                conn.execute(delete(OutboxRow).where(of_account(OutboxRow, ref), OutboxRow.contact_id == cid,
                                                     OutboxRow.field.in_(names)))
            stmt = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(OutboxRow)
            on_conflict = {"value": stmt.excluded.value, "version": OutboxRow.version + 1,
                           "rules_version": stmt.excluded.rules_version, "run_id": stmt.excluded.run_id,
                           "created_at": stmt.excluded.created_at, "attempts": 0, "last_error": None}
            for enqueued in chunks(sorted(write.enqueue.items())):  # key order: concurrent writers cannot deadlock
                rows = [{"crm": ref.crm, "account": ref.account, "contact_id": cid, "field": name,
                         "value": encode_value(value), "version": 1, "rules_version": write.rules_version,
                         "run_id": write.run_id, "created_at": now, "attempts": 0, "last_error": None}
                        for cid, values in enqueued for name, value in values.items()]
                self._upsert(conn, OutboxRow, rows, ["crm", "account", "contact_id", "field"], on_conflict)
            if write.advance_cursor:
                self._upsert(conn, CursorRow, [{
                    "crm": ref.crm, "account": ref.account, "stream": write.stream, "cursor": write.cursor,
                    "updated_at": now}], ["crm", "account", "stream"])
            self._fault("write_page:before_commit")
        self._fault("write_page:after_commit")

    # --- the outbox ------------------------------------------------------------------------------------

    def pending_updates(self, ref: AccountRef, *, after: str | None = None, limit: int = 100) -> list[PendingUpdate]:
        """Up to `limit` contacts with pending writes, in contact id order after `after` (keyset paging)."""
        with self.engine.connect() as conn:
            query = select(OutboxRow.contact_id).where(of_account(OutboxRow, ref)).distinct()
            if after is not None:
                query = query.where(OutboxRow.contact_id > after)
            ids = list(conn.execute(query.order_by(OutboxRow.contact_id).limit(limit)).scalars())
            if not ids:
                return []
            rows = conn.execute(select(OutboxRow.contact_id, OutboxRow.field, OutboxRow.value, OutboxRow.version,
                                       OutboxRow.attempts, OutboxRow.rules_version)
                                .where(of_account(OutboxRow, ref), OutboxRow.contact_id.in_(ids))).all()
            before = conn.execute(select(PushedRow.contact_id, PushedRow.field, PushedRow.value)
                                  .where(of_account(PushedRow, ref), PushedRow.contact_id.in_(ids))).all()
        previous: dict[str, dict[str, FieldValue]] = defaultdict(dict)
        for cid, name, value in before:
            previous[cid][name] = decode_value(value)
        grouped: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            grouped[row.contact_id].append(row)
        out = []
        for cid in ids:
            items = sorted(grouped[cid], key=lambda r: r.field)
            out.append(PendingUpdate(
                contact_id=cid,
                values={r.field: decode_value(r.value) for r in items},
                versions={r.field: r.version for r in items},
                previous={r.field: previous[cid][r.field] for r in items if r.field in previous[cid]},
                attempts=max(r.attempts for r in items),
                rules_version=max(r.rules_version for r in items),
            ))
        return out

    def outbox_size(self, ref: AccountRef) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(OutboxRow).where(
                of_account(OutboxRow, ref))).scalar_one())

    def record_push(self, ref: AccountRef, outcomes: Sequence[PushOutcome], *, run_id: str,
                    max_attempts: int) -> PushTally:
        """Record one batch of results in one transaction: last pushed values and audit rows for what the CRM
        took, compare-and-delete of the outbox, attempt counts for retryable errors, rejections for the rest."""
        now = self.clock.now()
        pushed = failed = written_count = retried = rejected = kept = 0
        with self._writing() as conn:
            pushed_rows: list[dict[str, Any]] = []
            audit_rows: list[dict[str, Any]] = []
            rejection_rows: list[dict[str, Any]] = []
            deletes: list[dict[str, Any]] = []
            retries: list[dict[str, Any]] = []
            for outcome in outcomes:
                update_, result = outcome.update, outcome.result
                cid = update_.contact_id
                if result.ok:
                    pushed += 1
                    accepted = set(result.written) if result.written else set(update_.values)
                    for name, value in update_.values.items():
                        text = encode_value(value)
                        pushed_rows.append({"crm": ref.crm, "account": ref.account, "contact_id": cid, "field": name,
                                            "value": text, "pushed_at": now, "run_id": run_id})
                        if name in accepted:
                            written_count += 1
                            audit_rows.append({
                                "crm": ref.crm, "account": ref.account, "contact_id": cid, "field": name,
                                "before": encode_value(update_.previous[name]) if name in update_.previous else None,
                                "after": text, "rules_version": update_.rules_version, "run_id": run_id,
                                "at": now, "outcome": "written"})
                    for name in sorted(set(result.kept) & set(update_.values)):  # done too: never sent again
                        kept += 1
                        audit_rows.append({
                            "crm": ref.crm, "account": ref.account, "contact_id": cid, "field": name,
                            "before": encode_value(update_.previous[name]) if name in update_.previous else None,
                            "after": encode_value(update_.values[name]), "rules_version": update_.rules_version,
                            "run_id": run_id, "at": now, "outcome": "kept"})
                    deletes += _version_keys(ref, update_)
                    continue
                failed += 1
                error = result.error
                message = error.message if error else "the CRM gave no reason"
                if not rejected_for_good(result.error, update_.attempts, max_attempts):
                    retried += 1
                    retries += _version_keys(ref, update_, k_error=message)
                    continue
                rejected += 1
                code = error.code if error and not error.retryable else "attempts_exhausted"
                deletes += _version_keys(ref, update_)
                rejection_rows.append({
                    "crm": ref.crm, "account": ref.account, "contact_id": cid, "fields": ";".join(update_.values),
                    "code": code[:64], "message": message, "run_id": run_id, "at": now})
            pushed_rows.sort(key=lambda row: (row["contact_id"], row["field"]))  # rows locked in key order
            self._upsert(conn, PushedRow, pushed_rows, ["crm", "account", "contact_id", "field"])
            deletes.sort(key=lambda row: (row["k_contact"], row["k_field"]))
            retries.sort(key=lambda row: (row["k_contact"], row["k_field"]))
            for statement, rows in ((insert(AuditRow), audit_rows), (insert(RejectionRow), rejection_rows),
                                    (_DELETE_VERSION, deletes), (_RETRY_VERSION, retries)):
                if rows:
                    conn.execute(statement, rows)
            self._fault("record_push:before_commit")
        self._fault("record_push:after_commit")
        return PushTally(pushed=pushed, failed=failed, fields_written=written_count, retried=retried,
                         rejected=rejected, kept=kept)

    # --- snapshots -------------------------------------------------------------------------------------

    def snapshots(self, ref: AccountRef, *, after: str | None = None, limit: int = 500,
                  due_by: datetime | None = None, not_version: str | None = None,
                  ids: Sequence[str] | None = None) -> list[tuple[Contact, ContactMemory]]:
        """Managed (not tombstoned) contacts in id order after `after`: all of them, those due for review by
        `due_by`, those decided by another rules version than `not_version`, or the given ids."""
        query = select(ContactRow.contact_id, ContactRow.snapshot, ContactRow.memory).where(
            of_account(ContactRow, ref), ContactRow.tombstoned_at.is_(None))
        if after is not None:
            query = query.where(ContactRow.contact_id > after)
        if due_by is not None:
            query = query.where(ContactRow.next_review_at <= due_by)
        if not_version is not None:
            query = query.where((ContactRow.rules_version != not_version) | ContactRow.rules_version.is_(None))
        if ids is not None:
            query = query.where(ContactRow.contact_id.in_(list(ids)))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(ContactRow.contact_id).limit(limit)).all()
        return [(decode_contact(row.snapshot), _memory_decoder.decode(row.memory)) for row in rows]

    def managed_ids(self, ref: AccountRef, *, chunk: int = 5_000) -> Iterator[str]:
        """Every managed (not tombstoned) contact id of an account, in id order, read `chunk` ids at a time: what
        a connector compares with the ids its CRM still holds (`sync.contract.ReconcilesDeletions`) without the
        whole account in memory."""
        after: str | None = None
        while True:
            query = select(ContactRow.contact_id).where(of_account(ContactRow, ref), ContactRow.tombstoned_at.is_(None))
            if after is not None:
                query = query.where(ContactRow.contact_id > after)
            with self.engine.connect() as conn:
                ids = list(conn.execute(query.order_by(ContactRow.contact_id).limit(chunk)).scalars())
            yield from ids
            if len(ids) < chunk:
                return
            after = ids[-1]

    def is_managed(self, ref: AccountRef, contact_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(ContactRow.contact_id).where(
                of_account(ContactRow, ref), ContactRow.contact_id == contact_id,
                ContactRow.tombstoned_at.is_(None))).first() is not None

    def last_pushed(self, ref: AccountRef, contact_id: str) -> dict[str, FieldValue]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(PushedRow.field, PushedRow.value).where(
                of_account(PushedRow, ref), PushedRow.contact_id == contact_id)).all()
        return {name: decode_value(value) for name, value in rows}

    # --- audit and rejections --------------------------------------------------------------------------

    def audit(self, ref: AccountRef, contact_id: str | None = None) -> list[AuditEntry]:
        query = select(AuditRow).where(of_account(AuditRow, ref))
        if contact_id is not None:
            query = query.where(AuditRow.contact_id == contact_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(AuditRow.id)).all()
        return [AuditEntry(contact_id=r.contact_id, field=r.field,
                           before=decode_value(r.before) if r.before is not None else None,
                           after=decode_value(r.after), rules_version=r.rules_version, run_id=r.run_id, at=r.at,
                           outcome=r.outcome)
                for r in rows]

    def rejections(self, ref: AccountRef) -> list[Rejection]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(RejectionRow).where(of_account(RejectionRow, ref))
                                .order_by(RejectionRow.id)).all()
        return [Rejection(contact_id=r.contact_id, fields=tuple(r.fields.split(";")), code=r.code, message=r.message,
                          run_id=r.run_id, at=r.at) for r in rows]

    # --- runs, health and the status view ----------------------------------------------------------------

    def record_run(self, summary: RunSummary, kind: str = "cycle") -> None:
        counts = {**summary.counts(), "fields_written": summary.fields_written, "kept": summary.kept,
                  "rate_limited": summary.rate_limited,
                  "api_calls": dict(summary.api_calls)}
        with self.engine.begin() as conn:
            conn.execute(insert(RunRow), [{
                "run_id": summary.run_id, "crm": summary.crm, "account": summary.account, "kind": kind,
                "started_at": summary.started_at, "finished_at": summary.finished_at,
                "outcome": summary.outcome.value, "counts": json.dumps(counts), "errors": json.dumps(summary.errors),
                "retry_at": summary.retry_at, "rules_version": summary.rules_version,
                "breaches_open": summary.breaches_open, "cursor_lag_seconds": summary.cursor_lag_seconds}])

    def runs(self, ref: AccountRef | None = None, *, latest_only: bool = False, limit: int = 100,
             kind: str | None = None) -> list[RunRecord]:
        """Run history, newest first; `latest_only` keeps the last run of each account; `kind` only those runs."""
        query = select(RunRow)
        if ref is not None:
            query = query.where(of_account(RunRow, ref))
        if kind is not None:
            query = query.where(RunRow.kind == kind)
        if latest_only:
            last = (select(RunRow.crm, RunRow.account, func.max(RunRow.started_at).label("at"))
                    .group_by(RunRow.crm, RunRow.account).subquery())
            query = query.join(last, and_(RunRow.crm == last.c.crm, RunRow.account == last.c.account,
                                          RunRow.started_at == last.c.at))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(RunRow.started_at.desc(), RunRow.run_id).limit(limit)).all()
        records = []
        for r in rows:
            counts = json.loads(r.counts)
            api_calls = Counter[str](counts.pop("api_calls", {}))
            records.append(RunRecord(
                run_id=r.run_id, crm=r.crm, account=r.account, kind=r.kind, started_at=r.started_at,
                finished_at=r.finished_at, outcome=RunOutcome(r.outcome), counts=counts, api_calls=api_calls,
                errors=json.loads(r.errors), retry_at=r.retry_at, rules_version=r.rules_version,
                breaches_open=r.breaches_open, cursor_lag_seconds=r.cursor_lag_seconds))
        return records

    def stage_counts(self) -> dict[AccountRef, dict[str, int]]:
        """Managed contacts per stage, per account."""
        out: dict[AccountRef, dict[str, int]] = defaultdict(dict)
        with self.engine.connect() as conn:
            for crm, account, stage, count in conn.execute(
                    select(ContactRow.crm, ContactRow.account, ContactRow.stage, func.count())
                    .where(ContactRow.tombstoned_at.is_(None))
                    .group_by(ContactRow.crm, ContactRow.account, ContactRow.stage)):
                out[AccountRef(crm, account)][stage or "undecided"] = int(count)
        return dict(out)

    def forget_account(self, ref: AccountRef) -> None:
        """Drop what the store knows of an account's CRM (cursors, snapshots, pushed values, outbox, SLA timers,
        health, the stage and hand-off history of its contacts, the SLA reminders owed, its record problems and
        setup warnings), keeping its history of runs, audit and rejections. For a sandbox account: its CRM is a
        new, freshly seeded one each time the process starts it, so the previous one's state would be wrong."""
        with self.engine.begin() as conn:
            for table in (CursorRow, ContactRow, PushedRow, OutboxRow, SlaTimerRow, HealthRow, StageTransitionRow,
                          HandoffRow, ReminderRow, RecordProblemRow, SetupWarningRow):
                conn.execute(delete(table).where(of_account(table, ref)))

    def classification_counts(self) -> dict[AccountRef, Counter[Classification]]:
        """Managed contacts per (stage, maturity, client kind, SLA status) of their last decision, per
        account: the funnel, the maturity of prospects and the kinds of clients in one grouped query."""
        out: dict[AccountRef, Counter[Classification]] = defaultdict(Counter)
        with self.engine.connect() as conn:
            for crm, account, stage, maturity, kind, sla, count in conn.execute(
                    select(ContactRow.crm, ContactRow.account, ContactRow.stage, ContactRow.maturity,
                           ContactRow.client_kind, ContactRow.sla_status, func.count())
                    .where(ContactRow.tombstoned_at.is_(None))
                    .group_by(ContactRow.crm, ContactRow.account, ContactRow.stage, ContactRow.maturity,
                              ContactRow.client_kind, ContactRow.sla_status)):
                out[AccountRef(crm, account)][Classification(stage, maturity, kind, sla)] += int(count)
        return dict(out)

    def contact_ids(self, ref: AccountRef, *, stage: str | None = None, sla_status: str | None = None,
                    limit: int = 10) -> list[str]:
        """Managed contacts of an account in id order, optionally those of one stage / SLA status (examples
        for an admin to look at)."""
        query = select(ContactRow.contact_id).where(of_account(ContactRow, ref), ContactRow.tombstoned_at.is_(None))
        if stage is not None:
            query = query.where(ContactRow.stage == stage)
        if sla_status is not None:
            query = query.where(ContactRow.sla_status == sla_status)
        with self.engine.connect() as conn:
            return list(conn.execute(query.order_by(ContactRow.contact_id).limit(limit)).scalars())

    def count_open_breaches(self, ref: AccountRef) -> int:
        """How many SLA breaches are open for an account: counted by the database, so a run's summary costs no
        memory however many there are (`open_breaches` lists them, for status and the report)."""
        query = select(func.count()).select_from(SlaTimerRow).where(SlaTimerRow.status == "breached",
                                                                      of_account(SlaTimerRow, ref))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def open_breaches(self, ref: AccountRef | None = None) -> list[Breach]:
        query = select(SlaTimerRow).where(SlaTimerRow.status == "breached")
        if ref is not None:
            query = query.where(of_account(SlaTimerRow, ref))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(SlaTimerRow.due_at, SlaTimerRow.contact_id)).all()
        return [Breach(crm=r.crm, account=r.account, contact_id=r.contact_id, started_at=r.started_at,
                       due_at=r.due_at) for r in rows]

    def record_health(self, ref: AccountRef, health: Health) -> None:
        budget = health.budget
        with self._writing() as conn:
            self._upsert(conn, HealthRow, [{
                "crm": ref.crm, "account": ref.account, "reachable": health.reachable,
                "authorised": health.authorised, "message": health.message,
                "budget_remaining": budget.remaining, "budget_limit": budget.limit, "budget_window": budget.window,
                "budget_resets_at": budget.resets_at, "checked_at": self.clock.now()}], ["crm", "account"])

    def health(self, ref: AccountRef) -> HealthRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(HealthRow).where(of_account(HealthRow, ref))).first()
        if row is None:
            return None
        return HealthRecord(reachable=row.reachable, authorised=row.authorised, message=row.message,
                            budget_remaining=row.budget_remaining, budget_limit=row.budget_limit,
                            budget_window=row.budget_window, budget_resets_at=row.budget_resets_at,
                            checked_at=row.checked_at)
