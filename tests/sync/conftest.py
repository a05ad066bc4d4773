"""Fixtures shared by the engine's tests: `store_url` runs a test on SQLite and on the PostgreSQL server named
by CRMSYNC_TEST_POSTGRES_URL (a fresh schema per test). Unset: the PostgreSQL variant is skipped with that
reason, except in CI where it fails; set but unreachable: it fails."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.testing import POSTGRES_URL_ENV, postgres_schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{POSTGRES_URL_ENV} is not set in CI: .ci/run must set it")
        pytest.skip(f"{POSTGRES_URL_ENV} is not set: PostgreSQL variant not run outside CI")
    with postgres_schema(base) as url:
        yield url
