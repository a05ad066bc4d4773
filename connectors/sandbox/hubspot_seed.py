"""What HubSpot records when the neutral things happen: a contact, an engagement event, a sales activity,
a deal. The sandbox seeds itself and performs the end-to-end helpers (`record_event`, `log_activity`...)
through these functions, so the native data looks like a real account's:

* a contact's events are not kept as a log but as HubSpot's summaries: visit counters and first/last
  visit, conversion counter and first/recent conversion (named like the forms that produced them),
  marketing-email opens, last sales-email reply, last meeting booked;
* `source` becomes HubSpot's source category (`hs_analytics_source`), `company_size` the `numemployees`
  range, qualification answers and other fields go to their properties (unset when empty);
* activities become call / email / meeting / note / task objects, automation marked by `hs_object_source`;
  a meeting the contact accepted (`accepted_at`) is one booked through the meetings tool
  (`hs_meeting_source` MEETINGS_PUBLIC, created when it was booked), any other one a meeting logged in the
  CRM (CRM_UI); its outcome is `hs_meeting_outcome` ("Activities | Meetings": scheduled, completed,
  rescheduled, no show, canceled);
* a `social_message` event is a communication ("Engagements | Communications": a LinkedIn, SMS or
  WhatsApp message logged on the record, `hs_communication_channel_type`) with no owner: the contact's
  side, which no sales user sent;
* the company a contact works for is a company record with its exact head count (`numberofemployees`),
  the contact's primary company (`associatedcompanyid`);
* deals carry HubSpot's default pipeline stage ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timezone
from typing import Any

from connectors.sandbox.hubspot_store import EMPLOYEE_OPTIONS, iso
from sync.model import Activity, ActivityKind, Contact, Deal, DealStatus, EngagementEvent, PipelineStage

SOURCE_CATEGORY = {"linkedin": "SOCIAL_MEDIA", "webinar": "OTHER_CAMPAIGNS", "trade_show": "OFFLINE",
                   "website_form": "DIRECT_TRAFFIC", "white_paper": "ORGANIC_SEARCH", "referral": "REFERRALS",
                   "paid_search": "PAID_SEARCH"}
CONVERSION_NAMES = {"download": "Cybersecurity white paper download", "webinar": "SIEM webinar registration",
                    "form": "Contact us form", "demo_request": "Demo request", "pricing_view": "Pricing request",
                    "trade_show": "Trade show booth scan"}
PROFILE = {"email": "email", "owner_id": "hubspot_owner_id", "first_name": "firstname", "last_name": "lastname",
           "company": "company", "industry": "industry", "job_title": "jobtitle", "seniority": "seniority",
           "country": "country"}
FIELDS = {"need": "need", "timing": "timing", "budget": "budget", "decision_role": "decision_role",
          "phone": "phone", "city": "city", "website": "website", "annual_revenue": "annualrevenue",
          "lead_source_detail": "lead_source_detail", "newsletter": "newsletter", "competitor": "competitor",
          "not_interested": "not_interested"}
STAGE_IDS = {PipelineStage.FIRST_CONTACT: "appointmentscheduled", PipelineStage.DISCOVERY: "qualifiedtobuy",
             PipelineStage.PROPOSAL: "presentationscheduled", PipelineStage.NEGOTIATION: "contractsent",
             PipelineStage.CLOSING: "contractsent"}
ACTIVITY_TYPES = {ActivityKind.CALL: "calls", ActivityKind.EMAIL: "emails", ActivityKind.MEETING: "meetings",
                  ActivityKind.NOTE: "notes", ActivityKind.TASK: "tasks"}
MEETING_OUTCOMES = {"scheduled": "SCHEDULED", "completed": "COMPLETED", "rescheduled": "RESCHEDULED",
                    "no_show": "NO_SHOW", "canceled": "CANCELED", "declined": "CANCELED"}
CHANNELS = {"linkedin": "LINKEDIN_MESSAGE", "sms": "SMS", "whatsapp": "WHATS_APP"}
_EMPLOYEE_FLOORS = tuple(int(option.split("-")[0].rstrip("+")) for option in EMPLOYEE_OPTIONS)


def epoch_millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def text(value: Any) -> str:
    """A Python value as HubSpot stores it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso(epoch_millis(value))
    if isinstance(value, date):
        return iso(epoch_millis(datetime.combine(value, time(), timezone.utc)))
    return str(value)


def employee_option(size: int) -> str:
    chosen = EMPLOYEE_OPTIONS[0]
    for floor, option in zip(_EMPLOYEE_FLOORS, EMPLOYEE_OPTIONS):
        if size >= floor:
            chosen = option
    return chosen


def attribute_property(name: str, value: Any) -> tuple[str, str]:
    """A neutral profile attribute or `Contact.fields` key -> (property, stored value)."""
    if name == "company_size":
        return "numemployees", employee_option(int(value)) if value is not None else ""
    if name == "source":
        return "hs_analytics_source", SOURCE_CATEGORY.get(str(value), "OTHER_CAMPAIGNS") if value else ""
    prop = PROFILE.get(name) or FIELDS.get(name)
    if prop is None:
        raise KeyError(f"the HubSpot sandbox has no property for {name!r}")
    return prop, text(value)


def event_changes(current: Mapping[str, str], event: EngagementEvent) -> dict[str, str]:
    """How HubSpot's contact summaries change when the contact does `event`."""
    at = event.at
    stamp = iso(epoch_millis(at))

    def later(prop: str) -> bool:
        return prop not in current or ms_of(current[prop]) <= epoch_millis(at)

    def earlier(prop: str) -> bool:
        return prop not in current or ms_of(current[prop]) > epoch_millis(at)

    def bump(prop: str) -> str:
        return str(int(current.get(prop, "0")) + 1)

    changes: dict[str, str] = {}
    if event.type == "visit":
        changes = {"hs_analytics_num_visits": bump("hs_analytics_num_visits"),
                   "hs_analytics_num_page_views": bump("hs_analytics_num_page_views")}
        if earlier("hs_analytics_first_visit_timestamp"):
            changes["hs_analytics_first_visit_timestamp"] = stamp
        if later("hs_analytics_last_visit_timestamp"):
            changes["hs_analytics_last_visit_timestamp"] = stamp
    elif event.type == "email_open":
        changes = {"hs_email_open": bump("hs_email_open")}
        if earlier("hs_email_first_open_date"):
            changes["hs_email_first_open_date"] = stamp
        if later("hs_email_last_open_date"):
            changes["hs_email_last_open_date"] = stamp
    elif event.type == "email_reply":
        if later("hs_sales_email_last_replied"):
            changes["hs_sales_email_last_replied"] = stamp
    elif event.type == "meeting_booked":
        if later("engagements_last_meeting_booked"):
            changes["engagements_last_meeting_booked"] = stamp
    elif event.type in CONVERSION_NAMES:
        name = CONVERSION_NAMES[event.type]
        changes = {"num_conversion_events": bump("num_conversion_events")}
        if earlier("first_conversion_date"):
            changes.update(first_conversion_date=stamp, first_conversion_event_name=name)
        if later("recent_conversion_date"):
            changes.update(recent_conversion_date=stamp, recent_conversion_event_name=name)
    return changes


def ms_of(raw: str) -> int:
    return int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() * 1000)


def contact_properties(contact: Contact) -> dict[str, str]:
    props: dict[str, str] = {}
    for name in (*PROFILE, "company_size", "source"):
        prop, value = attribute_property(name, getattr(contact, name))
        if value:
            props[prop] = value
    for key, value in contact.fields.items():
        if key in FIELDS and value not in (None, ""):
            props[FIELDS[key]] = text(value)
    for event in sorted(contact.events, key=lambda item: item.at):
        props.update(event_changes(props, event))
    statuses = {deal.status for deal in contact.deals}
    props["lifecyclestage"] = ("customer" if DealStatus.WON in statuses
                               else "opportunity" if DealStatus.OPEN in statuses else "lead")
    return props


def deal_properties(deal: Deal) -> dict[str, str]:
    closed = {DealStatus.WON: "closedwon", DealStatus.LOST: "closedlost"}
    stage = closed.get(deal.status) or STAGE_IDS.get(deal.stage or PipelineStage.FIRST_CONTACT, "appointmentscheduled")
    props = {"dealname": f"Deal {deal.id}", "dealstage": stage, "pipeline": "default",
             "amount": text(deal.amount), "deal_currency_code": text(deal.currency), "closedate": text(deal.close_date),
             "contract_term_months": text(deal.contract_months)}
    if deal.recurring is not None:
        props["recurring_revenue_amount"] = text(deal.amount) if deal.recurring else "0"
    return {key: value for key, value in props.items() if value}


def activity_object(activity: Activity) -> tuple[str, dict[str, str]]:
    """(object type, properties) of the engagement HubSpot keeps for a logged activity."""
    props = {"hs_timestamp": iso(epoch_millis(activity.at)), "hubspot_owner_id": activity.by or "",
             "hs_object_source": "AUTOMATION_PLATFORM" if activity.automated else "CRM_UI"}
    subject = activity.subject or ""
    inbound = activity.direction == "inbound"
    if activity.kind is ActivityKind.CALL:
        props.update(hs_call_title=subject, hs_call_status="COMPLETED" if activity.done else "QUEUED",
                     hs_call_direction="" if activity.direction is None else "INBOUND" if inbound else "OUTBOUND")
    elif activity.kind is ActivityKind.EMAIL:
        props.update(hs_email_subject=subject, hs_email_status="SENT" if activity.done else "SCHEDULED",
                     hs_email_direction="" if activity.direction is None else
                     "INCOMING_EMAIL" if inbound else "EMAIL")
    elif activity.kind is ActivityKind.MEETING:
        outcome = MEETING_OUTCOMES.get(activity.outcome or "", "COMPLETED" if activity.done else "SCHEDULED")
        props.update(hs_meeting_title=subject, hs_meeting_outcome=outcome,
                     hs_meeting_start_time=props["hs_timestamp"],
                     hs_meeting_source="MEETINGS_PUBLIC" if activity.accepted_at else "CRM_UI")
    elif activity.kind is ActivityKind.NOTE:
        props.update(hs_note_body=subject)
    else:
        props.update(hs_task_subject=subject, hs_task_status="COMPLETED" if activity.done else "NOT_STARTED")
    return ACTIVITY_TYPES[activity.kind], {key: value for key, value in props.items() if value}


def booked_at(activity: Activity) -> int | None:
    """When a meeting's record was created, where that is not when it takes place: a booking (ms)."""
    return epoch_millis(activity.accepted_at) if activity.accepted_at else None


def message_object(network: str | None, at: datetime, owner: str | None) -> dict[str, str]:
    """A communication's properties: a message on `network` (linkedin, sms, whatsapp) logged on the record."""
    props = {"hs_communication_channel_type": CHANNELS.get(network or "", "LINKEDIN_MESSAGE"),
             "hs_communication_logged_from": "CRM", "hs_timestamp": iso(epoch_millis(at)),
             "hubspot_owner_id": owner or "", "hs_object_source": "CRM_UI"}
    return {key: value for key, value in props.items() if value}


def company_properties(contact: Contact) -> dict[str, str] | None:
    """The company record of the contact's employer, None for a contact without one."""
    if not contact.company:
        return None
    props = {"name": contact.company, "industry": contact.industry or "",
             "numberofemployees": text(contact.company_size)}
    return {key: value for key, value in props.items() if value}
