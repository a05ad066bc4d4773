"""The state store read for the report and for calibration: plain records, read-only queries.

Kept apart from `StateStore` (whose API is what a sync needs to be crash-safe) so the report's questions do
not grow the store's class; these functions only SELECT, except `save_calibration`, which appends a row.
Every function takes the accounts to read (None: all of them).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, func, insert, or_, select, true

from sync.model import Contact
from sync.state.records import AccountRef
from sync.state.store import StateStore
from sync.state.tables import CalibrationRow, ContactRow, HandoffRow, RunRow, SlaTimerRow, StageTransitionRow

Accounts = Sequence[AccountRef] | None


@dataclass(frozen=True, slots=True)
class Transition:
    crm: str
    account: str
    contact_id: str
    from_stage: str | None
    to_stage: str
    at: datetime
    basis: str
    rules_version: str
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class Handoff:
    crm: str
    account: str
    contact_id: str
    owner_id: str | None
    status: str
    started_at: datetime
    due_at: datetime | None
    touched_at: datetime | None
    touched_by: str | None


@dataclass(frozen=True, slots=True)
class OpenBreach:
    crm: str
    account: str
    contact_id: str
    owner_id: str | None
    started_at: datetime | None
    due_at: datetime | None


@dataclass(frozen=True, slots=True)
class RunVersion:
    crm: str
    account: str
    started_at: datetime
    rules_version: str


@dataclass(frozen=True, slots=True)
class StoredCalibration:
    created_at: datetime
    period_start: datetime
    period_end: datetime
    rules_version: str
    proposed_version: str | None
    result: dict[str, Any]


def _where(table: Any, accounts: Accounts) -> Any:
    if accounts is None:
        return true()
    if not accounts:
        return false()
    return or_(*(and_(table.crm == ref.crm, table.account == ref.account) for ref in accounts))


def accounts(store: StateStore) -> list[AccountRef]:
    """Every account the store holds contacts or runs of."""
    with store.engine.connect() as conn:
        found = set(conn.execute(select(ContactRow.crm, ContactRow.account).distinct()).all())
        found.update(conn.execute(select(RunRow.crm, RunRow.account).distinct()).all())
    return sorted(AccountRef(crm, account) for crm, account in found)


def stages_now(store: StateStore, selected: Accounts = None) -> dict[AccountRef, dict[str, int]]:
    """Managed contacts per stage of their last decision, per account (the funnel now)."""
    out: dict[AccountRef, dict[str, int]] = defaultdict(dict)
    with store.engine.connect() as conn:
        for crm, account, stage, count in conn.execute(
                select(ContactRow.crm, ContactRow.account, ContactRow.stage, func.count())
                .where(ContactRow.tombstoned_at.is_(None), _where(ContactRow, selected))
                .group_by(ContactRow.crm, ContactRow.account, ContactRow.stage)):
            out[AccountRef(crm, account)][stage or "undecided"] = int(count)
    return dict(out)


def scores_by_stage(store: StateStore, selected: Accounts = None) -> dict[AccountRef, dict[str, list[int]]]:
    """The last decided score of every managed contact, by account and stage."""
    out: dict[AccountRef, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    with store.engine.connect() as conn:
        for crm, account, stage, score in conn.execute(
                select(ContactRow.crm, ContactRow.account, ContactRow.stage, ContactRow.score)
                .where(ContactRow.tombstoned_at.is_(None), ContactRow.score.is_not(None),
                       _where(ContactRow, selected))):
            out[AccountRef(crm, account)][stage or "undecided"].append(int(score))
    return {ref: dict(stages) for ref, stages in out.items()}


def versions_now(store: StateStore, selected: Accounts = None) -> dict[AccountRef, dict[str, int]]:
    """Managed contacts per rules version of their last decision, per account."""
    out: dict[AccountRef, dict[str, int]] = defaultdict(dict)
    with store.engine.connect() as conn:
        for crm, account, version, count in conn.execute(
                select(ContactRow.crm, ContactRow.account, ContactRow.rules_version, func.count())
                .where(ContactRow.tombstoned_at.is_(None), _where(ContactRow, selected))
                .group_by(ContactRow.crm, ContactRow.account, ContactRow.rules_version)):
            out[AccountRef(crm, account)][version or "-"] = int(count)
    return dict(out)


def transitions(store: StateStore, selected: Accounts = None, *, until: datetime | None = None) -> list[Transition]:
    """Stage transitions dated at or before `until`, per contact in time order."""
    query = select(StageTransitionRow).where(_where(StageTransitionRow, selected))
    if until is not None:
        query = query.where(StageTransitionRow.at <= until)
    query = query.order_by(StageTransitionRow.crm, StageTransitionRow.account, StageTransitionRow.contact_id,
                           StageTransitionRow.at, StageTransitionRow.id)
    with store.engine.connect() as conn:
        return [Transition(r.crm, r.account, r.contact_id, r.from_stage, r.to_stage, r.at, r.basis,
                           r.rules_version, r.decided_at) for r in conn.execute(query)]


def handoffs(store: StateStore, selected: Accounts = None) -> list[Handoff]:
    """Every recorded hand-off; of a contact's clocks still `running`, only its latest is kept (an earlier
    one that never finished was replaced by a new qualification)."""
    query = select(HandoffRow).where(_where(HandoffRow, selected)).order_by(
        HandoffRow.crm, HandoffRow.account, HandoffRow.contact_id, HandoffRow.started_at)
    with store.engine.connect() as conn:
        rows = [Handoff(r.crm, r.account, r.contact_id, r.owner_id, r.status, r.started_at, r.due_at, r.touched_at,
                        r.touched_by) for r in conn.execute(query)]
    latest = {(h.crm, h.account, h.contact_id): h.started_at for h in rows}
    return [h for h in rows if h.status != "running" or latest[(h.crm, h.account, h.contact_id)] == h.started_at]


def open_breaches(store: StateStore, selected: Accounts = None) -> list[OpenBreach]:
    """Contacts whose current SLA clock is breached, oldest due time first, with the owner of the hand-off."""
    query = (select(SlaTimerRow.crm, SlaTimerRow.account, SlaTimerRow.contact_id, SlaTimerRow.started_at,
                    SlaTimerRow.due_at, HandoffRow.owner_id)
             .outerjoin(HandoffRow, and_(HandoffRow.crm == SlaTimerRow.crm, HandoffRow.account == SlaTimerRow.account,
                                         HandoffRow.contact_id == SlaTimerRow.contact_id,
                                         HandoffRow.started_at == SlaTimerRow.started_at))
             .where(SlaTimerRow.status == "breached", _where(SlaTimerRow, selected))
             .order_by(SlaTimerRow.due_at, SlaTimerRow.crm, SlaTimerRow.account, SlaTimerRow.contact_id))
    with store.engine.connect() as conn:
        return [OpenBreach(r.crm, r.account, r.contact_id, r.owner_id, r.started_at, r.due_at)
                for r in conn.execute(query)]


def run_versions(store: StateStore, selected: Accounts = None, *, since: datetime | None = None) -> list[RunVersion]:
    """The rules version of every run, oldest first (the last run before `since` included, so a change at
    the start of the period is seen)."""
    query = select(RunRow.crm, RunRow.account, RunRow.started_at, RunRow.rules_version).where(
        _where(RunRow, selected))
    with store.engine.connect() as conn:
        rows = [RunVersion(*row) for row in conn.execute(query.order_by(RunRow.started_at, RunRow.run_id))]
    if since is None:
        return rows
    before: dict[tuple[str, str], RunVersion] = {}
    for row in rows:
        if row.started_at < since:
            before[(row.crm, row.account)] = row
    return sorted([*before.values(), *(r for r in rows if r.started_at >= since)], key=lambda r: r.started_at)


def contacts(store: StateStore, selected: Accounts = None, *, chunk: int = 500) -> Iterator[Contact]:
    """Every managed contact's last snapshot, streamed in chunks."""
    for ref in selected if selected is not None else accounts(store):
        after: str | None = None
        while batch := store.snapshots(ref, after=after, limit=chunk):
            for contact, _memory in batch:
                yield contact
            after = batch[-1][0].id


def save_calibration(store: StateStore, *, created_at: datetime, period_start: datetime, period_end: datetime,
                     rules_version: str, proposed_version: str | None, result: dict[str, Any]) -> None:
    with store.engine.begin() as conn:
        conn.execute(insert(CalibrationRow), [{
            "created_at": created_at, "period_start": period_start, "period_end": period_end,
            "rules_version": rules_version, "proposed_version": proposed_version,
            "result": json.dumps(result, ensure_ascii=False, sort_keys=True)}])


def latest_calibration(store: StateStore) -> StoredCalibration | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(CalibrationRow).order_by(CalibrationRow.created_at.desc(),
                                                          CalibrationRow.id.desc()).limit(1)).first()
    if row is None:
        return None
    return StoredCalibration(row.created_at, row.period_start, row.period_end, row.rules_version,
                             row.proposed_version, json.loads(row.result))


def select_accounts(store: StateStore, wanted: Iterable[str]) -> list[AccountRef]:
    """The stored accounts named by `wanted` (each `CRM/ACCOUNT`, an account name, or a CRM name)."""
    names = list(wanted)
    known = accounts(store)
    return [ref for ref in known if any(name in (str(ref), ref.account, ref.crm) for name in names)]


__all__ = ["Handoff", "OpenBreach", "RunVersion", "StoredCalibration", "Transition", "accounts", "contacts",
           "handoffs", "latest_calibration", "open_breaches", "run_versions", "save_calibration",
           "scores_by_stage", "select_accounts", "stages_now", "transitions", "versions_now"]
