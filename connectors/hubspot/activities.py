"""HubSpot engagements -> crmsync activities and the events they tell.

Engagements are ordinary CRM objects, one type each ("CRM API | Engagements"): calls, emails, meetings,
notes, tasks and communications. Ids are per type, so an activity's id is `type/id` (`calls/1001`), never
the bare id that a meeting may share.

* Every engagement: hs_timestamp -> at, hubspot_owner_id -> by, automated = `hs_object_source` in
  `settings.automated_sources` (workflows, sequences, bots), the title or subject -> subject.
HubSpot's words map onto crmsync's through the vocabulary tables of `mapping.py`.

* Calls and emails: hs_call_direction / hs_email_direction -> direction (`DIRECTIONS`); done = COMPLETED /
  SENT. An incoming email is an
  `email_reply` event.
* Meetings ("Activities | Meetings"): `hs_meeting_outcome` -> outcome (`MEETING_OUTCOMES`), done when
  COMPLETED. A meeting is not a booking by itself: sales log meetings too. Only a meeting booked through the
  meetings tool (`hs_meeting_source` in `settings.booking_sources`) was the contact's doing: it is accepted
  when it was booked, its record's `hs_createdate` (HubSpot creates the record at the booking; `hs_timestamp`
  is when the meeting takes place), and it is a `meeting_booked` event at that moment.
* Notes: always done. Tasks: done when COMPLETED.
* Communications ("Engagements | Communications": LinkedIn, SMS and WhatsApp messages logged on the
  record, `hs_communication_channel_type` LINKEDIN_MESSAGE, SMS, WHATS_APP): each is a `social_message`
  event, `source` the network (`CHANNELS`: linkedin, sms, whatsapp). One a sales user logged (an owner) is also a
  sales touch: an activity of kind `settings.message_kind` by that user; HubSpot does not record the
  direction. A message without an owner is only the contact's side: an event, no activity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.hubspot.mapping import CHANNELS, DIRECTIONS, MEETING_OUTCOMES
from connectors.hubspot.settings import HubSpotSettings
from sync.model import Activity, ActivityKind, EngagementEvent
from sync.toolkit.reading import RecordReader


@dataclass(frozen=True)
class EngagementSpec:
    kind: ActivityKind
    subject: str | None
    status: str | None
    done: frozenset[str]
    direction: str | None = None
    extra: tuple[str, ...] = ()


ENGAGEMENTS: dict[str, EngagementSpec] = {
    "calls": EngagementSpec(ActivityKind.CALL, "hs_call_title", "hs_call_status", frozenset({"COMPLETED"}),
                            "hs_call_direction"),
    "emails": EngagementSpec(ActivityKind.EMAIL, "hs_email_subject", "hs_email_status", frozenset({"SENT"}),
                             "hs_email_direction"),
    "meetings": EngagementSpec(ActivityKind.MEETING, "hs_meeting_title", "hs_meeting_outcome",
                               frozenset({"COMPLETED"}), extra=("hs_meeting_source", "hs_createdate")),
    "notes": EngagementSpec(ActivityKind.NOTE, "hs_note_body", None, frozenset()),
    "tasks": EngagementSpec(ActivityKind.TASK, "hs_task_subject", "hs_task_status", frozenset({"COMPLETED"})),
    "communications": EngagementSpec(ActivityKind.EMAIL, None, None, frozenset(),
                                     extra=("hs_communication_channel_type",)),
}
SINGULAR = {"calls": "call", "emails": "email", "meetings": "meeting", "notes": "note", "tasks": "task",
            "communications": "communication"}
ENGAGEMENT_COMMON = ("hs_timestamp", "hubspot_owner_id", "hs_object_source")
CHANNEL_SUBJECTS = {"linkedin": "LinkedIn message", "sms": "SMS", "whatsapp": "WhatsApp message"}


@dataclass(frozen=True)
class Engagement:
    """One engagement read: the activity it is (None for a message nobody in sales logged) and its events."""

    activity: Activity | None
    events: tuple[EngagementEvent, ...] = ()


def activity_id(object_type: str, native_id: str) -> str:
    return f"{object_type}/{native_id}"


def engagement_properties(object_type: str) -> list[str]:
    spec = ENGAGEMENTS[object_type]
    names = [*ENGAGEMENT_COMMON, spec.subject, spec.status, spec.direction, *spec.extra]
    return list(dict.fromkeys(name for name in names if name))


def _code(raw: str | None) -> str:
    return (raw or "").strip().upper().replace(" ", "_")


def to_engagement(object_type: str, record: Mapping[str, Any], reader: RecordReader,
                  settings: HubSpotSettings) -> Engagement | None:
    """One engagement, its id already checked; None when it has no time at all."""
    spec = ENGAGEMENTS[object_type]
    props = record.get("properties") or {}
    at = reader.timestamp(props.get("hs_timestamp"), "hs_timestamp") or reader.timestamp(
        record.get("createdAt"), "createdAt")
    if at is None:
        return None
    owner = reader.text(props.get("hubspot_owner_id"), "hubspot_owner_id")
    automated = (reader.text(props.get("hs_object_source"), "hs_object_source") or "") in settings.automated_sources
    identity = activity_id(object_type, str(record["id"]))
    if object_type == "communications":
        network = CHANNELS.get(_code(reader.text(props.get("hs_communication_channel_type"),
                                                 "hs_communication_channel_type")))
        event = EngagementEvent(type="social_message", at=at, source=network)
        if owner is None:
            return Engagement(None, (event,))
        return Engagement(Activity(kind=settings.message_kind, at=at, by=owner, done=True, automated=automated,
                                   id=identity, subject=CHANNEL_SUBJECTS.get(network or "", "Message")), (event,))
    status = _code(reader.text(props.get(spec.status), spec.status)) if spec.status else None
    direction = DIRECTIONS.get(_code(reader.text(props.get(spec.direction), spec.direction))) if spec.direction \
        else None
    events: list[EngagementEvent] = []
    accepted_at = None
    if spec.kind is ActivityKind.EMAIL and direction == "inbound":
        events.append(EngagementEvent(type="email_reply", at=at, source="email"))
    if object_type == "meetings":
        source = _code(reader.text(props.get("hs_meeting_source"), "hs_meeting_source"))
        if source in settings.booking_sources:
            accepted_at = reader.timestamp(props.get("hs_createdate"), "hs_createdate") or reader.timestamp(
                record.get("createdAt"), "createdAt")
            if accepted_at is not None:
                events.append(EngagementEvent(type="meeting_booked", at=accepted_at))
    activity = Activity(
        kind=spec.kind, at=at, by=owner, direction=direction,
        done=True if spec.status is None else status in spec.done, automated=automated, id=identity,
        subject=reader.text(props.get(spec.subject), spec.subject) if spec.subject else None,
        accepted_at=accepted_at,
        outcome=MEETING_OUTCOMES.get(status or "") if object_type == "meetings" else None,
    )
    return Engagement(activity, tuple(events))


def booked(engagements: Iterable[Engagement]) -> bool:
    """Whether any of them is a meeting the contact booked."""
    return any(event.type == "meeting_booked" for engagement in engagements for event in engagement.events)
