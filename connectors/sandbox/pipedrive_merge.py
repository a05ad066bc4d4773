"""Merging two Pipedrive persons in the sandbox, as `PUT /v1/persons/{id}/merge` does.

What Pipedrive documents ("Merging two persons", https://pipedrive.readme.io/docs/merging-two-persons, and
"Merge two persons" in the v1 API reference):
- the person in the URL "will be removed from your Pipedrive account", the one named by `merge_with_id`
  stays and "its data will be kept";
- where the survivor has an empty field and the other has content, the content "will be added" to the
  survivor; where both have data, the other's is lost;
- "all related data (activities, emails, filters, notes, products, followers, participants) will be
  transferred": deals and activities move to the survivor (their `update_time` moves with them);
- the answer is the survivor, with `merge_what_id` naming the person merged into it.

Pipedrive's lists then simply stop showing the removed person: only a webhook v2 says a merge happened
(a `delete` event whose `meta.merged_to_id` names the survivor, "Webhooks v2 migration guide"). The
removed person is kept as a soft-deleted row (purged 30 days later, as any deleted person).
"""

from __future__ import annotations

from typing import Any

from connectors.sandbox.pipedrive_store import PipedriveStore, Row, StoreError

# survivor fields filled from the removed person when they are empty on the survivor
FILLED = ("first_name", "last_name", "job_title", "org_id", "emails", "phones", "label_ids")


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def merge_persons(store: PipedriveStore, removed_id: int, survivor_id: int) -> Row:
    """Merge `removed_id` into `survivor_id`; returns the survivor as stored."""
    if removed_id == survivor_id:
        raise StoreError(400, "Cannot merge a person with itself")
    with store.lock:
        removed = store.live_person(removed_id)
        survivor = store.live_person(survivor_id)
        stamp = store.now()
        for key in FILLED:
            if _empty(survivor.get(key)) and not _empty(removed.get(key)):
                survivor[key] = removed[key]
        for key, value in removed["custom_fields"].items():
            survivor["custom_fields"].setdefault(key, value)
        if _empty(survivor.get("name")):
            survivor["name"] = " ".join(part for part in (survivor["first_name"], survivor["last_name"]) if part)
        for deal_id in store.deals_by_person.pop(removed_id, set()):
            store.deals[deal_id].update(person_id=survivor_id, update_time=stamp)
            store.link("deal", deal_id, [survivor_id])
        for activity_id in store.activities_by_person.pop(removed_id, set()):
            row = store.activities[activity_id]
            participants = [dict(part, person_id=survivor_id) if part.get("person_id") == removed_id else part
                            for part in row.get("participants") or []]
            unique = {part.get("person_id"): part for part in participants}
            row.update(participants=list(unique.values()), update_time=stamp)
            if row.get("person_id") == removed_id:
                row["person_id"] = survivor_id
            store.link("activity", activity_id, [survivor_id])
        extra, moved = store.person_extra[survivor_id], store.person_extra.get(removed_id, {})
        for key, value in moved.items():
            if value and value > (extra.get(key) or ""):
                extra[key] = value
        store.delete_person(removed_id)
        survivor["update_time"] = stamp
        return survivor


def merge_answer(store: PipedriveStore, survivor: Row, removed_id: int) -> Row:
    """The v1 answer's `data` (the `mergePersonItem` schema): the survivor in v1 shapes, with
    `merge_what_id`."""
    return {
        "id": survivor["id"],
        "company_id": 1,
        "active_flag": True,
        "name": survivor["name"],
        "first_name": survivor["first_name"],
        "last_name": survivor["last_name"],
        "owner_id": survivor["owner_id"],
        "org_id": survivor["org_id"],
        "email": [dict(item) for item in survivor["emails"]],
        "phone": [dict(item) for item in survivor["phones"]],
        "label_ids": list(survivor["label_ids"]),
        "add_time": survivor["add_time"].replace("T", " ").rstrip("Z"),
        "update_time": survivor["update_time"].replace("T", " ").rstrip("Z"),
        "visible_to": str(survivor["visible_to"]),
        "merge_what_id": removed_id,
    }


__all__ = ["merge_answer", "merge_persons"]
