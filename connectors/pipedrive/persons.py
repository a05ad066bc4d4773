"""Pipedrive persons -> `Contact`, value by value (see `mapping` for the reader and the vocabulary).

What a Pipedrive person carries into a `Contact`:
- profile: name parts, primary email, owner, job title (native, present when contact sync is on), company
  (the organization's name), created/updated times; industry, company size (a head count, or a range such
  as "50-100" typed by hand, in `company_size_range`), seniority, country and lead source from the person
  fields the `profile_fields` setting names (seniority through `mapping.SENIORITY` and its setting);
- `fields`: every other custom field keyed by the snake_case of its name (qualification answers among
  them), the primary phone, and the counters asked for with `include_fields` (won_deals_count, ...);
- `crm_values`: the person's labels (`label_ids`, as "3,7"), the native field crmsync may write;
- events: Pipedrive has no marketing events. Only what it records: the latest incoming mail
  (`last_incoming_mail_time`) as an `email_reply`, and one event per configured date field holding the
  latest event of a type (`event_date_fields`, day precision). Opens, visits and the like that no field
  records stay out rather than being invented.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, time, timezone
from typing import TYPE_CHECKING, Any

from connectors.pipedrive.mapping import (
    CRM,
    INCLUDE_FIELDS,
    LABELS_FIELD,
    SENIORITY,
    format_rfc3339,
    pipedrive_id,
    read_id,
    record_id,
    slug,
)
from sync.contract import RecordProblem
from sync.model import Activity, Contact, Deal, EngagementEvent, Stage
from sync.toolkit.reading import RecordReader, read_record
from sync.toolkit.vocabulary import folded, seniority_level

if TYPE_CHECKING:
    from connectors.pipedrive.fields import FieldCatalog
    from connectors.pipedrive.settings import PipedriveSettings

SENIORITY_VALUES = folded(SENIORITY)
_MAIL_TIMES = frozenset({"last_incoming_mail_time", "last_outgoing_mail_time"})
_PLAIN_COUNT = re.compile(r"^\s*[\d\s.,\u00a0\u202f]+\s*$")


def to_contact(
    row: Mapping[str, Any],
    *,
    catalog: FieldCatalog,
    settings: PipedriveSettings,
    account: str,
    deals: Sequence[Deal],
    activities: Sequence[Activity],
    org_names: Mapping[int, str],
    problems: list[RecordProblem],
) -> Contact | None:
    """The person as a `Contact`; None (reported) when its id cannot be read or its mapping fails."""
    person_id = record_id(row.get("id"), "person", problems)
    if person_id is None:
        return None
    return read_record(person_id, "person", problems, lambda: _contact(
        person_id, row, catalog=catalog, settings=settings, account=account, deals=deals,
        activities=activities, org_names=org_names, problems=problems))


def _contact(person_id: int, row: Mapping[str, Any], *, catalog: FieldCatalog, settings: PipedriveSettings,
             account: str, deals: Sequence[Deal], activities: Sequence[Activity], org_names: Mapping[int, str],
             problems: list[RecordProblem]) -> Contact:
    reader = RecordReader(str(person_id), "person")
    try:
        profile, fields, events, override = _custom_values(reader, row, catalog, settings)
        replied = reader.timestamp(row.get("last_incoming_mail_time"), "last_incoming_mail_time")
        if replied is not None:
            events.append(EngagementEvent(type="email_reply", at=replied, source="pipedrive_mail"))
        phone = _primary(reader, row.get("phones"), "phones")
        if phone:
            fields["phone"] = phone
        for counter in INCLUDE_FIELDS:
            if row.get(counter) is None:
                continue
            value: Any = replied if counter == "last_incoming_mail_time" else (
                reader.timestamp(row[counter], counter) if counter in _MAIL_TIMES
                else reader.integer(row[counter], counter))
            if value is not None:
                fields[counter] = format_rfc3339(value) if isinstance(value, datetime) else value
        org_id = read_id(reader, row.get("org_id"), "org_id")
        owner = read_id(reader, row.get("owner_id"), "owner_id")
        crm_values: dict[str, Any] = {}
        labels = read_labels(reader, row.get(LABELS_FIELD))
        if labels is not None:
            crm_values[LABELS_FIELD] = labels_text(labels)
        return Contact(
            crm=CRM,
            id=str(person_id),
            account=account,
            email=_primary(reader, row.get("emails"), "emails"),
            owner_id=str(owner) if owner is not None else None,
            first_name=reader.text(row.get("first_name"), "first_name"),
            last_name=reader.text(row.get("last_name"), "last_name"),
            company=org_names.get(org_id) or None if org_id is not None else None,
            job_title=reader.text(row.get("job_title"), "job_title"),
            created_at=reader.timestamp(row.get("add_time"), "add_time"),
            updated_at=reader.timestamp(row.get("update_time"), "update_time"),
            fields=fields,
            events=sorted(events, key=lambda event: event.at),
            activities=sorted(activities, key=lambda activity: (activity.at, activity.id or "")),
            deals=list(deals),
            override_stage=override,
            crm_values=crm_values,
            **profile,
        )
    finally:
        problems.extend(reader.problems)


def _custom_values(reader: RecordReader, row: Mapping[str, Any], catalog: FieldCatalog,
                   settings: PipedriveSettings) -> tuple[dict[str, Any], dict[str, Any], list[EngagementEvent],
                                                         Stage | None]:
    """Profile attributes, other fields, dated events and the stage override from the custom fields."""
    custom = row.get("custom_fields")
    if custom is None:
        custom = {}
    if not isinstance(custom, Mapping):
        reader.problem("custom_fields", "not an object of custom field values")
        custom = {}
    names = settings.field_names
    managed, by_attribute, explicit = names.managed, names.profile, names.qualification
    event_fields, override_name = names.event_dates, names.override_stage
    profile: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    events: list[EngagementEvent] = []
    override: Stage | None = None
    for key, raw in custom.items():
        spec = catalog.by_key.get(key)
        if spec is None or raw is None:
            continue
        name = spec.name.casefold()
        if name in managed:
            continue
        if name in by_attribute:
            attribute = by_attribute[name]
            # a head count typed as a range ("50-100") is read as one, whatever the field's type says
            value = raw if attribute == "company_size" and spec.field_type not in ("enum", "set") \
                else catalog.decode(spec, raw, reader)
            profile.update(_profile_value(reader, attribute, spec.name, value, settings))
        elif name in event_fields:
            day = reader.day(raw, spec.name)
            if day is not None:
                moment = datetime.combine(day, time(0), tzinfo=timezone.utc)
                events.append(EngagementEvent(type=event_fields[name], at=moment, source="pipedrive_field"))
        elif name == override_name:
            value = catalog.decode(spec, raw, reader)
            override = Stage(value) if value in Stage.__members__.values() else None
            if value is not None and override is None:
                reader.problem(spec.name, "not a crmsync stage")
        else:
            value = catalog.decode(spec, raw, reader)
            if value is not None:
                fields[explicit.get(name, slug(spec.name))] = value
    return profile, fields, events, override


def _profile_value(reader: RecordReader, attribute: str, field: str, value: Any,
                   settings: PipedriveSettings) -> dict[str, Any]:
    """A profile attribute: a company size is a head count or a range ("50-100", "1000+"); the others text."""
    if value is None or value == "":
        return {}
    if attribute == "seniority":
        return {attribute: seniority_level(reader.text(value, field), settings.seniority_table,
                                           SENIORITY_VALUES)}
    if attribute != "company_size":
        return {attribute: reader.text(value if not isinstance(value, list) else ", ".join(map(str, value)),
                                       field)}
    bounds = reader.size_range(value, field)
    if bounds is None:
        return {}
    low, high = bounds
    exact = isinstance(value, (int, float)) or (isinstance(value, str) and bool(_PLAIN_COUNT.match(value)))
    return {"company_size": low} if exact and high == low else {"company_size_range": bounds}


def _primary(reader: RecordReader, items: Any, field: str) -> str | None:
    """The primary (else first) value of an email or phone list."""
    if items is None or items == []:
        return None
    if not isinstance(items, list):
        reader.problem(field, "not a list")
        return None
    entries = [item for item in items if isinstance(item, Mapping)]
    if not entries:
        return None
    chosen = next((item for item in entries if item.get("primary") is True), entries[0])
    return reader.text(chosen.get("value"), field, limit=320)


def read_labels(reader: RecordReader, raw: Any) -> list[int] | None:
    """A person's label ids (None: unknown, reported when unreadable)."""
    if raw is None:
        return []
    ids = [pipedrive_id(item) for item in raw] if isinstance(raw, list) else [None]
    if any(item is None for item in ids):
        reader.problem(LABELS_FIELD, "not a list of label ids")
        return None
    return [item for item in ids if item is not None]


def labels_text(label_ids: Iterable[int]) -> str:
    """Label ids as `Contact.crm_values` and the push read them: `"3,7"`, or `""` for none."""
    return ",".join(str(int(label_id)) for label_id in label_ids)


def label_ids_of(text: Any) -> list[int] | None:
    """The inverse of `labels_text`; None for a value that is not one."""
    if text == "" or text == []:
        return []
    if not isinstance(text, str):
        return None
    ids = [pipedrive_id(part) for part in text.split(",")]
    return None if any(item is None for item in ids) else [item for item in ids if item is not None]


__all__ = ["label_ids_of", "labels_text", "read_labels", "to_contact"]
