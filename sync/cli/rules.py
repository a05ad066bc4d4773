"""The work of `crmsync rules ...` (declared in sync.cli.commands): check, explain, test and diff the admin's
rules file, export its JSON Schema, and calibrate its weights on the stored history.

Every command takes the rules file as its first argument; omitted, it is the shipped default. Problems in
any file are printed as `PATH:LINE:COL: message` on stderr and the command exits 3 (sync.cli.exits); a
file that cannot be read at all exits 5.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import typer

from sync.cli.exits import ExitCode, Failure
from sync.errors import ConfigError, ConfigIssue
from sync.rules.engine import default_rules_path, load_rules

# Each command imports what only it uses when it runs: `rules check` (run by editors and CI on every save)
# loads the engine and nothing else.


def _now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(timezone.utc)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not an ISO time: {text!r}", param_hint="--now") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def check(path: Path | None) -> None:
    rules = load_rules(path)
    typer.echo(f"{rules.source}: OK, rules version {rules.version} ({len(rules.scorers)} scoring rules, "
               f"framework {rules.framework.name})")


def explain(*, contact: Path, memory: Path | None, now: str | None, as_json: bool, path: Path | None) -> None:
    from sync.configfile import read_yaml
    from sync.rules import explain as rules_explain
    from sync.rules.engine import InvalidContact
    from sync.rules.inputs import memory_from_data, read_contact

    rules = load_rules(path)
    at = _now(now)
    person = read_contact(contact, at)
    remembered = None
    if memory is not None:
        try:
            remembered = memory_from_data(read_yaml(memory).data, at)
        except ValueError as exc:
            raise ConfigError([ConfigIssue(str(memory), 1, 1, str(exc))]) from None
    try:
        decision = rules.evaluate(person, at, remembered)
    except InvalidContact as exc:
        raise ConfigError([ConfigIssue(str(contact), 1, 1, exc.message)]) from None
    typer.echo(rules_explain.as_json(decision) if as_json else rules_explain.render(decision, rules, person, at))


def test_cases(*, path: Path | None, cases: Path | None) -> None:
    from sync.rules.cases import load_cases, run_cases

    rules = load_rules(path)
    source = Path(rules.source)
    results = run_cases(rules, load_cases(cases or source.with_name(source.name.removesuffix(".yaml") +
                                                                      ".cases.yaml")))
    failed = [result for result in results if not result.ok]
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
        raise typer.Exit(ExitCode.FAILED)


def diff(*, old: Path, new: Path, contacts: Path, now: str | None, limit: int, as_json: bool) -> None:
    from sync.rules import diff as rules_diff
    from sync.rules.inputs import iter_contacts_jsonl

    before, after = load_rules(old), load_rules(new)
    if not contacts.is_file():
        what = "is a folder, not a file" if contacts.is_dir() else "file not found"
        raise Failure(ExitCode.FILE, f"{contacts}: {what}: give --contacts a JSON-lines file (crmsync demo "
                                     "writes one: contacts.jsonl)")
    at = _now(now)
    stream = (item for _, item in iter_contacts_jsonl(contacts, at))
    result = rules_diff.diff_rules(before, after, stream, at, limit=limit)
    typer.echo(json.dumps(result.summary(), indent=2) if as_json else rules_diff.render(result))
    if result.contacts == 0:  # nothing was compared: a wrong file, not a change without impact
        raise Failure(ExitCode.FAILED, f"{contacts}: no contact could be read ({len(result.errors)} lines rejected)")


def calibrate(*, path: Path | None, since: str, output: Path | None, contacts_out: Path | None, min_sample: int,
              accounts: Sequence[str], config: Path | None, state: str | None, now: str | None) -> None:
    """Measure the scoring rules on the stored history; the proposal goes to a new file, never the rules in
    force. Every file is checked before the work starts and written after it, outside the store's errors,
    so a folder that does not exist is the file's problem (exit 5), not the store's (exit 4)."""
    import shlex

    import msgspec

    from sync.cli.invocation import crmsync_command
    from sync.cli.report import parse_since, selected_accounts, state_url, writable_file, write_file
    from sync.insight import calibration, proposal
    from sync.insight.period import Period
    from sync.rules import diff as rules_diff
    from sync.state import StateStore, reporting
    from sync.state.problems import store_errors

    span = parse_since(since)
    at = _now(now)
    for target, option in ((output, "--output"), (contacts_out, "--contacts-out")):
        if target is not None:
            writable_file(target, option)
    if path is None and config is not None:
        from sync.settings import load_settings

        path = load_settings(config).rules.path
    rules = load_rules(path)
    text = Path(rules.source).read_text(encoding="utf-8")
    period = Period.since(span, at)
    url = state_url(config, state)
    with store_errors(url):
        store = StateStore(url)
    with store:
        with store_errors(url):
            result = calibration.calibrate(rules, text, reporting.contacts(store, selected_accounts(store, accounts)),
                                           period, min_sample=min_sample)
        typer.echo(calibration.render(result))
        summary = result.to_json()
        if output is not None and result.proposed_text is not None:
            write_file(output, result.proposed_text)
            sample_path = contacts_out or output.with_name(output.stem + ".contacts.jsonl")
            write_file(sample_path, b"".join(msgspec.json.encode(item.contact) + b"\n" for item in result.contacts))
            typer.echo("")
            typer.echo(proposal.unified_diff(text, result.proposed_text, str(rules.source), str(output)).rstrip())
            proposed = load_rules(output)
            moves = rules_diff.diff_rules(rules, proposed, (item.contact for item in result.contacts), at, limit=0)
            typer.echo("")
            typer.echo(f"wrote {output} (rules version {proposed.version}): {moves.changed} of {moves.contacts} "
                       "sampled contacts would change stage. Review it, then publish it yourself; see the moves with")
            quoted = " ".join(shlex.quote(str(part)) for part in (rules.source, output))
            typer.echo(f"  {shlex.quote(crmsync_command())} rules diff {quoted} --contacts "
                       f"{shlex.quote(str(sample_path))}")
            summary["proposed_file"] = str(output)
        elif output is not None:
            typer.echo(f"no weight to change: {output} not written")
        with store_errors(url):
            reporting.save_calibration(store, created_at=datetime.now(timezone.utc), period_start=period.start,
                                       period_end=period.end, rules_version=rules.version,
                                       proposed_version=result.proposed_version, result=summary)


def schema(*, output: Path | None, check_only: bool) -> None:
    text = schema_text()
    if output is None:
        sys.stdout.write(text)
        return
    if output.is_dir():
        raise Failure(ExitCode.FILE, f"{output}: is a folder: give --output a file name, e.g. "
                                     f"{output / 'rules.schema.json'}")
    if check_only:
        current = output.read_text(encoding="utf-8") if output.is_file() else ""
        if current != text:
            raise Failure(ExitCode.FAILED,
                          f"{output}: out of date; regenerate with `crmsync rules schema -o {output}`")
        typer.echo(f"{output}: up to date")
        return
    if not output.parent.is_dir():
        raise Failure(ExitCode.FILE, f"{output}: the folder {output.parent} does not exist: create it first "
                                     f"(mkdir -p {output.parent})")
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}")


def schema_text() -> str:
    """The committed form of config/rules.schema.json: stable key order, trailing newline."""
    from sync.rules.schema import json_schema

    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


__all__ = ["calibrate", "check", "default_rules_path", "diff", "explain", "schema", "schema_text", "test_cases"]
