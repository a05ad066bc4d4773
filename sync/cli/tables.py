"""What `crmsync status` and `crmsync resync` print: rows built from the state store and the run summaries,
laid out by `sync.cli.layout` so that no id, token or name is ever cut at any terminal width.

Each table is one function returning its rows and one that lays them out, so a column is added in one
place (`status_run_columns` / `status_run_row` for the last-run table). Failures and breaches are
coloured; rich prints the colours on a terminal only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from rich.cells import cell_len
from rich.console import RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from sync.cli.layout import Cell, Column, fitted
from sync.contract import FieldValue
from sync.daemon.engine import FieldDiff
from sync.daemon.report import RunOutcome, RunSummary
from sync.daemon.resync_lease import is_resync
from sync.settings import Settings
from sync.state import AccountRef, RunRecord, StateStore
from sync.state.leases import LeaseTable

STAGES = ("lead", "prospect", "client", "nurture", "disqualified")
_OUTCOME_STYLES = {RunOutcome.OK.value: "green", RunOutcome.PARTIAL.value: "yellow",
                   RunOutcome.FAILED.value: "bold red", RunOutcome.PARKED.value: "yellow",
                   RunOutcome.INTERRUPTED.value: "yellow"}
NEVER_WRITTEN = "(never written)"


def when(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def overdue(delta: timedelta) -> str:
    """`96d 15h`, `5h 12m`, `12m`: how late, in the units a person reads at a glance."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"


def outcome(value: str) -> Text:
    return Text(value, style=_OUTCOME_STYLES.get(value, ""))


def alarming(count: int, style: str = "bold red") -> Cell:
    """A count of failures or breaches: red (or `style`) when there is any."""
    return Text(str(count), style=style) if count else str(count)


def render_value(value: FieldValue) -> str:
    if value is None:
        return "(empty)"
    if value == "":
        return '""'
    if isinstance(value, datetime):
        return when(value)
    return str(value)


# --- status ---------------------------------------------------------------------------------------------------


def status_run_columns() -> list[Column]:
    return [Column("account", "id"), Column("crm", "id"), Column("last run"), Column("finished"),
            Column("pulled", "number"), Column("pushed", "number"), Column("failed", "number"),
            Column("fields", "number"), Column("note")]


def status_run_row(ref: AccountRef, record: RunRecord | None) -> list[Cell]:
    if record is None:
        return [ref.account, ref.crm, "never run", "-", "-", "-", "-", "-", ""]
    note = f"retry at {when(record.retry_at)}" if record.retry_at else (record.errors[0] if record.errors else "")
    last = Text.assemble(f"{record.kind} ", outcome(record.outcome.value))
    return [ref.account, ref.crm, last, when(record.finished_at), str(record.counts.get("pulled", 0)),
            str(record.counts.get("pushed", 0)), alarming(record.counts.get("push_failed", 0)),
            str(record.counts.get("fields_written", 0)), note]


def status_tables(settings: Settings, store: StateStore, *, width: int,
                  now: datetime | None = None) -> list[RenderableType]:
    """The parts of `crmsync status`: last run per account, contacts per stage, open SLA breaches (oldest
    first), API budget left at the last health check, and with replicas (PostgreSQL) who owns each account."""
    now = now or datetime.now(timezone.utc)
    accounts = {account.ref for account in settings.accounts}
    last = {AccountRef(run.crm, run.account): run for run in store.runs(latest_only=True, limit=10_000)}
    refs = sorted(accounts | set(last))
    runs = fitted("last run per account", status_run_columns(), [status_run_row(ref, last.get(ref)) for ref in refs],
                  width)
    counts = store.stage_counts()
    stages = fitted("contacts per stage",
                    [Column("account", "id"), Column("crm", "id"),
                     *(Column(stage, "number") for stage in STAGES), Column("total", "number")],
                    [[ref.account, ref.crm, *(str(counts[ref].get(stage, 0)) for stage in STAGES),
                      str(sum(counts[ref].values()))] for ref in sorted(counts)], width)
    breaches = store.open_breaches()
    shown = breaches[:20]
    breach_table = fitted(
        f"open SLA breaches: {len(breaches)}",
        [Column("account", "id"), Column("crm", "id"), Column("contact", "id"), Column("due"), Column("overdue")],
        [[breach.account, breach.crm, breach.contact_id, when(breach.due_at),
          Text(overdue(now - breach.due_at), style="red") if breach.due_at else "-"]
         for breach in shown], width,
        caption=f"{len(breaches) - len(shown)} more (oldest first)" if len(breaches) > len(shown) else None)
    budget_rows: list[list[Cell]] = []
    for ref in refs:
        health = store.health(ref)
        if health is None:
            budget_rows.append([ref.account, ref.crm, "unknown", "-", "-", "-", "never"])
            continue
        remaining: Cell = (Text("unreachable", style="bold red") if not health.reachable else
                           Text("unauthorised", style="bold red") if not health.authorised else
                           str(health.budget_remaining) if health.budget_remaining is not None else "not reported")
        budget_rows.append([ref.account, ref.crm, remaining, str(health.budget_limit or "-"),
                            health.budget_window or "-", when(health.budget_resets_at), when(health.checked_at)])
    budget = fitted("API budget left (last health check)",
                    [Column("account", "id"), Column("crm", "id"), Column("remaining"), Column("limit", "number"),
                     Column("window"), Column("resets"), Column("checked")], budget_rows, width)
    return [runs, stages, breach_table, budget, *replica_tables(settings, store, width=width, now=now)]


def replica_tables(settings: Settings, store: StateStore, *, width: int, now: datetime) -> list[RenderableType]:
    """Each account's owner and lease expiry, and the replicas with their last heartbeat; nothing for a store
    no replica ever ran on (SQLite, one daemon)."""
    table = LeaseTable(store.engine)
    leases, replicas = table.leases(), table.replicas()
    if not leases and not replicas:
        return []
    lease_time = settings.replicas.lease
    alive = {r.replica_id for r in replicas if now - r.heartbeat_at <= lease_time}
    rows: list[list[Cell]] = []
    for lease in leases:
        if lease.owner is None:
            rows.append([lease.name, "-", "released", str(lease.generation)])
            continue
        expires = f"{lease.expires_at.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"
        live = lease.owner in alive or (is_resync(lease.owner) and lease.expires_at > now)  # a resync is no replica
        rows.append([lease.name, lease.owner if live else Text(f"{lease.owner} (gone)", style="red"),
                     expires if lease.expires_at > now else Text(f"{expires} (expired)", style="red"),
                     str(lease.generation)])
    owners = fitted("account owners", [Column("account", "id"), Column("owner", "id"), Column("lease expires"),
                                       Column("generation", "number")], rows, width)
    members = fitted(f"replicas alive: {len(alive)}", [Column("replica", "id"), Column("host", "id"),
                                                       Column("started"), Column("heartbeat"), Column("alive")],
                     [[r.replica_id, r.host, when(r.started_at), when(r.heartbeat_at),
                       "yes" if r.replica_id in alive else Text("no", style="red")] for r in replicas], width)
    return [owners, members]


# --- resync ---------------------------------------------------------------------------------------------------


def resync_table(summaries: Sequence[RunSummary], *, dry_run: bool, width: int) -> RenderableType:
    columns = [Column("account", "id"), Column("crm", "id"), Column("outcome"),
               *(Column(name, "number") for name in ("pulled", "decided", "changed", "pushed", "failed", "fields",
                                                     "deleted", "api calls", "breaches"))]
    rows = [[summary.account, summary.crm, outcome(summary.outcome.value), str(summary.pulled),
             str(summary.decided), str(summary.changed), str(summary.pushed), alarming(summary.push_failed),
             str(summary.fields_written), str(summary.deleted), str(sum(summary.api_calls.values())),
             alarming(summary.breaches_open)] for summary in summaries]
    return fitted("resync (dry run: nothing written)" if dry_run else "resync", columns, rows, width)


def _empty(value: FieldValue) -> bool:
    return value is None or value == ""


def diff_rows(diffs: Sequence[FieldDiff]) -> list[tuple[str, str, str, Text]]:
    """(account, contact, field, `before -> after`) per field that would change. The fields a contact would
    have emptied though crmsync never wrote them share one row (`(3 fields)`, their names after the change),
    so that every row shows a real change."""
    rows: list[tuple[str, str, str, Text]] = []
    cleared: dict[tuple[str, str], list[str]] = {}
    for diff in diffs:
        if diff.before is None and _empty(diff.after) and not diff.pending:
            cleared.setdefault((diff.account, diff.contact_id), []).append(diff.field)
            continue
        change = Text(f"{render_value(diff.before)} -> ")
        after = Text(render_value(diff.after) + (" (pending)" if diff.pending else ""))
        if diff.field == "sla_breached" and diff.after is True:
            after.stylize("bold red")
        rows.append((diff.account, diff.contact_id, diff.field, change.append_text(after)))
    for (account, contact), names in cleared.items():
        rows.append((account, contact, f"({len(names)} field{'s' * (len(names) != 1)})",
                     Text(f"{NEVER_WRITTEN} -> (empty): {', '.join(names)}")))
    return sorted(rows, key=lambda row: (row[0], row[1]))


def diff_tables(diffs: Sequence[FieldDiff], max_rows: int, *, width: int) -> list[RenderableType]:
    """Per CRM, per contact: each field it would write, `before -> after`. The contact's account and id head
    its block (whole, whatever the width); long values wrap under their own column."""
    parts: list[RenderableType] = []
    for crm in sorted({diff.crm for diff in diffs}):
        mine = [diff for diff in diffs if diff.crm == crm]
        contacts = len({(diff.account, diff.contact_id) for diff in mine})
        rows = diff_rows(mine)
        parts.append(Text(f"{crm}: {len(mine)} field write(s) on {contacts} contact(s) would be pushed",
                          style="bold"))
        names = max((cell_len(row[2]) for row in rows[:max_rows]), default=0)
        grid: Table | None = None
        current: tuple[str, str] | None = None
        for account, contact, name, change in rows[:max_rows]:
            if (account, contact) != current:
                current = (account, contact)
                parts.append(Text.assemble((account, "bold"), "  ", contact))
                grid = Table.grid(padding=(0, 2))
                grid.add_column(width=min(names, max(width // 3, 12)), overflow="fold", no_wrap=False)
                grid.add_column(overflow="fold")
                parts.append(Padding(grid, (0, 0, 0, 2)))
            assert grid is not None
            grid.add_row(name, change)
        if len(rows) > max_rows:
            parts.append(Text(f"  {len(rows) - max_rows} more rows not shown (--max-rows)", style="italic"))
    if not parts:
        parts.append(Text("nothing would be pushed: every CRM field crmsync manages is up to date"))
    return parts
