"""Engines for the state store: a SQLite file by default, PostgreSQL by URL.

SQLite runs in WAL mode with a busy timeout so the scheduler's threads (one
per account) and a `crmsync status` in another process can share the file; a
relative SQLite path is taken from the working directory and its folder is
created. PostgreSQL uses psycopg 3 with pre-ping so a restarted server does not
fail the next run.

Every connection is bounded in time (`StoreTimeouts`): connecting, waiting for a lock and running one
statement. Without those bounds a table locked by another session (a migration, an operator's `LOCK`, a
stuck transaction) hangs a run for ever, and a SIGTERM can then only end in the shutdown bound's exit 1.
PostgreSQL gets them as server settings in the connection's startup packet (`options=-c ...`), so they
hold for every statement of every pooled connection without a round trip; SQLite has no statement
timeout, only a busy timeout, which is the lock wait. Bound parameters are never shown in SQLAlchemy's
errors (`hide_parameters`): they are contact data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool


@dataclass(frozen=True, slots=True)
class StoreTimeouts:
    """How long the store may wait: for a connection, for a lock, for one statement (PostgreSQL only).
    The defaults keep every wait below the daemon's 25 s shutdown bound."""

    connect: timedelta = timedelta(seconds=10)
    lock: timedelta = timedelta(seconds=10)
    statement: timedelta = timedelta(seconds=20)


def normalise_url(url: str | URL) -> URL:
    """Expand `~` and environment variables in a SQLite path; pick psycopg 3 for plain postgresql URLs."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(os.path.expandvars(os.path.expanduser(parsed.database)))
        parsed = parsed.set(database=str(path))
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _milliseconds(delta: timedelta) -> int:
    return max(int(delta.total_seconds() * 1000), 0)


def _sqlite_pragmas(busy_ms: int) -> Any:
    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms:d}")
        cursor.close()
    return pragmas


def postgres_connect_args(parsed: URL, timeouts: StoreTimeouts) -> dict[str, Any]:
    """psycopg keyword arguments bounding every connection: its own connect timeout, TCP keepalives and a
    user timeout (a server that vanished without closing the socket is noticed, not waited on for ever),
    and the server-side statement and lock timeouts, appended to any `options` the URL already has
    (a `search_path`, say)."""
    server = f"-c statement_timeout={_milliseconds(timeouts.statement)} -c lock_timeout={_milliseconds(timeouts.lock)}"
    given = parsed.query.get("options")
    existing = " ".join(given) if isinstance(given, tuple) else (given or "")
    connect_s = max(int(timeouts.connect.total_seconds()), 1)
    return {"connect_timeout": connect_s, "options": f"{existing} {server}".strip(),
            "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
            "tcp_user_timeout": connect_s * 1000}


def make_engine(url: str | URL, timeouts: StoreTimeouts | None = None) -> Engine:
    timeouts = timeouts or StoreTimeouts()
    parsed = normalise_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        memory = not parsed.database or parsed.database == ":memory:"
        if not memory:
            Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": timeouts.lock.total_seconds()},
            poolclass=StaticPool if memory else None,
            hide_parameters=True,
        )
        if not memory:
            event.listen(engine, "connect", _sqlite_pragmas(_milliseconds(timeouts.lock)))
        return engine
    if backend == "postgresql":
        return create_engine(parsed.difference_update_query(["options"]), pool_pre_ping=True, pool_size=5,
                             max_overflow=5, hide_parameters=True, connect_args=postgres_connect_args(parsed, timeouts))
    raise ValueError(f"unsupported state store {backend!r}: use sqlite:///PATH or postgresql://...")
