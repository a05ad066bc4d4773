"""`crmsync --help` loads the CLI library and nothing of the engine; `--version` and `-h` work. What start-up
costs is measured by benchmarks/cli_startup.py, not here: these tests check what is imported, which is what
makes it slow."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version

import pytest
from typer.testing import CliRunner

from sync.cli import app

#: what a command that needs none of them must not pay for: SQLAlchemy and alembic (the state store),
#: werkzeug (the sandboxes), waitress (the ops server), the engine, the rules' libraries (RE2 among them),
#: the report's charts (pygal)
HEAVY = ("sqlalchemy", "alembic", "werkzeug", "waitress", "sync.rules", "sync.state", "sync.daemon", "sync.insight",
         "connectors", "holidays", "structlog", "ruamel", "msgspec", "re2", "pygal")
#: typer's own cost for a command's help: it converts each parameter through pydantic (typer >= 0.2x) and
#: formats with rich unless told not to; the top-level --help and --version need neither
TYPER_EXTRAS = ("pydantic", "rich")


PROBE = """
import json, sys
from sync.cli import main
sys.argv = ["crmsync", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def modules_loaded_by(*args: str) -> tuple[int, set[str]]:
    """Run the installed `crmsync` entry point in a fresh interpreter; its exit code and every module it
    imported."""
    result = subprocess.run([sys.executable, "-I", "-c", PROBE, json.dumps(args)], capture_output=True, text=True,
                            timeout=60, check=False)
    report = json.loads(result.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


def heavy(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in names or m.startswith(names))


@pytest.mark.parametrize("args", [("--help",), ("-h",), ("--version",)])
def test_help_and_version_import_only_the_cli_library(args):
    code, modules = modules_loaded_by(*args)
    assert code in (0, None)
    assert heavy(modules, HEAVY + TYPER_EXTRAS) == []


@pytest.mark.parametrize("args", [("rules", "--help"), ("resync", "-h"), ("status", "--help"),
                                  ("config", "check", "--help"), ("demo", "-h"), ("run", "-h"), ("report", "-h"),
                                  ("rules", "calibrate", "--help")])
def test_a_command_s_help_imports_no_engine_code(args):
    code, modules = modules_loaded_by(*args)
    assert code in (0, None)
    assert heavy(modules, HEAVY) == []


def test_a_usage_error_imports_no_engine_code_either():
    code, modules = modules_loaded_by("resync", "--no-such-option")
    assert code == 2
    assert not [m for m in modules if m.startswith(("sqlalchemy", "alembic", "werkzeug", "sync.rules"))]


def test_rules_check_imports_no_state_store_nor_server_nor_report():
    code, modules = modules_loaded_by("rules", "check")
    assert code in (0, None)
    assert not [m for m in modules if m.startswith(("sqlalchemy", "alembic", "werkzeug", "connectors", "pygal",
                                                    "sync.insight"))]


def test_rules_check_imports_the_holidays_of_the_rules_country_alone():
    """The shipped rules name France: the holidays library's other ~250 countries stay unread."""
    code, modules = modules_loaded_by("rules", "check")
    assert code in (0, None)
    assert sorted(m for m in modules if m.startswith("holidays.countries")) == ["holidays.countries.france"]


def test_version_is_the_installed_distribution_s():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"crmsync {version('crmsync')}\n"


def test_short_help_works_on_every_level():
    for args in (["-h"], ["rules", "-h"], ["rules", "check", "-h"], ["config", "check", "-h"], ["demo", "-h"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, args
        assert result.output.startswith("Usage: crmsync"), args
