"""The SLA reminder side of `sync.contract.WritesTasks`, the same in every connector: the connector names its
CRM's task writer (`task_writer`: HubSpot tasks, Salesforce Task, Pipedrive activities) and `DelegatesTasks`
answers the contract's three calls through it. A connector that writes no tasks simply does not mix it in,
so `isinstance(connector, WritesTasks)` stays the engine's test of the capability."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sync.contract import TaskRequest, TaskResult


class TaskWriter(Protocol):
    """A CRM's tasks: created in as few calls as it allows, found again by marker, completed."""

    def create(self, tasks: Sequence[TaskRequest]) -> list[TaskResult]: ...

    def find(self, tasks: Sequence[TaskRequest]) -> dict[str, str]: ...

    def complete(self, task_ids: Sequence[str]) -> list[TaskResult]: ...


class DelegatesTasks:
    """`create_tasks`, `find_tasks` and `complete_tasks` of the contract, through `task_writer`."""

    task_writer: TaskWriter

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[TaskResult]:
        return self.task_writer.create(tasks)

    def find_tasks(self, tasks: Sequence[TaskRequest]) -> dict[str, str]:
        return self.task_writer.find(tasks)

    def complete_tasks(self, task_ids: Sequence[str]) -> list[TaskResult]:
        return self.task_writer.complete(task_ids)


__all__ = ["DelegatesTasks", "TaskWriter"]
