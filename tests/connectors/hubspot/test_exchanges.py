"""Exact HTTP exchanges for the request shapes that matter most, compared with HubSpot's documented examples.

hubspot-api-client sends through urllib3, which `responses` cannot see, so instead of a `responses` mock
these tests read the exact bytes the SDK put on the wire from the sandbox's request log (the style guide's
"use the sandbox through the SDK's `host=` setting").
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs

from sync.contract import FieldUpdate
from sync.synthetic import synthetic_contacts


def test_incremental_search_body_is_the_documented_shape(sandbox, make_connector, clock, sent_bodies):
    ids = sandbox.seed(synthetic_contacts(2))
    connector = make_connector()
    cursor = list(connector.pull(None))[-1].cursor
    clock.advance(timedelta(minutes=1))
    sandbox.set_field(ids["100000"], "city", "Madrid")
    since = int((clock.now() - timedelta(minutes=1, seconds=10)).timestamp() * 1000)
    until = int(clock.now().timestamp() * 1000)
    list(connector.pull(cursor))
    body = sent_bodies("/crm/v3/objects/contacts/search")[0]
    assert body["filterGroups"] == [{"filters": [
        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(since)},
        {"propertyName": "lastmodifieddate", "operator": "LTE", "value": str(until)}]}]
    assert body["sorts"] == ["lastmodifieddate"] and body["limit"] == 200 and body["after"] == "0"
    assert {"email", "lifecyclestage", "hs_lead_status", "lastmodifieddate"} <= set(body["properties"])


def test_batch_update_and_association_read_bodies(sandbox, make_connector, clock, sent_bodies):
    ids = list(sandbox.seed(synthetic_contacts(2)).values())
    connector = make_connector()
    connector.ensure_fields()
    cursor = list(connector.pull(None))[-1].cursor
    clock.advance(timedelta(minutes=1))
    connector.push([FieldUpdate(ids[0], {"score": 87})])
    assert sent_bodies("/crm/v3/objects/contacts/batch/update") == [
        {"inputs": [{"id": ids[0], "properties": {"crmsync_score": "87"}}]}]
    clock.advance(timedelta(minutes=1))
    sandbox.set_field(ids[0], "city", "Lyon")  # a person's edit after crmsync's write: read back, related too
    changed = [c.id for p in connector.pull(cursor) for c in p.contacts]
    assert changed == [ids[0]]
    assert sent_bodies("/crm/v4/associations/contacts/deals/batch/read") == [{"inputs": [{"id": ids[0]}]}]
    request = next(r for r in sandbox.requests.all() if r.path.endswith("/associations/contacts/deals/batch/read"))
    assert request.headers["Authorization"] == f"Bearer {sandbox.credentials()['access_token']}"
    assert request.headers["User-Agent"].startswith("crmsync/")


def test_property_creation_body_matches_the_documented_example(sandbox, make_connector, sent_bodies):
    make_connector().ensure_fields()
    batches = sent_bodies("/crm/v3/properties/contacts/batch/create")
    assert len(batches) == 1  # every missing property in one request
    created = {b["name"]: b for b in batches[0]["inputs"]}
    assert created["crmsync_score"] == {"name": "crmsync_score", "label": "crmsync score", "type": "number",
                                        "fieldType": "number", "groupName": "crmsync", "options": []}
    assert created["crmsync_sla_breached"]["options"] == [
        {"label": "Yes", "value": "true", "hidden": False, "displayOrder": 0},
        {"label": "No", "value": "false", "hidden": False, "displayOrder": 1}]
    assert sent_bodies("/crm/v3/properties/contacts/groups") == [
        {"name": "crmsync", "label": "crmsync", "displayOrder": -1}]


def test_token_refresh_is_the_documented_form_post(sandbox, make_connector):
    list(make_connector(auth="oauth").pull(None))
    refresh = next(r for r in sandbox.requests.all() if r.path == "/oauth/v1/token")
    credentials = sandbox.credentials()
    assert refresh.method == "POST" and refresh.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(refresh.body.decode()) == {"grant_type": ["refresh_token"], "client_id": [credentials["client_id"]],
                                               "client_secret": [credentials["client_secret"]],
                                               "refresh_token": [credentials["refresh_token"]]}
    assert "Authorization" not in refresh.headers
