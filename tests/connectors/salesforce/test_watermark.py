"""The watermark at the precision of the SOQL literal: stamps have milliseconds, a literal whole seconds, so a
cycle with nothing changed must read nothing, not the last second again."""

from __future__ import annotations

from datetime import timedelta

from sync.synthetic import synthetic_contacts


def contacts_of(pages):
    return [c for p in pages for c in p.contacts]


def write_within_one_second(sandbox, clock, natives):
    """A burst of edits, each a few milliseconds apart, all inside one second."""
    base = clock.now().replace(microsecond=0) + timedelta(seconds=1)
    for number, native in enumerate(natives):
        clock.set(base + timedelta(milliseconds=100 + 15 * number))
        sandbox.set_field(native, "need", f"need {number}")
    clock.set(base + timedelta(seconds=1, milliseconds=200))  # the pull starts in the next second


def test_a_cycle_with_nothing_changed_reads_zero_records_from_every_object(
    sandbox, clock, make_connector, pull_all
):
    natives = list(sandbox.seed(synthetic_contacts(40, now=clock.now())).values())
    write_within_one_second(sandbox, clock, natives)
    connector = make_connector()
    _, cursor = pull_all(connector)
    for _ in range(2):
        clock.advance(timedelta(minutes=5))
        served = len(sandbox.rest.served)
        pages, cursor = pull_all(connector, cursor)
        calls, rows = sandbox.rest.served_by_object(served)
        assert contacts_of(pages) == [] and not any(p.deleted_ids for p in pages)
        assert set(calls) == {"Lead", "Contact", "Task", "Event", "CampaignMember", "OpportunityContactRole"}
        assert dict(rows) == dict.fromkeys(calls, 0)
        assert sum(calls.values()) == 6


def test_a_change_in_the_second_of_the_watermark_is_read_once(sandbox, clock, make_connector, pull_all):
    natives = list(sandbox.seed(synthetic_contacts(20, now=clock.now())).values())
    connector = make_connector()
    _, cursor = pull_all(connector)
    clock.advance(timedelta(minutes=5))
    second = clock.now()
    clock.set(second + timedelta(milliseconds=100))
    sandbox.set_field(natives[0], "need", "first")
    clock.set(second + timedelta(milliseconds=300))  # the pull starts inside the second of that change
    pages, cursor = pull_all(connector, cursor)
    assert [c.id for c in contacts_of(pages)] == [natives[0]]
    clock.set(second + timedelta(milliseconds=600))  # the same second, after the pull: a later edit
    sandbox.set_field(natives[1], "need", "second")
    clock.advance(timedelta(minutes=5))
    pages, cursor = pull_all(connector, cursor)
    assert [c.id for c in contacts_of(pages)] == [natives[1]]  # not lost, and the first not read again
    clock.advance(timedelta(minutes=5))
    served = len(sandbox.rest.served)
    pages, _ = pull_all(connector, cursor)
    _, rows = sandbox.rest.served_by_object(served)
    assert contacts_of(pages) == [] and sum(rows.values()) == 0
