"""Record mapping rules, one by one, on records shaped like the REST API's."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from sync.contract import CanonicalField
from sync.model import ActivityKind, DealStatus, PipelineStage

from connectors.salesforce import SalesforceSettings
from connectors.salesforce.mapping import RecordMapper
from connectors.salesforce.values import parse_time
from connectors.salesforce.writes import encode_value, to_write

NOW = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)


@pytest.fixture
def mapper():
    settings = SalesforceSettings(
        client_id="id",
        refresh_token="rt",
        automation_user_ids=("005000000000AUTAAA",),
        lead_status_by_stage={"prospect": "Working - Contacted"},
    )
    return RecordMapper(settings, "acme")


def test_record_datetimes_parse_to_utc():
    assert parse_time("2024-01-17T19:55:04.000+0000") == datetime(
        2024, 1, 17, 19, 55, 4, tzinfo=timezone.utc
    )
    assert parse_time("2024-01-17T20:55:04.000+0100") == datetime(
        2024, 1, 17, 19, 55, 4, tzinfo=timezone.utc
    )


def test_tasks_map_by_subtype_with_completion_time_and_automation(mapper):
    call = mapper.to_activity(
        "Task",
        {
            "Id": "00T000000000001",
            "TaskSubtype": "Call",
            "CallType": "Outbound",
            "IsClosed": True,
            "CompletedDateTime": "2026-10-01T10:00:00.000+0000",
            "ActivityDate": "2026-10-01",
            "OwnerId": "005000000000001AAA",
        },
        NOW,
    )
    assert (call.kind, call.direction, call.done, call.automated) == (
        ActivityKind.CALL,
        "outbound",
        True,
        False,
    )
    assert call.at == datetime(2026, 10, 1, 10, tzinfo=timezone.utc) and call.id == "00T000000000001EAA"
    blast = mapper.to_activity(
        "Task",
        {
            "Id": "00T000000000002",
            "TaskSubtype": "ListEmail",
            "IsClosed": True,
            "CreatedDate": "2026-10-02T10:00:00.000+0000",
        },
        NOW,
    )
    assert blast.kind is ActivityKind.EMAIL and blast.automated
    todo = mapper.to_activity(
        "Task",
        {
            "Id": "00T000000000003",
            "TaskSubtype": "Task",
            "IsClosed": False,
            "ActivityDate": "2026-11-05",
            "OwnerId": "005000000000AUTAAA",
        },
        NOW,
    )
    assert todo.kind is ActivityKind.TASK and not todo.done and todo.automated
    assert todo.at == datetime(2026, 11, 5, tzinfo=timezone.utc)


def test_events_are_meetings_done_once_started(mapper):
    past = mapper.to_activity("Event", {"Id": "00U000000000001", "ActivityDateTime": "2026-10-01T10:00:00.000+0000"}, NOW)
    future = mapper.to_activity("Event", {"Id": "00U000000000002", "ActivityDateTime": "2026-12-01T10:00:00.000+0000"}, NOW)
    assert past.kind is ActivityKind.MEETING and past.done and not future.done


def test_only_responded_members_of_mapped_campaign_types_are_events(mapper):
    member = {
        "HasResponded": True,
        "CreatedDate": "2026-10-01T10:00:00.000+0000",
        "FirstRespondedDate": "2026-10-01",
        "Campaign": {"Type": "Webinar", "Name": "SIEM webinar"},
    }
    event = mapper.to_event(member)
    assert (event.type, event.at, event.source) == (
        "webinar",
        datetime(2026, 10, 1, 10, tzinfo=timezone.utc),
        "SIEM webinar",
    )
    later = mapper.to_event({**member, "FirstRespondedDate": "2026-10-09"})
    assert later.at == datetime(2026, 10, 9, tzinfo=timezone.utc)  # invited first, responded days later
    assert mapper.to_event({**member, "HasResponded": False}) is None
    assert mapper.to_event({**member, "Campaign": {"Type": "Partners"}}) is None


def test_opportunities_map_status_stage_and_recurrence(mapper):
    role = {
        "OpportunityId": "006000000000001",
        "Opportunity": {
            "Id": "006000000000001AAA",
            "StageName": "Closed Won",
            "IsWon": True,
            "IsClosed": True,
            "Amount": 1200,
            "CloseDate": "2026-09-30",
            "Type": "Renewal",
            "Contract_Term_Months__c": 12.0,
        },
    }
    deal = mapper.to_deal(role)
    assert (deal.status, deal.stage, deal.crm_stage) == (DealStatus.WON, PipelineStage.CLOSING, "Closed Won")
    assert (deal.recurring, deal.contract_months, deal.close_date) == (True, 12, date(2026, 9, 30))
    lost = mapper.to_deal(
        {**role, "Opportunity": {**role["Opportunity"], "IsWon": False, "Type": "Partner Deal"}}
    )
    assert lost.status is DealStatus.LOST and lost.recurring is None
    open_ = mapper.to_deal(
        {
            **role,
            "Opportunity": {
                **role["Opportunity"],
                "IsClosed": False,
                "IsWon": False,
                "StageName": "Negotiation/Review",
                "Type": "New Business",
            },
        }
    )
    assert (open_.status, open_.stage, open_.recurring) == (DealStatus.OPEN, PipelineStage.NEGOTIATION, False)
    assert mapper.to_deal({"OpportunityId": "006000000000001", "Opportunity": None}) is None


def test_canonical_values_become_salesforce_values(mapper):
    assert encode_value(CanonicalField.SCORE, 71.5) == 72
    assert encode_value(CanonicalField.SLA_BREACHED, None) is False
    assert encode_value(CanonicalField.SLA_DUE_AT, NOW) == "2026-11-02T09:00:00.000+0000"
    assert encode_value(CanonicalField.REASON, "é" * 300).endswith("…")
    with pytest.raises(ValueError):
        encode_value(CanonicalField.SCORE, True)
    entry, carried = to_write(
        "Lead", "00Q000000000001AAA", {"maturity": "hot", "stage": "prospect"}, mapper.settings
    )
    assert entry["Rating"] == "Hot" and entry["Status"] == "Working - Contacted"
    assert carried == {"maturity": "hot", "stage": "prospect"}
    contact, _ = to_write("Contact", "003000000000001AAA", {"maturity": "hot"}, mapper.settings)
    assert "Rating" not in contact and contact["Crmsync_Maturity__c"] == "hot"


def test_settings_refuse_oversized_pages_and_plain_http():
    with pytest.raises(ValueError, match="less than or equal to 2000"):
        SalesforceSettings(client_id="id", refresh_token="rt", page_size=5000)
    with pytest.raises(ValueError, match="less than or equal to 200"):
        SalesforceSettings(client_id="id", refresh_token="rt", batch_size=201)
    with pytest.raises(ValueError, match="https"):
        SalesforceSettings(client_id="id", refresh_token="rt", login_url="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="needs refresh_token"):
        SalesforceSettings(client_id="id")
    assert "rt-secret-value" not in repr(SalesforceSettings(client_id="id", refresh_token="rt-secret-value"))


def test_a_linkedin_task_is_also_the_contact_s_social_message(mapper):
    record = {"Id": "00T000000000009", "TaskSubtype": "LinkedIn", "IsClosed": True,
              "CompletedDateTime": "2026-10-03T10:00:00.000+0000", "OwnerId": "005000000000001AAA"}
    task = mapper.to_activity("Task", record, NOW)
    assert task.kind is ActivityKind.TASK and not task.automated
    event = mapper.social_event(task, record)
    assert (event.type, event.source, event.at) == ("social_message", "linkedin", task.at)
    call = {**record, "TaskSubtype": "Call"}
    assert mapper.social_event(mapper.to_activity("Task", call, NOW), call) is None


def test_an_unknown_task_subtype_reads_as_a_task(mapper):
    record = {"Id": "00T000000000010", "TaskSubtype": "Hologram", "IsClosed": True,
              "CreatedDate": "2026-10-03T10:00:00.000+0000"}
    assert mapper.to_activity("Task", record, NOW).kind is ActivityKind.TASK


def test_lead_sources_and_seniority_are_translated_by_settings(mapper):
    settings = SalesforceSettings(client_id="id", refresh_token="rt",
                                  seniority_values={"VP": "director"}, lead_sources={"Trade Show": "trade_show"})
    custom = RecordMapper(settings, "acme")
    record = {"Id": "00Q000000000001", "LeadSource": "Trade Show", "Seniority__c": "VP",
              "SystemModstamp": "2026-10-01T10:00:00.000+0000"}
    contact = custom.to_contact("Lead", record, {"source": "LeadSource", "seniority": "Seniority__c"})
    assert (contact.source, contact.seniority) == ("trade_show", "director")
    web = mapper.to_contact("Lead", {**record, "LeadSource": "Web"}, {"source": "LeadSource"})
    assert web.source == "website_form"  # the standard values come translated by default
    other = mapper.to_contact("Lead", {**record, "LeadSource": "linkedin"}, {"source": "LeadSource"})
    assert other.source == "linkedin"  # a value no table names is read as it is


def test_the_recurring_flag_comes_from_the_field_the_settings_name(mapper):
    settings = SalesforceSettings(client_id="id", refresh_token="rt", recurring_field="Is_Subscription__c")
    custom = RecordMapper(settings, "acme")
    role = {"OpportunityId": "006000000000001",
            "Opportunity": {"Id": "006000000000001AAA", "IsClosed": True, "IsWon": True, "Type": "Renewal",
                            "Is_Subscription__c": False}}
    assert custom.to_deal(role).recurring is False  # the checkbox, not Type
    assert mapper.to_deal(role).recurring is True  # the default field, Type, says Renewal
    off = RecordMapper(SalesforceSettings(client_id="id", refresh_token="rt", recurring_field=None), "acme")
    assert off.to_deal(role).recurring is None


def test_the_accounts_recurring_values_come_before_the_picklist_defaults_and_ignore_case(mapper):
    role = {"OpportunityId": "006000000000001",
            "Opportunity": {"Id": "006000000000001AAA", "IsClosed": True, "IsWon": True, "Type": "renewal"}}
    assert mapper.to_deal(role).recurring is True  # `recurring_opportunity_types` names "Renewal"
    settings = SalesforceSettings(client_id="id", refresh_token="rt", recurring_values={"RENEWAL": False,
                                                                                         "Abonnement": True})
    custom = RecordMapper(settings, "acme")
    assert custom.to_deal(role).recurring is False  # the account's own word wins over the picklist default
    subscription = {**role, "Opportunity": {**role["Opportunity"], "Type": "abonnement"}}
    assert custom.to_deal(subscription).recurring is True
    unheard = {**role, "Opportunity": {**role["Opportunity"], "Type": "Partner Referral"}}
    assert custom.to_deal(unheard).recurring is None  # no table knows it: the rules decide


def test_vocabulary_defaults_are_the_settings_defaults():
    from connectors.salesforce.mapping import VOCABULARY

    settings = SalesforceSettings(client_id="id", refresh_token="rt")
    assert settings.stage_map == dict(VOCABULARY.stages)
    assert settings.campaign_events == dict(VOCABULARY.campaign_types)
    assert settings.lead_sources == dict(VOCABULARY.lead_sources)
