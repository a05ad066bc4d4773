"""No traceback, ever, for bad input or a missing dependency: each problem prints what, where and what to do,
and exits with the code sync.cli.exits gives that problem in every command (README lists them).

The state-store cases run `crmsync` as a real process, against a real PostgreSQL port with nothing behind it,
and real filesystems: a read-only one and a full one (tmpfs mounted in a private mount namespace, so nothing
is mounted outside the test, and nothing needs root on a machine that allows user namespaces)."""

from __future__ import annotations

import re
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from sync import registry
from sync.cli import app
from sync.cli.exits import MEANINGS, ExitCode
from sync.state.problems import StoreProblemKind, classify_store_error

ROOT = Path(__file__).resolve().parents[3]
CRMSYNC = str(Path(sys.executable).parent / "crmsync")
SETTINGS = """\
state:
  url: {url}
rules:
  path: {rules}
accounts:
  - name: alpha
    crm: hubspot
    sandbox: true
    sandbox_contacts: 3
"""


def settings(tmp_path: Path, url: str, rules: str = "null") -> Path:
    path = tmp_path / "crmsync.yaml"
    path.write_text(SETTINGS.format(url=url, rules=rules))
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def crmsync(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CRMSYNC, *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False)


def one_clear_message(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr + result.stdout
    return result.stderr


# --- the codes themselves ----------------------------------------------------------------------------------


def test_readme_lists_every_exit_code_with_its_meaning():
    readme = (ROOT / "README.md").read_text()
    commands = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]
    table = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", commands, re.MULTILINE))
    assert table == {str(int(code)): meaning for code, meaning in MEANINGS.items()}


# --- files and folders -------------------------------------------------------------------------------------


BROKEN = "state:\n  url: sqlite:///x.db\naccounts:\n  - name: alpha\n    crm: zoho\n"


@pytest.mark.parametrize("command", [["config", "check"], ["status"], ["resync"], ["resync", "--dry-run"],
                                     ["run"], ["report"], ["rules", "calibrate"]])
def test_a_settings_file_that_does_not_validate_is_3_in_every_command(command, tmp_path):
    config = tmp_path / "crmsync.yaml"
    config.write_text(BROKEN)
    args = [*command, str(config)] if command == ["config", "check"] else [*command, "--config", str(config)]
    code, out = invoke(*args)
    assert code == ExitCode.CONFIG == 3
    assert f"{config}:5:5: accounts.0.crm" in out and "1 problem in" in out


@pytest.mark.parametrize("command", [["config", "check"], ["status"], ["resync", "--dry-run"], ["run"],
                                     ["report"], ["rules", "calibrate"]])
def test_a_settings_file_that_does_not_exist_is_5_in_every_command(command, tmp_path):
    missing = tmp_path / "nope.yaml"
    args = [*command, str(missing)] if command == ["config", "check"] else [*command, "--config", str(missing)]
    code, out = invoke(*args)
    assert code == ExitCode.FILE == 5 and f"{missing}:1:1: file not found" in out


def test_config_check_also_loads_the_rules_file_the_settings_name(tmp_path, monkeypatch):
    rules = tmp_path / "rules.yaml"
    rules.write_text((Path(str(registry.rules_loader()(None).source))).read_text()
                     .replace("  threshold: 70\n", "  threshold: lots\n", 1))
    line = rules.read_text().splitlines().index("  threshold: lots") + 1
    config = settings(tmp_path, "sqlite:///state.db", rules=str(rules))
    code, out = invoke("config", "check", str(config))
    assert code == 3 and f"{rules}:{line}:" in out  # the same refusal `crmsync run` would give
    run_code, run_out = invoke("run", "--config", str(config))
    assert run_code == 3 and f"{rules}:{line}:" in run_out
    rules.write_text(rules.read_text().replace("  threshold: lots\n", "  threshold: 70\n"))
    code, out = invoke("config", "check", str(config))
    assert code == 0 and f"rules {rules}: ok" in out


def test_rules_schema_output_into_a_missing_folder_or_onto_a_folder_is_5(tmp_path):
    code, out = invoke("rules", "schema", "--output", str(tmp_path / "nowhere" / "rules.schema.json"))
    assert code == 5 and f"the folder {tmp_path / 'nowhere'} does not exist" in out and "mkdir -p" in out
    code, out = invoke("rules", "schema", "--output", str(tmp_path))
    assert code == 5 and f"{tmp_path}: is a folder" in out


@pytest.mark.parametrize("command", [["report"], ["rules", "calibrate"]])
def test_an_output_that_cannot_be_a_file_is_5_before_any_work(command, tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    code, out = invoke(*command, "--state", url, "--output", str(tmp_path))
    assert code == 5 and f"{tmp_path}: is a folder: give --output a file name" in out
    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    code, out = invoke(*command, "--state", url, "--output", str(afile / "out.html"))
    assert code == 5 and f"{afile} is a file, not a folder" in out
    assert not (tmp_path / "state.db").exists()  # refused before the store was opened


def test_report_s_own_inputs_exit_with_the_code_of_their_problem(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    page = str(tmp_path / "report.html")
    code, out = invoke("report", "--state", url, "--output", page, "--since", "a while")
    assert code == 2 and "'a while' is not a period" in out
    code, out = invoke("report", "--state", url, "--output", page, "--account", "nope")
    assert code == 2 and "no account matches nope in the state store" in out
    teams = tmp_path / "teams.yaml"
    code, out = invoke("report", "--state", url, "--output", page, "--teams", str(teams))
    assert code == 5 and f"{teams}:1:1: file not found" in out
    teams.write_text("- just a list\n")
    code, out = invoke("report", "--state", url, "--output", page, "--teams", str(teams))
    assert code == 3 and f"{teams}:1:1: expected a mapping of team names to lists of owner ids" in out
    teams.write_text("east: [owner-1]\n")
    code, out = invoke("report", "--state", url, "--output", page, "--teams", str(teams))
    assert code == 0 and Path(page).is_file(), out


def test_demo_dir_naming_a_file_is_5(tmp_path):
    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    code, out = invoke("demo", "--dir", str(afile))
    assert code == 5 and f"{afile}: is a file, not a folder" in out
    assert afile.read_text() == "mine"


def test_a_missing_dependency_is_6_with_its_name(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "RULES_LOADER", "crmsync_no_such_engine:load_rules")
    code, out = invoke("config", "check", str(settings(tmp_path, "sqlite:///state.db")))
    assert code == ExitCode.NOT_INSTALLED == 6 and "crmsync_no_such_engine" in out and "not installed" in out


def test_an_unknown_account_and_exclusive_options_are_usage_errors(tmp_path):
    config = settings(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    code, out = invoke("resync", "--config", str(config), "--account", "nope")
    assert code == 2 and "no account named 'nope'" in out and "known: alpha" in out
    code, out = invoke("resync", "--config", str(config), "--full", "--since", "2026-01-01")
    assert code == 2 and "exclusive" in out
    code, out = invoke("resync", "--config", str(config), "--since", "last week")
    assert code == 2 and "'last week' is not a date" in out


def test_a_bug_is_one_line_and_70_and_its_traceback_is_there_on_request(tmp_path, monkeypatch):
    import sync.cli.ops as ops

    monkeypatch.setattr(ops, "load_settings", lambda path: 1 / 0)
    code, out = invoke("status")
    assert code == ExitCode.INTERNAL == 70 and "internal error: ZeroDivisionError" in out and "Traceback" not in out
    monkeypatch.setenv("CRMSYNC_TRACEBACK", "1")
    result = CliRunner().invoke(app, ["status"])
    assert isinstance(result.exception, ZeroDivisionError)


# --- the state store ---------------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("command", [["status"], ["resync"], ["resync", "--dry-run"], ["demo"], ["report"],
                                     ["rules", "calibrate"]])
def test_a_postgresql_store_nothing_listens_for_is_4_and_says_unreachable(command, tmp_path):
    url = f"postgresql://crmsync@127.0.0.1:{closed_port()}/crmsync"
    args = (["demo", "--contacts", "3", "--dir", str(tmp_path / "demo"), "--state", url] if command == ["demo"]
            else [*command, "--config", str(settings(tmp_path, url))])
    result = crmsync(*args, cwd=tmp_path)
    message = one_clear_message(result)
    assert result.returncode == ExitCode.STATE_STORE == 4, message
    assert re.search(r"state store postgresql://127\.0\.0\.1:\d+/crmsync is not reachable \(.*refused.*\): "
                     r"start the database, or fix state\.url", message, re.IGNORECASE), message
    assert "crmsync@" not in message  # no user (nor password) in what is printed


def mount_namespace_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--map-root-user", "true"], capture_output=True, check=False)
    return probe.returncode == 0


needs_mounts = pytest.mark.skipif(not mount_namespace_available(),
                                  reason="no private mount namespace here (unshare, user namespaces)")

# mount a tmpfs on $1 in a private mount namespace, run the `prepare` shell line, then crmsync with the rest
IN_TMPFS = 'mount -t tmpfs -o size="$1" tmpfs "$2" && {prepare} && shift 2 && exec "$@"'


def crmsync_on_tmpfs(folder: Path, *args: str, size: str = "1m",
                     prepare: str = "true") -> subprocess.CompletedProcess[str]:
    folder.mkdir(parents=True, exist_ok=True)
    script = IN_TMPFS.format(prepare=prepare)
    return subprocess.run(["unshare", "--mount", "--map-root-user", "sh", "-c", script, "sh", size, str(folder),
                           CRMSYNC, *args], capture_output=True, text=True, cwd=folder.parent, timeout=120,
                          check=False)


READ_ONLY = 'mount -o remount,ro "$2"'
FULL = '(dd if=/dev/zero of="$2/filler" bs=4k 2>/dev/null || true)'


@needs_mounts
@pytest.mark.parametrize("command", [["resync"], ["resync", "--dry-run"], ["status"]])
def test_a_sqlite_store_on_a_read_only_filesystem_is_4_and_says_read_only(command, tmp_path):
    folder = tmp_path / "ro"
    existing = command != ["resync"]  # status and a dry run only read: give them a store to read
    prepare = (f'{CRMSYNC} resync --config {tmp_path / "crmsync.yaml"} >/dev/null 2>&1 && ' if existing else "") + \
        READ_ONLY
    config = settings(tmp_path, f"sqlite:///{folder / 'state.db'}")
    result = crmsync_on_tmpfs(folder, *command, "--config", str(config), prepare=prepare)
    message = one_clear_message(result)  # even reading: SQLite's WAL mode writes its -shm file beside the store
    assert result.returncode == 4, message
    where = folder / "state.db" if existing else folder
    assert f"state store {folder / 'state.db'}: read-only ({where} is on a read-only filesystem)" in message


@needs_mounts
@pytest.mark.parametrize("command", ["resync", "run"])
def test_a_sqlite_store_in_a_folder_that_cannot_be_created_is_4_and_names_it(command, tmp_path):
    folder = tmp_path / "ro"
    config = settings(tmp_path, f"sqlite:///{folder / 'sub' / 'state.db'}")
    result = crmsync_on_tmpfs(folder, command, "--config", str(config), prepare=READ_ONLY)
    message = one_clear_message(result)
    assert result.returncode == 4, message
    assert f"the folder {folder / 'sub'} does not exist and cannot be created (Read-only file system)" in message


@needs_mounts
@pytest.mark.parametrize("command", ["resync", "demo"])
def test_a_full_disk_is_4_and_says_disk_full(command, tmp_path):
    folder = tmp_path / "full"
    url = f"sqlite:///{folder / 'state.db'}"
    args = (["demo", "--contacts", "3", "--dir", str(tmp_path / "demo"), "--state", url] if command == "demo"
            else ["resync", "--config", str(settings(tmp_path, url))])
    result = crmsync_on_tmpfs(folder, *args, size="256k", prepare=FULL)
    message = one_clear_message(result)
    assert result.returncode == 4, message
    assert f"state store {folder / 'state.db'}: disk full" in message, message


def test_the_classifier_reads_sqlite_s_own_full_error(tmp_path):
    """SQLITE_FULL as SQLite raises it when a database reaches its size limit: the same code a full disk
    gives, reported the same way (what the daemon's readiness check reuses)."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    engine = create_engine(url)
    with pytest.raises(Exception) as raised, engine.begin() as conn:
        conn.execute(text("PRAGMA max_page_count = 2"))
        conn.execute(text("CREATE TABLE t (x BLOB)"))
        conn.execute(text("INSERT INTO t VALUES (zeroblob(100000))"))
    engine.dispose()
    problem = classify_store_error(raised.value, url)
    assert problem is not None and problem.kind is StoreProblemKind.DISK_FULL
    assert problem.message.startswith(f"state store {tmp_path / 'state.db'}: disk full")
    assert classify_store_error(ValueError("not a store error"), url) is None
    assert classify_store_error(sqlite3.OperationalError("database is locked"), url).kind is StoreProblemKind.OTHER
