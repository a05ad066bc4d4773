"""Replicas sharing one PostgreSQL store: which accounts this process owns, kept current by a heartbeat thread.

A replica registers at start (its heartbeat), then every `lease / 3` the `Coordinator`:
1. drops the leases whose own (monotonic) deadline has passed: renewals failed for that long (the database is
   out of reach, the process was paused), so it pushes nothing more for them rather than pushing blind;
2. heartbeats and renews what it holds; a lease whose generation moved was taken over: lost;
3. computes its fair share over the replicas alive (`sync.state.leases.fair_share`), releases what is over it
   (idle accounts only: a run in flight keeps its account until it ends) and claims free or expired leases up
   to it. A newly taken account is run at once (`on_acquired`), so a failover resumes within a lease time plus
   one tick, from the durable cursor and outbox.

A graceful stop (`stop`, after the runs in flight drained) releases every lease and deletes the heartbeat, so a
rolling deploy's new replica takes the accounts at its next tick instead of waiting for expiry.

The SQL lives in `sync.state.leases`; the scheduler asks `fence(name)` before each run, and the run carries the
fence into every write transaction.

An on-demand `crmsync resync` (`sync.daemon.resync_lease`) takes an account's lease from its replica for its
duration. It writes no heartbeat row, so it is not counted among the replicas alive and the fair shares stay
those of the replicas; the replica that lost the account is one below its share, but `claim` never takes a live
lease, so it waits, and takes the account back at its first tick after the resync releases it.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import structlog

from sync.clock import Clock, SystemClock
from sync.state.leases import Fence, LeaseTable, fair_share

log = structlog.get_logger("crmsync.daemon.coordination")

REPLICA_ID_ENV = "CRMSYNC_REPLICA_ID"


def replica_id(environ: dict[str, str] | None = None) -> str:
    """`$CRMSYNC_REPLICA_ID`, else `HOSTNAME-PID` (unique per process, readable in `crmsync status`)."""
    environ = dict(os.environ) if environ is None else environ
    return environ.get(REPLICA_ID_ENV, "").strip() or f"{socket.gethostname()}-{os.getpid()}"


def trusted_for(lease: timedelta) -> float:
    """How many seconds after a renewal began its holder trusts the lease: the lease less a margin for clock skew."""
    return lease.total_seconds() * 5 / 6


@dataclass
class _Held:
    generation: int
    deadline: float  # time.monotonic() after which this replica no longer trusts the lease


@dataclass(frozen=True, slots=True)
class CoordinatorHooks:
    """What the daemon does when ownership changes; each defaults to nothing."""

    on_acquired: Callable[[str], None] = lambda name: None
    on_lost: Callable[[str, str], None] = lambda name, why: None
    on_tick: Callable[[int, int], None] = lambda held, alive: None  # leases held, replicas alive
    busy: Callable[[], set[str]] = set  # accounts with a run in flight: never released for a rebalance


class Coordinator:
    """This replica's leases over `names` (one per account), renewed by a thread of its own."""

    def __init__(self, table: LeaseTable, names: Sequence[str], *, replica: str, lease: timedelta,
                 hooks: CoordinatorHooks | None = None, clock: Clock | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if lease.total_seconds() <= 0:
            raise ValueError("the lease time must be positive")
        self.table = table
        self.names = sorted(set(names))
        self.replica = replica
        self.lease = lease
        self.hooks = hooks or CoordinatorHooks()
        self.clock = clock or SystemClock()
        self._monotonic = monotonic
        self._host = socket.gethostname()
        self._started_at = self.clock.now()
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def tick_interval(self) -> float:
        return self.lease.total_seconds() / 3

    @property
    def _trust(self) -> float:
        return trusted_for(self.lease)

    # -- what the runs ask ---------------------------------------------------------------------------
    def held(self) -> list[str]:
        with self._lock:
            return sorted(name for name, held in self._held.items() if self._monotonic() < held.deadline)

    def fence(self, name: str) -> Fence | None:
        """The fence a run of `name` writes under, or None when this replica does not hold it now."""
        with self._lock:
            held = self._held.get(name)
            if held is None or self._monotonic() >= held.deadline:
                return None
            generation = held.generation
        return Fence(name, self.replica, generation, valid=lambda: self._still_holds(name, generation),
                     hold_timeout=self.lease)

    def _still_holds(self, name: str, generation: int) -> bool:
        with self._lock:
            held = self._held.get(name)
            return held is not None and held.generation == generation and self._monotonic() < held.deadline

    # -- the loop ------------------------------------------------------------------------------------
    def register(self) -> None:
        """Make the accounts' lease rows and this replica's heartbeat exist."""
        self.table.ensure(self.names)
        self.table.heartbeat(self.replica, host=self._host, started_at=self._started_at)

    def start(self) -> None:
        """Register, then keep a fair share on a thread. The first claim waits one tick: replicas started together
        all count each other by then, rather than the first one up taking every account and handing most back."""
        self.register()
        self._thread = threading.Thread(target=self._loop, name="crmsync-leases", daemon=True)
        self._thread.start()
        log.info("replica_started", replica=self.replica, lease_s=self.lease.total_seconds(), accounts=len(self.names))

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_interval):
            self.tick()

    def tick(self) -> None:
        """One round: drop what expired locally, heartbeat, renew, rebalance. Never raises."""
        self._drop_expired()
        try:
            began = self._monotonic()
            self.table.heartbeat(self.replica, host=self._host, started_at=self._started_at)
            self._renew(began)
            alive = self.table.alive(self.lease)
            self._rebalance(alive, began)
        except Exception as exc:  # noqa: BLE001 (the database may be away: leases lapse on their deadline)
            log.warning("lease_renewal_failed", replica=self.replica, error=type(exc).__name__,
                        held=self.held(), message=str(exc)[:200])
            alive = []
        self.hooks.on_tick(len(self.held()), len(alive))

    def _drop_expired(self) -> None:
        now = self._monotonic()
        with self._lock:
            expired = [name for name, held in self._held.items() if now >= held.deadline]
            for name in expired:
                del self._held[name]
        for name in expired:
            self._lost(name, "not renewed within the lease time")
        if expired:  # best effort: a database that answers again learns it at once
            try:
                self.table.release(expired, self.replica)
            except Exception:  # noqa: BLE001 (unreachable: the rows expire on their own)
                pass

    def _renew(self, began: float) -> None:
        with self._lock:
            known = {name: held.generation for name, held in self._held.items()}
        renewed = self.table.renew(known, self.replica, ttl=self.lease)
        lost = []
        with self._lock:
            for name in known:
                if name in renewed and name in self._held:
                    self._held[name].deadline = began + self._trust
                elif self._held.pop(name, None) is not None:
                    lost.append(name)
        for name in lost:
            self._lost(name, "taken over by another replica or a resync")

    def _rebalance(self, alive: list[str], began: float) -> None:
        target = fair_share(len(self.names), alive, self.replica)
        mine = self.held()
        if len(mine) > target:
            busy = self.hooks.busy()
            spare = [name for name in reversed(mine) if name not in busy][:len(mine) - target]
            if spare:
                with self._lock:
                    for name in spare:
                        self._held.pop(name, None)
                self.table.release(spare, self.replica)
                log.info("leases_released", replica=self.replica, accounts=spare, share=target, alive=len(alive))
        elif len(mine) < target:
            taken = self.table.claim([n for n in self.names if n not in mine], self.replica, ttl=self.lease,
                                     limit=target - len(mine))
            with self._lock:
                for lease in taken:
                    self._held[lease.name] = _Held(lease.generation, began + self._trust)
            for lease in taken:
                log.info("lease_acquired", replica=self.replica, account=lease.name, generation=lease.generation,
                         share=target, alive=len(alive))
                self.hooks.on_acquired(lease.name)

    def _lost(self, name: str, why: str) -> None:
        log.warning("lease_lost", replica=self.replica, account=name, reason=why)
        self.hooks.on_lost(name, why)

    def stop(self) -> None:
        """Stop renewing and hand everything back (call once the runs in flight have ended)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.tick_interval + 5)
        with self._lock:
            names = sorted(self._held)
            self._held.clear()
        try:
            self.table.release(names, self.replica)
            self.table.leave(self.replica)
            log.info("leases_handed_over", replica=self.replica, accounts=names)
        except Exception as exc:  # noqa: BLE001 (unreachable database: the leases expire on their own)
            log.warning("leases_not_released", replica=self.replica, error=type(exc).__name__, accounts=names)
