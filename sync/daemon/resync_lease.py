"""The lease an on-demand `crmsync resync` holds on a PostgreSQL store, so it never writes beside a replica.

For each account it runs, a resync takes the account's lease as `resync-HOST-PID`: a free or expired lease is
taken; one a live replica holds is taken over with the next generation, so that replica's run in flight is
fenced (its next write raises `LeaseLost` and it stops that run; its coordinator counts a lease loss and claims the
account again later). A live lease of another resync is left to it: two operators' resyncs of one account would
otherwise keep preempting each other. The lease is renewed by a small thread every third of `replicas.lease` and
released at the end, errors and Ctrl-C included, so the replica takes the account back at its next tick rather
than after the lease time.

The resync writes no heartbeat row: it is not a replica, and counting it among the replicas alive would shrink
every replica's fair share for accounts it never claims (see `sync.daemon.coordination`).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from types import TracebackType

import structlog

from sync.daemon.coordination import trusted_for
from sync.errors import CrmsyncError
from sync.state.leases import Fence, LeaseTable

log = structlog.get_logger("crmsync.daemon.resync_lease")

RESYNC_OWNER_PREFIX = "resync-"


def resync_owner() -> str:
    """The lease owner a resync writes as: readable in `crmsync status`, unique per process."""
    return f"{RESYNC_OWNER_PREFIX}{socket.gethostname()}-{os.getpid()}"


def is_resync(owner: str) -> bool:
    return owner.startswith(RESYNC_OWNER_PREFIX)


class LeaseBusy(CrmsyncError):
    """Another resync holds the account's lease: this one leaves that account alone."""


class ResyncLease:
    """`with ResyncLease(...) as fence:` the account's lease, held and renewed for the block; the fence its writes
    are checked against (`sync.state.leases.fenced`)."""

    def __init__(self, table: LeaseTable, name: str, *, owner: str, lease: timedelta,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.table, self.name, self.owner, self.lease = table, name, owner, lease
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._generation = 0
        self._deadline = 0.0
        self._lost = False

    def __enter__(self) -> Fence:
        began = self._monotonic()
        taken, before = self.table.take_over(self.name, self.owner, ttl=self.lease, wait=self.lease, spare=is_resync)
        if taken is None:
            raise LeaseBusy(f"{self.name}: another resync ({before.owner}) is running on this account: wait for it "
                            f"to finish (if it was killed, its lease expires within {self.lease.total_seconds():g} s)")
        self._generation, self._deadline = taken.generation, began + trusted_for(self.lease)
        preempted = before.owner if before.owner is not None and before.expires_at > taken.acquired_at else None
        log.info("resync_lease_taken", account=self.name, owner=self.owner, generation=taken.generation,
                 preempted=preempted)
        self._thread = threading.Thread(target=self._loop, name="crmsync-resync-lease", daemon=True)
        self._thread.start()
        return Fence(self.name, self.owner, taken.generation, valid=self._valid, hold_timeout=self.lease)

    def _valid(self) -> bool:
        with self._lock:
            return not self._lost and self._monotonic() < self._deadline

    def _loop(self) -> None:
        while not self._stop.wait(self.lease.total_seconds() / 3):
            self.renew()

    def renew(self) -> None:
        """Extend the lease; once another owner took it, the fence is invalid for good. Never raises."""
        began = self._monotonic()
        try:
            renewed = self.table.renew({self.name: self._generation}, self.owner, ttl=self.lease)
        except Exception as exc:  # noqa: BLE001 (the database may be away: the fence lapses on its deadline)
            log.warning("resync_lease_renewal_failed", account=self.name, error=type(exc).__name__)
            return
        with self._lock:
            if self.name in renewed:
                self._deadline = began + trusted_for(self.lease)
                return
            self._lost = True
        log.warning("resync_lease_lost", account=self.name, owner=self.owner)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.lease.total_seconds())
        try:  # only while still the owner: a lease taken from this resync stays with its taker
            self.table.release([self.name], self.owner)
            log.info("resync_lease_released", account=self.name, owner=self.owner)
        except Exception as exc:  # noqa: BLE001 (unreachable database: the lease expires on its own)
            log.warning("resync_lease_not_released", account=self.name, error=type(exc).__name__)
