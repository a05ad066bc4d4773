"""Related records (Task, Event, CampaignMember, OpportunityContactRole) read per object: a pull reads each
within 1.05 times its floor (ceil(rows / 2000) calls), an incremental pull through a semi-join on the
stream's window, never by lists of parent ids."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from urllib.parse import parse_qs

from sync.model import Activity, ActivityKind
from sync.synthetic import synthetic_contacts

RELATED = ("Task", "Event", "CampaignMember", "OpportunityContactRole")


def contacts_of(pages):
    return [c for p in pages for c in p.contacts]


def soql_sent(sandbox, since=0):
    return [parse_qs(r.query)["q"][0] for r in sandbox.requests.all()[since:]
            if r.path.endswith(("/query/", "/queryAll/"))]


def test_a_full_pull_reads_each_related_object_within_five_percent_of_its_floor(
    sandbox, clock, make_connector, pull_all
):
    seeded = sandbox.seed(synthetic_contacts(220, seed=4, now=clock.now()))
    pages, _ = pull_all(make_connector())
    assert len(contacts_of(pages)) == len(seeded)
    calls, rows = sandbox.rest.served_by_object()
    assert rows["CampaignMember"] > 2000  # more than one page: the floor is more than one call
    for sobject in RELATED:
        floor = max(1, math.ceil(rows[sobject] / 2000))
        assert calls[sobject] <= 1.05 * floor, (sobject, calls[sobject], floor)
    assert not any(" IN ('" in soql for soql in soql_sent(sandbox))  # no list of ids anywhere


def test_every_related_record_reaches_its_own_parent(sandbox, clock, make_connector, pull_all):
    originals = list(synthetic_contacts(60, seed=8, now=clock.now()))
    ids = sandbox.seed(originals)
    pulled = {c.id: c for c in contacts_of(pull_all(make_connector(page_size=200))[0])}
    for original in originals:
        got = pulled[ids[original.id]]
        assert len(got.activities) == len(original.activities)
        assert len(got.deals) == len(original.deals)
        assert {a.id for a in got.activities} <= {
            t["Id"] for t in [*sandbox.org.records["Task"].values(), *sandbox.org.records["Event"].values()]
            if t["WhoId"] == got.id}


def test_an_incremental_pull_reads_the_window_s_related_records_through_a_semi_join(
    sandbox, clock, make_connector, pull_all
):
    seeded = list(sandbox.seed(synthetic_contacts(30, seed=9, now=clock.now())).values())
    connector = make_connector()
    _, cursor = pull_all(connector)
    clock.advance(timedelta(minutes=5))
    contact = next(i for i in seeded if i.startswith("003"))
    sandbox.set_field(contact, "need", "compliance audit")
    before = len(sandbox.requests.all())
    pages, _ = pull_all(connector, cursor)
    [pulled] = contacts_of(pages)
    sent = soql_sent(sandbox, before)
    windowed = [soql for soql in sent if "IN (SELECT Id FROM Contact WHERE SystemModstamp >=" in soql]
    assert sorted(re.search(r" FROM (\w+)", soql).group(1) for soql in windowed) == sorted(RELATED)
    assert not any(" IN ('" in soql for soql in sent)
    expected = [t for t in sandbox.org.records["Task"].values() if t["WhoId"] == contact]
    assert len([a for a in pulled.activities if a.kind is not ActivityKind.MEETING]) == len(expected)
    assert not any("FROM Task WHERE WhoId IN (SELECT Id FROM Lead" in soql for soql in sent)  # no lead changed


def test_a_parent_brought_back_by_its_task_has_each_activity_once(sandbox, clock, make_connector, pull_all):
    seeded = [i for i in sandbox.seed(synthetic_contacts(30, seed=12, now=clock.now())).values()
              if i.startswith("003")]
    first, second, third = seeded[:3]
    connector = make_connector()
    _, cursor = pull_all(connector)
    clock.advance(timedelta(minutes=5))
    sandbox.set_field(first, "need", "cloud migration")
    sandbox.set_field(second, "need", "cloud migration")
    _, cursor = pull_all(connector, cursor)  # both read in the second the pull started in
    sandbox.log_activity(first, Activity(kind=ActivityKind.CALL, at=clock.now(), by="1001",
                                         direction="outbound", subject="Follow-up call"))
    clock.advance(timedelta(minutes=5))
    sandbox.set_field(third, "need", "cloud migration")  # the Contact stream's window is read again
    pages, _ = pull_all(connector, cursor)
    pulled = {c.id: c for c in contacts_of(pages)}
    assert set(pulled) == {first, third}
    ids = [a.id for a in pulled[first].activities]
    assert len(ids) == len(set(ids)) and any(a.subject == "Follow-up call" for a in pulled[first].activities)


def test_a_related_change_while_a_pull_was_interrupted_is_not_lost(sandbox, clock, make_connector, pull_all):
    seeded = [i for i in sandbox.seed(synthetic_contacts(450, seed=14, now=clock.now())).values()]
    stream = make_connector(page_size=200).pull(None)
    first = next(stream)  # the first page of a full pull is durable, then the process dies
    stream.close()
    lead = first.contacts[0].id
    clock.advance(timedelta(minutes=2))
    sandbox.log_activity(lead, Activity(kind=ActivityKind.CALL, at=clock.now(), by="1001",
                                        direction="outbound", subject="Call while down"))
    clock.advance(timedelta(minutes=2))
    _, cursor = pull_all(make_connector(page_size=200), first.cursor)  # the pull, resumed and finished
    assert lead in seeded
    clock.advance(timedelta(minutes=5))
    pages, _ = pull_all(make_connector(page_size=200), cursor)
    [again] = [c for c in contacts_of(pages) if c.id == lead]
    assert any(a.subject == "Call while down" for a in again.activities)
