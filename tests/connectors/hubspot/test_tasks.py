"""HubSpot tasks for the SLA reminders on the sandbox, every request and answer validated against HubSpot's
tasks OpenAPI file: created in one batch with the task-to-contact association, matched back by content,
refused per input for an unknown owner, found again by marker, and completed."""

from __future__ import annotations

from datetime import timedelta

from sync.contract import TaskRequest
from sync.reminders.policy import MARKER_PREFIX
from sync.synthetic import synthetic_contacts


def request(marker: str, contact: str, owner: str, clock) -> TaskRequest:
    return TaskRequest(marker=marker, contact_id=contact, assignee_id=owner, due_at=clock.now() + timedelta(hours=2),
                       subject="SLA: first touch due", body=f"Call them.\n\n{MARKER_PREFIX}{marker}")


def test_tasks_are_created_in_one_call_found_by_marker_and_completed(sandbox, make_connector, clock, sent_bodies):
    ids = list(sandbox.seed(synthetic_contacts(3, now=clock.now())).values())
    connector = make_connector()
    tasks = [request("crmsync-a", ids[0], "1001", clock), request("crmsync-b", ids[1], "1002", clock),
             request("crmsync-c", ids[2], "424242", clock)]  # not an owner of the account
    first, second, refused = connector.create_tasks(tasks)
    assert first.ok and second.ok and first.task_id != second.task_id
    assert not refused.ok and refused.error is not None and refused.error.code == "INVALID_OWNER_ID"
    (body,) = sent_bodies("/tasks/batch/create")
    assert [item["associations"][0]["types"][0]["associationTypeId"] for item in body["inputs"]] == [204] * 3
    listed = {task["id"]: task for task in sandbox.tasks()}
    assert listed[first.task_id]["contact_id"] == ids[0] and listed[first.task_id]["owner_id"] == "1001"
    assert listed[second.task_id]["due_at"] == clock.now() + timedelta(hours=2)
    assert connector.find_tasks(tasks) == {"crmsync-a": first.task_id, "crmsync-b": second.task_id}
    done = connector.complete_tasks([first.task_id])
    assert done[0].error is None
    assert {task["id"]: task["done"] for task in sandbox.tasks(ids[0]) if MARKER_PREFIX in (task["body"] or "")} \
        == {first.task_id: True}
    assert connector.complete_tasks(["999999"])[0].error is not None  # not a task: nothing to complete
