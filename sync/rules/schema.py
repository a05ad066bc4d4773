"""The rules file as typed pydantic models: the one schema behind validation, the JSON Schema and the docs.

Every model forbids unknown keys, so a typo in an operator or a section name is
an error at load time with its line and column, never a rule that silently
does nothing. Conditions are plain data (a mapping with one recognised key that
says what kind of test it is); nothing in the file is ever evaluated as code.
Checks that need the whole file (names, references, field types, caps) live in
`sync.rules.checks`, where they can point at the offending key.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import date
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from sync.model import ActivityKind, DealStatus, PipelineStage

Scalar = Union[bool, int, float, str]  # bool first: YAML true must stay a bool, not become 1
Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$",
                            description="letters, digits, _ . -; starts with a letter; at most 64 characters")]
Days = Annotated[float, Field(gt=0, le=36_500)]
Count = Annotated[int, Field(ge=0, le=1_000_000)]

# The contact attributes a field condition may name, by type. `fields.<name>` reaches the CRM's custom and
# qualification fields (type unknown until run time); `email_domain` is derived from `email`.
TEXT_FIELDS = frozenset({
    "crm", "account", "id", "email", "email_domain", "owner_id", "first_name", "last_name", "company",
    "industry", "job_title", "seniority", "country", "source",
})
NUMBER_FIELDS = frozenset({"company_size"})
DATE_FIELDS = frozenset({"created_at", "updated_at"})
KNOWN_FIELDS = TEXT_FIELDS | NUMBER_FIELDS | DATE_FIELDS

TEXT_OPS = ("eq", "ne", "in", "not_in", "contains", "matches")
RANGE_OPS = ("gt", "gte", "lt", "lte")
DATE_OPS = ("within_days", "older_than_days")
FIELD_OPS = (*TEXT_OPS, *RANGE_OPS, *DATE_OPS, "exists")

FRAMEWORK_CRITERIA: dict[str, tuple[str, ...]] = {
    "bant": ("budget", "authority", "need", "timing"),
    "meddic": ("metrics", "economic_buyer", "decision_criteria", "decision_process", "identify_pain", "champion"),
    "gpct": ("goals", "plans", "challenges", "timeline"),
}
# What the method requires when the file does not say: BANT per the seed (need, a role in the decision and
# a credible timing; budget is reported but optional), MEDDIC and GPCT in full.
FRAMEWORK_REQUIRED: dict[str, tuple[str, ...]] = {
    "bant": ("need", "authority", "timing"),
    "meddic": FRAMEWORK_CRITERIA["meddic"],
    "gpct": FRAMEWORK_CRITERIA["gpct"],
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_alias=True, validate_by_name=False,
                              serialize_by_alias=True)


# ---------------------------------------------------------------------------------------------- conditions


class FieldCondition(_Model):
    """A test on one contact attribute or custom field: `{field: industry, in: [software, finance]}`."""

    field: str = Field(description="a contact attribute (industry, company_size, job_title, email_domain...) "
                                    "or fields.<name> for a custom or qualification field")
    eq: Scalar | None = Field(None, description="equal to (text ignores case unless case_sensitive)")
    ne: Scalar | None = Field(None, description="not equal to (exactly the opposite of eq)")
    in_: list[Scalar] | None = Field(None, alias="in", min_length=1, description="equal to one of")
    not_in: list[Scalar] | None = Field(None, min_length=1, description="equal to none of")
    contains: str | None = Field(None, min_length=1, description="text containing this (or a list holding it)")
    matches: str | None = Field(None, min_length=1, description="text matching this regular expression (search)")
    exists: bool | None = Field(None, description="true: has a non-empty value; false: empty or missing")
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    within_days: Days | None = Field(None, description="a date no older than N days (and not in the future)")
    older_than_days: Days | None = Field(None, description="a date more than N days ago")
    case_sensitive: bool = Field(False, description="text comparisons ignore case unless this is true")

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        if value.startswith("fields."):
            if not value[len("fields."):]:
                raise ValueError("fields. needs a field name after the dot, e.g. fields.need")
            return value
        if value not in KNOWN_FIELDS:
            raise ValueError(f"unknown field {value!r}: use one of {', '.join(sorted(KNOWN_FIELDS))} "
                             "or fields.<name>")
        return value

    @field_validator("matches")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"regular expression does not compile: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_operator(self) -> FieldCondition:
        given = [op for op in FIELD_OPS if getattr(self, "in_" if op == "in" else op) is not None]
        if not given:
            raise ValueError(f"field condition on {self.field!r} needs an operator: one of {', '.join(FIELD_OPS)}")
        ranges = [op for op in given if op in RANGE_OPS]
        others = [op for op in given if op not in RANGE_OPS]
        if len(others) > 1 or (others and ranges):
            raise ValueError(f"one operator per field condition (got {', '.join(given)}); combine with all/any")
        if "gt" in ranges and "gte" in ranges or "lt" in ranges and "lte" in ranges:
            raise ValueError("use gt or gte (and lt or lte), not both")
        return self

    @property
    def operators(self) -> tuple[str, ...]:
        return tuple(op for op in FIELD_OPS if getattr(self, "in_" if op == "in" else op) is not None)


class EventQuery(_Model):
    """Counts engagement events: `{type: download, within_days: 30, at_least: 3}`."""

    type: str | list[str] | None = Field(None, description="event type(s); omitted: any type")
    source: str | list[str] | None = Field(None, description="event source(s), e.g. linkedin; omitted: any")
    within_days: Days | None = Field(None, description="only events of the last N days; omitted: all time")
    at_least: Count = 1
    at_most: Count | None = None


class EventsCondition(_Model):
    events: EventQuery


class ActivityQuery(_Model):
    """Counts sales activities logged in the CRM: `{kind: [call, meeting], by: owner, within_days: 14}`."""

    kind: ActivityKind | list[ActivityKind] | None = Field(None, description="omitted: any kind")
    by: Literal["anyone", "owner", "sales"] = Field(
        "anyone", description="owner: the contact's owner; sales: the owner or the SLA team; anyone: any user")
    direction: Literal["inbound", "outbound"] | None = None
    within_days: Days | None = None
    include_automated: bool = Field(False, description="count sequences, automation and auto-replies too")
    include_open: bool = Field(False, description="count tasks and meetings not done yet too")
    at_least: Count = 1
    at_most: Count | None = None


class ActivitiesCondition(_Model):
    activities: ActivityQuery


class DealQuery(_Model):
    """Counts deals: `{status: open, stage: [proposal, negotiation]}`."""

    status: DealStatus | list[DealStatus] | None = None
    stage: PipelineStage | list[PipelineStage] | None = None
    amount_gte: float | None = None
    amount_lte: float | None = None
    recurring: bool | None = Field(None, description="the deal is (true) or is not (false) recurring, by the "
                                                     "client rules: its recurring flag, else its contract length")
    closed_within_days: Days | None = Field(None, description="close date in the last N days")
    at_least: Count = 1
    at_most: Count | None = None


class DealsCondition(_Model):
    deals: DealQuery


class ScoreCondition(_Model):
    """Tests a score: `{score: engagement, gte: 15}`. Not allowed inside scoring rules (it would be circular)."""

    score: Literal["total", "fit", "engagement", "intent"]
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    @model_validator(mode="after")
    def _has_bound(self) -> ScoreCondition:
        if self.gt is None and self.gte is None and self.lt is None and self.lte is None:
            raise ValueError("score condition needs a bound: gt, gte, lt or lte")
        return self


class RefCondition(_Model):
    """Reuses a named condition from the top-level `conditions:` section: `{ref: decision_maker}`."""

    ref: str


class AllCondition(_Model):
    all: list[Condition] = Field(min_length=1)


class AnyCondition(_Model):
    any: list[Condition] = Field(min_length=1)


class NotCondition(_Model):
    not_: Condition = Field(alias="not")


CONDITION_KINDS = ("all", "any", "not", "field", "events", "activities", "deals", "score", "ref")


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for kind in CONDITION_KINDS:
            if kind in value:
                return f"[{kind}]"
        return None
    for kind, model in _CONDITION_MODELS.items():
        if isinstance(value, model):
            return f"[{kind}]"
    return None


# The tags are bracketed so that the loader drops them from error locations (pydantic puts the tag in the
# path, and `field` is also a key of a field condition).
Condition = Annotated[
    Union[
        Annotated[AllCondition, Tag("[all]")],
        Annotated[AnyCondition, Tag("[any]")],
        Annotated[NotCondition, Tag("[not]")],
        Annotated[FieldCondition, Tag("[field]")],
        Annotated[EventsCondition, Tag("[events]")],
        Annotated[ActivitiesCondition, Tag("[activities]")],
        Annotated[DealsCondition, Tag("[deals]")],
        Annotated[ScoreCondition, Tag("[score]")],
        Annotated[RefCondition, Tag("[ref]")],
    ],
    Discriminator(
        _condition_kind,
        custom_error_type="condition_kind",
        custom_error_message="a condition is a mapping with one of the keys " + ", ".join(CONDITION_KINDS),
    ),
]

_CONDITION_MODELS: dict[str, type[BaseModel]] = {
    "all": AllCondition, "any": AnyCondition, "not": NotCondition, "field": FieldCondition,
    "events": EventsCondition, "activities": ActivitiesCondition, "deals": DealsCondition,
    "score": ScoreCondition, "ref": RefCondition,
}
AnyConditionModel = Union[AllCondition, AnyCondition, NotCondition, FieldCondition, EventsCondition,
                          ActivitiesCondition, DealsCondition, ScoreCondition, RefCondition]


# ---------------------------------------------------------------------------------------------- scoring


class PerEvent(_Model):
    """Points for each matching event, each weighted by the dimension's decay."""

    type: str | list[str]
    source: str | list[str] | None = None
    within_days: Days | None = None


class ScoringRule(_Model):
    name: Name
    description: str | None = None
    points: float = Field(ge=-100, le=100, description="negative for a negative signal")
    when: Condition | None = Field(None, description="the points once when this holds")
    per_event: PerEvent | None = Field(None, description="the points for each matching event, decayed by age")
    max_points: float | None = Field(None, gt=0, le=100, description="per_event only: at most this many points "
                                                                    "(in absolute value)")

    @model_validator(mode="after")
    def _one_trigger(self) -> ScoringRule:
        if (self.when is None) == (self.per_event is None):
            raise ValueError(f"rule {self.name!r} needs exactly one of when or per_event")
        if self.max_points is not None and self.per_event is None:
            raise ValueError(f"rule {self.name!r}: max_points only applies to per_event rules")
        return self


class DecayWindow(_Model):
    within_days: Days
    factor: float = Field(ge=0, le=1)


class Decay(_Model):
    """How much an event still counts with age: a half-life, or step windows (older than the last: 0)."""

    half_life_days: Days | None = None
    windows: list[DecayWindow] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_kind(self) -> Decay:
        if (self.half_life_days is None) == (self.windows is None):
            raise ValueError("decay needs exactly one of half_life_days or windows")
        return self


class Dimension(_Model):
    cap: int = Field(ge=0, le=100, description="most points this dimension can give; the three caps add up to 100")
    decay: Decay | None = Field(None, description="applies to per_event rules of this dimension")
    rules: list[ScoringRule] = Field(default_factory=list)


class Scoring(_Model):
    threshold: int = Field(70, ge=1, le=100, description="a score at or above this qualifies a prospect")
    fit: Dimension
    engagement: Dimension
    intent: Dimension


# ---------------------------------------------------------------------------------------------- qualification


class Framework(_Model):
    required: list[str] | None = Field(None, description="criteria that must all be met; omitted: the "
                                                         "framework's standard set (BANT: need, authority, timing)")
    criteria: dict[str, Condition] = Field(description="criterion name -> condition")


class Qualification(_Model):
    framework: Literal["bant", "meddic", "gpct"] = "bant"
    bant: Framework | None = None
    meddic: Framework | None = None
    gpct: Framework | None = None


# ---------------------------------------------------------------------------------------------- classification


class NamedCondition(_Model):
    name: Name
    description: str | None = None
    when: Condition


class ClientRules(_Model):
    recurring_min_contract_months: int = Field(
        12, ge=1, le=1200, description="a won deal without a recurring flag is recurring from this contract length")
    recurring_min_won_deals: int = Field(2, ge=2, le=1000, description="this many won deals make a recurring client")


class ProspectRules(_Model):
    qualify_on: Literal["score_or_framework", "score", "framework", "score_and_framework"] = "score_or_framework"
    keep_while_active: bool = Field(True, description="a prospect whose score dips stays a prospect until it is "
                                                      "inactive for nurture.inactive_days")


class MaturityRules(_Model):
    hot: Condition | None = None
    warm: Condition | None = None


class NurtureRules(_Model):
    inactive_days: int = Field(90, ge=1, le=3650)
    ignore_events: list[str] = Field(default_factory=lambda: ["email_open"],
                                     description="event types that do not count as activity")


class Classification(_Model):
    disqualify: list[NamedCondition] = Field(default_factory=list)
    client: ClientRules = ClientRules()
    prospect: ProspectRules = ProspectRules()
    maturity: MaturityRules = MaturityRules()
    nurture: NurtureRules = NurtureRules()


# ---------------------------------------------------------------------------------------------- SLA


_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WORKWEEK: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")


class Holidays(_Model):
    country: str = Field(description="ISO 3166 code, as the holidays library knows it (FR, DE, US...)")
    subdivision: str | None = Field(None, description="state or region code where holidays differ (US: CA...)")


class BusinessCalendar(_Model):
    timezone: str = "Europe/Paris"
    working_days: list[Weekday] = Field(default_factory=lambda: list(_WORKWEEK), min_length=1)
    day_start: str = Field("09:00", pattern=_HHMM)
    day_end: str = Field("18:00", pattern=_HHMM)
    holidays: Holidays | None = Holidays(country="FR")
    closed_dates: list[date] = Field(default_factory=list, description="company closures on top of holidays")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)") from None
        return value

    @model_validator(mode="after")
    def _day_is_open(self) -> BusinessCalendar:
        if self.day_start >= self.day_end:
            raise ValueError(f"day_start {self.day_start} must be before day_end {self.day_end}")
        if len(set(self.working_days)) != len(self.working_days):
            raise ValueError("working_days lists a day twice")
        return self


class ResponseHours(_Model):
    """Business hours allowed before the first sales touch, by maturity."""

    cold: float = Field(24, gt=0, le=2000)
    warm: float = Field(24, gt=0, le=2000)
    hot: float = Field(8, gt=0, le=2000)


class Touch(_Model):
    kinds: list[ActivityKind] = Field(
        default_factory=lambda: [ActivityKind.CALL, ActivityKind.EMAIL, ActivityKind.MEETING], min_length=1)
    by: Literal["owner", "owner_or_team", "any_user"] = "owner_or_team"
    team: list[str] = Field(default_factory=list, description="CRM user ids of the sales team")
    direction: Literal["any", "outbound"] = "any"


class Sla(_Model):
    enabled: bool = True
    response_hours: ResponseHours = ResponseHours()
    calendar: BusinessCalendar = BusinessCalendar()
    touch: Touch = Touch()


# ---------------------------------------------------------------------------------------------- the file


class RulesFile(_Model):
    """config/rules.yaml: how crmsync scores, qualifies and classifies contacts, and times the hand-off."""

    model_config = ConfigDict(title="crmsync rules", json_schema_extra={
        "$schema": "https://json-schema.org/draft/2020-12/schema"})

    format: Literal[1] = Field(1, description="version of this file format")
    conditions: dict[str, Condition] = Field(default_factory=dict,
                                             description="named conditions, reused anywhere as {ref: name}")
    scoring: Scoring
    qualification: Qualification = Qualification()
    classification: Classification = Classification()
    sla: Sla = Sla()


def json_schema() -> dict[str, Any]:
    """The JSON Schema published as config/rules.schema.json (editors validate the YAML against it)."""
    return RulesFile.model_json_schema(by_alias=True)


__all__ = [
    "CONDITION_KINDS", "DATE_FIELDS", "DATE_OPS", "FIELD_OPS", "FRAMEWORK_CRITERIA", "FRAMEWORK_REQUIRED",
    "KNOWN_FIELDS", "NUMBER_FIELDS", "RANGE_OPS", "TEXT_FIELDS", "TEXT_OPS", "WEEKDAYS",
    "ActivitiesCondition", "ActivityQuery", "AllCondition", "AnyCondition", "AnyConditionModel",
    "BusinessCalendar", "Classification", "ClientRules", "Condition", "DealQuery", "DealsCondition", "Decay",
    "DecayWindow", "Dimension", "EventQuery", "EventsCondition", "FieldCondition", "Framework", "Holidays",
    "MaturityRules", "NamedCondition", "NotCondition", "NurtureRules", "PerEvent", "ProspectRules",
    "Qualification", "RefCondition", "ResponseHours", "RulesFile", "ScoreCondition", "Scoring", "ScoringRule",
    "Sla", "Touch", "json_schema",
]
