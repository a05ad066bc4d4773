"""Several `crmsync run` processes on one PostgreSQL store against sandbox CRMs running in the calling process:
what the replica tests and the replica benchmark drive.

`Fleet` writes one settings file for every set of sandbox CRMs (`SandboxCrms`, each with its own tag), starts
replicas as real subprocesses (each with its `CRMSYNC_REPLICA_ID`, its log in a file), signals them, and reads
the store: runs, leases, outbox. `pushes` counts, per account and contact, the writes each sandbox received.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from sync.daemon.report import RunOutcome
from sync.state import AccountRef, StateStore
from sync.state.leases import Lease, LeaseTable
from sync.testing.sandboxes import SandboxCrms

CRMSYNC = str(Path(sys.executable).with_name("crmsync"))


def pushed_ids(crm: str, request: Any) -> list[str]:
    """The contacts one request a sandbox recorded (its harness's `RecordedRequest`) writes crmsync's fields to
    (none for any other request)."""
    method, path = request.method, request.path
    if crm == "hubspot" and method == "POST" and path.endswith("/objects/contacts/batch/update"):
        return [str(item["id"]) for item in request.json().get("inputs", [])]
    if crm == "salesforce" and method == "PATCH" and path.endswith("/composite/sobjects"):
        return [str(record.get("id") or record.get("Id")) for record in request.json().get("records", [])]
    if crm == "pipedrive" and method == "PATCH" and path.startswith("/api/v2/persons/"):
        return [path.rsplit("/", 1)[1]]
    return []


class Fleet:
    """Replicas of one settings file; `groups` are the sandbox CRMs, one account per CRM and group."""

    def __init__(self, groups: Sequence[SandboxCrms], workdir: Path, *, state_url: str, interval: str = "2s",
                 lease: str = "3s", **sections: Any) -> None:
        self.groups = list(groups)
        self.workdir = workdir
        self.state_url = state_url
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "crmsync.json"
        accounts: list[dict[str, Any]] = []
        self.env: dict[str, str] = {}
        for group in self.groups:
            group_accounts, secrets = group.accounts()
            accounts += [{**account, "interval": interval, "jitter": "0s"} for account in group_accounts]
            self.env.update(secrets)
        self.accounts = [AccountRef(a["crm"], a["name"]) for a in accounts]
        document = {"state": {"url": state_url}, "http": {"port": 0}, "logging": {"format": "json"},
                    "replicas": {"lease": lease}, "full_rescore": {"interval": None}, **sections,
                    "accounts": accounts}
        self.config.write_text(json.dumps(document, indent=2))
        StateStore(state_url).close()  # migrated before any replica starts, so it can be read at once
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}

    # -- processes -----------------------------------------------------------------------------------
    def start(self, replica: str) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{replica}.log").open("ab")
        env = {**os.environ, **self.env, "CRMSYNC_REPLICA_ID": replica}
        env.pop("CRMSYNC_HTTP_PORT", None)
        process = subprocess.Popen([CRMSYNC, "run", "--config", str(self.config)], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        self.processes[replica], self._logs[replica] = process, log
        return process

    def signal(self, replica: str, signum: int) -> None:
        self.processes[replica].send_signal(signum)

    def stop(self, replica: str, *, timeout: float = 30) -> int:
        """SIGTERM, then wait for the graceful exit; its exit code."""
        process = self.processes[replica]
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        return process.wait(timeout=timeout)

    def close(self) -> None:
        for replica, process in self.processes.items():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
            process.wait(timeout=30)
            self._logs[replica].close()

    def log(self, replica: str) -> list[dict[str, Any]]:
        lines = (self.workdir / f"{replica}.log").read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def logs_text(self) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
                         for path in sorted(self.workdir.glob("*.log")))

    # -- the store -----------------------------------------------------------------------------------
    def store(self) -> StateStore:
        return StateStore(self.state_url, migrate_schema=False)

    def leases(self) -> dict[str, Lease]:
        with self.store() as store:
            return {lease.name: lease for lease in LeaseTable(store.engine).leases()}

    def synced(self, since: float = 0.0) -> bool:
        """Every account had a clean cycle that started after `since` (Unix time) and its outbox is empty."""
        with self.store() as store:
            for ref in self.accounts:
                runs = [r for r in store.runs(ref, limit=50) if r.kind == "cycle" and r.outcome is RunOutcome.OK
                        and r.started_at.timestamp() >= since]
                if not runs or store.outbox_size(ref) != 0:
                    return False
        return True

    def audit_duplicates(self) -> dict[str, list[Any]]:
        """Audit rows written twice (same contact, field and value), per account."""
        out = {}
        with self.store() as store:
            for ref in self.accounts:
                entries = Counter((e.contact_id, e.field, repr(e.after)) for e in store.audit(ref))
                twice = [key for key, count in entries.items() if count > 1]
                if twice:
                    out[ref.account] = twice
        return out

    # -- the CRMs ------------------------------------------------------------------------------------
    def pushes(self) -> Counter[tuple[str, str]]:
        """(account, contact) -> how many write requests for it the sandboxes received."""
        counts: Counter[tuple[str, str]] = Counter()
        for group in self.groups:
            for crm, sandbox in group.sandboxes.items():
                for request in sandbox.requests.all():
                    for contact in pushed_ids(crm, request):
                        counts[(group.account_name(crm), contact)] += 1
        return counts


def wait_for(condition: Callable[[], bool], *, timeout: float, every: float = 0.25,
             failure: Callable[[], str] = lambda: "") -> float:
    """Poll until `condition()` holds; the seconds it took. Raises AssertionError with `failure()` past `timeout`."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"not reached within {timeout:.0f} s\n{failure()}")
        time.sleep(every)
    return time.monotonic() - began


def owners(leases: Iterable[Lease]) -> Counter[str | None]:
    return Counter(lease.owner for lease in leases)
