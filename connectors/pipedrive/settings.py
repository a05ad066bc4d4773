"""Settings for one Pipedrive company account.

The daemon resolves environment-variable and file references into the `SecretStr` fields; nothing here
reads the environment. Defaults come from Pipedrive's documentation (crm-api-facts §3): the token-based
rate limits per plan, the v2 list maximum of 500, the 100-ids cap of `ids=` look-ups. Every budget can be
overridden, because companies buy top-ups and share their budget with other integrations.

Custom fields are addressed BY NAME here: their 40-character hash keys differ per company, so the
connector resolves names to keys through `GET /v1/personFields` and never stores keys in configuration.
"""

from __future__ import annotations

import enum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from sync.contract import CanonicalField
from sync.model import ActivityKind, Maturity, PipelineStage
from sync.toolkit.settings import ConnectorSettings

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

    name: str = Field(min_length=1, max_length=255)
    field_type: str = Field(pattern="^(double|enum|varchar|text|date)$")
    options: tuple[str, ...] = ()  # enum option labels, created with the field


def _enum(name: str, labels: tuple[str, ...]) -> FieldSpec:
    return FieldSpec(name=name, field_type="enum", options=labels)


YES, NO = "Yes", "No"

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
# Activity type key -> neutral kind. `note` is a custom activity type (Pipedrive notes are not activities).
DEFAULT_ACTIVITY_TYPES: dict[str, ActivityKind] = {
    "call": ActivityKind.CALL,
    "meeting": ActivityKind.MEETING,
    "lunch": ActivityKind.MEETING,
    "email": ActivityKind.EMAIL,
    "task": ActivityKind.TASK,
    "deadline": ActivityKind.TASK,
    "note": ActivityKind.NOTE,
}
# Pipedrive's default person labels; maturity is mirrored into them so sales sees it in every list view.
DEFAULT_MATURITY_LABELS: dict[Maturity, str] = {
    Maturity.HOT: "Hot lead",
    Maturity.WARM: "Warm lead",
    Maturity.COLD: "Cold lead",
}


class PipedriveOAuth(BaseModel):
    """An OAuth app installation: the access token is refreshed before `expires_in` runs out, and once
    on a 401."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    refresh_token: SecretStr
    access_token: SecretStr | None = None  # None: refresh before the first call
    oauth_url: str = DEFAULT_OAUTH_URL
    refresh_margin_s: float = Field(default=120.0, ge=0)  # refresh this long before expiry


class PipedriveSettings(ConnectorSettings):
    """One Pipedrive company account, as crmsync talks to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = DEFAULT_BASE_URL  # the company domain (`https://acme.pipedrive.com`) is faster
    # None: `/v1` on api.pipedrive.com (the v1 spec's server), `/api/v1` on a company domain (`api_domain`)
    v1_prefix: str | None = None
    api_token: SecretStr | None = None
    oauth: PipedriveOAuth | None = None

    plan: Plan = Plan.LITE
    seats: int = Field(default=1, ge=1)
    burst_limit: int | None = Field(default=None, ge=1)  # None: the plan's documented burst
    burst_window_s: float = Field(default=2.0, gt=0)
    daily_token_budget: int | None = Field(default=None, ge=1)  # None: 30 000 x multiplier x seats
    daily_reserve_tokens: int = Field(default=0, ge=0)  # left for people and other integrations
    cloudflare_block_wait_s: float = Field(default=60.0, gt=0)

    page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    ids_per_call: int = Field(default=MAX_IDS_PER_CALL, ge=1, le=MAX_IDS_PER_CALL)
    fields_page_size: int = Field(default=MAX_FIELDS_PAGE_SIZE, ge=1, le=MAX_FIELDS_PAGE_SIZE)
    user_agent: str = "crmsync/0.1 (+pipedrive connector)"
    overlap_s: int = Field(default=60, ge=0)  # re-read window behind the bookmark, for clock skew

    write_fields: dict[CanonicalField, FieldSpec] = Field(default_factory=lambda: dict(DEFAULT_WRITE_FIELDS))
    maturity_labels: dict[Maturity, str] | None = Field(default_factory=lambda: dict(DEFAULT_MATURITY_LABELS))
    profile_fields: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PROFILE_FIELDS))
    qualification_fields: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_QUALIFICATION_FIELDS))
    event_date_fields: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_EVENT_DATE_FIELDS))
    override_stage_field: str | None = "crmsync stage override"
    activity_types: dict[str, ActivityKind] = Field(default_factory=lambda: dict(DEFAULT_ACTIVITY_TYPES))
    automation_user_ids: frozenset[int] = frozenset()  # activities they create are never a sales touch
    stage_map: dict[int, PipelineStage] = Field(default_factory=dict)  # stage_id -> canonical; else by order
    resolve_organizations: bool = True  # company name from the person's organization (ids= look-ups)
    # incremental pulls carry the deals and activities that changed in the window (the page says so, and
    # the engine completes each person's history from its snapshot); with this on, a person whose counters
    # show more gets all of them from Pipedrive (2 calls per such person, primary-participant activities)
    complete_history: bool = False

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/")

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
