"""`crmsync run` through the typer app: it refuses to start on bad settings or bad rules (exit 3, the located
messages on stderr), and otherwise runs every account until SIGTERM, then exits 0. The rules are the real
engine's (the shipped file, or a broken copy of it); the accounts are fake sandbox CRMs."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sync.cli.run as run_cli
from sync import registry
from sync.cli import app
from sync.daemon.testing import Recorder
from sync.log import reset_logging

SETTINGS = """\
state:
  url: sqlite:///{db}
rules:
  path: {rules}
http:
  port: 0
logging:
  format: json
accounts:
  - name: eu
    crm: fake
    sandbox: true
    sandbox_contacts: 8
    interval: 1h
    jitter: 0s
"""


@pytest.fixture(autouse=True)
def closed_streams():
    yield
    reset_logging()  # the CliRunner's stderr, where logging went, is closed after each invoke


def shipped_rules() -> str:
    return Path(str(registry.rules_loader()(None).source)).read_text()


def write_config(tmp_path: Path, rules_text: str | None = None) -> Path:
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_text if rules_text is not None else shipped_rules())
    config = tmp_path / "crmsync.yaml"
    config.write_text(SETTINGS.format(db=tmp_path / "state.db", rules=rules))
    return config


def test_bad_settings_exit_3_with_located_messages(tmp_path):
    config = tmp_path / "crmsync.yaml"
    config.write_text("accounts:\n  - name: eu\n    crm: nosuch\n")
    result = CliRunner().invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 3
    assert f"{config}:3:5: accounts.0.crm: " in result.output


def test_a_bad_rules_file_at_start_exits_3_with_located_messages_and_opens_nothing(tmp_path, monkeypatch):
    broken = shipped_rules().replace("  threshold: 70\n", "  threshold: lots\n  treshold: 65\n", 1)
    config = write_config(tmp_path, broken)
    line = broken.splitlines().index("  threshold: lots") + 1
    opened: list[object] = []
    monkeypatch.setattr(run_cli, "build_service", lambda *a, **k: opened.append(a))
    result = CliRunner().invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 3
    for where in (f"{tmp_path / 'rules.yaml'}:{line}:", f"{tmp_path / 'rules.yaml'}:{line + 1}:"):
        assert where in result.output  # every problem, located
    assert opened == []  # no sandbox started, no store opened


def test_a_second_daemon_on_one_sqlite_file_exits_4_naming_postgresql_and_opens_nothing(tmp_path):
    from sync.state.single import DaemonLock

    config = write_config(tmp_path)
    first = DaemonLock.take(f"sqlite:///{tmp_path / 'state.db'}")  # the daemon already running on the file
    try:
        result = CliRunner().invoke(app, ["run", "--config", str(config)])
    finally:
        assert first is not None
        first.release()
    assert result.exit_code == 4
    assert "already runs on the SQLite state store" in result.output and "PostgreSQL" in result.output
    assert not (tmp_path / "state.db").exists()  # refused before the store was even created


def test_run_syncs_every_account_until_sigterm_then_exits_0(tmp_path, monkeypatch):
    config = write_config(tmp_path)
    recorder = Recorder()
    real_build = run_cli.build_service

    def build_and_observe(*args, **kwargs):
        return real_build(*args, observers=[recorder.observe], **kwargs)

    monkeypatch.setattr(run_cli, "build_service", build_and_observe)

    def stop_after_the_first_run() -> None:
        recorder.wait_for(lambda: recorder.summaries, "the first run")
        os.kill(os.getpid(), signal.SIGTERM)  # the handler is installed before the scheduler starts

    stopper = threading.Thread(target=stop_after_the_first_run, daemon=True)
    stopper.start()
    result = CliRunner().invoke(app, ["run", "--config", str(config)])
    stopper.join(timeout=10)
    assert result.exit_code == 0, result.output
    assert recorder.summaries[0].pushed == 8
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    events = [line["event"] for line in lines]
    for event in ("rules_loaded", "daemon_configured", "daemon_started", "run_finished", "shutdown_requested",
                  "shutdown_complete"):
        assert event in events
    configured = next(line for line in lines if line["event"] == "daemon_configured")
    assert configured["accounts"] == ["fake/eu"] and configured["state"].startswith("sqlite:")
