"""Noticing the persons deleted or merged away in Pipedrive, which its lists never show.

What the documentation offers, and why a pull cannot use it:
- "Get all persons" (v2) returns the persons that exist: it has no filter for deleted ones (deals have
  `status=deleted`, persons nothing alike), and `ids=` silently leaves out the ids that "do not exist or
  are not visible";
- "Get recents" (v1) returns "data about all recent changes occurred after the given timestamp" without
  saying how a deletion or a merge shows in it;
- webhooks v2 are the documented way: a `delete` event, whose `meta.merged_to_id` names the survivor when
  the person was merged ("Webhooks v2 migration guide", https://pipedrive.readme.io/docs/webhooks-v2-migration-guide).
  They need an HTTPS endpoint Pipedrive can reach; a polling daemon has none.

So, every `reconcile_every_h` hours (24 by default), the connector lists every person id Pipedrive still
has (`GET /api/v2/persons` sorted by id, 500 a page, with a single custom field in `custom_fields`, the
documented way to a "smaller response") and reports as deleted each id the engine manages that is not among
them. Cost: ⌈P/500⌉ calls of 10 tokens for P persons, once a day: 20 calls and 200 tokens for 10,000 persons,
0.7% of a one-seat Lite budget (30,000 tokens a day). A full pull that read every person from the start
compares with what it read, for no call at all. A merged-away person is reported deleted without its
survivor (`merged_into` stays empty): the survivor itself is pulled anyway, since the merge moved the deals
and activities onto it. A person the API user can no longer see is reported the same way.

The live ids wait on disk (`sync.spill`) and the engine's ids stream through, 500 at a time: memory does
not grow with the account.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from connectors.pipedrive.mapping import pipedrive_id
from sync.contract import ManagedIds
from sync.spill import Scratch, ScratchSet

CHUNK = 500  # managed ids compared (and deleted ids reported) per step


class LiveIds:
    """The person ids Pipedrive listed as existing, on disk for one comparison."""

    def __init__(self) -> None:
        self._scratch = Scratch(prefix="crmsync-pipedrive-live-")
        self._ids: ScratchSet[int] = ScratchSet(self._scratch, "live")

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        """The ids of listed person rows (a row flagged deleted, or without a readable id, is not one)."""
        self._ids.add_many(person for row in rows
                           if row.get("is_deleted") is not True and (person := pipedrive_id(row.get("id"))))

    def missing(self, managed: Iterable[str]) -> Iterator[list[str]]:
        """The engine's ids that Pipedrive no longer lists, `CHUNK` compared at a time. Ids that cannot be
        Pipedrive's are left alone: they are no evidence of anything."""
        batch: list[str] = []
        for contact_id in managed:
            batch.append(contact_id)
            if len(batch) >= CHUNK:
                yield self._absent(batch)
                batch = []
        if batch:
            yield self._absent(batch)

    def _absent(self, batch: list[str]) -> list[str]:
        ids = {contact_id: pipedrive_id(contact_id) for contact_id in batch}
        present = self._ids.present(person for person in ids.values() if person is not None)
        return [contact_id for contact_id, person in ids.items() if person is not None and person not in present]

    def close(self) -> None:
        self._scratch.close()


def list_live(fetch_pages: Callable[[], Iterator[list[dict[str, Any]]]]) -> LiveIds:
    """Every live person id, from `fetch_pages` (the persons list by id, smallest answer)."""
    live = LiveIds()
    try:
        for rows in fetch_pages():
            live.add(rows)
    except BaseException:
        live.close()
        raise
    return live


def deleted_chunks(live: LiveIds, managed: ManagedIds) -> Iterator[list[str]]:
    """The managed ids Pipedrive no longer has, in chunks (empty chunks skipped); closes `live` when done."""
    try:
        for chunk in live.missing(managed()):
            if chunk:
                yield chunk
    finally:
        live.close()


__all__ = ["LiveIds", "deleted_chunks", "list_live"]
