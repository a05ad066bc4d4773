"""Canonical values -> the body of one `PATCH /api/v2/persons/{id}`: crmsync's custom fields, and the
person's labels when the maturity label moves and the ownership policy lets crmsync move it.

Labels: a PATCH of `label_ids` replaces them all ("Update a person", v2), so the labels a person has are
read first and every label that is not one of crmsync's maturity labels is kept as it is. The maturity
labels themselves are a native field people also edit (`label_ids` in the `ownership` setting, by default
`unless_changed_by_person`): crmsync swaps them while the person holds none of them or the one crmsync wrote
last; a person who put "Hot lead" there by hand keeps it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from connectors.pipedrive.fields import FieldCatalog, PersonField
from connectors.pipedrive.mapping import NO, YES, format_rfc3339
from connectors.pipedrive.settings import FieldSpec
from sync.contract import CanonicalField, FieldUpdate, FieldValue
from sync.model import Maturity
from sync.toolkit.ownership import Ownership, Verdict, decide

VARCHAR_MAX = 255
MATURITY = str(CanonicalField.MATURITY)
CANONICAL_NAMES = frozenset(str(canonical) for canonical in CanonicalField)


class ValueRejected(ValueError):
    """A canonical value that the target Pipedrive field cannot hold (reported per record)."""


def encode_value(spec: FieldSpec, target: PersonField, value: FieldValue) -> tuple[Any, FieldValue]:
    """Canonical value -> (value to send under `custom_fields`, value as written). None clears."""
    if value is None:
        return None, None
    kind = target.field_type
    if kind == "double":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueRejected(f"{spec.name}: a number is needed")
        return value, value
    if kind in ("enum", "set"):
        label = (YES if value else NO) if isinstance(value, bool) else str(value)
        option_id = target.option_id(label)
        if option_id is None:
            raise ValueRejected(f"{spec.name}: no option {label!r} (was it deleted in Pipedrive?)")
        return ([option_id] if kind == "set" else option_id), value
    if kind == "date":
        if isinstance(value, datetime):
            return value.astimezone(timezone.utc).date().isoformat(), value
        raise ValueRejected(f"{spec.name}: a date is needed")
    text = format_rfc3339(value) if isinstance(value, datetime) else str(value)
    if kind == "varchar" and len(text) > VARCHAR_MAX:
        text = text[: VARCHAR_MAX - 1] + "…"
        return text, text
    return text, value


def changed_values(update: FieldUpdate) -> dict[str, FieldValue]:
    """The values that differ from what the engine says the CRM holds (`previous`): only those are sent."""
    return {
        name: value
        for name, value in update.values.items()
        if name not in update.previous or update.previous[name] != value
    }


def maturity_label_ids(catalog: FieldCatalog, labels: Mapping[Maturity, str] | None) -> dict[str, int]:
    """Maturity -> the id of its person label, for the labels that exist in the account."""
    if not labels:
        return {}
    by_label = {label: option_id for option_id, label in catalog.label_options().items()}
    return {str(maturity): by_label[label] for maturity, label in labels.items() if label in by_label}


def custom_fields_body(update: FieldUpdate, catalog: FieldCatalog, write_fields: Mapping[CanonicalField, FieldSpec],
                       refused: Collection[str]) -> tuple[dict[str, Any], dict[str, FieldValue]]:
    """The `custom_fields` of the PATCH for the changed values, and what it writes. Values of fields this
    account does not write, or that its plan refused to create (a setup warning says so), are left out."""
    if not update.contact_id.isdigit():
        raise ValueRejected(f"{update.contact_id!r} is not a Pipedrive person id")
    custom: dict[str, Any] = {}
    written: dict[str, FieldValue] = {}
    for name, value in changed_values(update).items():
        spec = write_fields.get(CanonicalField(name)) if name in CANONICAL_NAMES else None
        if spec is None:
            continue
        target = catalog.named(spec.name)
        if target is None:
            if spec.name in refused:
                continue
            raise ValueRejected(f"field {spec.name!r} does not exist in Pipedrive: run ensure_fields")
        custom[target.key], written[name] = encode_value(spec, target, value)
    return custom, written


@dataclass(frozen=True)
class LabelMove:
    """What to do with a person's labels: `labels` is the whole new list (None: leave them as they are)."""

    verdict: Verdict
    labels: list[int] | None = None


def _same(first: Any, second: Any) -> bool:
    return set(first or ()) == set(second or ())


def move_labels(update: FieldUpdate, labels_now: Sequence[int], maturity_labels: Mapping[str, int],
                policy: Ownership) -> LabelMove:
    """Swap crmsync's maturity label among the person's labels, if the ownership policy lets crmsync move
    it; every other label stays. `labels_now` must be the person's current labels."""
    managed = set(maturity_labels.values())
    current = sorted(label for label in labels_now if label in managed)
    wanted = maturity_labels.get(str(update.values[MATURITY])) if update.values[MATURITY] is not None else None
    target = [wanted] if wanted is not None else []
    before = update.previous.get(MATURITY) if MATURITY in update.previous else None
    last = maturity_labels.get(str(before)) if before is not None else None
    verdict = decide(policy, target=target, current=current, last_written=[last] if last is not None else None,
                     same=_same)
    if verdict is not Verdict.WRITE:
        return LabelMove(verdict)
    labels = labels_after(labels_now, update.values[MATURITY], maturity_labels)
    return LabelMove(verdict, labels if labels != list(labels_now) else None)


def labels_after(current: Sequence[int], maturity: Any, maturity_label_ids: Mapping[str, int]) -> list[int]:
    """The person's labels with crmsync's maturity label swapped; every other label kept as it was."""
    managed = set(maturity_label_ids.values())
    kept = [label for label in current if label not in managed]
    wanted = maturity_label_ids.get(str(maturity)) if maturity is not None else None
    return kept + ([wanted] if wanted is not None else [])


__all__ = ["LabelMove", "ValueRejected", "changed_values", "custom_fields_body", "encode_value", "labels_after",
           "maturity_label_ids", "move_labels"]
