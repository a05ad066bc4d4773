"""The OpenAPI check itself: it finds the official files in the repository, it is not vacuous, and a
missing spec fails instead of skipping."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.contract import Connector
from sync.synthetic import synthetic_contacts

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_the_specs_are_found_in_the_repository(find_specs):
    found = find_specs("pipedrive", "openapi-v2.yml", "openapi-v1.yml")
    assert found == REPO_ROOT / "tests" / "specs" / "pipedrive"


def test_missing_specs_fail_and_never_skip(find_specs, monkeypatch, tmp_path):
    for ci in ("true", "false"):
        monkeypatch.setenv("CI", ci)
        with pytest.raises(pytest.fail.Exception, match="not found"):
            find_specs("pipedrive", "openapi-v2.yml", root=tmp_path / "nowhere")


@pytest.mark.filterwarnings("ignore:Unsupported scheme type")
def test_the_validator_catches_a_request_off_the_spec(spec_request):
    ok, spec = spec_request(
        "GET",
        "/api/v2/persons",
        "limit=500&include_fields=won_deals_count,last_incoming_mail_time&sort_by=update_time",
        {},
        b"",
    )
    spec.validate_request(ok)
    bad, spec = spec_request("GET", "/api/v2/persons", "include_fields=favourite_colour", {}, b"")
    with pytest.raises(Exception, match="include_fields"):
        spec.validate_request(bad)
    wrong_type, spec = spec_request(
        "POST",
        "/v1/personFields",
        "",
        {"Content-Type": "application/json"},
        b'{"name": "x", "field_type": "boolean"}',
    )
    with pytest.raises(Exception, match="field_type|body"):
        spec.validate_request(wrong_type)


def test_every_exchange_of_a_pull_and_push_was_checked(sandbox, make_connector):
    ids = list(sandbox.seed(synthetic_contacts(5)).values())
    connector = make_connector(oauth=True)
    connector.ensure_fields()
    list(connector.pull(None))
    health = connector.health()
    assert health.reachable and health.authorised and health.budget.limit == 30_000
    paths = {r.path for r in sandbox.requests.all()}
    assert {
        "/api/v2/persons",
        "/api/v2/deals",
        "/api/v2/activities",
        "/api/v2/stages",
        "/api/v2/organizations",
        "/api/v1/personFields",
        "/api/v1/users/me",
        "/oauth/token",
    } <= paths
    assert len(sandbox.exchanges) == len(sandbox.requests.all())
    assert ids


def test_the_connector_meets_the_contract_and_reports_health(sandbox, make_connector):
    connector = make_connector()
    assert isinstance(connector, Connector) and connector.crm == "pipedrive" and connector.account == "acme"
    healthy = connector.health()
    assert healthy.reachable and healthy.authorised and healthy.budget.remaining is not None
    sandbox.faults.add("expire_token", 1)
    refused = connector.health()
    assert refused.reachable and not refused.authorised and "API token" in refused.message
