"""The Salesforce sandbox's Task creation: `POST /composite/sobjects` ("Create Records Using sObject
Collections", REST API Developer Guide), and what the Task object reference says a new Task must satisfy.

- The body is `{allOrNone, records: [...]}`, up to 200 records, each with `attributes.type`; an `Id` in a
  record is refused ("cannot specify Id in an insert call", INVALID_FIELD). The answer is one SaveResult per
  record, by position: `{id, success: true, errors: []}` or `{success: false, errors: [{statusCode, message,
  fields}]}`; with `allOrNone: true` one failure rolls every record back.
- Task ("Object Reference for the Salesforce Platform", Task): `OwnerId` (Assigned To) must be an active
  User (INVALID_CROSS_REFERENCE_KEY for an id that is not one, INACTIVE_OWNER_OR_USER for an inactive one);
  `WhoId` must be a Lead or a Contact; `Status` is required (the sandbox, as the less convenient reading of
  "defaulted on create", requires it) and, with `Priority`, one of the org's picklist values; `ActivityDate`
  is a date (`YYYY-MM-DD`); `Subject` at most 255 characters, `Description` 32,000.
- Updating a Task's `Status` to a closed value closes it (Task: `IsClosed` "indicates whether the task has
  been completed", set from the Status picklist value's IsClosed; `CompletedDateTime`, API 50.0 and later, the
  time it was completed): done in `close_completed` for each record the collections update saved.

The sandbox creates Tasks only: other objects are refused with INVALID_TYPE.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from werkzeug.wrappers import Request, Response

from connectors.salesforce.values import to18
from connectors.sandbox.salesforce_rest import collection_body, ok, record_error, rolled_back
from connectors.sandbox.salesforce_store import Org

TASK_STATUSES = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
CLOSED_STATUSES = frozenset({"Completed"})
PRIORITIES = ("High", "Normal", "Low")
LENGTHS = {"Subject": 255, "Description": 32_000}
WRITABLE = frozenset({"WhoId", "OwnerId", "Subject", "Description", "Status", "Priority", "ActivityDate",
                      "TaskSubtype", "Type"})


class TaskInserts:
    def __init__(self, org: Org) -> None:
        self.org = org

    def collections_create(self, request: Request) -> Response:
        parsed = collection_body(request)
        if isinstance(parsed, Response):
            return parsed
        body, records = parsed
        with self.org.lock:
            checked = [self._check(record) for record in records]
            if body.get("allOrNone") and any("errors" in result for result in checked):
                return ok(rolled_back(checked))
            results = []
            for outcome in checked:
                if "errors" in outcome:
                    results.append(outcome)
                    continue
                record_id = self.org.insert("Task", {**outcome["values"], "IsClosed": False})
                results.append({"id": record_id, "success": True, "errors": []})
        return ok(results)

    def _check(self, record: Any) -> dict[str, Any]:
        if not isinstance(record, dict) or (record.get("attributes") or {}).get("type") != "Task":
            return record_error("INVALID_TYPE", "the sandbox creates Task records only")
        if "Id" in record or "id" in record:
            return record_error("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        values = {name: value for name, value in record.items() if name != "attributes"}
        unknown = sorted(set(values) - WRITABLE)
        if unknown:
            return record_error("INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type Task", unknown[:1])
        owner = self._reference(values.get("OwnerId"), "User")
        if owner is None:
            return record_error("INVALID_CROSS_REFERENCE_KEY", "Assigned To ID: id value of incorrect type", ["OwnerId"])
        if not owner.get("IsActive"):
            return record_error("INACTIVE_OWNER_OR_USER", "operation performed with inactive user", ["OwnerId"])
        who = self._reference(values.get("WhoId"), "Lead") or self._reference(values.get("WhoId"), "Contact")
        if values.get("WhoId") is not None and who is None:
            return record_error("INVALID_CROSS_REFERENCE_KEY", "Name ID: id value of incorrect type", ["WhoId"])
        if values.get("Status") not in TASK_STATUSES:
            return record_error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Status: bad value for restricted picklist "
                            "field", ["Status"])
        if values.get("Priority", "Normal") not in PRIORITIES:
            return record_error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Priority: bad value for restricted "
                            "picklist field", ["Priority"])
        for name, length in LENGTHS.items():
            if len(str(values.get(name) or "")) > length:
                return record_error("STRING_TOO_LONG", f"{name}: data value too large (max length={length})", [name])
        if values.get("ActivityDate") is not None:
            try:
                values["ActivityDate"] = date.fromisoformat(str(values["ActivityDate"]))
            except ValueError:
                return record_error("INVALID_TYPE_ON_FIELD_IN_RECORD", "Due Date Only: value not of required type",
                                ["ActivityDate"])
        values["OwnerId"], values["WhoId"] = owner["Id"], who["Id"] if who else None
        return {"values": values}

    def _reference(self, raw: Any, sobject: str) -> dict[str, Any] | None:
        try:
            record_id = to18(str(raw))
        except ValueError:
            return None
        record = self.org.records.get(sobject, {}).get(record_id)
        return record if record is not None and not record.get("IsDeleted") else None

    def close_completed(self, records: list[dict[str, Any]]) -> None:
        """After a collections update: Tasks whose Status became a closed value are closed."""
        with self.org.lock:
            for record in records:
                if (record.get("attributes") or {}).get("type") != "Task" or record.get("Status") not in \
                        CLOSED_STATUSES:
                    continue
                try:
                    task_id = to18(str(record.get("id")))
                except ValueError:
                    continue
                task = self.org.records["Task"].get(task_id)
                if task is not None and not task.get("IsDeleted"):
                    self.org.update("Task", task_id, {"IsClosed": True, "CompletedDateTime": self.org.now()})
