"""From validated settings to live connectors: sandboxes started in-process, connectors built through the
registry, and one `AccountRunner` per account so its runs (cycle, sweep, rescore, resync) never overlap.

This is what the scheduler and the CLI compose; they never construct a connector themselves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from sync.clock import Clock
from sync.contract import Connector
from sync.daemon.cycle import run_cycle
from sync.daemon.engine import RulesProvider, RunOptions
from sync.daemon.report import RunSummary
from sync.daemon.sweep import run_sweep
from sync.log import register_secret
from sync.registry import crm_kind
from sync.settings import Account, Settings
from sync.state import StateStore
from sync.synthetic import synthetic_contacts

log = structlog.get_logger("crmsync.accounts")


def run_options(settings: Settings) -> RunOptions:
    return RunOptions(batch_size=settings.push.batch_size, max_attempts=settings.push.max_attempts,
                      review_within=settings.sla_sweep.review_within, health_interval=settings.push.health_interval)


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
                sandbox.seed(synthetic_contacts(account.sandbox_contacts, now=clock.now()))
            for value in sandbox.credentials().values():
                register_secret(str(value))
            base = sandbox.settings()
            settings = type(base).model_validate({**dict(base), **account.overrides}) if account.overrides else base
        except BaseException:
            sandbox.stop()
            raise
        log.info("sandbox_started", crm=account.crm, account=account.name, contacts=account.sandbox_contacts)
    connector = kind.connector_class()(settings, account=account.name, clock=clock, sleep=sleep)
    return OpenedAccount(account, connector, sandbox)


class AccountRunner:
    """Every kind of run of one account, serialised by one lock: a sweep never overlaps a cycle."""

    def __init__(self, *, store: StateStore, connector: Connector, rules: RulesProvider, clock: Clock,
                 options: RunOptions) -> None:
        self.store, self.connector, self.rules, self.clock, self.options = store, connector, rules, clock, options
        self.lock = threading.Lock()

    @property
    def key(self) -> str:
        return f"{self.connector.crm}/{self.connector.account}"

    def cycle(self, stop: threading.Event) -> RunSummary:
        with self.lock:
            return run_cycle(store=self.store, connector=self.connector, rules=self.rules, clock=self.clock,
                             stop=stop, options=self.options)

    def sweep(self, stop: threading.Event) -> RunSummary:
        with self.lock:
            return run_sweep(store=self.store, connector=self.connector, rules=self.rules, clock=self.clock,
                             stop=stop, options=self.options)

    def rescore(self, stop: threading.Event) -> RunSummary:
        with self.lock:
            return run_sweep(store=self.store, connector=self.connector, rules=self.rules, clock=self.clock,
                             stop=stop, options=self.options, full=True)


def select_accounts(settings: Settings, *, crm: str | None = None, names: Sequence[str] = ()) -> list[Account]:
    """Enabled accounts, filtered by CRM kind and / or names (an unknown name raises KeyError)."""
    chosen = [settings.account(name) for name in names] if names else list(settings.accounts)
    return [a for a in chosen if a.enabled and (crm is None or a.crm == crm)]
