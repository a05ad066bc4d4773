"""The Pipedrive sandbox's activity writes: `POST /api/v2/activities` ("Add a new activity") and
`PATCH /api/v2/activities/{id}` ("Update an activity"), as the v2 OpenAPI file describes their bodies.

- The link to a person is the `participants` list (`[{person_id, primary}]`): v2 derives the activity's
  `person_id` from its primary participant and the migration notes call it read-only, so a `person_id` sent
  in the body is ignored (the less convenient of the two readings: the spec also lists it in the body).
  A participant that is not a live person is refused as the persons endpoints answer for it (`live_person`:
  404 for an unknown id, 410 for one deleted within the 30 days Pipedrive keeps it, "Delete a person").
- `owner_id` must be a user of the company; `type` one of the activity types (call, meeting, task,
  deadline, email, lunch); `due_date` `YYYY-MM-DD` and `due_time` `HH:MM` (UTC); `done` a strict boolean
  (v2 booleans are strict, "API v2 migration guide"). Marking an activity done stamps `marked_as_done_time`
  (a field of the v2 Activity schema in the OpenAPI file, set when `done` turns true).
- Both answer `{"success": true, "data": <the activity>}`; an unknown activity is 404.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from connectors.sandbox.pipedrive_store import PipedriveStore, Row, StoreError
from sync.synthetic import OWNERS

TYPES = frozenset({"call", "meeting", "task", "deadline", "email", "lunch"})
#: the company's users: the API user (1) and the synthetic sales reps
USERS = frozenset({1, *(int(owner.id) for owner in OWNERS)})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2})?$")
WRITABLE = frozenset({"subject", "type", "owner_id", "due_date", "due_time", "duration", "busy", "done", "note",
                      "participants", "person_id", "deal_id", "org_id", "priority", "public_description"})


def _body(raw: bytes) -> Row:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise StoreError(400, "Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise StoreError(400, "Request body must be an object")
    unknown = sorted(set(body) - WRITABLE)
    if unknown:
        raise StoreError(400, f"Unknown field {unknown[0]}")
    return body


class ActivityWrites:
    def __init__(self, store: PipedriveStore) -> None:
        self.store = store

    def _check(self, body: Row) -> None:
        if "owner_id" in body and (isinstance(body["owner_id"], bool) or body["owner_id"] not in USERS):
            raise StoreError(400, "owner_id: user not found")
        if "type" in body and body["type"] not in TYPES:
            raise StoreError(400, "type: unknown activity type")
        if "due_date" in body and not (isinstance(body["due_date"], str) and _DATE.match(body["due_date"])):
            raise StoreError(400, "due_date must be in the format YYYY-MM-DD")
        if "due_time" in body and not (isinstance(body["due_time"], str) and _TIME.match(body["due_time"])):
            raise StoreError(400, "due_time must be in the format HH:MM")
        if "done" in body and not isinstance(body["done"], bool):
            raise StoreError(400, "done must be a boolean")
        for participant in body.get("participants") or []:
            person = participant.get("person_id") if isinstance(participant, dict) else None
            if not isinstance(person, int) or isinstance(person, bool):
                raise StoreError(400, "participants: person_id must be an integer")
            self.store.live_person(person)

    def create(self, raw: bytes) -> Row:
        body = _body(raw)
        self._check(body)
        if not body.get("subject"):
            raise StoreError(400, "subject is required")
        with self.store.lock:
            participants = [dict(item) for item in body.get("participants") or []]
            primary = next((item["person_id"] for item in participants if item.get("primary")),
                           participants[0]["person_id"] if participants else None)
            now = self.store.now()
            activity_id = self.store.next_id("activity")
            row: Row = {
                "id": activity_id, "subject": body["subject"], "type": body.get("type", "task"),
                "owner_id": body.get("owner_id", 1), "creator_user_id": 1, "is_deleted": False, "add_time": now,
                "update_time": now, "person_id": primary,
                "org_id": self.store.persons[primary]["org_id"] if primary is not None else None,
                "due_date": body.get("due_date"), "due_time": body.get("due_time", ""),
                "duration": body.get("duration", ""), "busy": bool(body.get("busy", False)),
                "done": bool(body.get("done", False)), "note": body.get("note"), "participants": participants,
            }
            if row["done"]:
                row["marked_as_done_time"] = now
            self.store.activities[activity_id] = row
            if primary is not None:
                self.store.link("activity", activity_id, [primary])
            return row

    def update(self, activity_id: int, raw: bytes) -> Row:
        body = _body(raw)
        self._check(body)
        with self.store.lock:
            row = self.store.activities.get(activity_id)
            if row is None or row["is_deleted"]:
                raise StoreError(404, "Activity not found")
            for key in ("subject", "type", "owner_id", "due_date", "due_time", "note", "busy"):
                if key in body:
                    row[key] = body[key]
            if "done" in body:
                if body["done"] and not row["done"]:
                    row["marked_as_done_time"] = self.store.now()
                row["done"] = body["done"]
            row["update_time"] = self.store.now()
            return row

    def listed(self, person_id: int | None = None) -> list[Row]:
        """Every live activity (of one person): what a test checks the reminders against."""
        with self.store.lock:
            return [dict(row) for row in self.store.activities.values() if not row["is_deleted"]
                    and (person_id is None or row.get("person_id") == person_id)]


def as_task(row: Row) -> dict[str, Any]:
    """An activity in the shape every sandbox lists its tasks in."""
    due = None
    if row.get("due_date"):
        clock = (row.get("due_time") or "00:00")[:5]
        due = datetime.fromisoformat(f"{row['due_date']}T{clock}:00").replace(tzinfo=timezone.utc)
    return {"id": str(row["id"]), "contact_id": str(row.get("person_id")), "owner_id": str(row.get("owner_id")),
            "subject": row.get("subject"), "body": row.get("note"), "due_at": due, "done": bool(row.get("done"))}
