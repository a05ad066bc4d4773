"""Pipedrive records <-> the neutral model, and canonical values -> Pipedrive field values.

What a Pipedrive person carries into a `Contact`:
- profile: name parts, primary email, owner, job title (native, present when contact sync is on),
  company (the organization's name), created/updated times; industry, company size, seniority, country
  and lead source from person custom fields configured by name (`profile_fields`);
- `fields`: every other custom field keyed by the snake_case of its name (qualification answers among
  them), the primary phone, and the counters asked for with `include_fields` (won_deals_count, ...);
- events: Pipedrive has no marketing events. We take only what it really records: the latest incoming
  mail (`last_incoming_mail_time`) as an `email_reply`, and one event per configured date field holding
  the latest event of a type (`event_date_fields`, day precision). Opens, visits and the like that no
  field records stay out rather than being invented;
- activities: type -> kind by configuration, the owner (`owner_id`) as `by`, `done`, and the time the
  activity was marked done, else its due date and time. Pipedrive has no direction; activities created by
  configured automation users are `automated`;
- deals: status open/won/lost (deleted ones are dropped), canonical stage from the stage map (won and
  lost deals are `closing`), value, currency, expected close date; recurring when the deal has MRR, and
  contract length as value / MRR.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import Any

from connectors.pipedrive.settings import NO, YES, FieldSpec, PipedriveSettings
from sync.contract import CanonicalField, FieldUpdate, FieldValue
from sync.model import Activity, ActivityKind, Contact, Deal, DealStatus, EngagementEvent, Maturity
from sync.model import PipelineStage, Stage

CRM = "pipedrive"
VARCHAR_MAX = 255
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
LABEL_FIELD_KEYS = ("label_ids", "label")
CANONICAL_NAMES = frozenset(str(canonical) for canonical in CanonicalField)


def parse_time(raw: Any) -> datetime | None:
    """RFC 3339 (v2) or `YYYY-MM-DD HH:MM:SS` UTC (v1) to an aware UTC datetime."""
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


@dataclass(frozen=True)
class PersonField:
    key: str
    name: str
    field_type: str
    options: dict[int, str] = field(default_factory=dict)  # option id -> label

    def option_id(self, label: str) -> int | None:
        for option_id, option_label in self.options.items():
            if option_label == label:
                return option_id
        return None

    @property
    def is_yes_no(self) -> bool:
        return self.field_type == "enum" and set(self.options.values()) == {YES, NO}

    @property
    def is_custom(self) -> bool:
        return bool(re.fullmatch(r"[0-9a-f]{40}", self.key))


class FieldCatalog:
    """The company's person fields from `GET /v1/personFields`: custom keys by name, option ids by label."""

    def __init__(self, fields: Iterable[PersonField]) -> None:
        self.by_key: dict[str, PersonField] = {}
        self.by_name: dict[str, PersonField] = {}
        for item in fields:
            self.by_key[item.key] = item
            if item.is_custom:
                self.by_name.setdefault(item.name.casefold(), item)

    @classmethod
    def from_api(cls, rows: Iterable[Mapping[str, Any]]) -> FieldCatalog:
        fields = []
        for row in rows:
            options = {int(option["id"]): str(option["label"]) for option in (row.get("options") or [])
                       if "id" in option}
            fields.append(
                PersonField(
                    key=str(row["key"]),
                    name=str(row.get("name") or ""),
                    field_type=str(row.get("field_type") or ""),
                    options=options,
                )
            )
        return cls(fields)

    def named(self, name: str) -> PersonField | None:
        return self.by_name.get(name.casefold())

    def label_options(self) -> dict[int, str]:
        for key in LABEL_FIELD_KEYS:
            if key in self.by_key:
                return dict(self.by_key[key].options)
        return {}


def decode_value(spec: PersonField, raw: Any) -> Any:
    """A stored custom-field value as plain Python: option ids become labels, Yes/No enums booleans."""
    if raw is None:
        return None
    if spec.field_type == "enum":
        option_id: Any = raw.get("id") if isinstance(raw, dict) else raw
        label = spec.options.get(int(option_id)) if str(option_id).isdigit() else None
        if spec.is_yes_no:
            return label == YES
        return label
    if spec.field_type == "set":
        items = raw if isinstance(raw, list) else [raw]
        ids: list[Any] = [item.get("id") if isinstance(item, dict) else item for item in items]
        return [spec.options.get(int(option_id), str(option_id)) if str(option_id).isdigit()
                else str(option_id) for option_id in ids]
    if spec.field_type == "monetary" and isinstance(raw, dict):
        return raw.get("value")
    return raw


def default_stage_map(stages: Sequence[Mapping[str, Any]]) -> dict[int, PipelineStage]:
    """Each pipeline's stages, in `order_nr` order, spread over the four open canonical stages.
    Closing is not a Pipedrive stage: it is the deal being won or lost."""
    by_pipeline: dict[int, list[Mapping[str, Any]]] = {}
    for stage in stages:
        if not stage.get("is_deleted"):
            by_pipeline.setdefault(int(stage.get("pipeline_id") or 0), []).append(stage)
    mapping: dict[int, PipelineStage] = {}
    for rows in by_pipeline.values():
        rows.sort(key=lambda stage: (int(stage.get("order_nr") or 0), int(stage["id"])))
        for index, stage in enumerate(rows):
            mapping[int(stage["id"])] = OPEN_STAGES[index * len(OPEN_STAGES) // len(rows)]
    return mapping


def to_deal(
    row: Mapping[str, Any], stage_map: Mapping[int, PipelineStage], stage_names: Mapping[int, str]
) -> Deal | None:
    """None for a deleted deal: it no longer counts for its person."""
    raw_status = str(row.get("status") or "open")
    if row.get("is_deleted") or raw_status == "deleted":
        return None
    status = DealStatus(raw_status) if raw_status in DealStatus.__members__.values() else DealStatus.OPEN
    stage_id = row.get("stage_id")
    stage = (
        PipelineStage.CLOSING
        if status is not DealStatus.OPEN
        else (stage_map.get(int(stage_id)) if stage_id is not None else None)
    )
    mrr = row.get("mrr")
    value = row.get("value")
    recurring = None if mrr is None else float(mrr) > 0
    months = round(float(value) / float(mrr)) if mrr is not None and recurring and value else None
    close = row.get("expected_close_date")
    return Deal(
        id=str(row["id"]),
        status=status,
        stage=stage,
        crm_stage=stage_names.get(int(stage_id)) if stage_id is not None else None,
        amount=float(value) if value is not None else None,
        currency=row.get("currency"),
        close_date=date.fromisoformat(close) if isinstance(close, str) and close else None,
        recurring=recurring,
        contract_months=months,
        created_at=parse_time(row.get("add_time")),
        updated_at=parse_time(row.get("update_time")),
    )


def activity_person_ids(row: Mapping[str, Any]) -> set[int]:
    """Every person an activity concerns: its primary person and all participants."""
    ids = {int(participant["person_id"]) for participant in (row.get("participants") or [])
           if participant.get("person_id") is not None}
    if row.get("person_id") is not None:
        ids.add(int(row["person_id"]))
    return ids


def to_activity(row: Mapping[str, Any], settings: PipedriveSettings) -> Activity | None:
    if row.get("is_deleted"):
        return None
    done = bool(row.get("done"))
    at = parse_time(row.get("marked_as_done_time")) if done else None
    if at is None and row.get("due_date"):
        due_time = row.get("due_time") or "00:00:00"
        at = parse_time(f"{row['due_date']}T{due_time if len(due_time) > 5 else due_time + ':00'}Z")
    if at is None:
        at = parse_time(row.get("add_time"))
    if at is None:
        return None
    kind = settings.activity_types.get(str(row.get("type") or ""), ActivityKind.TASK)
    owner = row.get("owner_id")
    creator = row.get("creator_user_id")
    return Activity(
        kind=kind,
        at=at,
        by=str(owner) if owner is not None else None,
        done=done,
        automated=creator is not None and int(creator) in settings.automation_user_ids,
        id=str(row["id"]),
        subject=row.get("subject"),
    )


def _primary(items: Any) -> str | None:
    if not isinstance(items, list) or not items:
        return None
    chosen = next((item for item in items if isinstance(item, dict) and item.get("primary")), items[0])
    value = chosen.get("value") if isinstance(chosen, dict) else None
    return str(value) if value else None


def _midnight(raw: Any) -> datetime | None:
    if isinstance(raw, str) and len(raw) >= 10:
        try:
            return datetime.combine(date.fromisoformat(raw[:10]), time(0), tzinfo=timezone.utc)
        except ValueError:
            return None
    return None


def _profile_value(attribute: str, value: Any) -> Any:
    if value is None or value == "":
        return None
    if attribute == "company_size":
        return int(float(value))
    return str(value)


def to_contact(
    row: Mapping[str, Any],
    *,
    catalog: FieldCatalog,
    settings: PipedriveSettings,
    account: str,
    deals: Sequence[Deal],
    activities: Sequence[Activity],
    org_names: Mapping[int, str],
) -> Contact:
    custom = dict(row.get("custom_fields") or {})
    managed = {spec.name.casefold() for spec in settings.write_fields.values()}
    by_attribute = {name.casefold(): attr for attr, name in settings.profile_fields.items()}
    explicit = {name.casefold(): key for key, name in settings.qualification_fields.items()}
    event_fields = {name.casefold(): kind for kind, name in settings.event_date_fields.items()}
    override_name = settings.override_stage_field.casefold() if settings.override_stage_field else None
    profile: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    events: list[EngagementEvent] = []
    override: Stage | None = None
    for key, raw in custom.items():
        spec = catalog.by_key.get(key)
        if spec is None:
            continue
        name = spec.name.casefold()
        value = decode_value(spec, raw)
        if name in managed or value is None:
            continue
        if name == override_name:
            override = Stage(value) if value in Stage.__members__.values() else None
        elif name in by_attribute:
            profile[by_attribute[name]] = _profile_value(by_attribute[name], value)
        elif name in event_fields:
            moment = _midnight(value)
            if moment is not None:
                events.append(EngagementEvent(type=event_fields[name], at=moment, source="pipedrive_field"))
        else:
            fields[explicit.get(name, slug(spec.name))] = value
    replied = parse_time(row.get("last_incoming_mail_time"))
    if replied is not None:
        events.append(EngagementEvent(type="email_reply", at=replied, source="pipedrive_mail"))
    phone = _primary(row.get("phones"))
    if phone:
        fields["phone"] = phone
    for counter in INCLUDE_FIELDS:
        if row.get(counter) is not None:
            fields[counter] = row[counter]
    org_id = row.get("org_id")
    owner = row.get("owner_id")
    return Contact(
        crm=CRM,
        id=str(row["id"]),
        account=account,
        email=_primary(row.get("emails")),
        owner_id=str(owner) if owner is not None else None,
        first_name=row.get("first_name") or None,
        last_name=row.get("last_name") or None,
        company=org_names.get(int(org_id)) if org_id is not None else None,
        job_title=row.get("job_title") or None,
        created_at=parse_time(row.get("add_time")),
        updated_at=parse_time(row.get("update_time")),
        fields=fields,
        events=sorted(events, key=lambda event: event.at),
        activities=sorted(activities, key=lambda activity: (activity.at, activity.id or "")),
        deals=list(deals),
        override_stage=override,
        **profile,
    )


class ValueRejected(ValueError):
    """A canonical value that the target Pipedrive field cannot hold (reported per record)."""


def encode_value(spec: FieldSpec, target: PersonField, value: FieldValue) -> tuple[Any, FieldValue]:
    """Canonical value -> (value to send under `custom_fields`, value as written). None clears."""
    if value is None:
        return None, None
    kind = target.field_type
    if kind == "double":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueRejected(f"{spec.name}: a number is needed")
        return value, value
    if kind in ("enum", "set"):
        label = (YES if value else NO) if isinstance(value, bool) else str(value)
        option_id = target.option_id(label)
        if option_id is None:
            raise ValueRejected(f"{spec.name}: no option {label!r} (was it deleted in Pipedrive?)")
        return ([option_id] if kind == "set" else option_id), value
    if kind == "date":
        if isinstance(value, datetime):
            return value.astimezone(timezone.utc).date().isoformat(), value
        raise ValueRejected(f"{spec.name}: a date is needed")
    text = format_rfc3339(value) if isinstance(value, datetime) else str(value)
    if kind == "varchar" and len(text) > VARCHAR_MAX:
        text = text[: VARCHAR_MAX - 1] + "…"
        return text, text
    return text, value


def labels_after(current: Sequence[int], maturity: Any, maturity_label_ids: Mapping[str, int]) -> list[int]:
    """The person's labels with crmsync's maturity label swapped; every other label kept as it was."""
    managed = set(maturity_label_ids.values())
    kept = [label for label in current if label not in managed]
    wanted = maturity_label_ids.get(str(maturity)) if maturity is not None else None
    return kept + ([wanted] if wanted is not None else [])


def changed_values(update: FieldUpdate) -> dict[str, FieldValue]:
    """The values that differ from what the engine says the CRM holds (`previous`): only those are sent."""
    return {
        name: value
        for name, value in update.values.items()
        if name not in update.previous or update.previous[name] != value
    }


def maturity_label_ids(catalog: FieldCatalog, labels: Mapping[Maturity, str] | None) -> dict[str, int]:
    """Maturity -> the id of its person label, for the labels that exist in the account."""
    if not labels:
        return {}
    by_label = {label: option_id for option_id, label in catalog.label_options().items()}
    return {str(maturity): by_label[label] for maturity, label in labels.items() if label in by_label}


def to_write(
    update: FieldUpdate,
    catalog: FieldCatalog,
    write_fields: Mapping[CanonicalField, FieldSpec],
    labels_now: Sequence[int],
    maturity_labels: Mapping[str, int],
) -> tuple[dict[str, Any], dict[str, FieldValue]]:
    """The `PATCH /api/v2/persons/{id}` body for the changed values, and what it writes. Values of fields
    this account does not write are dropped; `label_ids` only when the maturity label moves."""
    if not update.contact_id.isdigit():
        raise ValueRejected(f"{update.contact_id!r} is not a Pipedrive person id")
    custom: dict[str, Any] = {}
    written: dict[str, FieldValue] = {}
    values = changed_values(update)
    for name, value in values.items():
        spec = write_fields.get(CanonicalField(name)) if name in CANONICAL_NAMES else None
        if spec is None:
            continue
        target = catalog.named(spec.name)
        if target is None:
            raise ValueRejected(f"field {spec.name!r} does not exist in Pipedrive: run ensure_fields")
        custom[target.key], written[name] = encode_value(spec, target, value)
    body: dict[str, Any] = {"custom_fields": custom} if custom else {}
    maturity = str(CanonicalField.MATURITY)
    if maturity_labels and maturity in values:
        wanted = labels_after(labels_now, values[maturity], maturity_labels)
        if wanted != list(labels_now):
            body["label_ids"] = wanted
            written.setdefault(maturity, values[maturity])
    return body, written
