"""The typed values that go in and out of the state store. Plain frozen dataclasses: the store's API never
hands out ORM rows, so callers cannot lazily load, mutate or leak a session."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sync.contract import FieldValue, PushResult
from sync.daemon.report import RunOutcome
from sync.errors import RecordError
from sync.model import Contact
from sync.rules.decision import ContactMemory, Decision

CONTACTS_STREAM = "contacts"


@dataclass(frozen=True, slots=True, order=True)
class AccountRef:
    """One configured CRM account: the key of everything the store holds."""

    crm: str
    account: str

    def __str__(self) -> str:
        return f"{self.crm}/{self.account}"


@dataclass(frozen=True, slots=True)
class ContactState:
    """What the store knows about a contact before it is decided again. Values are canonical texts
    (`sync.state.values.encode_value`) so a diff is a string comparison."""

    memory: ContactMemory | None = None
    pushed: dict[str, str] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decided:
    """A contact, the decision the rules made on it, and when it must be looked at again even unchanged."""

    contact: Contact
    decision: Decision
    next_review_at: datetime | None = None


@dataclass(slots=True)
class PageWrite:
    """Everything one page (or one rescore chunk) makes durable in a single transaction."""

    run_id: str
    rules_version: str
    decided: list[Decided] = field(default_factory=list)
    enqueue: dict[str, dict[str, FieldValue]] = field(default_factory=dict)  # contact -> field -> new value
    cancel: dict[str, list[str]] = field(default_factory=dict)  # contact -> fields no longer to be written
    tombstones: dict[str, str | None] = field(default_factory=dict)  # contact -> survivor of a merge, or None
    cursor: str | None = None
    advance_cursor: bool = False
    stream: str = CONTACTS_STREAM


@dataclass(frozen=True, slots=True)
class PendingUpdate:
    """The outbox rows of one contact, ready to push: each value with the version that compare-and-delete
    checks, and the last pushed values (for CRM-specific moves that depend on what is there now)."""

    contact_id: str
    values: dict[str, FieldValue]
    versions: dict[str, int]
    previous: dict[str, FieldValue]
    attempts: int = 0
    rules_version: str = ""  # the rules that decided these values, for the audit log


@dataclass(frozen=True, slots=True)
class PushOutcome:
    update: PendingUpdate
    result: PushResult


def rejected_for_good(error: RecordError | None, attempts: int, max_attempts: int) -> bool:
    """Whether a failed write (a push, a task) is final: the CRM refused it for good, or the retries are
    spent. A retryable failure within the cap is tried again in a later run."""
    return not (error is not None and error.retryable and attempts + 1 < max_attempts)


@dataclass(frozen=True, slots=True)
class PushTally:
    """What recording one batch of push results did."""

    pushed: int = 0
    failed: int = 0
    fields_written: int = 0
    retried: int = 0
    rejected: int = 0
    kept: int = 0  # fields left as a person set them (`PushResult.kept`), recorded as done


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    crm: str
    account: str
    kind: str
    started_at: datetime
    finished_at: datetime | None
    outcome: RunOutcome
    counts: dict[str, int]
    api_calls: Counter[str]
    errors: list[str]
    retry_at: datetime | None
    rules_version: str
    breaches_open: int
    cursor_lag_seconds: float | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    contact_id: str
    field: str
    before: FieldValue
    after: FieldValue
    rules_version: str
    run_id: str
    at: datetime
    outcome: str = "written"  # or "kept": the CRM's field kept a person's value, crmsync's was not written


@dataclass(frozen=True, slots=True)
class Rejection:
    contact_id: str
    fields: tuple[str, ...]
    code: str
    message: str
    run_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Breach:
    crm: str
    account: str
    contact_id: str
    started_at: datetime | None
    due_at: datetime | None


@dataclass(frozen=True, slots=True)
class HealthRecord:
    reachable: bool
    authorised: bool
    message: str
    budget_remaining: int | None
    budget_limit: int | None
    budget_window: str
    budget_resets_at: datetime | None
    checked_at: datetime


@dataclass(frozen=True, slots=True)
class Classification:
    """One combination of the last decision's labels, as `StateStore.classification_counts` groups them."""

    stage: str | None
    maturity: str | None
    client_kind: str | None
    sla_status: str | None
