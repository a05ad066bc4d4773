"""Writing to Pipedrive persons: one `PATCH /api/v2/persons/{id}` per person with only the changed custom
fields (Pipedrive has no batch update), and `label_ids` when the maturity label moves, kept with the labels
people set.

Why one call per person: the v2 API updates one person per request ("Persons", `PATCH
/api/v2/persons/{id}`); nothing to write means no call. A person Pipedrive rejects (400, 403, 404, 410,
422) is reported as that record's failure and the others go on. A PATCH of `label_ids` replaces them
all, so the labels a person already has are read first (from the last pull, or by `ids=` look-ups for
persons no pull has shown yet) and only crmsync's maturity label is swapped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from connectors.pipedrive.client import COST_V2_UPDATE, PipedriveClient
from connectors.pipedrive.mapping import FieldCatalog, ValueRejected, changed_values, maturity_label_ids, to_write
from connectors.pipedrive.settings import PipedriveSettings
from sync.contract import CanonicalField, FieldUpdate, PushResult
from sync.errors import PermanentError, RecordError
from sync.spill import ScratchMap

RECORD_STATUSES = frozenset({400, 403, 404, 410, 422})  # one person rejected; the rest of the push goes on
ByIds = Callable[[str, list[int], str], Iterator[list[dict[str, Any]]]]


def labels_text(label_ids: Any) -> str:
    """A person's label ids as stored on disk: `"3,7"`, or `""` for none (known to have none)."""
    return ",".join(str(int(label_id)) for label_id in label_ids or [])


def label_ids_of(text: str | None) -> list[int]:
    return [int(label_id) for label_id in text.split(",")] if text else []


class PersonWriter:
    """One push of one account."""

    def __init__(self, client: PipedriveClient, settings: PipedriveSettings, labels: ScratchMap[int, str],
                 by_ids: ByIds) -> None:
        self.client = client
        self.settings = settings
        self._labels = labels  # person id -> label ids as last pulled or written, on disk
        self._by_ids = by_ids

    def push(self, updates: Sequence[FieldUpdate], catalog_of: Callable[[], FieldCatalog]) -> list[PushResult]:
        """One result per update, in input order."""
        if not any(changed_values(update) for update in updates):
            return [PushResult(contact_id=update.contact_id, ok=True) for update in updates]
        catalog = catalog_of()
        maturity_labels = maturity_label_ids(catalog, self.settings.maturity_labels)
        labels = self._labels.get_many(int(update.contact_id) for update in updates if update.contact_id.isdigit())
        if maturity_labels:
            self._load_labels([update for update in updates if str(CanonicalField.MATURITY) in update.values], labels)
        return [self._write(update, catalog, maturity_labels, labels) for update in updates]

    def _write(self, update: FieldUpdate, catalog: FieldCatalog, maturity_labels: dict[str, int],
               labels: dict[int, str]) -> PushResult:
        try:
            labels_now = label_ids_of(labels.get(int(update.contact_id))) if update.contact_id.isdigit() else []
            body, written = to_write(update, catalog, self.settings.write_fields, labels_now, maturity_labels)
        except ValueRejected as exc:
            return _failed(update, "invalid_value", str(exc))
        if not body:
            return PushResult(contact_id=update.contact_id, ok=True, written=written)
        try:
            self.client.request("PATCH", f"/api/v2/persons/{int(update.contact_id)}", json=body, category="push",
                                cost=COST_V2_UPDATE, idempotent=True)
        except PermanentError as exc:
            if exc.status not in RECORD_STATUSES:
                raise
            code = {404: "not_found", 410: "gone", 403: "forbidden"}.get(exc.status or 0, "rejected")
            return _failed(update, code, exc.user_message)
        if "label_ids" in body:  # a later update of the same person in this batch starts from these
            labels[int(update.contact_id)] = labels_text(body["label_ids"])
            self._labels.put_many([(int(update.contact_id), labels[int(update.contact_id)])])
        return PushResult(contact_id=update.contact_id, ok=True, written=written)

    def _load_labels(self, updates: Sequence[FieldUpdate], labels: dict[int, str]) -> None:
        """Labels of persons not seen in a pull (not in `labels`), read in `ids=` batches into `labels` and
        the disk: a PATCH of `label_ids` replaces them all, and crmsync must keep the labels people set."""
        unknown = sorted({int(update.contact_id) for update in updates if update.contact_id.isdigit()} - labels.keys())
        for found in self._by_ids("/api/v2/persons", unknown, "contacts"):
            texts = {int(row["id"]): labels_text(row.get("label_ids")) for row in found}
            self._labels.put_many(texts.items())
            labels.update(texts)


def _failed(update: FieldUpdate, code: str, message: str) -> PushResult:
    error = RecordError(record_id=update.contact_id, code=code, message=message, fields=tuple(sorted(update.values)))
    return PushResult(contact_id=update.contact_id, ok=False, error=error)
