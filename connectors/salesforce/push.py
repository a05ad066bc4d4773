"""Push to Salesforce: sObject Collections updates, Leads and Contacts in the same call, and the native Lead
fields people edit written only as their ownership policy allows.

* One `PATCH /composite/sobjects` carries up to 200 records of any type ("Update Records Using sObject
  Collections", REST API Developer Guide); consecutive records of one type form a chunk and a request holds
  at most 10, so each batch puts its Leads before its Contacts: two chunks, whatever the mix.
  `allOrNone: false`: each record succeeds or fails on its own, and its SaveResult comes back at its
  position. A record failing with UNABLE_TO_LOCK_ROW is sent once more, alone; the others are reported with
  their statusCode and field names, never Salesforce's message, which can quote the value.
* A Lead's `Rating` (from maturity) and `Status` (from stage, where configured) are edited by sales every
  day. Each follows its ownership policy (`sync.toolkit.ownership`, default `unless_changed_by_person`):
  written only while the Lead holds nothing, or holds what crmsync wrote last. Deciding needs the Lead's
  current value: where the engine's `FieldUpdate.crm_values` does not hold it (a replay, a push before any
  pull), the batch reads it first, one SOQL query for all the batch's Leads that need it. A value kept
  because a person set it is not an error: the record is ok and its field is not written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import structlog

from sync.contract import CanonicalField, FieldUpdate, FieldValue, PushResult
from sync.errors import PermanentError, RecordError
from sync.spill import ScratchSet
from sync.toolkit.ownership import Ownership, Verdict, decide, needs_current_value, policy_for

from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.mapping import CRM
from connectors.salesforce.values import read_id, sobject_of
from connectors.salesforce.writes import native_targets, to_write
from connectors.salesforce.paging import in_list
from connectors.salesforce.settings import SalesforceSettings

log = structlog.get_logger("crmsync.salesforce")

PARENTS = ("Lead", "Contact")
RETRYABLE_RECORD_CODES = frozenset({"UNABLE_TO_LOCK_ROW"})
Query = Callable[[str, str], list[dict[str, Any]]]  # (category, SOQL) -> all its rows


@dataclass
class _Pending:
    index: int
    update: FieldUpdate
    sobject: str
    record_id: str
    kept: set[str] = field(default_factory=set)  # canonical fields left as a person set them


@dataclass
class LeadContactWriter:
    """Writes one account's updates. `converted` holds the leads known converted (read-only)."""

    client: SalesforceClient
    settings: SalesforceSettings
    converted: ScratchSet[str]
    query: Query
    _: KW_ONLY
    account: str
    #: told of each record written (its 18-character id), with the fields it now holds by crmsync's hand
    confirmed: Callable[[list[tuple[str, dict[str, Any]]]], None] = lambda written: None

    def push(self, updates: Sequence[FieldUpdate]) -> list[PushResult]:
        results: list[PushResult | None] = [None] * len(updates)
        pending: list[_Pending] = []
        converted = self.converted.present(record_id for record_id in (read_id(update.contact_id)
                                                                       for update in updates) if record_id)
        for index, update in enumerate(updates):
            record_id = read_id(update.contact_id)
            if record_id is None:
                results[index] = _failed(update.contact_id, "MALFORMED_ID", "not a Salesforce record id")
                continue
            sobject = sobject_of(record_id)
            if sobject not in PARENTS:
                results[index] = _failed(update.contact_id, "INVALID_TYPE", "only Leads and Contacts are scored")
            elif record_id in converted:
                results[index] = _failed(update.contact_id, "CANNOT_UPDATE_CONVERTED_LEAD",
                                         "the lead was converted; its Contact is scored instead")
            elif not update.values:
                results[index] = PushResult(update.contact_id, True, written={})
            else:
                pending.append(_Pending(index, update, sobject, record_id))
        pending.sort(key=lambda item: item.sobject != "Lead")  # Leads first: two chunks at most
        kept: dict[str, int] = {}
        retry_later: list[tuple[_Pending, dict[str, Any], dict[str, FieldValue]]] = []
        for start in range(0, len(pending), self.settings.batch_size):
            batch = pending[start:start + self.settings.batch_size]
            entries = self._entries(batch, results, kept)
            retry_later += self._send(entries, results, retry=True)
        for start in range(0, len(retry_later), self.settings.batch_size):  # locked by another transaction:
            self._send(retry_later[start:start + self.settings.batch_size], results, retry=False)  # once more
        if kept:
            log.info("salesforce_person_values_kept", crm=CRM, account=self.account, fields=kept)
        return [result for result in results if result is not None]

    # --- one batch ------------------------------------------------------------------------------------
    def _entries(self, batch: list[_Pending], results: list[PushResult | None],
                 kept: dict[str, int]) -> list[tuple[_Pending, dict[str, Any], dict[str, FieldValue]]]:
        """The batch's collection entries, native fields decided; records left with nothing to write are
        answered at once (no call)."""
        current = self._current_values(batch)
        entries = []
        for item in batch:
            try:
                entry, carried = to_write(item.sobject, item.record_id, item.update.values, self.settings)
            except ValueError as exc:
                results[item.index] = _failed(item.update.contact_id, "INVALID_VALUE", str(exc))
                continue
            for canonical, native, verdict in self._decisions(item, current.get(item.record_id)):
                if verdict is Verdict.WRITE:
                    continue
                entry.pop(native, None)
                if verdict in (Verdict.KEEP_PERSON_VALUE, Verdict.NOT_OWNED):
                    kept[native] = kept.get(native, 0) + 1
                if verdict is Verdict.KEEP_PERSON_VALUE:
                    item.kept.add(canonical)
                if not self._written_elsewhere(canonical):
                    carried.pop(canonical, None)
            if len(entry) == 2:  # attributes and id only: nothing to write
                results[item.index] = PushResult(item.update.contact_id, True, written=carried,
                                                 kept=tuple(sorted(item.kept)))
            else:
                entries.append((item, entry, carried))
        return entries

    def _decisions(self, item: _Pending,
                   current: Mapping[str, Any] | None) -> Iterable[tuple[str, str, Verdict]]:
        """(canonical field, native field, verdict) for each native field the update would write."""
        for key, value in item.update.values.items():
            canonical = CanonicalField(key)
            for native, target in native_targets(item.sobject, canonical, value, self.settings).items():
                policy = policy_for(native, self.settings.ownership, Ownership.UNLESS_CHANGED_BY_PERSON)
                if native in item.update.crm_values:
                    now = item.update.crm_values[native]
                elif not needs_current_value(policy):
                    now = None
                elif current is None:  # the Lead could not be read: never assume, leave the field alone
                    yield key, native, Verdict.KEEP_PERSON_VALUE
                    continue
                else:
                    now = current.get(native)
                previous = item.update.previous.get(key)
                last = native_targets(item.sobject, canonical, previous, self.settings).get(native) \
                    if previous is not None else None
                yield key, native, decide(policy, target=target, current=now, last_written=last, same=_same)

    def _written_elsewhere(self, canonical: str) -> bool:
        return bool(self.settings.custom_field(CanonicalField(canonical)))

    def _current_values(self, batch: list[_Pending]) -> dict[str, dict[str, Any]]:
        """The current native values of the batch's Leads whose decision needs them and whose update does
        not carry them: one query for the whole batch, none when every value is known."""
        wanted: dict[str, set[str]] = {}
        for item in batch:
            for key, value in item.update.values.items():
                for native in native_targets(item.sobject, CanonicalField(key), value, self.settings):
                    policy = policy_for(native, self.settings.ownership, Ownership.UNLESS_CHANGED_BY_PERSON)
                    if needs_current_value(policy) and native not in item.update.crm_values:
                        wanted.setdefault(item.record_id, set()).add(native)
        if not wanted:
            return {}
        names = sorted(set().union(*wanted.values()))
        rows = self.query("push_read",
                          f"SELECT Id, {', '.join(names)} FROM Lead WHERE Id IN ({in_list(sorted(wanted))})")
        found = {}
        for row in rows:
            record_id = read_id(row.get("Id"))
            if record_id is not None:
                found[record_id] = {name: row.get(name) for name in names}
        return found

    # --- sending --------------------------------------------------------------------------------------
    def _send(self, entries: list[tuple[_Pending, dict[str, Any], dict[str, FieldValue]]],
              results: list[PushResult | None], *, retry: bool
              ) -> list[tuple[_Pending, dict[str, Any], dict[str, FieldValue]]]:
        """Send the entries (at most one batch); returns those to send once more."""
        again: list[tuple[_Pending, dict[str, Any], dict[str, FieldValue]]] = []
        if not entries:
            return again
        landed: list[tuple[str, dict[str, Any]]] = []
        for (item, entry, carried), save in zip(entries, self._save([entry for _, entry, _ in entries]),
                                                strict=True):
            contact_id = item.update.contact_id
            if save.get("success"):
                results[item.index] = PushResult(contact_id, True, written=carried,
                                                 kept=tuple(sorted(item.kept)))
                landed.append((item.record_id, {name: value for name, value in entry.items()
                                                if name not in ("attributes", "Id")}))
                continue
            error = _record_error(contact_id, save)
            if error.code == "CANNOT_UPDATE_CONVERTED_LEAD":
                self.converted.add_many([item.record_id])
            if error.retryable and retry:
                again.append((item, entry, carried))
            results[item.index] = PushResult(contact_id, False, error=error)
        self.confirmed(landed)
        return again

    def _save(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        body = {"allOrNone": False, "records": records}
        saves = self.client.call("push", lambda api: api.restful("composite/sobjects", method="PATCH", json=body))
        if not isinstance(saves, list) or len(saves) != len(records):
            count = len(saves) if isinstance(saves, list) else "no"
            raise PermanentError(f"Salesforce answered {count} results for {len(records)} records", crm=CRM)
        return [save if isinstance(save, dict) else {} for save in saves]


def _same(first: Any, second: Any) -> bool:
    """Picklist values compare without regard to case, as Salesforce matches them."""
    return str(first).casefold() == str(second).casefold()


def _failed(contact_id: str, code: str, message: str) -> PushResult:
    return PushResult(contact_id, False, error=RecordError(contact_id, code, message))


def _record_error(contact_id: str, save: Mapping[str, Any]) -> RecordError:
    """A SaveResult's first error as a RecordError: its statusCode and field names. Salesforce's message is
    left out: it can quote the value ("data value too large: ..."), and contact data stays out of logs."""
    errors = save.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], Mapping) else {}
    code = str(first.get("statusCode") or "UNKNOWN")
    fields = tuple(str(name) for name in (first.get("fields") or ()) if isinstance(name, str))
    message = f"Salesforce refused the record ({code}" + (f" on {', '.join(fields)}" if fields else "") + ")"
    return RecordError(contact_id, code, message, retryable=code in RETRYABLE_RECORD_CODES, fields=fields)
