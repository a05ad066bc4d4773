"""`HubSpotConnector`: one HubSpot account behind `sync.contract.Connector`.

Pull. A full pull (no cursor) lists contacts (`GET /crm/v3/objects/contacts`, 100 a page) with their deal
and engagement ids inline (`associations=`): for a whole account that is cheaper than searching (200 a
page) and then reading six association types in batches, since 10,000 contacts cost 100 list calls
against 50 searches + 60 association reads. An incremental pull searches by `lastmodifieddate` (see
`paging.py` for the keyset paging that never meets the 10,000-result cap) and reads associations in v4
batches of up to 1,000 contacts. Either way contacts are enriched in chunks of `pull_chunk_size`
(1,000): one association read per type per chunk, deals and engagements in batch reads of 100, so a
chunk costs ⌈ids/100⌉ per object type. Each chunk is one `PullPage`; its cursor resumes after it.

Deletions: search never returns archived contacts, so at most every `archived_sweep_interval_s` (1 h by
default) a pull lists `?archived=true` (HubSpot keeps them 90 days) and reports those archived since the
last sweep; merges come from `hs_merged_object_ids` on the surviving contact.

Memory does not grow with the account: the lifecycle stage last pulled for each contact (what a push plans a
backward move from) is kept on disk (`sync.spill`), not in a dict of every contact.

Push: `POST /crm/v3/objects/contacts/batch/update`, 100 inputs a call, only values that changed. A 207
reports failed ids in `errors[].context.ids`: those records fail, the rest are done and nothing is resent.
A 400 rejects the whole batch without naming the culprit: the batch is split in halves until the bad
records are isolated, so no batch is ever resent whole. Lifecycle moves follow `mapping.to_write`; a
backward move HubSpot ignored is detected by reading the answer back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from typing import Any

import hubspot.crm.associations.v4 as assoc_sdk
import hubspot.crm.contacts as contacts_sdk
import hubspot.crm.objects as objects_sdk
import hubspot.crm.properties as properties_sdk

from connectors.hubspot import mapping
from connectors.hubspot.client import HubSpotClient, HubSpotRejected
from connectors.hubspot.fields import ContactProperties
from connectors.hubspot.paging import (
    ARCHIVED,
    CONTACTS,
    CRM,
    KeysetSearch,
    Row,
    SearchQuery,
    legacy_cursor,
)
from connectors.hubspot.settings import HubSpotSettings
from sync.clock import Clock, SystemClock
from sync.contract import FieldSetupReport, FieldUpdate, PullPage, PushResult
from sync.errors import RecordError
from sync.model import Activity, Contact, Deal, DealStatus
from sync.spill import ScratchMap
from sync.toolkit.connector import ConnectorBase
from sync.toolkit.cursor import Cursor, Watermark, from_epoch_ms, to_epoch_ms
from sync.toolkit.paging import PagingLoop, TokenPaginator

_CONTACTS_CFG = contacts_sdk.Configuration()
_OBJECTS_CFG = objects_sdk.Configuration()
_ASSOC_CFG = assoc_sdk.Configuration()
_PROPS_CFG = properties_sdk.Configuration()


class HubSpotConnector(ConnectorBase):
    """One HubSpot account. Raises only `sync.errors` types; `api_calls` counts requests per category."""

    crm = CRM
    client: HubSpotClient
    settings: HubSpotSettings

    def __init__(self, settings: HubSpotSettings, *, account: str = "default", clock: Clock = SystemClock(),
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(HubSpotClient(settings, clock=clock, sleep=sleep), settings=settings, account=account,
                         clock=clock)
        self._types: dict[str, str] | None = None
        self._schema_at = 0.0
        self._lifecycle = mapping.Lifecycle()
        self._outcomes: dict[str, DealStatus] | None = None
        self._outcomes_at = 0.0
        # contact id -> lifecyclestage as last pulled, for every contact of the account: on disk
        self._lifecycle_seen: ScratchMap[str, str] = ScratchMap(self._scratch, "lifecycle_seen")

    # -- pull ------------------------------------------------------------------------------------------

    def pull(self, cursor: str | None) -> Iterator[PullPage]:
        started = mapping.epoch_ms(self._clock.now())
        start = Cursor.decode(cursor, crm=CRM, legacy=legacy_cursor) if cursor else None
        if start is None or "list_after" in start.position:
            last = yield from self._full_pull(start, started)
        else:
            last = yield from self._incremental_pull(start, started)
        yield from self._archived_sweep(last, started)

    def _full_pull(self, start: Cursor | None, started: int) -> Generator[PullPage, None, Cursor]:
        """The whole account through the list endpoint; the contacts modified within the overlap before the
        pull started are remembered, so the next (incremental) pull does not emit them again."""
        horizon = started - int(self.settings.search_overlap_s * 1000)
        cursor = start.copy() if start else Cursor({CONTACTS: Watermark(from_epoch_ms(horizon))})
        mark = cursor.mark(CONTACTS)
        properties = mapping.contact_properties(self.settings)
        associations = ["deals", *self.settings.engagement_types]

        def fetch(after: str | None) -> dict[str, Any]:
            return self.client.list_contacts(limit=self.settings.list_page_size, after=after,
                                              properties=properties, associations=associations)

        buffer: list[dict[str, Any]] = []
        calls = self.calls_made()
        pages = TokenPaginator(fetch, crm=CRM, what="contact list", find=_next_after, items_key="results",
                               start=cursor.position.get("list_after"))
        for records in pages:
            buffer.extend(records)
            for record in records:
                mark.remember(str(record["id"]), from_epoch_ms(_modified(record)))
            if len(buffer) >= self.settings.pull_chunk_size or pages.done:
                cursor.position = {"list_after": pages.token} if pages.token else {}
                yield self._page(buffer, cursor, inline=True, calls_before=calls)
                buffer, calls = [], self.calls_made()
        return cursor

    def _incremental_pull(self, start: Cursor, started: int) -> Generator[PullPage, None, Cursor]:
        properties = mapping.contact_properties(self.settings)
        search = KeysetSearch(fetch=lambda query: self._search(query, properties), start=start, until=started,
                              page_size=self.settings.search_page_size,
                              overlap_ms=int(self.settings.search_overlap_s * 1000))
        buffer: list[dict[str, Any]] = []
        cursor, yielded = start, None
        calls = self.calls_made()
        for rows, cursor in search:
            buffer.extend(row.record for row in rows)
            if len(buffer) >= self.settings.pull_chunk_size:
                yield self._page(buffer, cursor, inline=False, calls_before=calls)
                buffer, yielded, calls = [], cursor, self.calls_made()
        if buffer or yielded != cursor:
            yield self._page(buffer, cursor, inline=False, calls_before=calls)
        return cursor

    def _search(self, query: SearchQuery, properties: list[str]) -> list[Row]:
        if query.ties:
            filters = [contacts_sdk.Filter(property_name="lastmodifieddate", operator="EQ", value=str(query.since),
                                           local_vars_configuration=_CONTACTS_CFG),
                       contacts_sdk.Filter(property_name="hs_object_id", operator="GT", value=str(query.tie_after),
                                           local_vars_configuration=_CONTACTS_CFG)]
            sort = "hs_object_id"
        else:
            filters = [contacts_sdk.Filter(property_name="lastmodifieddate", operator="GTE" if query.inclusive
                                           else "GT", value=str(query.since), local_vars_configuration=_CONTACTS_CFG),
                       contacts_sdk.Filter(property_name="lastmodifieddate", operator="LTE", value=str(query.until),
                                           local_vars_configuration=_CONTACTS_CFG)]
            sort = "lastmodifieddate"
        # the official spec types `sorts` as strings: "name" sorts ascending, "-name" descending
        request = contacts_sdk.PublicObjectSearchRequest(
            filter_groups=[contacts_sdk.FilterGroup(filters=filters, local_vars_configuration=_CONTACTS_CFG)],
            sorts=[sort], properties=properties, limit=self.settings.search_page_size, after="0",
            local_vars_configuration=_CONTACTS_CFG)
        data = self.client.search_contacts(request)
        return [Row(id=str(result["id"]), modified=_modified(result), record=result)
                for result in data.get("results") or []]

    def _page(self, records: list[dict[str, Any]], cursor: Cursor, *, inline: bool,
              calls_before: int) -> PullPage:
        contacts = self._enrich(records, inline=inline)
        merged: dict[str, str] = {}
        for record in records:
            for old in mapping.merged_ids(record.get("properties") or {}):
                merged[old] = str(record["id"])
        return PullPage(contacts=contacts, cursor=cursor.encode(), deleted_ids=sorted(merged),
                        merged_into=merged, api_calls=self.calls_made() - calls_before)

    def _archived_sweep(self, cursor: Cursor, started: int) -> Iterator[PullPage]:
        interval_ms = int(self.settings.archived_sweep_interval_s * 1000)
        swept = cursor.marks[ARCHIVED].at if ARCHIVED in cursor.marks else None
        checked = to_epoch_ms(swept) if swept is not None else None
        if checked is not None and started - checked < interval_ms:
            return
        floor = (checked or 0) - int(self.settings.search_overlap_s * 1000)
        calls = self.calls_made()

        def fetch(after: str | None) -> dict[str, Any]:
            return self.client.list_contacts(limit=self.settings.list_page_size, after=after,
                                              properties=["hs_object_id"], associations=[], archived=True)

        deleted = []
        for records in TokenPaginator(fetch, crm=CRM, what="archived contact list", find=_next_after,
                                      items_key="results"):
            for record in records:
                archived_at = mapping.parse_time(record.get("archivedAt"))
                if archived_at is None or mapping.epoch_ms(archived_at) >= floor:
                    deleted.append(str(record["id"]))
        final = cursor.copy()
        final.marks[ARCHIVED] = Watermark(from_epoch_ms(started))
        yield PullPage(contacts=[], cursor=final.encode(), deleted_ids=deleted, api_calls=self.calls_made() - calls)

    # -- enrichment ------------------------------------------------------------------------------------

    def _enrich(self, records: list[dict[str, Any]], *, inline: bool) -> list[Contact]:
        if not records:
            return []
        types = self._schema()
        ids = [str(record["id"]) for record in records]
        links: dict[str, dict[str, list[str]]] = {}
        for to_type in ("deals", *self.settings.engagement_types):
            links[to_type] = self._inline_links(records, to_type) if inline else {}
            missing = ids if not inline else [contact_id for contact_id, record in zip(ids, records)
                                              if _truncated(record, to_type)]
            if missing:
                links[to_type].update(self._read_links(to_type, missing))
        deals = self._read_deals(links["deals"])
        activities: dict[str, Activity] = {}
        for object_type in self.settings.engagement_types:
            activities.update(self._read_activities(object_type, links[object_type]))
        self._remember_lifecycle(records, ids)
        contacts = []
        for record, contact_id in zip(records, ids):
            contact_deals = [deals[deal_id] for deal_id in links["deals"].get(contact_id, []) if deal_id in deals]
            contact_activities = [activities[activity_id] for engagement_type in self.settings.engagement_types
                                  for activity_id in links[engagement_type].get(contact_id, [])
                                  if activity_id in activities]
            contacts.append(mapping.to_contact(record, settings=self.settings, types=types, account=self.account,
                                               deals=contact_deals, activities=contact_activities))
        return contacts

    @staticmethod
    def _inline_links(records: Sequence[Mapping[str, Any]], to_type: str) -> dict[str, list[str]]:
        links: dict[str, list[str]] = {}
        for record in records:
            found = ((record.get("associations") or {}).get(to_type) or {}).get("results") or []
            links[str(record["id"])] = list(dict.fromkeys(str(item["id"]) for item in found))
        return links

    def _read_links(self, to_type: str, contact_ids: list[str]) -> dict[str, list[str]]:
        """v4 batch association reads, 1,000 contacts a call, following each contact's own `after`."""
        links: dict[str, list[str]] = {cid: [] for cid in contact_ids}
        pending: list[tuple[str, str | None]] = [(cid, None) for cid in contact_ids]
        followed: set[tuple[str, str]] = set()
        size = self.settings.association_batch_size
        while pending:
            batch, pending = pending[:size], pending[size:]
            inputs = [assoc_sdk.PublicFetchAssociationsBatchRequest(id=cid, after=after,
                                                                    local_vars_configuration=_ASSOC_CFG)
                      for cid, after in batch]
            request = assoc_sdk.BatchInputPublicFetchAssociationsBatchRequest(inputs=inputs,
                                                                              local_vars_configuration=_ASSOC_CFG)
            data = self.client.read_associations(to_type, request).data or {}
            for result in data.get("results") or []:
                source = str((result.get("from") or {}).get("id"))
                links.setdefault(source, []).extend(str(target["toObjectId"]) for target in result.get("to") or [])
                after = _next_after(result)
                if after is not None:
                    if (source, after) in followed:
                        raise PagingLoop(CRM, "hubspot association read: the same page token came back twice")
                    followed.add((source, after))
                    pending.append((source, after))
            # errors[] here are NO_ASSOCIATIONS_FOUND for contacts without any: that is an empty list
        return {cid: list(dict.fromkeys(targets)) for cid, targets in links.items()}

    def _batch_read(self, category: str, object_type: str, ids: Sequence[str],
                    properties: list[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(ids))
        size = self.settings.object_batch_size
        for offset in range(0, len(unique), size):
            inputs = [objects_sdk.SimplePublicObjectId(id=object_id, local_vars_configuration=_OBJECTS_CFG)
                      for object_id in unique[offset:offset + size]]
            request = objects_sdk.BatchReadInputSimplePublicObjectId(
                inputs=inputs, properties=properties, properties_with_history=[],
                local_vars_configuration=_OBJECTS_CFG)
            data = self.client.batch_read(category, object_type, request).data or {}
            found.extend(data.get("results") or [])  # a 207 lists ids deleted meanwhile: they are simply gone
        return found

    def _read_deals(self, links: Mapping[str, list[str]]) -> dict[str, Deal]:
        ids = [deal_id for targets in links.values() for deal_id in targets]
        if not ids:
            return {}
        outcomes = self._deal_outcomes()
        records = self._batch_read("deals", "deals", ids, mapping.deal_properties(self.settings))
        return {str(record["id"]): mapping.to_deal(record, outcomes, self.settings) for record in records}

    def _read_activities(self, object_type: str, links: Mapping[str, list[str]]) -> dict[str, Activity]:
        ids = [activity_id for targets in links.values() for activity_id in targets]
        if not ids:
            return {}
        records = self._batch_read("activities", object_type, ids, mapping.engagement_properties(object_type))
        activities = (mapping.to_activity(object_type, record, self.settings) for record in records)
        return {activity.id: activity for activity in activities if activity is not None and activity.id is not None}

    def _deal_outcomes(self) -> dict[str, DealStatus]:
        now = time.monotonic()
        if self._outcomes is None or now - self._outcomes_at > self.settings.pipeline_cache_s:
            self._outcomes = mapping.stage_outcomes(self.client.deal_pipelines())
            self._outcomes_at = now
        return self._outcomes

    def _schema(self, *, refresh: bool = False) -> dict[str, str]:
        """Contact property types (and the lifecycle order), read once and cached."""
        now = time.monotonic()
        if refresh or self._types is None or now - self._schema_at > self.settings.pipeline_cache_s:
            definitions = self.client.contact_properties().get("results") or []
            self._types = {str(definition.get("name")): str(definition.get("type")) for definition in definitions}
            for definition in definitions:
                if definition.get("name") == mapping.LIFECYCLE and definition.get("options"):
                    options = sorted(definition["options"], key=lambda option: option.get("displayOrder", 0))
                    self._lifecycle = mapping.Lifecycle([str(option.get("value")) for option in options])
            self._schema_at = now
        return self._types

    def _remember_lifecycle(self, records: Sequence[Mapping[str, Any]], ids: Sequence[str]) -> None:
        """The lifecycle stage each contact has in HubSpot now: a push plans backward moves from it."""
        stages = [(record.get("properties") or {}).get(mapping.LIFECYCLE) for record in records]
        self._lifecycle_seen.put_many((contact_id, str(stage)) for contact_id, stage in zip(ids, stages)
                                      if stage is not None)
        self._lifecycle_seen.discard_many(contact_id for contact_id, stage in zip(ids, stages) if stage is None)

    # -- push ------------------------------------------------------------------------------------------

    def push(self, updates: Sequence[FieldUpdate]) -> list[PushResult]:
        types = {**(self._types or {}), **mapping.owned_property_types(self.settings)}
        plans: list[mapping.PlannedUpdate | RecordError] = []
        lifecycle_seen = self._lifecycle_seen.get_many(update.contact_id for update in updates)
        for update in updates:
            try:
                plans.append(mapping.to_write(update, settings=self.settings, types=types,
                                                 lifecycle=self._lifecycle,
                                                 current_lifecycle=lifecycle_seen.get(update.contact_id)))
            except ValueError:
                unknown = sorted(set(update.values) - {canonical.value for canonical in self.settings.field_properties})
                plans.append(RecordError(update.contact_id, "UNKNOWN_FIELD", f"not a canonical field: {unknown}"))
        failures = self._run_rounds([plan for plan in plans if isinstance(plan, mapping.PlannedUpdate)])
        results = []
        for plan in plans:
            if isinstance(plan, RecordError):
                results.append(PushResult(contact_id=plan.record_id, ok=False, error=plan))
            elif plan.contact_id in failures:
                results.append(PushResult(contact_id=plan.contact_id, ok=False, error=failures[plan.contact_id]))
            else:
                results.append(PushResult(contact_id=plan.contact_id, ok=True, written=plan.written))
        return results

    def _run_rounds(self, plans: list[mapping.PlannedUpdate]) -> dict[str, RecordError]:
        """Round k sends step k of every plan that has one; a failed record takes no further steps."""
        failures: dict[str, RecordError] = {}
        by_contact: dict[str, list[mapping.PlannedUpdate]] = {}
        for plan in plans:
            by_contact.setdefault(plan.contact_id, []).append(plan)
        step = 0
        while True:
            round_inputs: dict[str, dict[str, str]] = {}
            for contact_id, contact_plans in by_contact.items():
                if contact_id in failures:
                    continue
                for plan in contact_plans:  # the same contact twice: later values win, one input per batch
                    if step < len(plan.steps):
                        round_inputs.setdefault(contact_id, {}).update(plan.steps[step])
            if not round_inputs:
                return failures
            inputs = list(round_inputs.items())
            size = self.settings.push_batch_size
            for offset in range(0, len(inputs), size):
                stored, failed = self._update(inputs[offset:offset + size], by_contact)
                failures.update(failed)
                for contact_id, sent in inputs[offset:offset + size]:
                    if contact_id in stored:
                        self._read_back(sent, stored[contact_id], by_contact[contact_id])
            step += 1

    def _read_back(self, sent: Mapping[str, str], stored: Mapping[str, Any],
                   plans: list[mapping.PlannedUpdate]) -> None:
        """HubSpot silently keeps a later lifecycle stage: clear then set, or note it was skipped."""
        value = stored.get(mapping.LIFECYCLE)
        contact_id = plans[0].contact_id
        if value is not None:
            self._lifecycle_seen.put_many([(contact_id, str(value))])
        target = sent.get(mapping.LIFECYCLE)
        if not target or value is None or value == target:
            return
        plan = next(candidate for candidate in reversed(plans) if candidate.lifecycle_target == target)
        if self.settings.allow_backward_lifecycle and len(plan.steps) < 3:
            plan.steps.extend([{mapping.LIFECYCLE: ""}, {mapping.LIFECYCLE: target}])
        else:
            plan.lifecycle_skipped = True

    def _update(self, inputs: list[tuple[str, dict[str, str]]], plans: Mapping[str, list[mapping.PlannedUpdate]]
                ) -> tuple[dict[str, dict[str, Any]], dict[str, RecordError]]:
        """One batch update; on a whole-batch validation error, split it in halves to isolate the culprits."""
        request = contacts_sdk.BatchInputSimplePublicObjectBatchInput(inputs=[
            contacts_sdk.SimplePublicObjectBatchInput(id=cid, properties=props, local_vars_configuration=_CONTACTS_CFG)
            for cid, props in inputs], local_vars_configuration=_CONTACTS_CFG)
        try:
            data = self.client.update_contacts(request).data or {}
        except HubSpotRejected as exc:
            if len(inputs) > 1 and exc.category == "VALIDATION_ERROR" and "PROPERTY_DOESNT_EXIST" not in exc.codes:
                half = len(inputs) // 2
                first_ok, first_failed = self._update(inputs[:half], plans)
                second_ok, second_failed = self._update(inputs[half:], plans)
                return {**first_ok, **second_ok}, {**first_failed, **second_failed}
            return {}, {cid: self._record_error(cid, exc.codes[0] if exc.codes else exc.category or str(exc.status),
                                                exc.user_message, exc.property_names, plans)
                        for cid, _ in inputs}
        stored = {str(result.get("id")): result.get("properties") or {} for result in data.get("results") or []}
        failed: dict[str, RecordError] = {}
        for error in data.get("errors") or []:
            category = str(error.get("category") or "ERROR")
            for cid in (error.get("context") or {}).get("ids") or []:
                failed[str(cid)] = self._record_error(str(cid), category, f"HubSpot rejected the update ({category})",
                                                      [], plans, retryable=category in {"RATE_LIMITS", "LOCKED"})
        for cid, _ in inputs:
            if cid not in stored and cid not in failed:
                failed[cid] = self._record_error(cid, "NOT_CONFIRMED", "HubSpot did not confirm the update", [],
                                                 plans, retryable=True)
        return stored, failed

    def _record_error(self, contact_id: str, code: str, message: str, properties: list[str],
                      plans: Mapping[str, list[mapping.PlannedUpdate]], *, retryable: bool = False) -> RecordError:
        names = {plan.property_fields.get(prop, prop) for plan in plans.get(contact_id, []) for prop in properties}
        return RecordError(contact_id, code, message, retryable=retryable, fields=tuple(sorted(names)))

    # -- setup -----------------------------------------------------------------------------------------

    def ensure_fields(self) -> FieldSetupReport:
        return ContactProperties(self.client, self.settings, self._schema).ensure()


def _next_after(data: Mapping[str, Any]) -> str | None:
    after = ((data.get("paging") or {}).get("next") or {}).get("after")
    return str(after) if after not in (None, "") else None


def _truncated(record: Mapping[str, Any], to_type: str) -> bool:
    """The list endpoint's inline associations are capped; a `paging.next` means more exist."""
    return _next_after((record.get("associations") or {}).get(to_type) or {}) is not None


def _modified(record: Mapping[str, Any]) -> int:
    props = record.get("properties") or {}
    moment = mapping.parse_time(props.get("lastmodifieddate")) or mapping.parse_time(record.get("updatedAt"))
    return mapping.epoch_ms(moment) if moment else 0
