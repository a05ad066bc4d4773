"""From validated settings to live connectors: sandboxes started in-process, connectors built through the
registry, and one `AccountRunner` per account so its runs (cycle, sweep, rescore, resync) never overlap.

This is what the scheduler and the CLI compose; they never construct a connector themselves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import structlog

from sync import registry
from sync.clock import Clock
from sync.contract import Connector, FieldSetupReport
from sync.daemon import call_accounting
from sync.daemon.cycle import failed_to_start, run_cycle
from sync.daemon.engine import RulesProvider, RunOptions
from sync.daemon.problem_records import record_setup_warnings
from sync.daemon.report import RunSummary
from sync.daemon.sweep import run_sweep
from sync.errors import CrmsyncError
from sync.log import register_secret
from sync.model import Contact
from sync.registry import crm_kind
from sync.reminders.policy import Escalation
from sync.settings import Account, Settings, merge_mappings
from sync.state import StateStore
from sync.state.leases import Fence, fenced
from sync.synthetic import synthetic_contacts

log = structlog.get_logger("crmsync.accounts")


def run_options(settings: Settings, account: Account | None = None) -> RunOptions:
    """The run knobs from settings; with `account`, its SLA escalation too (tasks, and the webhook when one
    is configured)."""
    escalation = Escalation()
    if account is not None:
        chosen = account.escalation
        escalation = Escalation(manager=chosen.to == "manager", user_id=chosen.user_id if chosen.to != "none" else None,
                                webhook=chosen.webhook and settings.sla_webhook is not None,
                                max_overdue=chosen.max_overdue)
    return RunOptions(batch_size=settings.push.batch_size, max_attempts=settings.push.max_attempts,
                      review_within=settings.sla_sweep.review_within, health_interval=settings.push.health_interval,
                      escalation=escalation)


@dataclass
class OpenedAccount:
    account: Account
    connector: Connector
    sandbox: Any | None = None

    def close(self) -> None:
        try:
            self.connector.close()
        finally:
            if self.sandbox is not None:
                self.sandbox.stop()


def sandbox_population(account: Account, *, now: datetime) -> Iterator[Contact]:
    """The synthetic people a sandbox account is seeded with: each CRM its own slice of the population (as
    `crmsync sandbox` seeds them), so three sandbox CRMs are three different sets of contacts."""
    crms = registry.SANDBOX_CRMS
    start = crms.index(account.crm) * account.sandbox_contacts if account.crm in crms else 0
    return synthetic_contacts(account.sandbox_contacts, now=now, crm=account.crm, start=start)


def open_account(account: Account, *, clock: Clock, sleep: Callable[[float], None] = time.sleep) -> OpenedAccount:
    """Build the account's connector; for a sandbox account, start and seed its sandbox first. Raises
    `registry.NotInstalled` when the connector is missing."""
    kind = crm_kind(account.crm)
    sandbox = None
    settings = account.connector
    if account.sandbox:
        sandbox = kind.sandbox_class()(clock=clock, port=0, enforce_limits=False, seed=7).start()
        try:
            if account.sandbox_contacts:
                sandbox.seed(sandbox_population(account, now=clock.now()))
            for value in sandbox.credentials().values():
                register_secret(str(value))
            base = sandbox.settings()
            settings = (type(base).model_validate({**dict(base), **merge_mappings(dict(base), account.overrides)})
                        if account.overrides else base)
        except BaseException:
            sandbox.stop()
            raise
        log.info("sandbox_started", crm=account.crm, account=account.name, contacts=account.sandbox_contacts)
    connector = kind.connector_class()(settings, account=account.name, clock=clock, sleep=sleep)
    return OpenedAccount(account, connector, sandbox)


def prepare_fields(connector: Connector, store: StateStore | None = None, *,
                   now: datetime | None = None) -> FieldSetupReport:
    """Make sure the CRM has the fields crmsync writes (idempotent; a Pipedrive push to a custom field that
    does not exist is refused, and a fresh HubSpot portal has none of our properties). Logs what it did;
    with a store, keeps the setup warnings for `crmsync status` (each new one logged as a WARNING). Its
    calls are counted in the next run's summary."""
    call_accounting.mark_start(connector)
    report = connector.ensure_fields()
    log.info("fields_ready", crm=connector.crm, account=connector.account, created=report.created,
             existing=len(report.existing), problems=len(report.problems), warnings=len(report.warnings))
    if store is not None:
        record_setup_warnings(store, connector, report=report, now=now or datetime.now(timezone.utc))
    return report


class AccountRunner:
    """Every kind of run of one account, serialised by one lock: a sweep never overlaps a cycle.

    With `fences` (replicas on PostgreSQL), a run happens only while this replica holds the account's lease,
    and every write of the run checks it (`sync.state.leases`); a run it does not own returns None.

    The first run of the process first makes sure the CRM has crmsync's fields (`prepare_fields`); until
    that succeeds every run fails with its message (an unreachable CRM at start is retried on schedule,
    not a reason for the daemon to exit)."""

    def __init__(self, *, store: StateStore, connector: Connector, rules: RulesProvider, clock: Clock,
                 options: RunOptions, ensure_fields: bool = True,
                 fences: Callable[[str], Fence | None] | None = None) -> None:
        self.store, self.connector, self.rules, self.clock, self.options = store, connector, rules, clock, options
        self.lock = threading.Lock()
        self.fields_ready = not ensure_fields
        self.fences = fences

    @property
    def key(self) -> str:
        return f"{self.connector.crm}/{self.connector.account}"

    def _prepared(self, kind: str) -> RunSummary | None:
        """None when the fields are ready; else the FAILED summary of a run that could not start."""
        if self.fields_ready:
            return None
        try:
            prepare_fields(self.connector, self.store, now=self.clock.now())
        except CrmsyncError as exc:
            return failed_to_start(self.connector, self.clock, None,
                                   f"cannot set up crmsync's fields: {exc.user_message}", self.store, kind)
        self.fields_ready = True
        return None

    def _owned(self, kind: str, run: Callable[[], RunSummary]) -> RunSummary | None:
        """`run` under the account's lock and, with replicas, under its lease; None when another owns it."""
        with self.lock:
            fence = self.fences(self.key) if self.fences is not None else None
            if self.fences is not None and fence is None:
                return None
            with fenced(fence):
                return self._prepared(kind) or run()

    def cycle(self, stop: threading.Event) -> RunSummary | None:
        return self._owned("cycle", lambda: run_cycle(
            store=self.store, connector=self.connector, rules=self.rules, clock=self.clock, stop=stop,
            options=self.options))

    def sweep(self, stop: threading.Event) -> RunSummary | None:
        return self._owned("sweep", lambda: run_sweep(
            store=self.store, connector=self.connector, rules=self.rules, clock=self.clock, stop=stop,
            options=self.options))

    def rescore(self, stop: threading.Event) -> RunSummary | None:
        return self._owned("rescore", lambda: run_sweep(
            store=self.store, connector=self.connector, rules=self.rules, clock=self.clock, stop=stop,
            options=self.options, full=True))


def select_accounts(settings: Settings, *, crm: str | None = None, names: Sequence[str] = ()) -> list[Account]:
    """Enabled accounts, filtered by CRM kind and / or names (an unknown name raises KeyError)."""
    chosen = [settings.account(name) for name in names] if names else list(settings.accounts)
    return [a for a in chosen if a.enabled and (crm is None or a.crm == crm)]
