"""Account leases and replica heartbeats in the state store: how replicas sharing one PostgreSQL store agree
that each account has one writer at a time, with no broker and no consensus of our own.

The pattern of procrastinate, Oban and Airflow's HA scheduler, on the database already there:
- each replica upserts a heartbeat row; the replicas alive are those whose heartbeat is within a lease time;
- each account has a lease row (owner, generation, expiry). A replica claims free or expired rows with
  `SELECT ... FOR UPDATE SKIP LOCKED` (two claimers never wait on, nor take, the same row), renews what it holds
  with one UPDATE, and releases on a graceful stop;
- every takeover increments `generation`: the fencing token. A write transaction of an account run checks
  `owner = me AND generation = g` on the lease row (`check_fence`, under a KEY SHARE row lock, which a takeover's
  FOR UPDATE cannot pass until the write commits), so a replica that lost its lease cannot record over the
  new owner. The run's fence travels in a context variable, so the state store's API is unchanged and every
  write of the run (page, push results, tombstones, history, health) is checked without being told.

Expiry times are the writers' wall clocks (replicas are expected to run NTP, as for any lease); a replica also
keeps a monotonic deadline of its own (`Fence.valid`), so one paused past its lease knows it before asking.
Works on SQLite too (row locks are then no-ops: a SQLite store has one process, see `sync.state.single`).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, and_, delete, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from sync.clock import Clock, SystemClock
from sync.state.tables import LeaseRow, ReplicaRow

NEVER = datetime(1970, 1, 1, tzinfo=UTC)


class LeaseLost(Exception):
    """This replica no longer owns the account it was writing for: the run stops, nothing more is recorded."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"lease of {name} lost: {why}")
        self.name = name
        self.why = why


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    owner: str | None
    generation: int
    expires_at: datetime
    acquired_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Replica:
    replica_id: str
    host: str
    started_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True, slots=True)
class Fence:
    """What a run of one account must still hold to write: `valid()` is the holder's own (monotonic) view."""

    name: str
    owner: str
    generation: int
    valid: Callable[[], bool]
    hold_timeout: timedelta = timedelta(seconds=30)


_FENCE: contextvars.ContextVar[Fence | None] = contextvars.ContextVar("crmsync_fence", default=None)


@contextmanager
def fenced(fence: Fence | None) -> Iterator[None]:
    """Every state store write of this thread inside the block checks `fence` (None: unfenced, one process)."""
    token = _FENCE.set(fence)
    try:
        yield
    finally:
        _FENCE.reset(token)


def current_fence() -> Fence | None:
    return _FENCE.get()


def check_fence(conn: Connection) -> None:
    """Raise `LeaseLost` unless the fence of this thread (if any) still holds, in the transaction of `conn`: the
    lease row stays KEY SHARE-locked until the transaction ends, so no takeover lands between check and commit."""
    fence = _FENCE.get()
    if fence is None:
        return
    if not fence.valid():
        raise LeaseLost(fence.name, "expired by this replica's clock")
    if conn.dialect.name == "postgresql":  # a holder frozen inside this transaction must not block a takeover
        millis = max(int(fence.hold_timeout.total_seconds() * 1000), 1000)
        conn.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {millis}"))
    row = conn.execute(select(LeaseRow.owner, LeaseRow.generation).where(LeaseRow.name == fence.name)
                       .with_for_update(read=True, key_share=True)).first()
    if row is None or row.owner != fence.owner or row.generation != fence.generation:
        holder = "nobody" if row is None or row.owner is None else f"{row.owner} (generation {row.generation})"
        raise LeaseLost(fence.name, f"now held by {holder}")


def fair_share(count: int, alive: Sequence[str], me: str) -> int:
    """How many of `count` accounts `me` should hold: an even split over the replicas alive, the remainder going
    to the first ones by id, so every replica computes the same split (9 on 3: 3-3-3; 9 on 4: 3-2-2-2)."""
    members = sorted(set(alive) | {me})
    base, extra = divmod(count, len(members))
    return base + (1 if members.index(me) < extra else 0)


class LeaseTable:
    """The SQL of heartbeats and leases, one short transaction per call."""

    def __init__(self, engine: Engine, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock = clock or SystemClock()

    def _insert(self, conn: Connection, table: type, rows: list[dict[str, object]], keys: list[str],
                updates: Sequence[str] = ()) -> None:
        stmt = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)
        if updates:
            conn.execute(stmt.on_conflict_do_update(index_elements=keys,
                                                    set_={name: stmt.excluded[name] for name in updates}), rows)
        else:
            conn.execute(stmt.on_conflict_do_nothing(index_elements=keys), rows)

    # --- replicas ---

    def heartbeat(self, replica_id: str, *, host: str, started_at: datetime) -> None:
        with self.engine.begin() as conn:
            self._insert(conn, ReplicaRow, [{"replica_id": replica_id, "host": host, "started_at": started_at,
                                             "heartbeat_at": self.clock.now()}], ["replica_id"], ["heartbeat_at"])

    def leave(self, replica_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(ReplicaRow).where(ReplicaRow.replica_id == replica_id))

    def replicas(self) -> list[Replica]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(ReplicaRow).order_by(ReplicaRow.replica_id)).all()
        return [Replica(r.replica_id, r.host, r.started_at, r.heartbeat_at) for r in rows]

    def alive(self, ttl: timedelta) -> list[str]:
        """The replicas whose last heartbeat is within `ttl`, by id."""
        since = self.clock.now() - ttl
        with self.engine.connect() as conn:
            return list(conn.execute(select(ReplicaRow.replica_id).where(ReplicaRow.heartbeat_at >= since)
                                     .order_by(ReplicaRow.replica_id)).scalars())

    # --- leases ---

    def ensure(self, names: Sequence[str]) -> None:
        """A free lease row for each name that has none yet (a new account)."""
        if names:
            with self.engine.begin() as conn:
                self._insert(conn, LeaseRow, [{"name": name, "owner": None, "generation": 0, "expires_at": NEVER,
                                               "acquired_at": None} for name in sorted(set(names))], ["name"])

    def claim(self, names: Sequence[str], owner: str, *, ttl: timedelta, limit: int) -> list[Lease]:
        """Take up to `limit` of `names` that are free or expired (rows another transaction holds are skipped,
        never waited on): each taken lease gets a new generation."""
        if limit <= 0 or not names:
            return []
        now = self.clock.now()
        with self.engine.begin() as conn:
            rows = conn.execute(select(LeaseRow.name, LeaseRow.generation)
                                .where(LeaseRow.name.in_(list(names)),
                                       (LeaseRow.owner.is_(None)) | (LeaseRow.expires_at <= now))
                                .order_by(LeaseRow.name).limit(limit).with_for_update(skip_locked=True)).all()
            taken = []
            for name, generation in rows:
                conn.execute(update(LeaseRow).where(LeaseRow.name == name).values(
                    owner=owner, generation=generation + 1, expires_at=now + ttl, acquired_at=now))
                taken.append(Lease(name, owner, generation + 1, now + ttl, now))
        return taken

    def take_over(self, name: str, owner: str, *, ttl: timedelta, wait: timedelta,
                  spare: Callable[[str], bool] = lambda holder: False) -> tuple[Lease | None, Lease]:
        """Take `name` from whoever holds it (an on-demand resync preempting a replica): (the lease taken, the lease
        as it was). The row's FOR UPDATE waits, up to `wait`, for a write of the holder in flight (its KEY SHARE
        lock) to commit; the new generation then fences the holder's next write. A live holder that `spare`
        names keeps the lease: (None, its lease)."""
        self.ensure([name])
        now = self.clock.now()
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                millis = max(int(wait.total_seconds() * 1000), 1000)
                conn.execute(text(f"SET LOCAL lock_timeout = {millis}"))
            row = conn.execute(select(LeaseRow).where(LeaseRow.name == name).with_for_update()).one()
            before = Lease(row.name, row.owner, row.generation, row.expires_at, row.acquired_at)
            if row.owner is not None and row.expires_at > now and spare(row.owner):
                return None, before
            conn.execute(update(LeaseRow).where(LeaseRow.name == name).values(
                owner=owner, generation=row.generation + 1, expires_at=now + ttl, acquired_at=now))
        return Lease(name, owner, row.generation + 1, now + ttl, now), before

    def renew(self, held: Mapping[str, int], owner: str, *, ttl: timedelta) -> set[str]:
        """Extend the leases `owner` still holds at the generation it knows (name -> generation); the names
        renewed (the others were taken over)."""
        if not held:
            return set()
        with self.engine.begin() as conn:
            rows = conn.execute(update(LeaseRow).where(LeaseRow.name.in_(list(held)), LeaseRow.owner == owner)
                                .values(expires_at=self.clock.now() + ttl)
                                .returning(LeaseRow.name, LeaseRow.generation)).all()
        return {name for name, generation in rows if held.get(name) == generation}

    def release(self, names: Sequence[str], owner: str) -> None:
        """Give leases back at once (a graceful stop, a rebalance): the next claimer need not wait for expiry."""
        if names:
            with self.engine.begin() as conn:
                conn.execute(update(LeaseRow).where(and_(LeaseRow.name.in_(list(names)), LeaseRow.owner == owner))
                             .values(owner=None, expires_at=self.clock.now()))

    def leases(self) -> list[Lease]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(LeaseRow).order_by(LeaseRow.name)).all()
        return [Lease(r.name, r.owner, r.generation, r.expires_at, r.acquired_at) for r in rows]
