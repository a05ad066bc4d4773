"""The sandbox's own answers hold the documented shapes (there is no OpenAPI for Salesforce REST to validate
them against: the specs folder says so, and this test fails if that changes, so a new spec gets used)."""

from __future__ import annotations

import re

import pytest
import requests

from sync.synthetic import synthetic_contacts

from connectors.sandbox.salesforce import SalesforceSandbox


@pytest.fixture
def sandbox(clock):
    """These tests send hand-made (partly invalid) requests: no connector-request checks here."""
    with SalesforceSandbox(clock=clock) as box:
        yield box


@pytest.fixture
def http(sandbox):
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


def test_the_specs_folder_has_no_salesforce_openapi(find_specs):
    specs = find_specs()
    assert not (specs / "salesforce").exists(), "a Salesforce spec appeared: validate requests against it"
    assert "Salesforce publishes no static OpenAPI" in (specs / "README.md").read_text()
