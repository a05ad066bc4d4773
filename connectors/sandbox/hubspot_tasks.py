"""The HubSpot sandbox's task writes: `POST /crm/v3/objects/tasks/batch/create` and `.../tasks/batch/update`.

What HubSpot documents, and what the sandbox does with it:

- "CRM API | Tasks" (create a task): `hs_timestamp` is required (the due date, epoch milliseconds or
  ISO-8601); `hs_task_subject`, `hs_task_body`, `hubspot_owner_id`, `hs_task_status` (NOT_STARTED,
  IN_PROGRESS, WAITING, COMPLETED, DEFERRED), `hs_task_priority` (LOW, MEDIUM, HIGH) and `hs_task_type`
  (TODO, CALL, EMAIL...) are optional; a task is associated to a contact with the HUBSPOT_DEFINED type 204
  (task to contact) in the input's `associations`.
- `hubspot_owner_id` must name an owner of the account ("CRM API | Owners"): an unknown id is refused.
- Batch create (tasks spec `post-/crm/v3/objects/tasks/batch/create`): 201 with the created records. The
  order of `results` is not promised to follow the inputs, so the sandbox returns them in reverse order
  (the less convenient reading): a client matches results by their content. An input carrying an
  `objectWriteTraceId` that fails is reported in a 207 naming that id in its error's `context`
  ("Error handling", batch create with `objectWriteTraceId`); without trace ids, one invalid input fails
  the whole batch with 400 VALIDATION_ERROR.
- Batch update: 200 with the updated records; ids that do not exist come back in a 207 OBJECT_NOT_FOUND.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.wrappers import Request, Response

from connectors.sandbox.hubspot_store import HubSpotStore, ValidationFailure, iso, to_ms
from connectors.sandbox.server import json_response

TASK_TO_CONTACT = 204
STATUSES = ("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED")
PRIORITIES = ("LOW", "MEDIUM", "HIGH", "NONE")
TYPES = ("TODO", "CALL", "EMAIL", "LINKED_IN", "MEETING", "LINKED_IN_CONNECT", "LINKED_IN_MESSAGE")
WRITABLE = frozenset({"hs_timestamp", "hs_task_subject", "hs_task_body", "hubspot_owner_id", "hs_task_status",
                      "hs_task_priority", "hs_task_type", "hs_task_completion_date"})


class TaskWrites:
    """Task creation and updates on a sandbox account."""

    def __init__(self, store: HubSpotStore, answer: Callable[[list[dict[str, Any]], list[str], str], Response], *,
                 batch_max: int) -> None:
        self.store = store
        self.answer = answer  # the app's batch answer: 200, or 207 OBJECT_NOT_FOUND naming the missing ids
        self.batch_max = batch_max

    def problems(self, properties: Mapping[str, Any], *, creating: bool) -> list[dict[str, Any]]:
        found = []
        if creating and not properties.get("hs_timestamp"):
            found.append(_problem("hs_timestamp", "REQUIRED_PROPERTY", "hs_timestamp is required"))
        for name, value in properties.items():
            if name not in WRITABLE:
                found.append(_problem(name, "PROPERTY_DOESNT_EXIST", f"Property \"{name}\" does not exist"))
            elif not isinstance(value, str):
                found.append(_problem(name, "INVALID_TYPE", f"\"{name}\" values must be strings"))
            elif name == "hubspot_owner_id" and value and value not in self.store.owners:
                found.append(_problem(name, "INVALID_OWNER_ID", f"{value} is not a valid owner id"))
            elif name == "hs_task_status" and value not in STATUSES:
                found.append(_problem(name, "INVALID_OPTION", f"{value!r} is not a valid task status"))
            elif name == "hs_task_priority" and value not in PRIORITIES:
                found.append(_problem(name, "INVALID_OPTION", f"{value!r} is not a valid priority"))
            elif name == "hs_task_type" and value not in TYPES:
                found.append(_problem(name, "INVALID_OPTION", f"{value!r} is not a valid task type"))
            elif name in ("hs_timestamp", "hs_task_completion_date") and value:
                try:
                    to_ms(value)
                except ValueError:
                    found.append(_problem(name, "INVALID_DATE", f"{value!r} is not a valid date"))
        return found

    def _association_problems(self, associations: Any) -> list[dict[str, Any]]:
        found = []
        for association in associations or []:
            target = str((association.get("to") or {}).get("id", ""))
            types = association.get("types") or []
            if not any(kind.get("associationTypeId") == TASK_TO_CONTACT
                       and kind.get("associationCategory") == "HUBSPOT_DEFINED" for kind in types):
                found.append({"message": "only task to contact associations (HUBSPOT_DEFINED 204) are emulated",
                              "code": "INVALID_ASSOCIATION_TYPE"})
            elif self.store.get("contacts", target) is None:
                found.append({"message": f"contact {target} does not exist", "code": "INVALID_ASSOCIATION_TARGET"})
        return found

    def batch_create(self, request: Request) -> Response:
        inputs = request.get_json(force=True).get("inputs") or []
        if len(inputs) > self.batch_max:
            raise ValidationFailure(f"Batch input limit is {self.batch_max}")
        checked = [(item, self.problems(item.get("properties") or {}, creating=True)
                    + self._association_problems(item.get("associations"))) for item in inputs]
        untraced = [problems for item, problems in checked if problems and not item.get("objectWriteTraceId")]
        if untraced:
            raise ValidationFailure("Property values were not valid", untraced[0])
        results, errors = [], []
        with self.store.lock:
            for item, problems in checked:
                if problems:
                    errors.append({"status": "error", "category": "VALIDATION_ERROR",
                                   "message": problems[0]["message"], "errors": problems, "links": {},
                                   "context": {"objectWriteTraceId": [str(item["objectWriteTraceId"])]}})
                    continue
                properties = dict(item["properties"])
                properties.setdefault("hs_task_status", "NOT_STARTED")
                properties["hs_timestamp"] = iso(to_ms(properties["hs_timestamp"]))
                record = self.store.create("tasks", properties)
                for association in item.get("associations") or []:
                    self.store.link("tasks", record.id, "contacts", str(association["to"]["id"]))
                results.append(record.view(None, "tasks"))
        results.reverse()
        now = iso(self.store.now())
        body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
        if errors:
            body.update(numErrors=len(errors), errors=errors)
            return json_response(body, status=207)
        return json_response(body, status=201)

    def batch_update(self, request: Request) -> Response:
        inputs = request.get_json(force=True).get("inputs") or []
        if len(inputs) > self.batch_max:
            raise ValidationFailure(f"Batch input limit is {self.batch_max}")
        problems = [problem for item in inputs
                    for problem in self.problems(item.get("properties") or {}, creating=False)]
        if problems:
            raise ValidationFailure("Property values were not valid", problems)
        results, missing = self.store.update_existing(
            "tasks", inputs, lambda native_id, properties: self.store.touch("tasks", native_id, properties))
        return self.answer(results, missing, "Some tasks could not be found.")


def _problem(name: str, code: str, message: str) -> dict[str, Any]:
    return {"message": message, "code": code, "context": {"propertyName": [name]}}


__all__ = ["TASK_TO_CONTACT", "TaskWrites"]
