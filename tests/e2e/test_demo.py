"""`crmsync demo`, the README's main command, as a user runs it: a real `crmsync` process, the three real
sandbox CRMs, the shipped rules, one full cycle each; it exits 0 and prints the funnel, and every command
it suggests next runs as printed, in the same shell, on what it left behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

CRMSYNC = str(Path(sys.executable).parent / "crmsync")
BLOCKING = (" run ", " sandbox")  # they serve until Ctrl-C: started elsewhere (tests/sync/cli)


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run(command, shell=True, cwd=cwd, capture_output=True, text=True, timeout=180, env=env,
                          check=False)


def test_the_demo_syncs_the_three_crms_and_its_next_steps_run_as_printed(tmp_path):
    where = tmp_path / "demo"
    result = shell(f"{CRMSYNC} demo --contacts 40 --dir {where}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "3 sandbox CRMs x 40 synthetic contacts (120 in all)" in out
    totals = re.search(r"│ all\s+│(.*)│\s*(\d+)\s*│\n", out)
    assert totals is not None and int(totals.group(2)) == 120
    for crm in ("hubspot", "salesforce", "pipedrive"):
        assert re.search(rf"│ {crm}\s+│\s+40 │\s+40 │\s+520 │", out), crm  # pulled, written, fields (13 each)

    report = re.search(r"Report: (\S+report\.html)", out)
    assert report is not None and Path(report.group(1)) == where / "report.html" and (where / "report.html").exists()

    steps = out.split("Where to look next", 1)[1].splitlines()
    commands = [line for line in steps if line.strip() and not line.startswith("#") and "─" not in line]
    assert len(commands) >= 11 and all(c.startswith(CRMSYNC + " ") for c in commands), commands
    assert not [c for c in commands if "site-packages" in c]
    assert [c for c in commands if c.startswith(f"{CRMSYNC} report ")]
    assert [c for c in commands if c.startswith(f"{CRMSYNC} rules calibrate ")]
    for command in commands:
        if any(word in f"{command} " for word in BLOCKING):
            continue
        ran = shell(command, cwd=tmp_path)
        assert ran.returncode == 0, f"{command}\n{ran.stdout}\n{ran.stderr}"
        assert "Traceback" not in ran.stderr
    assert (where / "rules.schema.json").is_file()  # the last rules command wrote where it said
