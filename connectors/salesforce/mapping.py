"""Salesforce records <-> the neutral `Contact`, and canonical values -> Salesforce values.

Pull side, what each Salesforce object becomes:

* **Lead** (`00Q`, `IsConverted = false`) and **Contact** (`003`) -> one `Contact` each. Profile attributes
  and `Contact.fields` come from the configured field paths (`Account.Name` etc. for a Contact's company
  data). `updated_at` is `SystemModstamp`. A converted lead is never a contact of its own: the pull reports
  it as merged into its `ConvertedContactId`, whose Contact carries the lead's history after conversion.
* **OpportunityContactRole** + its **Opportunity** -> `Deal`: status from `IsWon`/`IsClosed` (won, lost,
  open), `stage` from `StageName` through the configured stage map (`crm_stage` keeps the name), amount,
  `CloseDate`, `CreatedDate`, `LastModifiedDate`; `recurring` from `Opportunity.Type` (configured recurring
  and one-off types; any other type: unknown), contract length from a configurable number field.
  Leads have no opportunities.
* **Task** (`00T`) -> `Activity`: `TaskSubtype` Call -> call, Email/ListEmail -> email, otherwise task.
  `at` is `CompletedDateTime` for a closed task, else its due `ActivityDate` (midnight UTC), else
  `CreatedDate`; `done` is `IsClosed`; `direction` from `CallType` (Inbound/Outbound) on calls;
  `automated` for `ListEmail` (mass email) and for tasks owned by a configured automation user.
* **Event** (`00U`) -> `Activity` of kind meeting at `ActivityDateTime` (all-day events: `ActivityDate`),
  done once it has started (Salesforce events have no status).
* **CampaignMember** with `HasResponded` -> `EngagementEvent`: `type` from `Campaign.Type` through the
  configured campaign map (unmapped types are skipped, non-responders too), `at` is `CreatedDate` when the
  member was created on the day of its first response (a form fill, an attended webinar), else
  `FirstRespondedDate` at midnight UTC; `source` is the campaign's name.

What Salesforce cannot represent, so a round trip cannot return it: an activity without a performer
(every task has an owner), a note (no activity subtype; notes are stored as tasks), the direction of
anything but a call, an event's `done = False` in the past, sub-second times, and a lead without a company
(Salesforce requires one: personal contacts live as Contacts without an Account, and so without the
industry, size, website and revenue an Account would hold).

Change detection: Salesforce moves a record's SystemModstamp on its own writes, crmsync's included, but not
when a related record changes (a task logged, a campaign response, an opportunity moving stage) nor when
its Account is edited. The connector looks up related changes itself (see `connector.py`); Account edits
reach a Contact on its next own change.

Push side: canonical values become Salesforce JSON values: numbers stay numbers, booleans are checkboxes
(None clears to False: a checkbox cannot be empty), datetimes are ISO-8601 UTC, text is cut to the field's
length. Maturity also fills the Lead `Rating` picklist (Hot/Warm/Cold) and stage the Lead `Status` where
configured; Contacts have neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from sync.contract import CanonicalField, FieldValue
from sync.model import PROFILE_ATTRIBUTES, Activity, ActivityKind, Contact, Deal, DealStatus, EngagementEvent, Maturity

from connectors.salesforce.settings import SalesforceSettings

CRM = "salesforce"
KEY_PREFIXES = {
    "00Q": "Lead",
    "003": "Contact",
    "006": "Opportunity",
    "00T": "Task",
    "00U": "Event",
    "701": "Campaign",
    "001": "Account",
    "005": "User",
}
_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


# --- ids ---------------------------------------------------------------------------------------------


def to18(record_id: str) -> str:
    """The 18-character, case-insensitive form of a Salesforce id (15-char ids come from the UI and
    reports)."""
    if len(record_id) == 18:
        return record_id
    if len(record_id) != 15 or not record_id.isalnum():
        raise ValueError(f"not a Salesforce id: {record_id!r}")
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << index for index, character in enumerate(record_id[chunk * 5 : chunk * 5 + 5])
                   if "A" <= character <= "Z")
        suffix += _CHECKSUM_ALPHABET[bits]
    return record_id + suffix


def sobject_of(record_id: str) -> str | None:
    """The sObject type a record id belongs to, from its key prefix."""
    return KEY_PREFIXES.get(record_id[:3])


def same_id(first: str | None, second: str | None) -> bool:
    if first is None or second is None:
        return first is second
    try:
        return to18(first).lower() == to18(second).lower()
    except ValueError:
        return first == second


# --- time --------------------------------------------------------------------------------------------


def parse_time(value: str | None) -> datetime | None:
    """`2024-01-17T19:55:04.000+0000` (records) or `...Z` -> aware UTC datetime."""
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def parse_date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def format_datetime(value: datetime) -> str:
    """The record format Salesforce returns and accepts: millisecond precision, `+0000`."""
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal (unquoted, whole seconds: SOQL literals carry no fraction)."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _midnight(day: date | None) -> datetime | None:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc) if day else None


# --- pull: records -> neutral ------------------------------------------------------------------------


def path_value(record: Mapping[str, Any], path: str) -> Any:
    """`Account.Name` -> record["Account"]["Name"]; a missing parent gives None."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def select_list(paths: Iterable[str]) -> list[str]:
    """Unique field paths in first-seen order (SOQL rejects a duplicate column)."""
    seen: dict[str, None] = {}
    for path in paths:
        seen.setdefault(path, None)
    return list(seen)


@dataclass(frozen=True, slots=True)
class RecordMapper:
    """Maps one account's records, with its settings bound."""

    settings: SalesforceSettings
    account: str

    def field_paths(self, sobject: str) -> dict[str, str]:
        return dict(self.settings.lead_fields if sobject == "Lead" else self.settings.contact_fields)

    def to_contact(self, sobject: str, record: Mapping[str, Any], paths: Mapping[str, str]) -> Contact:
        attributes: dict[str, Any] = {}
        fields: dict[str, Any] = {}
        for name, path in paths.items():
            value = path_value(record, path)
            if name in PROFILE_ATTRIBUTES:
                attributes[name] = _profile_value(name, value)
            else:
                fields[name] = value
        return Contact(
            crm=CRM,
            id=to18(record["Id"]),
            account=self.account,
            updated_at=parse_time(record.get("SystemModstamp")),
            fields=fields,
            **attributes,
        )

    def to_deal(self, role: Mapping[str, Any]) -> Deal | None:
        opp = role.get("Opportunity")
        if not isinstance(opp, Mapping):
            return None
        status = (
            (DealStatus.WON if opp.get("IsWon") else DealStatus.LOST)
            if opp.get("IsClosed")
            else DealStatus.OPEN
        )
        stage_name = opp.get("StageName")
        kind = opp.get("Type")
        recurring = (
            True
            if kind in self.settings.recurring_opportunity_types
            else False
            if kind in self.settings.one_off_opportunity_types
            else None
        )
        months_field = self.settings.contract_months_field
        months = opp.get(months_field) if months_field else None
        currency = (
            opp.get("CurrencyIsoCode") if self.settings.multi_currency else self.settings.corporate_currency
        )
        amount = opp.get("Amount")
        return Deal(
            id=to18(opp.get("Id") or role["OpportunityId"]),
            status=status,
            stage=self.settings.stage_map.get(stage_name) if stage_name else None,
            crm_stage=stage_name,
            amount=float(amount) if amount is not None else None,
            currency=currency,
            close_date=parse_date(opp.get("CloseDate")),
            recurring=recurring,
            contract_months=int(months) if months is not None else None,
            created_at=parse_time(opp.get("CreatedDate")),
            updated_at=parse_time(opp.get("LastModifiedDate")),
        )

    def to_activity(self, sobject: str, record: Mapping[str, Any], now: datetime) -> Activity:
        """A Task or an Event; an Event after `now` is not done yet."""
        return self._task(record) if sobject == "Task" else self._event(record, now)

    def _task(self, record: Mapping[str, Any]) -> Activity:
        subtype = record.get("TaskSubtype") or "Task"
        kind = {"Call": ActivityKind.CALL, "Email": ActivityKind.EMAIL, "ListEmail": ActivityKind.EMAIL}.get(
            subtype, ActivityKind.TASK
        )
        closed = bool(record.get("IsClosed"))
        at = (
            (parse_time(record.get("CompletedDateTime")) if closed else None)
            or _midnight(parse_date(record.get("ActivityDate")))
            or parse_time(record.get("CreatedDate"))
        )
        call_type = (record.get("CallType") or "").lower()
        owner = record.get("OwnerId")
        return Activity(
            kind=kind,
            at=at or datetime.min.replace(tzinfo=timezone.utc),
            by=owner,
            direction=call_type
            if kind is ActivityKind.CALL and call_type in ("inbound", "outbound")
            else None,
            done=closed,
            automated=subtype == "ListEmail" or owner in self.settings.automation_user_ids,
            id=to18(record["Id"]),
            subject=record.get("Subject"),
        )

    def _event(self, record: Mapping[str, Any], now: datetime) -> Activity:
        at = (
            parse_time(record.get("ActivityDateTime"))
            or _midnight(parse_date(record.get("ActivityDate")))
            or parse_time(record.get("CreatedDate"))
            or now
        )
        owner = record.get("OwnerId")
        return Activity(
            kind=ActivityKind.MEETING,
            at=at,
            by=owner,
            done=at <= now,
            automated=owner in self.settings.automation_user_ids,
            id=to18(record["Id"]),
            subject=record.get("Subject"),
        )

    def to_event(self, member: Mapping[str, Any]) -> EngagementEvent | None:
        if not member.get("HasResponded"):
            return None
        campaign = member.get("Campaign") or {}
        event_type = self.settings.campaign_events.get(campaign.get("Type") or "")
        if event_type is None:
            return None
        created = parse_time(member.get("CreatedDate"))
        responded = parse_date(member.get("FirstRespondedDate"))
        at = (
            created
            if created and (responded is None or created.date() == responded)
            else _midnight(responded)
        )
        if at is None:
            return None
        return EngagementEvent(type=event_type, at=at, source=campaign.get("Name"))


def _profile_value(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "created_at":
        return parse_time(value)
    if name == "company_size":
        return int(value)
    if name == "owner_id":
        return to18(value)
    return value


# --- push: canonical -> native -----------------------------------------------------------------------


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

RATING_BY_MATURITY = {Maturity.HOT.value: "Hot", Maturity.WARM.value: "Warm", Maturity.COLD.value: "Cold"}


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


def to_write(
    sobject: str, record_id: str, values: Mapping[str, FieldValue], settings: SalesforceSettings
) -> tuple[dict[str, Any], dict[str, FieldValue]]:
    """The sObject Collections entry for one update, and the canonical values it carries (fields without a
    mapping are dropped, so `written` tells the engine exactly what reached Salesforce)."""
    entry: dict[str, Any] = {"attributes": {"type": sobject}, "id": record_id}
    carried: dict[str, FieldValue] = {}
    for key, value in values.items():
        canonical = CanonicalField(key)
        target = settings.custom_field(canonical)
        if target:
            entry[target] = encode_value(canonical, value)
            carried[key] = value
        if sobject != "Lead":
            continue
        if canonical is CanonicalField.MATURITY and settings.lead_rating_field:
            entry[settings.lead_rating_field] = RATING_BY_MATURITY.get(str(value)) if value else None
            carried[key] = value
        if canonical is CanonicalField.STAGE and value is not None:
            status = settings.lead_status_by_stage.get(str(value))  # type: ignore[call-overload]
            if status:
                entry["Status"] = status
                carried[key] = value
    return entry, carried
