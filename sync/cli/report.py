"""`crmsync report`: the funnel and SLA report as one self-contained HTML file.

The report reads the state store of the settings (`--config`) or the one named by `--state`. Everything that
draws is imported inside the command, so `crmsync` starts as fast without it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", "-c", help="settings file (default: $CRMSYNC_CONFIG, else the embedded default)")]
StateOption = Annotated[str | None, typer.Option(
    "--state", help="state store URL (default: the one in the settings)")]


def state_url(config: Path | None, state: str | None) -> str:
    """The store to read: `--state`, else the settings' (a settings problem exits 2, located)."""
    if state:
        return state
    from sync.errors import ConfigError
    from sync.settings import load_settings

    try:
        return load_settings(config).state.url
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(2) from None


def read_teams(path: Path | None) -> dict[str, str] | None:
    """`team name: [owner ids]` from a YAML file, as owner -> team."""
    if path is None:
        return None
    from sync.configfile import read_yaml
    from sync.errors import ConfigError

    try:
        data = read_yaml(path).data
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(2) from None
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        typer.echo(f"{path}: expected a mapping of team names to lists of owner ids", err=True)
        raise typer.Exit(2)
    return {str(owner): str(team) for team, owners in data.items() for owner in owners}


def report(
    output: Annotated[Path, typer.Option("--output", "-o", help="the HTML file to write")] = Path("report.html"),
    since: Annotated[str, typer.Option(help="the period: 90d, 12w, 6m...")] = "90d",
    account: Annotated[list[str] | None, typer.Option(
        help="only this account: CRM/NAME, NAME or a CRM (repeatable)")] = None,
    teams: Annotated[Path | None, typer.Option(
        help="YAML `team: [owner ids]` (default: each CRM account is a team)")] = None,
    config: ConfigOption = None,
    state: StateOption = None,
) -> None:
    """Write the funnel and SLA report (one HTML file that opens offline and travels by mail)."""
    from sync.insight.period import parse_span
    from sync.insight.served import report_html
    from sync.state import StateStore
    from sync.state.reporting import select_accounts

    try:
        span = parse_span(since)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    url = state_url(config, state)
    owners = read_teams(teams)
    with StateStore(url) as store:
        selected = None
        if account:
            selected = select_accounts(store, account)
            if not selected:
                typer.echo(f"no account matches {', '.join(account)} in the state store", err=True)
                raise typer.Exit(1)
        page = report_html(store, now=datetime.now(timezone.utc), since=span, accounts=selected, teams=owners)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    typer.echo(f"wrote {output} ({len(page.encode()) // 1024} KiB)")


def register(app: typer.Typer) -> None:
    """Add `crmsync report` to the main app."""
    app.command("report")(report)
