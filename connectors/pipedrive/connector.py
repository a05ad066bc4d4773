"""`PipedriveConnector`: one Pipedrive company account behind `sync.contract.Connector`.

Pull, in the fewest calls the API allows (⌈N/500⌉ for N changed persons):
1. Every deal and activity changed in the window `[since, until)` is listed once (500 a page, `updated_since`
   / `updated_until`, deleted deals included on incremental pulls) and joined locally by person id and
   activity participants. A person whose deal or activity changed is part of the changes too.
2. The persons changed in the window stream by `update_time` ascending (500 a page, `include_fields` for
   the deal and activity counters); each page is one `PullPage` with its deals and activities attached.
3. Persons touched only through a deal or activity are then fetched by `ids=` (100 a call).
`until` is the pull's start, so nothing written during the pull is skipped; the next window starts
`overlap_s` before it and skips the (id, update_time) pairs already emitted, so clock skew cannot lose a
change and ties at the boundary are neither lost nor emitted twice. Each page's cursor resumes inside the
window: a crash re-reads at most one page.

Memory does not grow with the account: the window's deals and activities wait on disk (`history.py`) and
each page of persons takes only its own; the organization names and the label ids a push needs are kept on
disk too (`sync.spill`), for the connector's life, so they cost no call twice.

Deletions: deals deleted in the last 30 days are listed with `status=deleted` and drop out of their
person's deals; a person row that says `is_deleted` is reported in `deleted_ids`. Pipedrive's list API
does not list deleted or merged-away persons, and a merge is visible only in webhooks (`merged_to_id`):
a merged-away person simply stops appearing, and its deals and activities move to the survivor, which is
pulled again because they changed. On an incremental pull a contact carries the deals and activities that
changed in the window; the counters in `fields` (won_deals_count, done_activities_count...) are totals.

Push (`push.py`): Pipedrive has no batch update, so one `PATCH /api/v2/persons/{id}` per person with only
the changed custom fields (and `label_ids` when the maturity label moves), paced to the burst window and
daily token budget. Nothing to write means no call at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any

import structlog

from connectors.pipedrive.client import (
    COST_V2_LIST,
    COST_V2_STAGES,
    PipedriveClient,
)
from connectors.pipedrive.fields import PersonFields
from connectors.pipedrive.history import WindowHistory
from connectors.pipedrive.mapping import (
    INCLUDE_FIELDS,
    FieldCatalog,
    activity_person_ids,
    default_stage_map,
    format_rfc3339,
    parse_time,
    to_activity,
    to_contact,
    to_deal,
)
from connectors.pipedrive.push import PersonWriter, labels_text
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
from connectors.pipedrive.settings import PipedriveSettings
from sync.clock import Clock, SystemClock
from sync.contract import (
    FieldSetupReport,
    FieldUpdate,
    PullPage,
    PushResult,
)
from sync.model import Activity, Contact, Deal, PipelineStage
from sync.spill import ScratchMap, chunks
from sync.toolkit.connector import ConnectorBase

CRM = "pipedrive"
log = structlog.get_logger("crmsync.pipedrive")


class _Window:
    """What the prefetch of one window found: changed deals and activities per person and who they touch
    (on disk, see `history.py`), and the changes in the overlap tail (few: the last `overlap_s` seconds)."""

    def __init__(self) -> None:
        self.history = WindowHistory()
        self.seen_tail: set[Seen] = set()
        self.complete = False  # a full pull: every deal and activity is in the window

    def close(self) -> None:
        self.history.close()


class PipedriveConnector(ConnectorBase):
    """One Pipedrive company account. Raises only `sync.errors` types."""

    crm = CRM
    client: PipedriveClient
    settings: PipedriveSettings

    def __init__(
        self,
        settings: PipedriveSettings,
        *,
        account: str = "default",
        clock: Clock = SystemClock(),  # noqa: B008 - the constructor signature every connector shares
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(PipedriveClient(settings, clock=clock, sleep=sleep), settings=settings,
                         account=account, clock=clock)
        self._fields = PersonFields(self.client, settings)
        self._stage_map: dict[int, PipelineStage] | None = None
        self._stage_names: dict[int, str] = {}
        # kept on disk for the connector's life (one row per organization / person): what a dict would
        # hold for every person the account has
        self._org_names: ScratchMap[int, str] = ScratchMap(self._scratch, "org_names")
        self._labels: ScratchMap[int, str] = ScratchMap(self._scratch, "labels")  # label ids, as last pulled

    # -- setup -----------------------------------------------------------------------------------------

    def field_catalog(self, *, refresh: bool = False) -> FieldCatalog:
        """Person fields, cached for the connector's life (see `PersonFields`)."""
        return self._fields.catalog(refresh=refresh)

    def ensure_fields(self) -> FieldSetupReport:
        """Find crmsync's person fields by name, create the missing ones (see `PersonFields.ensure`)."""
        return self._fields.ensure()

    def _stages(self) -> dict[int, PipelineStage]:
        if self._stage_map is None:
            rows = self._list_all("/api/v2/stages", {}, "setup", cost=COST_V2_STAGES)
            self._stage_names = {int(stage["id"]): str(stage.get("name") or stage["id"]) for stage in rows}
            self._stage_map = {**default_stage_map(rows), **self.settings.stage_map}
        return self._stage_map

    # -- pull ------------------------------------------------------------------------------------------

    def pull(self, cursor: str | None) -> Iterator[PullPage]:
        mark = Window.decode(cursor, overlap=self._overlap)
        if mark.phase is None:  # start the next window where the last one's overlap begins
            now = self._clock.now().replace(microsecond=0)
            mark = Window(since=mark.since, until=format_rfc3339(now), phase=PHASE_PERSONS, seen=mark.seen)
        calls_before = self.calls_made()
        catalog = self.field_catalog()
        stage_map = self._stages()
        window = _Window()
        try:
            self._prefetch(window, mark, stage_map)
            yield from self._pull_window(mark, window, catalog, calls_before)
        finally:
            window.close()  # the window's file goes, however the pull ends

    def _pull_window(
        self, mark: Window, window: _Window, catalog: FieldCatalog, calls_before: int
    ) -> Iterator[PullPage]:
        tail_from = self._tail_start(mark)

        def page(contacts: list[Contact], deleted: list[str], cursor_mark: Window) -> PullPage:
            nonlocal calls_before
            total = self.calls_made()
            made, calls_before = total - calls_before, total
            return PullPage(
                contacts=contacts,
                cursor=cursor_mark.encode(),
                deleted_ids=deleted,
                api_calls=made,
                related_complete=window.complete or self.settings.complete_history,
            )

        if mark.phase == PHASE_PERSONS:
            paginator = list_pages(lambda token: self._persons_page(mark, token), what="persons")
            after_time, after_ids = mark.after_time, set(mark.after_ids)
            for rows in paginator:
                fresh: list[dict[str, Any]] = []
                deleted: list[str] = []
                emitted: list[int] = []
                for row in rows:
                    pid, updated = int(row["id"]), str(row.get("update_time") or "")
                    resumed = updated == mark.after_time and pid in mark.after_ids
                    overlap = mark.already_read(PERSONS, pid, updated) and not window.history.is_triggered(pid)
                    if resumed or overlap:  # emitted before a resume, or unchanged in the previous overlap
                        if tail_from and updated >= tail_from:  # and still in this window's tail: the next
                            window.seen_tail.add((PERSONS, pid, updated))  # window must skip it as well
                        continue
                    emitted.append(pid)
                    after_ids = after_ids | {pid} if updated == after_time else {pid}
                    after_time = updated
                    if tail_from and updated >= tail_from:
                        window.seen_tail.add((PERSONS, pid, updated))
                    if row.get("is_deleted"):
                        deleted.append(str(pid))
                    else:
                        fresh.append(row)
                window.history.emit(emitted)
                contacts = self._contacts(fresh, catalog, window)
                if not paginator.done:
                    yield page(
                        contacts,
                        deleted,
                        mark.moved(after_time=after_time, after_ids=tuple(sorted(after_ids))),
                    )
                    continue
                mark = mark.moved(phase=PHASE_TRIGGERED, after_time=None, after_ids=(), after_id=0)
                final = not window.history.pending(mark.after_id, 1)
                yield page(contacts, deleted, self._finish(mark, window) if final else mark)
                if final:
                    return
        yield from self._triggered(mark, window, catalog, page)

    @property
    def _overlap(self) -> timedelta:
        return timedelta(seconds=self.settings.overlap_s)

    def _tail_start(self, mark: Window) -> str | None:
        until = parse_time(mark.until)
        return format_rfc3339(until - self._overlap) if until else None

    def _finish(self, mark: Window, window: _Window) -> Window:
        return mark.finished(window.seen_tail, self._overlap)

    def _triggered(
        self,
        mark: Window,
        window: _Window,
        catalog: FieldCatalog,
        page: Callable[[list[Contact], list[str], Window], PullPage],
    ) -> Iterator[PullPage]:
        """Persons touched only by a deal or activity change, by id, a page at a time; the persons stream of
        this window carried the others (after a resume, `_in_window` tells them apart)."""
        per_page = max(self.settings.page_size // self.settings.ids_per_call, 1) * self.settings.ids_per_call
        batch = window.history.pending(mark.after_id, per_page)
        if not batch:
            yield page([], [], self._finish(mark, window))
            return
        include = ",".join(INCLUDE_FIELDS)
        while batch:
            contacts: list[Contact] = []
            for found in self._by_ids("/api/v2/persons", batch, "contacts", include_fields=include):
                rows = [row for row in found if not self._in_window(row, mark)]
                contacts.extend(self._contacts(rows, catalog, window))
            following = window.history.pending(batch[-1], per_page)
            resume = mark.moved(after_id=batch[-1]) if following else self._finish(mark, window)
            yield page(contacts, [], resume)
            batch = following

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

    def _list_window(
        self, path: str, mark: Window, category: str, extra: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """The window's rows, one API page at a time: a full pull lists every deal and activity of the
        account, and holding all their raw rows at once (before mapping them) is what made the connector's
        memory grow with the account (about 9 KB per person)."""
        params = {
            "updated_until": mark.until,
            **extra,
            **({"updated_since": mark.since} if mark.since else {}),
        }
        return self._iter_all(path, params, category)

    def _prefetch(self, window: _Window, mark: Window, stage_map: dict[int, PipelineStage]) -> None:
        """List the window's deals and activities once, each row mapped and put on disk as it comes."""
        tail_from = self._tail_start(mark)
        incremental = mark.since is not None
        window.complete = not incremental
        history = window.history
        if window.complete and self.settings.resolve_organizations:
            # a full pull names every company: one 500-row list beats 100-id look-ups page after page
            names: list[tuple[int, str]] = []
            for org in self._iter_all("/api/v2/organizations", {}, "associations"):
                names.append((int(org["id"]), str(org.get("name") or "")))
                if len(names) >= self.settings.page_size:
                    self._org_names.put_many(names)
                    names = []
            self._org_names.put_many(names)
        deal_extra = {"status": "open,won,lost,deleted"} if incremental else {}
        for row in self._list_window("/api/v2/deals", mark, "deals", deal_extra):
            person = row.get("person_id")
            updated = str(row.get("update_time") or "")
            if person is None:
                continue
            deal = to_deal(row, stage_map, self._stage_names)
            if deal is not None:
                history.add_deal(int(person), deal)
            if not mark.already_read(DEALS, int(row["id"]), updated):
                history.trigger([int(person)])
            if tail_from and updated >= tail_from:  # seen now or by the previous window: skipped by the next
                window.seen_tail.add((DEALS, int(row["id"]), updated))
        for row in self._list_window("/api/v2/activities", mark, "activities", {}):
            people = activity_person_ids(row)
            updated = str(row.get("update_time") or "")
            activity = to_activity(row, self.settings)
            if activity is not None:
                for person in people:
                    history.add_activity(person, activity)
            if not mark.already_read(ACTIVITIES, int(row["id"]), updated):
                history.trigger(people)
            if tail_from and updated >= tail_from:
                window.seen_tail.add((ACTIVITIES, int(row["id"]), updated))
        history.flush()

    @staticmethod
    def _in_window(row: dict[str, Any], mark: Window) -> bool:
        """True when the persons stream of this window carries the row (so the `ids=` look-up skips it)."""
        updated, since, until = (
            parse_time(row.get("update_time")),
            parse_time(mark.since),
            parse_time(mark.until),
        )
        return (
            updated is not None
            and until is not None
            and (since is None or since <= updated)
            and updated < until
        )

    def _contacts(self, rows: list[dict[str, Any]], catalog: FieldCatalog, window: _Window) -> list[Contact]:
        """Rows to contacts with their window's deals and activities (read from disk for these rows only);
        organization names resolved first in `ids=` batches, for the organizations not known yet."""
        if not rows:
            return []
        org_names = self._organizations(rows) if self.settings.resolve_organizations else {}
        pids = [int(row["id"]) for row in rows]
        deals, activities = window.history.related(pids)
        if self.settings.complete_history and not window.complete:
            for row in rows:
                self._complete_history(row, deals, activities)
        self._labels.put_many((pid, labels_text(row.get("label_ids"))) for pid, row in zip(pids, rows))
        return [
            to_contact(
                row,
                catalog=catalog,
                settings=self.settings,
                account=self.account,
                deals=deals.get(pid, ()),
                activities=activities.get(pid, ()),
                org_names=org_names,
            )
            for pid, row in zip(pids, rows)
        ]

    def _organizations(self, rows: list[dict[str, Any]]) -> dict[int, str]:
        """The names of the rows' organizations: from what the connector already knows, else by `ids=`."""
        wanted = sorted({int(row["org_id"]) for row in rows if row.get("org_id") is not None})
        known = self._org_names.get_many(wanted)
        missing = [org_id for org_id in wanted if org_id not in known]
        for found in self._by_ids("/api/v2/organizations", missing, "associations"):
            names = {int(org["id"]): str(org.get("name") or "") for org in found}
            self._org_names.put_many(names.items())
            known.update(names)
        return known

    def _complete_history(
        self, row: dict[str, Any], deals: dict[int, list[Deal]], activities: dict[int, list[Activity]]
    ) -> None:
        """All of a person's deals and activities when its counters say the window carries fewer."""
        pid = int(row["id"])
        count = sum(int(row.get(counter) or 0) for counter in ("won_deals_count", "open_deals_count",
                                                               "lost_deals_count"))
        if count > len(deals.get(pid, ())):
            listed = self._list_all("/api/v2/deals", {"person_id": pid, "status": "open,won,lost"}, "deals")
            found = (to_deal(row, self._stages(), self._stage_names) for row in listed)
            deals[pid] = [deal for deal in found if deal is not None]
        if int(row.get("activities_count") or 0) > len(activities.get(pid, ())):
            known = {activity.id: activity for activity in activities.get(pid, ())}
            for listed_row in self._list_all("/api/v2/activities", {"person_id": pid}, "activities"):
                activity = to_activity(listed_row, self.settings)
                if activity is not None:
                    known[activity.id] = activity
            activities[pid] = list(known.values())

    def _list_all(
        self, path: str, params: dict[str, Any], category: str, *, cost: int = COST_V2_LIST
    ) -> list[dict[str, Any]]:
        return list(self._iter_all(path, params, category, cost=cost))

    def _iter_all(
        self, path: str, params: dict[str, Any], category: str, *, cost: int = COST_V2_LIST
    ) -> Iterator[dict[str, Any]]:
        base = {"limit": self.settings.page_size, **params}
        for page in list_pages(
            lambda cursor: self.client.get(
                path, {**base, **({"cursor": cursor} if cursor else {})}, category=category, cost=cost
            ),
            what=path,
        ):
            yield from page

    def _by_ids(
        self, path: str, ids: list[int], category: str, **extra: str
    ) -> Iterator[list[dict[str, Any]]]:
        """`ids=` look-ups, 100 ids a call; yields each call's rows."""
        for chunk in chunks(ids, self.settings.ids_per_call):
            params = {"ids": ",".join(map(str, chunk)), **extra}
            yield self.client.get(path, params, category=category, cost=COST_V2_LIST).get("data") or []

    # -- push ------------------------------------------------------------------------------------------

    def push(self, updates: Sequence[FieldUpdate]) -> list[PushResult]:
        """One PATCH per person that has something to write (see `PersonWriter`)."""
        return PersonWriter(self.client, self.settings, self._labels, self._by_ids).push(updates,
                                                                                         self.field_catalog)


__all__ = ["PipedriveConnector"]
