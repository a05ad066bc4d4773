"""Canonical values -> Salesforce values: the sObject Collections entry of one update.

Numbers stay numbers, booleans are checkboxes (None clears to False: a checkbox cannot be empty), datetimes
are ISO 8601 UTC with milliseconds, text is cut to the field's length. Maturity also fills the Lead `Rating`
picklist and stage the Lead `Status` where configured (`native_targets`): native fields people edit, which
the push writes only as their ownership policy allows; Contacts have neither. `FIELD_SPECS` says how
crmsync creates its own custom fields (Metadata API CustomField).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sync.contract import CanonicalField, FieldValue

from connectors.salesforce.mapping import RATING_BY_MATURITY
from connectors.salesforce.values import format_datetime

if TYPE_CHECKING:
    from connectors.salesforce.settings import SalesforceSettings


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """How crmsync creates one custom field (Metadata API CustomField)."""

    type: str  # Number | Text | Checkbox | DateTime
    label: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None


FIELD_SPECS: dict[CanonicalField, FieldSpec] = {
    CanonicalField.SCORE: FieldSpec("Number", "crmsync score", precision=3, scale=0),
    CanonicalField.SCORE_FIT: FieldSpec("Number", "crmsync fit score", precision=3, scale=0),
    CanonicalField.SCORE_ENGAGEMENT: FieldSpec("Number", "crmsync engagement score", precision=3, scale=0),
    CanonicalField.SCORE_INTENT: FieldSpec("Number", "crmsync intent score", precision=3, scale=0),
    CanonicalField.STAGE: FieldSpec("Text", "crmsync stage", length=40),
    CanonicalField.MATURITY: FieldSpec("Text", "crmsync maturity", length=20),
    CanonicalField.CLIENT_KIND: FieldSpec("Text", "crmsync client kind", length=20),
    CanonicalField.CRITERIA_MET: FieldSpec("Text", "crmsync criteria met", length=255),
    CanonicalField.SLA_STATUS: FieldSpec("Text", "crmsync SLA status", length=20),
    CanonicalField.SLA_DUE_AT: FieldSpec("DateTime", "crmsync SLA due"),
    CanonicalField.SLA_BREACHED: FieldSpec("Checkbox", "crmsync SLA breached"),
    CanonicalField.REASON: FieldSpec("Text", "crmsync reason", length=255),
    CanonicalField.RULES_VERSION: FieldSpec("Text", "crmsync rules version", length=40),
}


def encode_value(canonical: CanonicalField, value: FieldValue) -> Any:
    """A canonical value as the JSON the custom field of `FIELD_SPECS` accepts."""
    spec = FIELD_SPECS[canonical]
    if spec.type == "Checkbox":
        return bool(value)
    if value is None:
        return None
    if spec.type == "Number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{canonical.value} must be a number")
        return round(value) if spec.scale == 0 else value
    if spec.type == "DateTime":
        if not isinstance(value, datetime):
            raise ValueError(f"{canonical.value} must be a datetime")
        return format_datetime(value)
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    limit = spec.length or 255
    return text if len(text) <= limit else text[: limit - 1] + "…"


def native_targets(sobject: str, canonical: CanonicalField, value: FieldValue,
                   settings: SalesforceSettings) -> dict[str, Any]:
    """The native fields people also edit that `canonical` fills on `sobject`, with the value it would
    write: a Lead's `Rating` from maturity, its `Status` from stage where configured."""
    if sobject != "Lead":
        return {}
    if canonical is CanonicalField.MATURITY and settings.lead_rating_field:
        return {settings.lead_rating_field: RATING_BY_MATURITY.get(str(value)) if value else None}
    if canonical is CanonicalField.STAGE and value is not None:
        status = settings.lead_status_by_stage.get(str(value))  # type: ignore[call-overload]
        return {"Status": status} if status else {}
    return {}


def to_write(
    sobject: str, record_id: str, values: Mapping[str, FieldValue], settings: SalesforceSettings
) -> tuple[dict[str, Any], dict[str, FieldValue]]:
    """The sObject Collections entry for one update, and the canonical values it carries (fields without a
    mapping are dropped, so `written` tells the engine exactly what reached Salesforce). Native fields
    people also edit are all included here: the connector takes out those their ownership keeps."""
    entry: dict[str, Any] = {"attributes": {"type": sobject}, "id": record_id}
    carried: dict[str, FieldValue] = {}
    for key, value in values.items():
        canonical = CanonicalField(key)
        target = settings.custom_field(canonical)
        if target:
            entry[target] = encode_value(canonical, value)
            carried[key] = value
        natives = native_targets(sobject, canonical, value, settings)
        if natives:
            entry.update(natives)
            carried[key] = value
    return entry, carried
