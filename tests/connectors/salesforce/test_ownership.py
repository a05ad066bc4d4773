"""A Lead's Rating and Status are edited by sales: crmsync writes them only as their ownership policy allows
(default `unless_changed_by_person`), reading the current values it does not know with one query per batch."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from sync.contract import FieldUpdate
from sync.synthetic import synthetic_contacts


@pytest.fixture
def leads(sandbox, clock, connector):
    assert not connector.ensure_fields().problems
    ids = sandbox.seed(synthetic_contacts(80, seed=3, now=clock.now())).values()
    return [i for i in ids if i.startswith("00Q")]


def reads(sandbox):
    """The SOQL reads of Leads' current values a push sent."""
    return [parse_qs(r.query)["q"][0] for r in sandbox.requests.all()
            if r.path.endswith("/query/") and parse_qs(r.query)["q"][0].startswith("SELECT Id, Rating")]


def test_a_rating_set_by_sales_is_kept_on_the_first_sync(sandbox, connector, leads):
    hot = leads[0]
    sandbox.org.update("Lead", hot, {"Rating": "Hot"})  # sales knows this lead is hot
    [result] = connector.push([FieldUpdate(hot, {"maturity": "cold", "score": 12})])  # crmsync scored it cold
    assert result.ok and result.error is None and result.kept == ("maturity",)  # Rating kept, and said so
    stored = sandbox.record(hot)
    assert stored["Rating"] == "Hot"  # the person's value stays
    assert stored["Crmsync_Maturity__c"] == "cold" and stored["Crmsync_Score__c"] == 12  # crmsync's own fields
    assert result.written == {"maturity": "cold", "score": 12}  # written to crmsync's own maturity field
    assert len(reads(sandbox)) == 1


def test_a_rating_is_written_where_empty_or_where_crmsync_wrote_it_last(sandbox, connector, leads):
    empty, ours = leads[0], leads[1]
    sandbox.org.update("Lead", ours, {"Rating": "Cold"})
    results = connector.push([
        FieldUpdate(empty, {"maturity": "warm"}),
        FieldUpdate(ours, {"maturity": "hot"}, previous={"maturity": "cold"}),  # crmsync wrote Cold last
    ])
    assert all(r.ok for r in results)
    assert sandbox.record(empty)["Rating"] == "Warm" and sandbox.record(ours)["Rating"] == "Hot"


def test_a_value_the_engine_knows_costs_no_read(sandbox, connector, leads):
    results = connector.push([FieldUpdate(leads[0], {"maturity": "hot"}, crm_values={"Rating": None}),
                              FieldUpdate(leads[1], {"maturity": "hot"}, crm_values={"Rating": "Warm"})])
    assert all(r.ok for r in results) and reads(sandbox) == [] and connector.api_calls["push_read"] == 0
    assert sandbox.record(leads[0])["Rating"] == "Hot" and sandbox.record(leads[1])["Rating"] is None


def test_policies_always_and_never(sandbox, make_connector, leads):
    for lead in leads[:2]:
        sandbox.org.update("Lead", lead, {"Rating": "Hot"})
    always = make_connector(ownership={"Rating": "always"})
    assert always.push([FieldUpdate(leads[0], {"maturity": "cold"})])[0].ok
    never = make_connector(ownership={"Rating": "never"}, field_map={"maturity": None})
    result = never.push([FieldUpdate(leads[1], {"maturity": "cold"})])[0]
    assert result.ok and result.written == {}  # nothing of it could be written: no call at all
    assert sandbox.record(leads[0])["Rating"] == "Cold" and sandbox.record(leads[1])["Rating"] == "Hot"
    assert reads(sandbox) == [] and never.api_calls["push"] == 0


def test_status_follows_its_own_policy(sandbox, make_connector, leads):
    connector = make_connector(lead_status_by_stage={"prospect": "Working - Contacted"})
    sandbox.org.update("Lead", leads[0], {"Status": "Closed - Not Converted"})  # sales closed it
    results = connector.push([FieldUpdate(leads[0], {"stage": "prospect"}),
                              FieldUpdate(leads[1], {"stage": "prospect"},
                                          previous={"stage": "lead"})])  # never written: Open stays theirs
    assert all(r.ok for r in results)
    assert sandbox.record(leads[0])["Status"] == "Closed - Not Converted"
    assert sandbox.record(leads[1])["Status"] == "Open - Not Contacted"
    assert sandbox.record(leads[0])["Crmsync_Stage__c"] == "prospect"


def test_one_read_per_batch_of_200(sandbox, clock, connector, leads):
    more = [i for i in sandbox.seed(synthetic_contacts(1200, seed=5, now=clock.now())).values()
            if i.startswith("00Q")]
    everyone = (leads + more)[:300]
    assert len(everyone) == 300
    results = connector.push([FieldUpdate(lead, {"maturity": "warm"}) for lead in everyone])
    assert all(r.ok for r in results)
    assert len(reads(sandbox)) == 2 and connector.api_calls["push"] == 2
