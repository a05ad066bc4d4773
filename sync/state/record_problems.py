"""The records crmsync could not read or the CRM refused for good, and the setup problems that switch a
feature off: what `crmsync status` lists and the metrics count, per account.

A bad record never stops a page or a push batch (the connectors isolate it); it must not disappear either.
So each is kept here as it stands, one row per (source, object, record, field), with when it was first and
last seen: a pull that reads the record cleanly deletes its pull rows, a push the CRM takes deletes its push
rows. Rows carry the connector's reason or the CRM's message, never a value read from the record: a push's
message is stored here for the admin who lists it, and is never logged.

Every write is idempotent (an upsert, a delete), so a page re-read after a crash records the same rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from sync.contract import SetupWarning
from sync.spill import chunks
from sync.state.leases import check_fence
from sync.state.records import AccountRef
from sync.state.tables import ID, NAME, RecordProblemRow, SetupWarningRow, of_account

PULL = "pull"
PUSH = "push"
PUSHED_OBJECT = "contact"  # what the engine pushes: the connector's own object type is not known there
CONTACT_TYPES = frozenset({"contact", "lead", "person"})  # the people a pull emits, in each CRM's words
DEAL_TYPES = frozenset({"deal", "opportunity"})
_WHAT_MAX = 500
_NAME_MAX = NAME.length or 64
_ID_MAX = ID.length or 255


@dataclass(frozen=True, slots=True)
class StoredProblem:
    """One record problem as `crmsync status` shows it."""

    crm: str
    account: str
    source: str  # pull | push
    object_type: str
    record_id: str
    field: str  # "" for the whole record
    reason: str
    code: str | None
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class NewProblem:
    """One problem to record: `field` None is the whole record."""

    object_type: str
    record_id: str
    field: str | None
    reason: str
    code: str | None = None


@dataclass(frozen=True, slots=True)
class ReadCleanly:
    """The records one pull page read without a problem, by kind: what clears their earlier pull problems."""

    contacts: frozenset[str] = frozenset()
    deals: frozenset[str] = frozenset()
    activities: frozenset[str] = frozenset()


def _insert(conn: Connection) -> Any:
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


class ProblemLedger:
    """Record problems and setup warnings of every account, on the state store's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- record problems ---------------------------------------------------------------------------------

    def record(self, ref: AccountRef, source: str, problems: Sequence[NewProblem], *, run_id: str,
               now: datetime) -> None:
        """Add or refresh problems (first seen stays, last seen and the reason move on)."""
        if not problems:
            return
        rows = {(p.object_type[:_NAME_MAX], p.record_id[:_ID_MAX], (p.field or "")[:_ID_MAX]): p
                for p in problems}
        with self.engine.begin() as conn:
            check_fence(conn)  # with replicas: only the account's owner writes
            stmt = _insert(conn)(RecordProblemRow)
            upsert = stmt.on_conflict_do_update(
                index_elements=["crm", "account", "source", "object_type", "record_id", "field"],
                set_={"reason": stmt.excluded.reason, "code": stmt.excluded.code,
                      "last_seen": stmt.excluded.last_seen, "run_id": stmt.excluded.run_id})
            for chunk in chunks(list(rows.items())):
                conn.execute(upsert, [{"crm": ref.crm, "account": ref.account, "source": source,
                                       "object_type": object_type, "record_id": record_id, "field": field,
                                       "reason": problem.reason, "code": (problem.code or None) and
                                       problem.code[:_NAME_MAX], "first_seen": now, "last_seen": now,
                                       "run_id": run_id}
                                      for (object_type, record_id, field), problem in chunk])

    def clear_read(self, ref: AccountRef, read: ReadCleanly) -> None:
        """Forget the pull problems of records a page read cleanly (a record that became readable)."""
        row = RecordProblemRow
        with self.engine.begin() as conn:
            check_fence(conn)  # with replicas: only the account's owner writes
            for ids, kinds in ((read.contacts, row.object_type.in_(CONTACT_TYPES)),
                               (read.deals, row.object_type.in_(DEAL_TYPES)),
                               (read.activities, row.object_type.not_in(CONTACT_TYPES | DEAL_TYPES))):
                for chunk in chunks(sorted(ids)):
                    conn.execute(delete(row).where(of_account(RecordProblemRow, ref), row.source == PULL, kinds,
                                                   row.record_id.in_(chunk)))

    def clear_pushed(self, ref: AccountRef, contact_ids: Iterable[str]) -> None:
        """Forget the push problems of contacts the CRM has now taken (or that are gone from it)."""
        with self.engine.begin() as conn:
            check_fence(conn)  # with replicas: only the account's owner writes
            for chunk in chunks(sorted(set(contact_ids))):
                conn.execute(delete(RecordProblemRow).where(of_account(RecordProblemRow, ref), RecordProblemRow.source == PUSH,
                                                            RecordProblemRow.record_id.in_(chunk)))

    def problems(self, ref: AccountRef | None = None, *, limit: int | None = None) -> list[StoredProblem]:
        """Problems, most recently seen first."""
        query = select(RecordProblemRow)
        if ref is not None:
            query = query.where(of_account(RecordProblemRow, ref))
        query = query.order_by(RecordProblemRow.last_seen.desc(), RecordProblemRow.crm, RecordProblemRow.account,
                               RecordProblemRow.record_id, RecordProblemRow.field)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [StoredProblem(crm=r.crm, account=r.account, source=r.source, object_type=r.object_type,
                              record_id=r.record_id, field=r.field, reason=r.reason, code=r.code,
                              first_seen=r.first_seen, last_seen=r.last_seen) for r in rows]

    def size(self) -> int:
        """Rows of every account (a record with two bad fields is two rows)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(RecordProblemRow)).scalar_one())

    def counts(self, ref: AccountRef | None = None) -> dict[AccountRef, Counter[str]]:
        """Records with problems per account and source (a record with two bad fields counts once)."""
        records = (select(RecordProblemRow.crm, RecordProblemRow.account, RecordProblemRow.source,
                          RecordProblemRow.object_type, RecordProblemRow.record_id).distinct())
        if ref is not None:
            records = records.where(of_account(RecordProblemRow, ref))
        sub = records.subquery()
        query = select(sub.c.crm, sub.c.account, sub.c.source, func.count()).group_by(
            sub.c.crm, sub.c.account, sub.c.source)
        out: dict[AccountRef, Counter[str]] = {}
        with self.engine.connect() as conn:
            for crm, account, source, count in conn.execute(query):
                out.setdefault(AccountRef(crm, account), Counter())[source] = int(count)
        return out

    # --- setup warnings ----------------------------------------------------------------------------------

    def replace_warnings(self, ref: AccountRef, warnings: Iterable[SetupWarning], *,
                         now: datetime) -> list[SetupWarning]:
        """Make the account's stored warnings these; returns those that were not stored before (to log)."""
        wanted = {w.what[:_WHAT_MAX]: SetupWarning(w.what[:_WHAT_MAX], w.lost, w.enable) for w in warnings}
        with self.engine.begin() as conn:
            check_fence(conn)  # with replicas: only the account's owner writes
            held = {r.what: SetupWarning(r.what, r.lost, r.enable) for r in conn.execute(
                select(SetupWarningRow).where(and_(SetupWarningRow.crm == ref.crm,
                                                   SetupWarningRow.account == ref.account)))}
            gone = [what for what, warning in held.items() if wanted.get(what) != warning]
            if gone:
                conn.execute(delete(SetupWarningRow).where(
                    SetupWarningRow.crm == ref.crm, SetupWarningRow.account == ref.account,
                    SetupWarningRow.what.in_(gone)))
            new = [warning for what, warning in wanted.items() if held.get(what) != warning]
            if new:
                conn.execute(_insert(conn)(SetupWarningRow), [
                    {"crm": ref.crm, "account": ref.account, "what": what, "lost": warning.lost,
                     "enable": warning.enable, "since": now}
                    for what, warning in wanted.items() if held.get(what) != warning])
        return new

    def warnings(self, ref: AccountRef | None = None) -> list[tuple[AccountRef, SetupWarning, datetime]]:
        query = select(SetupWarningRow)
        if ref is not None:
            query = query.where(of_account(SetupWarningRow, ref))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(SetupWarningRow.crm, SetupWarningRow.account,
                                               SetupWarningRow.what)).all()
        return [(AccountRef(r.crm, r.account), SetupWarning(r.what, r.lost, r.enable), r.since) for r in rows]

