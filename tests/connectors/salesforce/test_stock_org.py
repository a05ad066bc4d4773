"""A stock org (none of the optional custom fields, no access to CampaignMember) synced with the default
settings: each optional source found missing once through describe, switched off with one warning saying
what is lost and how to enable it, and the account runs. Describe asks each object once per run."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from structlog.testing import capture_logs

from sync.contract import FieldUpdate
from sync.synthetic import synthetic_contacts
from sync.testing.conformance import closing_factory

from connectors.salesforce import SalesforceConnector


@pytest.fixture
def make_default(stock, clock, virtual_sleep):
    with closing_factory(lambda **overrides: SalesforceConnector(
            stock.default_settings(**overrides), account="stock", clock=clock, sleep=virtual_sleep)) as make:
        yield make


def describes(requests):
    """Which describe each request asked, in order ("*" for Describe Global)."""
    asked = []
    for request in requests:
        if request.path.endswith("/v59.0/sobjects"):
            asked.append("*")
        elif match := re.search(r"/sobjects/(\w+)/describe$", request.path):
            asked.append(match.group(1))
    return asked


def test_a_stock_org_syncs_with_the_default_settings(stock, clock, make_default):
    ids = list(stock.seed(synthetic_contacts(30, now=clock.now())).values())
    connector = make_default()
    with capture_logs() as logs:
        assert not connector.ensure_fields().problems  # crmsync's own fields are created
        pages = list(connector.pull(None))
        clock.advance(timedelta(minutes=5))
        stock.set_field(ids[0], "budget", "approved")  # not in a stock org: the edit only moves the stamp
        again = list(connector.pull(pages[-1].cursor))
    pulled = {c.id: c for p in pages for c in p.contacts}
    assert set(pulled) == set(ids)
    assert [c.id for p in again for c in p.contacts] == [ids[0]]
    assert any(c.deals for c in pulled.values()) and any(c.activities for c in pulled.values())
    assert not any(c.events for c in pulled.values())  # campaign responses are out of reach
    assert all("need" not in c.fields for c in pulled.values())
    sources = [w.what for w in connector.setup_warnings]
    assert sources == ["CampaignMember", "Contact fields", "Lead fields", "Opportunity.Contract_Term_Months__c"]
    campaign = next(w for w in connector.setup_warnings if w.what == "CampaignMember")
    assert "campaign responses" in campaign.lost and "Read on Campaigns" in campaign.enable
    fields = next(w for w in connector.setup_warnings if w.what == "Lead fields")
    assert "Need__c" in fields.enable and "lead_fields" in fields.enable
    warned = [line for line in logs if line["event"] == "salesforce_source_disabled"]
    assert sorted(line["source"] for line in warned) == sources  # once each, over two pulls
    assert all(line["log_level"] == "debug" and line["account"] == "stock" for line in warned)  # the engine warns
    sent = [parse_qs(r.query)["q"][0] for r in stock.requests.all() if r.path.endswith(("/query/", "/queryAll/"))]
    assert not any("CampaignMember" in soql or "Need__c" in soql for soql in sent)
    results = connector.push([FieldUpdate(native, {"score": 40, "maturity": "warm"}) for native in ids])
    assert all(r.ok for r in results)


def test_each_object_is_described_once_per_run(sandbox, clock, make_connector):
    sandbox.seed(synthetic_contacts(20, now=clock.now()))
    make_connector().ensure_fields()  # the fields exist before the run
    before = len(sandbox.requests.all())
    connector = make_connector()
    connector.ensure_fields()
    setup = sum(connector.api_calls.values())
    pages = list(connector.pull(None))
    # the pull's pages account for every call it made, its describes included
    assert sum(p.api_calls for p in pages) == sum(connector.api_calls.values()) - setup
    assert pages[0].api_calls >= 2 + 1 + 1  # Task and Opportunity described, the Lead page, its related reads
    connector.push([FieldUpdate(c.id, {"score": 10}) for p in pages for c in p.contacts])
    clock.advance(timedelta(minutes=5))
    list(connector.pull(pages[-1].cursor))
    asked = Counter(describes(sandbox.requests.all()[before:]))
    assert asked == Counter({"*": 1, "Lead": 1, "Contact": 1, "Task": 1, "Opportunity": 1})
    assert connector.api_calls["setup"] == 5  # counted with the run's calls, as token and health calls are
    connector.health()
    assert connector.api_calls["auth"] == 1 and connector.api_calls["health"] == 1


def test_a_source_enabled_later_is_read_after_the_next_describe(stock, clock, make_default):
    ids = list(stock.seed(synthetic_contacts(20, now=clock.now())).values())
    connector = make_default(describe_every_s=600)
    pages = list(connector.pull(None))
    assert "CampaignMember" in [w.what for w in connector.setup_warnings]
    stock.allow("Campaign", "CampaignMember")  # the admin grants Read on Campaigns
    clock.advance(timedelta(minutes=11))
    for native in ids:
        stock.set_field(native, "email", f"{native}@example.com")
    with capture_logs() as logs:
        again = list(connector.pull(pages[-1].cursor))
    assert "CampaignMember" not in [w.what for w in connector.setup_warnings]
    assert any(c.events for p in again for c in p.contacts)
    assert [line["source"] for line in logs if line["event"] == "salesforce_source_enabled"] == ["CampaignMember"]


def test_an_org_whose_integration_user_cannot_read_leads_syncs_its_contacts(sandbox, clock, make_connector):
    ids = list(sandbox.seed(synthetic_contacts(20, now=clock.now())).values())
    sandbox.deny("Lead")
    connector = make_connector()
    assert not connector.ensure_fields().problems
    pulled = {c.id for p in connector.pull(None) for c in p.contacts}
    assert pulled == {native for native in ids if native.startswith("003")}
    assert "Lead" in [w.what for w in connector.setup_warnings]
