from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sync import registry
from sync.cli import app
from sync.state import StateStore
from sync.testing import FakeConnector

CONFIG = """\
# yaml-language-server: $schema=./crmsync.schema.json
state:
  url: sqlite:///{db}
accounts:
  - name: alpha
    crm: fake
    sandbox: true
    sandbox_contacts: 12
  - name: beta
    crm: fake
    sandbox: true
    sandbox_contacts: 5
    settings:
      batch_size: 3
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two sandboxed fake accounts; the stand-in rules play the rules engine."""
    monkeypatch.setattr(registry, "RULES_LOADER", "sync.testing:load_rules")
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "crmsync.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "state" / "crmsync.db"))
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_config_check_says_ok_or_lists_every_problem_located(config: Path):
    code, out = run("config", "check", str(config))
    assert code == 0 and "ok: 2 account(s): alpha (fake, sandbox), beta (fake, sandbox)" in out
    config.write_text(config.read_text().replace("sandbox_contacts: 12", "sandbox_contacts: many")
                      .replace("name: beta", "name: Beta!"))
    code, out = run("config", "check", str(config))
    assert code == 3
    assert f"{config}:8:5: accounts.0.sandbox_contacts: Input should be a valid integer" in out
    assert f"{config}:9:5: accounts.1.name: String should match pattern" in out
    assert "2 problems in" in out


def test_config_check_takes_the_path_from_the_environment(config: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CRMSYNC_CONFIG", str(config))
    code, out = run("config", "check")
    assert code == 0 and str(config) in out


def test_a_dry_run_prints_the_diff_per_crm_and_writes_nothing(config: Path, monkeypatch: pytest.MonkeyPatch):
    pushes: list[int] = []
    original = FakeConnector.push
    monkeypatch.setattr(FakeConnector, "push", lambda self, updates: pushes.append(len(updates)) or
                        original(self, updates))
    code, out = run("resync", "--config", str(config), "--dry-run")
    assert code == 0, out
    assert "fake: 221 field write(s) on 17 contact(s) would be pushed" in out  # 17 contacts x 13 fields
    assert "rules_version" in out and "(empty)" in out and "standin-1" in out
    assert "resync (dry run: nothing written)" in out
    assert pushes == []
    assert not (config.parent / "state").exists()


def test_resync_pushes_then_status_shows_runs_stages_and_budget(config: Path):
    code, out = run("resync", "--config", str(config), "--full")
    assert code == 0, out
    assert "alpha" in out and "beta" in out and " ok " in out
    code, out = run("status", "--config", str(config))
    assert code == 0, out
    assert "last run per account" in out and "resync" in out
    assert "contacts per stage" in out and "open SLA breaches" in out
    assert "API budget left" in out and "not reported" in out
    code, out = run("resync", "--config", str(config), "--account", "beta", "--full")
    assert code == 0 and "alpha" not in out.split("resync")[-1]


def test_resync_of_one_contact_needs_one_account_and_a_known_contact(config: Path):
    code, out = run("resync", "--config", str(config), "--contact", "fk100001")
    assert code == 2 and "--contact needs exactly one account" in out
    run("resync", "--config", str(config), "--account", "alpha")
    with StateStore(f"sqlite:///{config.parent / 'state' / 'crmsync.db'}") as store:
        before = store.runs(limit=50)
    code, out = run("resync", "--config", str(config), "--account", "alpha", "--contact", "fk1000001")
    assert code == 2 and "no contact 'fk1000001' is known for account alpha" in out  # a usage error...
    with StateStore(f"sqlite:///{config.parent / 'state' / 'crmsync.db'}") as store:
        assert store.runs(limit=50) == before  # ...not a failed run recorded as the account's last
    code, out = run("resync", "--config", str(config), "--account", "alpha", "--contact", "fk100001")
    assert code == 0, out


def test_status_without_any_state_creates_nothing(config: Path):
    code, out = run("status", "--config", str(config))
    assert code == 0 and "never run" in out
    assert not (config.parent / "state").exists()


def test_a_broken_settings_file_stops_resync_with_located_problems(config: Path):
    config.write_text(config.read_text().replace("crm: fake", "crm: zoho", 1))
    code, out = run("resync", "--config", str(config))
    assert code == 3 and f"{config}:6:5: accounts.0.crm" in out


def test_each_resync_of_a_sandbox_account_writes_every_field_to_its_fresh_sandbox(config: Path):
    for _ in range(2):  # the second run's sandbox is new: the first one's pushed values must not hide its writes
        code, out = run("resync", "--config", str(config), "--account", "alpha")
        assert code == 0, out
        row = next(line for line in out.splitlines() if "│ alpha" in line)
        assert row.split("│")[7].strip() == "12"  # pushed


def test_resync_now_decides_as_of_the_given_time(config: Path, tmp_path: Path):
    code, out = run("resync", "--config", str(config), "--account", "beta", "--now", "2026-01-05T10:00:00+00:00")
    assert code == 0, out
    with StateStore(f"sqlite:///{tmp_path / 'state' / 'crmsync.db'}") as store:
        [record] = store.runs(limit=5)
    assert record.started_at.isoformat() == "2026-01-05T10:00:00+00:00"


def test_status_shows_each_accounts_owner_its_lease_expiry_and_the_replicas_alive(config: Path):
    from datetime import UTC, datetime, timedelta

    from sync.clock import FrozenClock
    from sync.state.leases import LeaseTable

    assert run("resync", "--config", str(config), "--full")[0] == 0
    now = datetime.now(UTC)
    with StateStore(f"sqlite:///{config.parent / 'state' / 'crmsync.db'}") as store:
        table = LeaseTable(store.engine, FrozenClock(now))
        table.ensure(["fake/alpha", "fake/beta"])
        table.heartbeat("web-1", host="node-a", started_at=now)
        table.claim(["fake/alpha"], "web-1", ttl=timedelta(seconds=30), limit=1)
        table.heartbeat("web-2", host="node-b", started_at=now - timedelta(hours=1))
        table.clock = FrozenClock(now - timedelta(hours=1))
        table.heartbeat("web-2", host="node-b", started_at=now - timedelta(hours=1))  # silent for an hour
    code, out = run("status", "--config", str(config))
    assert code == 0, out
    owners = out.split("account owners")[1].split("replicas alive")[0]
    assert "fake/alpha" in owners and "web-1" in owners and "(expired)" not in owners
    assert "fake/beta" in owners and "released" in owners
    assert "replicas alive: 1" in out
    members = out.split("replicas alive: 1")[1]
    assert "web-1" in members and "node-a" in members and "web-2" in members and " no" in members


def test_status_of_a_store_no_replica_ran_on_shows_no_owners(config: Path):
    assert run("resync", "--config", str(config), "--full")[0] == 0
    code, out = run("status", "--config", str(config))
    assert code == 0 and "account owners" not in out and "replicas alive" not in out
