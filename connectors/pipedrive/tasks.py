"""Pipedrive activities for the SLA reminders: one `POST /api/v2/activities` per task ("Add a new activity":
Pipedrive has no batch create) with `subject`, `type` task, `owner_id`, `due_date` and `due_time` (UTC),
`note` (the text, which carries the marker), `done` false and the person as primary participant (v2 links
an activity to a person through `participants`; its `person_id` is derived and read-only); one
`PATCH /api/v2/activities/{id}` with `done: true` to complete one.

A task created before a crash is found by listing the person's activities (`GET /api/v2/activities?
person_id=`, the activities whose primary participant is that person) and checking their notes for the
marker. A create is never resent by the gateway after a transport failure (not idempotent).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import timezone
from typing import Any

from connectors.pipedrive.client import COST_V2_LIST, COST_V2_UPDATE, PipedriveClient, PipedriveRejected
from connectors.pipedrive.mapping import pipedrive_id
from sync.contract import TaskRequest, TaskResult
from sync.errors import RecordError
from sync.reminders.policy import carries

ListAll = Callable[..., Iterator[dict[str, Any]]]


class TaskWriter:
    def __init__(self, client: PipedriveClient, iterate: ListAll) -> None:
        self.client = client
        self.iterate = iterate

    def create(self, tasks: Sequence[TaskRequest]) -> list[TaskResult]:
        return [self._create(task) for task in tasks]

    def _create(self, task: TaskRequest) -> TaskResult:
        person, owner = pipedrive_id(task.contact_id), pipedrive_id(task.assignee_id)
        if person is None or owner is None:
            return TaskResult(task.marker, error=RecordError(task.contact_id, "INVALID_ID",
                                                             "not a Pipedrive person or user id"))
        due = task.due_at.astimezone(timezone.utc)
        body = {"subject": task.subject[:255], "type": "task", "owner_id": owner, "due_date": f"{due:%Y-%m-%d}",
                "due_time": f"{due:%H:%M}", "note": task.body, "done": False,
                "participants": [{"person_id": person, "primary": True}]}
        try:
            answer = self.client.request("POST", "/api/v2/activities", json=body, category="tasks",
                                         cost=COST_V2_UPDATE, idempotent=False)
        except PipedriveRejected as exc:
            return TaskResult(task.marker, error=RecordError(task.contact_id, exc.code or f"HTTP_{exc.status}",
                                                             f"Pipedrive refused the activity (HTTP {exc.status})"))
        created = (answer.get("data") or {}).get("id")
        if created is None:
            return TaskResult(task.marker, error=RecordError(task.contact_id, "NOT_CONFIRMED",
                                                             "Pipedrive did not confirm the activity", retryable=True))
        return TaskResult(task.marker, task_id=str(created))

    def find(self, tasks: Sequence[TaskRequest]) -> dict[str, str]:
        found: dict[str, str] = {}
        for person in sorted({task.contact_id for task in tasks}):
            if pipedrive_id(person) is None:
                continue
            for row in self.iterate("/api/v2/activities", {"person_id": person}, "tasks", cost=COST_V2_LIST):
                for task in tasks:
                    if task.contact_id == person and carries(row.get("note"), task.marker):
                        found[task.marker] = str(row.get("id"))
        return found

    def complete(self, task_ids: Sequence[str]) -> list[TaskResult]:
        results = []
        for task_id in task_ids:
            try:
                self.client.request("PATCH", f"/api/v2/activities/{int(task_id)}", json={"done": True},
                                    category="tasks", cost=COST_V2_UPDATE, idempotent=True)
                results.append(TaskResult(task_id, task_id=task_id))
            except PipedriveRejected as exc:
                results.append(TaskResult(task_id, error=RecordError(task_id, f"HTTP_{exc.status}",
                                                                     "Pipedrive could not complete the activity")))
        return results


__all__ = ["TaskWriter"]
