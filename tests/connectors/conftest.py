"""Fixtures every connector's tests share: where the official API descriptions are, and a sleep that moves
the test clock instead of waiting.

The API descriptions (the CRMs' OpenAPI files, cut down to what a validator reads) are in this repository,
under tests/specs/, one folder per CRM, written by scripts/extract_specs.py with where each came from
(tests/specs/README.md). Salesforce has none: it publishes no OpenAPI for its REST sObject API.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from sync.clock import FrozenClock

SPECS = Path(__file__).resolve().parents[1] / "specs"


def find_specs(folder: str = "", *files: str, root: Path = SPECS) -> Path:
    """`root / folder` when it holds every one of `files`; otherwise the test fails, saying where it looked
    (the files are part of the repository: a missing one is a defect, never a reason to skip)."""
    directory = root / folder
    missing = [name for name in files if not (directory / name).is_file()]
    if not directory.is_dir() or missing:
        pytest.fail(f"API specs not found at {directory}{f' ({missing})' if missing else ''}: "
                    "tests/specs is written by scripts/extract_specs.py")
    return directory


@pytest.fixture(scope="session", name="find_specs")
def find_specs_fixture() -> Callable[..., Path]:
    """`find_specs(folder, *files, root=SPECS)`: see the function of that name in this module."""
    return find_specs


class VirtualSleep:
    """Stands in for time.sleep: records each wait and moves the shared clock instead of waiting, so the
    sandbox's rate-limit windows and token lifetimes see the time pass."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(timedelta(seconds=seconds))


@pytest.fixture
def virtual_sleep(clock: FrozenClock) -> VirtualSleep:
    return VirtualSleep(clock)
