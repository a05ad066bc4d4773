"""`crmsync demo`: the report adds up (every seeded contact decided once and written once, the funnel's parts
make its total), it leaves a settings file the other commands accept and an example contact, and the command
prints every section. Runs over fake CRMs and the stand-in rules; `tests/e2e/test_demo.py` runs the real
three."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from sync import registry
from sync.cli import app
from sync.clock import SystemClock
from sync.demo import run_demo, with_reminders
from sync.log import reset_logging
from sync.reminders.policy import reminder_policy
from sync.settings import load_settings


@pytest.fixture(autouse=True)
def fake_crms(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(registry, "RULES_LOADER", "sync.testing:load_rules")
    monkeypatch.setattr(registry, "SANDBOX_CRMS", ("fake",))
    yield
    reset_logging()


def test_the_report_adds_up_and_leaves_what_the_next_commands_need(tmp_path):
    report = run_demo(tmp_path, clock=SystemClock(), contacts=40, crms=("fake",))
    [result] = report.results
    assert result.summary.pulled == result.summary.pushed == 40
    assert sum(result.stages().values()) == 40
    assert sum(result.maturities().values()) == result.stages()["prospect"]
    assert sum(result.client_kinds().values()) == result.stages()["client"]
    assert result.sla()["breached"] == result.breaches_open
    assert [a.name for a in load_settings(report.config).accounts] == ["fake-sandbox"]
    assert report.state_url == f"sqlite:///{tmp_path / 'state.db'}"
    assert report.example is not None and report.example.exists() and report.example_id.startswith("fake/")
    assert report.report_page == tmp_path / "report.html" and "fake/fake-sandbox" in report.report_page.read_text()


def test_a_second_demo_on_the_same_state_starts_fresh(tmp_path):
    first = run_demo(tmp_path, clock=SystemClock(), contacts=10, crms=("fake",))
    again = run_demo(tmp_path, clock=SystemClock(), contacts=10, crms=("fake",), state_url=first.state_url)
    assert again.results[0].summary.pushed == 10  # the new sandbox got every field, not a diff against the old


def test_the_command_prints_every_section(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--contacts", "25", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for text in ("Funnel: lead -> prospect -> client", "Prospects by maturity", "Clients by kind",
                 "SLA clocks", "open breaches", "What one full cycle took", "Where to look next",
                 "SLA reminders are off in the rules", f"Report: {tmp_path / 'report.html'}",
                 "crmsync rules explain --contact", f"crmsync status --config {tmp_path / 'crmsync.yaml'}",
                 "--dry-run", "crmsync run --config"):
        assert text in result.output, text


def test_the_settings_name_my_rules_and_a_second_demo_keeps_an_edit_of_it(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "RULES_LOADER", "sync.rules:load_rules")  # the real rules: they have a file
    first = run_demo(tmp_path, clock=SystemClock(), contacts=5, crms=("fake",))
    mine = tmp_path / "my-rules.yaml"
    assert first.my_rules == mine and load_settings(first.config).rules.path == mine  # what `run` hot-reloads
    assert (tmp_path / "my-rules.cases.yaml").is_file() and first.shipped_rules == tmp_path / "shipped-rules.yaml"
    edited = mine.read_text().replace("threshold: 70", "threshold: 72", 1)
    assert edited != mine.read_text()
    mine.write_text(edited)
    again = run_demo(tmp_path, clock=SystemClock(), contacts=5, crms=("fake",))
    assert mine.read_text() == edited and again.rules_version != first.rules_version  # the edit is in force


def test_the_demos_rules_turn_the_sla_reminders_on_and_its_sweep_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "RULES_LOADER", "sync.rules:load_rules")
    report = run_demo(tmp_path, clock=SystemClock(), contacts=5, crms=("fake",))
    mine, shipped = (tmp_path / "my-rules.yaml").read_text(), (tmp_path / "shipped-rules.yaml").read_text()
    assert report.reminders_on and "enabled: true  # turned on by `crmsync demo`" in mine
    policy = reminder_policy(registry.rules_loader()(tmp_path / "shipped-rules.yaml"))
    assert policy is not None and not policy.enabled  # the shipped rules keep them off
    assert mine.replace("enabled: true  # turned on by `crmsync demo`", "enabled: false") == shipped
    [result] = report.results
    assert result.sweep is not None and result.sweep.outcome.value == "ok"  # the sweep the daemon runs, once


def test_rules_laid_out_otherwise_are_left_as_they_are():
    text = "sla:\n  reminder: {enabled: false}\n"
    assert with_reminders(text) == text


def test_the_command_prints_the_reminder_tasks_per_crm_and_where_the_report_is(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "RULES_LOADER", "sync.rules:load_rules")
    result = CliRunner().invoke(app, ["demo", "--contacts", "5", "--dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "SLA reminder tasks the sweep wrote into each CRM" in result.output
    assert re.search(r"│ fake\s+│\s+\d+ │\s+0 │\s+0 │", result.output), result.output  # the fake CRM has no tasks
    assert f"Report: {tmp_path / 'report.html'}" in result.output


def test_next_steps_name_the_crmsync_that_ran_never_site_packages(tmp_path, monkeypatch):
    from sync.cli.demo import crmsync_command, next_steps

    monkeypatch.setattr(registry, "RULES_LOADER", "sync.rules:load_rules")
    report = run_demo(tmp_path, clock=SystemClock(), contacts=5, crms=("fake",))
    command = crmsync_command()
    lines = [line for line in next_steps(report, command) if line and not line.startswith("#")]
    assert all(line.startswith(command.split()[0]) for line in lines)
    assert not [line for line in lines if "site-packages" in line]
    assert f"rules diff {tmp_path / 'shipped-rules.yaml'} {tmp_path / 'my-rules.yaml'}" in "\n".join(lines)
