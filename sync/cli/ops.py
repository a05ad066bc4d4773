"""The work of `crmsync config check`, `crmsync resync` and `crmsync status` (declared in sync.cli.commands).

Each takes `--config PATH` (default: `$CRMSYNC_CONFIG`, else the embedded default settings). A settings or
rules file that does not validate exits 3 with every problem as `PATH:LINE:COL: message`; a state store
that cannot be used exits 4 saying why (unreachable, read-only, missing folder, disk full, a SQLite store a
daemon runs on); a resync in which an account failed exits 1 (sync.cli.exits lists every code).

A resync that writes never writes beside another writer: on SQLite it holds the store's one-process lock
(`sync.state.single`), refused while a daemon runs there; on PostgreSQL it takes each account's lease from the
replica that owns it for the account's run (`sync.daemon.resync_lease`), its writes fenced like a replica's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta, timezone
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from sync import registry
from sync.cli.exits import ExitCode, Failure
from sync.cli.problem_tables import problem_tables
from sync.cli.reminder_tables import reminder_tables
from sync.cli.tables import diff_tables, resync_table, status_tables
from sync.clock import Clock, FrozenClock, SystemClock
from sync.contract import Connector
from sync.daemon.accounts import open_account, prepare_fields, run_options, select_accounts
from sync.daemon.report import RunOutcome, RunSummary
from sync.daemon.resync import ResyncRequest, ResyncResult, run_resync
from sync.daemon.resync_lease import LeaseBusy, ResyncLease, resync_owner
from sync.log import configure_logging
from sync.settings import Account, Settings, config_path, load_settings
from sync.state import StateStore
from sync.state.engine import normalise_url
from sync.state.leases import Fence, LeaseTable, fenced
from sync.state.migrate import head_revision
from sync.state.problems import describe_store, store_errors
from sync.state.single import DaemonLock, StoreInUse


def config_check(path: Path | None) -> None:
    """The settings, then the rules file they name: both must load for `crmsync run` to start."""
    target = config_path(path)
    settings = load_settings(target)
    rules = registry.rules_loader()(settings.rules.path)
    names = ", ".join(f"{a.name} ({a.crm}{', sandbox' if a.sandbox else ''}{'' if a.enabled else ', disabled'})"
                      for a in settings.accounts)
    source = getattr(rules, "source", None) or settings.rules.path or "the shipped rules"
    Console().print(f"{target}: ok: {len(settings.accounts)} account(s): {names}; rules {source}: ok, "
                    f"version {rules.version}", markup=False, highlight=False, soft_wrap=True)


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD) or an ISO 8601 time",
                                 param_hint=option) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _simulated_sleep(clock: Clock) -> Callable[[float], None]:
    """Waits that move a FrozenClock instead of the process: a frozen clock and a real sleep would make a
    connector pacing itself to its rate limit wait forever for a window that never passes."""
    assert isinstance(clock, FrozenClock)

    def sleep(seconds: float) -> None:
        clock.advance(timedelta(seconds=seconds))
    return sleep


def _sqlite_file(url: str) -> Path | None:
    parsed = normalise_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def open_store(settings: Settings, *, read_only: bool) -> StateStore:
    """The configured store. Read-only (a dry run, `status`) never migrates nor creates anything: with no
    store yet it is an empty in-memory one (what a first run would start from)."""
    url = settings.state.url
    with store_errors(url):
        if not read_only:
            return StateStore(url, timeouts=settings.state.timeouts())
        file = _sqlite_file(url)
        if file is not None and not file.exists():
            return StateStore("sqlite://")
        store = StateStore(url, migrate_schema=False, timeouts=settings.state.timeouts())
        try:
            revision = store.schema_revision()
        except BaseException:
            store.close()
            raise
    if revision is None:
        store.close()
        return StateStore("sqlite://")
    if revision != head_revision():
        store.close()
        raise Failure(ExitCode.STATE_STORE, f"state store {describe_store(url)} is at schema {revision}, this "
                                            f"crmsync needs {head_revision()}: run crmsync once without --dry-run "
                                            "to migrate it")
    return store


def _accounts(settings: Settings, crm: str | None, names: Sequence[str], contact: str | None) -> list[Account]:
    try:
        accounts = select_accounts(settings, crm=crm, names=names)
    except KeyError as exc:
        known = ", ".join(a.name for a in settings.accounts) or "none"
        raise typer.BadParameter(f"no account named {exc.args[0]!r} in {settings.source} (known: {known})",
                                 param_hint="--account") from None
    if not accounts:
        raise typer.BadParameter(f"no enabled account matches in {settings.source}",
                                 param_hint="--crm" if crm else "--account")
    if contact is not None and len(accounts) != 1:
        raise typer.BadParameter("--contact needs exactly one account: add --account NAME", param_hint="--contact")
    return accounts


def _check_contact(store: StateStore, account: Account, contact: str) -> None:
    """A mistyped id is a usage error, found before anything runs (and before anything is recorded)."""
    if not store.is_managed(account.ref, contact):
        raise typer.BadParameter(f"no contact {contact!r} is known for account {account.name}: check the id, or "
                                 "run a resync without --contact first", param_hint="--contact")


def resync(*, config: Path | None, crm: str | None, accounts: Sequence[str], contact: str | None,
           since: str | None, full: bool, dry_run: bool, max_rows: int, log_level: str,
           simulated_now: str | None) -> None:
    out, err = Console(), Console(stderr=True)
    settings = load_settings(config)
    configure_logging(level=log_level, json=settings.logging.format == "json" or None)
    if sum(bool(x) for x in (full, since, contact)) > 1:
        raise typer.BadParameter("--full, --since and --contact are exclusive", param_hint="--full/--since/--contact")
    chosen = _accounts(settings, crm, accounts, contact)
    rules = registry.rules_loader()(settings.rules.path)
    request = ResyncRequest(full=full, since=_parse_time(since, "--since"), contact=contact, dry_run=dry_run)
    at = _parse_time(simulated_now, "--now")
    clock: Clock = FrozenClock(at) if at is not None else SystemClock()
    sleep = time.sleep if at is None else _simulated_sleep(clock)
    results: list[ResyncResult] = []
    failures: list[RunSummary] = []
    lock = None if dry_run else _writer_lock(settings)
    try:
        store = open_store(settings, read_only=dry_run)
        try:
            with store_errors(settings.state.url):
                if contact is not None:
                    _check_contact(store, chosen[0], contact)
                leases = _Leases(store, settings) if not dry_run and store.engine.dialect.name == "postgresql" \
                    else None
                with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                              TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), console=err,
                              transient=True) as progress:  # gone when done: the summary says it all, uncut
                    for account in chosen:
                        result = _resync_one(account, store, progress, settings=settings, rules=rules, clock=clock,
                                             sleep=sleep, request=request, leases=leases)
                        if isinstance(result, ResyncResult):
                            results.append(result)
                        else:
                            failures.append(result)
        finally:
            store.close()
    finally:
        if lock is not None:
            lock.release()
    summaries = [r.summary for r in results] + failures
    if dry_run:
        for table in diff_tables([d for r in results if r.plan for d in r.plan.diffs], max_rows, width=out.width):
            out.print(table)
    out.print(resync_table(summaries, dry_run=dry_run, width=out.width))
    for summary in summaries:
        for message in summary.errors[:5]:
            err.print(f"{summary.crm}/{summary.account}: {message}", markup=False, highlight=False, soft_wrap=True)
    if any(s.store_problem for s in summaries):
        raise typer.Exit(ExitCode.STATE_STORE)
    if any(s.outcome in (RunOutcome.FAILED, RunOutcome.PARKED) or s.lease_lost for s in summaries):
        raise typer.Exit(ExitCode.FAILED)


def _writer_lock(settings: Settings) -> DaemonLock | None:
    """The one-process lock of a SQLite store, held by a resync that writes (None on PostgreSQL)."""
    try:
        with store_errors(settings.state.url):  # a folder that cannot be created, a full disk: the store's problem
            return DaemonLock.take(settings.state.url, holder="resync")
    except StoreInUse as exc:
        if exc.holder == "resync":
            raise Failure(ExitCode.STATE_STORE, exc.user_message) from None
        raise Failure(ExitCode.STATE_STORE, f"a crmsync daemon (pid {exc.pid}) is running on the SQLite state store "
                                            f"{exc.database}: a resync now would write beside it, and a SQLite store "
                                            "serves one process. Stop the daemon first, or use a PostgreSQL state "
                                            "store, where a resync runs beside the running replicas (it takes over "
                                            "each account's lease). --dry-run writes nothing and runs anyway.") from None


class _Leases:
    """The account leases a resync takes on a PostgreSQL store, one account at a time, on the wall clock (never
    a `--now` frozen clock: the replicas read the same expiry times)."""

    def __init__(self, store: StateStore, settings: Settings) -> None:
        self.table = LeaseTable(store.engine, SystemClock())
        self.lease = settings.replicas.lease
        self.owner = resync_owner()

    def hold(self, account: Account) -> ResyncLease:
        return ResyncLease(self.table, f"{account.crm}/{account.name}", owner=self.owner, lease=self.lease)

    def lost(self, account: Account) -> str:
        """What the user reads when the lease was taken from the resync while it ran."""
        name = f"{account.crm}/{account.name}"
        holder = next((f"{lease.owner} (generation {lease.generation})" for lease in self.table.leases()
                       if lease.name == name and lease.owner is not None), "nobody")
        return (f"the resync stopped: the account's lease was taken while it ran (now held by {holder}); nothing "
                "more was recorded: run the resync again")


def _resync_one(account: Account, store: StateStore, progress: Progress, *, settings: Settings,
                rules: registry.RulesLike, clock: Clock, sleep: Callable[[float], None], request: ResyncRequest,
                leases: _Leases | None = None) -> ResyncResult | RunSummary:
    """One account's resync, under its lease when `leases` (PostgreSQL); a summary of the failure when the
    account cannot even be opened or its lease is another resync's (that does not stop the others)."""
    task = progress.add_task(f"{account.crm}/{account.name}", total=None, counts="opening")

    def failed(message: str, counts: str) -> RunSummary:
        now = clock.now()
        progress.update(task, counts=counts, total=1, completed=1)
        return RunSummary(crm=account.crm, account=account.name, run_id="-", started_at=now, finished_at=now,
                          outcome=RunOutcome.FAILED, errors=[message])

    try:
        opened = open_account(account, clock=clock, sleep=sleep)
    except Exception as exc:  # noqa: BLE001 (reported as that account's failure)
        return failed(f"cannot open the account: {exc}", "failed to open")

    def show(summary: RunSummary, task: TaskID = task) -> None:
        progress.update(task, counts=f"pulled {summary.pulled}  decided {summary.decided}  "
                                     f"changed {summary.changed}  pushed {summary.pushed}")
    held: AbstractContextManager[Fence | None] = leases.hold(account) if leases is not None else nullcontext()
    try:
        with held as fence, fenced(fence):
            if not request.dry_run:  # a dry run writes nothing, not even a field definition
                try:
                    prepare_fields(opened.connector, store, now=clock.now())
                except Exception as exc:  # noqa: BLE001 (reported as that account's failure)
                    return failed(f"cannot open the account: {exc}", "failed to open")
            result = _run_account(account, store, opened.connector, settings=settings, rules=rules, clock=clock,
                                  request=request, progress=show)
    except LeaseBusy as exc:
        return failed(exc.user_message, "busy")
    finally:
        opened.close()
    if result.summary.lease_lost and leases is not None:
        result.summary.errors.append(leases.lost(account))
    show(result.summary)
    progress.update(task, total=1, completed=1)
    return result


def _run_account(account: Account, store: StateStore, connector: Connector, *, settings: Settings,
                 rules: registry.RulesLike, clock: Clock, request: ResyncRequest,
                 progress: Callable[[RunSummary], None]) -> ResyncResult:
    # a sandbox account's CRM is new each time it starts: plan against a blank state, or reset it (but
    # --contact re-evaluates one contact the previous run knew, from its snapshot)
    fresh = account.sandbox and request.contact is None
    account_store = StateStore("sqlite://") if request.dry_run and fresh else store
    if fresh and not request.dry_run:
        store.forget_account(account.ref)
    try:
        return run_resync(store=account_store, connector=connector, rules=lambda: rules, clock=clock,
                          request=request, stop=threading.Event(), options=run_options(settings), progress=progress)
    finally:
        if account_store is not store:
            account_store.close()


def status(config: Path | None, *, problems: bool = False) -> None:
    out, err = Console(), Console(stderr=True)
    settings = load_settings(config)
    file = _sqlite_file(settings.state.url)
    if file is not None and not file.exists():
        err.print(f"no state store at {file} yet: nothing has run with {settings.source}", markup=False,
                  highlight=False, soft_wrap=True)
    store = open_store(settings, read_only=True)  # never creates or migrates the store
    try:
        with store_errors(settings.state.url):
            tables = [*status_tables(settings, store, width=out.width),
                      *problem_tables(store, width=out.width, show_all=problems),
                      *reminder_tables(store, width=out.width)]
    finally:
        store.close()
    for table in tables:
        out.print(table)
