"""`crmsync rules ...`: check, explain, test and diff the admin's rules file, and export its JSON Schema.

Every command takes the rules file as its first argument; omitted, it is the
shipped default. Problems in any file are printed as `PATH:LINE:COL: message`
on stderr and the command exits 1.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from sync.configfile import read_yaml
from sync.errors import ConfigError
from sync.rules import diff as rules_diff
from sync.rules import explain as rules_explain
from sync.rules.cases import load_cases, run_cases
from sync.rules.engine import CompiledRules, InvalidContact, default_rules_path, load_rules
from sync.rules.inputs import iter_contacts_jsonl, memory_from_data, read_contact
from sync.rules.schema import json_schema

app = typer.Typer(help="Check, explain, test and diff scoring and classification rules.", no_args_is_help=True)

RulesPath = Annotated[Path | None, typer.Argument(help="rules file (default: the shipped config/rules.yaml)",
                                                  show_default=False)]
NowOption = Annotated[str | None, typer.Option("--now", help="evaluate at this ISO time (default: now, UTC)")]


def _fail(error: ConfigError) -> NoReturn:
    for issue in error.issues:
        typer.echo(str(issue), err=True)
    raise typer.Exit(1)


def _load(path: Path | None) -> CompiledRules:
    try:
        return load_rules(path)
    except ConfigError as exc:
        _fail(exc)


def _now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(timezone.utc)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        typer.echo(f"--now: not an ISO time: {text!r}", err=True)
        raise typer.Exit(2) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


@app.command()
def check(path: RulesPath = None) -> None:
    """Validate a rules file: every problem as PATH:LINE:COL: message; exit 1 on any."""
    rules = _load(path)
    count = len(rules.scorers)
    typer.echo(f"{rules.source}: OK, rules version {rules.version} ({count} scoring rules, "
               f"framework {rules.framework.name})")


@app.command()
def explain(
    contact: Annotated[Path, typer.Option("--contact", help="one contact as JSON or YAML")],
    memory: Annotated[Path | None, typer.Option("--memory", help="what crmsync remembered (JSON or YAML)")] = None,
    now: NowOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="the Decision as JSON")] = False,
    path: RulesPath = None,
) -> None:
    """The Decision for one contact, as a readable breakdown (or JSON)."""
    rules = _load(path)
    at = _now(now)
    try:
        person = read_contact(contact, at)
        remembered = None
        if memory is not None:
            remembered = memory_from_data(read_yaml(memory).data, at)
    except ConfigError as exc:
        _fail(exc)
    except ValueError as exc:
        typer.echo(f"{memory}: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        decision = rules.evaluate(person, at, remembered)
    except InvalidContact as exc:
        typer.echo(f"{contact}: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(rules_explain.as_json(decision) if as_json else rules_explain.render(decision, rules, person, at))


@app.command("test")
def test_cases(
    path: RulesPath = None,
    cases: Annotated[Path | None, typer.Option(
        "--cases", help="cases file (default: the rules file's sibling NAME.cases.yaml)")] = None,
) -> None:
    """Run admin-written cases against the rules; print a diff for each mismatch, exit 1 on any."""
    rules = _load(path)
    source = Path(rules.source)
    cases_path = cases or source.with_name(source.name.removesuffix(".yaml") + ".cases.yaml")
    try:
        loaded = load_cases(cases_path)
    except ConfigError as exc:
        _fail(exc)
    results = run_cases(rules, loaded)
    failed = [r for r in results if not r.ok]
    for result in results:
        if result.ok:
            typer.echo(f"PASS  {result.name}")
            continue
        typer.echo(f"FAIL  {result.name}")
        if result.error:
            typer.echo(f"      error: {result.error}")
        for what, expected, actual in result.mismatches:
            typer.echo(f"      {what}:")
            typer.echo(f"        - expected {expected}")
            typer.echo(f"        + actual   {actual}")
        if result.decision is not None:
            typer.echo(f"      reason: {result.decision.reason}")
    typer.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)


@app.command("diff")
def diff_cmd(
    old: Annotated[Path, typer.Argument(help="the rules in force")],
    new: Annotated[Path, typer.Argument(help="the proposed rules")],
    contacts: Annotated[Path, typer.Option("--contacts", help="contacts as JSON lines (one per line)")],
    now: NowOption = None,
    limit: Annotated[int, typer.Option(help="how many stage changes to list")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="the impact as JSON")] = False,
) -> None:
    """The impact of a rules change on a sample of contacts: stage transitions, score shifts, changed contacts."""
    before, after = _load(old), _load(new)
    if not contacts.is_file():
        typer.echo(f"{contacts}: file not found", err=True)
        raise typer.Exit(1)
    at = _now(now)
    stream = (item for _, item in iter_contacts_jsonl(contacts, at))
    result = rules_diff.diff_rules(before, after, stream, at, limit=limit)
    typer.echo(json.dumps(result.summary(), indent=2) if as_json else rules_diff.render(result))
    if result.contacts == 0:  # nothing was compared: a wrong file, not a change without impact
        typer.echo(f"{contacts}: no contact could be read ({len(result.errors)} lines rejected)", err=True)
        raise typer.Exit(1)


@app.command()
def calibrate(
    path: RulesPath = None,
    since: Annotated[str, typer.Option(help="the period of history: 180d, 26w, 6m...")] = "180d",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="write the proposed rules here (the rules in force are never changed)")] = None,
    contacts_out: Annotated[Path | None, typer.Option(
        "--contacts-out", help="the sampled contacts as JSON lines, for `rules diff` (default: beside --output)")] = None,
    min_sample: Annotated[int, typer.Option(
        min=1, help="closed contacts needed on each side of a rule (fired / not fired) to propose a weight")] = 20,
    account: Annotated[list[str] | None, typer.Option(help="only this account: CRM/NAME, NAME or a CRM")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="settings (state store, rules path)")] = None,
    state: Annotated[str | None, typer.Option("--state", help="state store URL (default: the settings')")] = None,
    now: NowOption = None,
) -> None:
    """Measure each scoring rule against won and lost deals; propose weights in a new file for a person to review."""
    import msgspec

    from sync.cli.report import state_url
    from sync.insight import calibration, proposal
    from sync.insight.period import Period, parse_span
    from sync.state import StateStore
    from sync.state import reporting

    try:
        span = parse_span(since)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    if path is None and config is not None:
        from sync.settings import load_settings
        try:
            path = load_settings(config).rules.path
        except ConfigError as exc:
            _fail(exc)
    rules = _load(path)
    text = Path(rules.source).read_text(encoding="utf-8")
    at = _now(now)
    period = Period.since(span, at)
    with StateStore(state_url(config, state)) as store:
        selected = reporting.select_accounts(store, account) if account else None
        result = calibration.calibrate(rules, text, reporting.contacts(store, selected), period,
                                       min_sample=min_sample)
        typer.echo(calibration.render(result))
        summary = result.to_json()
        if output is not None and result.proposed_text is not None:
            proposal.write_proposal(output, result.proposed_text)
            sample_path = contacts_out or output.with_name(output.stem + ".contacts.jsonl")
            with sample_path.open("wb") as out:
                for item in result.contacts:
                    out.write(msgspec.json.encode(item.contact) + b"\n")
            typer.echo("")
            typer.echo(proposal.unified_diff(text, result.proposed_text, str(rules.source), str(output)).rstrip())
            proposed = load_rules(output)
            moves = rules_diff.diff_rules(rules, proposed, (item.contact for item in result.contacts), at, limit=0)
            typer.echo("")
            typer.echo(f"wrote {output} (rules version {proposed.version}): {moves.changed} of {moves.contacts} "
                       f"sampled contacts would change stage. Review it, then publish it yourself; see the moves with")
            typer.echo(f"  crmsync rules diff {rules.source} {output} --contacts {sample_path}")
            summary["proposed_file"] = str(output)
        elif output is not None:
            typer.echo(f"no weight to change: {output} not written")
        reporting.save_calibration(store, created_at=datetime.now(timezone.utc), period_start=period.start,
                                   period_end=period.end, rules_version=rules.version,
                                   proposed_version=result.proposed_version, result=summary)


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write here instead of stdout")] = None,
    check_only: Annotated[bool, typer.Option("--check", help="exit 1 if OUTPUT is not up to date")] = False,
) -> None:
    """Print (or write) the JSON Schema of the rules file; editors use it through the yaml-language-server line."""
    text = schema_text()
    if output is None:
        sys.stdout.write(text)
        return
    if check_only:
        current = output.read_text(encoding="utf-8") if output.is_file() else ""
        if current != text:
            typer.echo(f"{output}: out of date; regenerate with `crmsync rules schema -o {output}`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{output}: up to date")
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}")


def schema_text() -> str:
    """The committed form of config/rules.schema.json: stable key order, trailing newline."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


__all__ = ["app", "default_rules_path", "schema_text"]
