"""The sandbox's own answers hold the documented shapes (there is no OpenAPI for Salesforce REST to validate
them against: the specs folder says so, and this test fails if that changes, so a new spec gets used)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests

from sync.synthetic import synthetic_contacts

from connectors.sandbox.salesforce import SalesforceSandbox


@pytest.fixture
def sandbox(clock):
    """These tests send hand-made (partly invalid) requests: no connector-request checks here."""
    with SalesforceSandbox(clock=clock) as box:
        yield box


def login(sandbox):
    """A requests session holding a fresh access token (the sandbox's sessions expire after 2 h)."""
    session = requests.Session()
    session.verify = sandbox.ca_path
    creds = sandbox.credentials()
    token = session.post(
        f"{sandbox.base_url}/services/oauth2/token",
        verify=sandbox.ca_path,
        data={
            "grant_type": "refresh_token",
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
            "refresh_token": creds["refresh_token"],
        },
    ).json()
    assert set(token) >= {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}
    assert "expires_in" not in token and token["token_type"] == "Bearer"
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    return session


@pytest.fixture
def http(sandbox):
    session = login(sandbox)
    yield session
    session.close()


def data(sandbox, path):
    return f"{sandbox.base_url}/services/data/v59.0/{path}"


def assert_error_array(response, status, code):
    body = response.json()
    assert response.status_code == status and isinstance(body, list) and body[0]["errorCode"] == code
    assert set(body[0]) <= {"message", "errorCode", "fields"} and body[0]["message"]


def test_query_pages_have_the_documented_shape(sandbox, http, clock):
    sandbox.seed(synthetic_contacts(30, now=clock.now()))
    q = {"q": "SELECT Id, Account.Name FROM Contact ORDER BY SystemModstamp, Id"}
    first = http.get(
        data(sandbox, "query/"),
        params=q,
        headers={"Sforce-Query-Options": "batchSize=100"},
        verify=sandbox.ca_path,
    )
    body = first.json()
    assert re.fullmatch(r"api-usage=\d+/100000", first.headers["Sforce-Limit-Info"])
    assert set(body) == {"totalSize", "done", "records"}  # batchSize below 200 is raised to 200
    record = body["records"][0]
    assert record["attributes"] == {
        "type": "Contact",
        "url": f"/services/data/v59.0/sobjects/Contact/{record['Id']}",
    }
    assert len(record["Id"]) == 18 and record["Id"].startswith("003")
    assert record["Account"] is None or record["Account"]["attributes"]["type"] == "Account"


def test_query_more_urls_and_limits(sandbox, http, clock):
    sandbox.seed(synthetic_contacts(450, seed=2, now=clock.now()))
    page = http.get(
        data(sandbox, "query/"),
        params={"q": "SELECT Id FROM Task"},
        headers={"Sforce-Query-Options": "batchSize=200"},
        verify=sandbox.ca_path,
    ).json()
    assert page["done"] is False and len(page["records"]) == 200
    assert re.fullmatch(r"/services/data/v59\.0/query/01g\w{15}-200", page["nextRecordsUrl"])
    more = http.get(sandbox.base_url + page["nextRecordsUrl"], verify=sandbox.ca_path).json()
    assert len(more["records"]) <= 2000 and more["totalSize"] == page["totalSize"]
    limits = http.get(data(sandbox, "limits/"), verify=sandbox.ca_path).json()
    assert set(limits["DailyApiRequests"]) == {"Max", "Remaining"}


def test_errors_are_arrays_with_salesforce_codes(sandbox, http):
    assert_error_array(
        http.get(data(sandbox, "query/"), params={"q": "SELECT Nope__c FROM Lead"}, verify=sandbox.ca_path),
        400,
        "INVALID_FIELD",
    )
    assert_error_array(
        http.get(data(sandbox, "query/"), params={"q": "SELEC Id FROM Lead"}, verify=sandbox.ca_path),
        400,
        "MALFORMED_QUERY",
    )
    records = [{"attributes": {"type": "Lead"}, "id": "00Q8d0000000001EAA"}] * 201
    assert_error_array(
        http.patch(
            data(sandbox, "composite/sobjects"),
            json={"allOrNone": False, "records": records},
            verify=sandbox.ca_path,
        ),
        400,
        "EXCEEDED_ID_LIMIT",
    )
    mixed = [{"attributes": {"type": t}, "id": "x"} for t in ["Lead", "Contact"] * 6]
    assert_error_array(
        http.patch(
            data(sandbox, "composite/sobjects"),
            json={"allOrNone": False, "records": mixed},
            verify=sandbox.ca_path,
        ),
        400,
        "INVALID_BATCH_REQUEST",
    )
    anonymous = requests.get(data(sandbox, "limits/"), verify=sandbox.ca_path)
    assert_error_array(anonymous, 401, "INVALID_SESSION_ID")


def test_all_or_none_rolls_back_every_record(sandbox, http, clock):
    ids = list(sandbox.seed(synthetic_contacts(4, now=clock.now())).values())
    sandbox.delete_contact(ids[0])
    records = [
        {"attributes": {"type": "Lead" if i.startswith("00Q") else "Contact"}, "id": i, "Phone": "1"}
        for i in sorted(ids, key=lambda i: i[:3] != "00Q")
    ]
    saves = http.patch(
        data(sandbox, "composite/sobjects"),
        json={"allOrNone": True, "records": records},
        verify=sandbox.ca_path,
    ).json()
    codes = sorted(s["errors"][0]["statusCode"] for s in saves)
    assert codes == ["ALL_OR_NONE_OPERATION_ROLLED_BACK"] * 3 + ["ENTITY_IS_DELETED"]
    assert all("id" not in s for s in saves)


def test_query_all_returns_the_recycle_bin_for_15_days_then_forgets(sandbox, clock):
    ids = sorted(sandbox.seed(synthetic_contacts(20, now=clock.now())).values())
    contacts = [i for i in ids if i.startswith("003")]
    clock.advance(timedelta(minutes=1))
    sandbox.delete_contact(contacts[0])
    sandbox.merge(contacts[1], contacts[2])
    soql = {"q": "SELECT Id, IsDeleted, MasterRecordId FROM Contact ORDER BY SystemModstamp, Id"}

    def rows(path):
        with login(sandbox) as http:
            answer = http.get(data(sandbox, path), params=soql, verify=sandbox.ca_path)
        return {r["Id"]: r for r in answer.json()["records"]}

    live, everything = rows("query/"), rows("queryAll/")
    assert contacts[0] not in live and contacts[2] not in live and contacts[1] in live
    assert everything[contacts[0]]["IsDeleted"] is True and everything[contacts[0]]["MasterRecordId"] is None
    assert everything[contacts[2]]["MasterRecordId"] == contacts[1]
    assert set(everything) == set(live) | {contacts[0], contacts[2]}
    clock.advance(timedelta(days=14, hours=23))
    assert {contacts[0], contacts[2]} <= set(rows("queryAll/"))  # still in the recycle bin
    clock.advance(timedelta(hours=2))
    assert set(rows("queryAll/")) == set(live)  # 15 days on: purged, no query returns them
    sandbox.delete_contact(contacts[3])
    sandbox.empty_recycle_bin()
    assert contacts[3] not in rows("queryAll/") and contacts[3] not in rows("query/")


def test_the_specs_folder_has_no_salesforce_openapi(find_specs):
    specs = find_specs()
    assert not (specs / "salesforce").exists(), "a Salesforce spec appeared: validate requests against it"
    assert "Salesforce publishes no static OpenAPI" in (specs / "README.md").read_text()


def test_an_object_out_of_the_user_s_reach_is_answered_as_one_that_does_not_exist(sandbox, http):
    sandbox.deny("Campaign", "CampaignMember")
    listed = http.get(data(sandbox, "sobjects"), verify=sandbox.ca_path).json()
    names = {item["name"] for item in listed["sobjects"]}
    assert {"Lead", "Contact", "Task"} <= names and "CampaignMember" not in names
    assert_error_array(http.get(data(sandbox, "sobjects/CampaignMember/describe"), verify=sandbox.ca_path),
                       404, "NOT_FOUND")
    assert_error_array(http.get(data(sandbox, "query/"), params={"q": "SELECT Id FROM CampaignMember"},
                                verify=sandbox.ca_path), 400, "INVALID_TYPE")
    sandbox.allow("Campaign", "CampaignMember")
    assert http.get(data(sandbox, "sobjects/CampaignMember/describe"), verify=sandbox.ca_path).ok


def test_a_stock_org_has_no_custom_field(clock):
    with SalesforceSandbox(clock=clock, stock_org=True) as stock:
        with login(stock) as http:
            fields = {f["name"] for f in http.get(data(stock, "sobjects/Lead/describe"),
                                                  verify=stock.ca_path).json()["fields"]}
            opportunity = {f["name"] for f in http.get(data(stock, "sobjects/Opportunity/describe"),
                                                       verify=stock.ca_path).json()["fields"]}
    assert {"Email", "Rating", "Status", "NumberOfEmployees"} <= fields
    assert not any(name.endswith("__c") for name in fields | opportunity)


def test_a_task_closes_only_when_its_update_is_saved(sandbox, http, clock):
    """A closed Status closes the Task (IsClosed) only for a record the collections update saved: a record
    rolled back by allOrNone changed nothing."""
    ids = list(sandbox.seed(synthetic_contacts(2, now=clock.now())).values())
    task = {"attributes": {"type": "Task"}, "WhoId": ids[0], "OwnerId": sandbox.seeder.integration_user,
            "Subject": "Follow up", "Status": "Not Started", "Priority": "Normal"}
    (created,) = http.post(data(sandbox, "composite/sobjects"), json={"allOrNone": True, "records": [task]},
                           verify=sandbox.ca_path).json()
    sandbox.delete_contact(ids[1])
    done = {"attributes": {"type": "Task"}, "id": created["id"], "Status": "Completed"}
    gone = {"attributes": {"type": "Lead" if ids[1].startswith("00Q") else "Contact"}, "id": ids[1], "Phone": "1"}
    rolled_back = http.patch(data(sandbox, "composite/sobjects"), json={"allOrNone": True, "records": [done, gone]},
                             verify=sandbox.ca_path).json()
    assert [save["success"] for save in rolled_back] == [False, False]
    assert not sandbox.org.records["Task"][created["id"]].get("IsClosed")
    (saved,) = http.patch(data(sandbox, "composite/sobjects"), json={"allOrNone": False, "records": [done]},
                          verify=sandbox.ca_path).json()
    assert saved["success"] and sandbox.org.records["Task"][created["id"]]["IsClosed"] is True
