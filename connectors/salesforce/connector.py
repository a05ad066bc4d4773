"""`SalesforceConnector`: the `sync.contract.Connector` for one Salesforce org.

Pull, in this order, each SOQL page of up to 2,000 parents becoming one `PullPage`:

1. Leads, then Contacts, changed since their own watermark (`SystemModstamp >= T ORDER BY SystemModstamp,
   Id`, ids already read at T skipped). A full pull skips converted leads; an incremental one reports a
   lead converted since as merged into its Contact. Contact pull costs ceil(N / page_size) calls per object.
   An incremental pull reads each stream through `queryAll`, so the same query also returns the rows
   deleted since the watermark (a deletion moves SystemModstamp; `IsDeleted` tells them apart) and merged
   away (`MasterRecordId` -> survivor): one call per object, not a second query for the deletions.
   Salesforce keeps deleted rows in the recycle bin for 15 days: a pull later than that misses them.
2. For the parents of each page, their related records in separate batched SOQL (`... IN (ids)`, cut to
   the URI limit): Tasks and Events (`WhoId`), responded CampaignMembers, and for Contacts the
   OpportunityContactRoles with their Opportunity fields (deal reads need no separate association call).
3. Incremental pulls only: parents whose *related* records changed since the last pull (a logged call,
   a new campaign response, an opportunity moving stage do not move the parent's SystemModstamp), one
   query per related object, then read by id. The last page carries the cursor that starts the next pull.
   With nothing changed, an incremental pull is one call per object: Lead, Contact, Task, Event,
   CampaignMember, OpportunityContactRole.

Memory does not grow with the org: what a pull must remember about every parent (the ids an incremental
pull emitted, the parents whose related records changed) and the leads known converted live on disk
(`sync.spill`), not in sets.

Push goes through sObject Collections (200 records a call, Leads and Contacts mixed, `allOrNone: false`),
results matched by position. Custom fields are created through the Metadata API.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import structlog

from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.mapping import (
    CRM,
    KEY_PREFIXES,
    RecordMapper,
    parse_time,
    select_list,
    sobject_of,
    soql_datetime,
    to18,
    to_write,
)
from connectors.salesforce.paging import (
    RELATED,
    advance,
    chunk_ids,
    in_list,
    legacy_cursor,
    related_since,
    settle,
    since_clause,
    soql_pages,
    stream_key,
    whole_second,
)
from connectors.salesforce.fields import CustomFields
from connectors.salesforce.settings import SalesforceSettings
from sync.clock import Clock, SystemClock
from sync.contract import (
    FieldSetupReport,
    FieldUpdate,
    PullPage,
    PushResult,
)
from sync.errors import PermanentError, RecordError
from sync.model import Contact
from sync.spill import Scratch, ScratchSet
from sync.toolkit.connector import ConnectorBase
from sync.toolkit.cursor import Cursor, Watermark

log = structlog.get_logger("crmsync.salesforce")

PARENTS = ("Lead", "Contact")
KEY_PREFIX = {sobject: prefix for prefix, sobject in KEY_PREFIXES.items()}  # "Lead" -> "00Q"
RETRYABLE_RECORD_CODES = frozenset({"UNABLE_TO_LOCK_ROW"})
TASK_COLUMNS = ["Id", "WhoId", "OwnerId", "Subject", "TaskSubtype", "CallType", "IsClosed", "ActivityDate",
                "CompletedDateTime", "CreatedDate"]
EVENT_COLUMNS = ["Id", "WhoId", "OwnerId", "Subject", "ActivityDateTime", "ActivityDate", "CreatedDate"]
MEMBER_COLUMNS = ["Id", "LeadId", "ContactId", "HasResponded", "FirstRespondedDate", "CreatedDate",
                  "Campaign.Type", "Campaign.Name"]
ROLE_COLUMNS = ["Id", "ContactId", "OpportunityId", *(f"Opportunity.{field}" for field in (
    "Id", "StageName", "IsWon", "IsClosed", "Amount", "CloseDate", "CreatedDate", "LastModifiedDate",
    "Type"))]


class SalesforceConnector(ConnectorBase):
    """One Salesforce org behind the crmsync connector protocol."""

    crm = CRM
    client: SalesforceClient
    settings: SalesforceSettings

    def __init__(self, settings: SalesforceSettings, *, account: str = "default",
                 clock: Clock = SystemClock(), sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(SalesforceClient(settings, clock=clock, sleep=sleep), settings=settings,
                         account=account, clock=clock)
        self.mapper = RecordMapper(settings, account)
        self._paths: dict[str, dict[str, str]] | None = None
        self._converted: ScratchSet[str] = ScratchSet(self._scratch, "converted")  # read-only leads, by id

    # --- pull -------------------------------------------------------------------------------------------
    def pull(self, cursor: str | None) -> Iterator[PullPage]:
        state = Cursor.decode(cursor, crm=CRM, legacy=legacy_cursor)
        # an incremental pull remembers the parents it emitted (so related changes do not read them again)
        # on disk: after a bulk change that is every parent of the org
        scratch = Scratch(prefix="crmsync-salesforce-pull-")
        try:
            yield from self._pull(state, ScratchSet(scratch, "emitted"))
        finally:
            scratch.close()

    def _pull(self, state: Cursor, emitted: ScratchSet[str]) -> Iterator[PullPage]:
        started = self._clock.now()
        start_second = whole_second(started)
        since = related_since(state)
        incremental = since is not None
        spent = self.calls_made()  # each page reports the calls made since the previous page was handed out
        for sobject in PARENTS:
            mark = state.mark(sobject)
            soql = self._stream_soql(sobject, mark, incremental)
            for records in self._query("contacts", soql, include_deleted=incremental):
                fresh = []
                gone: dict[str, str | None] = {}
                for record in records:
                    record_id, stamp = to18(record["Id"]), parse_time(record.get("SystemModstamp"))
                    deleted = bool(record.get("IsDeleted"))
                    key = stream_key(record_id, deleted=deleted)
                    if mark.already_read(key, stamp):
                        continue
                    if stamp is not None:
                        advance(mark, key, stamp, cap=start_second)
                    if deleted:
                        master = record.get("MasterRecordId")
                        gone[record_id] = to18(master) if master else None
                    else:
                        fresh.append(record)
                contacts, converted = self._page(sobject, fresh)
                merged = {**{record_id: master for record_id, master in gone.items() if master is not None},
                          **converted}
                if incremental:  # only an incremental pull looks related changes up, skipping these
                    emitted.add_many(contact.id for contact in contacts)
                yield PullPage(contacts, state.encode(), deleted_ids=[*gone, *converted], merged_into=merged,
                               api_calls=self.calls_made() - spent)
                spent = self.calls_made()
            settle(mark, started)
        if since is not None:
            for page in self._touched_pages(since, emitted):
                yield PullPage(page.contacts, state.encode(), page.deleted_ids, page.merged_into,
                               api_calls=self.calls_made() - spent)
                spent = self.calls_made()
        state.marks[RELATED] = Watermark(start_second)
        yield PullPage([], state.encode(), api_calls=self.calls_made() - spent)

    def _stream_soql(self, sobject: str, mark: Watermark, incremental: bool) -> str:
        skip_converted = "IsConverted = false" if sobject == "Lead" and not incremental else None
        where = [condition for condition in (since_clause(mark), skip_converted) if condition]
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        columns = ", ".join(self._columns(sobject, deletions=incremental))  # queryAll: deleted rows too
        return f"SELECT {columns} FROM {sobject}{clause} ORDER BY SystemModstamp, Id"

    def _columns(self, sobject: str, *, deletions: bool = False) -> list[str]:
        extra = ["IsConverted", "ConvertedContactId"] if sobject == "Lead" else []
        gone = ["IsDeleted", "MasterRecordId"] if deletions else []
        return select_list(["Id", "SystemModstamp", *gone, *extra, *self._field_paths()[sobject].values()])

    def _field_paths(self) -> dict[str, dict[str, str]]:
        """The mapped field paths the integration user can read, checked once by describe: a mapped field
        missing from the org is dropped with a warning instead of failing every pull."""
        if self._paths is None:
            paths: dict[str, dict[str, str]] = {}
            for sobject in PARENTS:
                fields, relations = self._describe(sobject)
                wanted = self.mapper.field_paths(sobject)
                kept = {name: path for name, path in wanted.items()
                        if (path.split(".", 1)[0] in relations if "." in path else path in fields)}
                missing = sorted(set(wanted.values()) - set(kept.values()))
                if missing:
                    log.warning("salesforce_mapped_fields_missing", sobject=sobject, fields=missing)
                paths[sobject] = kept
            self._paths = paths
        return self._paths

    def _describe(self, sobject: str) -> tuple[dict[str, dict[str, Any]], set[str]]:
        body = self.client.call("setup", lambda api: getattr(api, sobject).describe())
        fields = {field["name"]: field for field in body.get("fields", [])}
        relations = {field["relationshipName"] for field in body.get("fields", []) if field.get("relationshipName")}
        return fields, relations

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

    def _query_by_ids(self, category: str, ids: Sequence[str],
                      render: Callable[[list[str]], str]) -> Iterator[dict[str, Any]]:
        for chunk in chunk_ids(ids, render, self.settings.max_query_chars):
            for records in self._query(category, render(chunk)):
                yield from records

    def _page(self, sobject: str, records: list[dict[str, Any]]) -> tuple[list[Contact], dict[str, str]]:
        """Parents of one page -> contacts with their related records; converted leads -> merges."""
        merged: dict[str, str] = {}
        live: list[dict[str, Any]] = []
        converted: list[str] = []
        for record in records:
            if sobject == "Lead" and record.get("IsConverted"):
                lead_id = to18(record["Id"])
                converted.append(lead_id)
                if record.get("ConvertedContactId"):
                    merged[lead_id] = to18(record["ConvertedContactId"])
                continue
            live.append(record)
        if converted:
            self._converted.add_many(converted)
        if not live:
            return [], merged
        paths = self._field_paths()[sobject]
        contacts = {contact.id: contact for contact in (self.mapper.to_contact(sobject, record, paths)
                                                        for record in live)}
        self._attach_related(sobject, contacts)
        return list(contacts.values()), merged

    def _attach_related(self, sobject: str, contacts: dict[str, Contact]) -> None:
        ids = list(contacts)
        now = self._clock.now()
        tasks = self._query_by_ids("activities", ids, lambda chunk: (
            f"SELECT {', '.join(TASK_COLUMNS)} FROM Task WHERE WhoId IN ({in_list(chunk)})"))
        for record in tasks:
            contacts[to18(record["WhoId"])].activities.append(self.mapper.to_activity("Task", record, now))
        events = self._query_by_ids("activities", ids, lambda chunk: (
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM Event WHERE WhoId IN ({in_list(chunk)})"))
        for record in events:
            contacts[to18(record["WhoId"])].activities.append(self.mapper.to_activity("Event", record, now))
        parent_field = "LeadId" if sobject == "Lead" else "ContactId"
        members = self._query_by_ids("activities", ids, lambda chunk: (
            f"SELECT {', '.join(MEMBER_COLUMNS)} FROM CampaignMember "
            f"WHERE {parent_field} IN ({in_list(chunk)}) AND HasResponded = true"))
        for record in members:
            event = self.mapper.to_event(record)
            if event is not None:
                contacts[to18(record[parent_field])].events.append(event)
        if sobject == "Contact":
            columns = [*ROLE_COLUMNS]
            if self.settings.contract_months_field:
                columns.append(f"Opportunity.{self.settings.contract_months_field}")
            if self.settings.multi_currency:
                columns.append("Opportunity.CurrencyIsoCode")
            roles = self._query_by_ids("deals", ids, lambda chunk: (
                f"SELECT {', '.join(columns)} FROM OpportunityContactRole WHERE ContactId IN ({in_list(chunk)})"))
            for record in roles:
                deal = self.mapper.to_deal(record)
                contact = contacts[to18(record["ContactId"])]
                if deal is not None and all(known.id != deal.id for known in contact.deals):
                    contact.deals.append(deal)
        for contact in contacts.values():
            contact.activities.sort(key=lambda activity: activity.at)
            contact.events.sort(key=lambda event: event.at)

    def _touched_pages(self, since: Any, emitted: ScratchSet[str]) -> Iterator[PullPage]:
        """Parents whose related records changed since the last pull, re-read by id (those not emitted)."""
        stamp = soql_datetime(since)
        touched: ScratchSet[str] = ScratchSet(emitted.scratch, "touched")
        queries = [
            *(("activities", f"SELECT WhoId FROM {sobject} WHERE SystemModstamp >= {stamp} AND WhoId != null",
                ("WhoId",)) for sobject in ("Task", "Event")),
            ("activities", f"SELECT LeadId, ContactId FROM CampaignMember WHERE SystemModstamp >= {stamp}",
             ("LeadId", "ContactId")),
            ("deals", f"SELECT ContactId FROM OpportunityContactRole WHERE SystemModstamp >= {stamp} "
                      f"OR Opportunity.SystemModstamp >= {stamp}", ("ContactId",)),
        ]
        for category, soql, columns in queries:
            for records in self._query(category, soql):
                touched.add_many(to18(record[column]) for record in records for column in columns
                                 if record.get(column))
        for sobject in PARENTS:
            ids = touched.difference(emitted, prefix=KEY_PREFIX[sobject])
            select = ", ".join(self._columns(sobject))

            def by_id(chunk: list[str], select: str = select, sobject: str = sobject) -> str:
                return f"SELECT {select} FROM {sobject} WHERE Id IN ({in_list(chunk)})"

            limit = self.settings.max_query_chars
            for chunk in chunk_ids(ids, by_id, limit, max_ids=self.settings.page_size):
                records = [record for page in self._query("contacts", by_id(chunk)) for record in page]
                contacts, merged = self._page(sobject, records)
                emitted.add_many(contact.id for contact in contacts)
                yield PullPage(contacts, "", deleted_ids=list(merged), merged_into=merged)

    # --- push -------------------------------------------------------------------------------------------
    def push(self, updates: Sequence[FieldUpdate]) -> list[PushResult]:
        results: list[PushResult | None] = [None] * len(updates)
        pending: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
        converted = self._converted.present(_valid_ids(update.contact_id for update in updates))
        for index, update in enumerate(updates):
            try:
                record_id = to18(update.contact_id)
            except ValueError:
                results[index] = _failed(update.contact_id, "MALFORMED_ID", "not a Salesforce record id")
                continue
            sobject = sobject_of(record_id)
            if sobject not in PARENTS:
                results[index] = _failed(update.contact_id, "INVALID_TYPE",
                                         "only Leads and Contacts are scored")
            elif record_id in converted:
                results[index] = _failed(update.contact_id, "CANNOT_UPDATE_CONVERTED_LEAD",
                                         "the lead was converted; its Contact is scored instead")
            else:
                try:
                    entry, carried = to_write(sobject, record_id, update.values, self.settings)
                except ValueError as exc:
                    results[index] = _failed(update.contact_id, "INVALID_VALUE", str(exc))
                    continue
                if len(entry) == 2:  # nothing mapped to write: no call
                    results[index] = PushResult(update.contact_id, True, written={})
                else:
                    pending.append((index, entry, carried))
        # Leads before Contacts: a collection holds at most 10 runs of one type; results come by position
        pending.sort(key=lambda item: item[1]["attributes"]["type"] != "Lead")
        for attempt in range(2):  # records failing with a retryable code are sent once more, on their own
            retry_later = []
            for start in range(0, len(pending), self.settings.batch_size):
                batch = pending[start:start + self.settings.batch_size]
                for (index, entry, carried), save in zip(batch, self._save(batch), strict=True):
                    contact_id = updates[index].contact_id
                    if save.get("success"):
                        results[index] = PushResult(contact_id, True, written=carried)
                        continue
                    error = _record_error(contact_id, save)
                    if error.code == "CANNOT_UPDATE_CONVERTED_LEAD":
                        self._converted.add_many([entry["id"]])
                    if error.retryable and attempt == 0:
                        retry_later.append((index, entry, carried))
                    results[index] = PushResult(contact_id, False, error=error)
            pending = retry_later
            if not pending:
                break
        return [result for result in results if result is not None]

    def _save(self, batch: list[tuple[int, dict[str, Any], dict[str, Any]]]) -> list[dict[str, Any]]:
        body = {"allOrNone": False, "records": [entry for _, entry, _ in batch]}
        saves = self.client.call("push", lambda api: api.restful("composite/sobjects", method="PATCH",
                                                               json=body))
        if not isinstance(saves, list) or len(saves) != len(batch):
            count = len(saves) if isinstance(saves, list) else "no"
            raise PermanentError(f"Salesforce answered {count} results for {len(batch)} records", crm=CRM)
        return saves

    # --- fields -----------------------------------------------------------------------------------------
    def ensure_fields(self) -> FieldSetupReport:
        report = CustomFields(self.client, self.settings, self._describe).ensure(PARENTS)
        self._paths = None  # read the mapped fields' visibility again
        return report


def _valid_ids(ids: Iterable[str]) -> list[str]:
    """The 18-character form of each id that is a Salesforce id."""
    valid = []
    for record_id in ids:
        try:
            valid.append(to18(record_id))
        except ValueError:
            continue
    return valid


def _failed(contact_id: str, code: str, message: str) -> PushResult:
    return PushResult(contact_id, False, error=RecordError(contact_id, code, message))


def _record_error(contact_id: str, save: Mapping[str, Any]) -> RecordError:
    errors = save.get("errors") or [{}]
    first = errors[0]
    code = str(first.get("statusCode", "UNKNOWN"))
    return RecordError(contact_id, code, str(first.get("message", "")),
                       retryable=code in RETRYABLE_RECORD_CODES, fields=tuple(first.get("fields") or ()))
