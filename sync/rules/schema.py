"""The rules file as typed pydantic models: the one schema behind validation, the JSON Schema and the docs.

Every model forbids unknown keys, so a typo in an operator or a section name is
an error at load time with its line and column, never a rule that silently
does nothing. The conditions are in `sync.rules.condition_schema` (re-exported
here); nothing in the file is ever evaluated as code. Checks that need the
whole file (names, references, field types, caps) live in `sync.rules.checks`,
where they can point at the offending key.
"""

from __future__ import annotations

import zoneinfo
from datetime import date
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from sync.model import ActivityKind
from sync.rules.condition_schema import (
    CLOCK_OPS,
    CONDITION_KINDS,
    DATE_FIELDS,
    DATE_OPS,
    FIELD_OPS,
    KNOWN_FIELDS,
    NUMBER_FIELDS,
    RANGE_OPS,
    TEXT_FIELDS,
    TEXT_OPS,
    ActivitiesCondition,
    ActivityQuery,
    AllCondition,
    AnyCondition,
    AnyConditionModel,
    Condition,
    Days,
    DealQuery,
    DealsCondition,
    EventQuery,
    EventsCondition,
    FieldCondition,
    Integer,
    Months,
    Name,
    NotCondition,
    Number,
    RefCondition,
    RulesModel,
    ScoreCondition,
)
from sync.rules.patterns import PatternError, check_pattern
from sync.rules.text import fold_pattern

FRAMEWORK_CRITERIA: dict[str, tuple[str, ...]] = {
    "bant": ("budget", "authority", "need", "timing"),
    "meddic": ("metrics", "economic_buyer", "decision_criteria", "decision_process", "identify_pain", "champion"),
    "gpct": ("goals", "plans", "challenges", "timeline"),
}
# What qualifies when the file does not say: under BANT a concrete need, a role in the decision and a credible
# timing (budget may still be being framed: reported, not required); MEDDIC and GPCT in full.
FRAMEWORK_REQUIRED: dict[str, tuple[str, ...]] = {
    "bant": ("need", "authority", "timing"),
    "meddic": FRAMEWORK_CRITERIA["meddic"],
    "gpct": FRAMEWORK_CRITERIA["gpct"],
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# ---------------------------------------------------------------------------------------------- scoring


class PerEvent(RulesModel):
    """Points for each matching event, each weighted by the dimension's decay."""

    type: str | list[str]
    source: str | list[str] | None = None
    within_days: Days | None = None


class ScoringRule(RulesModel):
    name: Name
    description: str | None = None
    points: Number = Field(ge=-100, le=100, description="negative for a negative signal")
    when: Condition | None = Field(None, description="the points once when this holds")
    per_event: PerEvent | None = Field(None, description="the points for each matching event, decayed by age")
    max_points: Number | None = Field(None, gt=0, le=100, description="per_event only: at most this many points "
                                                                    "(in absolute value)")

    @model_validator(mode="after")
    def _one_trigger(self) -> ScoringRule:
        if (self.when is None) == (self.per_event is None):
            raise ValueError(f"rule {self.name!r} needs exactly one of when or per_event")
        if self.max_points is not None and self.per_event is None:
            raise ValueError(f"rule {self.name!r}: max_points only applies to per_event rules")
        return self


class DecayWindow(RulesModel):
    within_days: Days
    factor: Number = Field(ge=0, le=1)


class Decay(RulesModel):
    """How much an event still counts with age: a half-life, or step windows (older than the last: 0)."""

    half_life_days: Days | None = None
    windows: list[DecayWindow] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_kind(self) -> Decay:
        if (self.half_life_days is None) == (self.windows is None):
            raise ValueError("decay needs exactly one of half_life_days or windows")
        return self


class Dimension(RulesModel):
    cap: Integer = Field(ge=0, le=100, description="most points this dimension can give; the three caps add up to 100")
    decay: Decay | None = Field(None, description="applies to per_event rules of this dimension")
    rules: list[ScoringRule] = Field(default_factory=list)


class Scoring(RulesModel):
    threshold: Integer = Field(70, ge=1, le=100, description="a score at or above this qualifies a prospect")
    fit: Dimension
    engagement: Dimension
    intent: Dimension


# ---------------------------------------------------------------------------------------------- qualification


class Framework(RulesModel):
    required: list[str] | None = Field(None, description="criteria that must all be met; omitted: the "
                                                         "framework's standard set (BANT: need, authority, timing)")
    criteria: dict[str, Condition] = Field(description="criterion name -> condition")


class Qualification(RulesModel):
    framework: Literal["bant", "meddic", "gpct"] = "bant"
    timing_horizon_months: Months = Field(
        12, description="a stated timing is credible when the buying window it names closes within this many "
                        "months (`buying_window: true`)")
    bant: Framework | None = None
    meddic: Framework | None = None
    gpct: Framework | None = None


# ---------------------------------------------------------------------------------------------- classification


class NamedCondition(RulesModel):
    name: Name
    description: str | None = None
    when: Condition


class ClientRules(RulesModel):
    recurring_min_contract_months: Integer = Field(
        12, ge=1, le=1200, description="a won deal without a recurring flag is recurring from this contract length")
    recurring_min_won_deals: Integer = Field(
        2, ge=2, le=1000, description="won deals closed on this many different days make a recurring client (deals "
                                      "closed the same day are one purchase)")


class ProspectRules(RulesModel):
    qualify_on: Literal["score_or_framework", "score", "framework", "score_and_framework"] = "score_or_framework"
    keep_while_active: bool = Field(True, description="a prospect whose score dips stays a prospect until it is "
                                                      "inactive for nurture.inactive_days")


class MaturityRules(RulesModel):
    hot: Condition | None = None
    warm: Condition | None = None


class NurtureRules(RulesModel):
    inactive_days: Integer = Field(90, ge=1, le=3650)
    ignore_events: list[str] = Field(default_factory=lambda: ["email_open"],
                                     description="event types that do not count as activity")


class Classification(RulesModel):
    disqualify: list[NamedCondition] = Field(default_factory=list)
    client: ClientRules = ClientRules()
    prospect: ProspectRules = ProspectRules()
    maturity: MaturityRules = MaturityRules()
    nurture: NurtureRules = NurtureRules()


# ---------------------------------------------------------------------------------------------- SLA


_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WORKWEEK: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")


class Holidays(RulesModel):
    country: str = Field(max_length=16, description="ISO 3166 code, as the holidays library knows it (FR, DE, US...)")
    subdivision: str | None = Field(None, max_length=16,
                                    description="state or region code where holidays differ (US: CA...)")


class BusinessCalendar(RulesModel):
    timezone: str = Field("Europe/Paris", max_length=64, description="an IANA time zone name")
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
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name the OS cannot open
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)") from None
        return value

    @model_validator(mode="after")
    def _day_is_open(self) -> BusinessCalendar:
        if self.day_start >= self.day_end:
            raise ValueError(f"day_start {self.day_start} must be before day_end {self.day_end}")
        if len(set(self.working_days)) != len(self.working_days):
            raise ValueError("working_days lists a day twice")
        return self


class ResponseHours(RulesModel):
    """Business hours allowed before the first sales touch, by maturity."""

    cold: Number = Field(24, gt=0, le=2000)
    warm: Number = Field(24, gt=0, le=2000)
    hot: Number = Field(8, gt=0, le=2000)


class Touch(RulesModel):
    kinds: list[ActivityKind] = Field(
        default_factory=lambda: [ActivityKind.CALL, ActivityKind.EMAIL, ActivityKind.MEETING], min_length=1)
    by: Literal["owner", "owner_or_team", "any_user"] = "owner_or_team"
    team: list[str] = Field(default_factory=list, description="CRM user ids of the sales team")
    direction: Literal["any", "outbound"] = "any"


class HandoffRules(RulesModel):
    """How the hand-off is dated: the SLA measures sales' reaction to marketing's hand-off."""

    sales_events: list[str] = Field(
        default_factory=lambda: ["email_reply", "social_message"],
        description="event types that are the contact's side of a conversation with sales: they score, but they "
                    "are sales' doing, never the marketing signal that starts the clock")
    recent_touch_days: Number = Field(
        14, ge=0, le=365, description="a contact that qualified from undated data and that sales touched in this "
                                      "many days before crmsync first saw it qualify is already in sales' hands: met")
    answer_events: list[str] = Field(
        default_factory=lambda: ["form", "demo_request", "pricing_request", "meeting_booked"],
        description="event types that are a form in which the contact states a need (not a gated download or a "
                    "webinar registration): on a first sync, a contact that qualifies from undated fields and that "
                    "sales never touched is handed off at the latest of them (the answers the CRM holds came with "
                    "it at the latest); with none, when crmsync first sees it qualify")


class SlaReminder(RulesModel):
    """A task for the owner in the CRM before the SLA is due, created once per SLA clock. Off unless turned on:
    it writes records (tasks) people see in their CRM. It changes no decision, so it is not part of the rules
    version: turning it on rescores nobody."""

    enabled: bool = Field(False, description="create a reminder task for the owner of a prospect not yet touched")
    share: Number = Field(0.75, gt=0, lt=1, description=(
        "when, as a share of the SLA's business hours from the hand-off: 0.75 reminds the owner once three "
        "quarters of the time allowed have passed; the task is due at the SLA's due time"))
    on_touch: Literal["complete", "leave"] = Field("complete", description=(
        "when the prospect is touched (or its clock ends otherwise): complete the open reminder, or leave it "
        "to the owner"))


class Sla(RulesModel):
    enabled: bool = True
    response_hours: ResponseHours = ResponseHours()
    calendar: BusinessCalendar = BusinessCalendar()
    touch: Touch = Touch()
    handoff: HandoffRules = HandoffRules()
    reminder: SlaReminder = SlaReminder()


# ---------------------------------------------------------------------------------------------- titles


class TitleLevel(RulesModel):
    """One level of seniority and the job titles that carry it: `{level: director, matches: "directeur|head of"}`."""

    level: Name
    matches: str = Field(min_length=1, description="regular expression (RE2) found in the job title, compared "
                                                   "without case and accents")

    @field_validator("matches")
    @classmethod
    def _regex_runs(cls, value: str) -> str:
        try:
            check_pattern(fold_pattern(value))
        except PatternError as exc:
            raise ValueError(f"regular expression rejected: {exc}") from None
        return value


# ---------------------------------------------------------------------------------------------- the file


class RulesFile(RulesModel):
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
    seniority_from_title: list[TitleLevel] = Field(
        default_factory=list, description="when the CRM gives no seniority, the first level whose pattern is found "
                                          "in the job title")


def json_schema() -> dict[str, Any]:
    """The JSON Schema published as config/rules.schema.json (editors validate the YAML against it)."""
    return RulesFile.model_json_schema(by_alias=True)


__all__ = [
    "CLOCK_OPS", "CONDITION_KINDS", "DATE_FIELDS", "DATE_OPS", "FIELD_OPS", "FRAMEWORK_CRITERIA", "FRAMEWORK_REQUIRED",
    "KNOWN_FIELDS", "NUMBER_FIELDS", "RANGE_OPS", "TEXT_FIELDS", "TEXT_OPS", "WEEKDAYS",
    "ActivitiesCondition", "ActivityQuery", "AllCondition", "AnyCondition", "AnyConditionModel",
    "BusinessCalendar", "Classification", "ClientRules", "Condition", "DealQuery", "DealsCondition", "Decay",
    "DecayWindow", "Dimension", "EventQuery", "EventsCondition", "FieldCondition", "Framework", "HandoffRules",
    "Holidays", "MaturityRules", "NamedCondition", "NotCondition", "NurtureRules", "PerEvent", "ProspectRules",
    "Qualification", "RefCondition", "ResponseHours", "RulesFile", "ScoreCondition", "Scoring", "ScoringRule",
    "Sla", "SlaReminder", "TitleLevel", "Touch", "json_schema",
]
