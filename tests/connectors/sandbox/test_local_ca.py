"""The Salesforce sandbox's throw-away CA lives in a temporary directory: stopping the sandbox removes it,
and so do garbage collection and interpreter exit for a CA nobody closed (runs used to leave one
`crmsync-ca-*` directory behind per start)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from connectors.sandbox.salesforce import SalesforceSandbox
from connectors.sandbox.server import LocalCA


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary directories of this test go to its own folder, so other runs on the machine do not count."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def ca_dirs(root: Path) -> list[Path]:
    return sorted(root.glob("crmsync-ca-*"))


def test_starting_and_stopping_the_salesforce_sandbox_leaves_no_ca_directory(private_tmp, clock):
    with SalesforceSandbox(clock=clock) as sandbox:
        ca_file = Path(sandbox.ca_path)
        assert ca_file.is_file() and ca_dirs(private_tmp) == [ca_file.parent]
    assert ca_dirs(private_tmp) == []


def test_each_start_removes_on_stop_the_ca_it_made(private_tmp, clock):
    sandbox = SalesforceSandbox(clock=clock)
    for _ in range(2):
        sandbox.start()
        assert len(ca_dirs(private_tmp)) == 1
        sandbox.stop()
        assert ca_dirs(private_tmp) == []
    sandbox.stop()  # a second stop is harmless


def test_a_ca_nobody_closed_is_removed_when_collected(private_tmp):
    ca = LocalCA()
    assert ca.ca_path.is_file()
    del ca
    gc.collect()
    assert ca_dirs(private_tmp) == []


def test_a_ca_nobody_closed_is_removed_at_interpreter_exit(tmp_path):
    script = "from connectors.sandbox.server import LocalCA\nca = LocalCA()\nprint(ca.ca_path)\n"
    environment = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=environment, capture_output=True,
                          text=True, timeout=60, check=True)
    made = Path(done.stdout.strip())
    assert made.parent.parent == tmp_path and not made.parent.exists()


def test_a_directory_the_caller_names_is_left_to_the_caller(tmp_path):
    ca = LocalCA(tmp_path / "mine")
    ca.close()
    assert ca.ca_path.is_file()
