"""`HubSpotConnector`: one HubSpot account behind `sync.contract.Connector`.

Pull. A full pull (no cursor) lists contacts (`GET /crm/v3/objects/contacts`, 100 a page) with their deal
and engagement ids inline (`associations=`): for a whole account that is cheaper than searching (200 a
page) and then reading seven association types in batches. An incremental pull searches contacts by
`lastmodifieddate` (see `paging.py` for the keyset paging that never meets the 10,000-result cap), then
deals and each engagement type by their own `hs_lastmodifieddate`: a deal won or a call logged need not
change the contact record ("CRM API | Search"), so each changed deal or engagement is mapped to its
contacts (v4 association batch reads, 1,000 a call) and those contacts not already emitted by this pull
are read (batch reads of 100) and emitted with their whole history; a contact only crmsync's own write
changed is passed over (`sync.toolkit.echoes`). Either way contacts are enriched in chunks of
`pull_chunk_size` (1,000): one association read per type per chunk, deals and engagements in batch reads of
100, keyed by (type, id) (`related.py`). Each chunk is one `PullPage`; its cursor resumes after it. A
record the mapping cannot read in part is kept with that part unknown, one it cannot read at
all is skipped; both are reported in `PullPage.problems`, and the page and the cursor go on.

Deletions: search never returns archived contacts, so at most every `archived_sweep_interval_s` (1 h by
default) a pull lists `?archived=true` (HubSpot keeps them 90 days) and reports those archived since the
last sweep; merges come from `hs_merged_object_ids` on the surviving contact.

Push: `push.py`. Setup: `fields.py`. Tasks (SLA reminders): `tasks.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

import hubspot.crm.objects as objects_sdk

from connectors.hubspot import mapping
from connectors.hubspot.activities import Engagement, booked
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.fields import ContactProperties, owned_property_types
from connectors.hubspot.paging import ARCHIVED, CONTACTS, CRM, KeysetSearch, Row, SearchQuery, legacy_cursor
from connectors.hubspot.push import ContactWriter
from connectors.hubspot.related import Links, RelatedReader, category_of, checked_id, next_after
from connectors.hubspot.settings import HubSpotSettings
from connectors.hubspot.tasks import TaskWriter
from connectors.hubspot.writing import Lifecycle
from sync.clock import Clock, SystemClock
from sync.contract import FieldSetupReport, FieldUpdate, PullPage, PushResult, RecordProblem, SetupWarning
from sync.model import Contact, DealStatus
from sync.spill import ScratchMap
from sync.toolkit.connector import ConnectorBase
from sync.toolkit.cursor import Cursor, Watermark, from_epoch_ms, to_epoch_ms
from sync.toolkit.echoes import OwnWrites
from sync.toolkit.paging import TokenPaginator
from sync.toolkit.reading import RecordReader, read_record
from sync.toolkit.tasks import DelegatesTasks

_OBJECTS_CFG = objects_sdk.Configuration()
#: push calls span this many batch updates (see `HubSpotConnector.batch_size`)
PUSH_CALL_BATCHES = 5


class HubSpotConnector(DelegatesTasks, ConnectorBase):
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
        self._lifecycle = Lifecycle()
        self._outcomes: dict[str, DealStatus] | None = None
        self._outcomes_at = 0.0
        self.related = RelatedReader(self.client, settings, self._deal_outcomes)
        # a contact modified only by crmsync's last write is not read back (`sync.toolkit.echoes`); the pull
        # reads none of crmsync's own properties, so only the modification stamp is left out
        self.own_writes = OwnWrites(self._scratch, ignored=("lastmodifieddate",))
        self.writer = ContactWriter(self.client, settings, self.related, types=self._push_types,
                                    lifecycle=lambda: self._lifecycle, account=account,
                                    confirmed=self.own_writes.wrote)
        self.task_writer = TaskWriter(self.client)  # SLA reminders: `DelegatesTasks`
        # contact id -> the serial of the last pull that emitted it: a contact is emitted once per pull
        self._emitted: ScratchMap[str, str] = ScratchMap(self._scratch, "emitted")
        self._pulls = 0
        self._setup_warnings: list[SetupWarning] = []

    @property
    def batch_size(self) -> int:
        """Updates the engine hands to one push call: five batch updates' worth, so the reads a push decides
        from (current values 100 a call, property history 50 a call) fill their batches across the call."""
        return PUSH_CALL_BATCHES * self.settings.push_batch_size

    @property
    def related_streams(self) -> tuple[str, ...]:
        """The objects searched by their own modification time, besides contacts."""
        return ("deals", *self.settings.engagement_types)

    # -- pull ------------------------------------------------------------------------------------------

    def pull(self, cursor: str | None) -> Iterator[PullPage]:
        started = mapping.epoch_ms(self._clock.now())
        self._pulls += 1
        start = Cursor.decode(cursor, crm=CRM, legacy=legacy_cursor) if cursor else None
        if start is None or "list_after" in start.position:
            last = yield from self._full_pull(start, started)
        else:
            last = yield from self._incremental_pull(start, started)
        yield from self._archived_sweep(last, started)

    def _full_pull(self, start: Cursor | None, started: int) -> Generator[PullPage, None, Cursor]:
        """The whole account through the list endpoint; the records modified within the overlap before the
        pull started are remembered, so the next (incremental) pull does not emit them again."""
        horizon = from_epoch_ms(started - int(self.settings.search_overlap_s * 1000))
        cursor = start.copy() if start else Cursor({stream: Watermark(horizon)
                                                    for stream in (CONTACTS, *self.related_streams)})
        mark = cursor.mark(CONTACTS)
        properties = mapping.contact_properties(self.settings)
        associations = ["deals", *self.settings.engagement_types]

        def fetch(after: str | None) -> dict[str, Any]:
            return self.client.list_contacts(limit=self.settings.list_page_size, after=after,
                                              properties=properties, associations=associations)

        buffer: list[dict[str, Any]] = []
        calls = self.calls_made()
        pages = TokenPaginator(fetch, crm=CRM, what="contact list", find=next_after, items_key="results",
                               start=cursor.position.get("list_after"))
        for records in pages:
            buffer.extend(records)
            for record in records:
                if mapping.record_id(record) is not None:
                    mark.remember(str(record["id"]), from_epoch_ms(_modified(record)))
            if len(buffer) >= self.settings.pull_chunk_size or pages.done:
                cursor.position = {"list_after": pages.token} if pages.token else {}
                yield self._page(buffer, cursor, inline=True, calls_before=calls)
                buffer, calls = [], self.calls_made()
        return cursor

    def _incremental_pull(self, start: Cursor, started: int) -> Generator[PullPage, None, Cursor]:
        """Contacts changed, then contacts whose deals or engagements changed, gathered across the searches
        into pages of about `pull_chunk_size` contacts enriched together. A page holds everything read
        before its cursor, so a crash after it loses nothing; one more page at the end moves the cursor
        when the last one left it behind."""
        cursor = start.copy()
        for stream in self.related_streams:  # a cursor from before streams were searched: start where contacts did
            if stream not in cursor.marks:
                cursor.marks[stream] = Watermark(cursor.mark(CONTACTS).at)
        calls, yielded = self.calls_made(), start
        records: list[dict[str, Any]] = []  # changed contacts, as searched
        changed: dict[str, list[str]] = {}  # stream -> ids of its changed records, not yet mapped to contacts
        for stream in (CONTACTS, *self.related_streams):
            properties = (mapping.contact_properties(self.settings) if stream == CONTACTS
                          else ["hs_lastmodifieddate"])
            search = KeysetSearch(fetch=partial(self._search, stream, properties=properties), start=cursor,
                                  until=started, page_size=self.settings.search_page_size,
                                  overlap_ms=int(self.settings.search_overlap_s * 1000), stream=stream)
            for rows, cursor in search:
                if stream == CONTACTS:  # a contact only crmsync's own write changed is not read back
                    echoes = self.own_writes.echoes((row.id, row.record.get("properties") or {}) for row in rows)
                    records.extend(row.record for row in rows if row.id not in echoes)
                else:
                    changed.setdefault(stream, []).extend(row.id for row in rows if mapping.RECORD_ID.match(row.id))
                if len(records) + sum(len(ids) for ids in changed.values()) >= self.settings.pull_chunk_size:
                    page = self._changed_page(records, changed, cursor, calls)
                    records, changed, yielded, calls = [], {}, cursor, self.calls_made()
                    yield page
        if records or changed:
            page = self._changed_page(records, changed, cursor, calls)
            yielded, calls = cursor, self.calls_made()
            yield page
        if yielded is not cursor:
            yield PullPage(contacts=[], cursor=cursor.encode(), api_calls=self.calls_made() - calls)
        return cursor

    def _search(self, stream: str, query: SearchQuery, properties: list[str]) -> list[Row]:
        stamp = "lastmodifieddate" if stream == CONTACTS else "hs_lastmodifieddate"
        if query.ties:
            filters = [_filter(stamp, "EQ", query.since), _filter("hs_object_id", "GT", query.tie_after)]
            sort = "hs_object_id"
        else:
            filters = [_filter(stamp, "GTE" if query.inclusive else "GT", query.since),
                       _filter(stamp, "LTE", query.until)]
            sort = stamp
        # the official spec types `sorts` as strings: "name" sorts ascending, "-name" descending
        request = objects_sdk.PublicObjectSearchRequest(
            filter_groups=[objects_sdk.FilterGroup(filters=filters, local_vars_configuration=_OBJECTS_CFG)],
            sorts=[sort], properties=properties, limit=self.settings.search_page_size, after="0",
            local_vars_configuration=_OBJECTS_CFG)
        data = self.client.search_objects(category_of(stream), stream, request)
        return [Row(id=str(result.get("id")), modified=_modified(result, stamp), record=result)
                for result in data.get("results") or []]

    def _changed_page(self, records: list[dict[str, Any]], changed: Mapping[str, list[str]], cursor: Cursor,
                      calls_before: int) -> PullPage:
        """The changed contacts, and the contacts the changed deals and engagements stand for that this pull
        has not emitted yet (read in batches), enriched together."""
        have = {str(record.get("id")) for record in records}
        wanted: list[str] = []
        for stream, ids in changed.items():
            links = self.related.links(stream, "contacts", ids)
            wanted.extend(contact_id for targets in links.values() for contact_id in targets)
        wanted = [contact_id for contact_id in dict.fromkeys(wanted) if contact_id not in have]
        done = self._emitted.get_many(wanted)
        fresh = [contact_id for contact_id in wanted if done.get(contact_id) != str(self._pulls)]
        records = [*records, *self.related.batch_read("contacts", fresh, mapping.contact_properties(self.settings))]
        return self._page(records, cursor, inline=False, calls_before=calls_before)

    def _page(self, records: list[dict[str, Any]], cursor: Cursor, *, inline: bool,
              calls_before: int) -> PullPage:
        problems: list[RecordProblem] = []
        contacts = self._enrich(records, inline=inline, problems=problems)
        self.own_writes.remember((contact_id, record.get("properties") or {})
                                 for contact_id, record in _readable(records))
        if not inline:  # an incremental pull emits each contact once, whichever object changed
            self._emitted.put_many((contact.id, str(self._pulls)) for contact in contacts)
        merged: dict[str, str] = {}
        for contact, record in _readable(records):
            for old in mapping.merged_ids(record.get("properties") or {}):
                merged[old] = contact
        return PullPage(contacts=contacts, cursor=cursor.encode(), deleted_ids=sorted(merged),
                        merged_into=merged, api_calls=self.calls_made() - calls_before, problems=problems)

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
        for records in TokenPaginator(fetch, crm=CRM, what="archived contact list", find=next_after,
                                      items_key="results"):
            for record in records:
                if mapping.record_id(record) is None:
                    continue
                archived_at = mapping.parse_time(record.get("archivedAt"))
                if archived_at is None or mapping.epoch_ms(archived_at) >= floor:
                    deleted.append(str(record["id"]))
        final = cursor.copy()
        final.marks[ARCHIVED] = Watermark(from_epoch_ms(started))
        yield PullPage(contacts=[], cursor=final.encode(), deleted_ids=deleted, api_calls=self.calls_made() - calls)

    # -- enrichment ------------------------------------------------------------------------------------

    def _enrich(self, records: list[dict[str, Any]], *, inline: bool, problems: list[RecordProblem]) -> list[Contact]:
        readable = list(_readable(records, problems))
        if not readable:
            return []
        types = self._schema()
        ids = [contact_id for contact_id, _ in readable]
        links: dict[str, Links] = {}
        for to_type in self.related_streams:
            links[to_type] = _inline_links(readable, to_type) if inline else {}
            missing = ids if not inline else [contact_id for contact_id, record in readable
                                              if _truncated(record, to_type)]
            if missing:
                links[to_type].update(self.related.links("contacts", to_type, missing))
        deals = self.related.deals(links["deals"], problems)
        engagements: dict[tuple[str, str], Engagement] = {}
        for object_type in self.settings.engagement_types:
            for native_id, engagement in self.related.engagements(object_type, links[object_type], problems).items():
                engagements[(object_type, native_id)] = engagement
        companies = self.related.companies(
            (str((record.get("properties") or {}).get(mapping.PRIMARY_COMPANY) or "") for _, record in readable),
            problems) if mapping.company_properties(self.settings) else {}
        contacts = []
        for contact_id, record in readable:
            own = [engagements[(object_type, native_id)] for object_type in self.settings.engagement_types
                   for native_id in links[object_type].get(contact_id, []) if (object_type, native_id) in engagements]
            company = companies.get(str((record.get("properties") or {}).get(mapping.PRIMARY_COMPANY) or ""))
            own_deals = [deals[deal_id] for deal_id in links["deals"].get(contact_id, []) if deal_id in deals]
            reader = RecordReader(contact_id, "contact")
            contact = read_record(contact_id, "contact", problems, partial(
                mapping.to_contact, record, reader, settings=self.settings, types=types, account=self.account,
                company=company, deals=own_deals,
                activities=[engagement.activity for engagement in own if engagement.activity is not None],
                activity_events=[event for engagement in own for event in engagement.events],
                booked_meetings=booked(own)))
            problems.extend(reader.problems)
            if contact is not None:
                contacts.append(contact)
        return contacts

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
                    self._lifecycle = Lifecycle([str(option.get("value")) for option in options])
            self._schema_at = now
        return self._types

    def _push_types(self) -> dict[str, str]:
        return {**(self._types or {}), **owned_property_types(self.settings)}

    # -- push and setup --------------------------------------------------------------------------------

    def push(self, updates: Sequence[FieldUpdate]) -> list[PushResult]:
        return self.writer.push(updates)

    def ensure_fields(self) -> FieldSetupReport:
        report = ContactProperties(self.client, self.settings, self._schema).ensure()
        self._setup_warnings = list(report.warnings)
        return report

    @property
    def setup_warnings(self) -> list[SetupWarning]:
        """What the last `ensure_fields` found out of reach (a property HubSpot did not create...)."""
        return list(self._setup_warnings)


def _filter(name: str, operator: str, value: object) -> Any:
    return objects_sdk.Filter(property_name=name, operator=operator, value=str(value),
                              local_vars_configuration=_OBJECTS_CFG)


def _readable(records: Sequence[Mapping[str, Any]],
              problems: list[RecordProblem] | None = None) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(id, record) of the records whose id is a HubSpot id; the others are reported and skipped."""
    for record in records:
        found = mapping.record_id(record) if problems is None else checked_id(record, "contact", problems)
        if found is not None:
            yield found, record


def _inline_links(records: Sequence[tuple[str, Mapping[str, Any]]], to_type: str) -> Links:
    links: Links = {}
    for contact_id, record in records:
        found = ((record.get("associations") or {}).get(to_type) or {}).get("results") or []
        links[contact_id] = list(dict.fromkeys(str(item.get("id")) for item in found
                                               if mapping.RECORD_ID.match(str(item.get("id")))))
    return links


def _truncated(record: Mapping[str, Any], to_type: str) -> bool:
    """The list endpoint's inline associations are capped; a `paging.next` means more exist."""
    return next_after((record.get("associations") or {}).get(to_type) or {}) is not None


def _modified(record: Mapping[str, Any], stamp: str = "lastmodifieddate") -> int:
    props = record.get("properties") or {}
    raw = props.get(stamp)
    moment = (mapping.parse_time(raw) if isinstance(raw, str) else None) or mapping.parse_time(
        str(record.get("updatedAt") or ""))
    return mapping.epoch_ms(moment) if moment else 0

