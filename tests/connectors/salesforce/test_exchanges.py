"""Exact HTTP exchanges, in the shapes of the Salesforce documentation, seen by `responses` (simple-salesforce
uses requests): the OAuth refresh, SOQL query + queryMore paging, the sObject Collections PATCH and its
SaveResult array, the 401 INVALID_SESSION_ID renewal, REQUEST_LIMIT_EXCEEDED and "No such column"."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import responses
from responses import matchers

from sync.clock import FrozenClock
from sync.contract import FieldUpdate
from sync.errors import PermanentError, RateLimited

from connectors.salesforce import SalesforceConnector, SalesforceSettings
from connectors.salesforce.paging import RELATED
from sync.toolkit.cursor import Cursor, Watermark

LOGIN = "https://login.salesforce.com"
INSTANCE = "https://acme.my.salesforce.com"
DATA = f"{INSTANCE}/services/data/v59.0"
TOKEN_FORM = {
    "grant_type": "refresh_token",
    "client_id": "3MVG9IHf89I1t8hrvswazsWedXWY0i1qK20PSFaInvUgLFB6vrcb9bbWFTSIHpO8G2jxBLJA6uZGyPFC5Aejq",
    "client_secret": "1955279925675241571",
    "refresh_token": "5Aep861TSESvWeug_xvFHRBTTbf_YrTWgEyjBJvx",
}
# the token answer of the OAuth refresh-token flow (no expires_in: sessions end by org timeout)
TOKEN = {
    "access_token": "00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog.39AsX.LVpxezPwuX5VAIrrbbHMuol7GQxnMeYMN7cj8E"
    "oWr78nt1u44zU31IbYNNJguseu",
    "instance_url": INSTANCE,
    "id": "https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS",
    "token_type": "Bearer",
    "issued_at": "1278448384422",
    "signature": "CMJ4l+CCaPQiKjoOEwEig9H4wqhpuLSk4J2urAe+fVg=",
}
LIMITS = {"Sforce-Limit-Info": "api-usage=18/100000"}
LEAD_SOQL = (
    "SELECT Id, SystemModstamp, IsConverted, ConvertedContactId, Email FROM Lead WHERE IsConverted = false "
    "ORDER BY SystemModstamp, Id"
)
LEAD_A, LEAD_B = "00QD000000XwEvSMAV", "00QD000000XwEvTMAV"


def lead(record_id: str, email: str, stamp: str) -> dict:
    return {
        "attributes": {"type": "Lead", "url": f"/services/data/v59.0/sobjects/Lead/{record_id}"},
        "Id": record_id,
        "SystemModstamp": stamp,
        "IsConverted": False,
        "ConvertedContactId": None,
        "Email": email,
    }


def describe(sobject: str, fields: list[str]) -> dict:
    return {
        "name": sobject,
        "fields": [
            {"name": f, "type": "string", "updateable": True, "relationshipName": None} for f in fields
        ],
    }


OBJECTS = ("Lead", "Contact", "Task", "Event", "CampaignMember", "OpportunityContactRole", "Opportunity")
TASK_FIELDS = ["Id", "WhoId", "OwnerId", "Subject", "TaskSubtype", "CallType", "IsClosed", "ActivityDate",
               "CompletedDateTime", "CreatedDate"]


def org(mock: responses.RequestsMock, objects: tuple[str, ...] = OBJECTS) -> None:
    """What a pull asks first: the objects the user can use (Describe Global), then the fields of Lead,
    Contact, Task and Opportunity (each once)."""
    listed = [{"name": name, "queryable": True} for name in objects]
    mock.get(f"{DATA}/sobjects", json={"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": listed},
             headers=LIMITS)
    fields = {"Lead": ["Id", "Email"], "Contact": ["Id", "Email"], "Task": TASK_FIELDS,
              "Opportunity": ["Id", "StageName", "Type", "Contract_Term_Months__c"]}
    for sobject in ("Lead", "Contact", "Task", "Opportunity"):
        if sobject in objects:
            mock.get(f"{DATA}/sobjects/{sobject}/describe", json=describe(sobject, fields[sobject]),
                     headers=LIMITS)


@pytest.fixture
def connector(virtual_sleep):
    settings = SalesforceSettings(
        client_id=TOKEN_FORM["client_id"],
        client_secret=TOKEN_FORM["client_secret"],
        refresh_token=TOKEN_FORM["refresh_token"],
        lead_fields={"email": "Email"},
        contact_fields={"email": "Email"},
    )
    made = SalesforceConnector(
        settings, clock=FrozenClock(datetime(2026, 11, 2, 9, tzinfo=timezone.utc)), sleep=virtual_sleep
    )
    yield made
    made.close()


def token(mock: responses.RequestsMock) -> None:
    mock.post(
        f"{LOGIN}/services/oauth2/token", json=TOKEN, match=[matchers.urlencoded_params_matcher(TOKEN_FORM)]
    )


def soql(mock: responses.RequestsMock, query: str, body: dict, *, path: str = "query/") -> None:
    mock.get(
        f"{DATA}/{path}",
        json=body,
        headers=LIMITS,
        match=[
            matchers.query_param_matcher({"q": query}),
            matchers.header_matcher(
                {"Authorization": f"Bearer {TOKEN['access_token']}", "Sforce-Query-Options": "batchSize=2000"}
            ),
        ],
    )


def test_query_and_query_more_follow_next_records_url(connector):
    empty = {"totalSize": 0, "done": True, "records": []}
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        token(mock)
        org(mock, ("Lead", "Contact", "Task", "Event", "CampaignMember"))  # no access to opportunities
        soql(
            mock,
            LEAD_SOQL,
            {
                "totalSize": 2,
                "done": False,
                "nextRecordsUrl": "/services/data/v59.0/query/01gD0000002HU6KIAW-2000",
                "records": [lead(LEAD_A, "a@x.io", "2026-10-01T08:00:00.000+0000")],
            },
        )
        mock.get(
            f"{DATA}/query/01gD0000002HU6KIAW-2000",
            headers=LIMITS,
            json={
                "totalSize": 2,
                "done": True,
                "records": [lead(LEAD_B, "b@x.io", "2026-10-02T08:00:00.000+0000")],
            },
        )
        for related in (  # a pull from nothing: every related record, once per object, before the first page
            "SELECT Id, WhoId, OwnerId, Subject, TaskSubtype, CallType, IsClosed, ActivityDate, "
            "CompletedDateTime, CreatedDate FROM Task WHERE WhoId != null",
            "SELECT Id, WhoId, OwnerId, Subject, ActivityDateTime, ActivityDate, CreatedDate FROM Event "
            "WHERE WhoId != null",
            "SELECT Id, LeadId, ContactId, HasResponded, FirstRespondedDate, CreatedDate, Campaign.Type, "
            "Campaign.Name FROM CampaignMember WHERE HasResponded = true",
        ):
            soql(mock, related, empty)
        soql(mock, "SELECT Id, SystemModstamp, Email FROM Contact ORDER BY SystemModstamp, Id", empty)
        pages = list(connector.pull(None))
    assert [[c.email for c in p.contacts] for p in pages] == [["a@x.io"], ["b@x.io"], [], []]
    assert connector.client.gateway.budget().remaining == 100_000 - 18
    assert [w.what for w in connector.setup_warnings] == ["OpportunityContactRole and Opportunity"]


def test_an_incremental_pull_reads_changes_and_deletions_in_one_query_all_per_object(connector):
    """Six calls when nothing changed but one merge: Lead and Contact through queryAll (changed, deleted and
    merged rows in one stream), then one query per related object. A deleted row is a deletion, its
    MasterRecordId a merge."""
    empty = {"totalSize": 0, "done": True, "records": []}
    since = "2026-11-02T08:00:00Z"
    eight = datetime(2026, 11, 2, 8, tzinfo=timezone.utc)
    cursor = Cursor({"Lead": Watermark(eight), "Contact": Watermark(eight), RELATED: Watermark(eight)}).encode()
    merged = {**lead(LEAD_B, "b@x.io", "2026-11-02T08:30:00.000+0000"), "IsDeleted": True,
              "MasterRecordId": LEAD_A}
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        token(mock)
        org(mock)
        soql(mock, "SELECT Id, SystemModstamp, IsDeleted, MasterRecordId, IsConverted, ConvertedContactId, "
             f"Email FROM Lead WHERE SystemModstamp >= {since} ORDER BY SystemModstamp, Id",
             {"totalSize": 1, "done": True, "records": [merged]}, path="queryAll/")
        soql(mock, "SELECT Id, SystemModstamp, IsDeleted, MasterRecordId, Email FROM Contact "
             f"WHERE SystemModstamp >= {since} ORDER BY SystemModstamp, Id", empty, path="queryAll/")
        for related in (
            f"SELECT WhoId FROM Task WHERE SystemModstamp >= {since} AND WhoId != null",
            f"SELECT WhoId FROM Event WHERE SystemModstamp >= {since} AND WhoId != null",
            f"SELECT ContactId, LeadId FROM CampaignMember WHERE SystemModstamp >= {since}",
            f"SELECT ContactId FROM OpportunityContactRole WHERE SystemModstamp >= {since} "
            f"OR Opportunity.SystemModstamp >= {since}",
        ):
            soql(mock, related, empty)
        pages = list(connector.pull(cursor))
    assert [d for p in pages for d in p.deleted_ids] == [LEAD_B]
    assert {k: v for p in pages for k, v in p.merged_into.items()} == {LEAD_B: LEAD_A}
    assert connector.api_calls["contacts"] == 2 and connector.api_calls["activities"] == 3
    assert connector.api_calls["deals"] == 1


def test_collections_update_body_and_save_results_by_position(connector):
    body = {
        "allOrNone": False,
        "records": [
            {
                "attributes": {"type": "Lead"},
                "id": LEAD_A,
                "Crmsync_Score__c": 87,
                "Rating": "Hot",
                "Crmsync_Maturity__c": "hot",
            },
            {"attributes": {"type": "Contact"}, "id": "003D000000QxD4FIAV", "Crmsync_Score__c": 12},
        ],
    }
    saves = [
        {"id": LEAD_A, "success": True, "errors": []},
        {
            "success": False,
            "errors": [{"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}],
        },
    ]
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        token(mock)
        # the Lead's Rating is unknown to the engine: read before deciding whether a person owns it
        soql(mock, f"SELECT Id, Rating FROM Lead WHERE Id IN ('{LEAD_A}')",
             {"totalSize": 1, "done": True, "records": [{"Id": LEAD_A, "Rating": None}]})
        mock.patch(
            f"{DATA}/composite/sobjects",
            json=saves,
            headers=LIMITS,
            match=[matchers.json_params_matcher(body)],
        )
        results = connector.push(
            [
                FieldUpdate("003D000000QxD4F", {"score": 12}),
                FieldUpdate(LEAD_A, {"score": 87, "maturity": "hot"}),
            ]
        )
    assert results[1].ok and results[1].written == {"score": 87, "maturity": "hot"}
    assert not results[0].ok and results[0].error.code == "ENTITY_IS_DELETED"
    assert results[0].contact_id == "003D000000QxD4F"  # reported under the id the engine gave
    assert connector.api_calls["push_read"] == 1 and connector.api_calls["push"] == 1


def test_invalid_session_is_renewed_once_and_the_call_resent(connector):
    body = {
        "allOrNone": False,
        "records": [{"attributes": {"type": "Lead"}, "id": LEAD_A, "Crmsync_Score__c": 5}],
    }
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        token(mock)
        mock.patch(
            f"{DATA}/composite/sobjects",
            status=401,
            json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
        )
        mock.patch(
            f"{DATA}/composite/sobjects",
            json=[{"id": LEAD_A, "success": True, "errors": []}],
            match=[matchers.json_params_matcher(body)],
        )
        assert connector.push([FieldUpdate(LEAD_A, {"score": 5})])[0].ok
        assert [c.request.method for c in mock.calls] == ["POST", "PATCH", "POST", "PATCH"]
    assert connector.api_calls["auth"] == 2 and connector.api_calls["push"] == 2


def test_request_limit_exceeded_is_the_daily_budget_not_a_bug(connector, virtual_sleep):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        token(mock)
        mock.get(
            f"{DATA}/limits/",
            status=403,
            headers={"Sforce-Limit-Info": "api-usage=100001/100000"},
            json=[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
        )
        with pytest.raises(RateLimited) as caught:
            connector.client.call("health", lambda sf: sf.limits())
    assert caught.value.scope == "daily" and virtual_sleep.waits == []
    assert connector.client.gateway.budget().remaining == 0


def test_no_such_column_names_the_missing_field_level_security(connector):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        token(mock)
        mock.get(
            f"{DATA}/query/",
            status=400,
            json=[
                {
                    "message": "\nSELECT Crmsync_Score__c FROM Contact\n       ^\nERROR at Row:1:Column:8\n"
                    "No such column 'Crmsync_Score__c' on entity 'Contact'. If you are attempting to use a "
                    "custom field, be sure "
                    "to append the '__c' after the custom field name.",
                    "errorCode": "INVALID_FIELD",
                }
            ],
        )
        with pytest.raises(PermanentError) as caught:
            connector.client.call("contacts", lambda sf: sf.query("SELECT Crmsync_Score__c FROM Contact"))
    assert (
        "Crmsync_Score__c" in caught.value.user_message
        and "field-level security" in caught.value.user_message
    )
