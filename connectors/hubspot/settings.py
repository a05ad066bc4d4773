"""Settings for one HubSpot account, validated once at the boundary and then immutable.

Credentials are `SecretStr`: the daemon resolves environment-variable or file
references into them, and nothing here ever renders them. Every limit has a
documented default (crm-api-facts §1.6 / §1.11) and every page or batch size is
capped at the API maximum, so a typo cannot make the connector send requests
HubSpot rejects. Mappings default to HubSpot's own properties where HubSpot has
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

# HubSpot's API maxima (facts §1.2): search 200 per page, list 100, object batch 100, v4 association batch 1000
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
    """Client-side pacing, per account. Defaults are the Free/Starter private-app figures (facts §1.6):
    100 calls per rolling 10 s, 250,000 per day, search 5 per second. Professional and Enterprise
    accounts raise `burst_calls` to 190 and `daily_calls` to 650,000 / 1,000,000."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    burst_calls: int = Field(100, ge=1)
    burst_window_s: float = Field(10.0, gt=0)
    search_calls_per_s: int = Field(5, ge=1)
    daily_calls: int | None = Field(250_000, ge=1)  # None: OAuth public apps have no daily limit
    daily_reserve: int = Field(0, ge=0)  # calls left for people and other integrations sharing the budget
    account_timezone: str = "UTC"  # the daily counter resets at midnight in the account's time zone


class HubSpotSettings(ConnectorSettings):
    """One HubSpot account. Either a private-app token (`access_token` alone) or OAuth (`refresh_token`,
    `client_id`, `client_secret`, optionally a current `access_token` with its expiry)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = API_HOST
    access_token: SecretStr | None = None
    access_token_expires_at: datetime | None = None
    refresh_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_margin_s: float = Field(300.0, ge=0)  # refresh this long before `expires_in` runs out

    limits: HubSpotLimits = HubSpotLimits()

    search_page_size: int = Field(SEARCH_PAGE_MAX, ge=1, le=SEARCH_PAGE_MAX)
    list_page_size: int = Field(LIST_PAGE_MAX, ge=1, le=LIST_PAGE_MAX)
    object_batch_size: int = Field(OBJECT_BATCH_MAX, ge=1, le=OBJECT_BATCH_MAX)
    association_batch_size: int = Field(ASSOCIATION_BATCH_MAX, ge=1, le=ASSOCIATION_BATCH_MAX)
    push_batch_size: int = Field(OBJECT_BATCH_MAX, ge=1, le=OBJECT_BATCH_MAX)
    # contacts enriched together: one association read per engagement type covers this many contacts
    pull_chunk_size: int = Field(ASSOCIATION_BATCH_MAX, ge=1, le=ASSOCIATION_BATCH_MAX)
    # search results are indexed "within a few moments": each incremental pull re-reads this window
    search_overlap_s: float = Field(10.0, ge=0)
    # archived (deleted) contacts are listed at most this often; each sweep lists the last 90 days of them
    archived_sweep_interval_s: float = Field(3600.0, ge=0)
    pipeline_cache_s: float = Field(3600.0, ge=0)

    property_group: str = "crmsync"
    property_group_label: str = "crmsync"
    field_properties: dict[CanonicalField, str] = Field(default_factory=lambda: dict(DEFAULT_FIELD_PROPERTIES))
    override_stage_property: str | None = "crmsync_override_stage"
    lifecycle_stages: dict[Stage, str | None] = Field(default_factory=lambda: dict(DEFAULT_LIFECYCLE))
    lead_status: dict[Stage, str] = Field(default_factory=lambda: dict(DEFAULT_LEAD_STATUS))
    allow_backward_lifecycle: bool = False

    profile_properties: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PROFILE_PROPERTIES))
    field_sources: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_FIELD_SOURCES))
    deal_stages: dict[str, PipelineStage] = Field(default_factory=lambda: dict(DEFAULT_DEAL_STAGES))
    deal_recurring_property: str | None = "recurring_revenue_amount"
    deal_contract_months_property: str | None = "contract_term_months"
    conversion_types: tuple[tuple[str, str], ...] = DEFAULT_CONVERSION_TYPES
    automated_sources: frozenset[str] = frozenset({"AUTOMATION_PLATFORM", "SEQUENCES", "BOT", "WORKFLOWS"})
    engagement_types: tuple[str, ...] = ENGAGEMENT_TYPES

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
