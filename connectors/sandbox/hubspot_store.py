"""The HubSpot sandbox's account: objects, property definitions, associations and HubSpot's write rules.

Pure data and rules, no HTTP: the WSGI app (`hubspot_app.py`) translates requests into these calls and
the sandbox facade (`hubspot.py`) seeds it. Everything HubSpot stores is a string. Every write stamps
the record with the sandbox clock, and the stamp always moves (one millisecond past the last one when
the clock stands still), including crmsync's own writes: the connector must cope with its own echo.

Where HubSpot's documentation allows two behaviours, the less convenient one:

- Record ids are per object type ("CRM API | Objects": every record is addressed as
  `/crm/v3/objects/{objectType}/{objectId}`): each type counts from the same first id, so a call, a meeting,
  a deal and a contact share ids, and only (type, id) names a record.
- A deal or an engagement that changes does not change its contacts: their `lastmodifieddate` moves only
  when one of their own properties does ("CRM API | Search": the contact's `lastmodifieddate` is the
  contact's; deals and engagements carry their own `hs_lastmodifieddate`).
- `lifecyclestage` only moves forward ("Use lifecycle stages", knowledge.hubspot.com: "you can't set a
  record's lifecycle stage backwards ... clear the current value first, then set the new one"). Sources
  disagree on what a direct backward write through the API does: ignored without an error, or refused.
  `backward_lifecycle` picks: "reject" (the default: the whole batch is answered 400 VALIDATION_ERROR
  naming `lifecyclestage`) or "ignore" (the write succeeds and the stage stays).
- Property history ("CRM API | Contacts", `propertiesWithHistory`: each change's value, time, `sourceType` and,
  when a user made it, `updatedByUserId`) is kept for the properties people and crmsync both write
  (`HISTORY_PROPERTIES`): a sandbox's economy, not HubSpot's, which keeps it for every property.
- Read-only and unknown properties are rejected, enumeration values must be options, numbers and booleans
  must parse; values written around the API (imports, integrations: `touch`) are not checked, so a
  record may hold anything.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from sync.clock import Clock
from sync.synthetic import OWNERS

OBJECT_TYPES = ("contacts", "companies", "deals", "calls", "emails", "meetings", "notes", "tasks", "communications")
#: an object type's singular name, as association labels and search's `associations.<type>` filters spell it
SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal", "calls": "call", "emails": "email",
            "meetings": "meeting", "notes": "note", "tasks": "task", "communications": "communication"}
#: every object type counts its ids from here: ids are per type, so the same id names records of several types
FIRST_ID = 1001
BackwardLifecycle = Literal["reject", "ignore"]
HISTORY_PROPERTIES = frozenset({"lifecyclestage", "hs_lead_status"})
#: who changed a value: (`sourceType`, `updatedByUserId`); a form, HubSpot itself, an integration, a user in the UI
Source = tuple[str, int | None]
FORM: Source = ("FORM", None)
CALCULATED: Source = ("CALCULATED", None)
INTEGRATION: Source = ("INTEGRATION", None)
LIFECYCLE_ORDER = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
                   "customer", "evangelist", "other")
LEAD_STATUSES = ("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", "CONNECTED",
                 "BAD_TIMING")
SOURCES = ("ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA", "REFERRALS", "OTHER_CAMPAIGNS",
           "DIRECT_TRAFFIC", "OFFLINE", "PAID_SOCIAL")
#: the contacts' `numemployees` dropdown ("CRM API | Contacts", default contact properties: "Number of
#: Employees", a select of ranges, not a number)
EMPLOYEE_OPTIONS = ("1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+")
DEAL_STAGES = (("appointmentscheduled", "Appointment scheduled", "false", "0.2"),
               ("qualifiedtobuy", "Qualified to buy", "false", "0.4"),
               ("presentationscheduled", "Presentation scheduled", "false", "0.6"),
               ("decisionmakerboughtin", "Decision maker bought-in", "false", "0.8"),
               ("contractsent", "Contract sent", "false", "0.9"),
               ("closedwon", "Closed won", "true", "1.0"),
               ("closedlost", "Closed lost", "true", "0.0"))

# (name, type, fieldType, read-only, group, options)
_CONTACT_PROPERTIES: tuple[tuple[str, str, str, bool, str, tuple[str, ...]], ...] = (
    ("hs_object_id", "number", "number", True, "contactinformation", ()),
    ("createdate", "datetime", "date", True, "contactinformation", ()),
    ("lastmodifieddate", "datetime", "date", True, "contactinformation", ()),
    ("hs_merged_object_ids", "enumeration", "checkbox", True, "contactinformation", ()),
    ("email", "string", "text", False, "contactinformation", ()),
    ("firstname", "string", "text", False, "contactinformation", ()),
    ("lastname", "string", "text", False, "contactinformation", ()),
    ("company", "string", "text", False, "contactinformation", ()),
    ("industry", "string", "text", False, "contactinformation", ()),
    ("numemployees", "enumeration", "select", False, "contactinformation", EMPLOYEE_OPTIONS),
    ("jobtitle", "string", "text", False, "contactinformation", ()),
    ("country", "string", "text", False, "contactinformation", ()),
    ("phone", "string", "phonenumber", False, "contactinformation", ()),
    ("city", "string", "text", False, "contactinformation", ()),
    ("website", "string", "text", False, "contactinformation", ()),
    ("annualrevenue", "number", "number", False, "contactinformation", ()),
    ("hubspot_owner_id", "enumeration", "select", False, "contactinformation", ()),
    # "Primary company ID" ("HubSpot's default contact properties"): the contact's primary company, which
    # HubSpot keeps in step with the contact's primary company association
    ("associatedcompanyid", "number", "number", False, "contactinformation", ()),
    ("lifecyclestage", "enumeration", "radio", False, "contactinformation", LIFECYCLE_ORDER),
    ("hs_lead_status", "enumeration", "radio", False, "sales_properties", LEAD_STATUSES),
    ("hs_analytics_source", "enumeration", "select", True, "analyticsinformation", SOURCES),
    ("hs_analytics_num_visits", "number", "number", True, "analyticsinformation", ()),
    ("hs_analytics_num_page_views", "number", "number", True, "analyticsinformation", ()),
    ("hs_analytics_first_visit_timestamp", "datetime", "date", True, "analyticsinformation", ()),
    ("hs_analytics_last_visit_timestamp", "datetime", "date", True, "analyticsinformation", ()),
    ("num_conversion_events", "number", "number", True, "conversioninformation", ()),
    ("first_conversion_event_name", "string", "text", True, "conversioninformation", ()),
    ("first_conversion_date", "datetime", "date", True, "conversioninformation", ()),
    ("recent_conversion_event_name", "string", "text", True, "conversioninformation", ()),
    ("recent_conversion_date", "datetime", "date", True, "conversioninformation", ()),
    ("hs_email_open", "number", "number", True, "emailinformation", ()),
    ("hs_email_first_open_date", "datetime", "date", True, "emailinformation", ()),
    ("hs_email_last_open_date", "datetime", "date", True, "emailinformation", ()),
    ("hs_sales_email_last_replied", "datetime", "date", True, "sales_properties", ()),
    ("engagements_last_meeting_booked", "datetime", "date", True, "sales_properties", ()),
    ("seniority", "string", "text", False, "qualification", ()),
    ("need", "string", "textarea", False, "qualification", ()),
    ("timing", "string", "text", False, "qualification", ()),
    ("budget", "string", "text", False, "qualification", ()),
    ("decision_role", "string", "text", False, "qualification", ()),
    ("lead_source_detail", "string", "text", False, "qualification", ()),
    ("newsletter", "bool", "booleancheckbox", False, "qualification", ("true", "false")),
    ("competitor", "bool", "booleancheckbox", False, "qualification", ("true", "false")),
    ("not_interested", "bool", "booleancheckbox", False, "qualification", ("true", "false")),
)
# company properties ("CRM API | Companies": `numberofemployees` is a number, unlike the contacts' dropdown)
_COMPANY_PROPERTIES: tuple[tuple[str, str, str, bool, str, tuple[str, ...]], ...] = (
    ("hs_object_id", "number", "number", True, "companyinformation", ()),
    ("name", "string", "text", False, "companyinformation", ()),
    ("domain", "string", "text", False, "companyinformation", ()),
    ("industry", "string", "text", False, "companyinformation", ()),
    ("numberofemployees", "number", "number", False, "companyinformation", ()),
)
_GROUPS = ("contactinformation", "sales_properties", "analyticsinformation", "conversioninformation",
           "emailinformation", "qualification")


class ValidationFailure(Exception):
    """A whole request is invalid: answered 400 VALIDATION_ERROR with these `errors[]` details."""

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


def id_order(native_id: str) -> tuple[int, int, str]:
    """The order HubSpot lists records in: by id ("CRM API | Objects", list: paged by `after`, the last id
    read). Ids are numeric strings; one of another shape (a test's hand-made record) sorts after them all
    instead of failing the page."""
    return (0, int(native_id), "") if native_id.isdigit() else (1, 0, native_id)


def iso(millis: int) -> str:
    moment = datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


def to_ms(raw: str) -> int:
    """A HubSpot date value (epoch-ms string or ISO-8601) in epoch milliseconds."""
    if raw.lstrip("-").isdigit():
        return int(raw)
    return int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() * 1000)


@dataclass
class Record:
    id: str
    properties: dict[str, str]
    created: int
    updated: int
    archived_at: int | None = None
    history: dict[str, list[tuple[str, int, Source]]] = field(default_factory=dict)  # oldest first

    def put(self, name: str, value: str | None, at: int, source: Source) -> None:
        """Set (or with None / "" unset) one property, keeping its history where HubSpot's matters here."""
        if value in (None, ""):
            self.properties.pop(name, None)
        else:
            self.properties[name] = str(value)
        if name in HISTORY_PROPERTIES:
            self.history.setdefault(name, []).append((value or "", at, source))

    def history_view(self, names: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """`propertiesWithHistory`: each change, newest first."""
        found: dict[str, list[dict[str, Any]]] = {}
        for name in names:
            entries = []
            for value, at, (source_type, user) in reversed(self.history.get(name, [])):
                entry: dict[str, Any] = {"value": value, "timestamp": iso(at), "sourceType": source_type}
                if user is not None:
                    entry["updatedByUserId"] = user
                entries.append(entry)
            if entries:
                found[name] = entries
        return found

    def view(self, names: Iterable[str] | None, object_type: str) -> dict[str, Any]:
        """The record as the API renders it: only the properties asked for, and only those that are set."""
        props = self.properties if names is None else {name: self.properties[name] for name in names
                                                       if name in self.properties}
        for always in ("hs_object_id", "createdate", "lastmodifieddate" if object_type == "contacts"
                       else "hs_lastmodifieddate"):
            if always in self.properties:
                props[always] = self.properties[always]
        body: dict[str, Any] = {"id": self.id, "properties": props, "createdAt": iso(self.created),
                                "updatedAt": iso(self.updated), "archived": self.archived_at is not None}
        if self.archived_at is not None:
            body["archivedAt"] = iso(self.archived_at)
        return body


@dataclass
class HubSpotStore:
    clock: Clock
    lock: threading.RLock = field(default_factory=threading.RLock)
    backward_lifecycle: BackwardLifecycle = "reject"

    def __post_init__(self) -> None:
        self.objects: dict[str, dict[str, Record]] = {object_type: {} for object_type in OBJECT_TYPES}
        self.links: dict[tuple[str, str], dict[str, list[str]]] = {}
        self._next = dict.fromkeys(OBJECT_TYPES, FIRST_ID)
        # the account's owners ("CRM API | Owners"): the synthetic sales reps and the person who edits by hand
        self.owners: set[str] = {owner.id for owner in OWNERS} | {"9001"}
        created = self.now()
        self.properties: dict[str, dict[str, Any]] = {}  # the contacts' definitions
        for order, (name, kind, field_type, read_only, group, options) in enumerate(_CONTACT_PROPERTIES):
            self.properties[name] = self._definition(name, name.replace("_", " ").capitalize(), kind, field_type,
                                                     group, options, created, order, read_only=read_only,
                                                     hubspot_defined=group != "qualification")
        self.company_properties = {
            name: self._definition(name, name.capitalize(), kind, field_type, group, options, created, order,
                                   read_only=read_only, hubspot_defined=True)
            for order, (name, kind, field_type, read_only, group, options) in enumerate(_COMPANY_PROPERTIES)}
        self.groups: dict[str, dict[str, Any]] = {group: {"name": group, "label": group.replace("_", " ").capitalize(),
                                                      "displayOrder": index, "archived": False}
                                                  for index, group in enumerate(_GROUPS)}

    # -- time and ids ------------------------------------------------------------------------------------

    def now(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    def _stamp(self, record: Record, object_type: str) -> None:
        record.updated = max(self.now(), record.updated + 1)
        key = "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"
        record.properties[key] = iso(record.updated)

    # -- property definitions ------------------------------------------------------------------------------

    @staticmethod
    def _definition(name: str, label: str, kind: str, field_type: str, group: str, options: Iterable[Any],
                    created: int, order: int, *, read_only: bool = False,
                    hubspot_defined: bool = False) -> dict[str, Any]:
        rendered = [option if isinstance(option, dict) else {"label": option, "value": option,
                                                             "hidden": False, "displayOrder": index}
                    for index, option in enumerate(options)]
        return {"name": name, "label": label, "description": "", "type": kind, "fieldType": field_type,
                "groupName": group, "options": rendered, "displayOrder": order, "calculated": read_only,
                "hasUniqueValue": False, "hidden": False, "hubspotDefined": hubspot_defined,
                "formField": not read_only, "archived": False, "createdAt": iso(created), "updatedAt": iso(created),
                "modificationMetadata": {"archivable": not hubspot_defined, "readOnlyDefinition": hubspot_defined,
                                         "readOnlyValue": read_only}}

    def create_property(self, body: Mapping[str, Any]) -> dict[str, Any]:
        missing = [key for key in ("name", "label", "type", "fieldType", "groupName") if not body.get(key)]
        if missing:
            raise ValidationFailure(f"Property is missing {', '.join(missing)}",
                                    [{"message": f"{key} is required", "code": "REQUIRED_FIELD"} for key in missing])
        if body["groupName"] not in self.groups:
            raise ValidationFailure(f"Property group {body['groupName']} does not exist")
        if body["type"] in ("enumeration", "bool") and not body.get("options"):
            raise ValidationFailure(f"{body['type']} properties need options")
        definition = self._definition(body["name"], body["label"], body["type"], body["fieldType"], body["groupName"],
                                      body.get("options") or [], self.now(), len(self.properties))
        self.properties[body["name"]] = definition
        return definition

    # -- objects -------------------------------------------------------------------------------------------

    def create(self, object_type: str, properties: Mapping[str, str], *, created: int | None = None,
               updated: int | None = None, source: Source = FORM) -> Record:
        with self.lock:
            native_id = str(self._next[object_type])
            self._next[object_type] += 1
            now = self.now()
            record = Record(native_id, {}, created if created is not None else now, now)
            for key, value in properties.items():
                if value not in (None, ""):
                    record.put(key, value, record.created, source)
            record.properties["hs_object_id"] = native_id
            record.properties["createdate"] = iso(record.created)
            if object_type != "contacts":
                record.properties["hs_createdate"] = iso(record.created)
            self._stamp(record, object_type)
            if updated is not None:  # seeding history: the record was last touched then
                record.updated = updated
                key = "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"
                record.properties[key] = iso(updated)
            self.objects[object_type][native_id] = record
            return record

    def get(self, object_type: str, native_id: str, *, archived: bool = False) -> Record | None:
        record = self.objects[object_type].get(native_id)
        if record is None or (record.archived_at is not None) != archived:
            return None
        return record

    def live(self, object_type: str) -> list[Record]:
        return [record for record in self.objects[object_type].values() if record.archived_at is None]

    def update_existing(self, object_type: str, inputs: list[dict[str, Any]],
                        write: Callable[[str, Mapping[str, str]], Record]) -> tuple[list[dict[str, Any]], list[str]]:
        """A batch update's writes (`POST /crm/v3/objects/{objectType}/batch/update`, "CRM API | Objects": its
        BatchResponseSimplePublicObject, or the 207 BatchResponseSimplePublicObjectWithErrors naming the ids
        that do not exist while the others are updated): the records' views and the missing ids."""
        results: list[dict[str, Any]] = []
        missing: list[str] = []
        with self.lock:
            for item in inputs:
                native_id = str(item["id"])
                if self.get(object_type, native_id) is None:
                    missing.append(native_id)
                    continue
                record = write(native_id, item["properties"])
                results.append(record.view(list(item["properties"]), object_type))
        return results, missing

    def touch(self, object_type: str, native_id: str, changes: Mapping[str, str] | None = None,
              source: Source = CALCULATED) -> Record:
        """A write that bypasses validation: what HubSpot itself does (analytics, calculated properties), what
        imports and integrations leave, what a person types in the UI (`source` says which)."""
        with self.lock:
            record = self.objects[object_type][native_id]
            at = max(self.now(), record.updated + 1)
            for name, value in (changes or {}).items():
                record.put(name, value, at, source)
            self._stamp(record, object_type)
            return record

    def validate_contact_values(self, properties: Mapping[str, Any],
                                native_id: str | None = None) -> list[dict[str, Any]]:
        """The `errors[]` entries HubSpot would return for these values written to contact `native_id`,
        empty when all are writable."""
        problems = []
        target = properties.get("lifecyclestage")
        record = self.objects["contacts"].get(native_id) if native_id is not None else None
        if (self.backward_lifecycle == "reject" and isinstance(target, str) and target and record is not None
                and not self._lifecycle_forward(record, target)):
            problems.append(_problem("lifecyclestage", "INVALID_OPTION", "lifecyclestage cannot move backward: "
                                     "clear it before setting an earlier stage"))
        for name, value in properties.items():
            definition = self.properties.get(name)
            if definition is None:
                problems.append(_problem(name, "PROPERTY_DOESNT_EXIST", f"Property \"{name}\" does not exist"))
            elif definition["modificationMetadata"]["readOnlyValue"]:
                problems.append(_problem(name, "READ_ONLY_VALUE", f"\"{name}\" is a read only property"))
            elif not isinstance(value, str):
                problems.append(_problem(name, "INVALID_TYPE", f"\"{name}\" values must be strings"))
            elif value != "" and not _valid(definition, value):
                problems.append(_problem(name, _invalid_code(definition), f"{value!r} is not valid for \"{name}\""))
        return problems

    def write_contact(self, native_id: str, properties: Mapping[str, str]) -> Record:
        """An API write of already validated values, with HubSpot's forward-only lifecycle stage."""
        with self.lock:
            record = self.objects["contacts"][native_id]
            for name, value in properties.items():
                kind = self.properties[name]["type"]
                if name == "lifecyclestage" and value and not self._lifecycle_forward(record, value):
                    continue  # "ignore": HubSpot keeps the later stage ("reject" refused it before any write)
                record.put(name, iso(to_ms(value)) if kind == "datetime" and value else value,
                           max(self.now(), record.updated + 1), INTEGRATION)
            self._stamp(record, "contacts")
            return record

    def _lifecycle_forward(self, record: Record, value: str) -> bool:
        current = record.properties.get("lifecyclestage")
        if not current or current not in LIFECYCLE_ORDER or value not in LIFECYCLE_ORDER:
            return True
        return LIFECYCLE_ORDER.index(value) >= LIFECYCLE_ORDER.index(current)

    def archive(self, object_type: str, native_id: str) -> None:
        with self.lock:
            record = self.objects[object_type][native_id]
            record.archived_at = self.now()
            self._stamp(record, object_type)

    def merge(self, primary: str, secondary: str) -> None:
        """HubSpot's contact merge: the secondary vanishes (not archived), the primary records its id."""
        with self.lock:
            gone = self.objects["contacts"].pop(secondary)
            listed = self.objects["contacts"][primary].properties.get("hs_merged_object_ids", "")
            merged = [merged_id for merged_id in listed.split(";") if merged_id]
            self.touch("contacts", primary, {"hs_merged_object_ids": ";".join([*merged, gone.id])})
            for (source, target), table in self.links.items():
                if source == "contacts" and secondary in table:
                    for other in table.pop(secondary):
                        self.link("contacts", primary, target, other)

    # -- associations --------------------------------------------------------------------------------------

    def link(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        with self.lock:
            for (this_type, a_id, that_type, b_id) in ((from_type, from_id, to_type, to_id),
                                                       (to_type, to_id, from_type, from_id)):
                targets = self.links.setdefault((this_type, that_type), {}).setdefault(a_id, [])
                if b_id not in targets:
                    targets.append(b_id)

    def linked(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        targets = self.links.get((from_type, to_type), {}).get(from_id, [])
        return [target for target in targets if self.get(to_type, target) is not None]


def _problem(name: str, code: str, message: str) -> dict[str, Any]:
    return {"message": message, "code": code, "context": {"propertyName": [name]}}


def _invalid_code(definition: Mapping[str, Any]) -> str:
    return {"number": "INVALID_INTEGER", "bool": "INVALID_BOOLEAN", "enumeration": "INVALID_OPTION",
            "datetime": "INVALID_DATE", "date": "INVALID_DATE"}.get(definition["type"], "INVALID_PROPERTY_VALUE")


def _valid(definition: Mapping[str, Any], value: str) -> bool:
    kind = definition["type"]
    try:
        if kind == "number":
            float(value)
        elif kind == "bool":
            return value in ("true", "false")
        elif kind in ("datetime", "date"):
            to_ms(value)
        elif kind == "enumeration" and definition["options"]:
            allowed = {option["value"] for option in definition["options"]}
            return all(part in allowed for part in value.split(";"))
    except ValueError:
        return False
    return True
