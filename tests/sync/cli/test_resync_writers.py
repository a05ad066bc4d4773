"""`crmsync resync` never writes beside another writer of the same store: on PostgreSQL it takes the account's
lease from the replica that owns it (the replica's run fenced, the lease handed back at the end) and its own
writes are fenced; on SQLite it is refused while a daemon runs on the file, and holds the file's lock itself."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sync import registry
from sync.cli import app
from sync.daemon.coordination import Coordinator, CoordinatorHooks
from sync.daemon.resync_lease import is_resync
from sync.log import reset_logging
from sync.state import AccountRef, StateStore
from sync.state.leases import LeaseLost, LeaseTable, check_fence, fenced
from sync.state.single import DaemonLock, StoreInUse
from sync.testing import FakeConnector, postgres_schema, postgres_url_for_test

CONFIG = """\
state:
  url: "{url}"
replicas:
  lease: 30s
accounts:
  - name: alpha
    crm: fake
    sandbox: true
    sandbox_contacts: 12
    settings:
      batch_size: 4
"""
ALPHA = AccountRef("fake", "alpha")
LEASE = "fake/alpha"


def write_config(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(registry, "RULES_LOADER", "sync.testing:load_rules")
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "crmsync.yaml"
    path.write_text(CONFIG.format(url=url))
    return path


def resync(config: Path, *args: str) -> tuple[int, str]:
    try:
        result = CliRunner().invoke(app, ["resync", "--config", str(config), "--account", "alpha", *args])
    finally:
        reset_logging()  # the command logged to the runner's stream, closed now
    return result.exit_code, result.output


def on_push(monkeypatch: pytest.MonkeyPatch, hook: Callable[[int], None]) -> None:
    """Call `hook(batch number)` as each push batch reaches the CRM."""
    original, batches = FakeConnector.push, []

    def push(self, updates):
        batches.append(len(updates))
        hook(len(batches))
        return original(self, updates)
    monkeypatch.setattr(FakeConnector, "push", push)


# --- PostgreSQL: leases -------------------------------------------------------------------------------------


@pytest.fixture
def postgres(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, StateStore]]:
    with postgres_schema(postgres_url_for_test()) as url, StateStore(url) as store:
        yield write_config(tmp_path, url, monkeypatch), store


@pytest.mark.postgres
def test_a_resync_takes_the_lease_from_its_replica_fences_it_and_hands_it_back(postgres, monkeypatch):
    config, store = postgres
    table = LeaseTable(store.engine)
    lost: list[str] = []
    replica = Coordinator(table, [LEASE], replica="r1", lease=timedelta(seconds=30),
                          hooks=CoordinatorHooks(on_lost=lambda name, why: lost.append(why)))
    replica.register()
    replica.tick()
    replica_fence = replica.fence(LEASE)
    assert replica_fence is not None
    owners: list[str | None] = []
    on_push(monkeypatch, lambda batch: owners.extend(lease.owner for lease in table.leases()))

    code, out = resync(config, "--full")

    assert code == 0, out
    assert len(owners) == 3 and all(owner is not None and is_resync(owner) for owner in owners)  # held throughout
    with store.engine.begin() as conn, fenced(replica_fence), pytest.raises(LeaseLost):
        check_fence(conn)  # the replica's run that was in flight writes nothing more
    [lease] = table.leases()
    assert lease.owner is None and lease.generation == 2  # taken over, then released at once
    replica.tick()  # its renewal finds the lease lost (a lease loss counted), and its share takes it back at once
    assert lost == ["taken over by another replica or a resync"]
    assert replica.held() == [LEASE] and table.leases()[0].generation == 3
    assert [run.kind for run in store.runs(ALPHA)] == ["resync"]


@pytest.mark.postgres
def test_a_resync_whose_lease_is_taken_mid_run_stops_and_records_nothing_more(postgres, monkeypatch):
    config, store = postgres
    table = LeaseTable(store.engine)

    def take_it(batch: int) -> None:
        if batch == 2:  # a replica takes the account while the resync's second batch is on its way to the CRM
            table.take_over(LEASE, "r9", ttl=timedelta(seconds=30), wait=timedelta(seconds=5))
    on_push(monkeypatch, take_it)

    code, out = resync(config, "--full")

    assert code == 1, out
    assert "fake/alpha: the resync stopped: the account's lease was taken while it ran (now held by r9 " \
           "(generation 2)); nothing more was recorded: run the resync again" in " ".join(out.split())
    assert {entry.contact_id for entry in store.audit(ALPHA)} and len(store.audit(ALPHA)) == 4 * 13
    assert store.runs(ALPHA) == []  # the first batch's results were recorded; the second's and the run were not
    assert table.leases()[0].owner == "r9"  # the resync's release left the new owner's lease alone


@pytest.mark.postgres
def test_a_dry_run_takes_no_lease(postgres):
    config, store = postgres
    table = LeaseTable(store.engine)
    table.ensure([LEASE])
    table.claim([LEASE], "r1", ttl=timedelta(seconds=30), limit=1)
    code, out = resync(config, "--dry-run")
    assert code == 0, out
    assert [(lease.owner, lease.generation) for lease in table.leases()] == [("r1", 1)]


# --- SQLite: the one-process lock ---------------------------------------------------------------------------


@pytest.fixture
def sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    url = f"sqlite:///{tmp_path / 'state' / 'crmsync.db'}"
    return write_config(tmp_path, url, monkeypatch), url


def test_a_resync_on_a_sqlite_store_a_daemon_runs_on_is_refused_saying_why(sqlite, monkeypatch):
    config, url = sqlite
    pushes: list[int] = []
    on_push(monkeypatch, pushes.append)
    daemon = DaemonLock.take(url)
    try:
        code, out = resync(config, "--full")
        assert code == 4
        said = " ".join(out.split())
        assert f"a crmsync daemon (pid {os.getpid()}) is running on the SQLite state store" in said
        assert "Stop the daemon first, or use a PostgreSQL state store, where a resync runs beside the running " \
               "replicas" in said
        assert pushes == []
        code, out = resync(config, "--dry-run")  # writes nothing: runs anyway
        assert code == 0, out
    finally:
        assert daemon is not None
        daemon.release()
    assert pushes == []


def test_a_resync_holds_the_sqlite_lock_while_it_writes(sqlite, monkeypatch):
    config, url = sqlite
    refused: list[StoreInUse] = []

    def another_writer(batch: int) -> None:  # a daemon (or another resync) starting during the resync
        with pytest.raises(StoreInUse) as error:
            DaemonLock.take(url)
        refused.append(error.value)
    on_push(monkeypatch, another_writer)

    code, out = resync(config, "--full")

    assert code == 0, out
    assert len(refused) == 3 and all(error.holder == "resync" for error in refused)
    assert "a crmsync resync (pid" in refused[0].user_message and "once it has finished" in refused[0].user_message
    lock = DaemonLock.take(url)  # released at the end
    assert lock is not None
    lock.release()


def test_a_resync_refused_by_another_resync_says_so(sqlite, monkeypatch):
    config, url = sqlite
    other = DaemonLock.take(url, holder="resync")
    try:
        code, out = resync(config, "--full")
    finally:
        assert other is not None
        other.release()
    assert code == 4 and "a crmsync resync (pid" in " ".join(out.split())



@pytest.mark.postgres
def test_status_shows_a_resync_holding_an_account_as_its_live_owner(postgres):
    config, store = postgres
    table = LeaseTable(store.engine)
    table.take_over(LEASE, "resync-ops-7", ttl=timedelta(seconds=30), wait=timedelta(seconds=5))
    try:
        result = CliRunner().invoke(app, ["status", "--config", str(config)])
    finally:
        reset_logging()
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "fake/alpha" in line and "resync-ops-7" in line)
    assert "(gone)" not in row and "(expired)" not in row
