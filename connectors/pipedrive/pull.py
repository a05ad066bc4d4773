"""One pull window of one Pipedrive account, read in the fewest calls the API allows (⌈N/500⌉ for N changed
persons):
1. every deal and activity changed in the window `[since, until)` is listed once (500 a page,
   `updated_since` / `updated_until`, deleted deals included on incremental pulls) and joined locally by
   person id and activity participants; a person whose deal or activity changed is part of the changes;
2. the persons changed in the window stream by `update_time` ascending (500 a page, `include_fields` for the
   deal and activity counters); each page is one `PullPage` with its deals and activities attached;
3. persons touched only through a deal or activity are then fetched by `ids=` (100 a call).

Every row is read value by value (`mapping`): a record that cannot be read is skipped and reported in its
page's `problems`, an unreadable field is unknown and reported, and the page and the cursor go on. A
person's `update_time` moves the cursor only when it is a time: an unreadable one cannot send the next
request to a place Pipedrive refuses. The problems found among the window's deals and activities are
reported with the window's first page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from connectors.pipedrive.client import COST_V2_LIST, PipedriveClient
from connectors.pipedrive.fields import FieldCatalog
from connectors.pipedrive.history import WindowHistory
from connectors.pipedrive.mapping import (
    INCLUDE_FIELDS,
    DealContext,
    activity_person_ids,
    deal_person,
    format_rfc3339,
    organization_names,
    parse_time,
    pipedrive_id,
    to_activity,
    to_deal,
)
from connectors.pipedrive.paging import (
    ACTIVITIES,
    DEALS,
    PERSONS,
    PHASE_PERSONS,
    PHASE_TRIGGERED,
    Seen,
    Window,
    list_pages,
)
from connectors.pipedrive.persons import to_contact
from connectors.pipedrive.reconcile import LiveIds
from connectors.pipedrive.settings import PipedriveSettings
from sync.contract import RecordProblem
from sync.model import Activity, Contact, Deal
from sync.spill import ScratchMap

Rows = list[dict[str, Any]]
IterAll = Callable[..., Iterator[dict[str, Any]]]
ByIds = Callable[..., Iterator[Rows]]


@dataclass
class Batch:
    """What one page hands the engine: contacts, deleted ids and the problems met on the way."""

    contacts: list[Contact] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    problems: list[RecordProblem] = field(default_factory=list)


class WindowPull:
    """Reads one window; `pages()` yields (batch, cursor mark) pairs, the last one with the finished mark."""

    def __init__(self, *, client: PipedriveClient, settings: PipedriveSettings, account: str,
                 catalog: FieldCatalog, deals: DealContext, org_names: ScratchMap[int, str], iter_all: IterAll,
                 by_ids: ByIds, finish: Callable[[Window, set[Seen]], Window], live: LiveIds | None) -> None:
        self.client, self.settings, self.account = client, settings, account
        self.catalog, self.deal_context, self.org_names = catalog, deals, org_names
        self.iter_all, self.by_ids, self.finish = iter_all, by_ids, finish
        self.history = WindowHistory()
        self.seen_tail: set[Seen] = set()
        self.complete = False  # a full pull: every deal and activity is in the window
        self.pending_problems: list[RecordProblem] = []  # the prefetch's, reported with the first page
        self.live = live  # a full pull from the start: every person id it reads exists

    def close(self) -> None:
        self.history.close()

    @property
    def overlap(self) -> timedelta:
        return timedelta(seconds=self.settings.overlap_s)

    def tail_start(self, mark: Window) -> str | None:
        until = parse_time(mark.until)
        return format_rfc3339(until - self.overlap) if until else None

    # -- the window's pages --------------------------------------------------------------------------

    def pages(self, mark: Window) -> Iterator[tuple[Batch, Window]]:
        self._prefetch(mark)
        if mark.phase == PHASE_PERSONS:
            tail_from = self.tail_start(mark)
            paginator = list_pages(lambda token: self._persons_page(mark, token), what="persons")
            after_time, after_ids = mark.after_time, set(mark.after_ids)
            for rows in paginator:
                batch, fresh, emitted = self._batch(), [], []
                for row in rows:
                    pid = pipedrive_id(row.get("id"))
                    stamp = parse_time(row.get("update_time"))
                    updated = format_rfc3339(stamp) if stamp else None
                    if pid is None:  # reported by the mapping; never emitted, never moves the cursor
                        fresh.append(row)
                        continue
                    if self.live is not None and row.get("is_deleted") is not True:
                        self.live.add([row])
                    resumed = updated is not None and updated == mark.after_time and pid in mark.after_ids
                    overlap = updated is not None and mark.already_read(PERSONS, pid, updated) \
                        and not self.history.is_triggered(pid)
                    if resumed or overlap:  # emitted before a resume, or unchanged in the previous overlap
                        if tail_from and updated is not None and updated >= tail_from:  # still in this window's
                            self.seen_tail.add((PERSONS, pid, updated))  # tail: the next must skip it as well
                        continue
                    emitted.append(pid)
                    if updated is not None:
                        after_ids = after_ids | {pid} if updated == after_time else {pid}
                        after_time = updated
                        if tail_from and updated >= tail_from:
                            self.seen_tail.add((PERSONS, pid, updated))
                    if row.get("is_deleted") is True:
                        batch.deleted.append(str(pid))
                    else:
                        fresh.append(row)
                self.history.emit(emitted)
                batch.contacts = self._contacts(fresh, batch.problems)
                if not paginator.done:
                    yield batch, mark.moved(after_time=after_time, after_ids=tuple(sorted(after_ids)))
                    continue
                mark = mark.moved(phase=PHASE_TRIGGERED, after_time=None, after_ids=(), after_id=0)
                final = not self.history.pending(mark.after_id, 1)
                yield batch, (self.finish(mark, self.seen_tail) if final else mark)
                if final:
                    return
        yield from self._triggered(mark)

    def _batch(self) -> Batch:
        batch = Batch(problems=self.pending_problems)
        self.pending_problems = []
        return batch

    def _triggered(self, mark: Window) -> Iterator[tuple[Batch, Window]]:
        """Persons touched only by a deal or activity change, by id, a page at a time; the persons stream of
        this window carried the others (after a resume, `_in_window` tells them apart)."""
        per_page = max(self.settings.page_size // self.settings.ids_per_call, 1) * self.settings.ids_per_call
        pending = self.history.pending(mark.after_id, per_page)
        if not pending:
            yield self._batch(), self.finish(mark, self.seen_tail)
            return
        include = ",".join(INCLUDE_FIELDS)
        while pending:
            batch = self._batch()
            for found in self.by_ids("/api/v2/persons", pending, "contacts", include_fields=include):
                rows = [row for row in found if not _in_window(row, mark)]
                batch.contacts.extend(self._contacts(rows, batch.problems))
            following = self.history.pending(pending[-1], per_page)
            yield batch, (mark.moved(after_id=pending[-1]) if following else self.finish(mark, self.seen_tail))
            pending = following

    def _persons_page(self, mark: Window, api_cursor: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "sort_by": "update_time",
            "sort_direction": "asc",
            "limit": self.settings.page_size,
            "include_fields": ",".join(INCLUDE_FIELDS),
            "updated_until": mark.until,
        }
        since = mark.after_time or mark.since
        if since:
            params["updated_since"] = since
        if api_cursor:
            params["cursor"] = api_cursor
        return self.client.get("/api/v2/persons", params, category="contacts", cost=COST_V2_LIST)

    # -- the window's deals and activities -----------------------------------------------------------

    def _list_window(self, path: str, mark: Window, category: str, extra: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The window's rows, one API page at a time (never all of a full pull's raw rows at once)."""
        params = {"updated_until": mark.until, **extra, **({"updated_since": mark.since} if mark.since else {})}
        return self.iter_all(path, params, category)

    def _prefetch(self, mark: Window) -> None:
        """List the window's deals and activities once, each row mapped and put on disk as it comes."""
        tail_from = self.tail_start(mark)
        incremental = mark.since is not None
        self.complete = not incremental
        problems = self.pending_problems
        if self.complete and self.settings.resolve_organizations:
            # a full pull names every company: one 500-row list beats 100-id look-ups page after page
            names: list[dict[str, Any]] = []
            for org in self.iter_all("/api/v2/organizations", {}, "associations"):
                names.append(org)
                if len(names) >= self.settings.page_size:
                    self.org_names.put_many(organization_names(names, problems).items())
                    names = []
            self.org_names.put_many(organization_names(names, problems).items())
        deal_extra = {"status": "open,won,lost,deleted"} if incremental else {}
        for row in self._list_window("/api/v2/deals", mark, "deals", deal_extra):
            person = deal_person(row, problems)
            deal = to_deal(row, self.deal_context, problems)
            if person is not None and deal is not None:
                self.history.add_deal(person, deal)
            self._remember(DEALS, row, [person] if person is not None else [], mark, tail_from)
        for row in self._list_window("/api/v2/activities", mark, "activities", {}):
            people = sorted(activity_person_ids(row, problems))
            activity = to_activity(row, self.settings, problems)
            if activity is not None:
                for person in people:
                    self.history.add_activity(person, activity)
            self._remember(ACTIVITIES, row, people, mark, tail_from)
        self.history.flush()

    def _remember(self, stream: str, row: dict[str, Any], people: list[int], mark: Window,
                  tail_from: str | None) -> None:
        """Mark a listed deal's or activity's persons changed, unless the previous window's tail already
        emitted this very change; remember the changes of this window's tail for the next window."""
        record = pipedrive_id(row.get("id"))
        if record is None or not people:
            return
        stamp = parse_time(row.get("update_time"))
        updated = format_rfc3339(stamp) if stamp else None
        if updated is None or not mark.already_read(stream, record, updated):
            self.history.trigger(people)
        if tail_from and updated is not None and updated >= tail_from:
            self.seen_tail.add((stream, record, updated))

    # -- persons -------------------------------------------------------------------------------------

    def _contacts(self, rows: Rows, problems: list[RecordProblem]) -> list[Contact]:
        """Rows to contacts with their window's deals and activities (read from disk for these rows only);
        organization names resolved first in `ids=` batches, for the organizations not known yet."""
        if not rows:
            return []
        org_names = self._organizations(rows, problems) if self.settings.resolve_organizations else {}
        pids = [pid for row in rows if (pid := pipedrive_id(row.get("id"))) is not None]
        deals, activities = self.history.related(pids)
        if self.settings.complete_history and not self.complete:
            for row in rows:
                self._complete_history(row, deals, activities, problems)
        contacts = []
        for row in rows:
            pid = pipedrive_id(row.get("id")) or 0
            contact = to_contact(row, catalog=self.catalog, settings=self.settings, account=self.account,
                                 deals=deals.get(pid, ()), activities=activities.get(pid, ()), org_names=org_names,
                                 problems=problems)
            if contact is not None:
                contacts.append(contact)
        return contacts

    def _organizations(self, rows: Rows, problems: list[RecordProblem]) -> dict[int, str]:
        """The names of the rows' organizations: from what the connector already knows, else by `ids=`."""
        wanted = sorted({org for row in rows if (org := pipedrive_id(row.get("org_id"))) is not None})
        known = self.org_names.get_many(wanted)
        missing = [org_id for org_id in wanted if org_id not in known]
        for found in self.by_ids("/api/v2/organizations", missing, "associations"):
            names = organization_names(found, problems)
            self.org_names.put_many(names.items())
            known.update(names)
        return known

    def _complete_history(self, row: dict[str, Any], deals: dict[int, list[Deal]],
                          activities: dict[int, list[Activity]], problems: list[RecordProblem]) -> None:
        """All of a person's deals and activities when its counters say the window carries fewer."""
        pid = pipedrive_id(row.get("id"))
        if pid is None:
            return
        count = sum(pipedrive_id(row.get(counter)) or 0 for counter in ("won_deals_count", "open_deals_count",
                                                                         "lost_deals_count"))
        if count > len(deals.get(pid, ())):
            listed = self.iter_all("/api/v2/deals", {"person_id": pid, "status": "open,won,lost"}, "deals")
            deals[pid] = [deal for found in listed if (deal := to_deal(found, self.deal_context, problems))]
        if (pipedrive_id(row.get("activities_count")) or 0) > len(activities.get(pid, ())):
            known = {activity.id: activity for activity in activities.get(pid, ())}
            for listed_row in self.iter_all("/api/v2/activities", {"person_id": pid}, "activities"):
                activity = to_activity(listed_row, self.settings, problems)
                if activity is not None:
                    known[activity.id] = activity
            activities[pid] = list(known.values())


def _in_window(row: dict[str, Any], mark: Window) -> bool:
    """True when the persons stream of this window carries the row (so the `ids=` look-up skips it)."""
    updated, since, until = parse_time(row.get("update_time")), parse_time(mark.since), parse_time(mark.until)
    return updated is not None and until is not None and (since is None or since <= updated) and updated < until


__all__ = ["Batch", "WindowPull"]
