"""Operations commands: `crmsync config check`, `crmsync resync`, `crmsync status`.

Each takes `--config PATH` (default: `$CRMSYNC_CONFIG`, else the embedded default settings). Problems an
admin must fix are printed as `PATH:LINE:COL: message` and exit with status 1 (config check) or 2 (a
command that cannot start); a resync in which an account failed exits 1.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from sync import registry
from sync.clock import Clock, FrozenClock, SystemClock
from sync.contract import FieldValue
from sync.daemon.accounts import open_account, prepare_fields, run_options, select_accounts
from sync.daemon.engine import FieldDiff
from sync.daemon.report import RunOutcome, RunSummary
from sync.daemon.resync import ResyncRequest, ResyncResult, run_resync
from sync.errors import ConfigError
from sync.log import configure_logging
from sync.settings import Settings, config_path, load_settings
from sync.state import AccountRef, StateStore
from sync.state.engine import normalise_url
from sync.state.migrate import head_revision

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", "-c", help="settings file (default: $CRMSYNC_CONFIG, else the embedded default)")]

config_app = typer.Typer(help="Check crmsync's settings file.", no_args_is_help=True)


def _fail(console: Console, lines: list[str], code: int) -> typer.Exit:
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _settings(config: Path | None, err: Console) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        raise _fail(err, [str(i) for i in exc.issues], 2) from None


@config_app.command("check")
def config_check(path: Annotated[Path | None, typer.Argument(
        help="settings file (default: $CRMSYNC_CONFIG, else the embedded default)")] = None) -> None:
    """Validate a settings file; print every problem as PATH:LINE:COL: message."""
    out, err = Console(), Console(stderr=True)
    target = config_path(path)
    try:
        settings = load_settings(target)
    except ConfigError as exc:
        count = len(exc.issues)
        raise _fail(err, [str(i) for i in exc.issues] + [f"{count} problem{'s' * (count != 1)} in {target}"], 1) \
            from None
    names = ", ".join(f"{a.name} ({a.crm}{', sandbox' if a.sandbox else ''}{'' if a.enabled else ', disabled'})"
                      for a in settings.accounts)
    out.print(f"{target}: ok: {len(settings.accounts)} account(s): {names}", markup=False, highlight=False,
              soft_wrap=True)


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _simulated_sleep(clock: Clock) -> Callable[[float], None]:
    """Waits that move a FrozenClock instead of the process: a frozen clock and a real sleep would make a
    connector pacing itself to its rate limit wait forever for a window that never passes."""
    assert isinstance(clock, FrozenClock)

    def sleep(seconds: float) -> None:
        clock.advance(timedelta(seconds=seconds))
    return sleep


def _store(settings: Settings, *, dry_run: bool, err: Console) -> StateStore:
    """The configured store. A dry run never migrates nor creates anything: with no store yet it plans
    against an empty in-memory one (as a first run would)."""
    if not dry_run:
        return StateStore(settings.state.url)
    url = settings.state.url
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        return StateStore("sqlite://")
    store = StateStore(url, migrate_schema=False)
    revision = store.schema_revision()
    if revision is None:
        store.close()
        return StateStore("sqlite://")
    if revision != head_revision():
        store.close()
        raise _fail(err, [(f"the state store is at schema {revision}, this crmsync needs {head_revision()}: "
                           "run crmsync once without --dry-run to migrate it")], 2)
    return store


def resync(
    config: ConfigOption = None,
    crm: Annotated[str | None, typer.Option(help="only the accounts of this CRM (hubspot, salesforce, ...)")] = None,
    account: Annotated[list[str] | None, typer.Option(help="only this account (repeatable)")] = None,
    contact: Annotated[str | None, typer.Option(help="re-evaluate this one contact (its CRM id)")] = None,
    since: Annotated[str | None, typer.Option(help="pull changes since this date (YYYY-MM-DD or ISO time)")] = None,
    full: Annotated[bool, typer.Option("--full", help="ignore the cursors: pull everything")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show the field-level diff; write nothing")] = False,
    max_rows: Annotated[int, typer.Option(help="dry run: diff rows shown per CRM")] = 200,
    log_level: Annotated[str, typer.Option(help="log level of the run's log lines (stderr)")] = "WARNING",
    simulated_now: Annotated[str | None, typer.Option(
        "--now", hidden=True, help="simulated time, for reproducible runs against sandbox CRMs: decide as of "
                                   "this ISO time, the clock standing still except that rate-limit and retry "
                                   "waits move it instead of sleeping (never against a real CRM)")] = None,
) -> None:
    """Sync on demand, with a progress bar and a summary table; --dry-run shows what would be pushed."""
    out, err = Console(), Console(stderr=True)
    settings = _settings(config, err)
    configure_logging(level=log_level, json=settings.logging.format == "json" or None)
    if sum(bool(x) for x in (full, since, contact)) > 1:
        raise _fail(err, ["--full, --since and --contact are exclusive"], 2)
    try:
        accounts = select_accounts(settings, crm=crm, names=account or ())
    except KeyError as exc:
        raise _fail(err, [f"no account named {exc.args[0]!r} in {settings.source}"], 2) from None
    if not accounts:
        raise _fail(err, ["no enabled account matches"], 2)
    if contact is not None and len(accounts) != 1:
        raise _fail(err, ["--contact needs exactly one account: add --account NAME"], 2)
    try:
        rules = registry.rules_loader()(settings.rules.path)
    except ConfigError as exc:
        raise _fail(err, [str(i) for i in exc.issues], 2) from None
    except registry.NotInstalled as exc:
        raise _fail(err, [f"the rules engine cannot be loaded: {exc}"], 2) from None
    request = ResyncRequest(full=full, since=_parse_time(since), contact=contact, dry_run=dry_run)
    at = _parse_time(simulated_now)
    clock: Clock = FrozenClock(at) if at is not None else SystemClock()
    sleep = time.sleep if at is None else _simulated_sleep(clock)
    results: list[ResyncResult] = []
    failures: list[RunSummary] = []
    store = _store(settings, dry_run=dry_run, err=err)
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[counts]}"),
                      TimeElapsedColumn(), console=err, transient=False) as progress:
            for acct in accounts:
                task = progress.add_task(f"{acct.crm}/{acct.name}", total=None, counts="opening")
                try:
                    opened = open_account(acct, clock=clock, sleep=sleep)
                    if not dry_run:  # a dry run writes nothing, not even a field definition
                        try:
                            prepare_fields(opened.connector)
                        except BaseException:
                            opened.close()
                            raise
                except Exception as exc:  # noqa: BLE001 (one account that cannot open does not stop the others)
                    now = clock.now()
                    failures.append(RunSummary(crm=acct.crm, account=acct.name, run_id="-", started_at=now,
                                               finished_at=now, outcome=RunOutcome.FAILED,
                                               errors=[f"cannot open the account: {exc}"]))
                    progress.update(task, counts="failed to open", total=1, completed=1)
                    continue
                try:
                    def show(summary: RunSummary, task: TaskID = task) -> None:
                        progress.update(task, counts=f"pulled {summary.pulled}  decided {summary.decided}  "
                                                     f"changed {summary.changed}  pushed {summary.pushed}")
                    # a sandbox account's CRM is new each time it starts: plan against a blank state, or reset
                    # it (but --contact re-evaluates one contact the previous run knew, from its snapshot)
                    fresh = acct.sandbox and contact is None
                    account_store = StateStore("sqlite://") if dry_run and fresh else store
                    if fresh and not dry_run:
                        store.forget_account(acct.ref)
                    result = run_resync(store=account_store, connector=opened.connector, rules=lambda: rules,
                                        clock=clock, request=request, stop=threading.Event(),
                                        options=run_options(settings), progress=show)
                    if account_store is not store:
                        account_store.close()
                finally:
                    opened.close()
                show(result.summary)
                progress.update(task, total=1, completed=1)
                results.append(result)
    finally:
        store.close()
    summaries = [r.summary for r in results] + failures
    if dry_run:
        for table in diff_tables([d for r in results if r.plan for d in r.plan.diffs], max_rows):
            out.print(table)
    out.print(resync_table(summaries, dry_run=dry_run))
    for summary in summaries:
        for message in summary.errors[:5]:
            err.print(f"{summary.crm}/{summary.account}: {message}", markup=False, highlight=False, soft_wrap=True)
    if any(s.outcome in (RunOutcome.FAILED, RunOutcome.PARKED) for s in summaries):
        raise typer.Exit(1)


def status(config: ConfigOption = None) -> None:
    """Last run per account, contacts per stage, open SLA breaches, API budget left."""
    out, err = Console(), Console(stderr=True)
    settings = _settings(config, err)
    store = _store(settings, dry_run=True, err=err)  # read-only: never creates or migrates the store
    try:
        for table in status_tables(settings, store):
            out.print(table)
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    """Add the operations commands to the main app."""
    app.add_typer(config_app, name="config")
    app.command("resync")(resync)
    app.command("status")(status)


# --- rendering ---------------------------------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def render_value(value: FieldValue) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, datetime):
        return _when(value)
    return str(value)


def diff_tables(diffs: list[FieldDiff], max_rows: int) -> list[Table]:
    """One table per CRM: contact, field, before -> after."""
    tables = []
    for crm in sorted({d.crm for d in diffs}):
        rows = [d for d in diffs if d.crm == crm]
        contacts = len({(d.account, d.contact_id) for d in rows})
        table = Table(title=f"{crm}: {len(rows)} field write(s) on {contacts} contact(s) would be pushed")
        for column in ("account", "contact", "field", "before", "after"):
            table.add_column(column)
        for d in rows[:max_rows]:
            table.add_row(d.account, d.contact_id, d.field, render_value(d.before),
                          render_value(d.after) + (" (pending)" if d.pending else ""))
        if len(rows) > max_rows:
            table.caption = f"{len(rows) - max_rows} more not shown (--max-rows)"
        tables.append(table)
    if not tables:
        table = Table(title="nothing would be pushed")
        table.add_column("every CRM field crmsync manages is up to date")
        tables.append(table)
    return tables


def resync_table(summaries: list[RunSummary], *, dry_run: bool) -> Table:
    table = Table(title="resync (dry run: nothing written)" if dry_run else "resync")
    for column in ("account", "crm", "outcome", "pulled", "decided", "changed", "pushed", "failed", "fields",
                   "deleted", "api calls", "breaches"):
        table.add_column(column, justify="left" if column in ("account", "crm", "outcome") else "right")
    for s in summaries:
        table.add_row(s.account, s.crm, s.outcome.value, str(s.pulled), str(s.decided), str(s.changed),
                      str(s.pushed), str(s.push_failed), str(s.fields_written), str(s.deleted),
                      str(sum(s.api_calls.values())), str(s.breaches_open))
    return table


def status_tables(settings: Settings, store: StateStore) -> list[Table]:
    accounts = [a.ref for a in settings.accounts]
    last = {AccountRef(r.crm, r.account): r for r in store.runs(latest_only=True, limit=10_000)}
    runs = Table(title="last run per account")
    for column in ("account", "crm", "kind", "outcome", "finished", "pulled", "pushed", "failed", "fields", "note"):
        runs.add_column(column)
    for ref in sorted(set(accounts) | set(last)):
        r = last.get(ref)
        if r is None:
            runs.add_row(ref.account, ref.crm, "-", "never run", "-", "-", "-", "-", "-", "")
            continue
        note = f"retry at {_when(r.retry_at)}" if r.retry_at else (r.errors[0] if r.errors else "")
        runs.add_row(ref.account, ref.crm, r.kind, r.outcome.value, _when(r.finished_at),
                     str(r.counts.get("pulled", 0)), str(r.counts.get("pushed", 0)),
                     str(r.counts.get("push_failed", 0)), str(r.counts.get("fields_written", 0)), note[:80])
    stages = Table(title="contacts per stage")
    names = ["lead", "prospect", "client", "nurture", "disqualified"]
    for column in ("account", "crm", *names, "total"):
        stages.add_column(column, justify="left" if column in ("account", "crm") else "right")
    counts = store.stage_counts()
    for ref in sorted(counts):
        row = counts[ref]
        stages.add_row(ref.account, ref.crm, *(str(row.get(n, 0)) for n in names), str(sum(row.values())))
    breaches = store.open_breaches()
    open_table = Table(title=f"open SLA breaches: {len(breaches)}")
    for column in ("account", "crm", "contact", "due", "overdue"):
        open_table.add_column(column)
    now = datetime.now(timezone.utc)
    for b in breaches[:20]:
        overdue = f"{(now - b.due_at).total_seconds() / 3600:.1f} h" if b.due_at else "-"
        open_table.add_row(b.account, b.crm, b.contact_id, _when(b.due_at), overdue)
    if len(breaches) > 20:
        open_table.caption = f"{len(breaches) - 20} more (oldest first)"
    budget = Table(title="API budget left (last health check)")
    for column in ("account", "crm", "remaining", "limit", "window", "resets", "checked"):
        budget.add_column(column)
    for ref in sorted(set(accounts) | set(last)):
        h = store.health(ref)
        if h is None:
            budget.add_row(ref.account, ref.crm, "unknown", "-", "-", "-", "never")
            continue
        remaining = "unreachable" if not h.reachable else "unauthorised" if not h.authorised else (
            str(h.budget_remaining) if h.budget_remaining is not None else "not reported")
        budget.add_row(ref.account, ref.crm, remaining, str(h.budget_limit or "-"), h.budget_window,
                       _when(h.budget_resets_at), _when(h.checked_at))
    return [runs, stages, open_table, budget]
