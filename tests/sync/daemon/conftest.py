"""A fake CRM, a SQLite state store and the stand-in rules, wired the way the daemon wires them; replicas' lease
keepers ticked by hand (`lease_world`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from sync.clock import FrozenClock
from sync.daemon.coordination import Coordinator, CoordinatorHooks
from sync.daemon.cycle import run_cycle
from sync.daemon.engine import RunOptions
from sync.daemon.report import RunSummary
from sync.state import StateStore
from sync.state.leases import LeaseTable
from sync.synthetic import synthetic_contacts
from sync.testing import FakeConnector, FakeSandbox, StandInRules
from sync.testing.conformance import closing_factory


class World:
    """One fake CRM account and its state store; `restart()` is what a process restart does."""

    def __init__(self, tmp_path: Path, clock: FrozenClock, contacts: int = 30, *, account: str = "main",
                 page_size: int = 10, batch_size: int = 7) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.db = f"sqlite:///{tmp_path / f'{account}.db'}"
        self.sandbox = FakeSandbox(clock=clock, page_size=page_size, batch_size=batch_size).start()
        self.ids = self.sandbox.seed(synthetic_contacts(contacts, now=clock.now()))
        self.account = account
        self.rules: StandInRules = StandInRules()
        self.fault = None
        self.store = StateStore(self.db, clock=clock)
        self.connector = FakeConnector(self.sandbox.settings(), account=account, clock=clock)

    def restart(self, fault=None) -> None:
        self.store.close()
        self.store = StateStore(self.db, clock=self.clock, fault=fault)
        self.connector = FakeConnector(self.sandbox.settings(), account=self.account, clock=self.clock)

    def cycle(self, stop: threading.Event | None = None, **kwargs) -> RunSummary:
        return run_cycle(store=self.store, connector=self.connector, rules=lambda: self.rules, clock=self.clock,
                         stop=stop, options=kwargs.pop("options", RunOptions(health_interval=None)), **kwargs)

    def close(self) -> None:
        self.store.close()
        self.sandbox.stop()


@pytest.fixture
def make_world(tmp_path: Path, clock: FrozenClock) -> Iterator[Callable[..., World]]:
    """Open more worlds (other accounts, a reference run next to a crashed one); all closed at the end."""
    def build(name: str, contacts: int = 30, *, account: str = "main", **kwargs: Any) -> World:
        return World(tmp_path / name, clock, contacts, account=account, **kwargs)

    with closing_factory(build) as make:
        yield make


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    return make_world("main")


LEASE_NAMES = [f"fake/a{n}" for n in range(9)]
LEASE_TIME = timedelta(seconds=30)


class Ticking:
    """Replicas on one store, one FrozenClock for the database's wall time and the replicas' monotonic time."""

    def __init__(self, store: StateStore, clock: FrozenClock) -> None:
        self.store, self.clock = store, clock
        self.origin = clock.now()
        self.acquired: list[tuple[str, str]] = []
        self.lost: list[tuple[str, str]] = []
        self.busy: set[str] = set()
        self.names, self.lease = LEASE_NAMES, LEASE_TIME

    def monotonic(self) -> float:
        return (self.clock.now() - self.origin).total_seconds()

    def replica(self, name: str, table: LeaseTable | None = None) -> Coordinator:
        hooks = CoordinatorHooks(on_acquired=lambda account: self.acquired.append((name, account)),
                                 on_lost=lambda account, why: self.lost.append((name, account)),
                                 busy=lambda: set(self.busy))
        coordinator = Coordinator(table or LeaseTable(self.store.engine, self.clock), LEASE_NAMES, replica=name,
                                  lease=LEASE_TIME, hooks=hooks, clock=self.clock, monotonic=self.monotonic)
        coordinator.register()
        return coordinator

    def rounds(self, *replicas: Coordinator, count: int = 3) -> None:
        for _ in range(count):
            for replica in replicas:
                replica.tick()
            self.clock.advance(LEASE_TIME / 3)

    def owners(self) -> Counter[str | None]:
        return Counter(lease.owner for lease in LeaseTable(self.store.engine, self.clock).leases())


@pytest.fixture
def lease_world(store_url: str, clock: FrozenClock) -> Iterator[Ticking]:
    with StateStore(store_url, clock=clock) as store:
        yield Ticking(store, clock)
