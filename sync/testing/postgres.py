"""A fresh PostgreSQL schema per test, for the state store tests' PostgreSQL variant."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import sqlalchemy

POSTGRES_URL_ENV = "CRMSYNC_TEST_POSTGRES_URL"


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
