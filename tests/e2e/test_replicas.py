"""Replicas: several real `crmsync run` processes on one PostgreSQL store (a schema of their own per test), the
sandbox CRMs running in this test process, where every write is counted as the CRM receives it.

- three replicas share the accounts evenly and every contact is written once, with no audit row twice;
- the owner SIGKILLed in the middle of a push: another replica finishes the account within an interval plus
  the lease, and the CRMs end as after an uninterrupted run;
- the owner SIGSTOPped past its lease, the account taken over, then SIGCONT: the old owner writes nothing more;
- a rolling deploy (start a new replica, SIGTERM the old one, again) never writes twice;
- `crmsync resync` beside the replica that owns the account: the replica's run is fenced, every contact is written
  once, and the replica takes the account back once the resync released it.

Short intervals and leases (settings) keep each scenario to seconds (the rolling deploy, four processes started
one after the other, to about twenty). The graceful hand-over it relies on is also covered by
tests/sync/daemon/test_coordination.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from werkzeug.wrappers import Request

from sync.clock import SystemClock
from sync.daemon.report import RunOutcome
from sync.daemon.resync_lease import is_resync
from sync.state import AccountRef
from sync.testing import SandboxCrms, postgres_schema, postgres_url_for_test
from sync.testing.replicas import CRMSYNC, Fleet, owners, wait_for

CONTACTS = 30  # per CRM
INTERVAL_S, LEASE_S = 2, 3
SETTLE_S = INTERVAL_S * 2  # a duplicate write would show within two more intervals
TAKEOVER_BOUND_S = INTERVAL_S + LEASE_S + LEASE_S / 3 + 5  # + one tick of the lease keeper, + a loaded machine's slack
HUBSPOT = AccountRef("hubspot", "hubspot")  # the account each fault targets (one group, no tag)
HUBSPOT_PUSH = {"method": "POST", "path": "/crm/v3/objects/contacts/batch/update"}
BATCH = {"batch_size": 10}


@pytest.fixture
def state_url() -> Iterator[str]:
    with postgres_schema(postgres_url_for_test()) as url:
        yield url


def crms(tag: str = "") -> SandboxCrms:
    return SandboxCrms(contacts=CONTACTS, clock=SystemClock(), tag=tag)


def no_double_writes(fleet: Fleet) -> None:
    pushes = fleet.pushes()
    assert pushes, "nothing was pushed"
    twice = {key: count for key, count in pushes.items() if count > 1}
    assert not twice, f"(account, contact) written more than once: {sorted(twice.items())[:10]}"
    assert not fleet.audit_duplicates()


def no_deadlock(fleet: Fleet, replicas: list[str]) -> None:
    for replica in replicas:
        assert not [line for line in fleet.log(replica) if "deadlock" in str(line).lower()], replica


def test_three_replicas_share_the_accounts_and_write_every_contact_once(state_url, tmp_path):
    with crms() as first, crms("2") as second:
        fleet = Fleet([first, second], tmp_path, state_url=state_url, push=BATCH)
        replicas = ["r1", "r2", "r3"]
        try:
            for replica in replicas:
                fleet.start(replica)
            wait_for(fleet.synced, timeout=90, failure=fleet.logs_text)
            wait_for(lambda: owners(fleet.leases().values()) == {"r1": 2, "r2": 2, "r3": 2}, timeout=30,
                     failure=lambda: f"{owners(fleet.leases().values())}\n{fleet.logs_text()}")
            time.sleep(SETTLE_S)
            assert [fleet.stop(replica) for replica in replicas] == [0, 0, 0], fleet.logs_text()
        finally:
            fleet.close()
        no_double_writes(fleet)
        no_deadlock(fleet, replicas)
        assert len(fleet.pushes()) == 6 * CONTACTS  # every contact of every account written, once
        for replica in replicas:  # from the moment it knows it is a replica, each line says which
            lines = fleet.log(replica)
            first = next(index for index, line in enumerate(lines) if "replica" in line)
            assert all(line.get("replica") == replica for line in lines[first:])
            assert any(line.get("event") == "run_finished" for line in lines[first:])


def crm_state(groups: list[SandboxCrms]) -> dict[str, Any]:
    return {group.tag: group.state() for group in groups}


def same(got: Any, expected: Any, tolerance_s: float) -> bool:
    """Equal; times decided from "now" may differ by the seconds between the two runs."""
    if isinstance(got, datetime) and isinstance(expected, datetime):
        return abs((got - expected).total_seconds()) <= tolerance_s
    return bool(got == expected)


@pytest.fixture
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], float]]:
    """The CRMs after one replica's uninterrupted sync, and when it was taken."""
    with postgres_schema(postgres_url_for_test()) as url, crms() as group:
        fleet = Fleet([group], tmp_path_factory.mktemp("reference"), state_url=url, push=BATCH)
        try:
            fleet.start("solo")
            wait_for(fleet.synced, timeout=90, failure=fleet.logs_text)
            assert fleet.stop("solo") == 0
        finally:
            fleet.close()
        yield crm_state([group]), time.time()


def test_a_sigkilled_owner_mid_push_is_finished_by_another_replica_within_the_bound(state_url, tmp_path,
                                                                                    reference):
    expected, taken_at = reference
    with crms() as group:
        fleet = Fleet([group], tmp_path, state_url=state_url, push=BATCH)
        killed: list[tuple[str, float]] = []

        def kill_the_owner(request: Request) -> None:
            owner = fleet.leases()["hubspot/hubspot"].owner
            assert owner is not None
            killed.append((owner, time.time()))
            os.kill(fleet.processes[owner].pid, signal.SIGKILL)

        group["hubspot"].faults.on_request(kill_the_owner, nth=2, after=True, **HUBSPOT_PUSH)
        replicas = ["r1", "r2", "r3"]
        try:
            for replica in replicas:
                fleet.start(replica)
            wait_for(lambda: bool(killed), timeout=60, failure=fleet.logs_text)
            victim, at = killed[0]
            wait_for(lambda: fleet.synced(since=at), timeout=60, failure=fleet.logs_text)
            with fleet.store() as store:
                resumed = min(run.started_at.timestamp() for run in store.runs(HUBSPOT, limit=100)
                              if run.started_at.timestamp() > at)
            new_owner = fleet.leases()["hubspot/hubspot"].owner
            assert new_owner not in (None, victim)
            assert fleet.processes[victim].wait(timeout=5) == -signal.SIGKILL
            survivors = [r for r in replicas if r != victim]
            assert [fleet.stop(r) for r in survivors] == [0, 0], fleet.logs_text()
        finally:
            fleet.close()
        assert resumed - at <= TAKEOVER_BOUND_S, f"resumed {resumed - at:.1f} s after the kill"
        assert not fleet.audit_duplicates()
        final = crm_state([group])
        tolerance = time.time() - taken_at + 5
        differing = {(tag, crm, native, key): (got.get(key), expected[tag][crm][native].get(key))
                     for tag, per_crm in final.items() for crm, contacts in per_crm.items()
                     for native, got in contacts.items() for key in set(got) | set(expected[tag][crm][native])
                     if not same(got.get(key), expected[tag][crm][native].get(key), tolerance)}
        assert not differing, f"(group, crm, contact, field): (after the kill, uninterrupted): {differing}"


def test_an_owner_paused_past_its_lease_writes_nothing_once_it_runs_again(state_url, tmp_path):
    with crms() as group:
        fleet = Fleet([group], tmp_path, state_url=state_url, push=BATCH)
        paused: list[tuple[str, float]] = []

        def pause_the_owner(request: Request) -> None:  # the CRM applied the batch; its answer waits for SIGCONT
            owner = fleet.leases()["hubspot/hubspot"].owner
            assert owner is not None
            paused.append((owner, time.time()))
            os.kill(fleet.processes[owner].pid, signal.SIGSTOP)

        group["hubspot"].faults.on_request(pause_the_owner, nth=1, after=True, **HUBSPOT_PUSH)
        try:
            for replica in ("r1", "r2"):
                fleet.start(replica)
            wait_for(lambda: bool(paused), timeout=60, failure=fleet.logs_text)
            stale, at = paused[0]
            wait_for(lambda: fleet.leases()["hubspot/hubspot"].owner not in (None, stale) and fleet.synced(since=at),
                     timeout=60, failure=fleet.logs_text)
            received = len(group["hubspot"].requests.all())
            with fleet.store() as store:
                audited = len(store.audit(HUBSPOT))
            fleet.signal(stale, signal.SIGCONT)
            wait_for(lambda: any(line.get("event") == "run_lease_lost" for line in fleet.log(stale)), timeout=30,
                     failure=fleet.logs_text)
            time.sleep(SETTLE_S)
            late = [r for r in group["hubspot"].requests.all()[received:] if r.method != "GET"
                    and "/batch/update" in r.path]
            with fleet.store() as store:
                assert len(store.audit(HUBSPOT)) == audited
            assert [fleet.stop(r) for r in ("r1", "r2")] == [0, 0], fleet.logs_text()
        finally:
            fleet.close()
        assert late == [], "a write reached the CRM after the paused owner resumed"
        lost = [line for line in fleet.log(stale) if line.get("event") == "run_lease_lost"]
        assert lost and lost[0]["account"] == "hubspot" and lost[0]["replica"] == stale
        recorded_after = [line for line in fleet.log(stale) if line.get("event") == "push_batch_recorded"
                          and line.get("account") == "hubspot" and line["timestamp"] > lost[0]["timestamp"]]
        assert recorded_after == []


def slow_writes(group: SandboxCrms) -> None:
    """Each CRM answers its writes slowly, so the replicas change while pushes are in flight."""
    group["hubspot"].faults.add("slow", times=1000, seconds=0.6, **HUBSPOT_PUSH)
    group["salesforce"].faults.add("slow", times=1000, seconds=0.6, method="PATCH", path="/services/data/")
    group["pipedrive"].faults.add("slow", times=1000, seconds=0.1, method="PATCH", path="/api/v2/persons/")


def test_a_rolling_deploy_never_writes_twice(state_url, tmp_path):
    with crms() as group:
        fleet = Fleet([group], tmp_path, state_url=state_url, push=BATCH)
        slow_writes(group)
        handed_over: list[float] = []
        try:
            fleet.start("v1")
            wait_for(lambda: any(line.get("event") == "push_batch_recorded" for line in fleet.log("v1")),
                     timeout=60, failure=fleet.logs_text)
            for old, new in (("v1", "v2"), ("v2", "v3"), ("v3", "v4")):
                fleet.start(new)
                wait_for(lambda: any(line.get("event") == "replica_started" for line in fleet.log(new)), timeout=30,
                         failure=fleet.logs_text)
                assert fleet.stop(old) == 0, fleet.logs_text()
                handed_over.append(time.time())
            wait_for(lambda: fleet.synced(since=handed_over[-1]), timeout=60, failure=fleet.logs_text)
            assert owners(fleet.leases().values()) == {"v4": 3}
            time.sleep(SETTLE_S)
            assert fleet.stop("v4") == 0
        finally:
            fleet.close()
        no_double_writes(fleet)
        assert len(fleet.pushes()) == 3 * CONTACTS
        interrupted = [line for replica in ("v1", "v2", "v3") for line in fleet.log(replica)
                       if line.get("event") == "run_finished" and line.get("outcome") == "interrupted"]
        assert interrupted, "no replica was stopped with work in flight: the deploy tested nothing"


def test_a_resync_beside_the_owning_replica_fences_its_run_and_writes_every_contact_once(state_url, tmp_path):
    with SandboxCrms(["hubspot"], contacts=CONTACTS, clock=SystemClock()) as group:
        fleet = Fleet([group], tmp_path, state_url=state_url, push=BATCH)
        document = json.loads(fleet.config.read_text())
        document["accounts"][0]["settings"]["list_page_size"] = 10  # the full pull takes three pages
        fleet.config.write_text(json.dumps(document))
        resyncs: list[subprocess.Popen[bytes]] = []
        before: list[int] = []  # contacts the replica had written when the resync started
        output = (tmp_path / "resync.out").open("wb")

        def resync_while_the_replica_pulls(request: Request) -> None:
            """The replica's second page is held until the resync has taken the account's lease."""
            if resyncs or not request.args.get("after"):
                return
            before.append(sum(fleet.pushes().values()))
            resyncs.append(subprocess.Popen([CRMSYNC, "resync", "--config", str(fleet.config), "--account", "hubspot",
                                             "--full"], env={**os.environ, **fleet.env}, stdout=output,
                                            stderr=subprocess.STDOUT))
            wait_for(lambda: is_resync(fleet.leases()["hubspot/hubspot"].owner or ""), timeout=60,
                     failure=fleet.logs_text)

        group["hubspot"].faults.add("hook", times=10_000, path="/crm/v3/objects/contacts", method="GET",
                                    callback=resync_while_the_replica_pulls, when="after")
        try:
            fleet.start("r1")
            wait_for(lambda: bool(resyncs), timeout=60, failure=fleet.logs_text)
            assert resyncs[0].wait(timeout=90) == 0, (tmp_path / "resync.out").read_text(errors="replace")
            done = time.time()
            wait_for(lambda: fleet.leases()["hubspot/hubspot"].owner == "r1" and fleet.synced(since=done),
                     timeout=60, failure=fleet.logs_text)
            time.sleep(SETTLE_S)
            assert fleet.stop("r1") == 0, fleet.logs_text()
        finally:
            fleet.close()
            output.close()
        no_double_writes(fleet)
        assert len(fleet.pushes()) == CONTACTS  # every contact written, once, by the replica or the resync
        events = [(line.get("event"), line.get("account")) for line in fleet.log("r1")]
        assert ("run_lease_lost", "hubspot") in events  # its run in flight stopped at its next write
        assert ("lease_lost", "hubspot/hubspot") in events  # its lease keeper counted the loss
        with fleet.store() as store:
            resynced = [run for run in store.runs(HUBSPOT, limit=50) if run.kind == "resync"]
        assert [run.outcome for run in resynced] == [RunOutcome.OK]
        assert resynced[0].counts["pushed"] == CONTACTS - before[0]  # the rest, nothing the replica had written
