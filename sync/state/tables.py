"""The state store's tables (SQLAlchemy 2 declarative models).

Every row is keyed by (crm, account, ...): one store serves every configured
account and accounts never see each other's rows. Timestamps are stored as
naive UTC (SQLite has no time zone type) and come back timezone-aware through
`UtcDateTime`. Contact snapshots and memories are msgspec JSON text. The
migrations under `sync/state/migrations/versions/` must create exactly these
tables: a test compares them with alembic's autogenerate.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, MetaData, String, Text, TypeDecorator, and_
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

if TYPE_CHECKING:
    from sync.state.records import AccountRef

ID = String(255)
NAME = String(64)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, naive UTC in the database."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the state store takes timezone-aware datetimes only")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)  # type: ignore[no-any-return]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    })


class CursorRow(Base):
    """Where the next pull of one stream of one account resumes."""

    __tablename__ = "cursors"
    crm: Mapped[str] = mapped_column(NAME, primary_key=True)
    account: Mapped[str] = mapped_column(NAME, primary_key=True)
    stream: Mapped[str] = mapped_column(NAME, primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ContactRow(Base):
    """The last snapshot of a contact, what the rules remembered, and a summary of the last decision."""

    __tablename__ = "contacts"
    crm: Mapped[str] = mapped_column(NAME, primary_key=True)
    account: Mapped[str] = mapped_column(NAME, primary_key=True)
    contact_id: Mapped[str] = mapped_column(ID, primary_key=True)
    snapshot: Mapped[str] = mapped_column(Text)
    memory: Mapped[str] = mapped_column(Text)
    crm_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    stage: Mapped[str | None] = mapped_column(NAME)
    score: Mapped[int | None] = mapped_column(Integer)
    maturity: Mapped[str | None] = mapped_column(NAME)
    client_kind: Mapped[str | None] = mapped_column(NAME)
    rules_version: Mapped[str | None] = mapped_column(NAME)
    sla_status: Mapped[str | None] = mapped_column(NAME)
    sla_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    next_review_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    tombstoned_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    merged_into: Mapped[str | None] = mapped_column(ID)

    __table_args__ = (
        Index(None, "crm", "account", "next_review_at"),
        Index(None, "crm", "account", "rules_version"),
        Index(None, "stage"),
    )


class PushedRow(Base):
    """The last value crmsync wrote to one field of one contact: the base every diff is taken against."""

    __tablename__ = "pushed"
    crm: Mapped[str] = mapped_column(NAME, primary_key=True)
    account: Mapped[str] = mapped_column(NAME, primary_key=True)
    contact_id: Mapped[str] = mapped_column(ID, primary_key=True)
    field: Mapped[str] = mapped_column(NAME, primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    pushed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    run_id: Mapped[str] = mapped_column(NAME)


class OutboxRow(Base):
    """A field write decided and made durable but not yet confirmed by the CRM. One row per contact and field;
    a newer decision replaces the value and bumps `version`, so recording a push result deletes the row only
    if it still holds the version that was pushed (compare-and-delete)."""

    __tablename__ = "outbox"
    crm: Mapped[str] = mapped_column(NAME, primary_key=True)
    account: Mapped[str] = mapped_column(NAME, primary_key=True)
    contact_id: Mapped[str] = mapped_column(ID, primary_key=True)
    field: Mapped[str] = mapped_column(NAME, primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    rules_version: Mapped[str] = mapped_column(NAME)
    run_id: Mapped[str] = mapped_column(NAME)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class SlaTimerRow(Base):
    """The marketing -> sales hand-off clock of one contact, as of its last decision."""

    __tablename__ = "sla_timers"
    crm: Mapped[str] = mapped_column(NAME, primary_key=True)
    account: Mapped[str] = mapped_column(NAME, primary_key=True)
    contact_id: Mapped[str] = mapped_column(ID, primary_key=True)
    status: Mapped[str] = mapped_column(NAME)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    touched_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    touched_by: Mapped[str | None] = mapped_column(ID)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index(None, "status"),)


class AuditRow(Base):
    """One field write the CRM confirmed: who decided it (rules version, run) and what it replaced."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    crm: Mapped[str] = mapped_column(NAME)
    account: Mapped[str] = mapped_column(NAME)
    contact_id: Mapped[str] = mapped_column(ID)
    field: Mapped[str] = mapped_column(NAME)
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str] = mapped_column(Text)
    rules_version: Mapped[str] = mapped_column(NAME)
    run_id: Mapped[str] = mapped_column(NAME)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    # `written`, or `kept`: the CRM's native field kept a value a person set, so crmsync's value was not
    # written there and is not sent again (ownership `unless_changed_by_person`)
    outcome: Mapped[str] = mapped_column(NAME, server_default="written")

    __table_args__ = (Index(None, "crm", "account", "contact_id"),)


class RejectionRow(Base):
    """A write the CRM refused for good (or after the attempt cap): kept so an admin can list failed records."""

    __tablename__ = "rejections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    crm: Mapped[str] = mapped_column(NAME)
    account: Mapped[str] = mapped_column(NAME)
    contact_id: Mapped[str] = mapped_column(ID)
    fields: Mapped[str] = mapped_column(Text)  # ";"-joined field names
    code: Mapped[str] = mapped_column(NAME)
    message: Mapped[str] = mapped_column(Text)
    run_id: Mapped[str] = mapped_column(NAME)
    at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index(None, "crm", "account", "at"),)


class RunRow(Base):
    """One finished run (cycle, sweep or resync) of one account: the RunSummary as `status` shows it."""

    __tablename__ = "runs"
    run_id: Mapped[str] = mapped_column(NAME, primary_key=True)
    crm: Mapped[str] = mapped_column(NAME)
    account: Mapped[str] = mapped_column(NAME)
    kind: Mapped[str] = mapped_column(NAME)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    outcome: Mapped[str] = mapped_column(NAME)
    counts: Mapped[str] = mapped_column(Text)  # JSON: pulled, decided, changed, pushed, ... and api_calls
    errors: Mapped[str] = mapped_column(Text)  # JSON list of user-facing messages
    retry_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    rules_version: Mapped[str] = mapped_column(NAME)
    breaches_open: Mapped[int] = mapped_column(Integer, default=0)
    cursor_lag_seconds: Mapped[float | None] = mapped_column()

    __table_args__ = (Index(None, "crm", "account", "started_at"),)


class HealthRow(Base):
    """The last health check of an account: reachability and the API budget the CRM reported."""

    __tablename__ = "health"
    crm: Mapped[str] = mapped_column(NAME, primary_key=True)
    account: Mapped[str] = mapped_column(NAME, primary_key=True)
    reachable: Mapped[bool] = mapped_column()
    authorised: Mapped[bool] = mapped_column()
    message: Mapped[str] = mapped_column(Text)
    budget_remaining: Mapped[int | None] = mapped_column(BigInteger)  # a CRM's figures can pass 2**31
    budget_limit: Mapped[int | None] = mapped_column(BigInteger)
    budget_window: Mapped[str] = mapped_column(NAME)
    budget_resets_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime())


class StageTransitionRow(Base):
    """One change of a contact's lifecycle stage, kept for the funnel over time and the time spent in each
    stage. `at` is when the contact entered `to_stage` as best known: what the CRM's data dates (creation for
    a lead, the hand-off signal for a prospect, the first won deal for a client) or else when crmsync decided
    it; `basis` says which (`observed`: decided live, `data`: dated by the CRM's data, `first_seen`: the
    stage a contact already had when crmsync first saw it, with no date in the data)."""

    __tablename__ = "stage_transitions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    crm: Mapped[str] = mapped_column(NAME)
    account: Mapped[str] = mapped_column(NAME)
    contact_id: Mapped[str] = mapped_column(ID)
    from_stage: Mapped[str | None] = mapped_column(NAME)
    to_stage: Mapped[str] = mapped_column(NAME)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    basis: Mapped[str] = mapped_column(NAME)
    score: Mapped[int] = mapped_column(Integer)
    rules_version: Mapped[str] = mapped_column(NAME)
    run_id: Mapped[str] = mapped_column(NAME)
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index(None, "crm", "account", "at"), Index(None, "crm", "account", "contact_id"))


class HandoffRow(Base):
    """One marketing -> sales hand-off and how its SLA ended (or stands): unlike `sla_timers`, which holds
    only the current clock and is reset when the contact moves on, these rows stay, so SLA performance and
    time to first touch can be reported per week and per owner after the prospect became a client."""

    __tablename__ = "sla_handoffs"
    crm: Mapped[str] = mapped_column(NAME, primary_key=True)
    account: Mapped[str] = mapped_column(NAME, primary_key=True)
    contact_id: Mapped[str] = mapped_column(ID, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    owner_id: Mapped[str | None] = mapped_column(ID)
    status: Mapped[str] = mapped_column(NAME)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    touched_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    touched_by: Mapped[str | None] = mapped_column(ID)
    rules_version: Mapped[str] = mapped_column(NAME)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index(None, "crm", "account", "due_at"),)


class CalibrationRow(Base):
    """One `crmsync rules calibrate` result, kept so the report can show the latest one. `result` is the
    calibration as JSON (per rule: fire counts, lift and its interval, proposed weight; precision/recall)."""

    __tablename__ = "calibrations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    period_start: Mapped[datetime] = mapped_column(UtcDateTime())
    period_end: Mapped[datetime] = mapped_column(UtcDateTime())
    rules_version: Mapped[str] = mapped_column(NAME)
    proposed_version: Mapped[str | None] = mapped_column(NAME)
    result: Mapped[str] = mapped_column(Text)


class ReminderRow(Base):
    """One thing crmsync owes about one SLA clock (`clock_start`, the hand-off), made durable before it is done:
    the reminder task for the owner, the escalation task on breach, the breach webhook. Keyed by the clock and
    the kind, so each is decided once per clock. `status` moves pending -> sending (the CRM call is under way:
    after a crash, the CRM is asked for a task carrying `marker` before creating another) -> open (the task
    exists: `task_id`) -> completing -> completed, or left (the owner closes it), or failed (`last_error`);
    a webhook goes pending -> delivered | failed, retried at `next_attempt_at`."""

    __tablename__ = "sla_reminders"
    crm: Mapped[str] = mapped_column(NAME, primary_key=True)
    account: Mapped[str] = mapped_column(NAME, primary_key=True)
    contact_id: Mapped[str] = mapped_column(ID, primary_key=True)
    clock_start: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    kind: Mapped[str] = mapped_column(NAME, primary_key=True)  # reminder | escalation | webhook
    marker: Mapped[str] = mapped_column(NAME)
    status: Mapped[str] = mapped_column(NAME)
    assignee_id: Mapped[str | None] = mapped_column(ID)
    owner_id: Mapped[str | None] = mapped_column(ID)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    payload: Mapped[str] = mapped_column(Text)  # JSON: the task's subject and body, or the webhook's event
    task_id: Mapped[str | None] = mapped_column(ID)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index(None, "crm", "account", "status"), Index(None, "kind", "status", "next_attempt_at"))


class RecordProblemRow(Base):
    """A record, or one field of it, crmsync could not read (`source` pull) or the CRM refused for good
    (`source` push), as it stands: what `crmsync status` lists. `field` is "" for the whole record; `reason`
    never holds a value the record carries (a push's is the CRM's message, stored here, never logged). A
    pull that reads the record cleanly, or a push the CRM takes, deletes its rows."""

    __tablename__ = "record_problems"
    crm: Mapped[str] = mapped_column(NAME, primary_key=True)
    account: Mapped[str] = mapped_column(NAME, primary_key=True)
    source: Mapped[str] = mapped_column(NAME, primary_key=True)
    object_type: Mapped[str] = mapped_column(NAME, primary_key=True)
    record_id: Mapped[str] = mapped_column(ID, primary_key=True)
    field: Mapped[str] = mapped_column(ID, primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(NAME)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime())
    run_id: Mapped[str] = mapped_column(NAME)

    __table_args__ = (Index(None, "crm", "account", "last_seen"),)


class SetupWarningRow(Base):
    """A setup problem that switches a feature off for an account, as its connector last reported it: the
    rows of an account are replaced whenever the set changes."""

    __tablename__ = "setup_warnings"
    crm: Mapped[str] = mapped_column(NAME, primary_key=True)
    account: Mapped[str] = mapped_column(NAME, primary_key=True)
    what: Mapped[str] = mapped_column(String(500), primary_key=True)
    lost: Mapped[str] = mapped_column(Text)
    enable: Mapped[str] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column(UtcDateTime())


class ReplicaRow(Base):
    """One `crmsync run` process sharing a PostgreSQL store: alive while its heartbeat is within a lease time."""

    __tablename__ = "replicas"
    replica_id: Mapped[str] = mapped_column(ID, primary_key=True)
    host: Mapped[str] = mapped_column(ID)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UtcDateTime())


class LeaseRow(Base):
    """Who may write for one account (`crm/name`): its owner until `expires_at`, renewed by heartbeat. Every
    change of owner increments `generation`, the fencing token each write transaction of the owner checks, so a
    replica that lost the lease (paused, cut off) cannot record over the new owner. `owner` is null once
    released; the row stays, with its generation."""

    __tablename__ = "account_leases"
    name: Mapped[str] = mapped_column(ID, primary_key=True)
    owner: Mapped[str | None] = mapped_column(ID)
    generation: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    acquired_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


def of_account(table: Any, ref: AccountRef) -> Any:
    """The condition that keeps one account's rows of `table` (every table is keyed by crm and account)."""
    return and_(table.crm == ref.crm, table.account == ref.account)
