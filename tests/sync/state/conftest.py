"""Every state store test runs on SQLite and on PostgreSQL (`store_url`, in tests/sync/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sync.clock import FrozenClock
from sync.state import StateStore


@pytest.fixture
def store(store_url: str, clock: FrozenClock) -> Iterator[StateStore]:
    with StateStore(store_url, clock=clock) as opened:
        yield opened
