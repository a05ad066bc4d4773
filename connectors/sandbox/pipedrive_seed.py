"""Neutral contacts and CRM-user actions -> native Pipedrive records in the sandbox store.

The inverse of the connector's mapping, written independently from the connector's pull code so that a
round trip compares two implementations. Profile attributes and `Contact.fields` go into person custom
fields created on demand (strings as varchar, numbers as double, booleans as Yes/No enums); the phone
into `phones`; the company into an organization; the latest `email_reply` into
`last_incoming_mail_time` and the latest event of each configured type into its date field (other events
have no place in Pipedrive and are dropped, as a real account would).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.pipedrive.mapping import default_stage_map, format_rfc3339
from connectors.pipedrive.settings import NO, YES, PipedriveSettings
from connectors.sandbox.pipedrive_store import PipedriveStore, Row, StoreError
from sync.model import Activity, ActivityKind, Contact, Deal, DealStatus, EngagementEvent, PipelineStage

AUTOMATION_USER_ID = 900  # "Workflow automation": activities it creates are not sales touches
PROFILE = ("industry", "company_size", "seniority", "country", "source")
NATIVE = ("email", "first_name", "last_name", "owner_id", "company", "job_title")


def field_title(key: str) -> str:
    """`annual_revenue` -> `Annual revenue`, whose snake_case is the key again."""
    return key.replace("_", " ").capitalize()


class Seeder:
    def __init__(self, store: PipedriveStore, settings: PipedriveSettings) -> None:
        self.store = store
        self.settings = settings
        self.kind_to_type: dict[ActivityKind, str] = {}
        for type_key, kind in settings.activity_types.items():
            self.kind_to_type.setdefault(kind, type_key)
        self.deal_ids: dict[str, int] = {}  # neutral deal id -> native id

    # -- custom fields ---------------------------------------------------------------------------------

    def _field_for(self, name: str, value: Any) -> Row:
        existing = self.store.field_named(name)
        if existing is not None:
            return existing
        if isinstance(value, bool):
            return self.store.add_field(name, "enum", [YES, NO])
        if isinstance(value, (int, float)):
            return self.store.add_field(name, "double")
        if isinstance(value, datetime):
            return self.store.add_field(name, "date")
        return self.store.add_field(name, "varchar")

    def _store_value(self, field: Row, value: Any) -> Any:
        if value is None or value == "":
            return None
        if field["field_type"] == "enum":
            label = (YES if value else NO) if isinstance(value, bool) else str(value)
            return next(option["id"] for option in field["options"] if option["label"] == label)
        if field["field_type"] == "date":
            return value.date().isoformat() if isinstance(value, datetime) else str(value)[:10]
        return value

    def set_custom(self, person: Row, name: str, value: Any) -> None:
        field = self._field_for(name, value)
        stored = self._store_value(field, value)
        if stored is None:
            person["custom_fields"].pop(field["key"], None)
        else:
            person["custom_fields"][field["key"]] = stored

    def custom_name(self, neutral: str) -> str:
        mapped = {**self.settings.profile_fields, **self.settings.qualification_fields}
        return mapped.get(neutral, field_title(neutral))

    # -- contacts --------------------------------------------------------------------------------------

    def seed(self, contact: Contact) -> int:
        store = self.store
        with store.lock:
            person_id = store.next_id("person")
            created = format_rfc3339(contact.created_at or store.clock.now())
            person: Row = {
                "id": person_id,
                "name": " ".join(part for part in (contact.first_name, contact.last_name) if part),
                "first_name": contact.first_name,
                "last_name": contact.last_name,
                "owner_id": int(contact.owner_id) if contact.owner_id else 1,
                "org_id": store.org_for(contact.company),
                "add_time": created,
                "update_time": created,
                "emails": [{"value": contact.email, "primary": True, "label": "work"}]
                if contact.email
                else [],
                "phones": [],
                "is_deleted": False,
                "visible_to": 3,
                "label_ids": [],
                "picture_id": None,
                "job_title": contact.job_title,
                "custom_fields": {},
            }
            store.persons[person_id] = person
            for attribute in PROFILE:
                value = getattr(contact, attribute)
                if value is not None:
                    self.set_custom(person, self.custom_name(attribute), value)
            for key, value in contact.fields.items():
                self._set_field_value(person, key, value)
            for event in contact.events:
                self._event(person_id, event)
            for activity in contact.activities:
                self._activity(person_id, activity, stamp=activity.at)
            for deal in contact.deals:
                self._deal(person_id, deal, stamp=deal.updated_at or deal.created_at)
            person["update_time"] = format_rfc3339(
                contact.updated_at or contact.created_at or store.clock.now()
            )
            return person_id

    def _set_field_value(self, person: Row, key: str, value: Any) -> None:
        if key == "phone":
            person["phones"] = [{"value": value, "primary": True, "label": "work"}] if value else []
        else:
            self.set_custom(person, self.custom_name(key), value)

    def set_field(self, person_id: int, name: str, value: Any) -> None:
        store = self.store
        with store.lock:
            person = store.live_person(person_id)
            if name in NATIVE:
                if name == "email":
                    person["emails"] = [{"value": value, "primary": True, "label": "work"}] if value else []
                elif name == "company":
                    person["org_id"] = store.org_for(value)
                elif name == "owner_id":
                    person["owner_id"] = int(value)
                else:
                    person[name] = value
                    person["name"] = " ".join(part for part in (person["first_name"], person["last_name"]) if part)
            elif name == "override_stage" and self.settings.override_stage_field:
                field = store.field_named(self.settings.override_stage_field)
                if field is None:
                    raise StoreError(400, "run ensure_fields first: the stage override field does not exist")
                person["custom_fields"][field["key"]] = self._store_value(field, str(value))
            else:
                self._set_field_value(person, name, value)
            person["update_time"] = store.now()

    # -- events, activities, deals ---------------------------------------------------------------------

    def _event(self, person_id: int, event: EngagementEvent) -> bool:
        extra = self.store.person_extra[person_id]
        if event.type == "email_reply":
            moment = format_rfc3339(event.at)
            if moment > (extra.get("last_incoming_mail_time") or ""):
                extra["last_incoming_mail_time"] = moment
            return True
        name = self.settings.event_date_fields.get(event.type)
        if name is None:
            return False
        person = self.store.persons[person_id]
        field = self._field_for(name, event.at)
        day = event.at.date().isoformat()
        if day > str(person["custom_fields"].get(field["key"]) or ""):
            person["custom_fields"][field["key"]] = day
        return True

    def record_event(self, person_id: int, event: EngagementEvent) -> None:
        with self.store.lock:
            self.store.live_person(person_id)
            if self._event(person_id, event):
                self.store.persons[person_id]["update_time"] = self.store.now()

    def _activity(self, person_id: int, activity: Activity, *, stamp: datetime | None) -> int:
        store = self.store
        activity_id = store.next_id("activity")
        moment = format_rfc3339(activity.at)
        when = format_rfc3339(stamp) if stamp else store.now()
        row: Row = {
            "id": activity_id,
            "subject": activity.subject or activity.kind.value,
            "type": self.kind_to_type.get(activity.kind, "task"),
            "creator_user_id": AUTOMATION_USER_ID if activity.automated else int(activity.by or 1),
            "is_deleted": False,
            "add_time": when,
            "update_time": when,
            "person_id": person_id,
            "org_id": store.persons[person_id]["org_id"],
            "due_date": moment[:10],
            "due_time": moment[11:19],
            "duration": "",
            "busy": False,
            "done": activity.done,
            "participants": [{"person_id": person_id, "primary": True}],
        }
        if activity.by is not None:
            row["owner_id"] = int(activity.by)
        if activity.done:
            row["marked_as_done_time"] = moment
            if activity.kind is ActivityKind.EMAIL and activity.direction == "outbound":
                extra = store.person_extra[person_id]
                extra["last_outgoing_mail_time"] = max(extra.get("last_outgoing_mail_time") or "", moment)
        store.activities[activity_id] = row
        store.link("activity", activity_id, [person_id])
        return activity_id

    def log_activity(self, person_id: int, activity: Activity) -> None:
        with self.store.lock:
            self.store.live_person(person_id)
            self._activity(person_id, activity, stamp=None)

    def stage_id_for(self, stage: PipelineStage | None, status: DealStatus) -> int:
        stages = sorted(self.store.stages, key=lambda row: row["order_nr"])
        if status is not DealStatus.OPEN or stage is None or stage is PipelineStage.CLOSING:
            return int(stages[-1]["id"])
        mapping = default_stage_map(stages)
        return next(int(row["id"]) for row in stages if mapping[int(row["id"])] is stage)

    def _deal(self, person_id: int, deal: Deal, *, stamp: datetime | None) -> int:
        store = self.store
        native_id = self.deal_ids.get(deal.id) or store.next_id("deal")
        self.deal_ids[deal.id] = native_id
        person = store.persons[person_id]
        when = format_rfc3339(stamp) if stamp else store.now()
        closed = when if deal.status is not DealStatus.OPEN else None
        mrr = None
        # seed data, not API behaviour: what a company that tracks subscriptions keeps in the deal's MRR
        # ("Deals" product docs: MRR, ARR and ACV are the recurring revenue fields), its value spread over its
        # term (a year when the term is unsaid)
        if deal.recurring is not None:
            mrr = (
                round(deal.amount / (deal.contract_months or 12), 6)
                if deal.recurring and deal.amount
                else 0.0
            )
        row: Row = {
            "id": native_id,
            "title": f"{person['name']} deal",
            "owner_id": person["owner_id"],
            "person_id": person_id,
            "org_id": person["org_id"],
            "pipeline_id": 1,
            "stage_id": self.stage_id_for(deal.stage, deal.status),
            "value": deal.amount or 0,
            "currency": deal.currency or "EUR",
            "add_time": format_rfc3339(deal.created_at) if deal.created_at else when,
            "update_time": when,
            "stage_change_time": when,
            "is_deleted": False,
            "is_archived": False,
            "status": deal.status.value,
            "probability": None,
            "lost_reason": None,
            "visible_to": 3,
            "close_time": closed,
            "expected_close_date": deal.close_date.isoformat() if deal.close_date else None,
            "label_ids": [],
            "origin": "API",
            "origin_id": None,
            "channel": None,
            "channel_id": None,
            "mrr": mrr,
            "arr": mrr * 12 if mrr is not None else None,
            "acv": None,
            "custom_fields": {},
        }
        if deal.status is DealStatus.WON:
            row["won_time"] = closed
        if deal.status is DealStatus.LOST:
            row["lost_time"] = closed
        store.deals[native_id] = row
        store.link("deal", native_id, [person_id])
        return native_id

    def upsert_deal(self, person_id: int, deal: Deal) -> None:
        with self.store.lock:
            self.store.live_person(person_id)
            self._deal(person_id, deal, stamp=None)

    def delete_deal(self, neutral_deal_id: str) -> None:
        with self.store.lock:
            row = self.store.deals[self.deal_ids[neutral_deal_id]]
            row["is_deleted"], row["status"], row["update_time"] = True, "deleted", self.store.now()
