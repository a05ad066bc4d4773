from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sync.model import Activity, ActivityKind, Contact, Deal, DealStatus, merge_related

T0 = datetime(2026, 10, 1, tzinfo=timezone.utc)


def test_merge_related_keeps_stored_history_and_lets_fresh_records_win():
    previous = Contact(crm="pipedrive", id="7", deals=[
        Deal(id="d1", status=DealStatus.OPEN), Deal(id="d2", status=DealStatus.WON)],
        activities=[Activity(kind=ActivityKind.CALL, at=T0, id="a1"),
                    Activity(kind=ActivityKind.NOTE, at=T0 + timedelta(days=1))])
    fresh = Contact(crm="pipedrive", id="7", deals=[Deal(id="d1", status=DealStatus.LOST)],
                    activities=[Activity(kind=ActivityKind.CALL, at=T0, id="a1", done=False),
                                Activity(kind=ActivityKind.MEETING, at=T0 + timedelta(days=2), id="a3")])
    merged = merge_related(fresh, previous)
    assert {d.id: d.status for d in merged.deals} == {"d1": DealStatus.LOST, "d2": DealStatus.WON}
    assert [(a.id, a.kind, a.done) for a in merged.activities] == [
        ("a1", ActivityKind.CALL, False), (None, ActivityKind.NOTE, True), ("a3", ActivityKind.MEETING, True)]
