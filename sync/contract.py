"""The one small protocol between the engine and every CRM connector.

The engine depends on this module only; it never imports an SDK. A connector
pulls pages of CRM-neutral contacts changed since an opaque cursor, pushes
batches of canonical field updates and returns one result per record, makes
sure the fields it writes exist, and reports its health and API budget.

Canonical fields (the keys of `FieldUpdate.values`) are CRM-neutral names;
each connector maps them to its own places (HubSpot `lifecyclestage`,
Salesforce `Rating`, a Pipedrive 40-character custom-field key...) through its
field mapping. Values are plain Python: int, float, str, bool, datetime or None
(None clears the field in the CRM).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from sync.errors import RecordError
from sync.model import Contact


class CanonicalField(enum.StrEnum):
    """What crmsync writes back. Connectors map each to a native or custom field."""

    SCORE = "score"
    SCORE_FIT = "score_fit"
    SCORE_ENGAGEMENT = "score_engagement"
    SCORE_INTENT = "score_intent"
    STAGE = "stage"
    MATURITY = "maturity"
    CLIENT_KIND = "client_kind"
    CRITERIA_MET = "criteria_met"  # ";"-joined names of the qualification criteria met
    SLA_STATUS = "sla_status"
    SLA_DUE_AT = "sla_due_at"
    SLA_BREACHED = "sla_breached"
    REASON = "reason"
    RULES_VERSION = "rules_version"


FieldValue = int | float | str | bool | datetime | None


@dataclass(frozen=True, slots=True)
class RecordProblem:
    """A record, or one field of it, that the mapping could not read: reported per record and never fatal
    to the page. `field` names the CRM's field (None: the whole record was skipped); `reason` says why in
    words an admin can act on. Neither ever carries the value itself: contact data stays out of logs."""

    record_id: str
    field: str | None
    reason: str
    object_type: str = "contact"  # the CRM's object: contact, lead, person, deal, call...


@dataclass(frozen=True, slots=True)
class PullPage:
    """One page of changes. `cursor` resumes the pull *after* this page; the engine persists it only once
    the page's results are durable, so a crash re-reads at most one page (duplicates are harmless: the
    engine de-duplicates by delta against what it last pushed). `deleted_ids` are records gone from the CRM
    (deleted, archived, or merged away); `merged_into` maps a merged-away id to its survivor."""

    contacts: list[Contact]
    cursor: str
    deleted_ids: list[str] = field(default_factory=list)
    merged_into: dict[str, str] = field(default_factory=dict)
    api_calls: int = 0
    # Whether each contact carries its whole related history (deals, activities) or only what changed since
    # the cursor: a CRM that lists related records by modification time across the account, as Pipedrive
    # does, says False, and the engine merges them by id into the stored snapshot instead of taking the
    # page's lists as the whole history, which would rescore a client with no won deal.
    related_complete: bool = True
    # records or fields of this page the mapping could not read; the page's other records are in `contacts`
    # and the cursor moves past all of them (a record that becomes readable later is pulled again normally)
    problems: list[RecordProblem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FieldUpdate:
    """What to write for one contact. `previous` holds the values crmsync last wrote (canonical names), so
    a connector can tell a person's edit from its own. `crm_values` holds what the CRM held, as of a pull
    in this same run, for the native fields people also edit (keyed by the CRM's field name, as the
    connector put them in `Contact.crm_values`): a name that is absent is UNKNOWN (an outbox replay after a
    crash, a push before any pull, a retry), and the connector must read it before it writes that field
    under an ownership policy or a forward-only rule (one batch read per batch), never assume it."""

    contact_id: str
    values: dict[str, FieldValue]
    previous: dict[str, FieldValue] = field(default_factory=dict)
    crm_values: dict[str, FieldValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PushResult:
    contact_id: str
    ok: bool
    error: RecordError | None = None
    written: dict[str, FieldValue] = field(default_factory=dict)  # what the CRM accepted (may drop skipped fields)
    # the CRM says the record no longer exists (deleted, or merged into another): the engine stops managing it
    # at once, as it does for an id a pull lists in `PullPage.deleted_ids`, rather than on some later pull
    gone: bool = False
    # canonical fields whose native place kept a value a person set (ownership `unless_changed_by_person`):
    # not an error and not a write; the engine counts them and records them as done, so they are not re-sent
    kept: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, order=True)
class SetupWarning:
    """A setup problem that switches a feature off while the account goes on syncing (a maturity label
    missing, an object the integration user cannot read, a field the plan refused): `what` is missing,
    what is `lost` while it is, and what an admin does to `enable` it. A warning, never an INFO line nobody
    reads: the engine logs it once and `crmsync status` lists it for as long as it holds."""

    what: str
    lost: str
    enable: str

    def __str__(self) -> str:
        return f"{self.what}: {self.lost}. To enable: {self.enable}"


@dataclass(frozen=True, slots=True)
class FieldSetupReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # e.g. a field that exists but is invisible to the API user
    warnings: list[SetupWarning] = field(default_factory=list)  # what the problems switch off, and how to fix it


@dataclass(frozen=True, slots=True)
class Budget:
    """Remaining API budget as the CRM last reported it; None where the CRM does not say."""

    remaining: int | None = None
    limit: int | None = None
    window: str = "daily"
    resets_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Health:
    reachable: bool
    authorised: bool
    message: str = ""
    budget: Budget = field(default_factory=Budget)


#: every contact id the engine manages for one account (not yet known to be deleted), read lazily, in id order
ManagedIds = Callable[[], Iterator[str]]


@runtime_checkable
class ReconcilesDeletions(Protocol):
    """Optional: a connector whose CRM lists no deleted or merged-away records (Pipedrive lists only live
    persons) notices them by comparing, now and then, the ids the CRM still holds with the ids the engine
    manages, and reports the missing ones in `PullPage.deleted_ids`. The engine offers it those ids before
    each pull; the connector reads them only when it compares."""

    def use_managed_ids(self, managed: ManagedIds) -> None:
        ...


@dataclass(frozen=True, slots=True)
class TaskRequest:
    """A task crmsync asks the CRM to create for a user about one contact (an SLA reminder, an escalation).
    `marker` is crmsync's id for it, written into the task's text so that, after a crash between the CRM's
    answer and crmsync's record of it, the task can be found again instead of created twice."""

    marker: str
    contact_id: str
    assignee_id: str  # the CRM user the task is for (HubSpot owner id, Salesforce User id, Pipedrive user id)
    due_at: datetime
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class TaskResult:
    """What became of one task request (or completion): the CRM's task id, or the error that kept it out."""

    marker: str
    task_id: str | None = None
    error: RecordError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.task_id is not None


@runtime_checkable
class WritesTasks(Protocol):
    """Optional: a connector that can create tasks in its CRM (a HubSpot task, a Salesforce Task, a Pipedrive
    activity) linked to a contact, find them again by their marker, and mark them done."""

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[TaskResult]:
        """Create the tasks in as few calls as the CRM allows; one result per request, in input order. Never
        retried after a transport failure: the caller finds the task by its marker instead."""
        ...

    def find_tasks(self, tasks: Sequence[TaskRequest]) -> dict[str, str]:
        """The tasks the CRM already holds for these requests, as marker -> task id (absent: not created)."""
        ...

    def complete_tasks(self, task_ids: Sequence[str]) -> list[TaskResult]:
        """Mark the tasks done (idempotent); one result per id, in input order, `marker` holding the id."""
        ...


@runtime_checkable
class KnowsManagers(Protocol):
    """Optional: a CRM that records each user's manager (Salesforce `User.ManagerId`)."""

    def managers(self, user_ids: Sequence[str]) -> dict[str, str]:
        """user id -> manager's user id, for the users who have one."""
        ...


@runtime_checkable
class ReportsSetupWarnings(Protocol):
    """Optional: a connector that finds setup problems while it works (an object out of reach found by a
    pull's describe, a label missing) lists the ones that hold now; the engine persists and logs them after
    each run, and `crmsync status` shows them."""

    @property
    def setup_warnings(self) -> Sequence[SetupWarning]:
        ...


@runtime_checkable
class Connector(Protocol):
    """One CRM account. Implementations live in `connectors/<crm>/`; they raise only `sync.errors` types."""

    crm: str  # "hubspot" | "salesforce" | "pipedrive"
    account: str  # the account name from settings

    def pull(self, cursor: str | None) -> Iterator[PullPage]:
        """Contacts changed since `cursor` (None: everything), oldest change first, with their deals and
        activities. Never stops silently at an API cap: it windows or restarts as that API requires."""
        ...

    def push(self, updates: Sequence[FieldUpdate]) -> list[PushResult]:
        """Write the updates in as few calls as the CRM allows; one result per update, in input order.
        A record that fails is reported, never retried forever; a partial batch is split, not resent whole."""
        ...

    def ensure_fields(self) -> FieldSetupReport:
        """Create the custom fields crmsync writes when they are missing (idempotent)."""
        ...

    def health(self) -> Health:
        ...

    def close(self) -> None:
        ...
