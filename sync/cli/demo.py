"""The work of `crmsync demo` (declared in sync.cli.commands), the README's first command. Three sandbox CRMs
seeded with synthetic contacts, one full sync cycle on each with the rules of the demo's `my-rules.yaml` (a
copy of the shipped ones with the SLA reminders on, made once) and the SLA sweep, then what came of it: the
funnel per CRM, the maturity of the prospects, the kinds of clients, the SLA clocks and open breaches, the
reminder tasks the sweep wrote into each CRM, the API calls each CRM took, where the report was written, and
the commands to try next on what the demo left behind, written with the `crmsync` the user ran so that they
run as printed.

Everything runs in this process (the sandboxes on free local ports) against a SQLite file in the demo's
directory (`--dir`, else a new temporary one, kept), with a settings file describing the same accounts, so
`status`, `resync` and `run` can be pointed at it afterwards. Log lines go to stderr at WARNING, so the
tables are all that is printed on a normal run.
"""

from __future__ import annotations

import shlex
import tempfile
from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from sync.cli.exits import ExitCode, Failure
from sync.cli.invocation import crmsync_command
from sync.cli.tables import when
from sync.clock import SystemClock
from sync.daemon.report import RunSummary
from sync.demo import CrmResult, DemoError, DemoReport, run_demo
from sync.log import configure_logging
from sync.state.problems import store_errors

STAGES = ("lead", "prospect", "client", "nurture", "disqualified")
MATURITIES = ("hot", "warm", "cold")
KINDS = ("recurring", "one_off")
SLA = ("running", "met", "late", "breached")


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def funnel_table(results: list[CrmResult]) -> Table:
    table = Table(title="Funnel: lead -> prospect -> client (plus nurture and disqualified)", title_justify="left")
    table.add_column("CRM")
    for stage in STAGES:
        table.add_column(stage, justify="right")
    table.add_column("total", justify="right")
    totals = {stage: 0 for stage in STAGES}
    for result in results:
        stages = result.stages()
        whole = sum(stages.values())
        table.add_row(result.crm, *(f"{stages[stage]} {_pct(stages[stage], whole)}" for stage in STAGES),
                      str(whole))
        for stage in STAGES:
            totals[stage] += stages[stage]
    whole = sum(totals.values())
    table.add_row("[bold]all[/]",
                  *(f"[bold]{totals[stage]}[/] {_pct(totals[stage], whole)}" for stage in STAGES),
                  f"[bold]{whole}[/]", end_section=True)
    return table


def _split_table(title: str, results: list[CrmResult], columns: tuple[str, ...], pick: str, *,
                 breaches: bool = False) -> Table:
    """One row per CRM and a total: the counts `CrmResult.<pick>()` gives for each column."""
    table = Table(title=title, title_justify="left")
    table.add_column("CRM")
    for column in columns:
        table.add_column(column.replace("_", "-"), justify="right")
    if breaches:
        table.add_column("open breaches", justify="right")
    totals = dict.fromkeys(columns, 0)
    for result in results:
        counts = getattr(result, pick)()
        extra = [str(result.breaches_open)] if breaches else []
        table.add_row(result.crm, *(str(counts[column]) for column in columns), *extra)
        for column in columns:
            totals[column] += counts[column]
    extra = [f"[bold]{sum(result.breaches_open for result in results)}[/]"] if breaches else []
    table.add_row("[bold]all[/]", *(f"[bold]{totals[column]}[/]" for column in columns), *extra)
    return table


def reminder_table(report: DemoReport) -> RenderableType:
    """The reminder tasks the SLA sweep wrote into each sandbox CRM, or why there are none."""
    if not report.reminders_on:
        return Text(f"SLA reminders are off in the rules ({report.my_rules or report.rules_path}): with "
                    "sla.reminder.enabled: true the sweep writes a task for the owner of each prospect not yet "
                    "touched once 75% of its SLA has passed")
    table = Table(title="SLA reminder tasks the sweep wrote into each CRM (sla.reminder in the demo's rules)",
                  title_justify="left")
    for column in ("CRM", "running clocks", "reminder tasks created", "skipped (no owner)", "next reminder due"):
        table.add_column(column, justify="left" if column in ("CRM", "next reminder due") else "right")
    for result in report.results:
        table.add_row(result.crm, str(result.sla()["running"]), str(result.reminders_created),
                      str(result.reminders_skipped), when(result.next_reminder))
    table.add_row("[bold]all[/]", f"[bold]{sum(r.sla()['running'] for r in report.results)}[/]",
                  f"[bold]{sum(r.reminders_created for r in report.results)}[/]",
                  f"[bold]{sum(r.reminders_skipped for r in report.results)}[/]", "")
    return table


def work_table(results: list[CrmResult]) -> Table:
    """What the cycle cost each CRM: reads (contacts and their deals, activities, associations) and writes."""
    table = Table(title="What one full cycle took", title_justify="left")
    for column in ("CRM", "pulled", "written", "fields", "API calls", "reads", "writes", "time"):
        table.add_column(column, justify="left" if column == "CRM" else "right", no_wrap=True)
    for result in results:
        summary = result.summary
        calls = sum(summary.api_calls.values())
        writes = summary.api_calls.get("push", 0)
        table.add_row(result.crm, str(summary.pulled), str(summary.pushed), str(summary.fields_written),
                      str(calls), str(calls - writes), str(writes), f"{result.seconds:.1f} s")
    return table


def next_steps(report: DemoReport, crmsync: str = "crmsync") -> list[str]:
    """Commands to try on what the demo left behind, to be copied whole (printed unwrapped) and run as they
    are from the same directory."""
    config = shlex.quote(str(report.config))
    program = shlex.quote(crmsync) if crmsync != "crmsync" else crmsync
    mine = shlex.quote(str(report.my_rules)) if report.my_rules is not None else None
    rules_arg = f" {mine}" if mine else ""
    page = shlex.quote(str(report.directory / "report.html"))
    proposed = shlex.quote(str(report.directory / "proposed-rules.yaml"))
    lines = []
    if report.example is not None:
        lines += [f"# why {report.example_id} is a prospect: the rules that fired, its SLA clock",
                  f"{program} rules explain --contact {shlex.quote(str(report.example))}{rules_arg}", ""]
    lines += ["# the demo's state store: last runs, contacts per stage, open breaches",
              f"{program} status --config {config}", "",
              "# the funnel and SLA report again (one HTML file), and weights proposed from won and lost deals",
              f"{program} report --config {config} --since 90d --output {page}",
              f"{program} rules calibrate --config {config} --since 180d --output {proposed}", "",
              "# the field-level diff a sync of fresh sandboxes would push (writes nothing)",
              f"{program} resync --config {config} --dry-run", ""]
    if mine is not None:
        lines += [f"# the daemon on these accounts (/healthz /readyz /metrics on port 8080); edit {mine}",
                  "# while it runs: the edit is reloaded (a broken one is rejected, the last good rules stay)"]
    else:
        lines += ["# the daemon on these accounts (/healthz /readyz /metrics on port 8080)"]
    lines += [f"{program} run --config {config}", ""]
    if mine is not None and report.sample is not None:
        shipped = shlex.quote(str(report.shipped_rules))
        lines += ["# the rules: check, test and diff your copy against the shipped ones after editing it",
                  f"{program} rules check {mine}", f"{program} rules test {mine}",
                  f"{program} rules diff {shipped} {mine} --contacts {shlex.quote(str(report.sample))}",
                  f"{program} rules schema --output {shlex.quote(str(report.directory / 'rules.schema.json'))}"]
    else:
        lines += ["# the rules", f"{program} rules check"]
    lines += ["", "# the sandbox CRMs alone, on local ports, to point other tools at (Ctrl-C stops them)",
              f"{program} sandbox"]
    return lines


def render(report: DemoReport, console: Console) -> None:
    total = sum(result.summary.pulled for result in report.results)
    console.print(f"[bold]crmsync demo[/]: {len(report.results)} sandbox CRMs x {report.contacts_per_crm} synthetic "
                  f"contacts ({total} in all), one full cycle with rules version {report.rules_version}, "
                  f"in {report.seconds:.1f} s")
    console.print(Group(
        funnel_table(report.results),
        _split_table("Prospects by maturity", report.results, MATURITIES, "maturities"),
        _split_table("Clients by kind", report.results, KINDS, "client_kinds"),
        _split_table("SLA clocks of prospects (hand-off to first sales touch)", report.results, SLA, "sla",
                     breaches=True),
        reminder_table(report),
        work_table(report.results),
    ))
    console.print(f"State store: {report.state_url}   settings: {report.config}")
    if report.report_page is not None:
        console.print(f"Report: {report.report_page}  (open it in a browser; the daemon serves it at /report)",
                      markup=False, highlight=False, soft_wrap=True)
    console.rule("Where to look next", align="left")
    for line in next_steps(report, crmsync_command()):
        console.print(line, style="dim" if line.startswith("#") else "bold", markup=False, highlight=False,
                      soft_wrap=True)


def demo(*, contacts: int, state: str | None, directory: Path | None) -> None:
    console, err = Console(), Console(stderr=True)
    configure_logging(level="WARNING")
    where = _directory(directory)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                  transient=True) as progress:
        task = progress.add_task("starting the sandbox CRMs and syncing them...", total=None)

        def done(summary: RunSummary) -> None:
            progress.update(task, description=f"{summary.crm}: {summary.pulled} pulled, {summary.pushed} written")

        try:
            with store_errors(state or f"sqlite:///{where / 'state.db'}"):
                report = run_demo(where, clock=SystemClock(), contacts=contacts, state_url=state, progress=done)
        except DemoError as exc:
            raise Failure(ExitCode.FAILED, f"the demo could not run: {exc}") from None
    render(report, console)


def _directory(directory: Path | None) -> Path:
    """The demo's folder: made when missing; a file of that name is a usage problem said plainly."""
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="crmsync-demo-"))
    if directory.exists() and not directory.is_dir():
        raise Failure(ExitCode.FILE, f"{directory}: is a file, not a folder: give --dir a folder (it is created "
                                     "when missing)")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from sync.cli.failures import explain

        raise Failure(ExitCode.FILE, *explain(exc)[1], "give --dir a folder this user can write") from None
    return directory
