"""Fixtures every connector's tests share: where the official API descriptions are, and a sleep that moves
the test clock instead of waiting.

The API descriptions (OpenAPI files) are not in this repository: CI lays `shared/specs` beside the clone,
at `<repo root>/../shared/specs`. Each CRM has its own folder there (Salesforce has none: it publishes no
OpenAPI for its REST sObject API, see `shared/specs/README.md`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from sync.clock import FrozenClock

SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs"


def find_specs(folder: str = "", *files: str, root: Path = SPECS) -> Path:
    """`root / folder` when it holds every one of `files`. When it does not, the test fails under CI=true
    (a missing spec must not pass unnoticed there) and is skipped elsewhere, with where it looked."""
    directory = root / folder
    missing = [name for name in files if not (directory / name).is_file()]
    if not directory.is_dir() or missing:
        message = (f"API specs not found at {directory}{f' ({missing})' if missing else ''}: "
                   "shared/specs must sit beside the clone")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
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
