"""The Pipedrive sandbox does what the documentation says, before any connector is pointed at it: a merge
through `PUT /v1/persons/{id}/merge`, a deleted person purged after 30 days, the plan's cap on custom fields,
the deal fields' metadata, and values served as another implementation would send them."""

from __future__ import annotations

from datetime import timedelta

import requests

from sync.synthetic import synthetic_contacts


def call(sandbox, method, path, **kwargs):
    headers = {"x-api-token": sandbox.credentials()["api_token"]}
    return requests.request(method, f"{sandbox.base_url}{path}", headers=headers, timeout=5, **kwargs)


def listed(sandbox):
    return {row["id"] for row in call(sandbox, "GET", "/api/v2/persons", params={"limit": 500}).json()["data"]}


def test_a_merge_removes_the_person_in_the_url_and_moves_its_deals_to_the_survivor(sandbox, clock):
    contacts = [c for c in synthetic_contacts(40) if c.deals and c.activities][:2]
    removed, survivor = (int(sandbox.seed([c])[c.id]) for c in contacts)
    sandbox.store.persons[survivor]["job_title"] = None
    clock.advance(timedelta(minutes=1))
    answer = call(sandbox, "PUT", f"/v1/persons/{removed}/merge", json={"merge_with_id": survivor})
    assert answer.status_code == 200
    body = answer.json()["data"]
    assert body["id"] == survivor and body["merge_what_id"] == removed
    assert removed not in listed(sandbox) and survivor in listed(sandbox)
    assert sandbox.person(str(survivor))["job_title"] == contacts[0].job_title  # empty field filled
    deals = call(sandbox, "GET", "/api/v2/deals", params={"person_id": survivor}).json()["data"]
    assert len(deals) == len(contacts[0].deals) + len(contacts[1].deals)
    assert all(deal["update_time"] == sandbox.now() for deal in deals if deal["id"] in
               {sandbox.deal_id(d.id) for d in contacts[0].deals})
    assert call(sandbox, "PATCH", f"/api/v2/persons/{removed}", json={}).status_code == 410
    refused = call(sandbox, "PUT", f"/v1/persons/{survivor}/merge", json={"merge_with_id": "x"})
    assert refused.status_code == 400 and refused.json()["success"] is False


def test_a_deleted_person_is_purged_after_thirty_days(sandbox, clock):
    (native,) = sandbox.seed(synthetic_contacts(1)).values()
    assert call(sandbox, "DELETE", f"/api/v2/persons/{native}").status_code == 200
    assert call(sandbox, "PATCH", f"/api/v2/persons/{native}", json={}).status_code == 410
    assert int(native) not in listed(sandbox)
    clock.advance(timedelta(days=30))
    gone = call(sandbox, "PATCH", f"/api/v2/persons/{native}", json={})
    assert gone.status_code == 404 and gone.json()["success"] is False
    assert call(sandbox, "GET", f"/api/v2/persons/{native}").status_code == 404


def test_the_plans_cap_on_custom_fields_refuses_with_a_403(sandbox):
    sandbox.store.custom_field_limit = 1
    first = call(sandbox, "POST", "/v1/personFields", json={"name": "one", "field_type": "varchar"})
    second = call(sandbox, "POST", "/v1/personFields", json={"name": "two", "field_type": "varchar"})
    assert first.status_code == 200 and second.status_code == 403
    assert "limit" in second.json()["error"] and "code" not in second.json()  # the code is not promised


def test_deal_fields_name_the_custom_ones_by_their_code(sandbox):
    recurring = sandbox.store.add_deal_field("Recurring", "enum", ["Yes", "No"])
    rows = call(sandbox, "GET", "/api/v2/dealFields", params={"limit": 500}).json()["data"]
    by_name = {row["field_name"]: row for row in rows}
    assert by_name["Recurring"]["field_code"] == recurring["field_code"] and by_name["Recurring"]["is_custom_field"]
    assert by_name["MRR"]["field_code"] == "mrr" and not by_name["MRR"]["is_custom_field"]
    assert all("id" not in row for row in rows)


def test_served_values_replace_the_stored_ones_in_answers_only(sandbox):
    ids = list(sandbox.seed(synthetic_contacts(3)).values())
    sandbox.serve("person", ids[1], first_name="Ada\x00" + "x" * 100_000, update_time="yesterday")
    rows = call(sandbox, "GET", "/api/v2/persons", params={"sort_by": "update_time", "limit": 2}).json()
    assert len(rows["data"]) == 2 and rows["additional_data"]["next_cursor"]
    served = next(row for row in rows["data"] if row["id"] == int(ids[1]))
    assert served["update_time"] == "yesterday" and served["first_name"].startswith("Ada\x00")
    assert sandbox.person(ids[1])["update_time"] != "yesterday"
