"""The report's history in the state store: stage transitions dated by the data where it dates them, and
hand-offs that outlive the SLA clock, recorded in the page transaction; and the report's read queries."""

from __future__ import annotations

from datetime import date, timedelta

import msgspec

from sync.model import Deal, DealStatus, Stage
from sync.rules.decision import ContactMemory, Decision, SlaState, SlaStatus
from sync.state import AccountRef, Decided, PageWrite, reporting
from sync.state.history import DATA, FIRST_SEEN, OBSERVED
from sync.synthetic import synthetic_contact

REF = AccountRef("fake", "main")


def item(clock, index, stage, *, sla=SlaState(), deals=None, score=50, version="v1", owner="u1"):
    contact = synthetic_contact(index, now=clock.now(), crm="fake", account="main")
    contact = msgspec.structs.replace(contact, owner_id=owner, deals=deals if deals is not None else [],
                                      created_at=clock.now() - timedelta(days=30))
    decision = Decision(crm="fake", account="main", contact_id=contact.id, score=score, fit=0, engagement=0,
                        intent=0, stage=stage, sla=sla, rules_version=version,
                        memory=ContactMemory(stage=stage, qualified_at=sla.started_at))
    return Decided(contact, decision)


def write(store, *items, run="r1"):
    store.write_page(REF, PageWrite(run_id=run, rules_version="v1", decided=list(items)))


def steps(store):
    return [(t.contact_id, t.from_stage, t.to_stage, t.at, t.basis) for t in reporting.transitions(store)]


def test_a_contact_seen_first_gets_the_path_its_data_dates(store, clock):
    now = clock.now()
    handoff = SlaState(status=SlaStatus.RUNNING, started_at=now - timedelta(days=2), due_at=now + timedelta(days=1))
    won = Deal(id="d1", status=DealStatus.WON, close_date=date(2026, 10, 20))
    lead, prospect, client, nurture = (item(clock, 1, Stage.LEAD), item(clock, 2, Stage.PROSPECT, sla=handoff),
                                       item(clock, 3, Stage.CLIENT, deals=[won]), item(clock, 4, Stage.NURTURE))
    write(store, lead, prospect, client, nurture)
    created = now - timedelta(days=30)
    by_contact = {}
    for cid, before, after, at, basis in steps(store):
        by_contact.setdefault(cid, []).append((before, after, at, basis))
    assert by_contact[lead.contact.id] == [(None, "lead", created, DATA)]
    assert by_contact[prospect.contact.id] == [(None, "lead", created, DATA),
                                               ("lead", "prospect", handoff.started_at, DATA)]
    assert by_contact[client.contact.id][-1][1:] == ("client", created.replace(year=2026, month=10, day=20, hour=0,
                                                                             minute=0, second=0, microsecond=0), DATA)
    assert by_contact[nurture.contact.id][-1] == ("lead", "nurture", now, FIRST_SEEN)


def test_a_change_is_recorded_once_and_an_unchanged_stage_not_at_all(store, clock):
    write(store, item(clock, 1, Stage.LEAD))
    write(store, item(clock, 1, Stage.LEAD), run="r2")
    clock.advance(timedelta(hours=5))
    write(store, item(clock, 1, Stage.DISQUALIFIED, version="v2"), run="r3")
    recorded = reporting.transitions(store)
    assert [(t.from_stage, t.to_stage, t.basis) for t in recorded] == [(None, "lead", DATA),
                                                                       ("lead", "disqualified", OBSERVED)]
    assert recorded[-1].at == clock.now() and recorded[-1].rules_version == "v2"


def test_a_handoff_outlives_the_clock_when_the_prospect_becomes_a_client(store, clock):
    now = clock.now()
    met = SlaState(status=SlaStatus.MET, started_at=now - timedelta(hours=30), due_at=now - timedelta(hours=6),
                   touched_at=now - timedelta(hours=10), touched_by="u1")
    write(store, item(clock, 1, Stage.PROSPECT, sla=met, owner="u7"))
    clock.advance(timedelta(days=3))
    write(store, item(clock, 1, Stage.CLIENT, deals=[Deal(id="d", status=DealStatus.WON)]), run="r2")
    [handoff] = reporting.handoffs(store)
    assert (handoff.status, handoff.owner_id, handoff.touched_at) == ("met", "u7", met.touched_at)
    assert reporting.open_breaches(store) == []


def test_open_breaches_come_with_the_owner_oldest_first(store, clock):
    now = clock.now()

    def breached(hours):
        return SlaState(status=SlaStatus.BREACHED, started_at=now - timedelta(hours=hours + 24),
                        due_at=now - timedelta(hours=hours))
    write(store, item(clock, 1, Stage.PROSPECT, sla=breached(5), owner="a"),
          item(clock, 2, Stage.PROSPECT, sla=breached(50), owner="b"))
    assert [(b.owner_id, b.due_at) for b in reporting.open_breaches(store)] == [
        ("b", now - timedelta(hours=50)), ("a", now - timedelta(hours=5))]
    assert reporting.open_breaches(store, [AccountRef("fake", "other")]) == []


def test_forgetting_an_account_forgets_its_history(store, clock):
    write(store, item(clock, 1, Stage.PROSPECT, sla=SlaState(status=SlaStatus.RUNNING, started_at=clock.now())))
    store.forget_account(REF)
    assert reporting.transitions(store) == [] and reporting.handoffs(store) == []


def test_calibrations_are_kept_and_the_latest_is_read_back(store, clock):
    assert reporting.latest_calibration(store) is None
    for version in ("old", "new"):
        reporting.save_calibration(store, created_at=clock.now(), period_start=clock.now() - timedelta(days=9),
                                   period_end=clock.now(), rules_version=version, proposed_version=None,
                                   result={"rules": [{"name": "x"}]})
        clock.advance(timedelta(minutes=1))
    latest = reporting.latest_calibration(store)
    assert latest is not None and latest.rules_version == "new" and latest.result == {"rules": [{"name": "x"}]}
