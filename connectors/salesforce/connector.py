"""`SalesforceConnector`: the `sync.contract.Connector` for one Salesforce org.

Pull, in this order, each SOQL page of up to 2,000 parents becoming one `PullPage`:

1. What the org offers, from describe (`org.OrgSchema`, once per refresh): the mapped fields the integration
   user can read, and which related objects it can query. A missing optional source is switched off with
   one warning (`setup_warnings`), not a failed account.
2. Leads, then Contacts, changed since their own watermark (`SystemModstamp >= T ORDER BY SystemModstamp,
   Id`, ids already read from T on skipped; T a whole second, see `paging`). A full pull skips converted
   leads; an incremental one reports a lead converted since as merged into its Contact. An incremental
   pull reads each stream through `queryAll`, so the same query also returns the rows deleted since the
   watermark (`IsDeleted`) and merged away (`MasterRecordId` -> survivor). Salesforce keeps deleted rows in
   the recycle bin for 15 days: a pull later than that misses them.
3. Related records (Tasks, Events, responded CampaignMembers, OpportunityContactRoles with their Opportunity
   fields) read per object, not per page of parents (`related`): all of them before the first page of a
   pull from nothing, else those of a stream's window through a semi-join, once per stream with changes.
4. Incremental pulls only: parents whose *related* records changed since the last pull (a logged call, a
   campaign response, an opportunity moving stage do not move the parent's SystemModstamp), one query per
   related object, then read by id with their related records. The last page carries the cursor that
   starts the next pull. With nothing changed, an incremental pull is one call per object (Lead, Contact,
   Task, Event, CampaignMember, OpportunityContactRole), each answering no record. A record only crmsync's
   own write changed (`sync.toolkit.echoes`) is passed over in the streams, so it opens no related window.

A record the mapping cannot read fails that field or that record (`PullPage.problems`), never the page.
Memory does not grow with the org: what a pull remembers about every parent and the related records
waiting for their parents live on disk (`sync.spill`). Push: `push.LeadContactWriter`. Custom fields: `fields`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sync.clock import Clock, SystemClock
from sync.contract import FieldSetupReport, FieldUpdate, PullPage, PushResult, RecordProblem, SetupWarning
from sync.model import Contact
from sync.spill import Scratch, ScratchSet
from sync.toolkit.connector import ConnectorBase
from sync.toolkit.cursor import Cursor, Watermark, format_stamp, parse_stamp
from sync.toolkit.echoes import OwnWrites
from sync.toolkit.reading import read_record
from sync.toolkit.tasks import DelegatesTasks

from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.fields import CustomFields
from connectors.salesforce.mapping import CRM, RecordMapper, reader_for, select_list
from connectors.salesforce.org import OrgSchema
from connectors.salesforce.paging import RELATED, advance, chunk_ids, in_list, legacy_cursor, related_since, \
    settle, since_clause, soql_pages, stream_key, whole_second
from connectors.salesforce.push import LeadContactWriter
from connectors.salesforce.tasks import TaskWriter
from connectors.salesforce.related import RelatedSource, RelatedStore
from connectors.salesforce.sources import plan_pull
from connectors.salesforce.values import KEY_PREFIXES, read_id, read_time, soql_datetime
from connectors.salesforce.settings import SalesforceSettings

PARENTS = ("Lead", "Contact")
ORIGIN = "started"  # cursor position: when the pull now running (or interrupted) first started
KEY_PREFIX = {sobject: prefix for prefix, sobject in KEY_PREFIXES.items()}  # "Lead" -> "00Q"


@dataclass(frozen=True)
class PullPlan:
    """What one pull reads, as the org's describe allows it."""

    paths: Mapping[str, Mapping[str, str]]  # parent (those the user can read) -> neutral name -> field path
    types: Mapping[str, Mapping[str, str]]  # parent -> field path -> describe type
    columns: Mapping[str, Sequence[str]]  # parent -> its select list (deletion columns apart)
    sources: Sequence[RelatedSource]

    @property
    def parents(self) -> list[str]:
        return [sobject for sobject in PARENTS if sobject in self.paths]


class SalesforceConnector(DelegatesTasks, ConnectorBase):
    """One Salesforce org behind the crmsync connector protocol."""

    crm = CRM
    client: SalesforceClient
    settings: SalesforceSettings

    def __init__(self, settings: SalesforceSettings, *, account: str = "default",
                 clock: Clock = SystemClock(), sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(SalesforceClient(settings, clock=clock, sleep=sleep), settings=settings,
                         account=account, clock=clock)
        self.mapper = RecordMapper(settings, account)
        self.schema = OrgSchema(self.client, clock, account=account,
                                ttl=timedelta(seconds=settings.describe_every_s))
        self._converted: ScratchSet[str] = ScratchSet(self._scratch, "converted")  # read-only leads, by id
        # a Lead or Contact modified only by crmsync's last write is not read back with its related rows
        # (`sync.toolkit.echoes`): the stamps and the incremental-only columns are left out of the comparison
        self.own_writes = OwnWrites(self._scratch, ignored=("attributes", "SystemModstamp", "LastModifiedDate",
                                                            "IsDeleted", "MasterRecordId"))
        self._read_columns: frozenset[str] = frozenset()  # what the last pull selected, on Leads and Contacts
        self.writer = LeadContactWriter(self.client, settings, self._converted, self._all_rows, account=account,
                                        confirmed=self._confirmed)
        self.task_writer = TaskWriter(self.client, self._all_rows)  # SLA reminders: `DelegatesTasks`
        self._field_warnings: list[SetupWarning] = []

    @property
    def setup_warnings(self) -> list[SetupWarning]:
        """Optional sources switched off because the org lacks them, and the fields crmsync writes that the
        last `ensure_fields` found out of reach: what is lost, how to enable it."""
        return [*self.schema.warnings, *self._field_warnings]

    # --- pull -------------------------------------------------------------------------------------------
    def pull(self, cursor: str | None) -> Iterator[PullPage]:
        state = Cursor.decode(cursor, crm=CRM, legacy=legacy_cursor)
        scratch = Scratch(prefix="crmsync-salesforce-pull-")
        try:
            yield from self._pull(state, scratch)
        finally:
            scratch.close()

    def _plan(self) -> PullPlan:
        self.schema.refresh_if_stale()
        paths, types, columns, sources = plan_pull(self.schema, self.settings, self.mapper)
        return PullPlan(paths, types, columns, sources)

    def _pull(self, state: Cursor, scratch: Scratch) -> Iterator[PullPage]:
        started = self._clock.now()
        start_second = whole_second(started)
        # an interrupted pull resumed: related changes are looked up from when it first started, so a call
        # logged on a parent emitted before the interruption is not lost
        first_started = state.position.setdefault(ORIGIN, format_stamp(start_second))
        spent = self.calls_made()  # each page reports the calls made since the previous page was handed out
        plan = self._plan()
        self._read_columns = frozenset(column for columns in plan.columns.values() for column in columns)
        since = related_since(state)
        incremental = since is not None
        from_nothing = not state.marks  # no stream read yet: every related record is wanted
        store = RelatedStore(scratch)
        emitted: ScratchSet[str] = ScratchSet(scratch, "emitted")
        loaded_everything = False
        for sobject in plan.parents:
            mark = state.mark(sobject)
            window = self._window(sobject, mark)
            window_loaded = False
            soql = self._stream_soql(sobject, plan, mark, incremental)
            for records in self._query("contacts", soql, include_deleted=incremental):
                problems: list[RecordProblem] = []
                fresh, gone = self._unread(sobject, records, mark, start_second, problems)
                echoes: set[str] = set()
                if incremental:  # a record only crmsync's own write changed is not read back (a full pull is)
                    keyed = [(read_id(record.get("Id")) or "", record) for record in fresh]
                    echoes = self.own_writes.echoes(keyed)
                    fresh = [record for record_id, record in keyed if record_id not in echoes]
                parents = [record_id for record in fresh if not (sobject == "Lead" and record.get("IsConverted"))
                           and (record_id := read_id(record.get("Id"))) is not None]
                if parents:
                    if from_nothing and not loaded_everything:
                        for source in plan.sources:
                            self._load(store, source, source.everything(), started)
                        loaded_everything = True
                    elif not from_nothing and not window_loaded:
                        # echoes passed over: the few others' related rows by id cost no more queries than
                        # the window and read none of the echoes' rows
                        by_id = self._by_id(sobject, plan, parents) if echoes else None
                        for source, soql in by_id or [(source, source.window(sobject, window))
                                                      for source in plan.sources if source.relates_to(sobject)]:
                            self._load(store, source, soql, started)
                        window_loaded = by_id is None
                contacts, converted = self._page(sobject, plan, fresh, store, problems)
                merged = {**{record_id: master for record_id, master in gone.items() if master is not None},
                          **converted}
                if incremental:  # only an incremental pull looks related changes up, skipping these
                    emitted.add_many(contact.id for contact in contacts)
                yield PullPage(contacts, state.encode(), deleted_ids=[*gone, *converted], merged_into=merged,
                               api_calls=self.calls_made() - spent, problems=[*problems, *_drain(store)])
                spent = self.calls_made()
            settle(mark, started)
        if since is not None:
            for page in self._touched_pages(plan, since, emitted, store, started):
                yield PullPage(page.contacts, state.encode(), page.deleted_ids, page.merged_into,
                               api_calls=self.calls_made() - spent, problems=page.problems)
                spent = self.calls_made()
        state.marks[RELATED] = Watermark(min(parse_stamp(first_started), start_second))
        state.position.pop(ORIGIN, None)
        yield PullPage([], state.encode(), api_calls=self.calls_made() - spent, problems=_drain(store))

    def _unread(self, sobject: str, records: list[dict[str, Any]], mark: Watermark, start_second: datetime,
                problems: list[RecordProblem]) -> tuple[list[dict[str, Any]], dict[str, str | None]]:
        """The page's records not emitted yet (the watermark moving past them), and the deleted ones (id ->
        the survivor of a merge, or None)."""
        fresh: list[dict[str, Any]] = []
        gone: dict[str, str | None] = {}
        for record in records:
            reader = reader_for(record, sobject.lower())
            record_id = read_id(record.get("Id"))
            deleted = bool(record.get("IsDeleted") is True)
            key = stream_key(record_id or reader.record_id, deleted=deleted)
            stamp = read_time(record.get("SystemModstamp"))
            if mark.already_read(key, stamp):
                continue
            if stamp is not None:
                advance(mark, key, stamp, cap=start_second)
            if not deleted:
                fresh.append(record)
            elif record_id is None:
                reader.problem("Id", "a deleted record without a readable Salesforce id: not reported deleted")
                problems.extend(reader.problems)
            else:
                gone[record_id] = read_id(record.get("MasterRecordId"))
        return fresh, gone

    def _by_id(self, sobject: str, plan: PullPlan, ids: list[str]) -> list[tuple[RelatedSource, str]] | None:
        """One query per related object for the rows of `ids`, or None when they do not fit one query each."""
        queries = []
        for source in plan.sources:
            if source.relates_to(sobject):
                chunks = list(chunk_ids(ids, partial(source.of_ids, sobject), self.settings.max_query_chars,
                                        max_ids=self.settings.page_size))
                if len(chunks) > 1:
                    return None
                queries.append((source, source.of_ids(sobject, chunks[0])))
        return queries

    def _window(self, sobject: str, mark: Watermark) -> str | None:
        """The condition on `sobject` that selects this pull's stream of it, live records only (the window
        of its related records)."""
        conditions = [since_clause(mark), "IsConverted = false" if sobject == "Lead" else None]
        return " AND ".join(condition for condition in conditions if condition) or None

    def _stream_soql(self, sobject: str, plan: PullPlan, mark: Watermark, incremental: bool) -> str:
        skip_converted = "IsConverted = false" if sobject == "Lead" and not incremental else None
        where = [condition for condition in (since_clause(mark), skip_converted) if condition]
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        gone = ["IsDeleted", "MasterRecordId"] if incremental else []  # queryAll: deleted rows too
        columns = ", ".join(select_list(["Id", "SystemModstamp", *gone, *plan.columns[sobject]]))
        return f"SELECT {columns} FROM {sobject}{clause} ORDER BY SystemModstamp, Id"

    def _query(self, category: str, soql: str, *,
               include_deleted: bool = False) -> Iterator[list[dict[str, Any]]]:
        headers = {"Sforce-Query-Options": f"batchSize={self.settings.page_size}"}

        def first() -> Mapping[str, Any]:
            return self.client.call(category, lambda api: api.query(soql, include_deleted=include_deleted,
                                                                  headers=headers))

        def more(url: str) -> Mapping[str, Any]:
            return self.client.call(category, lambda api: api.query_more(url, identifier_is_url=True,
                                                                       headers=headers))

        yield from soql_pages(first, more)

    def _all_rows(self, category: str, soql: str) -> list[dict[str, Any]]:
        return [record for page in self._query(category, soql) for record in page]

    def _load(self, store: RelatedStore, source: RelatedSource, soql: str, now: datetime) -> None:
        """Read one related object's rows and keep them, mapped, by the parent they belong to."""
        for records in self._query(source.category, soql):
            for record in records:
                self._keep(store, source, record, now)

    def _keep(self, store: RelatedStore, source: RelatedSource, record: Mapping[str, Any], now: datetime) -> None:
        reader = reader_for(record, source.sobject.lower())
        parent = next((found for found in (read_id(record.get(field)) for _, field in source.parent_fields)
                       if found is not None), None)
        if parent is None:
            reader.problem(source.parent_fields[0][1], "points at no readable Lead or Contact id: skipped")
            store.orphans.extend(reader.problems)
            return
        kind = source.sobject.lower()
        if source.sobject in ("Task", "Event"):
            activity = read_record(record.get("Id"), kind, reader.problems,
                                   lambda: self.mapper.to_activity(source.sobject, record, now, reader))
            if activity is not None:
                store.add_activity(parent, activity)
                social = self.mapper.social_event(activity, record) if source.sobject == "Task" else None
                if social is not None:
                    store.add_event(parent, social)
        elif source.sobject == "CampaignMember":
            event = read_record(record.get("Id"), kind, reader.problems, lambda: self.mapper.to_event(record, reader))
            if event is not None:
                store.add_event(parent, event)
        else:
            deal = read_record(record.get("Id"), kind, reader.problems, lambda: self.mapper.to_deal(record, reader))
            if deal is not None:
                store.add_deal(parent, deal)
        for problem in reader.problems:
            store.add_problem(parent, problem)

    def _page(self, sobject: str, plan: PullPlan, records: list[dict[str, Any]], store: RelatedStore,
              problems: list[RecordProblem]) -> tuple[list[Contact], dict[str, str]]:
        """Parents of one page -> contacts with their related records; converted leads -> merges."""
        merged: dict[str, str] = {}
        converted: list[str] = []
        contacts: list[Contact] = []
        for record in records:
            reader = reader_for(record, sobject.lower())
            if sobject == "Lead" and record.get("IsConverted"):
                lead_id = read_id(record.get("Id"))
                if lead_id is None:
                    reader.problem("Id", "a converted lead without a readable Salesforce id: skipped")
                else:
                    converted.append(lead_id)
                    survivor = read_id(record.get("ConvertedContactId"))
                    if survivor is not None:
                        merged[lead_id] = survivor
            else:
                contact = read_record(record.get("Id"), sobject.lower(), problems,
                                      lambda record=record, reader=reader: self.mapper.to_contact(  # type: ignore[misc]
                                          sobject, record, plan.paths[sobject], reader, plan.types[sobject]))
                if contact is not None:
                    contacts.append(contact)
            problems.extend(reader.problems)
        if converted:
            self._converted.add_many(converted)
        self.own_writes.remember((record_id, record) for record in records
                                 if (record_id := read_id(record.get("Id"))) is not None)
        related = store.take([contact.id for contact in contacts])
        for contact in contacts:
            found = related[contact.id]
            contact.activities = sorted(found.activities, key=lambda activity: activity.at)
            contact.events = sorted(found.events, key=lambda event: event.at)
            contact.deals = found.deals
            problems.extend(found.problems)
        return contacts, merged

    def _touched_pages(self, plan: PullPlan, since: datetime, emitted: ScratchSet[str], store: RelatedStore,
                       now: datetime) -> Iterator[PullPage]:
        """Parents whose related records changed since the last pull, re-read by id with their related
        records (those the streams did not emit)."""
        stamp = soql_datetime(since)
        touched: ScratchSet[str] = ScratchSet(emitted.scratch, "touched")
        for source in plan.sources:
            columns = list(dict.fromkeys(field for _, field in source.parent_fields))
            condition = f"SystemModstamp >= {stamp}"
            if source.sobject == "OpportunityContactRole":  # a stage move touches the opportunity only
                condition += f" OR Opportunity.SystemModstamp >= {stamp}"
            elif source.sobject in ("Task", "Event"):
                condition += " AND WhoId != null"
            soql = f"SELECT {', '.join(columns)} FROM {source.sobject} WHERE {condition}"
            for records in self._query(source.category, soql):
                touched.add_many(found for found in (read_id(record.get(column)) for record in records
                                                     for column in columns) if found is not None)
        for sobject in plan.parents:
            ids = touched.difference(emitted, prefix=KEY_PREFIX[sobject])
            select = ", ".join(plan.columns[sobject])

            def by_id(chunk: list[str], select: str = select, sobject: str = sobject) -> str:
                return f"SELECT {select} FROM {sobject} WHERE Id IN ({in_list(chunk)})"

            limit = self.settings.max_query_chars
            for chunk in chunk_ids(ids, by_id, limit, max_ids=self.settings.page_size):
                records = [record for page in self._query("contacts", by_id(chunk)) for record in page]
                store.discard(chunk)
                for source in plan.sources:
                    if source.relates_to(sobject):
                        self._load(store, source, source.of_ids(sobject, chunk), now)
                problems: list[RecordProblem] = []
                contacts, merged = self._page(sobject, plan, records, store, problems)
                emitted.add_many(contact.id for contact in contacts)
                yield PullPage(contacts, "", deleted_ids=list(merged), merged_into=merged,
                               problems=[*problems, *_drain(store)])

    # --- push -------------------------------------------------------------------------------------------
    def push(self, updates: Sequence[FieldUpdate]) -> list[PushResult]:
        return self.writer.push(updates)

    def _confirmed(self, written: list[tuple[str, dict[str, Any]]]) -> None:
        """Writes that landed, for `own_writes`: of the fields written, those the pull reads (Rating, Status;
        crmsync's own custom fields are not read back)."""
        read = self._read_columns
        self.own_writes.wrote((record_id, {name: value for name, value in fields.items() if name in read})
                              for record_id, fields in written)

    # --- fields -----------------------------------------------------------------------------------------
    def ensure_fields(self) -> FieldSetupReport:
        self.schema.refresh_if_stale()
        readable = [sobject for sobject in PARENTS if self.schema.describe(sobject) is not None]
        report = CustomFields(self.client, self.settings, self.schema).ensure(readable or ["Contact"])
        self._field_warnings = list(report.warnings)
        return report

    # --- managers (escalation): `tasks.py` ----------------------------------------------------------------
    def managers(self, user_ids: Sequence[str]) -> dict[str, str]:
        return self.task_writer.managers(user_ids)


def _drain(store: RelatedStore) -> list[RecordProblem]:
    orphans, store.orphans = store.orphans, []
    return orphans
