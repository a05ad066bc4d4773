"""Fixtures of the engine's tests. `store_url`: every state store test (and every test of what runs on the lease
tables) runs on SQLite and on the PostgreSQL server named by CRMSYNC_TEST_POSTGRES_URL (a fresh schema per test).
Unset: the PostgreSQL variant is skipped with that reason, except in CI where it fails; set but unreachable: it
fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.testing import postgres_schema, postgres_url_for_test


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    with postgres_schema(postgres_url_for_test()) as url:
        yield url
