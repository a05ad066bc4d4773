"""The CRM-neutral contact model every connector maps into and the rules engine reads.

Built on msgspec structs rather than pydantic models: a daemon that rescores
hundreds of thousands of contacts per cycle builds these on its hot path, and
msgspec structs construct (and decode from JSON) an order of magnitude faster
while still validating types when decoded from untrusted input
(`decode_contact`). Timestamps are timezone-aware UTC datetimes everywhere; a
connector converts its CRM's format at its own boundary.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import msgspec


class Stage(enum.StrEnum):
    LEAD = "lead"
    PROSPECT = "prospect"
    CLIENT = "client"
    NURTURE = "nurture"
    DISQUALIFIED = "disqualified"


class Maturity(enum.StrEnum):
    COLD = "cold"
    WARM = "warm"
    HOT = "hot"


class ClientKind(enum.StrEnum):
    ONE_OFF = "one_off"
    RECURRING = "recurring"


class Seniority(enum.StrEnum):
    """The levels `Contact.seniority` holds once a connector has read its CRM's value (the rules compare
    against these; a value no table knows is kept as typed). Each connector's mapping module has the table
    of its CRM's own values; `sync.toolkit.vocabulary` those people type in any CRM."""

    C_LEVEL = "c_level"
    DIRECTOR = "director"
    MANAGER = "manager"
    INDIVIDUAL = "individual"
    STUDENT = "student"


#: the engagement event types the connectors map their CRMs' records onto (`EngagementEvent.type` stays open:
#: a setting may name others, and the rules decide what each is worth)
EVENT_TYPES: tuple[str, ...] = ("visit", "download", "webinar", "form", "trade_show", "email_open",
                                "email_reply", "demo_request", "pricing_request", "pricing_view",
                                "meeting_booked", "social_message")


class DealStatus(enum.StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class PipelineStage(enum.StrEnum):
    """The five canonical pipeline stages; each CRM's own stage names map onto these by configuration."""

    FIRST_CONTACT = "first_contact"
    DISCOVERY = "discovery"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    CLOSING = "closing"


class ActivityKind(enum.StrEnum):
    CALL = "call"
    EMAIL = "email"
    MEETING = "meeting"
    TASK = "task"
    NOTE = "note"


class EngagementEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Something the contact did: `type` is an open vocabulary (download, webinar, visit, form, email_open,
    email_reply, demo_request, pricing_request, pricing_view, meeting_booked, trade_show, social_message...) so
    that rules, not code, decide what each is worth. `social_message` is an exchange on LinkedIn or another
    social network recorded in the CRM (`source` names the network)."""

    type: str
    at: datetime
    source: str | None = None


class Activity(msgspec.Struct, frozen=True, kw_only=True):
    """A sales activity logged in the CRM. `by` is the CRM user id that performed it; `automated` marks
    sequences, marketing automation and auto-replies, which never count as a sales touch.

    For a meeting, `at` is when it takes (or took) place; `accepted_at` is when the contact accepted the
    invitation or booked it, when the CRM records it (a meeting accepted and not yet held is `done: false`
    with `accepted_at` set); `outcome` is what became of it, in the CRM-neutral words `scheduled`,
    `completed`, `rescheduled`, `no_show`, `canceled` or `declined` (None: the CRM does not say). A canceled or
    declined meeting no longer counts as accepted."""

    kind: ActivityKind
    at: datetime
    by: str | None = None
    direction: str | None = None  # "outbound" | "inbound" when the CRM says so
    done: bool = True
    automated: bool = False
    id: str | None = None
    subject: str | None = None
    accepted_at: datetime | None = None
    outcome: str | None = None


class Deal(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    status: DealStatus
    stage: PipelineStage | None = None
    crm_stage: str | None = None  # the CRM's own stage id or name, kept for explanations
    amount: float | None = None
    currency: str | None = None
    close_date: date | None = None
    recurring: bool | None = None  # None: the CRM does not say; the rules decide from contract length or repeat wins
    contract_months: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Contact(msgspec.Struct, kw_only=True):
    """One person in one CRM account.

    `fields` holds everything that is not a first-class profile attribute: custom CRM fields, qualification
    answers (need, timing, budget, decision role...). Rules address them as `fields.<name>`.
    `override_stage` is a stage pinned by a person in the CRM; it wins over every rule and is reported as such.
    """

    crm: str
    id: str
    account: str = "default"
    email: str | None = None
    owner_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    industry: str | None = None
    company_size: int | None = None
    # (lowest, highest or None when open-ended) when the CRM holds a head-count range (a dropdown's "50-100",
    # "1000+", a range typed by hand) rather than a head count; `company_size` is then None. The rules read
    # it from its lowest number up to, not including, its highest (bands share their edges: docs/rules.md)
    company_size_range: tuple[int, int | None] | None = None
    job_title: str | None = None
    seniority: str | None = None  # a `Seniority` value when the CRM's value maps onto one, else as typed
    country: str | None = None
    source: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    fields: dict[str, Any] = msgspec.field(default_factory=dict)
    events: list[EngagementEvent] = msgspec.field(default_factory=list)
    activities: list[Activity] = msgspec.field(default_factory=list)
    deals: list[Deal] = msgspec.field(default_factory=list)
    override_stage: Stage | None = None
    # the CRM's current values of the native fields people also edit and crmsync may write (HubSpot
    # `lifecyclestage`, Salesforce `Rating`, Pipedrive labels...), keyed by the CRM's field name, as pulled:
    # what the ownership policy and forward-only moves compare against. A missing key means "not read".
    crm_values: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity across the whole daemon: the same person in two CRMs is two contacts."""
        return (self.crm, self.account, self.id)


#: a `Contact`'s profile attributes: what a CRM holds about the person beyond identity and timestamps; every
#: other value a connector reads lands in `Contact.fields`
PROFILE_ATTRIBUTES: tuple[str, ...] = ("email", "owner_id", "first_name", "last_name", "company", "industry",
                                       "company_size", "job_title", "seniority", "country", "source",
                                       "created_at")


def merge_related(fresh: Contact, previous: Contact) -> Contact:
    """`fresh` with the deals and activities it lacks taken from `previous` (matched by id; the fresh record
    wins). For connectors that can only say what changed since their cursor, not the whole history."""
    fresh_deals = {deal.id for deal in fresh.deals}
    deals = [*fresh.deals, *(deal for deal in previous.deals if deal.id not in fresh_deals)]
    seen = {(activity.id or "", activity.kind, activity.at) for activity in fresh.activities}
    fresh_ids = {activity.id for activity in fresh.activities if activity.id}
    older = [activity for activity in previous.activities
             if (activity.id not in fresh_ids if activity.id
                 else (activity.id or "", activity.kind, activity.at) not in seen)]
    activities = sorted([*fresh.activities, *older], key=lambda activity: activity.at)
    return msgspec.structs.replace(fresh, deals=deals, activities=activities)


_contact_decoder = msgspec.json.Decoder(Contact)
_encoder = msgspec.json.Encoder()


def decode_contact(raw: bytes | str) -> Contact:
    """Decode and type-check one contact from JSON; raises msgspec.ValidationError with a `$.path` on bad input."""
    return _contact_decoder.decode(raw)


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


def to_builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)
