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

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from sync.contract import CanonicalField
from sync.model import PipelineStage, Stage
from sync.toolkit.settings import ConnectorSettings

API_HOST = "https://api.hubapi.com"

# HubSpot's API maxima: search 200 per page, list 100, object batch 100, v4 association batch 1000
SEARCH_PAGE_MAX = 200
LIST_PAGE_MAX = 100
OBJECT_BATCH_MAX = 100
ASSOCIATION_BATCH_MAX = 1000

#: what crmsync writes, canonical field -> contact property in crmsync's own group
DEFAULT_FIELD_PROPERTIES: dict[CanonicalField, str] = {field: f"crmsync_{field.value}" for field in CanonicalField}

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

ENGAGEMENT_TYPES = ("calls", "emails", "meetings", "notes", "tasks")


class HubSpotLimits(BaseModel):
    """Client-side pacing, per account. Defaults are the Free/Starter private-app figures ("API usage
    guidelines and limits", https://developers.hubspot.com/docs/api/usage-details): 100 calls per rolling
    10 s, 250,000 per day, search 5 per second. Professional and Enterprise accounts raise `burst_calls` to
    190 and `daily_calls` to 650,000 / 1,000,000."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    burst_calls: int = Field(100, ge=1, description=(
        "calls per burst window: 100 on Free/Starter, 190 on Professional/Enterprise, 110 for a public "
        "OAuth app per account"), examples=[190])
    burst_window_s: float = Field(10.0, gt=0, description="the burst window, in seconds", examples=[10])
    search_calls_per_s: int = Field(5, ge=1, description="search requests per second, a separate limit",
                                    examples=[5])
    daily_calls: int | None = Field(250_000, ge=1, description=(
        "calls per day for the account, shared with every private app; null for public OAuth apps, which "
        "have no daily limit"), examples=[650_000])
    daily_reserve: int = Field(0, ge=0, description=(
        "calls of the daily budget left untouched for people and other integrations sharing it"),
        examples=[10_000])
    account_timezone: str = Field("UTC", description=(
        "the account's time zone: the daily counter resets at midnight there"), examples=["Europe/Paris"])


class HubSpotSettings(ConnectorSettings):
    """One HubSpot account. Either a private-app token (`access_token` alone) or OAuth (`refresh_token`,
    `client_id`, `client_secret`, optionally a current `access_token` with its expiry)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(API_HOST, description="HubSpot's API host; a sandbox's address in tests",
                          examples=[API_HOST])
    access_token: SecretStr | None = Field(None, description=(
        "a private-app token, or the current OAuth access token (refreshed when it expires)"),
        examples=[{"env": "HUBSPOT_TOKEN"}])
    access_token_expires_at: datetime | None = Field(None, description=(
        "when the configured OAuth access token expires; unknown: it is used until HubSpot rejects it"),
        examples=["2026-11-02T09:30:00Z"])
    refresh_token: SecretStr | None = Field(None, description="OAuth refresh token of the app's installation",
                                            examples=[{"env": "HUBSPOT_REFRESH_TOKEN"}])
    client_id: str | None = Field(None, description="OAuth app client id",
                                  examples=["5c1e2f3a-0000-4000-8000-0123456789ab"])
    client_secret: SecretStr | None = Field(None, description="OAuth app client secret",
                                            examples=[{"file": "/run/secrets/hubspot_client_secret"}])
    refresh_margin_s: float = Field(300.0, ge=0, description=(
        "refresh an OAuth token this many seconds before the expiry its token answer announced"),
        examples=[300])

    limits: HubSpotLimits = Field(HubSpotLimits(), description="client-side pacing (see its options)",
                                  examples=[{"burst_calls": 190, "daily_calls": 650_000}])

    search_page_size: int = Field(SEARCH_PAGE_MAX, ge=1, le=SEARCH_PAGE_MAX, description=(
        "contacts per search page (incremental pulls); HubSpot's maximum is 200"), examples=[200])
    list_page_size: int = Field(LIST_PAGE_MAX, ge=1, le=LIST_PAGE_MAX, description=(
        "contacts per list page (full pulls); HubSpot's maximum is 100"), examples=[100])
    object_batch_size: int = Field(OBJECT_BATCH_MAX, ge=1, le=OBJECT_BATCH_MAX, description=(
        "deals or engagements per batch read; HubSpot's maximum is 100"), examples=[100])
    association_batch_size: int = Field(ASSOCIATION_BATCH_MAX, ge=1, le=ASSOCIATION_BATCH_MAX, description=(
        "contacts per v4 association batch read; HubSpot's maximum is 1,000"), examples=[1000])
    push_batch_size: int = Field(OBJECT_BATCH_MAX, ge=1, le=OBJECT_BATCH_MAX, description=(
        "contacts per batch update; HubSpot's maximum is 100"), examples=[100])
    pull_chunk_size: int = Field(ASSOCIATION_BATCH_MAX, ge=1, le=ASSOCIATION_BATCH_MAX, description=(
        "contacts enriched together (one association read per engagement type covers them); one page of "
        "a pull"), examples=[1000])
    search_overlap_s: float = Field(10.0, ge=0, description=(
        "seconds each incremental pull re-reads before its bookmark: search results are indexed \"within a "
        "few moments\"; what was already emitted is skipped"), examples=[10])
    archived_sweep_interval_s: float = Field(3600.0, ge=0, description=(
        "how often archived (deleted) contacts are listed, each sweep the last 90 days of them"),
        examples=[3600])
    pipeline_cache_s: float = Field(3600.0, ge=0, description=(
        "how long deal pipelines and contact property definitions are cached"), examples=[3600])

    property_group: str = Field("crmsync", description="the contact property group crmsync's properties go in",
                                examples=["crmsync"])
    property_group_label: str = Field("crmsync", description="that group's label in HubSpot",
                                      examples=["Lead scoring (crmsync)"])
    field_properties: dict[CanonicalField, str] = Field(
        default_factory=lambda: dict(DEFAULT_FIELD_PROPERTIES), description=(
            "what crmsync writes: canonical field -> contact property name (entries given here replace "
            "only those defaults)"), examples=[{"score": "lead_score_crmsync"}])
    override_stage_property: str | None = Field("crmsync_override_stage", description=(
        "a property sales sets to force a stage; null: no override"), examples=["crmsync_override_stage"])
    lifecycle_stages: dict[Stage, str | None] = Field(default_factory=lambda: dict(DEFAULT_LIFECYCLE), description=(
        "crmsync stage -> HubSpot lifecycle stage; null keeps the lifecycle stage and sets the lead status"),
        examples=[{"prospect": "opportunity"}])
    lead_status: dict[Stage, str] = Field(default_factory=lambda: dict(DEFAULT_LEAD_STATUS), description=(
        "crmsync stage -> `hs_lead_status`, for the stages that do not move the lifecycle stage"),
        examples=[{"nurture": "BAD_TIMING"}])
    allow_backward_lifecycle: bool = Field(False, description=(
        "let crmsync move a lifecycle stage backward (clear, then set); HubSpot only moves it forward"),
        examples=[False])

    profile_properties: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PROFILE_PROPERTIES),
                                               description="contact attribute -> property it is read from",
                                               examples=[{"seniority": "hs_seniority"}])
    field_sources: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_FIELD_SOURCES), description=(
        "`fields` key the rules read -> property it is read from (qualification answers, other data)"),
        examples=[{"budget": "budget_confirmed"}])
    deal_stages: dict[str, PipelineStage] = Field(default_factory=lambda: dict(DEFAULT_DEAL_STAGES), description=(
        "deal stage id -> one of the five canonical pipeline stages"),
        examples=[{"qualifiedtobuy": "discovery"}])
    deal_recurring_property: str | None = Field("recurring_revenue_amount", description=(
        "deal property whose positive amount marks a recurring deal; null: unknown"),
        examples=["recurring_revenue_amount"])
    deal_contract_months_property: str | None = Field("contract_term_months", description=(
        "deal property with the contract length in months; null: unknown"), examples=["contract_term_months"])
    conversion_types: tuple[tuple[str, str], ...] = Field(DEFAULT_CONVERSION_TYPES, description=(
        "form name keyword -> engagement event type, first match wins; no match is a `form` event"),
        examples=[[["demo", "demo_request"], ["webinar", "webinar"]]])
    automated_sources: frozenset[str] = Field(
        frozenset({"AUTOMATION_PLATFORM", "SEQUENCES", "BOT", "WORKFLOWS"}), description=(
            "`hs_object_source` values whose engagements are automation, never a sales touch"),
        examples=[["WORKFLOWS", "SEQUENCES"]])
    engagement_types: tuple[str, ...] = Field(ENGAGEMENT_TYPES, description=(
        "engagement objects read as activities"), examples=[["calls", "emails", "meetings"]])

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/")

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
            raise ValueError("give a private-app access_token, or OAuth refresh_token/client_id/client_secret")
        missing = sorted(set(CanonicalField) - set(self.field_properties))
        if missing:
            raise ValueError(f"field_properties lacks {missing}")
        return self

    @property
    def uses_oauth(self) -> bool:
        return self.refresh_token is not None

    def secrets(self) -> list[str]:
        """Every credential value, for the log masker."""
        return [s.get_secret_value() for s in (self.access_token, self.refresh_token, self.client_secret) if s]
