from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from sync.daemon.report import RunOutcome
from sync.daemon.resync import ResyncRequest, run_resync
from sync.state import AccountRef
from sync.state.tables import Base
from sync.testing import StandInRules

REF = AccountRef("fake", "main")


def resync(world, **request):
    return run_resync(store=world.store, connector=world.connector, rules=lambda: world.rules, clock=world.clock,
                      request=ResyncRequest(**request))


def dump(store):
    with store.engine.connect() as conn:
        return {t.name: sorted(map(tuple, conn.execute(select(t)).all()), key=repr)
                for t in Base.metadata.sorted_tables}


def test_a_dry_run_shows_the_field_level_diff_and_writes_nothing(world):
    world.cycle()
    world.cycle()
    world.sandbox.record_event(world.ids["100007"], "demo_request")
    world.rules = StandInRules(version="standin-2")
    before, pushes = dump(world.store), world.sandbox.requests["push"]
    result = resync(world, dry_run=True)
    assert result.summary.outcome is RunOutcome.OK and result.plan is not None
    assert dump(world.store) == before
    assert world.sandbox.requests["push"] == pushes and world.sandbox.requests["ensure_fields"] == 0
    diffs = result.plan.diffs
    assert {d.contact_id for d in diffs if d.field == "rules_version"} == set(world.ids.values())
    assert all(d.before == "standin-1" and d.after == "standin-2" for d in diffs if d.field == "rules_version")
    changed = world.ids["100007"]
    assert any(d.contact_id == changed and d.field == "score" for d in diffs)
    # the real run then writes exactly what the dry run showed
    resync(world)
    assert {(d.contact_id, d.field): d.after for d in diffs} == {
        (a.contact_id, a.field): a.after for a in world.store.audit(REF) if a.rules_version == "standin-2"}


def test_a_dry_run_shows_pending_outbox_writes_too(world):
    world.sandbox.faults.reject(world.ids["100001"], "locked", "busy", retryable=True)
    world.cycle()
    (pending,) = world.store.pending_updates(REF)
    plan = resync(world, dry_run=True).plan
    assert plan is not None
    shown = {(d.contact_id, d.field) for d in plan.diffs if d.pending}
    assert {(pending.contact_id, name) for name in pending.values} <= shown


def test_full_ignores_the_cursor_and_since_pulls_from_a_date_without_moving_it(world, clock):
    world.cycle()
    world.cycle()
    cursor = world.store.cursor(REF)
    assert resync(world).summary.pulled == 0
    assert resync(world, full=True).summary.pulled == 30
    clock.advance(timedelta(days=1))
    world.sandbox.record_event(world.ids["100002"], "webinar")
    cursor = world.store.cursor(REF)
    recent = resync(world, since=clock.now() - timedelta(hours=1))
    assert recent.summary.decided == 1 and recent.summary.changed == 1
    assert world.store.cursor(REF) == cursor


def test_one_contact_is_re_evaluated_from_its_snapshot(world, clock):
    world.cycle()
    world.cycle()
    target = world.ids["100003"]
    world.rules = StandInRules(version="standin-3")
    one = resync(world, contact=target)
    assert one.summary.decided == 1 and world.sandbox.written(target)["rules_version"] == "standin-3"
    others = [v["rules_version"] for n, v in world.sandbox.state().items() if n != target]
    assert set(others) == {"standin-1"}
    unknown = resync(world, contact="nobody")
    assert unknown.summary.outcome is RunOutcome.FAILED and "not known" in unknown.summary.errors[0]
