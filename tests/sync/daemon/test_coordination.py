"""The lease keeper of replicas (`Coordinator`), ticked by hand on SQLite and PostgreSQL: fair shares, a newcomer
taking its share without restarts, takeover of a dead replica's accounts, leases dropped when renewals fail, and
everything handed back on a graceful stop."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sync.daemon.coordination import replica_id
from sync.state.leases import LeaseTable

NAMES = [f"fake/a{n}" for n in range(9)]  # the accounts of `lease_world` (tests/sync/daemon/conftest.py)
LEASE = timedelta(seconds=30)


@pytest.fixture
def world(lease_world):
    return lease_world


def test_three_replicas_share_nine_accounts_three_each(world):
    replicas = [world.replica(name) for name in ("r1", "r2", "r3")]
    world.rounds(*replicas)
    assert world.owners() == {"r1": 3, "r2": 3, "r3": 3}
    assert sorted(a for _, a in world.acquired) == NAMES  # each taken once, each reported for an immediate run
    assert all(len(r.held()) == 3 and r.fence(r.held()[0]) is not None for r in replicas)


def test_a_new_replica_takes_its_share_without_a_restart_of_the_others(world):
    first = world.replica("r1")
    world.rounds(first, count=1)
    assert world.owners() == {"r1": 9}
    second, third = world.replica("r2"), world.replica("r3")
    world.rounds(first, second, third, count=2)
    assert world.owners() == {"r1": 3, "r2": 3, "r3": 3} and world.lost == []


def test_a_run_in_flight_keeps_its_account_through_a_rebalance(world):
    first = world.replica("r1")
    world.rounds(first, count=1)
    world.busy = set(NAMES)
    second = world.replica("r2")
    world.rounds(second, first, count=2)
    assert world.owners() == {"r1": 9}  # nothing idle to hand over yet
    world.busy = set()
    world.rounds(first, second)
    assert world.owners() == {"r1": 5, "r2": 4}


def test_a_dead_replicas_accounts_are_taken_over_with_a_new_generation(world):
    first, second = world.replica("r1"), world.replica("r2")
    world.rounds(first, second)
    theirs = second.held()
    generations = {lease.name: lease.generation for lease in first.table.leases()}
    world.rounds(first, count=5)  # r2 was SIGKILLed: no heartbeat, no renewal, no release
    assert world.owners() == {"r1": 9}
    after = {lease.name: lease.generation for lease in first.table.leases()}
    assert all(after[name] == generations[name] + 1 for name in theirs)
    assert second.fence(theirs[0]) is None  # its own clock says so too, once it runs again


def test_a_replica_whose_renewals_fail_drops_its_leases_and_counts_the_losses(world):
    class Unreachable(LeaseTable):
        down = False

        def heartbeat(self, *args, **kwargs):
            if self.down:
                raise ConnectionError("database unreachable")
            super().heartbeat(*args, **kwargs)

    table = Unreachable(world.store.engine, world.clock)
    replica = world.replica("r1", table)
    world.rounds(replica, count=1)
    fence = replica.fence(NAMES[0])
    assert fence is not None and fence.valid()
    table.down = True
    world.rounds(replica, count=4)
    assert replica.held() == [] and not fence.valid() and replica.fence(NAMES[0]) is None
    assert sorted(a for _, a in world.lost) == NAMES


def test_a_replica_taken_over_while_paused_learns_it_at_its_next_renewal(world):
    first = world.replica("r1")
    world.rounds(first, count=1)
    fence = first.fence(NAMES[0])
    world.clock.advance(LEASE * 2)  # SIGSTOP past the lease
    second = world.replica("r2")
    world.rounds(second, count=1)
    assert not fence.valid()  # its monotonic deadline passed: it pushes nothing, before asking anyone
    first.tick()
    assert world.owners()["r2"] >= 5 and NAMES[0] not in first.held()
    assert (("r1", NAMES[0]) in world.lost)


def test_a_graceful_stop_hands_every_account_over_at_once(world):
    first, second = world.replica("r1"), world.replica("r2")
    world.rounds(first, second)
    first.stop()
    assert "r1" not in world.owners() and "r1" not in [r.replica_id for r in first.table.replicas()]
    second.tick()  # no waiting for expiry, nor for r1's heartbeat to age: it left
    assert world.owners() == {"r2": 9}


def test_the_replica_id_comes_from_the_environment_or_is_host_and_pid():
    assert replica_id({"CRMSYNC_REPLICA_ID": "web-1"}) == "web-1"
    assert replica_id({}).rsplit("-", 1)[1].isdigit()
