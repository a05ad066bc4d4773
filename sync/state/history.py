"""What the report needs from the past, recorded in the page transaction: stage transitions and SLA hand-offs.

The contacts table keeps only a contact's last decision and `sla_timers` only its current clock, so neither
can say how the funnel looked three weeks ago, how long prospects stayed prospects, or how an SLA ended once
the prospect became a client. `record_history` is called by `StateStore.write_page` inside its transaction,
for each chunk of decided contacts, BEFORE their rows are upserted (it reads the stage they had):

- a stage transition whenever the stage differs from the last decided one. A contact seen for the first time
  gets the path its data dates: a lead since its creation; a prospect since its hand-off (the SLA clock's
  start) after being a lead since its creation; a client since its first won deal closed; disqualified since
  its creation. Without a date in the data the time is the decision's (`first_seen`), and the report leaves
  such stays out of the time spent in a stage.
- every hand-off (one row per contact and clock start), updated as its SLA goes running -> met / late /
  breached, and never deleted: the history of SLA performance survives the contact moving on.

Nothing here reads the rules' internals: only the Decision (stage, score, SLA state, rules version) and the
contact's own dated facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timezone
from typing import Any

from sqlalchemy import Connection, and_, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from sync.model import Contact, DealStatus, Stage
from sync.rules.decision import Decision, SlaStatus
from sync.state.records import AccountRef, Decided
from sync.state.tables import ContactRow, HandoffRow, StageTransitionRow

OBSERVED = "observed"  # crmsync saw the stage change between two decisions: `at` is when it decided it
DATA = "data"  # the time comes from the CRM's data (creation, hand-off signal, won deal)
FIRST_SEEN = "first_seen"  # the stage a contact had when first seen, with no date in the data


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def deal_closed_at(deal: Any, now: datetime) -> datetime | None:
    """When a closed deal closed, as far as the CRM says: its close date (a date: midnight UTC), else its last
    update; never later than `now` (a won deal dated in the future closed at the latest now)."""
    when = None
    if deal.close_date is not None:
        when = datetime.combine(deal.close_date, time(0), tzinfo=timezone.utc)
    elif deal.updated_at is not None:
        when = _utc(deal.updated_at)
    return min(when, now) if when is not None else None


def first_won_at(contact: Contact, now: datetime) -> datetime | None:
    won = [deal_closed_at(d, now) for d in contact.deals if d.status == DealStatus.WON]
    dated = [w for w in won if w is not None]
    return min(dated) if dated else None


def entered_at(contact: Contact, decision: Decision, now: datetime) -> datetime | None:
    """When the data dates the contact's entry into its decided stage (None: not dated)."""
    stage = decision.stage
    if stage is Stage.PROSPECT:
        return _utc(decision.sla.started_at) or _utc(decision.memory.qualified_at)
    if stage is Stage.CLIENT:
        return first_won_at(contact, now)
    if stage in (Stage.LEAD, Stage.DISQUALIFIED):
        return _utc(contact.created_at)
    return None


def first_path(contact: Contact, decision: Decision, now: datetime) -> list[tuple[str | None, str, datetime, str]]:
    """(from, to, at, basis) of a contact crmsync sees for the first time, oldest first."""
    stage = decision.stage.value
    created = _utc(contact.created_at)
    created = min(created, now) if created is not None else None
    entered = entered_at(contact, decision, now)
    entered = min(entered, now) if entered is not None else None
    if decision.stage in (Stage.LEAD, Stage.DISQUALIFIED) or created is None:
        return [(None, stage, entered or now, DATA if entered is not None else FIRST_SEEN)]
    if entered is None:
        return [(None, Stage.LEAD.value, created, DATA), (Stage.LEAD.value, stage, now, FIRST_SEEN)]
    entered = max(entered, created)
    return [(None, Stage.LEAD.value, created, DATA), (Stage.LEAD.value, stage, entered, DATA)]


def _next_step(contact: Contact, decision: Decision, previous_stage: str, previous_at: datetime | None,
               now: datetime) -> tuple[str | None, str, datetime, str]:
    """The transition of a contact decided before: dated by its data when the data dates it after the
    previous decision, else at this decision."""
    entered = entered_at(contact, decision, now) if decision.stage in (Stage.PROSPECT, Stage.CLIENT) else None
    if entered is not None and entered <= now and (previous_at is None or entered > previous_at):
        return (previous_stage, decision.stage.value, entered, DATA)
    return (previous_stage, decision.stage.value, now, OBSERVED)


def _upsert(conn: Connection, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> None:
    if not rows:
        return
    stmt = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)
    updates = {name: stmt.excluded[name] for name in rows[0] if name not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=updates), rows)


def record_history(conn: Connection, ref: AccountRef, decided: Sequence[Decided], *, run_id: str,
                   now: datetime) -> None:
    """Stage transitions and hand-offs of one chunk of decided contacts; call before their contact rows are
    upserted, in the same transaction."""
    if not decided:
        return
    ids = [item.contact.id for item in decided]
    previous = {cid: (stage, at) for cid, stage, at in conn.execute(
        select(ContactRow.contact_id, ContactRow.stage, ContactRow.decided_at).where(
            and_(ContactRow.crm == ref.crm, ContactRow.account == ref.account), ContactRow.contact_id.in_(ids)))}
    transitions: list[dict[str, Any]] = []
    handoffs: dict[tuple[str, datetime], dict[str, Any]] = {}
    for item in decided:
        contact, decision = item.contact, item.decision
        before = previous.get(contact.id)
        if before is None or before[0] is None:
            steps = first_path(contact, decision, now)
        elif before[0] != decision.stage.value:
            steps = [_next_step(contact, decision, before[0], _utc(before[1]), now)]
        else:
            steps = []
        for from_stage, to_stage, at, basis in steps:
            transitions.append({"crm": ref.crm, "account": ref.account, "contact_id": contact.id,
                                "from_stage": from_stage, "to_stage": to_stage, "at": at, "basis": basis,
                                "score": decision.score, "rules_version": decision.rules_version,
                                "run_id": run_id, "decided_at": now})
        sla = decision.sla
        if sla.status is not SlaStatus.NOT_STARTED and sla.started_at is not None:
            handoffs[(contact.id, sla.started_at)] = {
                "crm": ref.crm, "account": ref.account, "contact_id": contact.id, "started_at": sla.started_at,
                "owner_id": contact.owner_id, "status": sla.status.value, "due_at": sla.due_at,
                "touched_at": sla.touched_at, "touched_by": sla.touched_by,
                "rules_version": decision.rules_version, "updated_at": now}
    if transitions:
        conn.execute(insert(StageTransitionRow), transitions)
    _upsert(conn, HandoffRow, list(handoffs.values()), ["crm", "account", "contact_id", "started_at"])


__all__ = ["DATA", "FIRST_SEEN", "OBSERVED", "deal_closed_at", "entered_at", "first_path", "first_won_at",
           "record_history"]
