"""Pulling through the real SDK against the sandbox: full and incremental pulls, cursors, ties, the search
cap, deletions and merges, and a seeded round trip compared field by field."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from connectors.hubspot.paging import CONTACTS, legacy_cursor
from sync.toolkit.cursor import Cursor
from connectors.sandbox.hubspot_seed import CONVERSION_NAMES, SOURCE_CATEGORY
from sync.model import Activity, ActivityKind, Contact, Deal, DealStatus, EngagementEvent
from sync.synthetic import synthetic_contacts


def decoded(cursor: str) -> Cursor:
    return Cursor.decode(cursor, crm="hubspot", legacy=legacy_cursor)


def pull_all(connector: Any, cursor: str | None) -> tuple[list[Contact], str, list[Any]]:
    pages = list(connector.pull(cursor))
    return [c for p in pages for c in p.contacts], pages[-1].cursor, pages


def ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def test_full_pull_lists_every_contact_once_with_deals_and_activities(sandbox, make_connector):
    ids = sandbox.seed(synthetic_contacts(120))
    connector = make_connector(pull_chunk_size=50, list_page_size=25)
    contacts, cursor, pages = pull_all(connector, None)
    assert sorted(c.id for c in contacts) == sorted(ids.values())
    assert [len(p.contacts) for p in pages] == [50, 50, 20, 0]  # chunks, then the archived sweep
    assert any(c.deals for c in contacts) and any(c.activities for c in contacts)
    assert sandbox.requests.count("GET", "/crm/v3/objects/contacts") == 5 + 1  # 25 a page, one sweep
    assert sandbox.requests.count("POST", "/crm/v4/associations") == 0  # inline associations suffice
    assert "list_after" not in decoded(cursor).position


def test_seeded_round_trip_matches_everything_hubspot_can_represent(sandbox, make_connector):
    """What HubSpot cannot represent, so the comparison projects the originals first:
    - events are summaries: first/last visit, first/recent conversion (named by its form), first/last
      email open, last sales-email reply and last meeting booked; counts go to `fields`;
      incoming emails add `email_reply` and meetings `meeting_booked` events; an event's source survives
      only as the conversion's name;
    - `source` becomes HubSpot's source category, `company_size` the `numemployees` range it falls in (a
      range, no exact head count);
    - timestamps keep milliseconds; empty answers are unset (None);
    - activities: notes are always done, only calls and emails have a direction; ids are HubSpot's own;
    - deals: ids are HubSpot's own, `crm_stage` is HubSpot's stage id, the close date is a date."""
    originals = list(synthetic_contacts(40, seed=11))
    ids = sandbox.seed(originals)
    pulled = {c.id: c for c in pull_all(make_connector(), None)[0]}
    for original in originals:
        contact = pulled[ids[original.id]]
        assert (contact.email, contact.owner_id, contact.first_name, contact.last_name, contact.company,
                contact.industry, contact.job_title, contact.seniority, contact.country) == (
            original.email, original.owner_id, original.first_name, original.last_name, original.company,
            original.industry, original.job_title, original.seniority, original.country)
        assert contact.source == SOURCE_CATEGORY[original.source].lower()
        assert (contact.company_size, contact.company_size_range) == (None, _size_range(original.company_size))
        assert contact.created_at == ms(original.created_at) and contact.updated_at == ms(original.updated_at)
        assert {k: contact.fields[k] for k in original.fields} == {
            k: (None if v == "" else v) for k, v in original.fields.items()}
        assert [_activity(a) for a in contact.activities] == sorted(_expected_activity(a) for a in original.activities)
        assert sorted(_deal(d) for d in contact.deals) == sorted(_expected_deal(d) for d in original.deals)
        assert [(e.type, e.at) for e in contact.events] == _expected_events(original)


def _size_range(size: int) -> tuple[int, int | None]:
    ranges = ((1, 5), (5, 25), (25, 50), (50, 100), (100, 500), (500, 1000), (1000, None))
    return max(found for found in ranges if size >= found[0])


def _activity(a: Activity) -> tuple[Any, ...]:
    return (a.at, a.kind, a.by, a.direction, a.done, a.automated, a.subject)


def _expected_activity(a: Activity) -> tuple[Any, ...]:
    direction = a.direction if a.kind in (ActivityKind.CALL, ActivityKind.EMAIL) else None
    done = True if a.kind is ActivityKind.NOTE else a.done
    return (ms(a.at), a.kind, a.by, direction, done, a.automated, a.subject)


def _deal(d: Deal) -> tuple[Any, ...]:
    return (d.status, d.stage, d.amount, d.currency, d.close_date, d.recurring, d.contract_months, d.created_at,
            d.updated_at)


def _expected_deal(d: Deal) -> tuple[Any, ...]:
    return (d.status, d.stage, d.amount, d.currency, d.close_date, d.recurring, d.contract_months,
            ms(d.created_at), ms(d.updated_at))


def _expected_events(c: Contact) -> list[tuple[str, datetime]]:
    def first_last(kind: str) -> set[tuple[str, datetime]]:
        times = [ms(e.at) for e in c.events if e.type == kind]
        return {(kind, min(times)), (kind, max(times))} if times else set()

    def last(kind: str) -> set[tuple[str, datetime]]:
        times = [ms(e.at) for e in c.events if e.type == kind]
        return {(kind, max(times))} if times else set()

    conversions = sorted((ms(e.at), e.type) for e in c.events if e.type in CONVERSION_NAMES)
    expected = first_last("visit") | first_last("email_open") | last("email_reply") | last("meeting_booked")
    if conversions:
        expected |= {(conversions[0][1], conversions[0][0]), (conversions[-1][1], conversions[-1][0])}
    for a in c.activities:
        if a.kind is ActivityKind.EMAIL and a.direction == "inbound":
            expected.add(("email_reply", ms(a.at)))
    return sorted(expected, key=lambda item: (item[1], item[0]))


def test_incremental_pull_returns_only_what_changed_and_resumes(sandbox, make_connector, clock):
    ids = sandbox.seed(synthetic_contacts(30))
    connector = make_connector()
    _, cursor, _ = pull_all(connector, None)
    clock.advance(timedelta(minutes=5))
    sandbox.set_field(ids["100003"], "need", "compliance audit")
    sandbox.log_activity(ids["100007"], Activity(kind=ActivityKind.CALL, at=clock.now(), by="1001",
                                                 direction="outbound", id="new-call", subject="Discovery"))
    clock.advance(timedelta(minutes=5))
    changed, cursor, _ = pull_all(connector, cursor)
    assert sorted(c.id for c in changed) == sorted([ids["100003"], ids["100007"]])
    by_id = {c.id: c for c in changed}
    assert by_id[ids["100003"]].fields["need"] == "compliance audit"
    assert any(a.subject == "Discovery" for a in by_id[ids["100007"]].activities)
    clock.advance(timedelta(minutes=5))
    searches = sandbox.requests.count("POST", "/crm/v3/objects/contacts/search")
    again, _, _ = pull_all(connector, cursor)
    assert again == [] and sandbox.requests.count("POST", "/crm/v3/objects/contacts/search") == searches + 1


def test_overlap_window_is_reread_but_not_emitted_twice(sandbox, make_connector, clock):
    ids = sandbox.seed(synthetic_contacts(5))
    connector = make_connector(search_overlap_s=60)
    _, cursor, _ = pull_all(connector, None)
    clock.advance(timedelta(minutes=5))
    sandbox.set_field(ids["100001"], "city", "Lyon")
    clock.advance(timedelta(seconds=20))  # the change is inside the next pull's overlap window
    first, cursor, _ = pull_all(connector, cursor)
    clock.advance(timedelta(seconds=20))
    second, cursor, _ = pull_all(connector, cursor)
    assert [c.id for c in first] == [ids["100001"]] and second == []
    assert ids["100001"] in decoded(cursor).mark(CONTACTS).seen  # re-read, recognised, skipped


def test_ties_at_the_page_boundary_are_not_lost(sandbox, make_connector, clock, sent_bodies):
    ids = sandbox.seed(synthetic_contacts(60))
    connector = make_connector(search_page_size=10)
    _, cursor, _ = pull_all(connector, None)
    clock.advance(timedelta(minutes=5))
    for neutral in list(ids)[:35]:  # a bulk edit: 35 contacts stamped in the same millisecond
        sandbox.set_field(ids[neutral], "budget", "approved")
    clock.advance(timedelta(minutes=1))
    changed, _, _ = pull_all(connector, cursor)
    assert sorted(c.id for c in changed) == sorted(ids[n] for n in list(ids)[:35])
    tie_walks = [b for b in sent_bodies("/contacts/search") if b["sorts"] == ["hs_object_id"]]
    assert tie_walks, "a page full of one timestamp must switch to the hs_object_id tie walk"


def test_more_changes_than_the_search_cap_are_all_pulled(sandbox, make_connector, clock):
    sandbox.limits.search_result_cap = 40  # HubSpot's is 10,000: shrunk so the test stays small
    ids = sandbox.seed(synthetic_contacts(150))
    connector = make_connector(search_page_size=20)
    _, cursor, _ = pull_all(connector, None)
    for index, native in enumerate(ids.values()):
        clock.advance(timedelta(seconds=1))
        sandbox.set_field(native, "timing", f"in {index} days")
        if index % 30 == 0:
            sandbox.set_field(ids["100000"], "timing", "moving target")  # re-edited during the window
    clock.advance(timedelta(minutes=1))
    changed, _, _ = pull_all(connector, cursor)
    assert sorted({c.id for c in changed}) == sorted(ids.values())
    assert len(changed) == len(ids)


def test_a_cursor_taken_mid_pull_resumes_after_its_page(sandbox, make_connector, clock):
    ids = sandbox.seed(synthetic_contacts(50))
    connector = make_connector(search_page_size=10, pull_chunk_size=10)
    _, cursor, _ = pull_all(connector, None)
    clock.advance(timedelta(minutes=5))
    for native in ids.values():
        clock.advance(timedelta(seconds=1))
        sandbox.set_field(native, "city", "Berlin")
    clock.advance(timedelta(minutes=1))
    pages = iter(connector.pull(cursor))
    first = next(pages)  # the daemon persisted this page's cursor, then crashed
    rest, _, _ = pull_all(make_connector(search_page_size=10, pull_chunk_size=10), first.cursor)
    assert len(first.contacts) == 10
    assert sorted(c.id for c in first.contacts + rest) == sorted(ids.values())


def test_an_interrupted_full_listing_resumes_from_its_token(sandbox, make_connector):
    ids = sandbox.seed(synthetic_contacts(230))
    connector = make_connector(pull_chunk_size=100)
    first = next(iter(connector.pull(None)))
    assert "list_after" in decoded(first.cursor).position
    rest, cursor, _ = pull_all(make_connector(pull_chunk_size=100), first.cursor)
    assert sorted(c.id for c in first.contacts + rest) == sorted(ids.values())
    assert "list_after" not in decoded(cursor).position


def test_deletions_and_merges_are_reported(sandbox, make_connector, clock):
    ids = sandbox.seed(synthetic_contacts(10))
    connector = make_connector(archived_sweep_interval_s=600)
    _, cursor, _ = pull_all(connector, None)
    clock.advance(timedelta(minutes=5))
    sandbox.delete_contact(ids["100002"])
    sandbox.merge_contacts(ids["100004"], ids["100005"])
    clock.advance(timedelta(minutes=6))
    changed, cursor, pages = pull_all(connector, cursor)
    deleted = {d for p in pages for d in p.deleted_ids}
    merged = {k: v for p in pages for k, v in p.merged_into.items()}
    assert [c.id for c in changed] == [ids["100004"]]
    assert merged == {ids["100005"]: ids["100004"]}
    assert {ids["100002"], ids["100005"]} <= deleted
    clock.advance(timedelta(minutes=1))
    _, _, pages = pull_all(connector, cursor)  # the sweep is not due again yet: no archived listing
    assert all(not p.deleted_ids for p in pages)


def test_truncated_inline_associations_are_completed_by_batch_reads(sandbox, make_connector, clock):
    sandbox.limits.inline_association_cap = 2
    sandbox.limits.association_page = 3
    contact = next(synthetic_contacts(1))
    native = sandbox.seed([contact])[contact.id]
    for n in range(7):
        sandbox.log_activity(native, Activity(kind=ActivityKind.NOTE, at=clock.now() - timedelta(hours=n),
                                              by="1002", id=f"n{n}", subject=f"note {n}"))
    sandbox.upsert_deal(native, Deal(id="big", status=DealStatus.WON, amount=1000.0))
    pulled = pull_all(make_connector(), None)[0][0]
    assert len([a for a in pulled.activities if a.kind is ActivityKind.NOTE]) == 7 + sum(
        1 for a in contact.activities if a.kind is ActivityKind.NOTE)
    assert any(d.status is DealStatus.WON and d.amount == 1000.0 for d in pulled.deals)


def test_record_event_reaches_the_pulled_contact(sandbox, make_connector, clock):
    native = sandbox.seed(synthetic_contacts(1))["100000"]
    connector = make_connector()
    _, cursor, _ = pull_all(connector, None)
    clock.advance(timedelta(minutes=5))
    at = datetime(2026, 11, 2, 9, 3, tzinfo=timezone.utc)
    sandbox.record_event(native, EngagementEvent(type="demo_request", at=at, source="website_form"))
    clock.advance(timedelta(minutes=1))
    changed, _, _ = pull_all(connector, cursor)
    assert EngagementEvent(type="demo_request", at=at, source="Demo request") in changed[0].events
