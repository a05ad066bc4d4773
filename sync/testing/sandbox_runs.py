"""One CRM sandbox account run by the engine as the daemon runs it (`AccountRunner`: field setup, then
cycles), with the sandbox's request log at hand: what the engine tests and the read benchmark count.

Requests are the sandboxes' recorded ones (method, path, query, `json()`). `NATIVE_READS` tells, per CRM,
which requests read the native values a push decides from (what `FieldUpdate.crm_values` spares when a
pull of the same run read them).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from sync.clock import FrozenClock
from sync.configfile import parse_yaml
from sync.daemon.accounts import AccountRunner, OpenedAccount, open_account, run_options
from sync.daemon.report import RunSummary
from sync.rules.engine import load_rules
from sync.settings import validate_settings
from sync.state import StateStore
from sync.testing.fake_crm import SimulatedCrash


def _hubspot_read(request: Any) -> bool:
    """A batch read of contacts' current values (not of their properties' history, asked only for values a
    person may have set)."""
    body = request.json() if request.method == "POST" else None
    return request.path.endswith("/crm/v3/objects/contacts/batch/read") and isinstance(body, dict) \
        and not body.get("propertiesWithHistory")


def _salesforce_read(request: Any) -> bool:
    """The push's SOQL read of the Leads' Rating / Status (`SELECT Id, Rating FROM Lead WHERE Id IN (...)`)."""
    soql = " ".join(parse_qs(request.query).get("q", []))
    columns = soql.split(" FROM ", 1)[0]
    return "/query" in request.path and " FROM Lead WHERE Id IN (" in soql and "SystemModstamp" not in columns


def _pipedrive_read(request: Any) -> bool:
    """The push's look-up of persons' labels by id (`GET /api/v2/persons?ids=...`)."""
    return request.method == "GET" and request.path.endswith("/api/v2/persons") and "ids" in parse_qs(request.query)


#: per CRM: whether a request reads the native values a push decides from
NATIVE_READS: dict[str, Callable[[Any], bool]] = {
    "hubspot": _hubspot_read, "salesforce": _salesforce_read, "pipedrive": _pipedrive_read}


@dataclass
class SandboxRun:
    """A sandbox account, its connector, a state store and the runner the daemon would use."""

    crm: str
    opened: OpenedAccount
    store: StateStore
    runner: AccountRunner

    @property
    def sandbox(self) -> Any:
        return self.opened.sandbox

    def cycle(self) -> RunSummary:
        return self.runner.cycle(threading.Event())

    def native_reads(self) -> int:
        """Requests so far that read native values for a push."""
        matches = NATIVE_READS[self.crm]
        return sum(1 for request in self.sandbox.requests.all() if matches(request))

    def requests(self) -> int:
        return len(self.sandbox.requests.all())

    def restart_store(self, db: str, clock: FrozenClock) -> None:
        """What a process restart does to the store (the sandbox CRM and its connector stay as they are)."""
        self.store.close()
        self.store = self.runner.store = StateStore(db, clock=clock)

    def close(self) -> None:
        self.opened.close()
        self.store.close()


def crash_after_first_page() -> Callable[[str], None]:
    """A store fault: the process dies once the first page is durable, before its writes are pushed, so
    the next run finds them in the outbox with the CRM's current values unknown."""
    crashed: list[str] = []

    def fault(point: str) -> None:
        if point == "write_page:after_commit" and not crashed:
            crashed.append(point)
            raise SimulatedCrash(point)
    return fault


def sandbox_run(crm: str, contacts: int, *, db: str, clock: FrozenClock, settings: dict[str, Any] | None = None,
                fault: Callable[[str], None] | None = None) -> SandboxRun:
    """Start `crm`'s sandbox seeded with `contacts` synthetic people, behind the shipped rules."""
    text = (f"accounts:\n  - name: {crm}\n    crm: {crm}\n    sandbox: true\n    sandbox_contacts: {contacts}\n"
            f"    settings: {json.dumps(settings or {})}\n")
    config = validate_settings(parse_yaml(text, "crmsync.yaml"), {})
    account = config.accounts[0]
    opened = open_account(account, clock=clock, sleep=lambda seconds: clock.advance(timedelta(seconds=seconds)))
    store = StateStore(db, clock=clock, fault=fault)
    rules = load_rules()
    runner = AccountRunner(store=store, connector=opened.connector, rules=lambda: rules, clock=clock,
                           options=run_options(config))
    return SandboxRun(crm, opened, store, runner)
