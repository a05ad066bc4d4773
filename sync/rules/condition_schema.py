"""The conditions of a rules file as typed pydantic models: what `when:`, criteria and named conditions hold.

A condition is plain data: a mapping with one recognised key that says what
kind of test it is (field, events, activities, deals, score, ref, or all / any /
not around others). Every model forbids unknown keys, so a misspelt operator is
an error at load time, never a test that silently holds or fails. The compiled
form is in `sync.rules.conditions`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    Tag,
    field_validator,
    model_validator,
)

from sync.model import ActivityKind, DealStatus, PipelineStage
from sync.rules.patterns import PatternError, check_pattern
from sync.rules.text import fold_pattern

Scalar = Union[bool, int, float, str]  # bool first: YAML true must stay a bool, not become 1
# Numbers are strict: `points: true` or `cap: "40"` is a mistake to point at, not a 1 or a 40 to guess
Number = Annotated[float, Strict()]
Integer = Annotated[int, Strict()]
Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$",
                            description="letters, digits, _ . -; starts with a letter; at most 64 characters")]
Days = Annotated[float, Strict(), Field(gt=0, le=36_500)]
Count = Annotated[int, Strict(), Field(ge=0, le=1_000_000)]
Months = Annotated[int, Strict(), Field(ge=1, le=120)]

# The contact attributes a field condition may name, by type. `fields.<name>` reaches the CRM's custom and
# qualification fields (type unknown until run time); `email_domain` is derived from `email`.
TEXT_FIELDS = frozenset({
    "crm", "account", "id", "email", "email_domain", "owner_id", "first_name", "last_name", "company",
    "industry", "job_title", "seniority", "country", "source",
})
NUMBER_FIELDS = frozenset({"company_size"})
DATE_FIELDS = frozenset({"created_at", "updated_at"})
KNOWN_FIELDS = TEXT_FIELDS | NUMBER_FIELDS | DATE_FIELDS

TEXT_OPS = ("eq", "ne", "in", "not_in", "contains", "matches", "buying_window")
RANGE_OPS = ("gt", "gte", "lt", "lte")
DATE_OPS = ("within_days", "older_than_days")
FIELD_OPS = (*TEXT_OPS, *RANGE_OPS, *DATE_OPS, "exists")
CLOCK_OPS = (*DATE_OPS, "buying_window")  # operators whose answer depends on the evaluation instant


class RulesModel(BaseModel):
    """Every section of the rules file: unknown keys rejected, immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_alias=True, validate_by_name=False,
                              serialize_by_alias=True)


# ---------------------------------------------------------------------------------------------- conditions


class FieldCondition(RulesModel):
    """A test on one contact attribute or custom field: `{field: industry, in: [software, finance]}`."""

    field: str = Field(max_length=200,
                       description="a contact attribute (industry, company_size, job_title, email_domain...) "
                                   "or fields.<name> for a custom or qualification field")
    eq: Scalar | None = Field(None, description="equal to (text ignores case and accents unless case_sensitive)")
    ne: Scalar | None = Field(None, description="not equal to (exactly the opposite of eq)")
    in_: list[Scalar] | None = Field(None, alias="in", min_length=1, description="equal to one of")
    not_in: list[Scalar] | None = Field(None, min_length=1, description="equal to none of")
    contains: str | None = Field(None, min_length=1, description="text containing this (or a list holding it)")
    matches: str | None = Field(None, min_length=1, description="text in which this regular expression is found "
                                                                "(RE2 syntax: linear time, no backreferences)")
    buying_window: Literal[True] | Months | None = Field(
        None, description="text (or a date) naming a buying window that closes within this many months; true: "
                          "within qualification.timing_horizon_months")
    exists: bool | None = Field(None, description="true: has a non-empty value; false: empty or missing")
    gt: Number | None = None
    gte: Number | None = None
    lt: Number | None = None
    lte: Number | None = None
    within_days: Days | None = Field(None, description="a date no older than N days (and not in the future)")
    older_than_days: Days | None = Field(None, description="a date more than N days ago")
    case_sensitive: bool = Field(False, description="text comparisons ignore case and accents unless this is true")

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
    def _regex_runs(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_pattern(fold_pattern(value))
            except PatternError as exc:
                raise ValueError(f"regular expression rejected: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_operator(self) -> FieldCondition:
        given = list(self.operators)
        if not given:
            raise ValueError(f"field condition on {self.field!r} needs an operator: one of {', '.join(FIELD_OPS)}")
        ranges = [operator for operator in given if operator in RANGE_OPS]
        others = [operator for operator in given if operator not in RANGE_OPS]
        if len(others) > 1 or (others and ranges):
            raise ValueError(f"one operator per field condition (got {', '.join(given)}); combine with all/any")
        if "gt" in ranges and "gte" in ranges or "lt" in ranges and "lte" in ranges:
            raise ValueError("use gt or gte (and lt or lte), not both")
        return self

    @property
    def operators(self) -> tuple[str, ...]:
        return tuple(operator for operator in FIELD_OPS
                     if getattr(self, "in_" if operator == "in" else operator) is not None)


class EventQuery(RulesModel):
    """Counts engagement events: `{type: download, within_days: 30, at_least: 3}`."""

    type: str | list[str] | None = Field(None, description="event type(s); omitted: any type")
    source: str | list[str] | None = Field(None, description="event source(s), e.g. linkedin; omitted: any")
    within_days: Days | None = Field(None, description="only events of the last N days; omitted: all time")
    at_least: Count = 1
    at_most: Count | None = None


class EventsCondition(RulesModel):
    events: EventQuery


class ActivityQuery(RulesModel):
    """Counts sales activities logged in the CRM: `{kind: [call, meeting], by: owner, within_days: 14}`."""

    kind: ActivityKind | list[ActivityKind] | None = Field(None, description="omitted: any kind")
    by: Literal["anyone", "owner", "sales"] = Field(
        "anyone", description="owner: the contact's owner; sales: the owner or the SLA team; anyone: any user")
    direction: Literal["inbound", "outbound"] | None = None
    within_days: Days | None = None
    include_automated: bool = Field(False, description="count sequences, automation and auto-replies too")
    include_open: bool = Field(False, description="count tasks and meetings not done yet too")
    accepted: bool = Field(False, description="only meetings the contact accepted, counted from the moment they "
                                              "accepted (held or not yet; a canceled or declined one does not count)")
    at_least: Count = 1
    at_most: Count | None = None


class ActivitiesCondition(RulesModel):
    activities: ActivityQuery


class DealQuery(RulesModel):
    """Counts deals: `{status: open, stage: [proposal, negotiation]}`."""

    status: DealStatus | list[DealStatus] | None = None
    stage: PipelineStage | list[PipelineStage] | None = None
    amount_gte: Number | None = None
    amount_lte: Number | None = None
    recurring: bool | None = Field(None, description="the deal is (true) or is not (false) recurring, by the "
                                                     "client rules: its recurring flag, else its contract length")
    closed_within_days: Days | None = Field(None, description="close date in the last N days")
    at_least: Count = 1
    at_most: Count | None = None


class DealsCondition(RulesModel):
    deals: DealQuery


class ScoreCondition(RulesModel):
    """Tests a score: `{score: engagement, gte: 15}`. Not allowed inside scoring rules (it would be circular)."""

    score: Literal["total", "fit", "engagement", "intent"]
    gt: Number | None = None
    gte: Number | None = None
    lt: Number | None = None
    lte: Number | None = None

    @model_validator(mode="after")
    def _has_bound(self) -> ScoreCondition:
        if self.gt is None and self.gte is None and self.lt is None and self.lte is None:
            raise ValueError("score condition needs a bound: gt, gte, lt or lte")
        return self


class RefCondition(RulesModel):
    """Reuses a named condition from the top-level `conditions:` section: `{ref: decision_maker}`."""

    ref: str = Field(max_length=200)


class AllCondition(RulesModel):
    all: list[Condition] = Field(min_length=1)


class AnyCondition(RulesModel):
    any: list[Condition] = Field(min_length=1)


class NotCondition(RulesModel):
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


__all__ = [
    "CLOCK_OPS", "CONDITION_KINDS", "DATE_FIELDS", "DATE_OPS", "FIELD_OPS", "KNOWN_FIELDS", "NUMBER_FIELDS",
    "RANGE_OPS",
    "TEXT_FIELDS", "TEXT_OPS", "ActivitiesCondition", "ActivityQuery", "AllCondition", "AnyCondition",
    "AnyConditionModel", "Condition", "Count", "Days", "DealQuery", "DealsCondition", "EventQuery", "EventsCondition",
    "FieldCondition", "Integer", "Months", "Name", "NotCondition", "Number", "RefCondition", "RulesModel", "Scalar",
    "ScoreCondition",
]
