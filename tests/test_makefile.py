"""`make test` reinstalls the package only when what it is built from changed: a stamp named after the
content of pyproject.toml and the package files. Checked on a copy of the Makefile in a tree of
stand-in files, with `make -q` (is the target up to date?) and `make -n` (what would it run?)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def make(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-C", str(tree), *args, f"PYTHON={sys.executable}"], capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    for folder in ("sync", "connectors", "config"):
        (tmp_path / folder).mkdir()
    (tmp_path / "sync" / "engine.py").write_text("ANSWER = 42\n")
    (tmp_path / "config" / "rules.yaml").write_text("version: 1\n")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to(sys.executable)
    return tmp_path


def install_as_done(tree: Path) -> None:
    """What a successful `make install` leaves: the stamp `make -n` names."""
    planned = make(tree, "-n", "install").stdout
    stamp = re.search(r"touch (\S+\.installed-[0-9a-f]{16})", planned)
    assert stamp is not None and "pip install" in planned, planned
    (tree / stamp.group(1)).touch()


def up_to_date(tree: Path) -> bool:
    return make(tree, "-q", "install").returncode == 0


def test_a_second_install_does_nothing_until_a_package_file_or_the_dependencies_change(tree: Path):
    assert not up_to_date(tree)
    install_as_done(tree)
    assert up_to_date(tree)
    source = tree / "sync" / "engine.py"
    os.utime(source, (0, 2_000_000_000))  # a newer date alone (a checkout, an editor that saves) is nothing
    assert up_to_date(tree)
    source.write_text("ANSWER = 43\n")
    assert not up_to_date(tree)  # an edit reinstalls
    source.write_text("ANSWER = 42\n")
    assert up_to_date(tree)  # back as it was: as installed
    (tree / "pyproject.toml").write_text("[project]\nname = 'x'\ndependencies = ['requests']\n")
    assert not up_to_date(tree)  # a dependency changed
    install_as_done(tree)
    assert up_to_date(tree)


def test_a_new_file_in_a_package_reinstalls(tree: Path):
    install_as_done(tree)
    (tree / "connectors" / "zoho.py").write_text("")
    assert not up_to_date(tree)


def test_the_install_builds_from_nothing_so_a_deleted_module_never_reaches_the_wheel(tree: Path):
    """setuptools copies the sources into ./build and never removes what is no longer there."""
    planned = make(tree, "-n", "install").stdout.splitlines()
    pip = next(i for i, line in enumerate(planned) if "pip install" in line)
    assert "rm -rf build" in planned[:pip]
