"""Deleted and merged persons are noticed: Pipedrive's lists never show them, so the connector compares once a
day the ids Pipedrive still has with the engine's (`reconcile.py`), and a push that meets a 404 or 410 says
the person is gone. Either way the engine stops managing them: out of the funnel, the SLA timers and the
sweeps."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.pipedrive.paging import PHASE_RECONCILE, Window
from sync.contract import FieldUpdate, PullPage
from sync.daemon.cycle import run_cycle
from sync.daemon.engine import RunOptions
from sync.state import AccountRef, PageWrite, StateStore
from sync.synthetic import synthetic_contacts
from sync.testing import StandInRules

REF = AccountRef("pipedrive", "acme")


def pull(connector, cursor=None) -> tuple[list[PullPage], str]:
    pages = list(connector.pull(cursor))
    return pages, pages[-1].cursor


def deleted(pages: list[PullPage]) -> list[str]:
    return sorted(contact_id for page in pages for contact_id in page.deleted_ids)


def with_history(contacts, count=2):
    return [c for c in contacts if c.deals and c.activities][:count]


def test_a_push_to_a_deleted_or_purged_person_says_it_is_gone(sandbox, make_connector, clock):
    ids = list(sandbox.seed(synthetic_contacts(3)).values())
    connector = make_connector()
    connector.ensure_fields()
    sandbox.delete_contact(ids[0])
    sandbox.delete_contact(ids[1])
    clock.advance(timedelta(days=30))  # ids[1] and ids[0] are purged: unknown ids from now on
    sandbox.delete_contact(ids[2])  # soft-deleted: 410
    results = connector.push([FieldUpdate(native, {"score": 5}) for native in ids])
    assert [r.gone for r in results] == [True, True, True] and not any(r.ok for r in results)
    assert [r.error.code for r in results] == ["not_found", "not_found", "gone"]
    assert all(native in r.error.message and "no longer exists" in r.error.message for native, r in zip(ids, results))


def test_the_ids_pipedrive_no_longer_has_are_reported_once_a_day(sandbox, make_connector, clock):
    contacts = list(synthetic_contacts(12))
    ids = [sandbox.seed([c])[c.id] for c in contacts]
    loser, survivor = (sandbox.seed([c])[c.id] for c in with_history(synthetic_contacts(40, start=500)))
    managed = [*ids, loser, survivor, "not-a-pipedrive-id"]
    connector = make_connector(page_size=5)
    connector.use_managed_ids(lambda: iter(sorted(managed)))
    pages, cursor = pull(connector)  # a full pull compares with what it read, for no call
    assert deleted(pages) == [] and connector.api_calls["reconcile"] == 0
    clock.advance(timedelta(hours=1))
    sandbox.delete_contact(ids[3])
    sandbox.merge_contacts(loser, survivor)
    clock.advance(timedelta(hours=1))
    pages, cursor = pull(connector, cursor)
    assert deleted(pages) == [] and connector.api_calls["reconcile"] == 0  # not due before 24 hours
    assert [c.id for p in pages for c in p.contacts] == [survivor]  # the merge moved deals onto it
    clock.advance(timedelta(hours=23))
    pages, cursor = pull(connector, cursor)
    assert deleted(pages) == sorted([ids[3], loser])
    assert all(page.merged_into == {} for page in pages)  # the lists do not name the survivor
    assert connector.api_calls["reconcile"] == math.ceil(13 / 5)  # every live id, page_size a call
    listing = [r for r in sandbox.requests.all() if r.path == "/api/v2/persons" and "sort_by=id" in r.query]
    assert listing and all("custom_fields=" in r.query and "include_fields" not in r.query for r in listing)
    clock.advance(timedelta(minutes=5))
    pages, cursor = pull(connector, cursor)
    assert deleted(pages) == [] and connector.api_calls["reconcile"] == math.ceil(13 / 5)


def test_a_comparison_cut_short_resumes_on_the_next_pull(sandbox, make_connector, clock):
    ids = list(sandbox.seed(synthetic_contacts(6)).values())
    connector = make_connector()
    connector.use_managed_ids(lambda: iter(ids))
    _, cursor = pull(connector)
    clock.advance(timedelta(hours=25))
    sandbox.delete_contact(ids[0])
    pages = connector.pull(cursor)
    window_end = next(pages)
    assert Window.decode(window_end.cursor, overlap=timedelta(seconds=60)).phase == PHASE_RECONCILE
    pages.close()  # the daemon stopped before the comparison
    resumed, cursor = pull(make_connector(), window_end.cursor)
    assert resumed and deleted(resumed) == []  # no engine ids offered to this connector: nothing compared
    again = make_connector()
    again.use_managed_ids(lambda: iter(ids))
    resumed, cursor = pull(again, window_end.cursor)
    assert deleted(resumed) == [ids[0]]
    assert Window.decode(cursor, overlap=timedelta(seconds=60)).reconciled is not None


def test_without_the_engine_or_with_the_setting_off_nothing_is_listed(sandbox, make_connector, clock):
    ids = list(sandbox.seed(synthetic_contacts(4)).values())
    off = make_connector(reconcile_every_h=0)
    off.use_managed_ids(lambda: iter(ids))
    _, cursor = pull(off)
    clock.advance(timedelta(days=2))
    sandbox.delete_contact(ids[0])
    pages, _ = pull(off, cursor)
    alone = make_connector()
    pages += pull(alone, cursor)[0]
    assert deleted(pages) == [] and off.api_calls["reconcile"] == alone.api_calls["reconcile"] == 0


# -- end to end: the engine stops managing them ---------------------------------------------------------

@pytest.fixture
def store(tmp_path: Path, clock) -> Iterator[StateStore]:
    with StateStore(f"sqlite:///{tmp_path / 'state.db'}", clock=clock) as opened:
        yield opened


def cycle(store, connector, clock):
    return run_cycle(store=store, connector=connector, rules=StandInRules, clock=clock,
                     options=RunOptions(health_interval=None))


def managed(store) -> set[str]:
    return set(store.managed_ids(REF))


def test_the_engine_tombstones_a_person_a_push_found_gone(sandbox, make_connector, store, clock):
    ids = list(sandbox.seed(synthetic_contacts(5)).values())
    connector = make_connector()
    connector.ensure_fields()
    assert cycle(store, connector, clock).pulled == 5 and managed(store) == set(ids)
    sandbox.delete_contact(ids[2])
    clock.advance(timedelta(minutes=5))
    # a write decided before the deletion, replayed from the outbox (a crash, a retry)
    store.write_page(REF, PageWrite(run_id="earlier", rules_version="standin-1", enqueue={ids[2]: {"score": 99}}))
    summary = cycle(store, connector, clock)
    assert summary.deleted == 1 and managed(store) == set(ids) - {ids[2]}
    assert store.pending_updates(REF) == [] and ids[2] not in {b.contact_id for b in store.open_breaches(REF)}
    assert sum(store.classification_counts()[REF].values()) == 4  # out of the funnel


def test_the_engine_tombstones_deleted_and_merged_persons_found_by_the_daily_comparison(
        sandbox, make_connector, store, clock):
    contacts = list(synthetic_contacts(8))
    ids = [sandbox.seed([c])[c.id] for c in contacts]
    loser, survivor = (sandbox.seed([c])[c.id] for c in with_history(synthetic_contacts(40, start=500)))
    connector = make_connector()
    connector.ensure_fields()
    cycle(store, connector, clock)
    assert managed(store) == {*ids, loser, survivor}
    sandbox.delete_contact(ids[0])
    sandbox.merge_contacts(loser, survivor)
    clock.advance(timedelta(hours=25))
    summary = cycle(store, connector, clock)
    assert summary.deleted == 2 and managed(store) == {*ids[1:], survivor}
    assert connector.api_calls["reconcile"] == 1
    snapshots = {c.id for c, _ in store.snapshots(REF, limit=100)}
    assert ids[0] not in snapshots and loser not in snapshots and survivor in snapshots
