"""`crmsync sandbox` with stand-in sandbox classes (the real ones are tested with their connectors): the
command finds them through the registry, starts and seeds each on its port, prints how to reach them, and
stops them all when interrupted or when one fails to start."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sync.cli.daemon as daemon_cli
from sync import registry
from sync.cli import app
from sync.cli.exits import ExitCode

FAKE_SANDBOX = textwrap.dedent('''
    STARTED = []

    class Tls:
        ca_path = "/tmp/fake-ca.pem"

    class FakeSandbox:
        crm = "fake"

        def __init__(self, *, clock=None, port=0, enforce_limits=False, seed=7):
            self.port, self.seed_value, self.seeded = port, seed, []
            self.tls = Tls() if port % 2 else None

        def start(self):
            self.base_url = f"http://127.0.0.1:{self.port}"
            STARTED.append(self)
            return self

        def stop(self):
            STARTED.remove(self)

        def seed(self, contacts):
            self.seeded = list(contacts)
            return {c.id: f"native-{c.id}" for c in self.seeded}

        def credentials(self):
            return {"access_token": f"tok-{self.port}"}

    class BrokenSandbox(FakeSandbox):
        def start(self):
            raise OSError("address already in use")
''')


@pytest.fixture
def fake_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "crmsync_fake_sandbox.py").write_text(FAKE_SANDBOX)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("crmsync_fake_sandbox")
    monkeypatch.setitem(sys.modules, "crmsync_fake_sandbox", module)  # forgotten again after the test
    return module


def use_sandboxes(monkeypatch: pytest.MonkeyPatch, sandboxes: dict[str, str]) -> None:
    """Make the registry know these CRMs, each with the sandbox class at the given dotted path."""
    kinds = {name: registry.CrmKind(name, "x:Connector", "x:Settings", path) for name, path in sandboxes.items()}
    monkeypatch.setattr(registry, "CRM_KINDS", {**registry.CRM_KINDS, **kinds})
    monkeypatch.setattr(registry, "SANDBOX_CRMS", tuple(sandboxes))


def test_sandbox_starts_seeds_and_describes_each_crm_then_stops(fake_module, monkeypatch):
    use_sandboxes(monkeypatch, {"alpha": "crmsync_fake_sandbox:FakeSandbox",
                                "beta": "crmsync_fake_sandbox:FakeSandbox"})
    seen: list[list[object]] = []
    monkeypatch.setattr(daemon_cli, "wait_for_interrupt", lambda: seen.append(list(fake_module.STARTED)))

    result = CliRunner().invoke(app, ["sandbox", "--port-base", "9100", "--contacts", "3", "--seed", "11"])

    assert result.exit_code == 0, result.output
    alpha, beta = seen[0]
    assert (alpha.port, beta.port) == (9100, 9101)
    assert [c.crm for c in alpha.seeded] == ["alpha"] * 3 and [c.crm for c in beta.seeded] == ["beta"] * 3
    assert {c.id for c in alpha.seeded}.isdisjoint({c.id for c in beta.seeded})  # different people per CRM
    assert alpha.seed_value == 11
    for text in ("http://127.0.0.1:9100", "access_token=tok-9101", "/tmp/fake-ca.pem", "Ctrl-C"):
        assert text in result.output
    assert fake_module.STARTED == []  # all stopped on the way out


def test_a_sandbox_that_fails_to_start_stops_the_others(fake_module, monkeypatch):
    use_sandboxes(monkeypatch, {"alpha": "crmsync_fake_sandbox:FakeSandbox",
                                "beta": "crmsync_fake_sandbox:BrokenSandbox"})
    factories = registry.sandbox_classes()
    with pytest.raises(OSError):
        daemon_cli.start_sandboxes(factories, port_base=0, contacts=1, seed=7, clock=daemon_cli.SystemClock())
    assert fake_module.STARTED == []


def test_a_missing_sandbox_is_named_and_exits_6(monkeypatch):
    use_sandboxes(monkeypatch, {"x": "crmsync_no_such_module:Sandbox"})
    result = CliRunner().invoke(app, ["sandbox"])
    assert result.exit_code == ExitCode.NOT_INSTALLED == 6
    assert "crmsync_no_such_module:Sandbox is not installed" in result.output


def test_the_registry_names_a_missing_sandbox_class(monkeypatch):
    use_sandboxes(monkeypatch, {"x": "sync.clock:Nope"})
    with pytest.raises(registry.NotInstalled, match="sync.clock has no 'Nope'"):
        registry.sandbox_classes()


def test_the_sandbox_paths_name_the_three_crms_and_only_the_registry_names_connectors():
    assert registry.SANDBOX_CRMS == ("hubspot", "salesforce", "pipedrive")
    assert all(registry.crm_kind(crm).sandbox.startswith("connectors.sandbox.") for crm in registry.SANDBOX_CRMS)
    package = Path(registry.__file__).parent
    naming = sorted(str(path.relative_to(package)) for path in package.rglob("*.py")
                    if "connectors." in path.read_text() or "import connectors" in path.read_text())
    assert naming == ["registry.py"]
