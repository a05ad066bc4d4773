"""The work of `crmsync report` (declared in sync.cli.commands): the funnel and SLA report as one
self-contained HTML file, and the helpers `rules calibrate` shares with it (which store, which accounts).

The report reads the state store of the settings (`--config`) or the one named by `--state`. A settings file
that does not validate exits 3, a `--teams` file that does not validate 3 and one that cannot be read 5, a
state store that cannot be used 4, an output that cannot be written 5, an account the store does not know 2
(sync.cli.exits). Everything that draws (pygal, sync.insight) is imported here, never by `crmsync --help`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import typer

from sync.cli.exits import ExitCode, Failure
from sync.errors import ConfigError, ConfigIssue
from sync.state import StateStore
from sync.state.problems import store_errors
from sync.state.records import AccountRef


def state_url(config: Path | None, state: str | None) -> str:
    """The store to read: `--state`, else the settings' (whose problems end the command with exit 3)."""
    if state:
        return state
    from sync.settings import load_settings

    return load_settings(config).state.url


def parse_since(text: str) -> timedelta:
    """`--since` as a span (90d, 12w, 36h, 6m); anything else is a usage error."""
    from sync.insight.period import parse_span

    try:
        return parse_span(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None


def read_teams(path: Path | None) -> dict[str, str] | None:
    """`team name: [owner ids]` from a YAML file, as owner -> team."""
    if path is None:
        return None
    from sync.configfile import read_yaml

    data = read_yaml(path).data
    if not isinstance(data, dict) or not all(isinstance(owners, list) for owners in data.values()):
        raise ConfigError([ConfigIssue(str(path), 1, 1, "expected a mapping of team names to lists of owner ids "
                                                        "(sales-east: [owner-1, owner-2])")])
    return {str(owner): str(team) for team, owners in data.items() for owner in owners}


def selected_accounts(store: StateStore, wanted: Sequence[str]) -> list[AccountRef] | None:
    """The accounts `--account` names (None: all); naming none the store knows is a usage error."""
    if not wanted:
        return None
    from sync.state import reporting

    selected = reporting.select_accounts(store, wanted)
    if not selected:
        known = ", ".join(str(ref) for ref in reporting.accounts(store)) or "none yet"
        raise typer.BadParameter(f"no account matches {', '.join(wanted)} in the state store (known: {known})",
                                 param_hint="--account")
    return selected


def writable_file(path: Path, option: str) -> None:
    """Fail before any work when `path` cannot be a file to write: a folder, or under a file."""
    if path.is_dir():
        raise Failure(ExitCode.FILE, f"{path}: is a folder: give {option} a file name, e.g. {path / 'report.html'}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise Failure(ExitCode.FILE, f"{path}: {parent} is a file, not a folder: give {option} a path "
                                             "in a folder")
            break


def write_file(path: Path, content: str | bytes) -> None:
    """Write `content` (text as UTF-8) to `path`, creating its folder; a failure is the file's problem
    (exit 5), named, never the state store's."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    except OSError as exc:
        from sync.cli.failures import explain

        raise Failure(ExitCode.FILE, *explain(exc)[1]) from None


def report(*, output: Path, since: str, accounts: Sequence[str], teams: Path | None, config: Path | None,
           state: str | None) -> None:
    from sync.insight.served import report_html

    span = parse_since(since)
    writable_file(output, "--output")
    owners = read_teams(teams)
    url = state_url(config, state)
    with store_errors(url), StateStore(url) as store:
        page = report_html(store, now=datetime.now(timezone.utc), since=span,
                           accounts=selected_accounts(store, accounts), teams=owners)
    write_file(output, page)
    typer.echo(f"wrote {output} ({len(page.encode()) // 1024} KiB)")


__all__ = ["parse_since", "read_teams", "report", "selected_accounts", "state_url", "writable_file",
           "write_file"]
