"""Salesforce records <-> the neutral `Contact`, and canonical values -> Salesforce values.

Salesforce's own vocabulary and crmsync's neutral one meet in one table, `VOCABULARY` below: what each Task
subtype is, what a campaign response and an opportunity stage mean, where a lead came from. What a company
customises (its stage names, campaign types, the field saying a deal recurs, the field holding company size
or seniority) is a setting (`SalesforceSettings`) whose defaults are this table's.

Pull side, what each Salesforce object becomes:

* **Lead** (`00Q`, `IsConverted = false`) and **Contact** (`003`) -> one `Contact` each. Profile attributes
  and `Contact.fields` come from the configured field paths (`Account.Name` etc. for a Contact's company
  data; `company_size` is a head count, or a band such as "50-100" where an org keeps the size in a
  picklist or text field: `company_size_range`); `updated_at` is `SystemModstamp`; the Lead's `Rating` and `Status` as they stand go to
  `crm_values` (people edit them: writing them follows an ownership policy). A converted lead is never a
  contact of its own: the pull reports it as merged into its `ConvertedContactId`.
* **OpportunityContactRole** + its **Opportunity** -> `Deal`: status from `IsWon`/`IsClosed`, `stage` from
  `StageName` through the stage map (`crm_stage` keeps the name), amount, `CloseDate`, `CreatedDate`,
  `LastModifiedDate`; `recurring` from the setting-named Opportunity field (a checkbox, or a picklist whose
  values the settings sort into recurring and one-off), contract length from a setting-named number field.
* **Task** (`00T`) -> `Activity` by `TaskSubtype`; `at` is `CompletedDateTime` for a closed task, else its due
  `ActivityDate` (midnight UTC), else `CreatedDate`; `direction` from `CallType` on calls; `automated` for
  mass email and for tasks owned by a configured automation user. A LinkedIn task is also a
  `social_message` event from `linkedin`.
* **Event** (`00U`) -> `Activity` of kind meeting at `ActivityDateTime` (all-day events: `ActivityDate`),
  done once it has started (Salesforce events have no status).
* **CampaignMember** that responded -> `EngagementEvent`: `type` from `Campaign.Type` through the campaign
  map (unmapped types are skipped), `at` is `CreatedDate` when the member was created on the day of its
  first response, else `FirstRespondedDate` at midnight UTC; `source` is the campaign's name.

Every raw value goes through a `sync.toolkit.reading.RecordReader`: a value that cannot be read (a 14-char id,
a date that is not ISO 8601, a 100 KB name, NUL bytes...) leaves that field unknown and a `RecordProblem`;
a record whose id cannot be read is skipped and reported, never its page.

The push side (canonical values -> Salesforce values) is `writes`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sync.model import (
    PROFILE_ATTRIBUTES,
    Activity,
    ActivityKind,
    Contact,
    Deal,
    DealStatus,
    EngagementEvent,
    Maturity,
    PipelineStage,
    Seniority,
)
from sync.toolkit.reading import RecordReader
from sync.toolkit.vocabulary import folded, recurring_flag, seniority_level

from connectors.salesforce.values import midnight, read_id

if TYPE_CHECKING:
    from connectors.salesforce.settings import SalesforceSettings

CRM = "salesforce"


# --- Salesforce's words -> crmsync's neutral ones: the one table -----------------------------------------


@dataclass(frozen=True, slots=True)
class TaskMeaning:
    """What one `Task.TaskSubtype` is: its activity kind, whether it is automated work rather than a person's
    touch, and the social network it is an exchange on (then also a `social_message` event)."""

    kind: ActivityKind
    automated: bool = False
    network: str | None = None


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Salesforce's standard values ("Object Reference for the Salesforce Platform": Task, Event,
    CampaignMember, Opportunity, Lead) and the neutral words they mean."""

    # Task.TaskSubtype; a subtype a later release adds reads as a plain task
    task_subtypes: Mapping[str, TaskMeaning]
    # Task.CallType (Internal calls have no direction towards the contact)
    call_directions: Mapping[str, str]
    # Opportunity.StageName of the default sales process -> the five canonical stages (setting `stage_map`)
    stages: Mapping[str, PipelineStage]
    # Campaign.Type of a responded CampaignMember -> engagement event type (setting `campaign_events`); a
    # member responded when its Status is one of the campaign's statuses marked "Responded" (HasResponded)
    campaign_types: Mapping[str, str]
    # LeadSource standard values -> the neutral sources (setting `lead_sources` adds or overrides)
    lead_sources: Mapping[str, str]
    # Rating picklist values <-> maturity
    ratings: Mapping[str, str]
    # Salesforce has no standard seniority field: an org keeps it in a custom picklist (`lead_fields` /
    # `contact_fields` name it). Its values are read through the setting `seniority_values`, then this
    # table, then the values people type in any CRM (`sync.toolkit.vocabulary`)
    seniority: Mapping[str, Seniority]
    # the recurring flag: a checkbox says it; a picklist value (Opportunity.Type by default) through the
    # setting `recurring_values`, then `recurring_opportunity_types` / `one_off_opportunity_types`, then the typed words
    # (`sync.toolkit.vocabulary`: "Yes", "Subscription", "One-off"...)


VOCABULARY = Vocabulary(
    task_subtypes={
        "Task": TaskMeaning(ActivityKind.TASK),
        "Call": TaskMeaning(ActivityKind.CALL),
        "Email": TaskMeaning(ActivityKind.EMAIL),
        "ListEmail": TaskMeaning(ActivityKind.EMAIL, automated=True),  # a mass send, never a sales touch
        "Cadence": TaskMeaning(ActivityKind.TASK),  # a step of a sales cadence, done by a rep
        "LinkedIn": TaskMeaning(ActivityKind.TASK, network="linkedin"),
    },
    call_directions={"Inbound": "inbound", "Outbound": "outbound"},
    stages={
        "Prospecting": PipelineStage.FIRST_CONTACT,
        "Qualification": PipelineStage.DISCOVERY,
        "Needs Analysis": PipelineStage.DISCOVERY,
        "Value Proposition": PipelineStage.PROPOSAL,
        "Id. Decision Makers": PipelineStage.PROPOSAL,
        "Perception Analysis": PipelineStage.PROPOSAL,
        "Proposal/Price Quote": PipelineStage.PROPOSAL,
        "Negotiation/Review": PipelineStage.NEGOTIATION,
        "Closed Won": PipelineStage.CLOSING,
        "Closed Lost": PipelineStage.CLOSING,
    },
    campaign_types={
        "Webinar": "webinar",
        "Trade Show": "trade_show",
        "Conference": "trade_show",
        "Content": "download",
        "White Paper": "download",
        "Email": "email_reply",
        "Email Open": "email_open",
        "Web Form": "form",
        "Website": "visit",
        "Advertisement": "visit",
        "Banner Ads": "visit",
        "Demo Request": "demo_request",
        "Pricing Request": "pricing_request",
        "Pricing Page": "pricing_view",
        "Meeting": "meeting_booked",
        "LinkedIn": "social_message",
    },
    lead_sources={
        "Web": "website_form",
        "Phone Inquiry": "phone",
        "Partner Referral": "referral",
        "Purchased List": "purchased_list",
        "Other": "other",
    },
    ratings={Maturity.HOT.value: "Hot", Maturity.WARM.value: "Warm", Maturity.COLD.value: "Cold"},
    seniority={"C-Level": Seniority.C_LEVEL, "VP": Seniority.DIRECTOR, "Director": Seniority.DIRECTOR,
               "Manager": Seniority.MANAGER, "Individual Contributor": Seniority.INDIVIDUAL},
)
SENIORITY = folded(VOCABULARY.seniority)
RATING_BY_MATURITY = dict(VOCABULARY.ratings)


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


def reader_for(record: Mapping[str, Any], object_type: str) -> RecordReader:
    """A reader named after the record's id as it came (cleaned of control characters, cut short): a
    record with an unreadable id is still reported under something an admin can search for."""
    raw = record.get("Id")
    shown = read_id(raw) or re.sub(r"[\x00-\x1f\x7f]", "", str(raw))[:64] or "?"
    return RecordReader(shown, object_type)


#: describe's field types, by how a reader reads them
_NUMBER_TYPES = frozenset({"double", "int", "currency", "percent"})


@dataclass(frozen=True, slots=True)
class RecordMapper:
    """Maps one account's records, with its settings bound. Each method takes the `RecordReader` of the
    record it maps, which collects what could not be read."""

    settings: SalesforceSettings
    account: str

    def field_paths(self, sobject: str) -> dict[str, str]:
        return dict(self.settings.lead_fields if sobject == "Lead" else self.settings.contact_fields)

    def to_contact(self, sobject: str, record: Mapping[str, Any], paths: Mapping[str, str],
                   reader: RecordReader | None = None, types: Mapping[str, str] | None = None) -> Contact | None:
        """The contact, or None when its id is unreadable (reported in `reader`). `types` gives describe's
        type of a field path where known (a number field read as a number, a checkbox as a boolean)."""
        reader = reader or reader_for(record, sobject.lower())
        record_id = read_id(record.get("Id"))
        if record_id is None:
            reader.problem("Id", "not a Salesforce id (15 or 18 letters and digits): record skipped")
            return None
        attributes: dict[str, Any] = {}
        fields: dict[str, Any] = {}
        for name, path in paths.items():
            if name == "company_size":
                attributes.update(self._company_size(path_value(record, path), path, reader))
                continue
            value = self._value(name, path, path_value(record, path), reader, (types or {}).get(path))
            if name in PROFILE_ATTRIBUTES:
                attributes[name] = value
            else:
                fields[name] = value
        crm_values: dict[str, Any] = {}
        if sobject == "Lead":
            for native in (self.settings.lead_rating_field, "Status"):
                if native and native in record:
                    crm_values[native] = reader.text(record.get(native), native)
        return Contact(
            crm=CRM,
            id=record_id,
            account=self.account,
            updated_at=reader.timestamp(record.get("SystemModstamp"), "SystemModstamp"),
            fields=fields,
            crm_values=crm_values,
            **attributes,
        )

    @staticmethod
    def _company_size(raw: Any, path: str, reader: RecordReader) -> dict[str, Any]:
        """`NumberOfEmployees` is a head count; an org that keeps the size in a picklist or a text field
        (`company_size` mapped to it) holds bands ("50-100", "1000+"): a range."""
        found = reader.size_range(raw, path)
        if found is None:
            return {}
        return {"company_size": found[0]} if found[0] == found[1] else {"company_size_range": found}

    def _value(self, name: str, path: str, raw: Any, reader: RecordReader, field_type: str | None) -> Any:
        if raw is None:
            return None
        if name == "created_at":
            return reader.timestamp(raw, path)
        if name == "owner_id":
            owner = read_id(raw)
            if owner is None:
                reader.problem(path, "not a Salesforce user id")
            return owner
        if name == "source":
            text = reader.text(raw, path)
            return self.settings.lead_sources.get(text, text) if text is not None else None
        if name == "seniority":
            return seniority_level(reader.text(raw, path), self.settings.seniority_table, SENIORITY)
        if field_type == "boolean" or isinstance(raw, bool):
            return reader.boolean(raw, path)
        if field_type in _NUMBER_TYPES or (field_type is None and isinstance(raw, (int, float))):
            return reader.number(raw, path)
        if field_type == "date":
            return reader.day(raw, path)
        if field_type == "datetime":
            return reader.timestamp(raw, path)
        return reader.text(raw, path)

    def to_deal(self, role: Mapping[str, Any], reader: RecordReader | None = None) -> Deal | None:
        reader = reader or reader_for(role, "opportunity")
        opp = role.get("Opportunity")
        if not isinstance(opp, Mapping):
            return None
        deal_id = read_id(opp.get("Id") or role.get("OpportunityId"))
        if deal_id is None:
            reader.problem("OpportunityId", "not a Salesforce id: opportunity skipped")
            return None
        closed, won = reader.boolean(opp.get("IsClosed"), "IsClosed"), reader.boolean(opp.get("IsWon"), "IsWon")
        status = (DealStatus.WON if won else DealStatus.LOST) if closed else DealStatus.OPEN
        stage_name = reader.text(opp.get("StageName"), "StageName")
        months_field = self.settings.contract_months_field
        months = reader.integer(opp.get(months_field), months_field) if months_field else None
        currency = (reader.text(opp.get("CurrencyIsoCode"), "CurrencyIsoCode") if self.settings.multi_currency
                    else self.settings.corporate_currency)
        return Deal(
            id=deal_id,
            status=status,
            stage=self.settings.stage_map.get(stage_name) if stage_name else None,
            crm_stage=stage_name,
            amount=reader.number(opp.get("Amount"), "Amount"),
            currency=currency,
            close_date=reader.day(opp.get("CloseDate"), "CloseDate"),
            recurring=self._recurring(opp, reader),
            contract_months=months if months is None or months >= 0 else None,
            created_at=reader.timestamp(opp.get("CreatedDate"), "CreatedDate"),
            updated_at=reader.timestamp(opp.get("LastModifiedDate"), "LastModifiedDate"),
        )

    def _recurring(self, opp: Mapping[str, Any], reader: RecordReader) -> bool | None:
        """From the setting-named field: a checkbox says it, a picklist's value is looked up in the setting
        `recurring_values`, then the org's recurring and one-off picklist values, then the words people type
        ("Yes", "One-off"), all without case; anything else is unknown (the rules decide)."""
        name = self.settings.recurring_field
        if not name:
            return None
        raw = opp.get(name)
        if isinstance(raw, bool):
            return raw
        return recurring_flag(reader.text(raw, name), self.settings.recurring_table, self.settings.picklist_recurring)

    def to_activity(self, sobject: str, record: Mapping[str, Any], now: datetime,
                    reader: RecordReader | None = None) -> Activity | None:
        """A Task or an Event (an Event after `now` is not done yet); None when its id is unreadable."""
        reader = reader or reader_for(record, sobject.lower())
        activity_id = read_id(record.get("Id"))
        if activity_id is None:
            reader.problem("Id", f"not a Salesforce id: {sobject.lower()} skipped")
            return None
        owner = read_id(record.get("OwnerId"))
        subject = reader.text(record.get("Subject"), "Subject", limit=255)
        if sobject == "Event":
            starts = (reader.timestamp(record.get("ActivityDateTime"), "ActivityDateTime")
                      or midnight(reader.day(record.get("ActivityDate"), "ActivityDate"))
                      or reader.timestamp(record.get("CreatedDate"), "CreatedDate") or now)
            return Activity(kind=ActivityKind.MEETING, at=starts, by=owner, done=starts <= now,
                            automated=owner in self.settings.automation_user_ids, id=activity_id, subject=subject)
        meaning = self._task_meaning(record, reader)
        closed = bool(reader.boolean(record.get("IsClosed"), "IsClosed"))
        at = ((reader.timestamp(record.get("CompletedDateTime"), "CompletedDateTime") if closed else None)
              or midnight(reader.day(record.get("ActivityDate"), "ActivityDate"))
              or reader.timestamp(record.get("CreatedDate"), "CreatedDate"))
        call_type = reader.text(record.get("CallType"), "CallType")
        return Activity(
            kind=meaning.kind,
            at=at or datetime.min.replace(tzinfo=timezone.utc),
            by=owner,
            direction=VOCABULARY.call_directions.get(call_type or "") if meaning.kind is ActivityKind.CALL else None,
            done=closed,
            automated=meaning.automated or owner in self.settings.automation_user_ids,
            id=activity_id,
            subject=subject,
        )

    def _task_meaning(self, record: Mapping[str, Any], reader: RecordReader) -> TaskMeaning:
        subtype = reader.text(record.get("TaskSubtype"), "TaskSubtype") or "Task"
        return VOCABULARY.task_subtypes.get(subtype, VOCABULARY.task_subtypes["Task"])

    def social_event(self, task: Activity, record: Mapping[str, Any]) -> EngagementEvent | None:
        """A task on a social network (a LinkedIn message) is also the contact's `social_message`."""
        network = VOCABULARY.task_subtypes.get(str(record.get("TaskSubtype") or ""), TaskMeaning(
            ActivityKind.TASK)).network
        if network is None or task.automated:
            return None
        return EngagementEvent(type="social_message", at=task.at, source=network)

    def to_event(self, member: Mapping[str, Any], reader: RecordReader | None = None) -> EngagementEvent | None:
        reader = reader or reader_for(member, "campaignmember")
        if not reader.boolean(member.get("HasResponded"), "HasResponded"):
            return None
        campaign = member.get("Campaign")
        campaign = campaign if isinstance(campaign, Mapping) else {}
        event_type = self.settings.campaign_events.get(reader.text(campaign.get("Type"), "Campaign.Type") or "")
        if event_type is None:
            return None
        created = reader.timestamp(member.get("CreatedDate"), "CreatedDate")
        responded = reader.day(member.get("FirstRespondedDate"), "FirstRespondedDate")
        at = created if created and (responded is None or created.date() == responded) else midnight(responded)
        if at is None:
            return None
        return EngagementEvent(type=event_type, at=at, source=reader.text(campaign.get("Name"), "Campaign.Name"))
