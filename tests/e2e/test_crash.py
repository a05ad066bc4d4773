"""A crmsync process killed with SIGKILL in the middle of a push, then started again, leaves every CRM exactly
as a run that was never interrupted: no update lost, none applied twice, no audit row written twice.

The sandbox CRMs run in this test process; crmsync runs as a real subprocess (`crmsync resync`, the same
engine as the daemon's cycle) reading a settings file that reaches them as ordinary accounts, secrets from
its environment. A hook in the sandbox harness SIGKILLs the child when the Nth push request of one CRM
arrives, either before the sandbox applies it or after it applied it and before the answer leaves: the two
moments that matter (the write never happened / it happened but crmsync could not record it). Time is frozen
(`--now` for crmsync, a FrozenClock for the sandboxes) so the reference and the recovered run decide alike.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from werkzeug.wrappers import Request

from sync import registry
from sync.clock import FrozenClock
from sync.state import AccountRef, StateStore
from sync.testing import SandboxCrms

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CONTACTS = 40  # per CRM
BATCH = 15  # push batch size: three batches per CRM where a CRM takes batches
WAIT_TOLERANCE_S = 5
CRMSYNC = str(Path(sys.executable).with_name("crmsync"))
# the request that writes crmsync's fields, per CRM: (method, path prefix)
PUSH = {"hubspot": ("POST", "/crm/v3/objects/contacts/batch/update"),
        "salesforce": ("PATCH", "/services/data/"),
        "pipedrive": ("PATCH", "/api/v2/persons/")}
# (CRM, which push request, killed after the sandbox applied it?)
CRASHES = [("hubspot", 1, False), ("hubspot", 2, True), ("salesforce", 1, True), ("salesforce", 3, False),
           ("pipedrive", 1, False), ("pipedrive", 17, True)]


def start(crms: SandboxCrms, workdir: Path) -> tuple[list[str], dict[str, str], str]:
    workdir.mkdir(parents=True, exist_ok=True)
    db = f"sqlite:///{workdir / 'state.db'}"
    config = workdir / "crmsync.json"
    env = crms.settings_file(config, state_url=db, push={"batch_size": BATCH})
    command = [CRMSYNC, "resync", "--config", str(config), "--now", NOW.isoformat(), "--log-level", "INFO"]
    return command, {**os.environ, **env, "COLUMNS": "160"}, db


def same(got: Any, expected: Any) -> bool:
    """Equal; times within a few seconds: under `--now` a rate-limit wait moves the simulated clock, and the
    recovered run may pace itself where the uninterrupted one did not (it pulls incrementally from the cursor
    the crashed run saved, searching several objects), so a time decided from "now" later in it may be later
    by those seconds (the SLA of a contact first seen in that run)."""
    if isinstance(got, datetime) and isinstance(expected, datetime):
        return abs((got - expected).total_seconds()) <= WAIT_TOLERANCE_S
    return bool(got == expected)


def audit(db: str, crms: SandboxCrms) -> dict[str, list[tuple[str, str, Any]]]:
    with StateStore(db) as store:
        return {crm: [(e.contact_id, e.field, e.after) for e in store.audit(AccountRef(crm, crm))] for crm in crms.ids}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The CRMs after one uninterrupted run, and its audit log."""
    with SandboxCrms(contacts=CONTACTS, clock=FrozenClock(NOW)) as crms:
        command, env, db = start(crms, tmp_path_factory.mktemp("reference"))
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return crms.state(), audit(db, crms)


@pytest.mark.parametrize(("crm", "nth", "after"), CRASHES,
                         ids=[f"{c}-push{n}-{'after' if a else 'before'}-apply" for c, n, a in CRASHES])
def test_a_sigkill_mid_push_then_a_restart_converges_to_the_uninterrupted_state(crm, nth, after, reference,
                                                                                tmp_path):
    expected_state, expected_audit = reference
    with SandboxCrms(contacts=CONTACTS, clock=FrozenClock(NOW)) as crms:
        command, env, db = start(crms, tmp_path)
        child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        killed: list[str] = []

        def kill(request: Request) -> None:
            killed.append(request.path)
            os.kill(child.pid, signal.SIGKILL)

        method, path = PUSH[crm]
        crms[crm].faults.on_request(kill, nth=nth, method=method, path=path, after=after)
        output, _ = child.communicate(timeout=120)
        assert child.returncode == -signal.SIGKILL, output
        assert killed, "the hook never fired: the push route or the batch count changed"
        crms[crm].faults.clear()

        partial = crms.state()
        assert partial != expected_state  # the kill really left work undone

        recovered = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert recovered.returncode == 0, recovered.stdout + recovered.stderr
        final = crms.state()
        differing = {(name, native, key): (got.get(key), expected_state[name][native].get(key))
                     for name, contacts in final.items() for native, got in contacts.items()
                     for key in set(got) | set(expected_state[name][native])
                     if not same(got.get(key), expected_state[name][native].get(key))}
        assert not differing, f"(crm, contact, field): (after the crash, uninterrupted): {differing}"
        log = audit(db, crms)
    for name, entries in log.items():
        duplicates = [key for key, count in Counter(entries).items() if count > 1]
        assert not duplicates, f"{name}: audit rows written twice: {duplicates[:5]}"
        got, expected = sorted(entries, key=repr), sorted(expected_audit[name], key=repr)
        assert len(got) == len(expected) and all(
            mine[:2] == theirs[:2] and same(mine[2], theirs[2]) for mine, theirs in zip(got, expected)), name


def test_the_crash_points_cover_every_crm():
    assert {crm for crm, _, _ in CRASHES} == set(registry.SANDBOX_CRMS) == set(PUSH)
    assert {after for _, _, after in CRASHES} == {True, False}
