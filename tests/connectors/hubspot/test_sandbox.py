"""The sandbox's own fidelity, where the connector (which never exceeds a maximum) cannot show it: oversize
requests, the search cap, rate-limit headers and bodies, authentication answers."""

from __future__ import annotations

import json

import pytest
import urllib3

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
    from connectors.sandbox.hubspot import HubSpotSandbox

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
