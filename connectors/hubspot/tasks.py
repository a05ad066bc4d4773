"""HubSpot tasks for the SLA reminders ("CRM API | Tasks"): created 100 a call with
`POST /crm/v3/objects/tasks/batch/create`, each with `hs_timestamp` (its due time), `hs_task_subject`,
`hs_task_body`, `hs_task_status` NOT_STARTED, `hs_task_type` TODO, `hubspot_owner_id` and the HUBSPOT_DEFINED
task-to-contact association (type 204); completed with `.../tasks/batch/update` (`hs_task_status` COMPLETED).

Each input carries the request's marker as its `objectWriteTraceId`, so a failed input is named in the 207's
errors ("Error handling"), and in its body, so the created records are matched back by content (the order
of `results` is not promised) and a task created before a crash is found again: a search of tasks
associated with the contact (`associations.contact`, "CRM API | Search"), whose bodies are checked for the
marker. A create is never resent by the gateway after a transport failure (not idempotent): the caller finds
it instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import hubspot.crm.objects as objects_sdk

from connectors.hubspot import mapping
from connectors.hubspot.client import HubSpotClient, HubSpotRejected
from connectors.hubspot.related import next_after
from sync.contract import TaskRequest, TaskResult
from sync.errors import RecordError
from sync.reminders.policy import carries
from sync.toolkit.paging import TokenPaginator

_OBJECTS_CFG = objects_sdk.Configuration()
TASK_TO_CONTACT = 204  # HUBSPOT_DEFINED association type: task to contact ("Associations v4", type ids)
BATCH = 100  # inputs per batch call ("CRM API | Objects": batch endpoints take 100 inputs)
RETRYABLE = frozenset({"RATE_LIMITS", "LOCKED"})


class TaskWriter:
    """One HubSpot account's tasks."""

    def __init__(self, client: HubSpotClient) -> None:
        self.client = client

    def create(self, tasks: Sequence[TaskRequest]) -> list[TaskResult]:
        results: dict[str, TaskResult] = {}
        for start in range(0, len(tasks), BATCH):
            results.update(self._create(tasks[start:start + BATCH]))
        return [results[task.marker] for task in tasks]

    def _create(self, tasks: Sequence[TaskRequest]) -> dict[str, TaskResult]:
        inputs = [objects_sdk.SimplePublicObjectBatchInputForCreate(
            properties={"hs_timestamp": str(mapping.epoch_ms(task.due_at)), "hs_task_subject": task.subject[:255],
                        "hs_task_body": task.body, "hs_task_status": "NOT_STARTED", "hs_task_type": "TODO",
                        "hubspot_owner_id": task.assignee_id},
            associations=[objects_sdk.PublicAssociationsForObject(
                to=objects_sdk.PublicObjectId(id=task.contact_id, local_vars_configuration=_OBJECTS_CFG),
                types=[objects_sdk.AssociationSpec(association_category="HUBSPOT_DEFINED",
                                                   association_type_id=TASK_TO_CONTACT,
                                                   local_vars_configuration=_OBJECTS_CFG)],
                local_vars_configuration=_OBJECTS_CFG)],
            object_write_trace_id=task.marker, local_vars_configuration=_OBJECTS_CFG) for task in tasks]
        request = objects_sdk.BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs,
                                                                              local_vars_configuration=_OBJECTS_CFG)
        try:
            data = self.client.call("tasks", "task batch create", idempotent=False,
                                    request=lambda **options: self.client.objects_batch.create(
                                        "tasks", request, **options)).data or {}
        except HubSpotRejected as exc:  # the whole batch refused (an input without a trace id was invalid)
            code = exc.codes[0] if exc.codes else exc.category or str(exc.status)
            return {task.marker: TaskResult(task.marker, error=RecordError(
                task.contact_id, code, f"HubSpot refused the task ({exc.status} {code})")) for task in tasks}
        found: dict[str, TaskResult] = {}
        for record in data.get("results") or []:
            body = (record.get("properties") or {}).get("hs_task_body")
            for task in tasks:
                if carries(body, task.marker):
                    found[task.marker] = TaskResult(task.marker, task_id=str(record.get("id")))
        for error in data.get("errors") or []:
            category = str(error.get("category") or "ERROR")
            codes = [str(detail.get("code")) for detail in error.get("errors") or [] if detail.get("code")]
            for trace in (error.get("context") or {}).get("objectWriteTraceId") or []:
                task = next((task for task in tasks if task.marker == str(trace)), None)
                if task is not None:
                    found[task.marker] = TaskResult(task.marker, error=RecordError(
                        task.contact_id, codes[0] if codes else category, f"HubSpot refused the task ({category})",
                        retryable=category in RETRYABLE))
        for task in tasks:
            found.setdefault(task.marker, TaskResult(task.marker, error=RecordError(
                task.contact_id, "NOT_CONFIRMED", "HubSpot did not confirm the task", retryable=True)))
        return found

    def find(self, tasks: Sequence[TaskRequest]) -> dict[str, str]:
        """One search per contact: its tasks, whose bodies are checked for the markers."""
        found: dict[str, str] = {}
        by_contact: dict[str, list[TaskRequest]] = {}
        for task in tasks:
            by_contact.setdefault(task.contact_id, []).append(task)
        for contact_id, wanted in by_contact.items():
            for record in self._contact_tasks(contact_id):
                body = (record.get("properties") or {}).get("hs_task_body")
                for task in wanted:
                    if carries(body, task.marker):
                        found[task.marker] = str(record.get("id"))
        return found

    def _contact_tasks(self, contact_id: str) -> list[dict[str, Any]]:
        """Every task of the contact: search pages of 200 through the shared paginator (a repeated token fails
        the call instead of looping)."""

        def fetch(after: str | None) -> dict[str, Any]:
            request = objects_sdk.PublicObjectSearchRequest(
                filter_groups=[objects_sdk.FilterGroup(filters=[objects_sdk.Filter(
                    property_name="associations.contact", operator="EQ", value=contact_id,
                    local_vars_configuration=_OBJECTS_CFG)], local_vars_configuration=_OBJECTS_CFG)],
                sorts=["hs_object_id"], properties=["hs_task_body", "hs_task_status"], limit=200,
                after=after or "0", local_vars_configuration=_OBJECTS_CFG)
            return self.client.search_objects("tasks", "tasks", request)

        return [record for page in TokenPaginator(fetch, crm=mapping.CRM, what="task search", find=next_after,
                                                  items_key="results") for record in page]

    def complete(self, task_ids: Sequence[str]) -> list[TaskResult]:
        results: dict[str, TaskResult] = {}
        for start in range(0, len(task_ids), BATCH):
            chunk = list(dict.fromkeys(task_ids[start:start + BATCH]))
            request = objects_sdk.BatchInputSimplePublicObjectBatchInput(inputs=[
                objects_sdk.SimplePublicObjectBatchInput(id=task_id, properties={"hs_task_status": "COMPLETED"},
                                                         local_vars_configuration=_OBJECTS_CFG)
                for task_id in chunk], local_vars_configuration=_OBJECTS_CFG)
            data = self.client.call("tasks", "task batch update", request=lambda **options: (
                self.client.objects_batch.update("tasks", request, **options))).data or {}
            for error in data.get("errors") or []:
                for task_id in (error.get("context") or {}).get("ids") or []:
                    results[str(task_id)] = TaskResult(str(task_id), error=RecordError(
                        str(task_id), str(error.get("category") or "ERROR"), "HubSpot could not complete the task"))
            for task_id in chunk:
                results.setdefault(task_id, TaskResult(task_id, task_id=task_id))
        return [results[task_id] for task_id in task_ids]


__all__ = ["TaskWriter"]
