"""Writing to HubSpot contacts: `POST /crm/v3/objects/contacts/batch/update`, 100 inputs a call, only the
values that changed, and the native properties only as their ownership policy and HubSpot's forward-only
lifecycle allow (`writing.py`).

Per batch of updates:

1. what HubSpot holds now for the native properties the batch would write and does not know
   (`FieldUpdate.crm_values` lacks them: an outbox replay after a crash, a retry, a push before any pull):
   one `POST /crm/v3/objects/contacts/batch/read` for the whole batch;
2. for the values that policy would keep as a person's, who set them: their history, in batch reads of 50
   (`propertiesWithHistory`; on a first sync, HubSpot's default stages; afterwards, rarely);
3. round k sends step k of every update that has one (a lifecycle stage moved back is cleared in one round
   and set in the next, never in one batch).

Failures stay with their record ("CRM API | Contacts", batch endpoints): a 207 lists the failed ids per
error with HubSpot's category (OBJECT_NOT_FOUND, LOCKED...); those records fail, the others are done and
nothing is resent. A 400 rejects the whole batch without naming the culprit: the batch is split in halves
until the culprit stands alone, so no batch is resent whole. A culprit refused for a native property only
(HubSpot moved the lifecycle stage meanwhile, a stage the account no longer has) is sent once more
without it: its own properties land and the native one stays as HubSpot holds it. A record's error carries
HubSpot's category or code and the property names, never HubSpot's message, which can quote the values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

import hubspot.crm.contacts as contacts_sdk
import structlog

from connectors.hubspot import mapping
from connectors.hubspot.client import HubSpotClient, HubSpotRejected
from connectors.hubspot.mapping import LIFECYCLE, NATIVE_FIELDS
from connectors.hubspot.related import RelatedReader
from connectors.hubspot.settings import HubSpotSettings
from connectors.hubspot.writing import Lifecycle, PlannedUpdate, native_wanted, plan
from sync.contract import FieldUpdate, PushResult
from sync.errors import RecordError
from sync.toolkit.cursor import EPOCH
from sync.toolkit.ownership import Verdict

_CONTACTS_CFG = contacts_sdk.Configuration()
RETRYABLE = frozenset({"RATE_LIMITS", "LOCKED"})  # 207 categories that a later attempt may get through
PERSON_SOURCES = frozenset({"CRM_UI", "MOBILE_IOS", "MOBILE_ANDROID"})  # changes typed by someone in HubSpot's apps
log = structlog.get_logger(__name__)


@dataclass
class ContactWriter:
    """One account's pushes. `types` and `lifecycle` are called once per push: the property types and the
    account's lifecycle stages, as cached by the connector."""

    client: HubSpotClient
    settings: HubSpotSettings
    related: RelatedReader
    _: KW_ONLY
    types: Callable[[], Mapping[str, str]]
    lifecycle: Callable[[], Lifecycle]
    account: str
    #: told of each contact written, with the native values it now holds by crmsync's hand
    confirmed: Callable[[list[tuple[str, dict[str, str]]]], None] = lambda written: None

    def push(self, updates: Sequence[FieldUpdate]) -> list[PushResult]:
        """One result per update, in input order. What the plans decide from is read for the whole call
        (full batches of 100, history 50 a call); the writes go `push_batch_size` contacts a batch update."""
        kept: Counter[str] = Counter()
        plans, results = self._plans(list(enumerate(updates)))
        in_order = list(plans.items())
        size = self.settings.push_batch_size
        for offset in range(0, len(in_order), size):
            chunk = dict(in_order[offset:offset + size])
            failures = self._rounds(list(chunk.values()))
            kept.update(name for planned in chunk.values() for name in planned.kept)
            for index, planned in chunk.items():
                error = failures.get(planned.contact_id)
                results[index] = (PushResult(planned.contact_id, ok=False, error=error) if error is not None
                                  else PushResult(planned.contact_id, ok=True, written=planned.written,
                                                  kept=_kept_by_person(planned)))
            self.confirmed([(planned.contact_id, _native_values(planned)) for planned in chunk.values()
                            if planned.contact_id not in failures])
        if kept:  # not errors: the person's (or HubSpot's later) value stays, the record's own fields landed
            log.info("hubspot_native_fields_kept", crm="hubspot", account=self.account, contacts=len(updates),
                     **{name: kept[name] for name in NATIVE_FIELDS})
        return [results[index] for index in range(len(updates))]

    def _plans(self, batch: list[tuple[int, FieldUpdate]]) -> tuple[dict[int, PlannedUpdate], dict[int, PushResult]]:
        """The plan of each update (by its index), and the results of those that cannot be planned."""
        current = self._current([update for _, update in batch])
        types, lifecycle = self.types(), self.lifecycle()
        plans: dict[int, PlannedUpdate] = {}
        results: dict[int, PushResult] = {}
        known: dict[int, dict[str, Any]] = {}
        for index, update in batch:
            known[index] = {**current.get(update.contact_id, {}),
                            **{name: update.crm_values[name] for name in NATIVE_FIELDS if name in update.crm_values}}
            try:
                plans[index] = plan(update, settings=self.settings, types=types, lifecycle=lifecycle,
                                    current=known[index])
            except (KeyError, ValueError):
                unknown = sorted(set(update.values) - {canonical.value for canonical in self.settings.field_properties})
                results[index] = PushResult(update.contact_id, ok=False, error=RecordError(
                    update.contact_id, "UNKNOWN_FIELD", f"not a canonical field: {unknown}"))
        doubted = {index: [name for name, why in planned.kept.items() if why == Verdict.KEEP_PERSON_VALUE.value]
                   for index, planned in plans.items()}
        doubted = {index: names for index, names in doubted.items() if names}
        if doubted:  # kept as a person's: HubSpot's history tells whether a person set it
            authors = self._authors({plans[index].contact_id: names for index, names in doubted.items()})
            updates = dict(batch)
            for index, names in doubted.items():
                fresh, automated = authors.get(plans[index].contact_id, ({}, set()))
                if automated & set(names):
                    plans[index] = plan(updates[index], settings=self.settings, types=types, lifecycle=lifecycle,
                                        current={**known[index], **fresh}, automated=automated)
        return plans, results

    def _current(self, updates: list[FieldUpdate]) -> dict[str, dict[str, Any]]:
        """HubSpot's values of the native properties these updates must decide from and do not know: batch
        reads of 100, none when every one is known."""
        wanted = [update.contact_id for update in updates if mapping.RECORD_ID.match(update.contact_id)
                  and any(name not in update.crm_values for name in native_wanted(update, self.settings))]
        if not wanted:
            return {}
        records = self.related.batch_read("contacts", wanted, list(NATIVE_FIELDS))
        return {str(record.get("id")): {name: (record.get("properties") or {}).get(name) for name in NATIVE_FIELDS}
                for record in records}

    def _authors(self, doubted: Mapping[str, list[str]]) -> dict[str, tuple[dict[str, Any], set[str]]]:
        """Per contact: HubSpot's current values and the names among `doubted[contact]` whose value no person
        set, from the properties' history (batch reads of 50)."""
        names = sorted({name for wanted in doubted.values() for name in wanted})
        found: dict[str, tuple[dict[str, Any], set[str]]] = {}
        for record in self.related.batch_read("contacts", list(doubted), list(NATIVE_FIELDS), history=names):
            contact_id = str(record.get("id"))
            history = record.get("propertiesWithHistory") or {}
            values = {name: (record.get("properties") or {}).get(name) for name in NATIVE_FIELDS}
            automated = {name for name in doubted.get(contact_id, []) if not _set_by_person(history.get(name))}
            found[contact_id] = (values, automated)
        return found

    def _rounds(self, plans: list[PlannedUpdate]) -> dict[str, RecordError]:
        """Round k sends step k of every plan that has one; a failed record takes no further steps."""
        failures: dict[str, RecordError] = {}
        by_contact: dict[str, list[PlannedUpdate]] = {}
        for planned in plans:
            by_contact.setdefault(planned.contact_id, []).append(planned)
        step = 0
        while True:
            inputs: dict[str, dict[str, str]] = {}
            for contact_id, contact_plans in by_contact.items():
                if contact_id in failures:
                    continue
                for planned in contact_plans:  # the same contact twice: later values win, one input per batch
                    if step < len(planned.steps):
                        inputs.setdefault(contact_id, {}).update(planned.steps[step])
            if not inputs:
                return failures
            stored, failed = self._update(list(inputs.items()), by_contact)
            failures.update(failed)
            for contact_id, sent in inputs.items():
                if contact_id in stored:
                    _read_back(sent, stored[contact_id], by_contact[contact_id])
            step += 1

    def _update(self, inputs: list[tuple[str, dict[str, str]]], plans: Mapping[str, list[PlannedUpdate]]
                ) -> tuple[dict[str, dict[str, Any]], dict[str, RecordError]]:
        """One batch update; on a whole-batch validation error, split it in halves to isolate the culprits."""
        if not inputs:
            return {}, {}
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
            if len(inputs) == 1 and exc.property_names and set(exc.property_names) <= set(NATIVE_FIELDS):
                return self._without_native(inputs[0], plans, exc)
            return {}, {cid: _record_error(cid, exc.codes[0] if exc.codes else exc.category or str(exc.status),
                                           f"HubSpot rejected the update ({exc.status} {exc.category or 'error'})",
                                           exc.property_names, plans) for cid, _ in inputs}
        stored = {str(result.get("id")): result.get("properties") or {} for result in data.get("results") or []}
        failed: dict[str, RecordError] = {}
        for error in data.get("errors") or []:
            category = str(error.get("category") or "ERROR")
            for cid in (error.get("context") or {}).get("ids") or []:
                failed[str(cid)] = _record_error(str(cid), category, f"HubSpot rejected the update ({category})",
                                                 [], plans, retryable=category in RETRYABLE)
        for cid, _ in inputs:
            if cid not in stored and cid not in failed:
                failed[cid] = _record_error(cid, "NOT_CONFIRMED", "HubSpot did not confirm the update", [], plans,
                                            retryable=True)
        return stored, failed

    def _without_native(self, single: tuple[str, dict[str, str]], plans: Mapping[str, list[PlannedUpdate]],
                        exc: HubSpotRejected) -> tuple[dict[str, dict[str, Any]], dict[str, RecordError]]:
        """HubSpot refused a native property of this one record: keep HubSpot's value, send the rest."""
        contact_id, sent = single
        for planned in plans.get(contact_id, []):
            planned.drop_native(f"refused ({exc.codes[0] if exc.codes else exc.category})")
        rest = {name: value for name, value in sent.items() if name not in NATIVE_FIELDS}
        return self._update([(contact_id, rest)], plans) if rest else ({contact_id: {}}, {})


def _kept_by_person(planned: PlannedUpdate) -> tuple[str, ...]:
    """The canonical fields whose native property kept a value a person set (the lifecycle stage kept
    because HubSpot only moves it forward is no person's choice, and not named)."""
    return tuple(sorted({planned.property_fields.get(name, name) for name, why in planned.kept.items()
                         if why == Verdict.KEEP_PERSON_VALUE.value}))


def _set_by_person(history: Any) -> bool:
    """Whether a person made the latest change of a property ("CRM API | Contacts", property history: a
    user's change names `updatedByUserId`); no history at all is taken for a person's, to be safe."""
    entries = [entry for entry in history if isinstance(entry, Mapping)] if isinstance(history, list) else []
    if not entries:
        return True
    latest = max(entries, key=lambda entry: mapping.parse_time(str(entry.get("timestamp") or "")) or EPOCH)
    return latest.get("updatedByUserId") not in (None, "") or str(latest.get("sourceType")) in PERSON_SOURCES


def _native_values(planned: PlannedUpdate) -> dict[str, str]:
    """The native properties as the plan's steps leave them (a clear, then a set: the set)."""
    return {name: value for step in planned.steps for name, value in step.items() if name in NATIVE_FIELDS}


def _read_back(sent: Mapping[str, str], stored: Mapping[str, Any], plans: list[PlannedUpdate]) -> None:
    """HubSpot may keep a later lifecycle stage without an error: then HubSpot's stage stays."""
    target = sent.get(LIFECYCLE)
    value = stored.get(LIFECYCLE)
    if not target or value is None or value == target:
        return
    for planned in plans:
        if planned.lifecycle_target == target:
            planned.kept[LIFECYCLE] = "forward_only"
            planned.steps = [step for step in planned.steps if step.get(LIFECYCLE) != target]


def _record_error(contact_id: str, code: str, message: str, properties: list[str],
                  plans: Mapping[str, list[PlannedUpdate]], *, retryable: bool = False) -> RecordError:
    names = {planned.property_fields.get(prop, prop) for planned in plans.get(contact_id, []) for prop in properties}
    return RecordError(contact_id, code, message, retryable=retryable, fields=tuple(sorted(names)))

