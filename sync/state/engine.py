"""Engines for the state store: a SQLite file by default, PostgreSQL by URL.

SQLite runs in WAL mode with a busy timeout so the scheduler's threads (one
per account) and a `crmsync status` in another process can share the file; a
relative SQLite path is taken from the working directory and its folder is
created. PostgreSQL uses psycopg 3 with pre-ping so a restarted server does not
fail the next run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool


def normalise_url(url: str | URL) -> URL:
    """Expand `~` and environment variables in a SQLite path; pick psycopg 3 for plain postgresql URLs."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(os.path.expandvars(os.path.expanduser(parsed.database)))
        parsed = parsed.set(database=str(path))
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str | URL) -> Engine:
    parsed = normalise_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        memory = not parsed.database or parsed.database == ":memory:"
        if not memory:
            Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=StaticPool if memory else None,
        )
        if not memory:
            event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5)
    raise ValueError(f"unsupported state store {backend!r}: use sqlite:///PATH or postgresql://...")
