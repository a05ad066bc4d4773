"""`PipedriveConnector`: one Pipedrive company account behind `sync.contract.Connector`.

Pull (`pull.py`): one window `[since, until)` at a time, in ⌈N/500⌉ calls for N changed persons, plus the
window's deals and activities listed once and joined locally. `until` is the pull's start, so nothing
written during the pull is skipped; the next window starts `overlap_s` before it and skips the (id,
update_time) pairs already emitted, so clock skew cannot lose a change and ties at the boundary are neither
lost nor emitted twice. Each page's cursor resumes inside the window: a crash re-reads at most one page. A
record that cannot be read is reported in its page's `problems` and the page and the cursor go on.

Memory does not grow with the account: the window's deals and activities wait on disk (`history.py`), and
the organization names are kept on disk for the connector's life (`sync.spill`), so they cost no call twice.

Deletions: deals deleted in the last 30 days are listed with `status=deleted` and drop out of their person's
deals; a person row that says `is_deleted` is reported in `deleted_ids`. Pipedrive's lists show no deleted or
merged-away person, so the connector compares, once a day, the ids Pipedrive still has with the ids the
engine manages (`reconcile.py`, `ReconcilesDeletions`), and a push that meets a 404 or 410 reports the
person `gone` at once.

Push (`push.py`): Pipedrive has no batch update, so one `PATCH /api/v2/persons/{id}` per person with only the
changed custom fields (and `label_ids` when the maturity label moves and its ownership lets crmsync move it),
paced to the burst window and daily token budget. Nothing to write means no call at all.

Accounting: every request, setup (person fields, stages, deal fields), token refreshes and health probes
included, is counted in `api_calls` by category; each page reports the calls made since the previous page
(so calls made between two pulls, such as `ensure_fields`, are not lost to the pages' sum).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any

import structlog

from connectors.pipedrive.client import COST_V2_LIST, COST_V2_STAGES, PipedriveClient
from connectors.pipedrive.fields import DealFieldReader, FieldCatalog, PersonFields
from connectors.pipedrive.mapping import (
    DealContext,
    default_stage_map,
    format_rfc3339,
    parse_time,
    pipedrive_id,
)
from connectors.pipedrive.paging import PHASE_PERSONS, PHASE_RECONCILE, Seen, Window, list_pages
from connectors.pipedrive.pull import Batch, WindowPull
from connectors.pipedrive.push import PersonWriter
from connectors.pipedrive.tasks import TaskWriter
from connectors.pipedrive.reconcile import LiveIds, deleted_chunks, list_live
from connectors.pipedrive.settings import PipedriveSettings
from connectors.pipedrive.setup_warnings import SetupWarnings
from sync.clock import Clock, SystemClock
from sync.contract import FieldSetupReport, FieldUpdate, ManagedIds, PullPage, PushResult, SetupWarning
from sync.model import PipelineStage
from sync.spill import ScratchMap, chunks
from sync.toolkit.connector import ConnectorBase
from sync.toolkit.tasks import DelegatesTasks

CRM = "pipedrive"
log = structlog.get_logger("crmsync.pipedrive")


class PipedriveConnector(DelegatesTasks, ConnectorBase):
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
        self._warnings = SetupWarnings(CRM, account)
        self._fields = PersonFields(self.client, settings, self._warnings)
        self._recurring = DealFieldReader(self.client, settings, self._warnings)
        self._stage_map: dict[int, PipelineStage] | None = None
        self._stage_names: dict[int, str] = {}
        # kept on disk for the connector's life (one row per organization): what a dict would hold for every
        # organization the account has
        self._org_names: ScratchMap[int, str] = ScratchMap(self._scratch, "org_names")
        self._managed: ManagedIds | None = None
        self._reported = 0  # calls already reported by a page
        self.task_writer = TaskWriter(self.client, self._iter_all)  # SLA reminders: `DelegatesTasks`

    # -- setup -----------------------------------------------------------------------------------------

    @property
    def setup_warnings(self) -> list[SetupWarning]:
        """Setup problems that switch a feature off while the account syncs (a maturity label missing, a
        field the plan refused...), for `crmsync status`; each was logged once as a warning."""
        return self._warnings.warnings

    def field_catalog(self, *, refresh: bool = False) -> FieldCatalog:
        """Person fields, cached for the connector's life (see `PersonFields`)."""
        return self._fields.catalog(refresh=refresh)

    def ensure_fields(self) -> FieldSetupReport:
        """Find crmsync's person fields by name, create the missing ones (see `PersonFields.ensure`)."""
        return self._fields.ensure()

    def use_managed_ids(self, managed: ManagedIds) -> None:
        """The engine's ids, for the daily comparison with the ids Pipedrive still has (`reconcile`)."""
        self._managed = managed

    def _deal_context(self) -> DealContext:
        if self._stage_map is None:
            rows = self._list_all("/api/v2/stages", {}, "setup", cost=COST_V2_STAGES)
            self._stage_names = {stage: str(row.get("name") or stage) for row in rows
                                 if (stage := pipedrive_id(row.get("id"))) is not None}
            self._stage_map = {**default_stage_map(rows), **self.settings.stage_map}
            self._recurring.resolve()
        return DealContext(self._stage_map, self._stage_names, self._recurring)

    # -- pull ------------------------------------------------------------------------------------------

    def pull(self, cursor: str | None) -> Iterator[PullPage]:
        mark = Window.decode(cursor, overlap=self._overlap)
        if mark.phase == PHASE_RECONCILE:  # a comparison cut short: the window before it was read already
            yield from self._reconcile(mark, None)
            return
        fresh_start = mark.phase is None
        if fresh_start:  # start the next window where the last one's overlap begins
            now = self._clock.now().replace(microsecond=0)
            mark = Window(since=mark.since, until=format_rfc3339(now), phase=PHASE_PERSONS, seen=mark.seen,
                          reconciled=mark.reconciled)
        compares = self._managed is not None and self.settings.reconcile_every_h > 0
        live = LiveIds() if fresh_start and mark.since is None and compares else None
        reading = WindowPull(client=self.client, settings=self.settings, account=self.account,
                             catalog=self.field_catalog(), deals=self._deal_context(), org_names=self._org_names,
                             iter_all=self._iter_all, by_ids=self._by_ids, finish=self._finisher(live), live=live)
        finished: Window | None = None
        try:
            for batch, resume in reading.pages(mark):
                finished = resume if resume.phase == PHASE_RECONCILE else None
                yield self._page(batch, resume, complete=reading.complete)
        finally:
            reading.close()  # the window's file goes, however the pull ends
        if finished is not None:
            yield from self._reconcile(finished, live)
        elif live is not None:
            live.close()

    @property
    def _overlap(self) -> timedelta:
        return timedelta(seconds=self.settings.overlap_s)

    def _finisher(self, live: LiveIds | None) -> Callable[[Window, set[Seen]], Window]:
        """How a window ends: the next starts `overlap` before its end; the ids are compared first when due
        (a full pull from the start compares with what it read, for no call)."""

        def finish(mark: Window, tail: set[Seen]) -> Window:
            done = mark.finished(tail, self._overlap)
            return done.moved(phase=PHASE_RECONCILE, until=mark.until) if self._reconcile_due(mark, live) else done

        return finish

    def _reconcile_due(self, mark: Window, live: LiveIds | None) -> bool:
        if self._managed is None or self.settings.reconcile_every_h <= 0:
            return False
        if live is not None:
            return True
        last = parse_time(mark.reconciled)
        return last is None or self._clock.now() - last >= timedelta(hours=self.settings.reconcile_every_h)

    def _reconcile(self, mark: Window, live: LiveIds | None) -> Iterator[PullPage]:
        """Report the engine's ids Pipedrive no longer has; the last page records when (see `reconcile`)."""
        done = mark.moved(phase=None, until=None, reconciled=mark.until or format_rfc3339(self._clock.now()))
        if self._managed is None:
            if live is not None:
                live.close()
            yield self._page(Batch(), mark.moved(phase=None, until=None), complete=False)
            return
        if live is None:
            live = list_live(self._live_pages)
        missing = deleted_chunks(live, self._managed)
        found = next(missing, None)
        if found is None:
            yield self._page(Batch(), done, complete=False)
            return
        while found is not None:  # a crash before the last page compares again: tombstoning twice is harmless
            following = next(missing, None)
            log.info("persons_gone", crm=CRM, account=self.account, count=len(found))
            yield self._page(Batch(deleted=found), done if following is None else mark, complete=False)
            found = following

    def _live_pages(self) -> Iterator[list[dict[str, Any]]]:
        """Every person Pipedrive has, by id, with the smallest answer the API offers (one custom field)."""
        params: dict[str, Any] = {"sort_by": "id", "limit": self.settings.page_size}
        smallest = next(iter(self.field_catalog().by_name.values()), None)
        if smallest is not None:
            params["custom_fields"] = smallest.key
        return iter(list_pages(lambda cursor: self.client.get(
            "/api/v2/persons", {**params, **({"cursor": cursor} if cursor else {})}, category="reconcile",
            cost=COST_V2_LIST), what="person ids"))

    def _page(self, batch: Batch, mark: Window, *, complete: bool) -> PullPage:
        total = self.calls_made()
        made, self._reported = total - self._reported, total
        return PullPage(contacts=batch.contacts, cursor=mark.encode(), deleted_ids=batch.deleted, api_calls=made,
                        related_complete=complete or self.settings.complete_history, problems=batch.problems)

    def _list_all(self, path: str, params: dict[str, Any], category: str, *, cost: int = COST_V2_LIST
                  ) -> list[dict[str, Any]]:
        return list(self._iter_all(path, params, category, cost=cost))

    def _iter_all(self, path: str, params: dict[str, Any], category: str, *, cost: int = COST_V2_LIST
                  ) -> Iterator[dict[str, Any]]:
        base = {"limit": self.settings.page_size, **params}
        for page in list_pages(
            lambda cursor: self.client.get(
                path, {**base, **({"cursor": cursor} if cursor else {})}, category=category, cost=cost
            ),
            what=path,
        ):
            yield from (row for row in page if isinstance(row, dict))

    def _by_ids(self, path: str, ids: list[int], category: str, **extra: str) -> Iterator[list[dict[str, Any]]]:
        """`ids=` look-ups, 100 ids a call; yields each call's rows."""
        for chunk in chunks(ids, self.settings.ids_per_call):
            params = {"ids": ",".join(map(str, chunk)), **extra}
            rows = self.client.get(path, params, category=category, cost=COST_V2_LIST).get("data") or []
            yield [row for row in rows if isinstance(row, dict)]

    # -- push ------------------------------------------------------------------------------------------

    def push(self, updates: Sequence[FieldUpdate]) -> list[PushResult]:
        """One PATCH per person that has something to write (see `PersonWriter`)."""
        return PersonWriter(self.client, self.settings, self._fields, self._by_ids, self.account).push(updates)


__all__ = ["PipedriveConnector"]
