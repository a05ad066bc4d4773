"""The domain cases: people as a RevOps admin sees them, written from the method rather than from the shipped
rules, run through `crmsync rules test` exactly as an admin would run them."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from sync.cli import app
from sync.rules.cases import load_cases

DOMAIN_CASES = Path(__file__).parent / "domain_cases.yaml"


def test_the_shipped_rules_decide_every_domain_case_as_the_method_does() -> None:
    result = CliRunner().invoke(app, ["rules", "test", "--cases", str(DOMAIN_CASES)], catch_exceptions=False)
    cases = len(load_cases(DOMAIN_CASES))
    assert result.exit_code == 0, result.output  # the output names each failing case and its diff
    assert result.output.rstrip().splitlines()[-1] == f"{cases} passed, 0 failed"
    assert cases >= 40
