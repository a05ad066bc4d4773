"""Hostile records mixed into a page: each bad value fails its field (or, for an unreadable id, its record),
reported per record without the value, while the page's other records and the cursor go on; a record that
becomes readable is pulled normally. And a push whose records Salesforce partly refuses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from sync.contract import FieldUpdate
from sync.synthetic import synthetic_contacts

from connectors.salesforce.values import to18

HUGE = "Ada " * 25_000  # a 100 KB paste in a name


def contacts_of(pages):
    return [c for p in pages for c in p.contacts]


def problems_of(pages):
    return [problem for page in pages for problem in page.problems]


@pytest.fixture
def people(sandbox, clock):
    return [i for i in sandbox.seed(synthetic_contacts(40, seed=6, now=clock.now())).values() if i.startswith("00Q")]


def test_a_page_with_hostile_records_syncs_the_good_ones_and_reports_the_bad_fields(
    sandbox, clock, people, make_connector, pull_all
):
    size_text, size_range, bad_date, huge, nul, bad_id = people[:6]
    clock.advance(timedelta(minutes=1))
    sandbox.store_raw(size_text, "NumberOfEmployees", "lots")
    sandbox.store_raw(size_range, "NumberOfEmployees", "50-100")
    sandbox.store_raw(bad_date, "CreatedDate", "next Tuesday")
    sandbox.store_raw(huge, "LastName", HUGE)
    sandbox.store_raw(nul, "FirstName", "Ad\x00a\x00")
    sandbox.rekey(bad_id, "00Q8d0000BAD")  # 12 characters: no Salesforce id
    with capture_logs() as logs:
        pages, cursor = pull_all(make_connector())
    pulled = {c.id: c for c in contacts_of(pages)}
    assert set(people) - {bad_id} <= set(pulled) and bad_id not in pulled  # the page's others came through
    assert len(pulled) == len(sandbox.org.records["Lead"]) + len(sandbox.org.records["Contact"]) - 1
    assert pulled[size_text].company_size is None and pulled[size_range].company_size is None
    assert pulled[size_text].company_size_range is None and pulled[size_range].company_size_range == (50, 100)
    assert pulled[bad_date].created_at is None and pulled[bad_date].email  # the rest of the record is kept
    assert len(pulled[huge].last_name) <= 2_000 and pulled[nul].first_name == "Ada"
    reported = {(p.record_id, p.field) for p in problems_of(pages)}
    assert {(size_text, "NumberOfEmployees"), (bad_date, "CreatedDate"), (huge, "LastName"),
            ("00Q8d0000BAD", "Id")} <= reported
    assert (size_range, "NumberOfEmployees") not in reported  # a range is a head count, not an error
    assert all("lots" not in p.reason and "Tuesday" not in p.reason and "Ada" not in p.reason
               for p in problems_of(pages))
    assert not any("lots" in str(line) or "Tuesday" in str(line) for line in logs)
    # the cursor moved past all of them: nothing is read again
    clock.advance(timedelta(minutes=5))
    again, _ = pull_all(make_connector(), cursor)
    assert contacts_of(again) == [] and problems_of(again) == []


def test_a_record_that_becomes_readable_is_pulled_normally(sandbox, clock, people, make_connector, pull_all):
    broken = people[0]
    sandbox.store_raw(broken, "CreatedDate", "31/12/2025")
    connector = make_connector()
    pages, cursor = pull_all(connector)
    assert (broken, "CreatedDate") in {(p.record_id, p.field) for p in problems_of(pages)}
    clock.advance(timedelta(minutes=5))
    sandbox.store_raw(broken, "CreatedDate", sandbox.org.now() - timedelta(days=3))  # fixed by an admin
    pages, _ = pull_all(connector, cursor)
    [fixed] = contacts_of(pages)
    assert fixed.id == broken and fixed.created_at is not None and problems_of(pages) == []


def test_a_fifteen_character_id_is_read_as_its_eighteen_character_form(
    sandbox, people, make_connector, pull_all
):
    sandbox.rekey(people[0], people[0][:15])
    pulled = {c.id for c in contacts_of(pull_all(make_connector())[0])}
    assert people[0] in pulled and to18(people[0][:15]) == people[0]


def test_a_related_record_with_a_bad_value_fails_that_value_only(sandbox, clock, people, make_connector, pull_all):
    task = next(t for t in sandbox.org.records["Task"].values() if t["WhoId"] == people[0])
    task["ActivityDate"] = "tomorrow-ish"
    task["IsClosed"] = False
    pages, _ = pull_all(make_connector())
    lead = next(c for c in contacts_of(pages) if c.id == people[0])
    assert any(a.id == task["Id"] for a in lead.activities)
    assert (task["Id"], "ActivityDate") in {(p.record_id, p.field) for p in problems_of(pages)}


def test_a_push_reports_each_refused_record_with_its_code_and_fields_and_lands_the_others(
    sandbox, connector, people
):
    assert not connector.ensure_fields().problems
    refused, too_long = people[0], people[1]
    sandbox.fail_next_update(refused, "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                             "Lead Ada Lovelace (ada@example.com) cannot be scored")
    reason = "y" * 300  # longer than crmsync's reason field: cut by crmsync, so make Salesforce refuse a value
    sandbox.org.custom_meta[("Lead", "Crmsync_Stage__c")]["length"] = "3"
    results = connector.push([FieldUpdate(refused, {"score": 10}),
                              FieldUpdate(too_long, {"stage": "prospect"}),
                              *(FieldUpdate(other, {"score": 20, "reason": reason}) for other in people[2:6])])
    failed = {r.contact_id: r.error for r in results if not r.ok}
    assert set(failed) == {refused, too_long}
    assert failed[refused].code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert failed[too_long].code == "STRING_TOO_LONG" and failed[too_long].fields == ("Crmsync_Stage__c",)
    assert all("ada@example.com" not in e.message and "prospect" not in e.message for e in failed.values())
    assert all(sandbox.written(other)["score"] == 20 for other in people[2:6])
