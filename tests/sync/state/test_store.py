from __future__ import annotations

from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from sync.contract import Budget, Health, PushResult
from sync.daemon.report import RunOutcome, RunSummary
from sync.errors import RecordError
from sync.model import Stage
from sync.rules.decision import ContactMemory, Decision, SlaState, SlaStatus
from sync.state import AccountRef, Decided, PageWrite, PushOutcome, StateStore
from sync.state.migrate import head_revision
from sync.state.tables import Base
from sync.synthetic import synthetic_contact

REF = AccountRef("fake", "main")
OTHER = AccountRef("fake", "other")


NO_SLA = SlaState()


def decided(index, clock, *, stage=Stage.LEAD, version="v1", sla=NO_SLA, review=None):
    contact = synthetic_contact(index, now=clock.now(), crm="fake", account="main")
    decision = Decision(crm="fake", account="main", contact_id=contact.id, score=10 + index, fit=1, engagement=2,
                        intent=3, stage=stage, sla=sla, rules_version=version,
                        memory=ContactMemory(stage=stage, was_prospect=stage is Stage.PROSPECT))
    return Decided(contact, decision, review)


def page(clock, *items, cursor=None, enqueue=None, cancel=None, tombstones=None, run="r1", version="v1"):
    return PageWrite(run_id=run, rules_version=version, decided=list(items), enqueue=enqueue or {},
                     cancel=cancel or {}, tombstones=tombstones or {}, cursor=cursor, advance_cursor=cursor is not None)


def test_the_migrations_create_exactly_the_models(store):
    assert store.schema_revision() == head_revision()
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_opening_twice_is_idempotent(store_url, clock):
    for _ in range(2):
        with StateStore(store_url, clock=clock) as again:
            assert again.schema_revision() == head_revision()


def test_a_page_commits_snapshots_memories_outbox_and_cursor_together(store, clock):
    item = decided(1, clock, stage=Stage.PROSPECT)
    store.write_page(REF, page(clock, item, cursor="c1", enqueue={item.contact.id: {"score": 11, "stage": "prospect"}}))
    assert store.cursor(REF) == "c1" and store.cursor(OTHER) is None
    state = store.contact_states(REF, [item.contact.id, "unknown"])
    assert state[item.contact.id].memory == item.decision.memory
    assert state[item.contact.id].pending == {"score": "11", "stage": '"prospect"'}
    assert state["unknown"].memory is None and state["unknown"].pushed == {}
    (snapshot, memory), = store.snapshots(REF)
    assert snapshot == item.contact and memory == item.decision.memory


def test_a_failed_page_transaction_leaves_nothing_behind(store_url, clock):
    def crash(point):
        if point == "write_page:before_commit":
            raise RuntimeError("boom")

    with StateStore(store_url, clock=clock, fault=crash) as broken:
        item = decided(1, clock)
        try:
            broken.write_page(REF, page(clock, item, cursor="c1", enqueue={item.contact.id: {"score": 1}}))
        except RuntimeError:
            pass
        assert broken.cursor(REF) is None and broken.snapshots(REF) == [] and broken.outbox_size(REF) == 0


def test_push_results_use_compare_and_delete_so_a_newer_pending_value_survives(store, clock):
    item = decided(1, clock)
    cid = item.contact.id
    store.write_page(REF, page(clock, item, enqueue={cid: {"score": 11, "stage": "lead"}}))
    (pending,) = store.pending_updates(REF)
    assert pending.values == {"score": 11, "stage": "lead"} and pending.previous == {}
    # a newer decision replaces the score while the first push is in flight
    store.write_page(REF, page(clock, enqueue={cid: {"score": 12}}, run="r2"))
    tally = store.record_push(REF, [PushOutcome(pending, PushResult(cid, ok=True))], run_id="r1", max_attempts=5)
    assert tally.pushed == 1 and tally.fields_written == 2
    assert store.last_pushed(REF, cid) == {"score": 11, "stage": "lead"}
    (left,) = store.pending_updates(REF)
    assert left.values == {"score": 12} and left.previous == {"score": 11}
    store.record_push(REF, [PushOutcome(left, PushResult(cid, ok=True))], run_id="r2", max_attempts=5)
    assert store.outbox_size(REF) == 0
    audit = store.audit(REF, cid)
    assert [(a.field, a.before, a.after, a.run_id) for a in audit] == [
        ("score", None, 11, "r1"), ("stage", None, "lead", "r1"), ("score", 11, 12, "r2")]
    assert all(a.rules_version == "v1" for a in audit)


def test_permanent_errors_are_recorded_and_dropped_retryable_ones_kept_until_the_cap(store, clock):
    a, b = decided(1, clock), decided(2, clock)
    store.write_page(REF, page(clock, a, b, enqueue={a.contact.id: {"score": 1}, b.contact.id: {"score": 2}}))
    for attempt in range(3):
        first, second = store.pending_updates(REF) if attempt == 0 else (None, *store.pending_updates(REF))
        outcomes = [PushOutcome(second, PushResult(second.contact_id, ok=False, error=RecordError(
            second.contact_id, "locked", "record locked", retryable=True)))]
        if first is not None:
            outcomes.append(PushOutcome(first, PushResult(first.contact_id, ok=False, error=RecordError(
                first.contact_id, "INVALID_EMAIL", "email is invalid"))))
        store.record_push(REF, outcomes, run_id=f"r{attempt}", max_attempts=3)
    assert store.outbox_size(REF) == 0
    rejected = store.rejections(REF)
    assert [(r.contact_id, r.code, r.message) for r in rejected] == [
        (a.contact.id, "INVALID_EMAIL", "email is invalid"), (b.contact.id, "attempts_exhausted", "record locked")]
    assert store.last_pushed(REF, a.contact.id) == {}


def test_a_cancelled_write_and_a_tombstone_clear_the_outbox(store, clock):
    a, b = decided(1, clock), decided(2, clock)
    store.write_page(REF, page(clock, a, b, enqueue={a.contact.id: {"score": 1, "stage": "lead"},
                                                     b.contact.id: {"score": 2}}))
    store.write_page(REF, page(clock, cancel={a.contact.id: ["score"]}, tombstones={b.contact.id: a.contact.id}))
    (left,) = store.pending_updates(REF)
    assert left.contact_id == a.contact.id and left.values == {"stage": "lead"}
    assert [c.id for c, _ in store.snapshots(REF)] == [a.contact.id]
    assert not store.is_managed(REF, b.contact.id) and store.is_managed(REF, a.contact.id)


def test_managed_ids_stream_every_live_contact_of_the_account_in_chunks(store, clock):
    contacts = [decided(index, clock) for index in range(1, 8)]
    store.write_page(REF, page(clock, *contacts))
    store.write_page(OTHER, page(clock, decided(20, clock)))
    gone = contacts[2].contact.id
    store.write_page(REF, page(clock, tombstones={gone: None}))
    wanted = sorted(c.contact.id for c in contacts if c.contact.id != gone)
    assert list(store.managed_ids(REF, chunk=2)) == wanted == list(store.managed_ids(REF))


def test_snapshots_select_by_review_date_rules_version_and_id(store, clock):
    now = clock.now()
    items = [decided(1, clock, review=now - timedelta(minutes=1)), decided(2, clock, review=now + timedelta(hours=1)),
             decided(3, clock, version="v0")]
    store.write_page(REF, page(clock, *items))
    ids = [i.contact.id for i in items]
    assert [c.id for c, _ in store.snapshots(REF, due_by=now)] == [ids[0]]
    assert [c.id for c, _ in store.snapshots(REF, not_version="v1")] == [ids[2]]
    assert [c.id for c, _ in store.snapshots(REF, ids=[ids[1]])] == [ids[1]]
    assert [c.id for c, _ in store.snapshots(REF, after=ids[0], limit=1)] == [ids[1]]


def test_status_views_runs_stages_breaches_and_health(store, clock):
    breached = SlaState(status=SlaStatus.BREACHED, started_at=clock.now() - timedelta(days=2),
                        due_at=clock.now() - timedelta(days=1))
    store.write_page(REF, page(clock, decided(1, clock, stage=Stage.PROSPECT, sla=breached), decided(2, clock)))
    for n, outcome in enumerate((RunOutcome.FAILED, RunOutcome.OK)):
        summary = RunSummary(crm="fake", account="main", run_id=f"run{n}", started_at=clock.now(),
                             finished_at=clock.now(), outcome=outcome, pulled=5 + n, errors=["e"] if n == 0 else [])
        summary.api_calls["contacts"] = 2
        store.record_run(summary)
        clock.advance(timedelta(minutes=5))
    (last,) = store.runs(latest_only=True)
    assert last.run_id == "run1" and last.outcome is RunOutcome.OK and last.counts["pulled"] == 6
    assert last.api_calls == {"contacts": 2}
    assert [r.run_id for r in store.runs(REF)] == ["run1", "run0"]
    assert store.stage_counts() == {REF: {"prospect": 1, "lead": 1}}
    (breach,) = store.open_breaches()
    assert breach.contact_id == synthetic_contact(1, now=clock.now()).id and breach.due_at == breached.due_at
    assert store.count_open_breaches(REF) == 1 and store.count_open_breaches(OTHER) == 0
    store.record_health(REF, Health(reachable=True, authorised=True, budget=Budget(remaining=900, limit=1000)))
    health = store.health(REF)
    assert health is not None and health.budget_remaining == 900 and health.checked_at == clock.now()
    assert store.health(OTHER) is None
