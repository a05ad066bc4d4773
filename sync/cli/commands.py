"""Every `crmsync` command as the user sees it: its name, options, help text, and nothing else.

This module imports only the CLI library and the standard library, so `crmsync --help`, `--version` and a
usage error answer at once; each command's body imports the module that does its work when it runs (the
rules engine for `rules check`, SQLAlchemy for `status`...). Keep it that way: a test checks that `--help`
imports no SQLAlchemy, alembic or werkzeug, and `benchmarks/cli_startup.py` measures the start-up.
Every command is `guarded` (sync.cli.exits): a failure is one message and a documented exit code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sync import __version__
from sync.cli.exits import guarded

# rich_markup_mode=None: help and usage errors in click's plain format. Typer's rich format imports rich's
# markdown and layout machinery first, which doubles the time `crmsync --help` takes (0.15 s instead of
# 0.07 s, against 0.06 s for `python -c "import typer"`: benchmarks/cli_startup.py).
app = typer.Typer(
    name="crmsync",
    help="Keeps every contact in HubSpot, Salesforce and Pipedrive scored, classified and SLA-checked.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
rules_app = typer.Typer(help="Check, explain, test, diff and calibrate scoring and classification rules.",
                        no_args_is_help=True, rich_markup_mode=None)
config_app = typer.Typer(help="Check crmsync's settings file.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(rules_app, name="rules")
app.add_typer(config_app, name="config")

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", "-c", help="settings file (default: $CRMSYNC_CONFIG, else the embedded default)")]
RulesPath = Annotated[Path | None, typer.Argument(help="rules file (default: the shipped config/rules.yaml)",
                                                  show_default=False)]
NowOption = Annotated[str | None, typer.Option("--now", help="evaluate at this ISO time (default: now, UTC)")]
StateOption = Annotated[str | None, typer.Option("--state", help="state store URL (default: the settings')")]
AccountsOption = Annotated[list[str] | None, typer.Option(
    "--account", help="only this account: CRM/NAME, NAME or a CRM (repeatable)")]


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"crmsync {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="print crmsync's version and exit")] = False,
) -> None:
    """Keeps every contact in HubSpot, Salesforce and Pipedrive scored, classified and SLA-checked."""


# --- the daemon and the sandboxes ---------------------------------------------------------------------------


@app.command("run")
@guarded
def run(config: ConfigOption = None) -> None:
    """Run the sync daemon until SIGTERM or Ctrl-C, which finish the batch in flight.

    Every account on its schedule, the SLA sweep, rules hot reload, and /healthz /readyz /metrics."""
    from sync.cli import run as implementation

    implementation.run(config)


@app.command("demo")
@guarded
def demo(
    contacts: Annotated[int, typer.Option(min=1, max=20_000, help="synthetic contacts seeded in each CRM")] = 200,
    state: Annotated[str | None, typer.Option(help="state store URL (default: a SQLite file in the demo's "
                                                   "directory)")] = None,
    directory: Annotated[Path | None, typer.Option("--dir", help="where to write the demo's settings, state and "
                                                   "example contact (default: a new temporary directory); "
                                                   "a second run keeps your edited my-rules.yaml")] = None,
) -> None:
    """Start the three sandbox CRMs with synthetic contacts, run one full cycle on each, print the funnel."""
    from sync.cli import demo as implementation

    implementation.demo(contacts=contacts, state=state, directory=directory)


@app.command("sandbox")
@guarded
def sandbox(
    port_base: Annotated[int, typer.Option("--port-base", help="First port; the CRMs take consecutive ports "
                                           "(hubspot, salesforce, pipedrive). 0 picks free ports.")] = 8600,
    contacts: Annotated[int, typer.Option("--contacts", min=0, help="Synthetic contacts seeded in each CRM.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic population (same seed, same "
                                      "people).")] = 7,
) -> None:
    """Start the three sandbox CRMs, seeded with synthetic contacts, and serve them until Ctrl-C."""
    from sync.cli import daemon as implementation

    implementation.sandbox(port_base=port_base, contacts=contacts, seed=seed)


# --- operations ---------------------------------------------------------------------------------------------


@config_app.command("check")
@guarded
def config_check(path: Annotated[Path | None, typer.Argument(
        help="settings file (default: $CRMSYNC_CONFIG, else the embedded default)", show_default=False)] = None,
) -> None:
    """Validate a settings file and the rules file it names; print every problem as PATH:LINE:COL: message."""
    from sync.cli import ops

    ops.config_check(path)


@app.command("resync")
@guarded
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
    from sync.cli import ops

    ops.resync(config=config, crm=crm, accounts=tuple(account or ()), contact=contact, since=since, full=full,
               dry_run=dry_run, max_rows=max_rows, log_level=log_level, simulated_now=simulated_now)


@app.command("status")
@guarded
def status(
    config: ConfigOption = None,
    problems: Annotated[bool, typer.Option("--problems", help="list every record with a problem, not only the "
                                                              "most recent")] = False,
) -> None:
    """Last run per account, contacts per stage, open SLA breaches, API budget left, records with problems
    and setup warnings."""
    from sync.cli import ops

    ops.status(config, problems=problems)


@app.command("report")
@guarded
def report(
    output: Annotated[Path, typer.Option("--output", "-o", help="the HTML file to write")] = Path("report.html"),
    since: Annotated[str, typer.Option(help="the period: 90d, 12w, 36h, 6m")] = "90d",
    account: AccountsOption = None,
    teams: Annotated[Path | None, typer.Option(
        help="YAML `team: [owner ids]` (default: each CRM account is a team)")] = None,
    config: ConfigOption = None,
    state: StateOption = None,
) -> None:
    """Write the funnel and SLA report: one HTML file that opens offline and travels by mail."""
    from sync.cli import report as implementation

    implementation.report(output=output, since=since, accounts=tuple(account or ()), teams=teams, config=config,
                          state=state)


# --- rules --------------------------------------------------------------------------------------------------


@rules_app.command("check")
@guarded
def rules_check(path: RulesPath = None) -> None:
    """Validate a rules file: every problem as PATH:LINE:COL: message (exit 3 on any)."""
    from sync.cli import rules

    rules.check(path)


@rules_app.command("explain")
@guarded
def rules_explain(
    contact: Annotated[Path, typer.Option("--contact", help="one contact as JSON or YAML")],
    memory: Annotated[Path | None, typer.Option("--memory", help="what crmsync remembered (JSON or YAML)")] = None,
    now: NowOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="the Decision as JSON")] = False,
    path: RulesPath = None,
) -> None:
    """The Decision for one contact, as a readable breakdown (or JSON)."""
    from sync.cli import rules

    rules.explain(contact=contact, memory=memory, now=now, as_json=as_json, path=path)


@rules_app.command("test")
@guarded
def rules_test(
    path: RulesPath = None,
    cases: Annotated[Path | None, typer.Option(
        "--cases", help="cases file (default: the rules file's sibling NAME.cases.yaml)")] = None,
) -> None:
    """Run admin-written cases against the rules; print a diff for each mismatch, exit 1 on any."""
    from sync.cli import rules

    rules.test_cases(path=path, cases=cases)


@rules_app.command("diff")
@guarded
def rules_diff(
    old: Annotated[Path, typer.Argument(help="the rules in force")],
    new: Annotated[Path, typer.Argument(help="the proposed rules")],
    contacts: Annotated[Path, typer.Option("--contacts", help="contacts as JSON lines (one per line)")],
    now: NowOption = None,
    limit: Annotated[int, typer.Option(help="how many stage changes to list")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="the impact as JSON")] = False,
) -> None:
    """The impact of a rules change on a sample of contacts: stage transitions, score shifts, changed contacts."""
    from sync.cli import rules

    rules.diff(old=old, new=new, contacts=contacts, now=now, limit=limit, as_json=as_json)


@rules_app.command("schema")
@guarded
def rules_schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write here instead of stdout")] = None,
    check_only: Annotated[bool, typer.Option("--check", help="exit 1 if OUTPUT is not up to date")] = False,
) -> None:
    """Print (or write) the JSON Schema of the rules file; editors use it through the yaml-language-server line."""
    from sync.cli import rules

    rules.schema(output=output, check_only=check_only)


@rules_app.command("calibrate")
@guarded
def rules_calibrate(
    path: RulesPath = None,
    since: Annotated[str, typer.Option(help="the period of history: 180d, 26w, 6m")] = "180d",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="write the proposed rules here (the rules in force are never changed)")] = None,
    contacts_out: Annotated[Path | None, typer.Option(
        "--contacts-out", help="the sampled contacts as JSON lines, for `rules diff` (default: beside "
                               "--output)")] = None,
    min_sample: Annotated[int, typer.Option(
        min=1, help="closed contacts needed on each side of a rule (fired / not fired) to propose a weight")] = 20,
    account: AccountsOption = None,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="settings: the state store, and the rules file when none is given")] = None,
    state: StateOption = None,
    now: NowOption = None,
) -> None:
    """Measure each scoring rule against won and lost deals; propose weights in a new file for a person to review."""
    from sync.cli import rules

    rules.calibrate(path=path, since=since, output=output, contacts_out=contacts_out, min_sample=min_sample,
                    accounts=tuple(account or ()), config=config, state=state, now=now)
