"""HubSpot records <-> crmsync's neutral model, and canonical values -> HubSpot property values.

What maps to what (pull side):

* Profile: the `Contact` attributes from `settings.profile_properties` (defaults: email, hubspot_owner_id,
  firstname, lastname, company, industry, numemployees, jobtitle, seniority, country, hs_analytics_source).
  `numemployees` is HubSpot's range enumeration ("25-50"): `company_size` is the range's lower bound.
  `hs_analytics_source` is HubSpot's own source category (ORGANIC_SEARCH...), lower-cased.
  createdate / lastmodifieddate -> created_at / updated_at.
* `Contact.fields`: `settings.field_sources`, typed by the account's property definitions (number -> int or
  float, bool -> bool, date/datetime -> date/datetime, the rest strings; unset -> None), plus the analytics
  counters `visit_count` (hs_analytics_num_visits), `page_view_count` (hs_analytics_num_page_views),
  `conversion_count` (num_conversion_events) and `email_open_count` (hs_email_open).
* Events. HubSpot keeps summaries, not an event log, on the contact:
  - hs_analytics_first_visit_timestamp, hs_analytics_last_visit_timestamp -> `visit`
  - first_conversion_event_name + first_conversion_date, recent_conversion_event_name +
    recent_conversion_date -> the type named by the conversion's name (`settings.conversion_types`
    keywords: "Demo request" -> demo_request...; no match -> `form`), `source` = the conversion name
  - hs_email_first_open_date, hs_email_last_open_date -> `email_open`
  - hs_sales_email_last_replied -> `email_reply`
  - engagements_last_meeting_booked -> `meeting_booked`
  and from the engagement objects: every incoming email (hs_email_direction INCOMING_EMAIL) -> `email_reply`,
  every meeting -> `meeting_booked`, both at hs_timestamp. Events at the same (type, instant) are one event.
* Activities: calls, emails, meetings, notes and tasks -> `Activity`: hs_timestamp -> at, hubspot_owner_id ->
  by, hs_call_direction / hs_email_direction -> direction (OUTBOUND, EMAIL, FORWARDED_EMAIL = outbound;
  INBOUND, INCOMING_EMAIL = inbound; meetings, notes and tasks have none), done = call COMPLETED, email SENT,
  meeting COMPLETED, task COMPLETED, note always; automated = hs_object_source in
  `settings.automated_sources` (workflows, sequences, bots); the title/subject property -> subject.
* Deals: dealstage -> status through the pipeline's stage metadata (isClosed + probability 1 = won, 0 = lost)
  or the default closedwon/closedlost ids; dealstage -> stage through `settings.deal_stages`; amount,
  deal_currency_code, closedate (its UTC date), createdate, hs_lastmodifieddate; recurring = a positive
  `recurring_revenue_amount` ("0" = one-off, unset = unknown); contract months from `contract_term_months`.
* Merges: `hs_merged_object_ids` ("12;34") on the survivor -> each id merged into the survivor.

Push side: canonical fields go to crmsync's own properties (`settings.field_properties`), values as HubSpot
strings (numbers "17", booleans "true"/"false", datetimes epoch-ms, None -> "" which clears). The stage also
moves HubSpot's own `lifecyclestage` (forward only; see `to_write`) and, for nurture / disqualified,
`hs_lead_status`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from typing import Any

from connectors.hubspot.settings import HubSpotSettings
from sync.contract import CanonicalField, FieldUpdate, FieldValue
from sync.model import Activity, ActivityKind, Contact, Deal, DealStatus, EngagementEvent, Stage

CRM = "hubspot"
LIFECYCLE = "lifecyclestage"
LEAD_STATUS = "hs_lead_status"
MERGED_IDS = "hs_merged_object_ids"
DEFAULT_LIFECYCLE_ORDER = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
                           "customer", "evangelist", "other")
#: HubSpot's finer grades of one crmsync stage: crmsync never undoes them (an MQL stays an MQL for "lead")
LIFECYCLE_EQUIVALENT = {"lead": {"marketingqualifiedlead"}, "salesqualifiedlead": {"opportunity"},
                        "customer": {"evangelist"}}
MAX_TEXT = 65_000  # HubSpot string properties hold 65,536 characters

COUNTERS = {"visit_count": "hs_analytics_num_visits", "page_view_count": "hs_analytics_num_page_views",
            "conversion_count": "num_conversion_events", "email_open_count": "hs_email_open"}
EVENT_DATES: tuple[tuple[str, str], ...] = (
    ("hs_analytics_first_visit_timestamp", "visit"), ("hs_analytics_last_visit_timestamp", "visit"),
    ("hs_email_first_open_date", "email_open"), ("hs_email_last_open_date", "email_open"),
    ("hs_sales_email_last_replied", "email_reply"), ("engagements_last_meeting_booked", "meeting_booked"),
)
CONVERSIONS = (("first_conversion_event_name", "first_conversion_date"),
               ("recent_conversion_event_name", "recent_conversion_date"))
SYSTEM_PROPERTIES = ("hs_object_id", "createdate", "lastmodifieddate", LIFECYCLE, LEAD_STATUS, MERGED_IDS)


@dataclass(frozen=True)
class EngagementSpec:
    kind: ActivityKind
    subject: str
    status: str | None
    done: frozenset[str]
    direction: str | None = None


ENGAGEMENTS: dict[str, EngagementSpec] = {
    "calls": EngagementSpec(ActivityKind.CALL, "hs_call_title", "hs_call_status", frozenset({"COMPLETED"}),
                            "hs_call_direction"),
    "emails": EngagementSpec(ActivityKind.EMAIL, "hs_email_subject", "hs_email_status", frozenset({"SENT"}),
                             "hs_email_direction"),
    "meetings": EngagementSpec(ActivityKind.MEETING, "hs_meeting_title", "hs_meeting_outcome",
                               frozenset({"COMPLETED"})),
    "notes": EngagementSpec(ActivityKind.NOTE, "hs_note_body", None, frozenset()),
    "tasks": EngagementSpec(ActivityKind.TASK, "hs_task_subject", "hs_task_status", frozenset({"COMPLETED"})),
}
ENGAGEMENT_COMMON = ("hs_timestamp", "hubspot_owner_id", "hs_object_source")
DIRECTIONS = {"OUTBOUND": "outbound", "EMAIL": "outbound", "FORWARDED_EMAIL": "outbound", "INBOUND": "inbound",
              "INCOMING_EMAIL": "inbound"}
DEAL_PROPERTIES = ("dealname", "dealstage", "pipeline", "amount", "deal_currency_code", "closedate", "createdate",
                   "hs_lastmodifieddate")


# -- primitive values ------------------------------------------------------------------------------------

def parse_time(raw: str | None) -> datetime | None:
    """HubSpot datetimes come as ISO-8601 (`2024-06-10T08:00:00.123Z`) or epoch-ms strings."""
    if raw is None or raw == "":
        return None
    if raw.isdigit() or (raw.startswith("-") and raw[1:].isdigit()):
        return datetime.fromtimestamp(int(raw) / 1000, tz=timezone.utc)
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(timezone.utc)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000) if moment.tzinfo else int(moment.replace(tzinfo=timezone.utc).timestamp()
                                                                      * 1000)


def parse_number(raw: str) -> int | float:
    value = float(raw)
    return int(value) if value.is_integer() and "." not in raw and "e" not in raw.lower() else value


def decode_value(raw: str | None, kind: str | None) -> Any:
    """One property value, typed by the property's HubSpot `type`; unset and "" are None."""
    if raw is None or raw == "":
        return None
    try:
        if kind == "number":
            return parse_number(raw)
        if kind == "bool":
            return raw.lower() == "true"
        if kind == "datetime":
            return parse_time(raw)
        if kind == "date":
            parsed = parse_time(raw)
            return parsed.date() if parsed else None
    except ValueError:
        return raw  # a value HubSpot's type does not explain: hand it over as text rather than drop it
    return raw


def encode_value(value: FieldValue, kind: str | None) -> str:
    """A Python value as the string HubSpot stores; None clears the property."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if kind == "date":
            return str(epoch_ms(datetime.combine(value.astimezone(timezone.utc).date(), time(), timezone.utc)))
        return str(epoch_ms(value))
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text[:MAX_TEXT]


def employees_from_range(raw: str | None) -> int | None:
    if not raw:
        return None
    head = raw.split("-", 1)[0].rstrip("+").replace(",", "").strip()
    try:
        return int(float(head))
    except ValueError:
        return None


# -- pull ------------------------------------------------------------------------------------------------

def contact_properties(settings: HubSpotSettings) -> list[str]:
    """Every contact property a pull reads (HubSpot returns only the properties asked for)."""
    names = [*SYSTEM_PROPERTIES, *settings.profile_properties.values(), *settings.field_sources.values(),
             *COUNTERS.values(), *(prop for prop, _ in EVENT_DATES), *(name for pair in CONVERSIONS for name in pair)]
    if settings.override_stage_property:
        names.append(settings.override_stage_property)
    return list(dict.fromkeys(names))


def engagement_properties(object_type: str) -> list[str]:
    spec = ENGAGEMENTS[object_type]
    names = [*ENGAGEMENT_COMMON, spec.subject, spec.status, spec.direction]
    return [name for name in names if name]


def deal_properties(settings: HubSpotSettings) -> list[str]:
    extra = [name for name in (settings.deal_recurring_property, settings.deal_contract_months_property) if name]
    return [*DEAL_PROPERTIES, *extra]


def conversion_type(name: str, settings: HubSpotSettings) -> str:
    lowered = name.lower()
    for keyword, kind in settings.conversion_types:
        if keyword in lowered:
            return kind
    return "form"


def contact_events(props: Mapping[str, Any], settings: HubSpotSettings) -> list[EngagementEvent]:
    events: list[EngagementEvent] = []
    for prop, kind in EVENT_DATES:
        at = parse_time(props.get(prop))
        if at is not None:
            events.append(EngagementEvent(type=kind, at=at))
    for name_prop, date_prop in CONVERSIONS:
        name, at = props.get(name_prop), parse_time(props.get(date_prop))
        if name and at is not None:
            events.append(EngagementEvent(type=conversion_type(name, settings), at=at, source=name))
    return events


def activity_events(activities: Iterable[Activity]) -> list[EngagementEvent]:
    events = []
    for activity in activities:
        if activity.kind is ActivityKind.EMAIL and activity.direction == "inbound":
            events.append(EngagementEvent(type="email_reply", at=activity.at, source="email"))
        elif activity.kind is ActivityKind.MEETING:
            events.append(EngagementEvent(type="meeting_booked", at=activity.at, source="meeting"))
    return events


def merge_events(events: Iterable[EngagementEvent]) -> list[EngagementEvent]:
    """One event per (type, instant), oldest first; a named one (with a source) wins over an anonymous one."""
    unique: dict[tuple[str, datetime], EngagementEvent] = {}
    for event in events:
        key = (event.type, event.at)
        if key not in unique or (unique[key].source is None and event.source is not None):
            unique[key] = event
    return sorted(unique.values(), key=lambda event: (event.at, event.type))


def to_activity(object_type: str, record: Mapping[str, Any], settings: HubSpotSettings) -> Activity | None:
    spec = ENGAGEMENTS[object_type]
    props = record.get("properties") or {}
    at = parse_time(props.get("hs_timestamp")) or parse_time(record.get("createdAt"))
    if at is None:
        return None
    status = props.get(spec.status) if spec.status else None
    return Activity(
        kind=spec.kind, at=at, by=props.get("hubspot_owner_id") or None,
        direction=DIRECTIONS.get(props.get(spec.direction) or "") if spec.direction else None,
        done=True if spec.status is None else status in spec.done,
        automated=(props.get("hs_object_source") or "") in settings.automated_sources,
        id=str(record["id"]), subject=props.get(spec.subject) or None,
    )


def to_deal(record: Mapping[str, Any], outcomes: Mapping[str, DealStatus], settings: HubSpotSettings) -> Deal:
    props = record.get("properties") or {}
    stage_id = props.get("dealstage") or None
    amount = props.get("amount")
    closed = parse_time(props.get("closedate"))
    recurring_raw = props.get(settings.deal_recurring_property) if settings.deal_recurring_property else None
    months_raw = (props.get(settings.deal_contract_months_property)
                  if settings.deal_contract_months_property else None)
    return Deal(
        id=str(record["id"]),
        status=outcomes.get(stage_id or "", DealStatus.OPEN),
        stage=settings.deal_stages.get(stage_id or ""),
        crm_stage=stage_id,
        amount=float(amount) if amount not in (None, "") else None,
        currency=props.get("deal_currency_code") or None,
        close_date=closed.date() if closed else None,
        recurring=None if recurring_raw in (None, "") else float(recurring_raw) > 0,
        contract_months=int(float(months_raw)) if months_raw not in (None, "") else None,
        created_at=parse_time(props.get("createdate")) or parse_time(record.get("createdAt")),
        updated_at=parse_time(props.get("hs_lastmodifieddate")) or parse_time(record.get("updatedAt")),
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
            except ValueError:
                probability = 0.0
            outcomes[str(stage.get("id"))] = DealStatus.WON if probability >= 1.0 else DealStatus.LOST
    return outcomes


def merged_ids(props: Mapping[str, Any]) -> list[str]:
    raw = props.get(MERGED_IDS) or ""
    return [part.strip() for part in raw.split(";") if part.strip()]


def to_contact(record: Mapping[str, Any], *, settings: HubSpotSettings, types: Mapping[str, str], account: str,
               deals: Sequence[Deal] = (), activities: Sequence[Activity] = ()) -> Contact:
    props: Mapping[str, Any] = record.get("properties") or {}
    profile = settings.profile_properties
    size_prop = profile.get("company_size")
    size_raw = props.get(size_prop) if size_prop else None
    company_size = (employees_from_range(size_raw) if types.get(size_prop or "") != "number"
                    else decode_value(size_raw, "number"))
    source = props.get(profile["source"]) if "source" in profile else None
    fields: dict[str, Any] = {key: decode_value(props.get(prop), types.get(prop))
                              for key, prop in settings.field_sources.items()}
    fields.update({key: decode_value(props.get(prop), "number") for key, prop in COUNTERS.items()})
    override = props.get(settings.override_stage_property) if settings.override_stage_property else None
    ordered_activities = sorted(activities, key=lambda activity: (activity.at, activity.id or ""))
    return Contact(
        crm=CRM, id=str(record["id"]), account=account,
        email=_text(props, profile.get("email")), owner_id=_text(props, profile.get("owner_id")),
        first_name=_text(props, profile.get("first_name")), last_name=_text(props, profile.get("last_name")),
        company=_text(props, profile.get("company")), industry=_text(props, profile.get("industry")),
        company_size=int(company_size) if isinstance(company_size, (int, float)) else None,
        job_title=_text(props, profile.get("job_title")), seniority=_text(props, profile.get("seniority")),
        country=_text(props, profile.get("country")), source=source.lower() if source else None,
        created_at=parse_time(props.get("createdate")) or parse_time(record.get("createdAt")),
        updated_at=parse_time(props.get("lastmodifieddate")) or parse_time(record.get("updatedAt")),
        fields=fields,
        events=merge_events([*contact_events(props, settings), *activity_events(ordered_activities)]),
        activities=ordered_activities,
        deals=sorted(deals, key=lambda deal: (deal.created_at or datetime.min.replace(tzinfo=timezone.utc), deal.id)),
        override_stage=Stage(override) if isinstance(override, str) and override in Stage._value2member_map_ else None,
    )


def _text(props: Mapping[str, Any], prop: str | None) -> str | None:
    value = props.get(prop) if prop else None
    return value if value not in (None, "") else None


# -- push ------------------------------------------------------------------------------------------------

@dataclass
class PlannedUpdate:
    """The requests one `FieldUpdate` needs: `steps[k]` goes into the k-th round of batch updates, so a
    lifecycle clear and the earlier stage that follows it are never in the same batch."""

    contact_id: str
    steps: list[dict[str, str]]
    written: dict[str, FieldValue]
    lifecycle_target: str | None = None
    lifecycle_skipped: bool = False
    property_fields: dict[str, str] = field(default_factory=dict)  # property -> canonical field, for errors


class Lifecycle:
    """The account's lifecycle order (from the property's options) and the forward-only rule."""

    def __init__(self, options: Sequence[str] = DEFAULT_LIFECYCLE_ORDER) -> None:
        self.rank = {value: index for index, value in enumerate(options)}

    def satisfied(self, target: str, current: str | None) -> bool:
        return current == target or current in LIFECYCLE_EQUIVALENT.get(target, set())

    def backward(self, target: str, current: str | None) -> bool:
        if not current or current not in self.rank or target not in self.rank:
            return False  # unknown: try forward, and read the answer back
        return self.rank[target] < self.rank[current]


def to_write(update: FieldUpdate, *, settings: HubSpotSettings, types: Mapping[str, str],
                lifecycle: Lifecycle, current_lifecycle: str | None) -> PlannedUpdate:
    """Only values that differ from `previous` are sent; unchanged ones are reported written as they are."""
    changed = {key: value for key, value in update.values.items()
               if key not in update.previous or update.previous[key] != value}
    plan = PlannedUpdate(contact_id=update.contact_id, steps=[], written=dict(update.values))
    first: dict[str, str] = {}
    for key, value in changed.items():
        canonical = CanonicalField(key)
        prop = settings.field_properties[canonical]
        first[prop] = encode_value(value, types.get(prop))
        plan.property_fields[prop] = key
        if canonical is CanonicalField.STAGE:
            _plan_stage(plan, first, value, update.previous.get(key), settings, lifecycle, current_lifecycle)
    if first:
        plan.steps.insert(0, first)
    return plan


def _plan_stage(plan: PlannedUpdate, first: dict[str, str], value: FieldValue, previous: FieldValue,
                settings: HubSpotSettings, lifecycle: Lifecycle, current: str | None) -> None:
    stage = Stage(value) if isinstance(value, str) and value in Stage._value2member_map_ else None
    previous_stage = Stage(previous) if isinstance(previous, str) and previous in Stage._value2member_map_ else None
    if stage in settings.lead_status:
        first[LEAD_STATUS] = settings.lead_status[stage]
    elif previous_stage in settings.lead_status:
        first[LEAD_STATUS] = ""  # leaving nurture / disqualified: the status crmsync set no longer holds
    plan.property_fields[LEAD_STATUS] = CanonicalField.STAGE.value
    target = settings.lifecycle_stages.get(stage) if stage else None
    if target is None:
        return
    if current is None and previous_stage is not None:
        current = settings.lifecycle_stages.get(previous_stage)
    if lifecycle.satisfied(target, current):
        return
    plan.lifecycle_target = target
    plan.property_fields[LIFECYCLE] = CanonicalField.STAGE.value
    if not lifecycle.backward(target, current):
        first[LIFECYCLE] = target
    elif settings.allow_backward_lifecycle:
        first[LIFECYCLE] = ""  # HubSpot moves lifecycle forward only: clear now, set in the next round
        plan.steps.append({LIFECYCLE: target})
    else:
        plan.lifecycle_skipped = True


# -- the properties crmsync creates ----------------------------------------------------------------------

@dataclass(frozen=True)
class PropertySpec:
    """One crmsync-owned contact property: HubSpot `type`, `fieldType`, label and enumeration options."""

    type: str
    field_type: str
    label: str
    options: tuple[str, ...] = ()


_SLA_STATUSES = ("not_started", "running", "met", "breached", "late")
PROPERTY_SPECS: dict[CanonicalField, PropertySpec] = {
    CanonicalField.SCORE: PropertySpec("number", "number", "crmsync score"),
    CanonicalField.SCORE_FIT: PropertySpec("number", "number", "crmsync fit score"),
    CanonicalField.SCORE_ENGAGEMENT: PropertySpec("number", "number", "crmsync engagement score"),
    CanonicalField.SCORE_INTENT: PropertySpec("number", "number", "crmsync intent score"),
    CanonicalField.STAGE: PropertySpec("enumeration", "select", "crmsync stage", tuple(stage.value for stage in Stage)),
    CanonicalField.MATURITY: PropertySpec("enumeration", "select", "crmsync maturity", ("cold", "warm", "hot")),
    CanonicalField.CLIENT_KIND: PropertySpec("enumeration", "select", "crmsync client kind", ("one_off", "recurring")),
    CanonicalField.CRITERIA_MET: PropertySpec("string", "text", "crmsync qualification criteria met"),
    CanonicalField.SLA_STATUS: PropertySpec("enumeration", "select", "crmsync SLA status", _SLA_STATUSES),
    CanonicalField.SLA_DUE_AT: PropertySpec("datetime", "date", "crmsync SLA due at"),
    CanonicalField.SLA_BREACHED: PropertySpec("bool", "booleancheckbox", "crmsync SLA breached", ("true", "false")),
    CanonicalField.REASON: PropertySpec("string", "textarea", "crmsync reason"),
    CanonicalField.RULES_VERSION: PropertySpec("string", "text", "crmsync rules version"),
}
OVERRIDE_SPEC = PropertySpec("enumeration", "select", "crmsync pinned stage", tuple(stage.value for stage in Stage))
_OPTION_LABELS = {"true": "Yes", "false": "No"}


def owned_property_types(settings: HubSpotSettings) -> dict[str, str]:
    """HubSpot types of the properties crmsync writes, known without asking the account."""
    return {settings.field_properties[canonical]: spec.type for canonical, spec in PROPERTY_SPECS.items()}


def property_create_body(name: str, spec: PropertySpec, group: str) -> dict[str, Any]:
    """The `POST /crm/v3/properties/contacts` body for one crmsync property."""
    body: dict[str, Any] = {"name": name, "label": spec.label, "type": spec.type, "fieldType": spec.field_type,
                            "groupName": group}
    if spec.options:
        body["options"] = [{"label": _OPTION_LABELS.get(option, option.replace("_", " ").capitalize()), "value": option,
                            "hidden": False, "displayOrder": index} for index, option in enumerate(spec.options)]
    return body
