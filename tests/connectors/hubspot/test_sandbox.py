"""The sandbox's own fidelity, where the connector (which never exceeds a maximum) cannot show it: oversize
requests, the search cap, rate-limit headers and bodies, authentication answers; ids per object type, records
that change without touching their contacts, a backward lifecycle write, property history, batch creation."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import urllib3

from connectors.sandbox.hubspot import HubSpotSandbox
from sync.model import Activity, ActivityKind, Contact, Deal, DealStatus
from sync.synthetic import synthetic_contacts


@pytest.fixture
def call(sandbox):
    pool = urllib3.PoolManager(retries=False)

    def send(method: str, path: str, body: object | None = None, token: str | None = "valid") -> tuple[int, dict, object]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {sandbox.credentials()['access_token'] if token == 'valid' else token}"
        answer = pool.request(method, sandbox.base_url + path, headers=headers,
                              body=json.dumps(body).encode() if body is not None else None)
        return answer.status, dict(answer.headers), json.loads(answer.data) if answer.data else None

    yield send
    pool.clear()


def search_body(limit: int, after: str = "0") -> dict:
    return {"filterGroups": [], "sorts": ["hs_object_id"], "properties": ["email"], "limit": limit, "after": after}


def test_oversize_requests_are_rejected_like_hubspot(sandbox, call):
    sandbox.seed(synthetic_contacts(3))
    status, _, body = call("POST", "/crm/v3/objects/contacts/search", search_body(201))
    assert status == 400 and body["category"] == "VALIDATION_ERROR"
    assert call("GET", "/crm/v3/objects/contacts?limit=101")[0] == 400
    ids = [{"id": str(1000 + n)} for n in range(101)]
    assert call("POST", "/crm/v3/objects/contacts/batch/read", {"inputs": ids, "properties": [],
                                                                  "propertiesWithHistory": []})[0] == 400
    too_many = {"inputs": [{"id": "1001", "properties": {}}] * 2}
    assert call("POST", "/crm/v3/objects/contacts/batch/update", too_many)[2]["message"] == (
        "Duplicate IDs found in batch input")
    groups = [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 7}]
    assert call("POST", "/crm/v3/objects/contacts/search", {**search_body(10), "filterGroups": groups})[0] == 400


def test_search_pages_by_offset_until_the_cap(sandbox, call):
    sandbox.limits.search_result_cap = 4
    sandbox.seed(synthetic_contacts(6))
    status, headers, first = call("POST", "/crm/v3/objects/contacts/search", search_body(2))
    assert status == 200 and first["total"] == 6 and first["paging"]["next"]["after"] == "2"
    assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in headers)  # search carries none
    status, _, body = call("POST", "/crm/v3/objects/contacts/search", search_body(2, after="4"))
    assert status == 400 and "Paging beyond 4" in body["message"]


def test_rate_limit_headers_and_authentication_answers(sandbox, call):
    status, headers, _ = call("GET", "/crm/v3/objects/contacts?limit=1")
    assert status == 200 and headers["X-HubSpot-RateLimit-Max"] == "100"
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert int(headers["X-HubSpot-RateLimit-Daily-Remaining"]) == 250_000 - 1
    status, _, body = call("GET", "/crm/v3/objects/contacts?limit=1", token=None)
    assert status == 401 and body["category"] == "INVALID_AUTHENTICATION"
    sandbox.faults.add("rate_limit", 1, policy="DAILY")
    status, _, body = call("GET", "/crm/v3/objects/contacts?limit=1")
    assert status == 429 and body["policyName"] == "DAILY" and body["errorType"] == "RATE_LIMIT"


def test_enforced_burst_limit_answers_429(clock):
    with HubSpotSandbox(clock=clock, enforce_limits=True) as sandbox:
        sandbox.limits.burst = 2
        pool = urllib3.PoolManager(retries=False)
        auth = {"Authorization": f"Bearer {sandbox.credentials()['access_token']}"}
        statuses = [pool.request("GET", sandbox.base_url + "/crm/v3/objects/contacts?limit=1", headers=auth).status
                    for _ in range(3)]
        answer = pool.request("GET", sandbox.base_url + "/crm/v3/objects/contacts?limit=1", headers=auth)
        assert statuses == [200, 200, 429] and json.loads(answer.data)["policyName"] == "TEN_SECONDLY_ROLLING"
        assert answer.headers["X-HubSpot-RateLimit-Remaining"] == "0"
        pool.clear()


def people(sandbox, count):
    return list(sandbox.seed([Contact(crm="seed", id=str(n), email=f"p{n}@example.com") for n in range(count)]).values())


def test_ids_are_per_object_type(sandbox, clock):
    (native,) = people(sandbox, 1)
    sandbox.log_activity(native, Activity(kind=ActivityKind.CALL, at=clock.now(), subject="c"))
    sandbox.log_activity(native, Activity(kind=ActivityKind.MEETING, at=clock.now(), subject="m"))
    assert sandbox.store.linked("contacts", native, "calls") == sandbox.store.linked("contacts", native, "meetings")
    assert native == sandbox.store.linked("contacts", native, "calls")[0]  # a contact shares it too


def test_deals_and_engagements_change_without_touching_their_contacts(sandbox, clock):
    first, second = people(sandbox, 2)
    stamp = sandbox.native(first)["lastmodifieddate"]
    clock.advance(timedelta(minutes=1))
    sandbox.upsert_deal(first, Deal(id="won", status=DealStatus.WON, amount=1.0))
    sandbox.log_activity(first, Activity(kind=ActivityKind.CALL, at=clock.now(), subject="c"))
    sandbox.log_message(first, network="linkedin", at=clock.now(), by="1001")
    assert sandbox.native(first)["lastmodifieddate"] == stamp
    sandbox.lifecycle_sync_on_won = True  # the account setting, when an admin leaves it on
    sandbox.upsert_deal(second, Deal(id="won-2", status=DealStatus.WON, amount=1.0))
    assert sandbox.native(second)["lifecyclestage"] == "customer"


def test_a_backward_lifecycle_write_is_refused_whole_or_ignored(clock):
    for backward, expected in (("reject", 400), ("ignore", 200)):
        with HubSpotSandbox(clock=clock, backward_lifecycle=backward) as sandbox:
            first, second = people(sandbox, 2)
            sandbox.edit(first, {"lifecyclestage": "customer"})
            pool = urllib3.PoolManager(retries=False)
            answer = pool.request("POST", sandbox.base_url + "/crm/v3/objects/contacts/batch/update", headers={
                "Authorization": f"Bearer {sandbox.credentials()['access_token']}",
                "Content-Type": "application/json"}, body=json.dumps({"inputs": [
                    {"id": first, "properties": {"lifecyclestage": "lead"}},
                    {"id": second, "properties": {"lifecyclestage": "opportunity"}}]}).encode())
            body = json.loads(answer.data)
            assert answer.status == expected, backward
            if backward == "reject":
                assert body["category"] == "VALIDATION_ERROR"
                assert body["errors"][0]["context"]["propertyName"] == ["lifecyclestage"]
                assert sandbox.native(second).get("lifecyclestage") != "opportunity"  # the whole batch refused
            else:
                assert sandbox.native(second)["lifecyclestage"] == "opportunity"
            assert sandbox.native(first)["lifecyclestage"] == "customer"
            pool.clear()


def test_property_history_names_who_changed_a_value_fifty_records_at_most(sandbox, call):
    ids = people(sandbox, 51)
    sandbox.edit(ids[0], {"hs_lead_status": "IN_PROGRESS"})
    sandbox.edit(ids[0], {"hs_lead_status": "CONNECTED"}, by=None, source="AUTOMATION_PLATFORM")
    status, _, body = call("POST", "/crm/v3/objects/contacts/batch/read", {
        "inputs": [{"id": ids[0]}], "properties": ["hs_lead_status"], "propertiesWithHistory": ["hs_lead_status"]})
    history = body["results"][0]["propertiesWithHistory"]["hs_lead_status"]
    assert status == 200 and [(h["value"], h["sourceType"], h.get("updatedByUserId")) for h in history] == [
        ("CONNECTED", "AUTOMATION_PLATFORM", None), ("IN_PROGRESS", "CRM_UI", 9001)]
    status, _, body = call("POST", "/crm/v3/objects/contacts/batch/read", {
        "inputs": [{"id": i} for i in ids], "properties": [], "propertiesWithHistory": ["hs_lead_status"]})
    assert status == 400 and "property histories is 50" in body["message"]


def test_properties_are_created_in_one_batch_and_taken_names_come_back_in_a_207(sandbox, call):
    inputs = [{"name": f"p{n}", "label": f"P {n}", "type": "string", "fieldType": "text",
               "groupName": "qualification"} for n in range(3)]
    status, _, body = call("POST", "/crm/v3/properties/contacts/batch/create", {"inputs": inputs[:2]})
    assert status == 201 and [p["name"] for p in body["results"]] == ["p0", "p1"]
    status, _, body = call("POST", "/crm/v3/properties/contacts/batch/create", {"inputs": inputs})
    assert status == 207 and [p["name"] for p in body["results"]] == ["p2"]
    assert [(e["category"], e["context"]["name"]) for e in body["errors"]] == [
        ("OBJECT_ALREADY_EXISTS", ["p0"]), ("OBJECT_ALREADY_EXISTS", ["p1"])]


def test_search_finds_records_associated_with_a_company_and_refuses_an_unknown_type(sandbox, call):
    """`associations.company` names the singular type ("CRM API | Search": filter by associations): the
    contacts of that company, not an empty result; a type HubSpot does not have is a 400."""
    ids = sandbox.seed([Contact(crm="seed", id="1", email="a@acme.io", company="Acme")])
    company = sandbox.native(ids["1"])["associatedcompanyid"]
    by_company = {**search_body(10), "filterGroups": [{"filters": [
        {"propertyName": "associations.company", "operator": "EQ", "value": company}]}]}
    status, _, body = call("POST", "/crm/v3/objects/contacts/search", by_company)
    assert status == 200 and [result["id"] for result in body["results"]] == [ids["1"]]
    unknown = {**search_body(10), "filterGroups": [{"filters": [
        {"propertyName": "associations.widget", "operator": "EQ", "value": "1"}]}]}
    assert call("POST", "/crm/v3/objects/contacts/search", unknown)[0] == 400
