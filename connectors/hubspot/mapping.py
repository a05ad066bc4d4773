"""HubSpot records -> crmsync's neutral model (pull side), and HubSpot's own vocabulary onto the neutral one.

Every raw value goes through one `sync.toolkit.reading.RecordReader` per record: HubSpot stores strings, and
imports, integrations and people leave anything in them ("50-100" in a number, a date that is not one, a
100 KB paste, NUL bytes). A value that cannot be read is unknown (None) and a `RecordProblem` naming the
record and the property, never the value; a record whose id is not a HubSpot id is skipped.

What maps to what:

* Profile: the `Contact` attributes from `settings.profile_properties` (defaults: email, hubspot_owner_id,
  firstname, lastname, company, industry, numemployees, jobtitle, seniority, country, hs_analytics_source);
  `company.NAME` reads NAME from the contact's primary company. A head count is read as a range:
  `numemployees` is HubSpot's dropdown ("25-50", "1000+") -> `company_size_range`; an exact number (the
  company's `numberofemployees`, or one typed) -> `company_size`. Seniority through `SENIORITY`.
  `hs_analytics_source` is HubSpot's source category (ORGANIC_SEARCH...), lower-cased.
  createdate / lastmodifieddate -> created_at / updated_at; `lifecyclestage` and `hs_lead_status` as they
  are -> `crm_values` (what a push decides from).
* `Contact.fields`: `settings.field_sources`, typed by the account's property definitions (number, bool,
  date/datetime, the rest text; unset -> None), plus the analytics counters `visit_count`,
  `page_view_count`, `conversion_count` and `email_open_count`.
* Events. HubSpot keeps summaries, not an event log, on the contact: first/last visit -> `visit`; first and
  recent conversion -> the type named by the conversion's name (`settings.conversion_types`), `source` the
  name; first/last marketing email open -> `email_open`; last sales-email reply -> `email_reply`; the last
  meeting booked through the meetings tool -> `meeting_booked` (unless the contact's booked meetings are read
  as records: `activities.py`). Events at the same (type, instant) are one event.
* Deals: dealstage -> status through the pipeline's stage metadata (isClosed + probability 1 = won, 0 =
  lost) or the default closedwon/closedlost ids; dealstage -> stage through `settings.deal_stages`; amount,
  currency, closedate (its UTC date), createdate, hs_lastmodifieddate; recurring from
  `settings.deal_recurring_property` through `RECURRING`; contract months.
* Merges: `hs_merged_object_ids` ("12;34") on the survivor -> each id merged into the survivor.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from connectors.hubspot.settings import COMPANY_PREFIX, HubSpotSettings
from sync.model import Activity, Contact, Deal, DealStatus, EngagementEvent, Seniority, Stage
from sync.toolkit.reading import RecordReader
from sync.toolkit.vocabulary import TYPED_RECURRING, recurring_flag, seniority_level

CRM = "hubspot"
LIFECYCLE = "lifecyclestage"
LEAD_STATUS = "hs_lead_status"
NATIVE_FIELDS = (LIFECYCLE, LEAD_STATUS)  # native properties people edit and crmsync may write
MERGED_IDS = "hs_merged_object_ids"
PRIMARY_COMPANY = "associatedcompanyid"
#: a HubSpot record id: digits ("CRM API | Objects": ids are numeric, sent and received as strings)
RECORD_ID = re.compile(r"^[0-9]{1,20}$")

COUNTERS = {"visit_count": "hs_analytics_num_visits", "page_view_count": "hs_analytics_num_page_views",
            "conversion_count": "num_conversion_events", "email_open_count": "hs_email_open"}
LAST_MEETING_BOOKED = "engagements_last_meeting_booked"
EVENT_DATES: tuple[tuple[str, str], ...] = (
    ("hs_analytics_first_visit_timestamp", "visit"), ("hs_analytics_last_visit_timestamp", "visit"),
    ("hs_email_first_open_date", "email_open"), ("hs_email_last_open_date", "email_open"),
    ("hs_sales_email_last_replied", "email_reply"), (LAST_MEETING_BOOKED, "meeting_booked"),
)
CONVERSIONS = (("first_conversion_event_name", "first_conversion_date"),
               ("recent_conversion_event_name", "recent_conversion_date"))
SYSTEM_PROPERTIES = ("hs_object_id", "createdate", "lastmodifieddate", LIFECYCLE, LEAD_STATUS, MERGED_IDS)
DEAL_PROPERTIES = ("dealname", "dealstage", "pipeline", "amount", "deal_currency_code", "closedate", "createdate",
                   "hs_lastmodifieddate")

# -- HubSpot's vocabulary onto the neutral one ------------------------------------------------------------
# Every native value crmsync interprets, in one place. Values compare without case (spaces read as "_");
# `settings.seniority_values` and `settings.recurring_values` add the account's own to these.

#: `hs_call_direction` / `hs_email_direction` -> an activity's direction
DIRECTIONS = {"OUTBOUND": "outbound", "EMAIL": "outbound", "FORWARDED_EMAIL": "outbound", "INBOUND": "inbound",
              "INCOMING_EMAIL": "inbound"}
#: `hs_meeting_outcome` ("Activities | Meetings": scheduled, completed, rescheduled, no show, canceled)
MEETING_OUTCOMES = {"SCHEDULED": "scheduled", "COMPLETED": "completed", "RESCHEDULED": "rescheduled",
                    "NO_SHOW": "no_show", "CANCELED": "canceled", "CANCELLED": "canceled"}
#: `hs_communication_channel_type` ("Engagements | Communications") -> the network of a `social_message`
CHANNELS = {"LINKEDIN_MESSAGE": "linkedin", "SMS": "sms", "WHATS_APP": "whatsapp"}

#: HubSpot's own seniority values (the enrichment's `hs_seniority` options) -> the neutral levels; values
#: people type in any CRM are read by `sync.toolkit.vocabulary`, `settings.seniority_values` first
SENIORITY: dict[str, Seniority] = {
    "executive": Seniority.C_LEVEL, "owner": Seniority.C_LEVEL, "founder": Seniority.C_LEVEL,
    "partner": Seniority.C_LEVEL, "vp": Seniority.DIRECTOR, "director": Seniority.DIRECTOR,
    "manager": Seniority.MANAGER, "senior": Seniority.INDIVIDUAL, "entry": Seniority.INDIVIDUAL,
    "employee": Seniority.INDIVIDUAL, "training": Seniority.STUDENT, "unpaid": Seniority.STUDENT,
}
#: the recurring flag: HubSpot has no vocabulary of its own for it (a number property, a yes/no or a picklist
#: a company made): the typed words of `sync.toolkit.vocabulary`, `settings.recurring_values` first
RECURRING: dict[str, bool] = dict(TYPED_RECURRING)
#: the contacts' `numemployees` dropdown ("CRM API | Contacts", default properties): bands, not head counts
#: -> `Contact.company_size_range` (the rules read a band up to, not including, its highest number: 50 is
#: in 50-100, not in 25-50); any other text is read as typed ("75", "40-60")
EMPLOYEE_RANGES: dict[str, tuple[int, int | None]] = {
    "1-5": (1, 5), "5-25": (5, 25), "25-50": (25, 50), "50-100": (50, 100), "100-500": (100, 500),
    "500-1000": (500, 1000), "1000+": (1000, None),
}
#: the whole vocabulary, by what it names
VOCABULARY: dict[str, Mapping[str, Any]] = {
    "direction": DIRECTIONS, "meeting_outcome": MEETING_OUTCOMES, "channel": CHANNELS, "seniority": SENIORITY,
    "recurring": RECURRING, "company_size": EMPLOYEE_RANGES,
}


# -- primitive values ------------------------------------------------------------------------------------

def parse_time(raw: str | None) -> datetime | None:
    """A HubSpot datetime (`2024-06-10T08:00:00.123Z` or epoch-ms digits) the connector itself relies on
    (cursors, archive times); None when it is not one."""
    if raw is None or raw == "":
        return None
    try:
        if raw.isdigit() or (raw.startswith("-") and raw[1:].isdigit()):
            return datetime.fromtimestamp(int(raw) / 1000, tz=timezone.utc)
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000) if moment.tzinfo else int(moment.replace(tzinfo=timezone.utc).timestamp()
                                                                      * 1000)


def record_id(record: Mapping[str, Any]) -> str | None:
    """The record's HubSpot id, None when it is not one (the record is then skipped)."""
    raw = record.get("id")
    text = str(raw) if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
    return text if RECORD_ID.match(text) else None


def read_value(reader: RecordReader, raw: Any, kind: str | None, name: str) -> Any:
    """One property value, typed by the property's HubSpot `type`; unset and "" are None."""
    if kind == "number":
        number = reader.number(raw, name)
        return int(number) if number is not None and number.is_integer() else number
    if kind == "bool":
        return reader.boolean(raw, name)
    if kind == "datetime":
        return reader.timestamp(raw, name)
    if kind == "date":
        return reader.day(reader.timestamp(raw, name) if isinstance(raw, str) and raw.isdigit() else raw, name)
    return reader.text(raw, name)


def company_size(reader: RecordReader, raw: Any, name: str) -> tuple[int | None, tuple[int, int | None] | None]:
    """(exact head count, range) from a head-count property: a number is exact, a range ("50-100",
    "1000+") is a range and no head count."""
    band = EMPLOYEE_RANGES.get(raw.strip()) if isinstance(raw, str) else None
    found = band or reader.size_range(raw, name)
    if found is None:
        return None, None
    low, high = found
    return (low, None) if low == high else (None, found)


def seniority(raw: str | None, settings: HubSpotSettings) -> str | None:
    return seniority_level(raw, settings.seniority_table, SENIORITY)


def recurring(reader: RecordReader, raw: Any, name: str, settings: HubSpotSettings) -> bool | None:
    """A deal's recurring flag: a word of the settings or `RECURRING`, else a positive amount; unknown
    otherwise."""
    if raw is None or raw == "":
        return None
    flag = recurring_flag(str(raw), settings.recurring_table, RECURRING)
    if flag is not None:
        return flag
    amount = reader.number(raw, name)
    return None if amount is None else amount > 0


# -- what a pull asks for --------------------------------------------------------------------------------

def company_properties(settings: HubSpotSettings) -> dict[str, str]:
    """Profile attributes read from the primary company -> the company property."""
    return {attribute: prop[len(COMPANY_PREFIX):] for attribute, prop in settings.profile_properties.items()
            if prop.startswith(COMPANY_PREFIX)}


def contact_properties(settings: HubSpotSettings) -> list[str]:
    """Every contact property a pull reads (HubSpot returns only the properties asked for)."""
    profile = [prop for prop in settings.profile_properties.values() if not prop.startswith(COMPANY_PREFIX)]
    names = [*SYSTEM_PROPERTIES, *profile, *settings.field_sources.values(), *COUNTERS.values(),
             *(prop for prop, _ in EVENT_DATES), *(name for pair in CONVERSIONS for name in pair)]
    if company_properties(settings):
        names.append(PRIMARY_COMPANY)
    if settings.override_stage_property:
        names.append(settings.override_stage_property)
    return list(dict.fromkeys(names))


def deal_properties(settings: HubSpotSettings) -> list[str]:
    extra = [name for name in (settings.deal_recurring_property, settings.deal_contract_months_property) if name]
    return [*DEAL_PROPERTIES, *extra]


# -- contacts --------------------------------------------------------------------------------------------

def conversion_type(name: str, settings: HubSpotSettings) -> str:
    lowered = name.lower()
    for keyword, kind in settings.conversion_types:
        if keyword in lowered:
            return kind
    return "form"


def contact_events(reader: RecordReader, props: Mapping[str, Any], settings: HubSpotSettings, *,
                   booked_meetings: bool) -> list[EngagementEvent]:
    """The events HubSpot's contact summaries tell; the last meeting booked only when the contact's booked
    meetings are not read as records (they are the complete list then)."""
    events: list[EngagementEvent] = []
    for prop, kind in EVENT_DATES:
        if prop == LAST_MEETING_BOOKED and booked_meetings:
            continue
        at = reader.timestamp(props.get(prop), prop)
        if at is not None:
            events.append(EngagementEvent(type=kind, at=at))
    for name_prop, date_prop in CONVERSIONS:
        name, at = reader.text(props.get(name_prop), name_prop), reader.timestamp(props.get(date_prop), date_prop)
        if name and at is not None:
            events.append(EngagementEvent(type=conversion_type(name, settings), at=at, source=name))
    return events


def merge_events(events: Iterable[EngagementEvent]) -> list[EngagementEvent]:
    """One event per (type, instant), oldest first; a named one (with a source) wins over an anonymous one."""
    unique: dict[tuple[str, datetime], EngagementEvent] = {}
    for event in events:
        key = (event.type, event.at)
        if key not in unique or (unique[key].source is None and event.source is not None):
            unique[key] = event
    return sorted(unique.values(), key=lambda event: (event.at, event.type))


def merged_ids(props: Mapping[str, Any]) -> list[str]:
    raw = props.get(MERGED_IDS)
    text = raw if isinstance(raw, str) else ""
    return [part.strip() for part in text.split(";") if RECORD_ID.match(part.strip())]


def to_contact(record: Mapping[str, Any], reader: RecordReader, *, settings: HubSpotSettings,
               types: Mapping[str, str], account: str, company: Mapping[str, Any] | None = None,
               deals: Sequence[Deal] = (), activities: Sequence[Activity] = (),
               activity_events: Sequence[EngagementEvent] = (), booked_meetings: bool = False) -> Contact:
    """One contact, its id already checked (`record_id`)."""
    props: Mapping[str, Any] = record.get("properties") or {}
    from_company = company_properties(settings)

    def raw(attribute: str) -> tuple[Any, str | None]:
        prop = settings.profile_properties.get(attribute)
        if attribute in from_company:
            return (company or {}).get(from_company[attribute]), prop
        return (props.get(prop) if prop else None), prop

    def text(attribute: str) -> str | None:
        value, prop = raw(attribute)
        return reader.text(value, prop) if prop else None

    size_raw, size_prop = raw("company_size")
    size, size_range = company_size(reader, size_raw, size_prop) if size_prop else (None, None)
    source = text("source")
    fields: dict[str, Any] = {key: read_value(reader, props.get(prop), types.get(prop), prop)
                              for key, prop in settings.field_sources.items()}
    fields.update({key: read_value(reader, props.get(prop), "number", prop) for key, prop in COUNTERS.items()})
    override = props.get(settings.override_stage_property) if settings.override_stage_property else None
    ordered_activities = sorted(activities, key=lambda activity: (activity.at, activity.id or ""))
    return Contact(
        crm=CRM, id=str(record["id"]), account=account,
        email=text("email"), owner_id=text("owner_id"), first_name=text("first_name"), last_name=text("last_name"),
        company=text("company"), industry=text("industry"), company_size=size, company_size_range=size_range,
        job_title=text("job_title"), seniority=seniority(text("seniority"), settings), country=text("country"),
        source=source.lower() if source else None,
        created_at=reader.timestamp(props.get("createdate"), "createdate") or reader.timestamp(
            record.get("createdAt"), "createdAt"),
        updated_at=reader.timestamp(props.get("lastmodifieddate"), "lastmodifieddate") or reader.timestamp(
            record.get("updatedAt"), "updatedAt"),
        fields=fields,
        events=merge_events([*contact_events(reader, props, settings, booked_meetings=booked_meetings),
                             *activity_events]),
        activities=ordered_activities,
        deals=sorted(deals, key=lambda deal: (deal.created_at or datetime.min.replace(tzinfo=timezone.utc), deal.id)),
        override_stage=Stage(override) if isinstance(override, str) and override in Stage._value2member_map_ else None,
        crm_values={name: reader.text(props.get(name), name) for name in NATIVE_FIELDS},
    )


# -- deals -----------------------------------------------------------------------------------------------

def to_deal(record: Mapping[str, Any], reader: RecordReader, outcomes: Mapping[str, DealStatus],
            settings: HubSpotSettings) -> Deal:
    """One deal, its id already checked (`record_id`)."""
    props = record.get("properties") or {}
    stage_id = reader.text(props.get("dealstage"), "dealstage")
    closed = reader.timestamp(props.get("closedate"), "closedate")
    recurring_prop, months_prop = settings.deal_recurring_property, settings.deal_contract_months_property
    months = reader.integer(props.get(months_prop), months_prop) if months_prop else None
    return Deal(
        id=str(record["id"]),
        status=outcomes.get(stage_id or "", DealStatus.OPEN),
        stage=settings.deal_stages.get(stage_id or ""),
        crm_stage=stage_id,
        amount=reader.number(props.get("amount"), "amount"),
        currency=reader.text(props.get("deal_currency_code"), "deal_currency_code"),
        close_date=closed.date() if closed else None,
        recurring=recurring(reader, props.get(recurring_prop), recurring_prop, settings) if recurring_prop else None,
        contract_months=months if months is None or months >= 0 else None,
        created_at=reader.timestamp(props.get("createdate"), "createdate") or reader.timestamp(
            record.get("createdAt"), "createdAt"),
        updated_at=reader.timestamp(props.get("hs_lastmodifieddate"), "hs_lastmodifieddate") or reader.timestamp(
            record.get("updatedAt"), "updatedAt"),
    )


def stage_outcomes(pipelines: Mapping[str, Any]) -> dict[str, DealStatus]:
    """Stage id -> won/lost from `GET /crm/v3/pipelines/deals` (metadata.isClosed + probability)."""
    outcomes = {"closedwon": DealStatus.WON, "closedlost": DealStatus.LOST}
    for pipeline in pipelines.get("results") or []:
        for stage in pipeline.get("stages") or []:
            meta = stage.get("metadata") or {}
            if str(meta.get("isClosed", "")).lower() != "true":
                outcomes.setdefault(str(stage.get("id")), DealStatus.OPEN)
                continue
            try:
                probability = float(meta.get("probability", "0"))
            except (TypeError, ValueError):
                probability = 0.0
            outcomes[str(stage.get("id"))] = DealStatus.WON if probability >= 1.0 else DealStatus.LOST
    return outcomes
