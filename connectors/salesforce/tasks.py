"""Salesforce Tasks for the SLA reminders ("Object Reference for the Salesforce Platform": Task), written with
sObject Collections: `POST /composite/sobjects` creates up to 200 a call ("Create Records Using sObject
Collections", `allOrNone: false`: a SaveResult per record, by position) with `WhoId` (the Lead or Contact),
`OwnerId` (the user assigned), `ActivityDate` (the due date: a date only, taken in UTC), `Subject`,
`Description`, `Status` "Not Started" and `Priority` "Normal"; `PATCH /composite/sobjects` sets `Status`
"Completed" to close them.

The marker is in `Description`, a long text area that SOQL cannot filter on: a Task created before a crash
is found by reading the Tasks of the request's Leads and Contacts (`WHERE WhoId IN (...)`, one query per 200
ids) and checking their descriptions. A create is never resent by the gateway after a transport failure.
`managers` reads `User.ManagerId`, for the escalation to the owner's manager.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.mapping import CRM
from connectors.salesforce.paging import in_list
from connectors.salesforce.values import read_id
from sync.contract import TaskRequest, TaskResult
from sync.errors import PermanentError, RecordError
from sync.reminders.policy import carries

COLLECTION = 200
RETRYABLE = frozenset({"UNABLE_TO_LOCK_ROW"})
Query = Callable[[str, str], list[dict[str, Any]]]  # (category, SOQL) -> all its rows


class TaskWriter:
    def __init__(self, client: SalesforceClient, query: Query) -> None:
        self.client = client
        self.query = query

    def create(self, tasks: Sequence[TaskRequest]) -> list[TaskResult]:
        results: list[TaskResult] = []
        for start in range(0, len(tasks), COLLECTION):
            chunk = tasks[start:start + COLLECTION]
            records = [{"attributes": {"type": "Task"}, "WhoId": task.contact_id, "OwnerId": task.assignee_id,
                        "ActivityDate": task.due_at.date().isoformat(), "Subject": task.subject[:255],
                        "Description": task.body, "Status": "Not Started", "Priority": "Normal"} for task in chunk]
            saves = self._collections("POST", records)
            results += [_result(task.marker, task.contact_id, save) for task, save in zip(chunk, saves, strict=True)]
        return results

    def find(self, tasks: Sequence[TaskRequest]) -> dict[str, str]:
        found: dict[str, str] = {}
        people = sorted({found_id for task in tasks if (found_id := read_id(task.contact_id)) is not None})
        for start in range(0, len(people), COLLECTION):
            rows = self.query("tasks", f"SELECT Id, WhoId, Description FROM Task WHERE WhoId IN "
                                       f"({in_list(people[start:start + COLLECTION])})")
            for row in rows:
                for task in tasks:
                    task_id = read_id(row.get("Id"))
                    if task_id is not None and carries(row.get("Description"), task.marker):
                        found[task.marker] = task_id
        return found

    def complete(self, task_ids: Sequence[str]) -> list[TaskResult]:
        results: list[TaskResult] = []
        for start in range(0, len(task_ids), COLLECTION):
            chunk = task_ids[start:start + COLLECTION]
            saves = self._collections("PATCH", [{"attributes": {"type": "Task"}, "id": task_id,
                                                 "Status": "Completed"} for task_id in chunk])
            results += [_result(task_id, task_id, save) for task_id, save in zip(chunk, saves, strict=True)]
        return results

    def managers(self, user_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        users = sorted({found_id for user in user_ids if (found_id := read_id(user)) is not None})
        for start in range(0, len(users), COLLECTION):
            rows = self.query("users", f"SELECT Id, ManagerId FROM User WHERE Id IN "
                                       f"({in_list(users[start:start + COLLECTION])})")
            for row in rows:
                user, manager = read_id(row.get("Id")), read_id(row.get("ManagerId"))
                if user is not None and manager is not None:
                    found[user] = manager
        return found

    def _collections(self, method: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        body = {"allOrNone": False, "records": records}
        saves = self.client.call("tasks", lambda api: api.restful("composite/sobjects", method=method, json=body),
                                 idempotent=method != "POST")
        if not isinstance(saves, list) or len(saves) != len(records):
            raise PermanentError(f"Salesforce answered {len(saves) if isinstance(saves, list) else 'no'} results "
                                 f"for {len(records)} tasks", crm=CRM)
        return [save if isinstance(save, dict) else {} for save in saves]


def _result(key: str, record_id: str, save: dict[str, Any]) -> TaskResult:
    if save.get("success"):
        return TaskResult(key, task_id=read_id(save.get("id")) or str(save.get("id")))
    errors = save.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    code = str(first.get("statusCode") or "UNKNOWN")
    return TaskResult(key, error=RecordError(record_id, code, f"Salesforce refused the task ({code})",
                                             retryable=code in RETRYABLE, fields=tuple(first.get("fields") or ())))


__all__ = ["TaskWriter"]
