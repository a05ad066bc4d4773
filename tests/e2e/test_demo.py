"""`crmsync demo`, the README's main command, as a user runs it: the three real sandbox CRMs, the shipped
rules, one full cycle each; it exits 0 well within a minute and prints the funnel, and the commands it
suggests work on what it left behind."""

from __future__ import annotations

import re
import time

from typer.testing import CliRunner

from sync.cli import app


def test_the_demo_syncs_the_three_crms_and_its_next_steps_work(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["demo", "--contacts", "40", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - started < 45
    out = result.output
    assert "3 sandbox CRMs x 40 synthetic contacts (120 in all)" in out
    totals = re.search(r"│ all\s+│(.*)│\s*(\d+)\s*│\n", out)
    assert totals is not None and int(totals.group(2)) == 120
    for crm in ("hubspot", "salesforce", "pipedrive"):
        assert re.search(rf"│ {crm}\s+│\s+40 │\s+40 │\s+520 │", out), crm  # pulled, written, fields (13 each)

    report = re.search(r"Report: (\S+report\.html)", out)
    assert report is not None and (tmp_path / "report.html").exists() and report.group(1).endswith("report.html")

    explain = re.search(r"crmsync rules explain --contact (\S+)", out)
    assert explain is not None
    shown = CliRunner().invoke(app, ["rules", "explain", "--contact", explain.group(1)])
    assert shown.exit_code == 0 and "prospect" in shown.output, shown.output
    status = CliRunner().invoke(app, ["status", "--config", str(tmp_path / "crmsync.yaml")])
    assert status.exit_code == 0 and "pipedrive-sandbox" in status.output and "never run" not in status.output
