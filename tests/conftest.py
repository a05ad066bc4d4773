"""Fixtures shared by the whole suite. Connector- and daemon-specific fixtures live in the conftest.py of
their own folder; this one holds only what every part needs."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sync.clock import FrozenClock
from sync.log import reset_logging

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in Paris


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


class NoSleep:
    """Stands in for time.sleep: records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def no_sleep() -> NoSleep:
    return NoSleep()


@pytest.fixture(autouse=True)
def _logging_reset():
    """A test that configured logging (structlog onto a stream, the root logger at DEBUG) leaves none of it
    to the next: a root left at DEBUG makes pytest capture every SDK debug line of every later test."""
    yield
    reset_logging()
