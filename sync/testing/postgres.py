"""A fresh PostgreSQL schema per test, for the state store tests' PostgreSQL variant."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import sqlalchemy

POSTGRES_URL_ENV = "CRMSYNC_TEST_POSTGRES_URL"


def postgres_url_for_test() -> str:
    """The server to test against: unset, the test is skipped saying so, except in CI where it fails."""
    import pytest  # a test helper: pytest is there whenever this is called

    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{POSTGRES_URL_ENV} is not set in CI: .ci/run must set it")
        pytest.skip(f"{POSTGRES_URL_ENV} is not set: PostgreSQL variant not run outside CI")
    return base


@contextlib.contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards; yields a URL whose search_path is it.
    Fails (does not skip) when the server named by `base_url` cannot be reached."""
    schema = f"crmsync_test_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(base_url)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
        url = sqlalchemy.engine.make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        try:
            with engine.begin() as conn:
                conn.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            engine.dispose()
