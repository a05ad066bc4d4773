"""The Pipedrive sandbox's company data: persons, organizations, deals, activities, stages, person fields.

Records are kept in their native v2 shapes so the app serves them as they are. Every write stamps
`update_time` with the injected clock (second precision, like Pipedrive), crmsync's own writes included:
the engine must cope with seeing its echo. Deleted persons stay for 30 days with `is_deleted` and are left
out of lists (Pipedrive lists only live persons), then are purged ("Delete a person": "Marks a person as
deleted. After 30 days, the person will be permanently deleted."; merging is in `pipedrive_merge`); deals
deleted in the last 30 days are listed only with `status=deleted`. `served` holds values another
implementation of the API or an import left in a record (an id of another shape, a time that is not
RFC 3339, a 100 KB name, NUL bytes...): they replace the stored ones in what the API answers, never in how
it sorts and pages. Thread-safe: the WSGI server is threaded.
"""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from connectors.pipedrive.mapping import format_rfc3339
from sync.clock import Clock

Row = dict[str, Any]
PURGE_AFTER = timedelta(days=30)  # "After 30 days, the person will be permanently deleted."
DEFAULT_LABELS = ("Customer", "Hot lead", "Warm lead", "Cold lead")
# (field_code, field_name, field_type) of the deal fields every company has ("Get all deal fields", v2)
NATIVE_DEAL_FIELDS = (
    ("title", "Title", "varchar"),
    ("value", "Value", "monetary"),
    ("status", "Status", "status"),
    ("stage_id", "Stage", "stage"),
    ("person_id", "Contact person", "people"),
    ("org_id", "Organization", "org"),
    ("expected_close_date", "Expected close date", "date"),
    ("add_time", "Deal created", "date"),
    ("update_time", "Update time", "date"),
    ("acv", "ACV", "double"),
    ("arr", "ARR", "double"),
    ("mrr", "MRR", "double"),
)
DEFAULT_STAGES = ("Qualified", "Contact Made", "Demo Scheduled", "Proposal Made", "Negotiations Started")
FIELD_TYPES = frozenset(
    {
        "address",
        "date",
        "daterange",
        "double",
        "enum",
        "monetary",
        "org",
        "people",
        "phone",
        "set",
        "text",
        "time",
        "timerange",
        "user",
        "varchar",
        "varchar_auto",
        "visible_to",
    }
)


class StoreError(Exception):
    """A request the real API refuses; `status` and message become the Pipedrive error envelope."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _v1_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


class PipedriveStore:
    def __init__(self, clock: Clock, *, seed: int) -> None:
        self.clock = clock
        self.seed = seed
        self.lock = threading.RLock()
        self.persons: dict[int, Row] = {}
        self.orgs: dict[int, Row] = {}
        self.org_by_name: dict[str, int] = {}
        self.deals: dict[int, Row] = {}
        self.activities: dict[int, Row] = {}
        self.deals_by_person: dict[int, set[int]] = defaultdict(set)
        self.activities_by_person: dict[int, set[int]] = defaultdict(set)
        self.person_extra: dict[int, Row] = defaultdict(dict)  # last_incoming_mail_time & co
        self.fields: list[Row] = []
        self.stages: list[Row] = []
        self.deleted_at: dict[int, datetime] = {}  # soft-deleted person -> when (purged 30 days later)
        self.custom_field_limit: int | None = None  # the plan's cap on custom person fields (None: no cap)
        self.served: dict[tuple[str, int], Row] = {}  # (kind, id) -> values served instead of the stored ones
        self.deal_fields: list[Row] = []  # `GET /api/v2/dealFields`, each with a private `id` for paging
        self._ids: dict[str, int] = {
            "person": 1,
            "org": 1,
            "deal": 1,
            "activity": 1,
            "field": 9001,
            "option": 1,
        }
        self._install_defaults()

    # -- clocks and ids --------------------------------------------------------------------------------

    def now(self) -> str:
        return format_rfc3339(self.clock.now())

    def next_id(self, kind: str) -> int:
        with self.lock:
            value = self._ids[kind]
            self._ids[kind] = value + 1
            return value

    def _install_defaults(self) -> None:
        stamp = _v1_time(self.clock.now())
        system = [
            ("name", "Name", "varchar"),
            ("first_name", "First name", "varchar"),
            ("last_name", "Last name", "varchar"),
            ("email", "Email", "varchar"),
            ("phone", "Phone", "phone"),
            ("owner_id", "Owner", "user"),
            ("org_id", "Organization", "org"),
            ("job_title", "Job title", "varchar"),
        ]
        for order, (key, name, kind) in enumerate(system):
            self.fields.append(self._field_row(key, name, kind, None, order, stamp, edit=False))
        labels = [{"id": self.next_id("option"), "label": label, "color": "blue"} for label in DEFAULT_LABELS]
        self.fields.append(
            self._field_row("label_ids", "Labels", "set", labels, len(system), stamp, edit=False)
        )
        for code, name, kind in NATIVE_DEAL_FIELDS:
            self.deal_fields.append({"id": len(self.deal_fields) + 1, "field_name": name, "field_code": code,
                                     "description": "", "field_type": kind, "is_custom_field": False,
                                     "is_optional_response_field": code in ("acv", "arr", "mrr"),
                                     "options": None})
        for order, name in enumerate(DEFAULT_STAGES, start=1):
            self.stages.append(
                {
                    "id": order,
                    "order_nr": order,
                    "name": name,
                    "is_deleted": False,
                    "deal_probability": 100,
                    "pipeline_id": 1,
                    "is_deal_rot_enabled": False,
                    "days_to_rotten": None,
                    "add_time": self.now(),
                    "update_time": self.now(),
                }
            )

    def _field_row(
        self, key: str, name: str, kind: str, options: list[Row] | None, order: int, stamp: str, *, edit: bool
    ) -> Row:
        return {
            "id": self.next_id("field"),
            "key": key,
            "name": name,
            "order_nr": order,
            "field_type": kind,
            "add_time": stamp,
            "update_time": stamp,
            "last_updated_by_user_id": 1,
            "created_by_user_id": 1,
            "active_flag": True,
            "edit_flag": edit,
            "index_visible_flag": True,
            "details_visible_flag": True,
            "add_visible_flag": True,
            "important_flag": False,
            "bulk_edit_allowed": True,
            "searchable_flag": False,
            "filtering_allowed": True,
            "sortable_flag": True,
            "mandatory_flag": False,
            "options": options,
        }

    # -- person fields ---------------------------------------------------------------------------------

    def add_field(self, name: str, field_type: str, options: Iterable[Any] = ()) -> Row:
        """`POST /v1/personFields`: a new custom field with a 40-hex key (names need not be unique)."""
        if not name or not isinstance(name, str):
            raise StoreError(400, "Field name is required")
        if field_type not in FIELD_TYPES:
            raise StoreError(400, f"Field type {field_type!r} is not supported")
        labels = [str(option.get("label") if isinstance(option, dict) else option) for option in options]
        if field_type in ("enum", "set") and not labels:
            raise StoreError(400, "Options are required for enum and set fields")
        with self.lock:
            custom = sum(1 for field in self.fields if field["edit_flag"])
            if self.custom_field_limit is not None and custom >= self.custom_field_limit:
                # Pipedrive changelog, "Update on new entity count limits for a set of features" (2024-11-14):
                # a 403 whose text names the limit; the earlier `code: feature_capping_...` is not promised
                raise StoreError(403, "Couldn't add person field. You've reached the custom fields per company "
                                      "limit.")
            count = len(self.fields)
            key = hashlib.sha1(f"{self.seed}:{count}:{name}".encode()).hexdigest()
            rows = [{"id": self.next_id("option"), "label": label} for label in labels] or None
            row = self._field_row(key, name, field_type, rows, count, _v1_time(self.clock.now()), edit=True)
            self.fields.append(row)
            return row

    def add_deal_field(self, name: str, field_type: str, options: Iterable[str] = ()) -> Row:
        """A custom deal field (40-hex code), as an admin creates it in the app."""
        with self.lock:
            code = hashlib.sha1(f"{self.seed}:deal:{len(self.deal_fields)}:{name}".encode()).hexdigest()
            rows = [{"id": self.next_id("option"), "label": label} for label in options] or None
            row = {"id": len(self.deal_fields) + 1, "field_name": name, "field_code": code, "description": "",
                   "field_type": field_type, "is_custom_field": True, "is_optional_response_field": False,
                   "options": rows}
            self.deal_fields.append(row)
            return row

    def field_named(self, name: str) -> Row | None:
        with self.lock:
            return next(
                (field for field in self.fields
                 if field["name"].casefold() == name.casefold() and field["edit_flag"]), None
            )

    def field_by_key(self, key: str) -> Row | None:
        return next((field for field in self.fields if field["key"] == key), None)

    def label_id(self, label: str) -> int | None:
        labels = self.field_by_key("label_ids")
        assert labels is not None
        return next((option["id"] for option in labels["options"] if option["label"] == label), None)

    def check_value(self, key: str, value: Any) -> Any:
        """Validate one `custom_fields` value the way the v2 API does; returns the value to store."""
        field = self.field_by_key(key)
        if field is None or not field["edit_flag"]:
            raise StoreError(400, f"Unknown custom field {key}")
        if value is None:
            return None
        kind, option_ids = field["field_type"], {option["id"] for option in field["options"] or []}
        if kind == "double" and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise StoreError(400, f"Value of {key} must be a number")
        if kind == "enum" and (isinstance(value, bool) or value not in option_ids):
            raise StoreError(400, f"Value of {key} must be one of the field's option ids")
        if kind == "set":
            if not isinstance(value, list) or not value:
                raise StoreError(400, f"Value of {key} must be a non-empty list of option ids (null clears)")
            if not set(value) <= option_ids:
                raise StoreError(400, f"Value of {key} contains unknown option ids")
        if kind in ("varchar", "text", "date") and not isinstance(value, str):
            raise StoreError(400, f"Value of {key} must be a string")
        if kind == "varchar" and len(value) > 255:
            raise StoreError(400, f"Value of {key} is longer than 255 characters")
        return value

    # -- organizations ---------------------------------------------------------------------------------

    def org_for(self, name: str | None) -> int | None:
        if not name:
            return None
        with self.lock:
            if name not in self.org_by_name:
                org_id = self.next_id("org")
                self.orgs[org_id] = {
                    "id": org_id,
                    "name": name,
                    "owner_id": 1,
                    "add_time": self.now(),
                    "update_time": self.now(),
                    "is_deleted": False,
                    "visible_to": 3,
                    "label_ids": [],
                    "custom_fields": {},
                }
                self.org_by_name[name] = org_id
            return self.org_by_name[name]

    # -- records ---------------------------------------------------------------------------------------

    def live_person(self, person_id: int) -> Row:
        person = self.persons.get(person_id)
        if person is None:
            raise StoreError(404, "Person not found")
        if person["is_deleted"]:
            raise StoreError(410, "Person is deleted")
        return person

    def link(self, kind: str, record_id: int, person_ids: Iterable[int]) -> None:
        index = self.deals_by_person if kind == "deal" else self.activities_by_person
        for person_id in person_ids:
            index[person_id].add(record_id)

    def update_person(self, person_id: int, body: Row) -> Row:
        """`PATCH /api/v2/persons/{id}`: only the keys sent change; `update_time` always moves."""
        with self.lock:
            person = self.live_person(person_id)
            custom = body.get("custom_fields")
            if custom is not None and not isinstance(custom, dict):
                raise StoreError(400, "custom_fields must be an object")
            checked = {key: self.check_value(key, value) for key, value in (custom or {}).items()}
            labels = body.get("label_ids")
            if labels is not None:
                valid = {option["id"] for option in self.field_by_key("label_ids")["options"]}  # type: ignore[index]
                if not isinstance(labels, list) or not set(labels) <= valid:
                    raise StoreError(400, "label_ids contains unknown labels")
                person["label_ids"] = list(labels)
            for key, value in checked.items():
                if value is None:
                    person["custom_fields"].pop(key, None)
                else:
                    person["custom_fields"][key] = value
            for key in ("name", "first_name", "last_name", "owner_id", "org_id", "job_title"):
                if key in body:
                    person[key] = body[key]
            person["update_time"] = self.now()
            return person

    def delete_person(self, person_id: int) -> None:
        with self.lock:
            person = self.live_person(person_id)
            person["is_deleted"] = True
            person["update_time"] = self.now()
            self.deleted_at[person_id] = self.clock.now()

    def purge(self) -> None:
        """Forget the persons deleted 30 days ago or more: from then on they are unknown ids (404)."""
        with self.lock:
            cutoff = self.clock.now() - PURGE_AFTER
            for person_id in [pid for pid, when in self.deleted_at.items() if when <= cutoff]:
                del self.deleted_at[person_id]
                self.persons.pop(person_id, None)
                self.person_extra.pop(person_id, None)

    def served_row(self, kind: str, row: Row) -> Row:
        """`row` as the API answers it: with the values `served` holds for it, if any."""
        override = self.served.get((kind, int(row["id"])))
        return {**row, **override} if override else row

    def person_view(self, person: Row, include: Iterable[str]) -> Row:
        """A person as the v2 API renders it, with the `include_fields` counters asked for."""
        view = {
            **person,
            "custom_fields": dict(person["custom_fields"]),
            "label_ids": list(person["label_ids"]),
        }
        person_id = person["id"]
        deals = [
            self.deals[deal_id] for deal_id in self.deals_by_person.get(person_id, ())
            if not self.deals[deal_id]["is_deleted"]
        ]
        acts = [
            self.activities[activity_id]
            for activity_id in self.activities_by_person.get(person_id, ())
            if not self.activities[activity_id]["is_deleted"]
        ]
        done = [activity for activity in acts if activity["done"]]
        counters: Row = {
            "won_deals_count": sum(deal["status"] == "won" for deal in deals),
            "lost_deals_count": sum(deal["status"] == "lost" for deal in deals),
            "open_deals_count": sum(deal["status"] == "open" for deal in deals),
            "closed_deals_count": sum(deal["status"] in ("won", "lost") for deal in deals),
            "activities_count": len(acts),
            "done_activities_count": len(done),
            "undone_activities_count": len(acts) - len(done),
            "last_activity_id": max(done, key=lambda activity: (activity.get("marked_as_done_time") or "",
                                                                activity["id"]))["id"]
            if done
            else None,
            "last_incoming_mail_time": self.person_extra[person_id].get("last_incoming_mail_time"),
            "last_outgoing_mail_time": self.person_extra[person_id].get("last_outgoing_mail_time"),
        }
        for name in include:
            view[name] = counters.get(name, 0)
        return self.served_row("person", view)
