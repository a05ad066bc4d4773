"""Settings for one Pipedrive company account.

The daemon resolves environment-variable and file references into the `SecretStr` fields; nothing here
reads the environment. Defaults come from Pipedrive's documentation ("Rate limiting": the token-based
limits per plan; "Pagination": the v2 list maximum of 500; the 100-ids cap of `ids=` look-ups). Every
budget can be overridden, because companies buy top-ups and share their budget with other integrations. Every option
carries a description and an example: they are what the published settings schema shows in an editor.

Custom fields are addressed BY NAME here: their 40-character hash keys differ per company, so the
connector resolves names to keys through `GET /v1/personFields` and never stores keys in configuration.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import cached_property
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from connectors.pipedrive.mapping import ACTIVITY_KINDS, MATURITY_LABELS
from connectors.pipedrive.mapping import NO as NO  # Pipedrive's Yes/No options, re-exported
from connectors.pipedrive.mapping import YES as YES
from sync.contract import CanonicalField
from sync.model import ActivityKind, Maturity, PipelineStage
from sync.toolkit.settings import (ConnectorSettings, option, pipeline_stages_option, recurring_field_option,
                                   stage_override_option)

DEFAULT_BASE_URL = "https://api.pipedrive.com"
DEFAULT_OAUTH_URL = "https://oauth.pipedrive.com"
MAX_PAGE_SIZE = 500  # v2 list endpoints (persons, deals, activities, organizations, stages)
MAX_IDS_PER_CALL = 100  # `ids=` on v2 list endpoints
MAX_FIELDS_PAGE_SIZE = 500  # v1 personFields start/limit paging


class Plan(enum.StrEnum):
    LITE = "lite"
    GROWTH = "growth"
    PREMIUM = "premium"
    ULTIMATE = "ultimate"


# Burst: requests per rolling 2-second window, per token (Pipedrive "Rate limiting", token-based limits).
BURST_API_TOKEN = {Plan.LITE: 20, Plan.GROWTH: 40, Plan.PREMIUM: 100, Plan.ULTIMATE: 120}
BURST_OAUTH = {Plan.LITE: 80, Plan.GROWTH: 160, Plan.PREMIUM: 400, Plan.ULTIMATE: 480}
# Daily token budget per company = 30 000 x plan multiplier x seats (+ purchased top-ups).
DAILY_BASE_TOKENS = 30_000
DAILY_MULTIPLIER = {Plan.LITE: 1, Plan.GROWTH: 2, Plan.PREMIUM: 5, Plan.ULTIMATE: 7}


def effective_daily_tokens(plan: Plan, seats: int) -> int:
    return DAILY_BASE_TOKENS * DAILY_MULTIPLIER[plan] * seats


class FieldSpec(BaseModel):
    """One custom person field crmsync writes: its name in Pipedrive and how the value is stored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        min_length=1, max_length=255, description="the field's name in Pipedrive", examples=["crmsync score"]
    )
    field_type: str = Field(
        pattern="^(double|enum|varchar|text|date)$",
        description=("how Pipedrive stores it: double, enum, varchar, text or date"),
        examples=["double"],
    )
    options: tuple[str, ...] = option((), "an enum field's option labels, created with the field",
                                          ["cold", "warm", "hot"])


def _enum(name: str, labels: tuple[str, ...]) -> FieldSpec:
    return FieldSpec(name=name, field_type="enum", options=labels)


# Why these types: Pipedrive has no boolean field, so flags are Yes/No enums (filterable, shown as a
# dropdown); the SLA due time is a varchar holding an RFC 3339 UTC instant because the `date` type
# cannot hold the hour of a 24-business-hour deadline and `time` cannot hold the day; ISO text still
# sorts correctly. The reason is `text` because explanations can exceed varchar's 255 characters.
DEFAULT_WRITE_FIELDS: dict[CanonicalField, FieldSpec] = {
    CanonicalField.SCORE: FieldSpec(name="crmsync score", field_type="double"),
    CanonicalField.SCORE_FIT: FieldSpec(name="crmsync score fit", field_type="double"),
    CanonicalField.SCORE_ENGAGEMENT: FieldSpec(name="crmsync score engagement", field_type="double"),
    CanonicalField.SCORE_INTENT: FieldSpec(name="crmsync score intent", field_type="double"),
    CanonicalField.STAGE: _enum("crmsync stage", ("lead", "prospect", "client", "nurture", "disqualified")),
    CanonicalField.MATURITY: _enum("crmsync maturity", ("cold", "warm", "hot")),
    CanonicalField.CLIENT_KIND: _enum("crmsync client kind", ("one_off", "recurring")),
    CanonicalField.CRITERIA_MET: FieldSpec(name="crmsync criteria met", field_type="varchar"),
    CanonicalField.SLA_STATUS: _enum(
        "crmsync SLA status", ("not_started", "running", "met", "breached", "late")
    ),
    CanonicalField.SLA_DUE_AT: FieldSpec(name="crmsync SLA due at", field_type="varchar"),
    CanonicalField.SLA_BREACHED: _enum("crmsync SLA breached", (YES, NO)),
    CanonicalField.REASON: FieldSpec(name="crmsync reason", field_type="text"),
    CanonicalField.RULES_VERSION: FieldSpec(name="crmsync rules version", field_type="varchar"),
}

# Pull side: neutral Contact attribute -> Pipedrive person custom field name. Every other custom field
# still reaches `Contact.fields`, keyed by the snake_case of its name.
DEFAULT_PROFILE_FIELDS: dict[str, str] = {
    "industry": "Industry",
    "company_size": "Company size",
    "seniority": "Seniority",
    "country": "Country",
    "source": "Lead source",
}
DEFAULT_QUALIFICATION_FIELDS: dict[str, str] = {
    "need": "Need",
    "timing": "Timing",
    "budget": "Budget",
    "decision_role": "Decision role",
}
# Pipedrive has no marketing events. An admin can keep the date of the latest event of a type in a
# date field (form tools and Zapier flows commonly do); each gives at most one event, at day precision.
DEFAULT_EVENT_DATE_FIELDS: dict[str, str] = {
    "download": "Last download",
    "webinar": "Last webinar",
    "visit": "Last site visit",
    "form": "Last form submission",
    "demo_request": "Demo requested on",
    "pricing_view": "Last pricing view",
    "meeting_booked": "Meeting booked on",
    "trade_show": "Last trade show",
}
# Pipedrive's native vocabulary (activity types, maturity labels) is one table in `mapping`; these
# settings start from it and a company renames or extends it.
DEFAULT_ACTIVITY_TYPES: dict[str, ActivityKind] = dict(ACTIVITY_KINDS)
DEFAULT_MATURITY_LABELS: dict[Maturity, str] = dict(MATURITY_LABELS)


class PipedriveOAuth(BaseModel):
    """An OAuth app installation: the access token is refreshed before `expires_in` runs out, and once
    on a 401."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str = Field(min_length=1, description="the app's client id", examples=["c0ffee0123456789"])
    client_secret: SecretStr = Field(
        description="the app's client secret", examples=[{"env": "PIPEDRIVE_CLIENT_SECRET"}]
    )
    refresh_token: SecretStr = Field(
        description="the installation's refresh token", examples=[{"env": "PIPEDRIVE_REFRESH_TOKEN"}]
    )
    access_token: SecretStr | None = option(None, "the current access token; null: one is fetched before the "
                                                  "first call", None)
    oauth_url: str = option(DEFAULT_OAUTH_URL, "Pipedrive's OAuth host", DEFAULT_OAUTH_URL)
    refresh_margin_s: float = option(120.0, "refresh the access token this many seconds before the expiry "
                                            "its token answer announced", 120, ge=0)


class PipedriveSettings(ConnectorSettings):
    """One Pipedrive company account, as crmsync talks to it."""

    base_url: str = option(DEFAULT_BASE_URL, "the API host; the company domain (https://acme.pipedrive.com) "
                                             "answers faster", "https://acme.pipedrive.com")
    v1_prefix: str | None = option(None, "path prefix of v1 endpoints; null: /v1 on api.pipedrive.com, "
                                         "/api/v1 on a company domain", "/api/v1")
    api_token: SecretStr | None = option(None, "a user's API token (sent in the x-api-token header, never in "
                                               "the URL); or give `oauth`", {"env": "PIPEDRIVE_API_TOKEN"})
    oauth: PipedriveOAuth | None = option(None, "an OAuth app installation instead of an API token",
                                                {"client_id": "c0ffee0123456789"})

    plan: Plan = option(Plan.LITE, "the company's plan: it sets the documented burst limit and daily token "
                                   "budget", "growth")
    seats: int = option(1, "seats bought: the daily token budget grows with them", 5, ge=1)
    burst_limit: int | None = option(None, "requests per burst window; null: the plan's documented figure",
                                           40, ge=1)
    burst_window_s: float = option(2.0, "the rolling burst window, in seconds", 2, gt=0)
    daily_token_budget: int | None = option(None, "tokens per day for the company; null: 30,000 x the plan's "
                                                  "multiplier x seats (top-ups raise it)", 300_000, ge=1)
    daily_reserve_tokens: int = option(0, "tokens of the daily budget left untouched for people and other "
                                          "integrations", 10_000, ge=0)
    cloudflare_block_wait_s: float = option(60.0, "seconds to wait after Cloudflare's 403 block (what "
                                                  "follows ignored 429s)", 60, gt=0)

    page_size: int = option(MAX_PAGE_SIZE, "rows per v2 list page; Pipedrive's maximum is 500",
                                           500, ge=1, le=MAX_PAGE_SIZE)
    ids_per_call: int = option(MAX_IDS_PER_CALL, "ids per `ids=` look-up; Pipedrive's maximum is 100",
                                                 100, ge=1, le=MAX_IDS_PER_CALL)
    fields_page_size: int = option(MAX_FIELDS_PAGE_SIZE, "person fields per v1 page",
                                                         500, ge=1, le=MAX_FIELDS_PAGE_SIZE)
    user_agent: str = option(
        "crmsync/0.1 (+pipedrive connector)", "the User-Agent header sent",
        "crmsync/0.1 (+pipedrive connector)")
    overlap_s: int = option(60, "seconds each pull re-reads before the previous pull's start, against clock "
                                "skew; what was already emitted is skipped", 60, ge=0)

    # --- write-back: person fields and labels -----------------------------------------------------------
    write_fields: dict[CanonicalField, FieldSpec] = option(
        DEFAULT_WRITE_FIELDS, "what crmsync writes: canonical field -> person field (by name, with its type)",
        {"score": {"name": "Lead score", "field_type": "double"}})
    maturity_labels: dict[Maturity, str] | None = option(
        DEFAULT_MATURITY_LABELS, "maturity -> person label mirrored into the person's labels; null: labels "
        "untouched", {"hot": "Hot lead", "warm": "Warm lead", "cold": "Cold lead"})

    # --- pull mapping: person fields the rules read ---------------------------------------------------
    profile_fields: dict[str, str] = option(
        DEFAULT_PROFILE_FIELDS, "contact attribute -> person custom field name it is read from",
        {"company_size": "Employees"})
    qualification_fields: dict[str, str] = option(
        DEFAULT_QUALIFICATION_FIELDS, "qualification answer the rules read -> person custom field name",
        {"budget": "Budget"})
    event_date_fields: dict[str, str] = option(
        DEFAULT_EVENT_DATE_FIELDS, "engagement event type -> date field holding the latest such event (one "
        "event each, day precision)", {"webinar": "Last webinar"})

    # --- pull mapping: stages, activities, organizations ----------------------------------------------
    override_stage_field: str | None = stage_override_option("crmsync stage override", "a person field (by name)")
    activity_types: dict[str, ActivityKind] = option(
        DEFAULT_ACTIVITY_TYPES, "activity type key -> activity kind (Pipedrive's own types are mapped already; "
        "name the company's own)", {"demo": "meeting"})
    recurring_deal_field: str | None = recurring_field_option(
        "mrr", "the deal field", "a native one (mrr, arr, acv: recurring revenue above 0) or the name of the "
        "company's own deal field (a Yes/No option, a boolean or a number above 0)", "Recurring")
    automation_user_ids: frozenset[int] = option(
        frozenset(), "users whose activities are automation, never a sales touch", [12345])
    stage_map: dict[int, PipelineStage] = pipeline_stages_option({}, "deal stage id", {7: "negotiation"},
                                                                 "; stages not named here map by their order")
    resolve_organizations: bool = option(True, "read each person's company name from its organization (ids= "
                                               "look-ups)", True)
    reconcile_every_h: float = option(24.0, "hours between two checks of which persons still exist (Pipedrive "
                                            "lists no deleted or merged persons): each lists every person id, "
                                            "500 a call (10 tokens); 0: never", 24, ge=0)
    complete_history: bool = option(False, "incremental pulls carry the deals and activities that changed "
                                           "(the engine completes each person's history from its snapshot); "
                                           "on: a person whose counters show more gets all of them (2 calls "
                                           "each)", False)

    @model_validator(mode="after")
    def _one_credential(self) -> Self:
        if (self.api_token is None) == (self.oauth is None):
            raise ValueError("set exactly one of api_token or oauth")
        if self.maturity_labels is not None and len(set(self.maturity_labels.values())) != len(
            self.maturity_labels
        ):
            raise ValueError("maturity_labels must name a different label for each maturity")
        return self

    @property
    def uses_oauth(self) -> bool:
        return self.oauth is not None

    def effective_burst(self) -> int:
        if self.burst_limit is not None:
            return self.burst_limit
        return (BURST_OAUTH if self.uses_oauth else BURST_API_TOKEN)[self.plan]

    def effective_daily_budget(self) -> int:
        if self.daily_token_budget is not None:
            return self.daily_token_budget
        return effective_daily_tokens(self.plan, self.seats)

    @cached_property
    def field_names(self) -> FieldNames:
        """The person fields these settings name, folded once (a pull looks each custom value up in them)."""
        return FieldNames(
            managed=frozenset(spec.name.casefold() for spec in self.write_fields.values()),
            profile={name.casefold(): attribute for attribute, name in self.profile_fields.items()},
            qualification={name.casefold(): key for key, name in self.qualification_fields.items()},
            event_dates={name.casefold(): kind for kind, name in self.event_date_fields.items()},
            override_stage=self.override_stage_field.casefold() if self.override_stage_field else None)


@dataclass(frozen=True)
class FieldNames:
    """Person field names (folded) -> what a pull makes of their values."""

    managed: frozenset[str]  # crmsync's own fields: not read back
    profile: dict[str, str]  # -> the contact attribute
    qualification: dict[str, str]  # -> the `fields` key the rules read
    event_dates: dict[str, str]  # -> the engagement event type, dated by the value
    override_stage: str | None  # the stage sales forces
