"""What `status`, `resync` and `sandbox` print at 80 columns: nothing an operator copies (account names,
contact ids, tokens) is ever cut; a dry run's summary agrees with its diff and shows no empty-to-empty
change; overdue times read in days and hours; failures and breaches are coloured on a terminal only."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import sync.cli.daemon as daemon_cli
from sync import registry
from sync.cli import app
from sync.cli.layout import Column, fitted
from sync.cli.tables import overdue
from sync.errors import TransientError
from sync.testing import FakeConnector

LONG = "emea-enterprise-accounts-hubspot-eu-west"  # 40 characters: wider than a fair share of 80 columns
CONFIG = """\
state:
  url: sqlite:///{db}
accounts:
  - name: {name}
    crm: fake
    sandbox: true
    sandbox_contacts: 40
  - name: beta
    crm: fake
    sandbox: true
    sandbox_contacts: 5
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(registry, "RULES_LOADER", "sync.testing:load_rules")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    path = tmp_path / "crmsync.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "crmsync.db", name=LONG))
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def assert_uncut(output: str, *whole: str) -> None:
    assert "…" not in output and "..." not in output
    assert max(len(line) for line in output.splitlines()) <= 80
    for text in whole:
        assert re.search(rf"(?<![\w-]){re.escape(text)}(?![\w-])", output), f"{text!r} is not printed whole"


def test_status_at_80_columns_prints_every_name_and_contact_id_whole(config: Path):
    code, out = run("resync", "--config", str(config))
    assert code == 0, out
    code, out = run("status", "--config", str(config))
    assert code == 0, out
    breached = re.findall(r"\bfk\d{6}\b", out.split("open SLA breaches")[1].split("API budget")[0])
    assert breached, "the synthetic population has open breaches"
    assert_uncut(out, LONG, "beta", *breached)


def test_the_resync_summary_at_80_columns_cuts_nothing(config: Path):
    code, out = run("resync", "--config", str(config))
    assert code == 0, out
    summary = out.split("resync")[-1]
    assert_uncut(summary, LONG, "beta")
    assert re.search(r"pushed 40\b", summary) and re.search(r"fields 520\b", summary)


def test_a_dry_run_s_breach_count_agrees_with_its_diff_and_lists_only_real_changes(config: Path):
    code, out = run("resync", "--config", str(config), "--account", LONG, "--dry-run", "--max-rows", "10000")
    assert code == 0, out
    flagged = len(re.findall(r"sla_breached\s+\(empty\) -> True", out))
    summary = re.search(r"breaches (\d+)", out.split("resync (dry run: nothing written)")[1])
    assert summary is not None and flagged > 0 and int(summary.group(1)) == flagged
    assert "(empty) -> (empty)" not in out
    assert "(never written) -> (empty)" in out  # the fields emptied though never written share one row
    assert_uncut(out, LONG, "fk100000")


def test_overdue_reads_in_days_and_hours():
    assert overdue(timedelta(hours=2319.3)) == "96d 15h"
    assert overdue(timedelta(hours=5, minutes=12)) == "5h 12m"
    assert overdue(timedelta(minutes=12, seconds=59)) == "12m"


def test_status_shows_overdue_breaches_in_days(config: Path):
    run("resync", "--config", str(config), "--now", "2026-11-01T09:00:00+00:00")
    code, out = run("status", "--config", str(config))
    assert code == 0 and re.search(r"\b\d+d \d+h\b", out) and " h\n" not in out


def failing_pulls(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self, cursor):
        raise TransientError("the fake CRM is down", crm="fake")
    monkeypatch.setattr(FakeConnector, "pull", fail)


def test_failures_are_red_on_a_terminal_and_plain_otherwise(config: Path, monkeypatch: pytest.MonkeyPatch):
    failing_pulls(monkeypatch)
    code, plain = run("resync", "--config", str(config), "--account", "beta")
    assert code == 1 and "failed" in plain and "\x1b[" not in plain
    monkeypatch.setenv("FORCE_COLOR", "1")  # what rich sees on a terminal
    code, coloured = run("resync", "--config", str(config), "--account", "beta")
    assert code == 1 and re.search(r"\x1b\[[0-9;]*31m(outcome )?failed", coloured.replace("\x1b[2m", ""))


def test_the_sandbox_command_prints_tokens_and_urls_whole_at_80_columns(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(registry, "SANDBOX_CRMS", ("hubspot", "salesforce", "pipedrive"))
    seen: list[bool] = []
    monkeypatch.setattr(daemon_cli, "wait_for_interrupt", lambda: seen.append(True))
    result = CliRunner().invoke(app, ["sandbox", "--port-base", "0", "--contacts", "1"])
    assert result.exit_code == 0, result.output
    tokens = re.findall(r"=(\S+)", result.output)
    assert any(t.startswith("pat-") for t in tokens), result.output  # HubSpot's private app token, whole
    assert_uncut(result.output, *tokens)
    assert seen == [True]


@pytest.mark.parametrize("width", [40, 80, 200])
def test_a_table_that_does_not_fit_is_stacked_never_cut(width: int):
    rows = [["an-account-name-that-goes-on-and-on", "00Q5g00000AbCdEFG1", "a long note that may wrap anywhere",
             "12"]]
    console = Console(width=width, record=True)
    console.print(fitted("t", [Column("account", "id"), Column("contact", "id"), Column("note"),
                               Column("n", "number")], rows, width))
    out = console.export_text()
    assert "…" not in out
    for text in ("an-account-name-that-goes-on-and-on", "00Q5g00000AbCdEFG1"):
        assert text in out
