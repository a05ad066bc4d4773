"""Writing to Pipedrive persons: one `PATCH /api/v2/persons/{id}` per person with only the changed custom
fields (Pipedrive has no batch update), and `label_ids` when the maturity label moves (see `encoding`).

Why one call per person: the v2 API updates one person per request ("Update a person", `PATCH
/api/v2/persons/{id}`); nothing to write means no call. Before the PATCHes, the labels of the persons whose
maturity label may move are read in one `ids=` look-up per 100 persons (never one per person), unless the
engine passed them in `FieldUpdate.crm_values` from a pull of the same run: what the last pull saw may be
stale by now (an outbox replay, a person who changed a label since).

A person Pipedrive rejects is that record's failure, and the others go on:
- 404 or 410: the person is gone (deleted, merged into another, or purged 30 days after its deletion): the
  result says `gone`, and the engine stops managing it at once;
- any other refusal (400, 403, 422...): Pipedrive's own message, when it cannot carry contact data (it
  quotes none of the values sent, no e-mail address, no long number); otherwise its status, its error
  code and the fields sent. Field keys in the message are replaced by the fields' names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import structlog

from connectors.pipedrive.client import COST_V2_UPDATE, PipedriveClient, PipedriveRejected
from connectors.pipedrive.encoding import (
    MATURITY,
    ValueRejected,
    changed_values,
    custom_fields_body,
    maturity_label_ids,
    move_labels,
)
from connectors.pipedrive.fields import FieldCatalog, PersonFields
from connectors.pipedrive.mapping import LABELS_FIELD, pipedrive_id
from connectors.pipedrive.persons import label_ids_of
from connectors.pipedrive.settings import PipedriveSettings
from sync.contract import FieldUpdate, PushResult
from sync.errors import PermanentError, RecordError
from sync.toolkit.ownership import Ownership, Verdict, policy_for, unknown_names

log = structlog.get_logger("crmsync.pipedrive")

GONE_STATUSES = frozenset({404, 410})  # the person no longer exists
RECORD_STATUSES = frozenset({400, 403, 422}) | GONE_STATUSES  # one person refused; the push goes on
ByIds = Callable[[str, list[int], str], Iterator[list[dict[str, Any]]]]
_KEY = re.compile(r"\b[0-9a-f]{40}\b")
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+")
_LONG_NUMBER = re.compile(r"\d[\d .\-()+]{6,}\d")


class PersonWriter:
    """One push of one account."""

    def __init__(self, client: PipedriveClient, settings: PipedriveSettings, fields: PersonFields, by_ids: ByIds,
                 account: str) -> None:
        self.client = client
        self.settings = settings
        self.fields = fields
        self._by_ids = by_ids
        self.account = account
        self.policy = policy_for(LABELS_FIELD, settings.ownership, Ownership.UNLESS_CHANGED_BY_PERSON)

    def push(self, updates: Sequence[FieldUpdate]) -> list[PushResult]:
        """One result per update, in input order."""
        if not any(changed_values(update) for update in updates):
            return [PushResult(contact_id=update.contact_id, ok=True) for update in updates]
        catalog = self.fields.catalog()
        maturity_labels = maturity_label_ids(catalog, self.settings.maturity_labels)
        labels: dict[str, list[int] | None] = {}
        if maturity_labels and self.policy is not Ownership.NEVER:
            labels = self._current_labels([update for update in updates if MATURITY in changed_values(update)])
        return [self._write(update, catalog, maturity_labels, labels) for update in updates]

    def _current_labels(self, updates: Sequence[FieldUpdate]) -> dict[str, list[int] | None]:
        """Each person's labels: from `crm_values` where the engine knows them, else read, 100 a call. A
        person the read does not return is absent (gone, or not visible): its labels are left alone."""
        known = {update.contact_id: label_ids_of(update.crm_values[LABELS_FIELD]) for update in updates
                 if LABELS_FIELD in update.crm_values}
        missing = unknown_names(list(updates), lambda update: [LABELS_FIELD])
        wanted = sorted({int(cid) for cid in missing if cid.isdigit()})
        for found in self._by_ids("/api/v2/persons", wanted, "contacts"):
            for row in found:
                person = pipedrive_id(row.get("id"))
                raw = row.get(LABELS_FIELD)
                ids = [pipedrive_id(item) for item in raw] if isinstance(raw, list) else [] if raw is None else [None]
                if person is not None and None not in ids:
                    known[str(person)] = [item for item in ids if item is not None]
        return known

    def _write(self, update: FieldUpdate, catalog: FieldCatalog, maturity_labels: Mapping[str, int],
               labels: dict[str, list[int] | None]) -> PushResult:
        try:
            custom, written = custom_fields_body(update, catalog, self.settings.write_fields, self.fields.refused)
        except ValueRejected as exc:
            return _failed(update, "invalid_value", str(exc))
        body: dict[str, Any] = {"custom_fields": custom} if custom else {}
        kept: tuple[str, ...] = ()
        labels_now = labels.get(update.contact_id)
        if maturity_labels and MATURITY in changed_values(update) and labels_now is not None:
            move = move_labels(update, labels_now, maturity_labels, self.policy)
            if move.labels is not None:
                body["label_ids"] = move.labels
                written.setdefault(MATURITY, update.values[MATURITY])
            elif move.verdict is Verdict.KEEP_PERSON_VALUE:
                kept = (MATURITY,)
                log.info("person_value_kept", crm="pipedrive", account=self.account, contact_id=update.contact_id,
                         field=LABELS_FIELD)
        if not body:
            return PushResult(contact_id=update.contact_id, ok=True, written=written, kept=kept)
        try:
            self.client.request("PATCH", f"/api/v2/persons/{int(update.contact_id)}", json=body, category="push",
                                cost=COST_V2_UPDATE, idempotent=True)
        except PermanentError as exc:
            if exc.status not in RECORD_STATUSES:
                raise
            return self._refused(update, exc, body, catalog)
        if "label_ids" in body:  # a later update of the same person in this batch starts from these
            labels[update.contact_id] = list(body["label_ids"])
        return PushResult(contact_id=update.contact_id, ok=True, written=written, kept=kept)

    def _refused(self, update: FieldUpdate, exc: PermanentError, body: Mapping[str, Any],
                 catalog: FieldCatalog) -> PushResult:
        status = exc.status or 0
        if status in GONE_STATUSES:
            error = RecordError(record_id=update.contact_id, code="gone" if status == 410 else "not_found",
                                message=f"Pipedrive: person {update.contact_id} no longer exists (HTTP {status}: "
                                        "deleted, merged into another person, or purged)",
                                fields=tuple(sorted(update.values)))
            return PushResult(contact_id=update.contact_id, ok=False, error=error, gone=True)
        code = exc.code if isinstance(exc, PipedriveRejected) and exc.code else \
            {403: "forbidden"}.get(status, "rejected")
        said = safe_message(exc.detail or "", body, catalog)
        fields = ", ".join(sorted(update.values))
        message = (f"Pipedrive refused the update (HTTP {status}, {code}): {said}" if said
                   else f"Pipedrive refused the update (HTTP {status}, {code}) of {fields}; its message is not "
                        "repeated because it may quote the person's data")
        return _failed(update, code, message)


def safe_message(text: str, body: Mapping[str, Any], catalog: FieldCatalog) -> str | None:
    """Pipedrive's error message with field keys named, or None when it may carry contact data: it quotes a
    value that was sent, an e-mail address or a long number (a phone)."""
    text = re.sub(r"[\x00-\x1f\x7f]", " ", text).strip()[:300]
    if not text:
        return None
    sent = [str(value) for value in _values(body) if value is not None and len(str(value)) >= 3]
    if any(value in text for value in sent):
        return None
    named = _KEY.sub(lambda key: repr(catalog.by_key[key.group()].name) if key.group() in catalog.by_key
                     else "a custom field", text)
    return None if _EMAIL.search(named) or _LONG_NUMBER.search(named) else named


def _values(body: Mapping[str, Any]) -> Iterator[Any]:
    for value in body.values():
        if isinstance(value, Mapping):
            yield from _values(value)
        elif isinstance(value, list):
            yield from value
        else:
            yield value


def _failed(update: FieldUpdate, code: str, message: str) -> PushResult:
    error = RecordError(record_id=update.contact_id, code=code, message=message, fields=tuple(sorted(update.values)))
    return PushResult(contact_id=update.contact_id, ok=False, error=error)


__all__ = ["PersonWriter", "safe_message"]
