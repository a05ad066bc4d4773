"""Settings for one HubSpot account, validated once at the boundary and then immutable.

Credentials are `SecretStr`: the daemon resolves environment-variable or file
references into them, and nothing here ever renders them. Every limit has a
documented default ("API usage guidelines and limits") and every page or batch
size is capped at the API maximum ("CRM API | Search", "CRM API | Contacts",
"Associations v4"), so a typo cannot make the connector send requests HubSpot
rejects. Every option carries a description and an example: they are what the
published settings schema shows in an editor. Mappings default to HubSpot's own properties where HubSpot has
one and to crmsync's own property group (`crmsync`) for everything else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator, model_validator

from sync.contract import CanonicalField
from sync.model import ActivityKind, PipelineStage, Stage
from sync.toolkit.settings import (ConnectorSettings, contract_months_option, option, pipeline_stages_option,
                                   recurring_field_option, stage_override_option)

API_HOST = "https://api.hubapi.com"

# HubSpot's API maxima: search 200 per page, list 100, object batch 100, v4 association batch 1000
SEARCH_PAGE_MAX = 200
LIST_PAGE_MAX = 100
OBJECT_BATCH_MAX = 100
ASSOCIATION_BATCH_MAX = 1000

#: what crmsync writes, canonical field -> contact property in crmsync's own group
DEFAULT_FIELD_PROPERTIES: dict[CanonicalField, str] = {
    field: f"crmsync_{field.value}" for field in CanonicalField
}

#: crmsync stage -> HubSpot lifecycle stage; None keeps the lifecycle stage and sets the lead status instead
DEFAULT_LIFECYCLE: dict[Stage, str | None] = {
    Stage.LEAD: "lead",
    Stage.PROSPECT: "salesqualifiedlead",
    Stage.CLIENT: "customer",
    Stage.NURTURE: None,
    Stage.DISQUALIFIED: None,
}

#: crmsync stage -> `hs_lead_status`, for the stages that do not move the lifecycle stage
DEFAULT_LEAD_STATUS: dict[Stage, str] = {Stage.NURTURE: "BAD_TIMING", Stage.DISQUALIFIED: "UNQUALIFIED"}

#: neutral profile attribute (a `Contact` attribute) -> contact property
DEFAULT_PROFILE_PROPERTIES: dict[str, str] = {
    "email": "email",
    "owner_id": "hubspot_owner_id",
    "first_name": "firstname",
    "last_name": "lastname",
    "company": "company",
    "industry": "industry",
    "company_size": "numemployees",
    "job_title": "jobtitle",
    "seniority": "seniority",
    "country": "country",
    "source": "hs_analytics_source",
}

#: `Contact.fields` key -> contact property: the qualification answers first, then other useful profile data
DEFAULT_FIELD_SOURCES: dict[str, str] = {
    "need": "need",
    "timing": "timing",
    "budget": "budget",
    "decision_role": "decision_role",
    "phone": "phone",
    "city": "city",
    "website": "website",
    "annual_revenue": "annualrevenue",
    "lead_source_detail": "lead_source_detail",
    "newsletter": "newsletter",
    "competitor": "competitor",
    "not_interested": "not_interested",
}

#: HubSpot's default deal pipeline stage ids -> the five canonical pipeline stages
DEFAULT_DEAL_STAGES: dict[str, PipelineStage] = {
    "appointmentscheduled": PipelineStage.FIRST_CONTACT,
    "qualifiedtobuy": PipelineStage.DISCOVERY,
    "presentationscheduled": PipelineStage.PROPOSAL,
    "decisionmakerboughtin": PipelineStage.NEGOTIATION,
    "contractsent": PipelineStage.NEGOTIATION,
    "closedwon": PipelineStage.CLOSING,
    "closedlost": PipelineStage.CLOSING,
}

#: conversion (form) name keywords -> engagement event type; first match wins, no match means "form"
DEFAULT_CONVERSION_TYPES: tuple[tuple[str, str], ...] = (
    ("demo", "demo_request"),
    ("pricing", "pricing_view"),
    ("webinar", "webinar"),
    ("trade show", "trade_show"),
    ("booth", "trade_show"),
    ("download", "download"),
    ("white paper", "download"),
    ("ebook", "download"),
    ("guide", "download"),
)

ENGAGEMENT_TYPES = ("calls", "emails", "meetings", "notes", "tasks", "communications")

#: `hs_meeting_source` values of meetings the contact booked themselves, through a scheduling page of the
#: meetings tool (its public link, or the page embedded on a website)
DEFAULT_BOOKING_SOURCES = frozenset({"MEETINGS_PUBLIC", "MEETINGS_EMBEDDED"})

#: the prefix of a profile property read from the contact's primary company (`associatedcompanyid`)
COMPANY_PREFIX = "company."


class HubSpotLimits(BaseModel):
    """Client-side pacing, per account. Defaults are the Free/Starter private-app figures ("API usage
    guidelines and limits", https://developers.hubspot.com/docs/api/usage-details): 100 calls per rolling
    10 s, 250,000 per day, search 5 per second. Professional and Enterprise accounts raise `burst_calls` to
    190 and `daily_calls` to 650,000 / 1,000,000."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    burst_calls: int = option(100, "calls per burst window: 100 on Free/Starter, 190 on "
                                   "Professional/Enterprise, 110 for a public OAuth app per account",
                                   190, ge=1)
    burst_window_s: float = option(10.0, "the burst window, in seconds", 10, gt=0)
    search_calls_per_s: int = option(5, "search requests per second, a separate limit", 5, ge=1)
    daily_calls: int | None = option(250_000, "calls per day for the account, shared with every private app; "
                                              "null for public OAuth apps, which have no daily limit",
                                              650_000, ge=1)
    daily_reserve: int = option(0, "calls of the daily budget left untouched for people and other "
                                   "integrations sharing it", 10_000, ge=0)
    account_timezone: str = option("UTC", "the account's time zone: the daily counter resets at midnight "
                                          "there", "Europe/Paris")


class HubSpotSettings(ConnectorSettings):
    """One HubSpot account. Either a private-app token (`access_token` alone) or OAuth (`refresh_token`,
    `client_id`, `client_secret`, optionally a current `access_token` with its expiry)."""

    base_url: str = option(API_HOST, "HubSpot's API host; a sandbox's address in tests", API_HOST)
    access_token: SecretStr | None = option(None, "a private-app token, or the current OAuth access token "
                                                  "(refreshed when it expires)", {"env": "HUBSPOT_TOKEN"})
    access_token_expires_at: datetime | None = option(
        None, "when the configured OAuth access token expires; unknown: it is used until HubSpot rejects it",
        "2026-11-02T09:30:00Z")
    refresh_token: SecretStr | None = option(None, "OAuth refresh token of the app's installation",
                                                   {"env": "HUBSPOT_REFRESH_TOKEN"})
    client_id: str | None = option(None, "OAuth app client id", "5c1e2f3a-0000-4000-8000-0123456789ab")
    client_secret: SecretStr | None = option(None, "OAuth app client secret",
                                                   {"file": "/run/secrets/hubspot_client_secret"})
    refresh_margin_s: float = option(300.0, "refresh an OAuth token this many seconds before the expiry its "
                                            "token answer announced", 300, ge=0)

    limits: HubSpotLimits = option(HubSpotLimits(), "client-side pacing (see its options)",
                                                    {"burst_calls": 190, "daily_calls": 650_000})

    search_page_size: int = option(SEARCH_PAGE_MAX, "contacts per search page (incremental pulls); HubSpot's "
                                                    "maximum is 200", 200, ge=1, le=SEARCH_PAGE_MAX)
    list_page_size: int = option(LIST_PAGE_MAX, "contacts per list page (full pulls); HubSpot's maximum is "
                                                "100", 100, ge=1, le=LIST_PAGE_MAX)
    object_batch_size: int = option(OBJECT_BATCH_MAX, "deals or engagements per batch read; HubSpot's "
                                                      "maximum is 100", 100, ge=1, le=OBJECT_BATCH_MAX)
    association_batch_size: int = option(
        ASSOCIATION_BATCH_MAX, "contacts per v4 association batch read; HubSpot's maximum is 1,000",
        1000, ge=1, le=ASSOCIATION_BATCH_MAX)
    push_batch_size: int = option(OBJECT_BATCH_MAX, "contacts per batch update; HubSpot's maximum is 100",
                                                    100, ge=1, le=OBJECT_BATCH_MAX)
    pull_chunk_size: int = option(ASSOCIATION_BATCH_MAX, "contacts enriched together (one association read "
                                                         "per engagement type covers them); one page of a "
                                                         "pull", 1000, ge=1, le=ASSOCIATION_BATCH_MAX)
    search_overlap_s: float = option(10.0, "seconds each incremental pull re-reads before its bookmark: "
                                           "search results are indexed \"within a few moments\"; what was "
                                           "already emitted is skipped", 10, ge=0)
    archived_sweep_interval_s: float = option(3600.0, "how often archived (deleted) contacts are listed, "
                                                      "each sweep the last 90 days of them", 3600, ge=0)
    pipeline_cache_s: float = option(3600.0, "how long deal pipelines and contact property definitions are "
                                             "cached", 3600, ge=0)

    # --- write-back: crmsync's own properties, the lifecycle stage and lead status ---------------------
    property_group: str = option("crmsync", "the contact property group crmsync's properties go in",
                                            "crmsync")
    property_group_label: str = option("crmsync", "that group's label in HubSpot", "Lead scoring (crmsync)")
    field_properties: dict[CanonicalField, str] = option(
        DEFAULT_FIELD_PROPERTIES, "what crmsync writes: canonical field -> contact property name (entries "
        "given here replace only those defaults)", {"score": "lead_score_crmsync"})
    override_stage_property: str | None = stage_override_option("crmsync_override_stage", "a contact property")
    lifecycle_stages: dict[Stage, str | None] = option(
        DEFAULT_LIFECYCLE, "crmsync stage -> HubSpot lifecycle stage; null keeps the lifecycle stage and "
        "sets the lead status", {"prospect": "opportunity"})
    lead_status: dict[Stage, str] = option(
        DEFAULT_LEAD_STATUS, "crmsync stage -> `hs_lead_status`, for the stages that do not move the "
        "lifecycle stage", {"nurture": "BAD_TIMING"})
    allow_backward_lifecycle: bool = option(
        True, "when the rules move a contact back to an earlier stage than crmsync wrote, and HubSpot still holds "
        "what crmsync wrote, move its lifecycle stage back too (HubSpot moves it forward only: clear, then set, "
        "in two requests); false: leave the later stage. A stage a person or HubSpot set meanwhile never moves "
        "back", False)

    # --- pull mapping: profile and qualification data ---------------------------------------------------
    profile_properties: dict[str, str] = option(
        DEFAULT_PROFILE_PROPERTIES, "contact attribute -> contact property it is read from; `company.NAME` reads "
        "the property NAME of the contact's primary company instead (`company.numberofemployees`: the exact head "
        "count, where the contacts' `numemployees` is a range)", {"company_size": "company.numberofemployees",
                                                                  "seniority": "hs_seniority"})
    field_sources: dict[str, str] = option(
        DEFAULT_FIELD_SOURCES, "`fields` key the rules read -> property it is read from (qualification "
        "answers, other data)", {"budget": "budget_confirmed"})

    # --- pull mapping: deals, conversions, engagements ------------------------------------------------
    deal_stages: dict[str, PipelineStage] = pipeline_stages_option(DEFAULT_DEAL_STAGES, "deal stage id",
                                                                   {"qualifiedtobuy": "discovery"})
    deal_recurring_property: str | None = recurring_field_option(
        "recurring_revenue_amount", "the deal property", "a number (a positive amount is recurring, 0 one-off), a "
        "yes/no, or a value of `recurring_values`", "recurring_revenue_amount")
    deal_contract_months_property: str | None = contract_months_option("contract_term_months", "the deal property")
    conversion_types: tuple[tuple[str, str], ...] = option(
        DEFAULT_CONVERSION_TYPES, "form name keyword -> engagement event type, first match wins; no match is "
        "a `form` event", [["demo", "demo_request"], ["webinar", "webinar"]])
    automated_sources: frozenset[str] = option(
        frozenset({"AUTOMATION_PLATFORM", "SEQUENCES", "BOT", "WORKFLOWS"}), "`hs_object_source` values "
        "whose engagements are automation, never a sales touch", ["WORKFLOWS", "SEQUENCES"])
    engagement_types: tuple[str, ...] = option(
        ENGAGEMENT_TYPES, "engagement objects read as activities (communications: LinkedIn, SMS and WhatsApp "
        "messages logged on the record)", ["calls", "emails", "meetings"])
    booking_sources: frozenset[str] = option(
        DEFAULT_BOOKING_SOURCES, "`hs_meeting_source` values of meetings the contact booked (the meetings "
        "tool's scheduling pages): only those count as `meeting_booked`, accepted when the meeting was created; "
        "other meetings are logged by sales", ["MEETINGS_PUBLIC", "MEETINGS_EMBEDDED"])
    message_kind: ActivityKind = option(
        ActivityKind.EMAIL, "the activity kind of a message (LinkedIn, SMS, WhatsApp) a sales user logged: "
        "email, a written one-to-one message, counts as a sales touch with the shipped rules", "task")

    @field_validator("engagement_types")
    @classmethod
    def _known_engagements(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(ENGAGEMENT_TYPES))
        if unknown:
            raise ValueError(f"unknown engagement types {unknown}; known: {list(ENGAGEMENT_TYPES)}")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        oauth = (self.refresh_token, self.client_id, self.client_secret)
        if any(part is not None for part in oauth) and not all(part is not None for part in oauth):
            raise ValueError("OAuth needs refresh_token, client_id and client_secret together")
        if self.access_token is None and self.refresh_token is None:
            raise ValueError(
                "give a private-app access_token, or OAuth refresh_token/client_id/client_secret"
            )
        missing = sorted(set(CanonicalField) - set(self.field_properties))
        if missing:
            raise ValueError(f"field_properties lacks {missing}")
        return self

    @property
    def uses_oauth(self) -> bool:
        return self.refresh_token is not None

    def secrets(self) -> list[str]:
        """Every credential value, for the log masker."""
        return [
            secret.get_secret_value() for secret in (self.access_token, self.refresh_token,
                                                     self.client_secret) if secret
        ]
