"""Pull through the real simple-salesforce client against the sandbox: full, incremental, ties at the
bookmark, resumes, conversions, deletions and merges, related-record changes."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from urllib.parse import parse_qs

from sync.model import Activity, ActivityKind, Deal, DealStatus, EngagementEvent, PipelineStage
from sync.synthetic import synthetic_contacts

from connectors.salesforce.values import to18
from connectors.salesforce.paging import legacy_cursor
from sync.toolkit.cursor import Cursor


def contacts_of(pages):
    return [c for p in pages for c in p.contacts]


def test_full_pull_reads_every_lead_and_contact_once_in_the_fewest_calls(
    sandbox, seeded, make_connector, pull_all
):
    connector = make_connector(page_size=200)
    pages, _ = pull_all(connector)
    pulled = contacts_of(pages)
    assert sorted(c.id for c in pulled) == sorted(seeded.values())
    assert all(c.crm == "salesforce" and c.account == "acme" for c in pulled)
    leads = sum(1 for i in seeded.values() if i.startswith("00Q"))
    contacts = len(seeded) - leads
    assert connector.api_calls["contacts"] == math.ceil(leads / 200) + math.ceil(contacts / 200)
    assert connector.api_calls["push"] == 0
    assert sum(p.api_calls for p in pages) == sum(connector.api_calls.values())


def test_pages_follow_next_records_url_at_the_requested_batch_size(sandbox, clock, make_connector, pull_all):
    sandbox.seed(synthetic_contacts(450, seed=3, now=clock.now()))
    connector = make_connector(page_size=200)
    pages, _ = pull_all(connector)
    assert len(contacts_of(pages)) == 450
    sizes = [len(p.contacts) + len(p.merged_into) for p in pages[:-1]]
    assert max(sizes) == 200
    more = [r for r in sandbox.requests.all() if r.path.startswith("/services/data/v59.0/query/01g")]
    assert more, "query_more was never used"


def test_incremental_pull_returns_only_what_changed(sandbox, seeded, make_connector, pull_all, clock):
    connector = make_connector()
    _, cursor = pull_all(connector)
    pages, cursor2 = pull_all(connector, cursor)
    assert contacts_of(pages) == []
    clock.advance(timedelta(minutes=5))
    changed = next(iter(seeded.values()))
    sandbox.set_field(changed, "need", "replace legacy SIEM")
    pages, _ = pull_all(connector, cursor2)
    assert [c.id for c in contacts_of(pages)] == [changed]
    assert contacts_of(pages)[0].fields["need"] == "replace legacy SIEM"


def soql_objects(requests):
    """The object each SOQL request read (`FROM X`), `query_more` pages under the query they continue."""
    objects = []
    for request in requests:
        if request.path.endswith(("/query/", "/queryAll/")):
            soql = parse_qs(request.query)["q"][0]
            objects.append((re.search(r" FROM (\w+)", soql).group(1), request.path.rsplit("/", 2)[-2]))
        elif "/query/01g" in request.path:
            objects.append(("(next page)", "query"))
    return objects


def test_an_incremental_pull_with_nothing_changed_is_one_request_per_object(
    sandbox, seeded, make_connector, pull_all, clock
):
    connector = make_connector()
    _, cursor = pull_all(connector)
    clock.advance(timedelta(minutes=5))
    _, cursor = pull_all(connector, cursor)  # the watermarks are now at the last change of each object
    clock.advance(timedelta(minutes=5))
    before = len(sandbox.requests.all())
    pages, _ = pull_all(connector, cursor)
    sent = sandbox.requests.all()[before:]
    assert contacts_of(pages) == [] and not any(p.deleted_ids for p in pages)
    assert sorted(soql_objects(sent)) == [
        ("CampaignMember", "query"), ("Contact", "queryAll"), ("Event", "query"), ("Lead", "queryAll"),
        ("OpportunityContactRole", "query"), ("Task", "query"),
    ]
    assert len(sent) == 6 == sum(p.api_calls for p in pages)


def test_deletions_and_merges_come_in_the_stream_of_their_object(
    sandbox, seeded, make_connector, pull_all, clock
):
    connector = make_connector()
    _, cursor = pull_all(connector)
    clock.advance(timedelta(minutes=1))
    lead = next(i for i in seeded.values() if i.startswith("00Q"))
    sandbox.delete_contact(lead)
    before = len(sandbox.requests.all())
    pages, cursor = pull_all(connector, cursor)
    assert [d for p in pages for d in p.deleted_ids] == [lead]
    assert [o for o, _ in soql_objects(sandbox.requests.all()[before:])].count("Lead") == 1
    pages, _ = pull_all(connector, cursor)  # reported once: the watermark remembers it was read deleted
    assert not any(p.deleted_ids for p in pages)


def test_a_record_deleted_in_the_second_it_was_read_is_still_reported(
    sandbox, seeded, make_connector, pull_all, clock
):
    connector = make_connector()
    _, cursor = pull_all(connector)
    clock.advance(timedelta(minutes=1))
    contact = next(i for i in seeded.values() if i.startswith("003"))
    sandbox.set_field(contact, "need", "replace legacy SIEM")
    pages, cursor = pull_all(connector, cursor)  # reads it live at second T
    assert contact in [c.id for c in contacts_of(pages)]
    sandbox.delete_contact(contact)  # deleted within the same second T: same SystemModstamp
    pages, _ = pull_all(connector, cursor)
    assert [d for p in pages for d in p.deleted_ids] == [contact]


def test_a_deletion_older_than_the_recycle_bin_is_not_seen(sandbox, seeded, make_connector, pull_all, clock):
    connector = make_connector()
    _, cursor = pull_all(connector)
    contact = next(i for i in seeded.values() if i.startswith("003"))
    sandbox.delete_contact(contact)
    clock.advance(timedelta(days=16))  # Salesforce purged it from the recycle bin before this pull
    pages, _ = pull_all(connector, cursor)
    assert not any(p.deleted_ids for p in pages)


def test_ties_at_the_bookmark_are_neither_lost_nor_repeated(sandbox, clock, make_connector, pull_all):
    # 450 people stamped in the same second, read 200 at a time, the pull interrupted after its first page
    ids = sandbox.seed(synthetic_contacts(450, seed=5, now=clock.now()))
    for native in ids.values():
        sandbox.set_field(native, "timing", "within 3 months")
    connector = make_connector(page_size=200)
    stream = connector.pull(None)
    read = [next(stream), next(stream)]  # every lead, then the first 200 contacts, all stamped alike
    assert [c.id[:3] for c in read[1].contacts] == ["003"] * 200
    resumed, cursor = pull_all(make_connector(page_size=200), read[1].cursor)
    seen = [c.id for p in read for c in p.contacts] + [c.id for c in contacts_of(resumed)]
    assert sorted(seen) == sorted(ids.values())  # every one, once
    # a row stamped in that same second after the pull is not lost either
    late = sandbox.seed(synthetic_contacts(1, seed=99, now=clock.now()))
    newcomer = next(iter(late.values()))
    sandbox.set_field(newcomer, "budget", "approved")
    pages, _ = pull_all(make_connector(page_size=200), cursor)
    assert [c.id for c in contacts_of(pages)] == [newcomer]


def test_the_bookmark_is_capped_at_the_pull_start(sandbox, seeded, clock, make_connector, pull_all):
    native = next(iter(seeded.values()))
    sobject = "Lead" if native.startswith("00Q") else "Contact"
    sandbox.org.update(sobject, native, {}, at=clock.now() + timedelta(hours=1))  # a clock ahead of ours
    _, cursor = pull_all(make_connector())
    marks = Cursor.decode(cursor, crm="salesforce", legacy=legacy_cursor).marks.values()
    assert all(m.at is not None and m.at <= clock.now() for m in marks)
    clock.advance(timedelta(minutes=5))
    other = next(i for i in seeded.values() if i != native)
    sandbox.set_field(other, "budget", "approved")  # stamped before the record from the future
    pages, _ = pull_all(make_connector(), cursor)
    pulled = [c.id for c in contacts_of(pages)]
    assert other in pulled  # not skipped for ever behind a stamp from the future
    assert native not in pulled  # read again, but unchanged since it was emitted: not emitted twice


def test_a_write_made_after_its_page_is_read_back(sandbox, seeded, make_connector, pull_all, clock):
    """An outbox replay or a retry writes a record whose page is gone: crmsync cannot tell its own write from
    a person's edit there, so the next pull reads it back (the engine then de-duplicates by delta)."""
    from sync.contract import FieldUpdate

    connector = make_connector()
    connector.ensure_fields()
    _, cursor = pull_all(connector)  # Leads first, then Contacts: the Lead page is gone
    clock.advance(timedelta(minutes=1))
    target = next(native for native in seeded.values() if native.startswith("00Q"))
    assert connector.push([FieldUpdate(target, {"score": 55})])[0].ok
    pages, _ = pull_all(connector, cursor)
    assert [c.id for c in contacts_of(pages)] == [target]


def test_related_changes_bring_their_parent_back(sandbox, seeded, make_connector, pull_all, clock):
    connector = make_connector()
    _, cursor = pull_all(connector)
    clock.advance(timedelta(minutes=10))
    lead = next(i for i in seeded.values() if i.startswith("00Q"))
    contact = next(i for i in seeded.values() if i.startswith("003"))
    sandbox.log_activity(
        lead,
        Activity(
            kind=ActivityKind.CALL, at=clock.now(), by="1001", direction="outbound", subject="Discovery call"
        ),
    )
    sandbox.record_event(contact, EngagementEvent(type="demo_request", at=clock.now()))
    sandbox.upsert_deal(
        contact,
        Deal(
            id="new-deal",
            status=DealStatus.WON,
            stage=PipelineStage.CLOSING,
            amount=12_000.0,
            created_at=clock.now(),
        ),
    )
    pages, _ = pull_all(connector, cursor)
    by_id = {c.id: c for c in contacts_of(pages)}
    assert set(by_id) == {lead, contact}
    assert any(a.subject == "Discovery call" and a.at == clock.now() for a in by_id[lead].activities)
    assert any(e.type == "demo_request" for e in by_id[contact].events)
    assert any(d.status is DealStatus.WON and d.amount == 12_000.0 for d in by_id[contact].deals)


def test_converted_lead_is_followed_to_its_contact_and_not_scored_twice(
    sandbox, seeded, make_connector, pull_all, clock
):
    from sync.contract import FieldUpdate

    connector = make_connector()
    _, cursor = pull_all(connector)
    clock.advance(timedelta(minutes=1))
    lead = next(i for i in seeded.values() if i.startswith("00Q"))
    contact = sandbox.convert_lead(lead)
    pages, _ = pull_all(connector, cursor)
    pulled = contacts_of(pages)
    assert lead not in [c.id for c in pulled]
    assert contact in [c.id for c in pulled]
    merged = {k: v for p in pages for k, v in p.merged_into.items()}
    assert merged == {lead: contact} and lead in [d for p in pages for d in p.deleted_ids]
    moved = next(c for c in pulled if c.id == contact)
    assert moved.activities or moved.events  # the lead's history now hangs on the Contact
    calls = sandbox.requests.count("PATCH")
    result = connector.push([FieldUpdate(lead, {"score": 80})])[0]
    assert not result.ok and result.error.code == "CANNOT_UPDATE_CONVERTED_LEAD"
    assert sandbox.requests.count("PATCH") == calls  # refused locally: no call spent on a read-only lead


def test_deletions_and_merges_are_reported(sandbox, seeded, make_connector, pull_all, clock):
    connector = make_connector()
    _, cursor = pull_all(connector)
    clock.advance(timedelta(minutes=1))
    contacts = [i for i in seeded.values() if i.startswith("003")]
    sandbox.delete_contact(contacts[0])
    sandbox.merge(contacts[1], contacts[2])
    pages, _ = pull_all(connector, cursor)
    deleted = [d for p in pages for d in p.deleted_ids]
    merged = {k: v for p in pages for k, v in p.merged_into.items()}
    assert set(deleted) == {contacts[0], contacts[2]}
    assert merged == {contacts[2]: contacts[1]}
    assert contacts[1] in [c.id for c in contacts_of(pages)]  # the survivor changed too
    assert to18(contacts[0][:15]) == contacts[0]


def test_a_mapped_field_missing_from_the_org_is_dropped_not_fatal(sandbox, seeded, make_connector, pull_all):
    connector = make_connector(lead_fields={"email": "Email", "favourite_colour": "Colour__c"})
    pages, _ = pull_all(connector)
    leads = [c for c in contacts_of(pages) if c.id.startswith("00Q")]
    assert leads and all(c.email and "favourite_colour" not in c.fields for c in leads)
