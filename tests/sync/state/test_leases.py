"""Account leases on the state store (SQLite and PostgreSQL): claim, renew, takeover, release, and the fence that
keeps a replica which lost an account from recording anything for it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.contract import Budget, Health, PushResult
from sync.state import AccountRef, PageWrite, PendingUpdate, PushOutcome
from sync.state.leases import Fence, LeaseLost, LeaseTable, fair_share, fenced
from sync.state.single import DaemonLock, StoreInUse

REF = AccountRef("fake", "main")
NAMES = [f"fake/a{n}" for n in range(9)]
TTL = timedelta(seconds=30)


@pytest.fixture
def table(store, clock):
    leases = LeaseTable(store.engine, clock)
    leases.ensure(NAMES)
    return leases


def fence_of(lease, *, valid=True):
    return Fence(lease.name, lease.owner, lease.generation, valid=lambda: valid)


def test_a_claim_takes_free_leases_up_to_the_limit_and_no_one_else_can_take_them(table):
    taken = table.claim(NAMES, "r1", ttl=TTL, limit=4)
    assert [lease.name for lease in taken] == NAMES[:4] and {lease.generation for lease in taken} == {1}
    assert [lease.name for lease in table.claim(NAMES, "r2", ttl=TTL, limit=9)] == NAMES[4:]
    assert table.claim(NAMES, "r3", ttl=TTL, limit=9) == []
    owners = {lease.name: lease.owner for lease in table.leases()}
    assert [owners[name] for name in NAMES] == ["r1"] * 4 + ["r2"] * 5


def test_renewal_keeps_a_lease_past_its_first_expiry(table, clock):
    (lease,) = table.claim(NAMES, "r1", ttl=TTL, limit=1)
    clock.advance(TTL * 2 / 3)
    assert table.renew({lease.name: lease.generation}, "r1", ttl=TTL) == {lease.name}
    clock.advance(TTL * 2 / 3)  # past the first expiry, within the renewed one
    assert table.claim([lease.name], "r2", ttl=TTL, limit=1) == []


def test_an_expired_lease_is_taken_over_with_a_new_generation_and_the_old_owner_cannot_renew_it(table, clock):
    (lease,) = table.claim(NAMES, "r1", ttl=TTL, limit=1)
    clock.advance(TTL + timedelta(seconds=1))
    (taken,) = table.claim([lease.name], "r2", ttl=TTL, limit=1)
    assert taken.owner == "r2" and taken.generation == lease.generation + 1
    assert table.renew({lease.name: lease.generation}, "r1", ttl=TTL) == set()


def test_a_released_lease_is_free_at_once_and_keeps_its_generation_count(table):
    (lease,) = table.claim(NAMES, "r1", ttl=TTL, limit=1)
    table.release([lease.name], "r2")  # not r2's to release
    assert table.claim([lease.name], "r2", ttl=TTL, limit=1) == []
    table.release([lease.name], "r1")
    (again,) = table.claim([lease.name], "r2", ttl=TTL, limit=1)
    assert again.generation == lease.generation + 1


def test_heartbeats_say_which_replicas_are_alive(table, clock):
    table.heartbeat("r1", host="h", started_at=clock.now())
    clock.advance(TTL / 2)
    table.heartbeat("r2", host="h", started_at=clock.now())
    assert table.alive(TTL) == ["r1", "r2"]
    clock.advance(TTL * 2 / 3)
    assert table.alive(TTL) == ["r2"]
    table.leave("r2")
    assert [replica.replica_id for replica in table.replicas()] == ["r1"]


def _write(store, run="r1"):
    store.write_page(REF, PageWrite(run_id=run, rules_version="v1", enqueue={"c1": {"score": 1}}))


def test_the_owner_at_its_generation_writes_and_a_stale_owner_is_fenced_off(store, table, clock):
    table.ensure(["fake/main"])
    (old,) = table.claim(["fake/main"], "r1", ttl=TTL, limit=1)
    with fenced(fence_of(old)):
        _write(store)
        store.check_lease()
    clock.advance(TTL + timedelta(seconds=1))
    (new,) = table.claim(["fake/main"], "r2", ttl=TTL, limit=1)
    with fenced(fence_of(old)):
        with pytest.raises(LeaseLost, match="now held by r2"):
            store.check_lease()
        with pytest.raises(LeaseLost):
            _write(store, run="stale")
        pending = PendingUpdate(contact_id="c1", values={"score": 1}, versions={"score": 1}, previous={},
                                rules_version="v1")
        with pytest.raises(LeaseLost):
            store.record_push(REF, [PushOutcome(pending, PushResult("c1", ok=True))], run_id="stale", max_attempts=3)
        with pytest.raises(LeaseLost):
            store.record_health(REF, Health(reachable=True, authorised=True))
    assert store.audit(REF) == [] and store.outbox_size(REF) == 1 and store.health(REF) is None
    with fenced(fence_of(new)):
        _write(store, run="new")


def test_a_fence_its_holder_no_longer_trusts_refuses_before_asking_the_database(store, table):
    table.ensure(["fake/main"])
    (lease,) = table.claim(["fake/main"], "r1", ttl=TTL, limit=1)
    with fenced(fence_of(lease, valid=False)), pytest.raises(LeaseLost, match="clock"):
        _write(store)
    assert store.outbox_size(REF) == 0


def test_no_fence_means_no_lease_check(store):
    _write(store)
    store.check_lease()
    assert store.outbox_size(REF) == 1


def test_budget_figures_past_32_bits_are_stored(store):
    huge = 2**31 + 12_345
    store.record_health(REF, Health(reachable=True, authorised=True, budget=Budget(remaining=huge, limit=huge * 2)))
    record = store.health(REF)
    assert record is not None and (record.budget_remaining, record.budget_limit) == (huge, huge * 2)


def test_nine_accounts_on_three_replicas_are_three_each_and_a_fourth_gets_two():
    assert [fair_share(9, ["a", "b", "c"], me) for me in "abc"] == [3, 3, 3]
    assert sorted(fair_share(9, ["a", "b", "c", "d"], me) for me in "abcd") == [2, 2, 2, 3]


@given(st.integers(0, 200), st.sets(st.text("abcdef", min_size=1, max_size=3), min_size=1, max_size=12))
def test_fair_shares_add_up_and_differ_by_one_at_most(count, alive):
    shares = [fair_share(count, sorted(alive), me) for me in alive]
    assert sum(shares) == count and max(shares) - min(shares) <= 1


def test_a_second_daemon_on_one_sqlite_file_is_refused_naming_postgresql(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    first = DaemonLock.take(url)
    assert first is not None
    with pytest.raises(StoreInUse, match="PostgreSQL") as refused:
        DaemonLock.take(url)
    assert "state.db" in refused.value.user_message
    first.release()
    DaemonLock.take(url).release()  # free again once the first daemon is gone
    assert DaemonLock.take("sqlite://") is None and DaemonLock.take("postgresql://u@h/db") is None
