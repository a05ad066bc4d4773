"""The lease an on-demand resync holds (`ResyncLease`), against replicas' lease keepers ticked by hand on SQLite
and PostgreSQL: it preempts the owning replica and fences its run, the replicas' shares ignore it and none takes
the account back while it holds it, it is handed back at once, another resync's lease is left alone, and a resync
whose lease is taken learns it at its next renewal."""

from __future__ import annotations

import pytest

from sync.daemon.resync_lease import LeaseBusy, ResyncLease, is_resync, resync_owner
from sync.state.leases import LeaseLost, LeaseTable, check_fence, fenced


@pytest.fixture
def world(lease_world):
    return lease_world


def hold(world, name: str, owner: str = "resync-host-1") -> ResyncLease:
    return ResyncLease(LeaseTable(world.store.engine, world.clock), name, owner=owner, lease=world.lease,
                       monotonic=world.monotonic)


def test_a_resync_takes_the_account_from_its_replica_which_takes_it_back_once_released(world):
    first, second = world.replica("r1"), world.replica("r2")
    world.rounds(first, second)
    name = first.held()[0]
    replica_fence = first.fence(name)
    before = {lease.name: lease.generation for lease in first.table.leases()}
    lease = hold(world, name)
    with lease as fence:
        assert fence.generation == before[name] + 1 and is_resync(fence.owner)
        with world.store.engine.begin() as conn, fenced(replica_fence), pytest.raises(LeaseLost, match="resync"):
            check_fence(conn)  # the replica's run in flight: its next write is refused
        for _ in range(6):  # the lease keepers tick while the resync runs, past two lease times
            lease.renew()  # what its heartbeat thread does every lease/3 of real time
            world.rounds(first, second, count=1)
        assert fence.valid()
        assert ("r1", name) in world.lost and name not in first.held()
        leases = {lease.name: lease for lease in first.table.leases()}
        assert leases[name].owner == fence.owner  # nobody took it back while the resync held it
        assert world.owners() == {"r1": 4, "r2": 4, fence.owner: 1}  # shares of the two replicas, unchanged
        assert fence.owner not in [replica.replica_id for replica in first.table.replicas()]
        with world.store.engine.begin() as conn, fenced(fence):
            check_fence(conn)  # the resync's own writes pass
    assert {lease.name: lease.owner for lease in first.table.leases()}[name] is None  # released at once
    world.acquired.clear()
    first.tick()
    assert ("r1", name) in world.acquired and world.owners() == {"r1": 5, "r2": 4}


def test_a_resync_releases_the_lease_when_it_fails(world):
    with pytest.raises(KeyboardInterrupt), hold(world, world.names[0]):
        raise KeyboardInterrupt
    assert world.owners() == {None: 1}


def test_a_resync_leaves_an_account_another_resync_holds(world):
    with hold(world, world.names[0], owner="resync-other-7"):
        with pytest.raises(LeaseBusy, match="another resync \\(resync-other-7\\)"), hold(world, world.names[0]):
            pass
        assert world.owners() == {"resync-other-7": 1}


def test_a_resync_whose_lease_is_taken_learns_it_at_its_next_renewal(world):
    lease = hold(world, world.names[0])
    with lease as fence:
        assert fence.valid()
        LeaseTable(world.store.engine, world.clock).take_over(world.names[0], "r9", ttl=world.lease,
                                                             wait=world.lease)
        lease.renew()
        assert not fence.valid()
        with world.store.engine.begin() as conn, fenced(fence), pytest.raises(LeaseLost):
            check_fence(conn)
    assert world.owners() == {"r9": 1}  # its release leaves the new owner's lease alone


def test_a_resync_not_renewed_within_its_lease_stops_trusting_it(world):
    with hold(world, world.names[0]) as fence:
        world.clock.advance(world.lease)  # no renewal (the database away, the process paused)
        assert not fence.valid()


def test_the_resync_owner_names_host_and_pid():
    owner = resync_owner()
    assert is_resync(owner) and owner.rsplit("-", 1)[1].isdigit()
