"""Pipedrive records -> the neutral model: the one table of Pipedrive's native vocabulary, the ids and times
every record carries, and deals, activities and organizations read value by value (persons: `persons.py`).

Every raw value goes through a `sync.toolkit.reading.RecordReader`: what people typed by hand or another
implementation left behind ("50-100" in a company-size field, a date that is not ISO 8601, an id of
another shape, a 100 KB name, NUL bytes) makes that field unknown and a `RecordProblem`, never a failed
page; a record whose id cannot be read is skipped and reported the same way.

- activities: type -> kind through `ACTIVITY_KINDS` and the `activity_types` setting (a company's own types
  on top of the table), the owner as `by`, `done`, the time it was marked done, else its due date and time;
  created by a configured automation user: `automated`;
- deals: status through `DEAL_STATUSES` (deleted ones are dropped), canonical stage from the stage map (won
  and lost deals are `closing`), value, currency, expected close date; recurring read from the deal field
  the `recurring_deal_field` setting names (MRR by default), contract length as value / MRR.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timezone
from typing import TYPE_CHECKING, Any

from sync.contract import RecordProblem
from sync.model import Activity, ActivityKind, Deal, DealStatus, Maturity, PipelineStage, Seniority
from sync.toolkit.reading import RecordReader, read_record, shown_id

if TYPE_CHECKING:
    from connectors.pipedrive.fields import DealFieldReader
    from connectors.pipedrive.settings import PipedriveSettings

CRM = "pipedrive"

# -- Pipedrive's native vocabulary onto the neutral one --------------------------------------------------
# Activity types: a company's own list (Settings > Activities); these `key_string`s are the ones a new
# company has ("Activity types", v1 API reference), plus `note`, a type companies commonly add to log a
# note as an activity. The `activity_types` setting maps a company's other types on top of this table.
ACTIVITY_KINDS: dict[str, ActivityKind] = {
    "call": ActivityKind.CALL,
    "meeting": ActivityKind.MEETING,
    "lunch": ActivityKind.MEETING,
    "email": ActivityKind.EMAIL,
    "task": ActivityKind.TASK,
    "deadline": ActivityKind.TASK,
    "note": ActivityKind.NOTE,
}
# Deal `status` ("Get all deals", v2): a deleted deal no longer counts for its person (None).
DEAL_STATUSES: dict[str, DealStatus | None] = {
    "open": DealStatus.OPEN,
    "won": DealStatus.WON,
    "lost": DealStatus.LOST,
    "deleted": None,
}
# Person labels of a new company ("Labels", the person field `label_ids`): the maturity each one says,
# mirrored there so sales sees it in every list view (the `maturity_labels` setting renames them).
MATURITY_LABELS: dict[Maturity, str] = {
    Maturity.HOT: "Hot lead",
    Maturity.WARM: "Warm lead",
    Maturity.COLD: "Cold lead",
}
# Pipedrive has no boolean field: flags are single-option fields with these two options.
YES, NO = "Yes", "No"
# the native deal fields that hold recurring revenue ("New deal values fields", changelog 2024-06-07): above
# 0 is recurring. A company's own field (`recurring_deal_field` names it) says it with a Yes/No option, a
# number, or a word: the `recurring_values` setting, then the words people type (`sync.toolkit.vocabulary`).
RECURRING_REVENUE_FIELDS = frozenset({"mrr", "arr", "acv"})
# Pipedrive has no seniority field: a company's own person field holds it (`profile_fields` names it), read
# through the `seniority_values` setting, then this table (the option labels such a field is commonly made
# with), then the values people type in any CRM (`sync.toolkit.vocabulary`).
SENIORITY: dict[str, Seniority] = {
    "C-level": Seniority.C_LEVEL, "Executive": Seniority.C_LEVEL, "VP": Seniority.DIRECTOR,
    "Director": Seniority.DIRECTOR, "Manager": Seniority.MANAGER, "Individual contributor": Seniority.INDIVIDUAL,
}

INCLUDE_FIELDS = (
    "activities_count",
    "won_deals_count",
    "open_deals_count",
    "lost_deals_count",
    "done_activities_count",
    "undone_activities_count",
    "last_activity_id",
    "last_incoming_mail_time",
    "last_outgoing_mail_time",
)
OPEN_STAGES = (
    PipelineStage.FIRST_CONTACT,
    PipelineStage.DISCOVERY,
    PipelineStage.PROPOSAL,
    PipelineStage.NEGOTIATION,
)
LABELS_FIELD = "label_ids"  # the native person field of labels, as the ownership setting names it
_TIME_OF_DAY = re.compile(r"^(\d{2}):(\d{2})(?::(\d{2}))?$")


def parse_time(raw: Any) -> datetime | None:
    """RFC 3339 (v2) or `YYYY-MM-DD HH:MM:SS` UTC (v1) to an aware UTC datetime; anything else is None."""
    if not raw or not isinstance(raw, str):
        return None
    text = raw.strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def format_rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def slug(name: str) -> str:
    """`Decision role` -> `decision_role`: how a custom field's name becomes a `Contact.fields` key."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def pipedrive_id(raw: Any) -> int | None:
    """A Pipedrive id: a positive integer, or its digits as text; anything else is not one."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if raw > 0 else None
    if isinstance(raw, str) and raw.strip().isdigit() and len(raw.strip()) <= 18:
        value = int(raw.strip())
        return value if value > 0 else None
    return None


def read_id(reader: RecordReader, raw: Any, field: str) -> int | None:
    """An id one record points at (owner, organization, stage...): unknown, with a problem, if odd."""
    if raw is None:
        return None
    value = pipedrive_id(raw)
    if value is None:
        reader.problem(field, "not a Pipedrive id")
    return value


def record_id(raw: Any, object_type: str, problems: list[RecordProblem]) -> int | None:
    """A record's own id, or None with a problem: a record without a readable id is skipped."""
    value = pipedrive_id(raw)
    if value is None:
        reader = RecordReader(shown_id(raw), object_type)
        reader.problem("id", "not a Pipedrive id: the record is skipped")
        problems.extend(reader.problems)
    return value


def default_stage_map(stages: Sequence[Mapping[str, Any]]) -> dict[int, PipelineStage]:
    """Each pipeline's stages, in `order_nr` order, spread over the four open canonical stages.
    Closing is not a Pipedrive stage: it is the deal being won or lost."""
    by_pipeline: dict[int, list[Mapping[str, Any]]] = {}
    for stage in stages:
        if not stage.get("is_deleted") and pipedrive_id(stage.get("id")) is not None:
            by_pipeline.setdefault(pipedrive_id(stage.get("pipeline_id")) or 0, []).append(stage)
    mapping: dict[int, PipelineStage] = {}
    for rows in by_pipeline.values():
        rows.sort(key=lambda stage: (pipedrive_id(stage.get("order_nr")) or 0, int(stage["id"])))
        for index, stage in enumerate(rows):
            mapping[int(stage["id"])] = OPEN_STAGES[index * len(OPEN_STAGES) // len(rows)]
    return mapping


# -- deals -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DealContext:
    """What mapping a deal needs besides its row: the stage map and names, and how to read its recurring
    flag (see `fields.DealFieldReader`)."""

    stage_map: Mapping[int, PipelineStage]
    stage_names: Mapping[int, str]
    recurring: DealFieldReader | None = None


def to_deal(row: Mapping[str, Any], context: DealContext, problems: list[RecordProblem]) -> Deal | None:
    """None for a deleted deal (it no longer counts for its person) and for one that cannot be read."""
    deal_id = record_id(row.get("id"), "deal", problems)
    if deal_id is None:
        return None
    return read_record(deal_id, "deal", problems, lambda: _deal(deal_id, row, context, problems))


def _deal(deal_id: int, row: Mapping[str, Any], context: DealContext, problems: list[RecordProblem]) -> Deal | None:
    reader = RecordReader(str(deal_id), "deal")
    try:
        raw_status = row.get("status") if row.get("status") is not None else "open"
        if row.get("is_deleted") is True or raw_status == "deleted":
            return None
        if not isinstance(raw_status, str) or raw_status not in DEAL_STATUSES:
            reader.problem("status", "not a Pipedrive deal status: the deal is skipped")
            return None
        status = DEAL_STATUSES[raw_status]
        assert status is not None
        stage_id = read_id(reader, row.get("stage_id"), "stage_id")
        stage = PipelineStage.CLOSING if status is not DealStatus.OPEN else (
            context.stage_map.get(stage_id) if stage_id is not None else None)
        value = reader.number(row.get("value"), "value")
        recurring, months = (context.recurring.read(row, value, reader) if context.recurring is not None
                             else (None, None))
        return Deal(
            id=str(deal_id),
            status=status,
            stage=stage,
            crm_stage=context.stage_names.get(stage_id) if stage_id is not None else None,
            amount=value,
            currency=reader.text(row.get("currency"), "currency", limit=16),
            close_date=reader.day(row.get("expected_close_date"), "expected_close_date"),
            recurring=recurring,
            contract_months=months,
            created_at=reader.timestamp(row.get("add_time"), "add_time"),
            updated_at=reader.timestamp(row.get("update_time"), "update_time"),
        )
    finally:
        problems.extend(reader.problems)


def deal_person(row: Mapping[str, Any], problems: list[RecordProblem]) -> int | None:
    """The person a deal belongs to, None when it has none; an odd one is reported."""
    raw = row.get("person_id")
    if isinstance(raw, Mapping):  # v1 shapes nest the related person
        raw = raw.get("value")
    if raw is None:
        return None
    reader = RecordReader(shown_id(row.get("id")), "deal")
    person = read_id(reader, raw, "person_id")
    problems.extend(reader.problems)
    return person


# -- activities ------------------------------------------------------------------------------------------

def activity_person_ids(row: Mapping[str, Any], problems: list[RecordProblem]) -> set[int]:
    """Every person an activity concerns: its primary person and all participants (odd ids reported)."""
    reader = RecordReader(shown_id(row.get("id")), "activity")
    participants = row.get("participants")
    raws = [part.get("person_id") for part in participants if isinstance(part, Mapping)] \
        if isinstance(participants, list) else []
    raws.append(row.get("person_id"))
    ids = {person for raw in raws if (person := read_id(reader, raw, "participants")) is not None}
    problems.extend(reader.problems)
    return ids


def to_activity(row: Mapping[str, Any], settings: PipedriveSettings, problems: list[RecordProblem]) -> Activity | None:
    activity_id = record_id(row.get("id"), "activity", problems)
    if activity_id is None or row.get("is_deleted") is True:
        return None
    return read_record(activity_id, "activity", problems, lambda: _activity(activity_id, row, settings, problems))


def _activity(activity_id: int, row: Mapping[str, Any], settings: PipedriveSettings,
              problems: list[RecordProblem]) -> Activity | None:
    reader = RecordReader(str(activity_id), "activity")
    try:
        done = bool(reader.boolean(row.get("done"), "done"))
        at = reader.timestamp(row.get("marked_as_done_time"), "marked_as_done_time") if done else None
        if at is None:
            at = _due(reader, row)
        if at is None:
            at = reader.timestamp(row.get("add_time"), "add_time")
        if at is None:
            reader.problem("due_date", "no readable date: the activity is skipped")
            return None
        kind_key = reader.text(row.get("type"), "type", limit=64) or ""
        owner = read_id(reader, row.get("owner_id"), "owner_id")
        creator = read_id(reader, row.get("creator_user_id"), "creator_user_id")
        return Activity(
            kind=settings.activity_types.get(kind_key) or ACTIVITY_KINDS.get(kind_key, ActivityKind.TASK),
            at=at,
            by=str(owner) if owner is not None else None,
            done=done,
            automated=creator is not None and creator in settings.automation_user_ids,
            id=str(activity_id),
            subject=reader.text(row.get("subject"), "subject"),
        )
    finally:
        problems.extend(reader.problems)


def _due(reader: RecordReader, row: Mapping[str, Any]) -> datetime | None:
    """The due date and time (UTC, `HH:MM` or `HH:MM:SS`; a date alone is its midnight)."""
    day = reader.day(row.get("due_date"), "due_date")
    if day is None:
        return None
    raw_time = row.get("due_time")
    match = _TIME_OF_DAY.match(raw_time.strip()) if isinstance(raw_time, str) else None
    if raw_time and match is None:
        reader.problem("due_time", "not a time of day (HH:MM)")
    hour, minute, second = (int(part or 0) for part in match.groups()) if match else (0, 0, 0)
    if hour > 23 or minute > 59 or second > 59:
        reader.problem("due_time", "not a time of day (HH:MM)")
        hour = minute = second = 0
    return datetime.combine(day, time(hour, minute, second), tzinfo=timezone.utc)


# -- organizations ---------------------------------------------------------------------------------------

def organization_names(rows: Iterable[Mapping[str, Any]], problems: list[RecordProblem]) -> dict[int, str]:
    """Organization id -> name, for the rows that can be read."""
    names: dict[int, str] = {}
    for row in rows:
        org_id = record_id(row.get("id"), "organization", problems)
        if org_id is None:
            continue
        reader = RecordReader(str(org_id), "organization")
        names[org_id] = reader.text(row.get("name"), "name") or ""
        problems.extend(reader.problems)
    return names


__all__ = [
    "ACTIVITY_KINDS",
    "DEAL_STATUSES",
    "MATURITY_LABELS",
    "SENIORITY",
    "DealContext",
    "activity_person_ids",
    "deal_person",
    "default_stage_map",
    "format_rfc3339",
    "organization_names",
    "parse_time",
    "pipedrive_id",
    "to_activity",
    "to_deal",
]
