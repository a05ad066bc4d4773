"""From validated settings to a `Daemon` ready to run: the one place that wires the core to the runtime.

`Daemon` composes callables and knows nothing of settings, stores or connectors (so the runtime is tested
with fakes); `AccountRunner` knows one account and nothing of scheduling. This module joins them the way
`crmsync run` needs: one state store; each enabled account opened (its sandbox started first when it is a
sandbox account) and wrapped in an `AccountRunner`, so its cycle, the SLA sweep and the full rescore of that
account share one lock; one `AccountJob` per account whose rules are whatever the watcher holds at the start
of each run; the sweep and the periodic full rescore as jobs that visit every account in turn; the SLA breach webhook, when
configured, as a job of its own (`sync.webhook`: it never runs inside an account's sync); a
`HealthMonitor` probing each connector's `health`; and readiness checks for the state store and for any
account that could not be opened.

The rules are loaded BEFORE anything is opened: a bad rules file at start is an error the admin fixes
(the daemon cannot decide anything without good rules), and no sandbox or connection should be started
just to be torn down again. Later edits go through the watcher, which keeps the last good rules.

Replicas: on a PostgreSQL store every daemon is a replica; a `Coordinator` (sync.daemon.coordination) keeps
its share of the account leases, each runner runs only what this replica holds, under the lease's fence, and the
sweep and the full rescore visit only those accounts, so every write happens once across replicas. A SQLite
store has one daemon: `DaemonLock` refuses a second one at start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Self

import structlog

from sync import registry
from sync.clock import Clock, SystemClock
from sync.daemon.accounts import AccountRunner, OpenedAccount, open_account, run_options, select_accounts
from sync.daemon.coordination import Coordinator, CoordinatorHooks, replica_id
from sync.daemon.metrics import Metrics
from sync.daemon.readiness import BackgroundCheck, CheckResult, HealthMonitor
from sync.daemon.reload import RulesWatcher
from sync.daemon.report import RunSummary
from sync.daemon.runtime import Daemon
from sync.daemon.scheduling import AccountJob, SweepJob
from sync.log import bind_process
from sync.settings import Account, Settings
from sync.state import AccountRef, StateStore
from sync.state.leases import LeaseTable
from sync.state.migrate import head_revision
from sync.state.problems import classify_store_error
from sync.state.single import DaemonLock
from sync.state.reminders import WEBHOOK
from sync.webhook import WebhookSender, WebhookTarget, deliver_due

log = structlog.get_logger("crmsync.daemon.service")

MAX_ACCOUNT_WORKERS = 8  # accounts synced at once; more accounts than this queue for a free worker
STORE_CHECK_INTERVAL = timedelta(seconds=5)  # how often readiness asks the database
STORE_CHECK_BOUND = timedelta(seconds=5)  # a check waiting longer than this reads as "not answering"


def rules_watcher(settings: Settings, clock: Clock) -> RulesWatcher[registry.RulesLike]:
    """The watcher over the configured rules file, loaded once: raises `ConfigError` (located issues) on a
    bad file and `registry.NotInstalled` when the rules engine is missing."""
    watcher: RulesWatcher[registry.RulesLike] = RulesWatcher(
        settings.rules.path, registry.rules_loader(), clock, poll=settings.rules.reload_interval)
    watcher.load()
    return watcher


def _visit_all(runners: Sequence[AccountRunner],
               run: Callable[[AccountRunner, threading.Event], RunSummary | None]) -> Callable[[threading.Event],
                                                                                              list[RunSummary]]:
    """A sweep-like job over every account in turn (those this replica owns, with replicas); a stop request
    ends it between two accounts."""
    def job(stop: threading.Event) -> list[RunSummary]:
        summaries = []
        for runner in runners:
            if stop.is_set():
                break
            summary = run(runner, stop)
            if summary is not None:
                summaries.append(summary)
        return summaries
    return job


def _deliver(store: StateStore, sender: WebhookSender, clock: Clock, stop: threading.Event, metrics: Metrics,
             owned: Callable[[], list[str]] | None) -> None:
    """One run of the webhook job, each delivery counted in `crmsync_sla_reminders_total`; its failures are
    logged, never a reason to stop the job."""
    try:
        deliver_due(store, sender, clock, owned=owned, stop=stop, on_outcome=lambda ref, outcome:
                    metrics.record_reminders(ref.crm, ref.account, WEBHOOK, outcome))
    except Exception as exc:  # noqa: BLE001 (a webhook problem must never reach the scheduler or a sync)
        log.error("webhook_job_failed", error=type(exc).__name__)


def rescore_unless_recent(interval: timedelta, clock: Clock) -> Callable[[AccountRunner, threading.Event],
                                                                           RunSummary | None]:
    """The periodic full rescore of one account, skipped when one ran within the last `interval` (recorded in the
    store): an account handed to another replica is not rescored again on that replica's own timer."""
    def rescore(runner: AccountRunner, stop: threading.Event) -> RunSummary | None:
        ref = AccountRef(runner.connector.crm, runner.connector.account)
        last = runner.store.runs(ref, kind="rescore", limit=1)
        if last and last[0].started_at > clock.now() - interval * 0.9:  # a timer's own firing is never "recent"
            return None
        return runner.rescore(stop)
    return rescore


def store_check(store: StateStore) -> Callable[[], dict[str, CheckResult]]:
    """Readiness of the state store: reachable, and at the schema this crmsync migrates to. It queries the
    database, so the daemon runs it in the background (`BackgroundCheck`), never in a probe's request."""
    head = head_revision()

    def check() -> dict[str, CheckResult]:
        try:
            revision = store.schema_revision()
        except Exception as exc:  # noqa: BLE001 (any driver error means the same to a probe: not ready)
            problem = classify_store_error(exc, store.engine.url)
            why = problem.message if problem is not None else f"not reachable ({type(exc).__name__})"
            return {"state_store": CheckResult(False, why)}
        if revision != head:
            return {"state_store": CheckResult(False, f"schema {revision}, expected {head}")}
        return {"state_store": CheckResult(True, f"schema {revision}")}
    return check


def background_store_check(store: StateStore, clock: Clock) -> BackgroundCheck:
    """The store check every `STORE_CHECK_INTERVAL`, overdue after `STORE_CHECK_BOUND`: a lost database turns
    `/readyz` red within one check period (refused at once, or overdue if it hangs)."""
    return BackgroundCheck(store_check(store), names=["state_store"], interval=STORE_CHECK_INTERVAL,
                           bound=STORE_CHECK_BOUND, clock=clock, name="state_store")


@dataclass
class Service:
    """A daemon and everything it holds open; `close()` (or the `with` block) stops sandboxes, closes
    connectors and the store, whatever happened."""

    daemon: Daemon
    store: StateStore
    watcher: RulesWatcher[Any]
    runners: list[AccountRunner]
    opened: list[OpenedAccount]
    unopened: dict[str, str] = field(default_factory=dict)  # account key -> why it could not be opened
    coordinator: Coordinator | None = None  # replicas on PostgreSQL
    lock: DaemonLock | None = None  # the one daemon of a SQLite store

    def close(self) -> None:
        for account in reversed(self.opened):
            try:
                account.close()
            except Exception as exc:  # noqa: BLE001 (closing the others matters more than this one's error)
                log.warning("account_close_failed", crm=account.account.crm, account=account.account.name,
                            error=type(exc).__name__)
        self.store.close()
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_accounts(accounts: Sequence[Account], *, clock: Clock, sleep: Callable[[float], None]
                  ) -> tuple[list[OpenedAccount], dict[str, str]]:
    """Open each account; one that fails (its sandbox cannot start, its connector cannot be built) is
    reported and left out, the others run. Closes what it opened if interrupted."""
    opened: list[OpenedAccount] = []
    failed: dict[str, str] = {}
    try:
        for account in accounts:
            try:
                opened.append(open_account(account, clock=clock, sleep=sleep))
            except Exception as exc:  # noqa: BLE001 (one account that cannot open does not stop the others)
                failed[f"{account.crm}/{account.name}"] = f"{type(exc).__name__}: {exc}"
                log.error("account_not_opened", crm=account.crm, account=account.name, error=type(exc).__name__,
                          message=str(exc))
    except BaseException:
        for done in reversed(opened):
            done.close()
        raise
    return opened, failed


def build_service(settings: Settings, *, watcher: RulesWatcher[Any], clock: Clock | None = None,
                  sleep: Callable[[float], None] = time.sleep, store: StateStore | None = None,
                  port: int | None = None, **daemon_options: Any) -> Service:
    """Open the store and the accounts and compose the daemon (not started: `service.daemon.run()`).
    `port` overrides `settings.http.port` (tests pass 0); `daemon_options` go to `Daemon` as they are."""
    clock = clock or SystemClock()
    lock = DaemonLock.take(settings.state.url) if store is None else None  # raises StoreInUse
    try:
        store = store or StateStore(settings.state.url, clock=clock, timeouts=settings.state.timeouts())
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    try:
        opened, unopened = open_accounts(select_accounts(settings), clock=clock, sleep=sleep)
    except BaseException:
        store.close()
        if lock is not None:
            lock.release()
        raise
    for account in opened:
        if account.sandbox is not None:  # a sandbox is a new CRM each start: the previous one's state is wrong
            store.forget_account(account.account.ref)
    metrics = daemon_options.setdefault("metrics", Metrics())
    holder: list[Daemon] = []
    coordinator = None
    if store.engine.dialect.name == "postgresql":
        coordinator = _coordinator(settings, store, [f"{o.account.crm}/{o.account.name}" for o in opened], metrics,
                                   holder, clock, watcher)
        daemon_options["companions"] = [*daemon_options.get("companions", ()), coordinator]
    runners = [AccountRunner(store=store, connector=o.connector, rules=lambda: watcher.current, clock=clock,
                             options=run_options(settings, o.account),
                             fences=coordinator.fence if coordinator else None) for o in opened]
    jobs = [AccountJob(runner.key, o.account.interval, o.account.jitter, runner.cycle, crm=o.account.crm,
                       account=o.account.name) for runner, o in zip(runners, opened, strict=True)]
    sweep = SweepJob(settings.sla_sweep.interval, _visit_all(runners, AccountRunner.sweep), key="sla_sweep")
    extra_sweeps = []
    if settings.full_rescore.interval is not None:
        extra_sweeps.append(SweepJob(settings.full_rescore.interval,
                                     _visit_all(runners, rescore_unless_recent(settings.full_rescore.interval, clock)),
                                     key="full_rescore", run_at_start=False))
    webhook = settings.sla_webhook
    if webhook is not None and settings.webhook_secret is not None:  # breaches posted by a job of their own
        sender = WebhookSender(WebhookTarget(webhook.url, settings.webhook_secret.get_secret_value(),
                                             webhook.timeout.total_seconds(), webhook.max_attempts), sleep=sleep)
        owned = coordinator.held if coordinator else None  # with replicas, each posts its own accounts' breaches
        extra_sweeps.append(SweepJob(webhook.interval,
                                     lambda stop: _deliver(store, sender, clock, stop, metrics, owned),
                                     key="sla_webhook"))
    health = HealthMonitor({runner.key: runner.connector.health for runner in runners}, clock=clock)
    readiness: list[Callable[[], dict[str, CheckResult]]] = []
    if unopened:
        readiness.append(lambda: {key: CheckResult(False, f"could not be opened: {why}")
                                  for key, why in unopened.items()})
    daemon_options.setdefault("workers", min(len(runners), MAX_ACCOUNT_WORKERS) + 1 + int(webhook is not None))
    daemon_options.setdefault("background", [background_store_check(store, clock)])
    from sync.insight.served import ReportPage  # the report's modules load with the daemon, not with every command

    daemon_options.setdefault("report", ReportPage(store, clock))
    daemon = Daemon(jobs, watcher=watcher, sweep=sweep, readiness=readiness, health=health, clock=clock,
                    host=settings.http.host, port=settings.http.port if port is None else port, **daemon_options)
    for extra in extra_sweeps:
        daemon.scheduler.add_sweep(extra)
    holder.append(daemon)
    return Service(daemon=daemon, store=store, watcher=watcher, runners=runners, opened=opened, unopened=unopened,
                   coordinator=coordinator, lock=lock)


def _coordinator(settings: Settings, store: StateStore, names: list[str], metrics: Metrics,
                 holder: list[Daemon], clock: Clock, watcher: RulesWatcher[Any]) -> Coordinator:
    """This replica's lease keeper: an account it takes is run at once, with the rules file read again first
    (the previous owner may have hot-reloaded a newer file than this replica's last poll: the account must not be
    rescored back to older rules), the metrics follow what it holds, and every log line names the replica."""
    me = replica_id()
    bind_process(replica=me)

    def acquired(name: str) -> None:
        watcher.check()
        if holder and name not in holder[0].scheduler.parked():
            try:
                holder[0].scheduler.run_now(name)
            except Exception:  # noqa: BLE001 (not scheduled yet or stopping: it runs on its interval)
                pass

    hooks = CoordinatorHooks(on_acquired=acquired, on_lost=lambda name, why: metrics.record_lease_loss(name),
                             on_tick=metrics.record_leases,
                             busy=lambda: holder[0].scheduler.in_flight() if holder else set())
    return Coordinator(LeaseTable(store.engine, clock), names, replica=me, lease=settings.replicas.lease,
                       hooks=hooks, clock=clock)
