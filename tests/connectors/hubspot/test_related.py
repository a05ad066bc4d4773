"""What a contact's related records tell, read right: records keyed by (type, id), deals and engagements that
changed without touching the contact, LinkedIn / SMS / WhatsApp messages, meetings booked or merely logged."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sync.model import Activity, ActivityKind, Contact, Deal, DealStatus, EngagementEvent

OWNER = "1001"


def blank(n: int, **changes: Any) -> Contact:
    return Contact(crm="seed", id=str(n), email=f"p{n}@example.com", owner_id=OWNER, **changes)


def pull_all(connector: Any, cursor: str | None = None) -> tuple[dict[str, Contact], str]:
    pages = list(connector.pull(cursor))
    return {c.id: c for p in pages for c in p.contacts}, pages[-1].cursor


def test_a_call_and_a_meeting_with_the_same_id_stay_with_their_own_contacts(sandbox, make_connector, clock):
    first, second = sandbox.seed([blank(1), blank(2)]).values()
    at = clock.now() - timedelta(days=1)
    sandbox.log_activity(first, Activity(kind=ActivityKind.CALL, at=at, by=OWNER, direction="outbound",
                                         subject="Discovery"))
    sandbox.log_activity(second, Activity(kind=ActivityKind.MEETING, at=at, by=OWNER, done=True, subject="Demo"))
    call, meeting = sandbox.store.linked("contacts", first, "calls"), sandbox.store.linked("contacts", second,
                                                                                            "meetings")
    assert call == meeting  # HubSpot's ids are per object type: the same number names both
    for inline in (True, False):  # the full pull's inline associations, and the v4 association reads
        connector = make_connector(**({} if inline else {"list_page_size": 1}))
        sandbox.limits.inline_association_cap = 100 if inline else 0
        pulled, _ = pull_all(connector)
        assert [(a.kind, a.id) for a in pulled[first].activities] == [(ActivityKind.CALL, f"calls/{call[0]}")]
        assert [(a.kind, a.id) for a in pulled[second].activities] == [(ActivityKind.MEETING,
                                                                         f"meetings/{meeting[0]}")]


def test_a_deal_won_and_a_call_logged_reach_their_contacts_though_the_contacts_did_not_change(
        sandbox, make_connector, clock, sent_bodies):
    ids = list(sandbox.seed([blank(n) for n in range(6)]).values())
    connector = make_connector()
    _, cursor = pull_all(connector)
    clock.advance(timedelta(minutes=5))
    stamps = {n: sandbox.native(n)["lastmodifieddate"] for n in ids}
    sandbox.upsert_deal(ids[1], Deal(id="won", status=DealStatus.WON, amount=12_000.0))
    sandbox.log_activity(ids[2], Activity(kind=ActivityKind.CALL, at=clock.now(), by=OWNER, subject="Call"))
    sandbox.log_message(ids[3], network="whatsapp", at=clock.now(), by=OWNER)
    sandbox.set_field(ids[4], "city", "Lyon")
    sandbox.upsert_deal(ids[4], Deal(id="open", status=DealStatus.OPEN, amount=1_000.0))  # one contact, twice
    assert [sandbox.native(n)["lastmodifieddate"] for n in ids[:4]] == [stamps[n] for n in ids[:4]]
    clock.advance(timedelta(minutes=1))
    changed, cursor = pull_all(connector, cursor)
    assert sorted(changed) == sorted(ids[1:5])
    assert [d.status for d in changed[ids[1]].deals] == [DealStatus.WON]
    assert [a.subject for a in changed[ids[2]].activities] == ["Call"]
    assert [e.source for e in changed[ids[3]].events if e.type == "social_message"] == ["whatsapp"]
    assert [d.id for d in changed[ids[4]].deals] and changed[ids[4]].fields["city"] == "Lyon"
    read = [b["inputs"] for b in sent_bodies("/crm/v3/objects/contacts/batch/read")]
    assert sorted(i["id"] for inputs in read for i in inputs) == sorted(ids[1:4])  # ids[4] came with its search
    clock.advance(timedelta(minutes=5))
    sandbox.requests.clear()
    again, _ = pull_all(connector, cursor)
    assert again == {}  # nothing changed: nothing read, one search per object
    searched = sorted(r.path.split("/")[4] for r in sandbox.requests.all() if r.path.endswith("/search"))
    assert searched == sorted(["contacts", "deals", "calls", "emails", "meetings", "notes", "tasks",
                               "communications"])
    assert all(r.path.endswith("/search") or "archived" in r.query for r in sandbox.requests.all())


def test_a_cursor_from_before_related_streams_starts_them_where_contacts_were(sandbox, make_connector, clock):
    from connectors.hubspot.paging import CONTACTS, legacy_cursor
    from sync.toolkit.cursor import Cursor

    ids = list(sandbox.seed([blank(n) for n in range(3)]).values())
    connector = make_connector()
    _, cursor = pull_all(connector)
    old = Cursor.decode(cursor, crm="hubspot", legacy=legacy_cursor)
    old.marks = {CONTACTS: old.marks[CONTACTS]}  # what the previous version stored
    clock.advance(timedelta(minutes=5))
    sandbox.upsert_deal(ids[0], Deal(id="won", status=DealStatus.WON, amount=5.0))
    clock.advance(timedelta(minutes=1))
    changed, _ = pull_all(connector, old.encode())
    assert list(changed) == [ids[0]]


def test_linkedin_messages_are_touches_when_sales_logged_them_and_always_social_events(sandbox, make_connector, clock):
    native = sandbox.seed([blank(1)])["1"]
    at = clock.now() - timedelta(hours=3)
    sandbox.log_message(native, network="linkedin", at=at, by=OWNER)
    sandbox.log_message(native, network="sms", at=at + timedelta(hours=1), by=None)  # no sales user logged it
    sandbox.record_event(native, EngagementEvent(type="social_message", at=at + timedelta(hours=2),
                                                 source="whatsapp"))
    contact = pull_all(make_connector())[0][native]
    (touch,) = contact.activities
    assert (touch.kind, touch.by, touch.done, touch.subject, touch.direction) == (
        ActivityKind.EMAIL, OWNER, True, "LinkedIn message", None)
    assert [(e.type, e.source) for e in contact.events] == [("social_message", "linkedin"), ("social_message", "sms"),
                                                            ("social_message", "whatsapp")]
    assert make_connector(message_kind="task").settings.message_kind is ActivityKind.TASK


def test_only_a_meeting_the_contact_booked_is_a_booking_and_outcomes_are_read(sandbox, make_connector, clock):
    native = sandbox.seed([blank(1)])["1"]
    booked_at = clock.now() - timedelta(days=3)
    held = clock.now() - timedelta(days=1)
    sandbox.log_activity(native, Activity(kind=ActivityKind.MEETING, at=held, by=OWNER, done=True,
                                          subject="Logged by sales"))
    sandbox.log_activity(native, Activity(kind=ActivityKind.MEETING, at=held, by=OWNER, done=False, outcome="no_show",
                                          accepted_at=booked_at, subject="Booked, missed"))
    sandbox.log_activity(native, Activity(kind=ActivityKind.MEETING, at=clock.now() + timedelta(days=2), by=OWNER,
                                          done=False, outcome="canceled", accepted_at=booked_at + timedelta(hours=1),
                                          subject="Booked, canceled"))
    contact = pull_all(make_connector())[0][native]
    meetings = {a.subject: a for a in contact.activities}
    assert (meetings["Logged by sales"].outcome, meetings["Logged by sales"].accepted_at) == ("completed", None)
    assert (meetings["Booked, missed"].outcome, meetings["Booked, missed"].accepted_at) == ("no_show", booked_at.replace(
        microsecond=booked_at.microsecond // 1000 * 1000))
    assert meetings["Booked, canceled"].outcome == "canceled" and not meetings["Booked, canceled"].done
    booked = [e.at for e in contact.events if e.type == "meeting_booked"]
    assert len(booked) == 2 and min(booked) == meetings["Booked, missed"].accepted_at


def test_the_meetings_tool_summary_is_the_booking_when_no_booked_meeting_is_read(sandbox, make_connector, clock):
    native = sandbox.seed([blank(1)])["1"]
    at = datetime(2026, 10, 30, 10, 0, tzinfo=timezone.utc)
    sandbox.record_event(native, EngagementEvent(type="meeting_booked", at=at))
    contact = pull_all(make_connector())[0][native]
    assert [(e.type, e.at) for e in contact.events] == [("meeting_booked", at)]


def test_head_counts_are_ranges_unless_the_company_gives_the_exact_one(sandbox, make_connector):
    natives = sandbox.seed([blank(1, company="Nordazur", company_size=2_000), blank(2, company_size=30),
                            blank(3)])
    sandbox.edit(natives["3"], {"numemployees": "75"})  # typed through an import, not an option
    pulled = pull_all(make_connector())[0]
    assert [(pulled[natives[n]].company_size, pulled[natives[n]].company_size_range) for n in "123"] == [
        (None, (1000, None)), (None, (25, 50)), (75, None)]
    exact = pull_all(make_connector(profile_properties={
        **make_connector().settings.profile_properties, "company_size": "company.numberofemployees"}))[0]
    assert (exact[natives["1"]].company_size, exact[natives["1"]].company_size_range) == (2_000, None)
    assert exact[natives["2"]].company_size is None  # no company


def test_native_vocabulary_maps_onto_the_neutral_one_with_the_account_s_own_values(sandbox, make_connector):
    natives = sandbox.seed([blank(1, seniority="Executive"), blank(2, seniority="lead dev"),
                            blank(3, seniority="c_level")])
    settings = {"seniority_values": {"Lead Dev": "individual"}, "recurring_values": {"multi-year": True}}
    pulled = pull_all(make_connector(**settings))[0]
    assert [pulled[natives[n]].seniority for n in "123"] == ["c_level", "individual", "c_level"]
    sandbox.upsert_deal(natives["1"], Deal(id="d1", status=DealStatus.WON, amount=10.0))
    deal = sandbox.store.linked("contacts", natives["1"], "deals")[0]
    for raw, expected in (("multi-year", True), ("One-Time", False), ("0", False), ("1200", True), ("soon", None)):
        sandbox.store.touch("deals", deal, {"recurring_revenue_amount": raw})
        (found,) = pull_all(make_connector(**settings))[0][natives["1"]].deals
        assert found.recurring is expected, raw


def test_every_call_of_a_pull_is_counted_by_its_pages(sandbox, make_connector, clock):
    """Pages carry their share of calls; setup, the schema, the pipelines and the token are counted too."""
    ids = list(sandbox.seed([blank(n) for n in range(4)]).values())
    connector = make_connector(auth="oauth")
    connector.ensure_fields()
    assert sum(connector.api_calls.values()) == len(sandbox.requests.all())
    _, cursor = pull_all(connector)
    clock.advance(timedelta(minutes=5))
    sandbox.upsert_deal(ids[0], Deal(id="won", status=DealStatus.WON, amount=1.0))
    sandbox.log_activity(ids[1], Activity(kind=ActivityKind.NOTE, at=clock.now(), by=OWNER, subject="n"))
    clock.advance(timedelta(minutes=1))
    before, received = sum(connector.api_calls.values()), len(sandbox.requests.all())
    pages = list(connector.pull(cursor))
    assert sum(p.api_calls for p in pages) == sum(connector.api_calls.values()) - before
    assert sum(connector.api_calls.values()) - before == len(sandbox.requests.all()) - received
    contact = next(c for p in pages for c in p.contacts if c.id == ids[0])
    assert contact.crm_values == {"lifecyclestage": "lead", "hs_lead_status": None}  # what a push decides from
    connector.health()
    assert sum(connector.api_calls.values()) == len(sandbox.requests.all())
