"""Hostile records mixed into a page of good ones: what people type by hand and what another implementation of
the API leaves behind. The good records sync, the unreadable field is unknown (or the record skipped, where
the field is its id), each problem is reported per record without the value, the cursor moves on, and a
record that becomes readable is pulled normally. The same for deals, activities and organizations."""

from __future__ import annotations

from datetime import timedelta

import hypothesis.strategies as st
import responses
from hypothesis import given, settings
from pydantic import SecretStr

from connectors.pipedrive import PipedriveConnector, PipedriveSettings
from connectors.pipedrive.fields import FieldCatalog
from connectors.pipedrive.mapping import DealContext, to_activity, to_deal
from connectors.pipedrive.paging import Window
from connectors.pipedrive.persons import to_contact
from sync.model import PipelineStage
from sync.clock import FrozenClock
from sync.contract import CanonicalField, FieldUpdate
from sync.synthetic import synthetic_contacts

BIG_NAME = "Ada" + "x" * 100_000
SETTINGS = PipedriveSettings(api_token=SecretStr("token-123456"))
NUL_NAME = "Lo\x00ve\x00lace"


def pull_all(connector, cursor=None):
    pages = list(connector.pull(cursor))
    return pages, {c.id: c for p in pages for c in p.contacts}, [x for p in pages for x in p.problems]


def hostile_account(sandbox):
    """Eight persons; six of them carry a hostile value, the first two and the last are good."""
    sandbox.store.add_field("Company size", "varchar")  # a company that lets people type it
    contacts = list(synthetic_contacts(8))
    ids = [sandbox.seed([contact])[contact.id] for contact in contacts]
    sandbox.set_field(ids[2], "company_size", "50-100")
    sandbox.set_field(ids[3], "company_size", "lots")
    sandbox.serve("person", ids[4], id="p-17")
    sandbox.serve("person", ids[5], first_name=BIG_NAME, last_name=NUL_NAME)
    sandbox.serve("person", ids[6], add_time="03/11/2026 10:00", last_incoming_mail_time="next Tuesday")
    return contacts, ids


def test_hostile_persons_are_isolated_and_the_cursor_moves_on(hostile_sandbox, make_connector, clock):
    contacts, ids = hostile_account(hostile_sandbox)
    clock.advance(timedelta(minutes=1))
    connector = make_connector(target=hostile_sandbox)
    pages, pulled, problems = pull_all(connector)
    assert set(pulled) == set(ids) - {ids[4]}  # only the person without a readable id is skipped
    assert pulled[ids[0]].company_size == contacts[0].company_size and pulled[ids[0]].company_size_range is None
    assert pulled[ids[2]].company_size is None and pulled[ids[2]].company_size_range == (50, 100)
    assert pulled[ids[3]].company_size is None and pulled[ids[3]].company_size_range is None
    assert pulled[ids[5]].first_name.startswith("Ada") and len(pulled[ids[5]].first_name) == 2_000
    assert pulled[ids[5]].last_name == "Lovelace"
    assert pulled[ids[6]].created_at is None and pulled[ids[6]].email == contacts[6].email
    assert all(event.type != "email_reply" or event.at.year == 2026 for event in pulled[ids[6]].events)
    reported = {(p.record_id, p.field) for p in problems}
    assert {(ids[3], "Company size"), ("p-17", "id"), (ids[5], "first_name"), (ids[6], "add_time"),
            (ids[6], "last_incoming_mail_time")} <= reported
    assert (ids[2], "Company size") not in reported  # a range is a reading, not a problem
    assert all(p.object_type == "person" for p in problems)
    shown = " ".join(f"{p.record_id} {p.field} {p.reason}" for p in problems)
    assert "lots" not in shown and "Tuesday" not in shown and "xxxx" not in shown and "\x00" not in shown
    assert Window.decode(pages[-1].cursor, overlap=timedelta(seconds=60)).phase is None
    clock.advance(timedelta(minutes=5))
    _, again, repeated = pull_all(connector, pages[-1].cursor)
    assert again == {} and repeated == []  # the cursor moved past them all
    hostile_sandbox.store.served.clear()  # someone fixes the record in Pipedrive
    hostile_sandbox.set_field(ids[4], "need", "fixed")
    clock.advance(timedelta(minutes=1))
    _, fixed, _ = pull_all(connector, pages[-1].cursor)
    assert list(fixed) == [ids[4]] and fixed[ids[4]].fields["need"] == "fixed"


def test_an_unreadable_update_time_never_moves_the_cursor(hostile_sandbox, make_connector, clock):
    ids = list(hostile_sandbox.seed(synthetic_contacts(6)).values())
    hostile_sandbox.serve("person", ids[2], update_time="last week")
    connector = make_connector(target=hostile_sandbox, page_size=2)
    pages, pulled, problems = pull_all(connector)
    assert set(pulled) == set(ids) and pulled[ids[2]].updated_at is None
    assert [(p.record_id, p.field) for p in problems] == [(ids[2], "update_time")]
    assert all("last week" not in page.cursor for page in pages)


def test_hostile_deals_activities_and_organizations_fail_only_themselves(hostile_sandbox, make_connector):
    contacts = [c for c in synthetic_contacts(80) if len(c.deals) >= 2 and len(c.activities) >= 2 and c.company][:2]
    first, second = (hostile_sandbox.seed([c])[c.id] for c in contacts)
    bad_deal, odd_deal = (hostile_sandbox.deal_id(deal.id) for deal in contacts[0].deals[:2])
    hostile_sandbox.serve("deal", bad_deal, value="lots", expected_close_date="soon", stage_id="x")
    hostile_sandbox.serve("deal", odd_deal, id={"id": 3})
    activity = next(row["id"] for row in hostile_sandbox.store.activities.values() if row["person_id"] == int(first))
    hostile_sandbox.serve("activity", activity, due_date="tomorrow", marked_as_done_time="never", done="maybe",
                          subject="Call\x00" + "y" * 5_000)
    org = hostile_sandbox.store.persons[int(second)]["org_id"]
    hostile_sandbox.serve("organization", org, name="Acme\x00 Ltd")
    pages, pulled, problems = pull_all(make_connector(target=hostile_sandbox))
    assert set(pulled) == {first, second}
    deals = {deal.id: deal for deal in pulled[first].deals}
    assert str(odd_deal) not in deals and deals[str(bad_deal)].amount is None
    assert deals[str(bad_deal)].close_date is None and deals[str(bad_deal)].stage is None
    assert len(pulled[first].deals) == len(contacts[0].deals) - 1
    assert len(pulled[first].activities) == len(contacts[0].activities)
    assert len(pulled[second].deals) == len(contacts[1].deals) and pulled[second].company == "Acme Ltd"
    reported = {(p.object_type, p.record_id, p.field) for p in problems}
    assert {("deal", str(bad_deal), "value"), ("deal", str(bad_deal), "expected_close_date"),
            ("deal", str(bad_deal), "stage_id"), ("activity", str(activity), "due_date"),
            ("activity", str(activity), "done"), ("activity", str(activity), "subject")} <= reported
    assert any(p.object_type == "deal" and p.field == "id" for p in problems)
    assert pages[0].problems  # the window's deal and activity problems come with its first page


def _exchange_connector() -> PipedriveConnector:
    spec = PipedriveSettings.model_fields["write_fields"].default_factory()[CanonicalField.SCORE]
    settings = PipedriveSettings(api_token=SecretStr("0f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6"),
                                 write_fields={CanonicalField.SCORE: spec}, override_stage_field=None,
                                 maturity_labels=None)
    return PipedriveConnector(settings, clock=FrozenClock(clock_start()), sleep=lambda seconds: None)


def clock_start():
    from datetime import datetime, timezone
    return datetime(2025, 1, 3, 10, 0, tzinfo=timezone.utc)


def _refusal(mock, person, status, error):
    mock.patch(f"https://api.pipedrive.com/api/v2/persons/{person}", status=status,
               json={"success": False, "error": error, "error_info": "Please check developers.pipedrive.com",
                     "data": None, "additional_data": None})


def test_a_rejected_push_keeps_pipedrives_words_unless_they_may_quote_the_person():
    key = "9dc80c50d78a15643bfc4ca79d76156a73a1ca0e"
    connector = _exchange_connector()
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.get("https://api.pipedrive.com/v1/personFields", json={
            "success": True, "data": [{"id": 2, "key": key, "name": "crmsync score", "field_type": "double",
                                       "options": None}],
            "additional_data": {"pagination": {"start": 0, "limit": 500, "more_items_in_collection": False}}})
        _refusal(mock, 1, 400, f"Value of {key} must be a number")
        _refusal(mock, 2, 400, "Person ada@lovelace.io cannot be updated")
        _refusal(mock, 3, 422, "Value 87.5 is out of range")
        mock.patch("https://api.pipedrive.com/api/v2/persons/4", json={"success": True, "data": {"id": 4}})
        _refusal(mock, 5, 410, "Person is deleted")
        results = connector.push([FieldUpdate(str(person), {"score": 87.5}) for person in range(1, 6)])
    assert [r.ok for r in results] == [False, False, False, True, False]
    assert results[0].error.message.endswith("Value of 'crmsync score' must be a number")
    assert results[0].error.code == "rejected" and results[0].error.fields == ("score",)
    assert "ada@" not in results[1].error.message and "HTTP 400" in results[1].error.message
    assert "87.5" not in results[2].error.message and "score" in results[2].error.message
    assert results[4].gone and results[4].error.code == "gone" and not results[0].gone
    connector.close()


# -- whatever a record holds, its mapping never fails the page ------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6)
PERSON = {"id": 7, "first_name": "Ada", "last_name": "L", "emails": [{"value": "a@x.io", "primary": True}],
          "phones": [], "owner_id": 3, "org_id": 2, "add_time": "2025-01-01T00:00:00Z",
          "update_time": "2025-01-02T00:00:00Z", "label_ids": [1], "job_title": "CTO", "custom_fields": {},
          "won_deals_count": 1, "last_incoming_mail_time": "2025-01-02T00:00:00Z"}
DEAL = {"id": 9, "status": "won", "stage_id": 3, "value": 100, "currency": "EUR", "mrr": 10, "person_id": 7,
        "expected_close_date": "2026-01-31", "add_time": "2025-01-01T00:00:00Z"}
ACTIVITY = {"id": 4, "type": "call", "done": True, "marked_as_done_time": "2026-11-04T08:00:00Z",
            "due_date": "2026-11-03", "due_time": "15:00", "owner_id": 1, "participants": [{"person_id": 7}]}


def _catalog() -> FieldCatalog:
    size = {"key": "a" * 40, "name": "Company size", "field_type": "varchar"}
    level = {"key": "b" * 40, "name": "Seniority", "field_type": "enum", "options": [{"id": 1, "label": "VP"}]}
    webinar = {"key": "c" * 40, "name": "Last webinar", "field_type": "date"}
    return FieldCatalog.from_api([size, level, webinar])


def _leaked(problems, replaced: dict) -> list[str]:
    texts = [value for key, value in replaced.items() if key != "id" and isinstance(value, str) and len(value) >= 6]
    shown = " ".join(f"{p.field} {p.reason}" for p in problems)
    return [text for text in texts if text in shown]


@settings(max_examples=150, deadline=None)
@given(person=st.dictionaries(st.sampled_from(sorted(PERSON)), json_values, max_size=5),
       custom=st.dictionaries(st.sampled_from(["a" * 40, "b" * 40, "c" * 40]), json_values, max_size=3),
       deal=st.dictionaries(st.sampled_from(sorted(DEAL)), json_values, max_size=4),
       activity=st.dictionaries(st.sampled_from(sorted(ACTIVITY)), json_values, max_size=4))
def test_no_value_fails_more_than_its_own_field_or_record(person, custom, deal, activity):
    problems: list = []
    row = {**PERSON, **person}
    row.setdefault("custom_fields", {})
    if isinstance(row["custom_fields"], dict):
        row["custom_fields"] = {**row["custom_fields"], **custom}
    contact = to_contact(row, catalog=_catalog(), settings=SETTINGS, account="acme", deals=(), activities=(),
                         org_names={2: "Acme"}, problems=problems)
    assert contact is None or contact.id == str(row["id"])
    mapped_deal = to_deal({**DEAL, **deal}, DealContext({3: PipelineStage.DISCOVERY}, {}), problems)
    mapped_activity = to_activity({**ACTIVITY, **activity}, SETTINGS, problems)
    assert mapped_deal is None or mapped_deal.id == str(DEAL.get("id") if "id" not in deal else deal["id"])
    assert mapped_activity is None or mapped_activity.at.tzinfo is not None
    assert all(p.reason and "unreadable record" not in p.reason for p in problems)  # read, never crashed
    assert _leaked(problems, {**person, **custom, **deal, **activity}) == []
