"""A Lead or Contact only crmsync's own write changed is not read back with its related rows by the next
incremental pull; a person's edit, a related change, a full pull or another process still reads it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from sync.contract import FieldUpdate
from sync.model import Activity, ActivityKind

RELATED = ("activities", "deals")  # the gateway's categories of Task, Event, CampaignMember, OpportunityContactRole


def cycle(connector: Any, cursor: str | None, **values: Any) -> tuple[list[Any], str]:
    """As the engine runs: each page's contacts are pushed before the next page is asked for."""
    emitted: list[Any] = []
    for page in connector.pull(cursor):
        emitted += page.contacts
        if page.contacts and values:
            updates = [FieldUpdate(c.id, dict(values), crm_values=dict(c.crm_values)) for c in page.contacts]
            assert all(result.ok for result in connector.push(updates))
        cursor = page.cursor
    assert cursor is not None
    return emitted, cursor


def related_reads(connector: Any) -> int:
    return sum(connector.api_calls[category] for category in RELATED)


def written_everywhere(sandbox: Any, seeded: dict[str, str], make_connector: Any, clock: Any,
                       **values: Any) -> tuple[Any, str]:
    connector = make_connector(ownership={"Rating": "always"})
    connector.ensure_fields()
    emitted, cursor = cycle(connector, None, score=64, **values)
    assert sorted(c.id for c in emitted) == sorted(seeded.values())
    clock.advance(timedelta(minutes=5))
    return connector, cursor


def test_records_only_crmsync_wrote_are_not_read_back(sandbox, seeded, make_connector, clock):
    connector, cursor = written_everywhere(sandbox, seeded, make_connector, clock, maturity="hot")
    assert any(sandbox.record(native).get("Rating") == "Hot" for native in seeded.values() if native.startswith("00Q"))
    before = related_reads(connector)
    emitted, _ = cycle(connector, cursor)
    assert emitted == []
    assert related_reads(connector) - before == len(RELATED) + 2  # the four "what changed" queries, no window


def test_a_persons_edit_after_the_write_is_read(sandbox, seeded, make_connector, clock):
    connector, cursor = written_everywhere(sandbox, seeded, make_connector, clock)
    lead = next(native for native in seeded.values() if native.startswith("00Q"))
    sandbox.set_field(lead, "job_title", "Head of Revenue")
    clock.advance(timedelta(minutes=1))
    emitted, _ = cycle(connector, cursor)
    assert [(c.id, c.job_title) for c in emitted] == [(lead, "Head of Revenue")]


def test_a_call_logged_after_the_write_brings_its_person_back(sandbox, seeded, make_connector, clock):
    connector, cursor = written_everywhere(sandbox, seeded, make_connector, clock)
    contact = next(native for native in seeded.values() if native.startswith("003"))
    sandbox.log_activity(contact, Activity(kind=ActivityKind.CALL, at=clock.now(), by="1001", direction="outbound",
                                           subject="Renewal call"))
    clock.advance(timedelta(minutes=1))
    emitted, _ = cycle(connector, cursor)
    assert [c.id for c in emitted] == [contact]
    assert any(a.subject == "Renewal call" for a in emitted[0].activities)


def test_another_process_and_a_full_pull_read_everything_back(sandbox, seeded, make_connector, clock):
    connector, cursor = written_everywhere(sandbox, seeded, make_connector, clock)
    restarted = make_connector()  # another replica, or the daemon restarted: it knows no write
    emitted, _ = cycle(restarted, cursor)
    assert sorted(c.id for c in emitted) == sorted(seeded.values())
    again, _ = cycle(connector, None)  # a resync reads the whole org whatever crmsync wrote
    assert sorted(c.id for c in again) == sorted(seeded.values())


def test_a_persons_edit_between_the_pull_and_the_write_is_read(sandbox, seeded, make_connector, clock):
    """crmsync's write moves SystemModstamp past the edit: only the values tell them apart."""
    connector = make_connector()
    connector.ensure_fields()
    lead = next(native for native in seeded.values() if native.startswith("00Q"))
    cursor = None
    for page in connector.pull(None):
        if any(c.id == lead for c in page.contacts):
            clock.advance(timedelta(seconds=20))
            sandbox.set_field(lead, "job_title", "Chief Revenue Officer")  # sales edits it meanwhile
            clock.advance(timedelta(seconds=20))
        if page.contacts:
            updates = [FieldUpdate(c.id, {"score": 64}, crm_values=dict(c.crm_values)) for c in page.contacts]
            assert all(result.ok for result in connector.push(updates))
        cursor = page.cursor
    clock.advance(timedelta(minutes=5))
    emitted, _ = cycle(connector, cursor)
    assert [(c.id, c.job_title) for c in emitted] == [(lead, "Chief Revenue Officer")]


def test_beside_echoes_a_persons_edit_reads_only_its_own_related_rows(sandbox, seeded, make_connector, clock):
    """The stream page holds one edit among the echoes: its related rows are read by its id, not the whole
    window's (which would read every echo's rows again), and it comes out whole."""
    connector, cursor = written_everywhere(sandbox, seeded, make_connector, clock)
    lead = next(native for native in seeded.values() if native.startswith("00Q"))
    sandbox.set_field(lead, "job_title", "Head of Growth")
    clock.advance(timedelta(minutes=1))
    sandbox.requests.clear()
    emitted, _ = cycle(connector, cursor)
    assert [c.id for c in emitted] == [lead]
    queries = [parse_qs(r.query)["q"][0] for r in sandbox.requests.all() if "/query" in r.path and "q=" in r.query]
    related = [q for q in queries if any(f"FROM {sobject} " in q for sobject in ("Task", "Event", "CampaignMember"))]
    assert not [q for q in related if "IN (SELECT Id FROM Lead" in q]  # no window over the echoes
    assert len([q for q in related if f"'{lead}'" in q]) == 3  # Task, Event, CampaignMember of the edited lead
    whole = {c.id: c for c in cycle(make_connector(), None)[0]}[lead]  # what a full read says of it
    assert (emitted[0].activities, emitted[0].events, emitted[0].deals) == (whole.activities, whole.events,
                                                                            whole.deals)
