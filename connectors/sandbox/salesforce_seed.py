"""Neutral contacts -> the sandbox org's native records, the way a Salesforce admin would have them.

* A person with deals, or without a company (Salesforce requires `Company` on a Lead), becomes a Contact
  (with an Account holding company name, industry, size, website and revenue); the others alternate
  between Lead and Contact by id, so both streams are exercised.
* Engagement events become responded CampaignMembers, one campaign per response (a person is a member
  of a campaign once), of the Campaign.Type the default mapping reads back.
* Activities: calls, emails, tasks and notes become Tasks (mass/automated emails `ListEmail`, automated
  work owned by the automation user, activities without a performer by the integration user), meetings
  Events. Deals become Opportunities with an OpportunityContactRole.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sync.model import Activity, ActivityKind, Contact, Deal, DealStatus, EngagementEvent, PipelineStage
from sync.synthetic import OWNERS

from sync.model import PROFILE_ATTRIBUTES
from connectors.salesforce.settings import (
    DEFAULT_CAMPAIGN_EVENTS,
    DEFAULT_CONTACT_FIELDS,
    DEFAULT_LEAD_FIELDS,
    DEFAULT_STAGE_MAP,
)
from connectors.sandbox.salesforce_store import Org

CAMPAIGN_TYPE: dict[str, str] = {}
for _label, _event in DEFAULT_CAMPAIGN_EVENTS.items():
    CAMPAIGN_TYPE.setdefault(_event, _label)
OPEN_STAGE: dict[PipelineStage, str] = {}
for _name, _stage in DEFAULT_STAGE_MAP.items():
    OPEN_STAGE.setdefault(_stage, _name)

# org-specific custom fields the sandbox org has, beyond the connector's default mapping
EXTRA_FIELDS = {
    "lead_source_detail": "Lead_Source_Detail__c",
    "newsletter": "Newsletter__c",
    "competitor": "Competitor__c",
    "not_interested": "Not_Interested__c",
}
LEAD_FIELDS = {
    "first_name": "FirstName",
    "last_name": "LastName",
    "email": "Email",
    "company": "Company",
    "industry": "Industry",
    "company_size": "NumberOfEmployees",
    "job_title": "Title",
    "seniority": "Seniority__c",
    "country": "Country",
    "source": "LeadSource",
    "need": "Need__c",
    "timing": "Timing__c",
    "budget": "Budget__c",
    "decision_role": "Decision_Role__c",
    "phone": "Phone",
    "city": "City",
    "website": "Website",
    "annual_revenue": "AnnualRevenue",
    **EXTRA_FIELDS,
}
CONTACT_FIELDS = {
    "first_name": "FirstName",
    "last_name": "LastName",
    "email": "Email",
    "job_title": "Title",
    "seniority": "Seniority__c",
    "country": "MailingCountry",
    "source": "LeadSource",
    "need": "Need__c",
    "timing": "Timing__c",
    "budget": "Budget__c",
    "decision_role": "Decision_Role__c",
    "phone": "Phone",
    "city": "MailingCity",
    **EXTRA_FIELDS,
}
ACCOUNT_FIELDS = {
    "company": "Name",
    "industry": "Industry",
    "company_size": "NumberOfEmployees",
    "website": "Website",
    "annual_revenue": "AnnualRevenue",
}


class Seeder:
    """Writes neutral data into an `Org`; also serves the sandbox's "what a person does" helpers."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.users = {
            owner.id: org.insert("User", {"Name": owner.name, "Email": owner.email,
                                          "IsActive": True}) for owner in OWNERS
        }
        self.automation_user = org.insert("User", {"Name": "Marketing Automation", "IsActive": True})
        self.integration_user = org.insert("User", {"Name": "crmsync Integration", "IsActive": True})
        self.deal_ids: dict[str, str] = {}  # neutral deal id -> Opportunity id
        self._campaigns: dict[str, list[str]] = {}  # campaign type -> campaign ids, oldest first
        self._joined: dict[str, set[str]] = {}  # person id -> campaigns it is a member of

    def owner(self, neutral_owner: str | None) -> str:
        return self.users.get(neutral_owner or "", self.integration_user)

    def seed(self, contact: Contact) -> str:
        # neutral name -> value; the field maps below pick what each object stores (not owner_id or
        # created_at: those become OwnerId and CreatedDate)
        fields: dict[str, Any] = {**contact.fields, **{attribute: getattr(contact, attribute)
                                                       for attribute in PROFILE_ATTRIBUTES}}
        odd = contact.id.isdigit() and int(contact.id) % 2 == 1
        as_contact = bool(contact.deals) or contact.company is None or odd
        created = contact.created_at or self.org.now()
        if as_contact:
            account_id = None
            if contact.company is not None:
                account_id = self.org.insert(
                    "Account", {name: fields.get(key) for key, name in ACCOUNT_FIELDS.items()}, at=created
                )
            values = {name: fields.get(key) for key, name in CONTACT_FIELDS.items()}
            values.update(AccountId=account_id, OwnerId=self.owner(contact.owner_id), CreatedDate=created)
            native = self.org.insert("Contact", values, at=created)
        else:
            values = {name: fields.get(key) for key, name in LEAD_FIELDS.items()}
            values.update(
                OwnerId=self.owner(contact.owner_id), Status="Open - Not Contacted", CreatedDate=created
            )
            native = self.org.insert("Lead", values, at=created)
        for event in contact.events:
            self.record_event(native, event, at=event.at)
        for activity in contact.activities:
            self.log_activity(native, activity, at=activity.at)
        for deal in contact.deals:
            self.upsert_deal(native, deal, at=deal.updated_at or created)
        stamp = contact.updated_at or created
        sobject = "Contact" if as_contact else "Lead"
        self.org.update(sobject, native, {}, at=stamp)
        return native

    def record_event(self, person: str, event: EngagementEvent, *, at: datetime | None = None) -> str:
        campaign_type = CAMPAIGN_TYPE.get(event.type, "Other")
        parent = "LeadId" if person.startswith("00Q") else "ContactId"
        with self.org.lock:
            joined = self._joined.setdefault(person, set())
            campaign = next((candidate for candidate in self._campaigns.get(campaign_type, [])
                             if candidate not in joined), None)
            if campaign is None:
                number = len(self._campaigns.get(campaign_type, [])) + 1
                campaign = self.org.insert(
                    "Campaign",
                    {
                        "Name": f"{campaign_type} #{number}",
                        "Type": campaign_type,
                        "Status": "Completed",
                        "IsActive": True,
                    },
                    at=event.at,
                )
                self._campaigns.setdefault(campaign_type, []).append(campaign)
            joined.add(campaign)
        return self.org.insert(
            "CampaignMember",
            {
                "CampaignId": campaign,
                parent: person,
                "Status": "Responded",
                "HasResponded": True,
                "FirstRespondedDate": event.at.date(),
                "CreatedDate": event.at.replace(microsecond=0),
            },
            at=at,
        )

    def log_activity(self, person: str, activity: Activity, *, at: datetime | None = None) -> str:
        owner = self.automation_user if activity.automated else self.owner(activity.by)
        when = activity.at.replace(microsecond=0)
        if activity.kind is ActivityKind.MEETING:
            return self.org.insert(
                "Event",
                {
                    "WhoId": person,
                    "OwnerId": owner,
                    "Subject": activity.subject,
                    "ActivityDateTime": when,
                    "ActivityDate": when.date(),
                    "DurationInMinutes": 30,
                    "IsAllDayEvent": False,
                    "CreatedDate": when,
                },
                at=at,
            )
        subtype = {ActivityKind.CALL: "Call", ActivityKind.EMAIL: "Email"}.get(activity.kind, "Task")
        if activity.kind is ActivityKind.EMAIL and activity.automated:
            subtype = "ListEmail"
        call_type = (activity.direction or "").capitalize() if activity.kind is ActivityKind.CALL else None
        return self.org.insert(
            "Task",
            {
                "WhoId": person,
                "OwnerId": owner,
                "Subject": activity.subject,
                "TaskSubtype": subtype,
                "Type": "Other" if activity.kind is ActivityKind.NOTE else subtype,
                "CallType": call_type or None,
                "Status": "Completed" if activity.done else "Not Started",
                "IsClosed": activity.done,
                "ActivityDate": when.date(),
                "CompletedDateTime": when if activity.done else None,
                "CreatedDate": when,
            },
            at=at,
        )

    def upsert_deal(self, contact_id: str, deal: Deal, *, at: datetime | None = None) -> str:
        closed = {DealStatus.WON: "Closed Won", DealStatus.LOST: "Closed Lost"}
        stage_name = closed.get(deal.status) or OPEN_STAGE.get(deal.stage or PipelineStage.FIRST_CONTACT, "Prospecting")
        kind = None if deal.recurring is None else "Subscription" if deal.recurring else "New Business"
        values: dict[str, Any] = {
            "Name": f"Opportunity {deal.id}",
            "StageName": stage_name,
            "IsWon": deal.status is DealStatus.WON,
            "IsClosed": deal.status is not DealStatus.OPEN,
            "Amount": deal.amount,
            "CloseDate": deal.close_date,
            "Type": kind,
            "Contract_Term_Months__c": deal.contract_months,
        }
        existing = self.deal_ids.get(deal.id)
        if existing is not None:
            self.org.update("Opportunity", existing, values, at=at)
            return existing
        contact = self.org.records["Contact"][contact_id]
        values.update(
            AccountId=contact.get("AccountId"),
            CreatedDate=(deal.created_at or self.org.now()).replace(microsecond=0),
        )
        opportunity = self.org.insert("Opportunity", values, at=at)
        self.org.insert(
            "OpportunityContactRole",
            {
                "ContactId": contact_id,
                "OpportunityId": opportunity,
                "Role": "Decision Maker",
                "IsPrimary": True,
            },
            at=at,
        )
        self.deal_ids[deal.id] = opportunity
        return opportunity

    def convert(self, lead_id: str) -> str:
        """Lead conversion: a Contact (and Account) take over the lead and its history."""
        org = self.org
        with org.lock:
            lead = org.records["Lead"][lead_id]
            account = org.insert(
                "Account",
                {
                    "Name": lead["Company"],
                    "Industry": lead["Industry"],
                    "NumberOfEmployees": lead["NumberOfEmployees"],
                    "Website": lead["Website"],
                    "AnnualRevenue": lead["AnnualRevenue"],
                },
            )
            values = {name: lead.get(LEAD_FIELDS[key]) for key, name in CONTACT_FIELDS.items()}
            values.update(AccountId=account, OwnerId=lead["OwnerId"])
            contact = org.insert("Contact", values)
            for sobject, field in (("Task", "WhoId"), ("Event", "WhoId")):
                for record in org.records[sobject].values():
                    if record.get(field) == lead_id:
                        org.update(sobject, record["Id"], {field: contact})
            for member in org.records["CampaignMember"].values():
                if member.get("LeadId") == lead_id:
                    org.update("CampaignMember", member["Id"], {"ContactId": contact})
            self._joined[contact] = set(self._joined.get(lead_id, ()))
            org.update(
                "Lead",
                lead_id,
                {
                    "IsConverted": True,
                    "ConvertedContactId": contact,
                    "ConvertedAccountId": account,
                    "ConvertedDate": org.now().date(),
                },
            )
        return contact


def neutral_to_native(sobject: str, name: str) -> tuple[str, str] | None:
    """Where a neutral attribute lives: (object kind, field) with object kind "self" or "Account"."""
    if sobject == "Lead":
        return ("self", LEAD_FIELDS[name]) if name in LEAD_FIELDS else None
    if name in CONTACT_FIELDS:
        return ("self", CONTACT_FIELDS[name])
    if name in ACCOUNT_FIELDS:
        return ("Account", ACCOUNT_FIELDS[name])
    return None


def mapping_for_settings() -> tuple[Mapping[str, str], Mapping[str, str]]:
    """The sandbox org's pull mapping: the connector defaults plus this org's extra custom fields."""
    return {**DEFAULT_LEAD_FIELDS, **EXTRA_FIELDS}, {**DEFAULT_CONTACT_FIELDS, **EXTRA_FIELDS}
