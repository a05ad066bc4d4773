"""The state store under database faults: every connection bounded in time (a lock held elsewhere fails a
statement within the lock timeout, classified, instead of hanging), and no contact data in the errors a
failing statement raises or in the log lines that carry them."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import structlog
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError

from sync.log import configure_logging
from sync.state import StateStore
from sync.state.engine import StoreTimeouts
from sync.state.problems import StoreProblemKind, classify_store_error
from sync.state.tables import ContactRow

SHORT = StoreTimeouts(connect=timedelta(seconds=2), lock=timedelta(milliseconds=300),
                      statement=timedelta(seconds=5))


@contextmanager
def locked_contacts(store: StateStore) -> Iterator[None]:
    """Another connection holds a write lock on the contacts table (SQLite: on the whole file)."""
    if store.engine.dialect.name == "sqlite":
        other = sqlite3.connect(store.engine.url.database, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    with store.engine.connect() as holder:  # another pooled connection of the same store
        holder.execute(text("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            holder.rollback()


def _row(contact_id: str, snapshot: str) -> dict:
    from datetime import UTC, datetime

    return {"crm": "fake", "account": "eu", "contact_id": contact_id, "snapshot": snapshot, "memory": "{}",
            "seen_at": datetime(2026, 11, 2, tzinfo=UTC)}


def test_a_write_waiting_on_a_lock_fails_within_the_lock_timeout_with_a_classified_error(store_url):
    with StateStore(store_url, timeouts=SHORT) as store, locked_contacts(store):
        with pytest.raises(DBAPIError) as caught, store.engine.begin() as conn:
            conn.execute(insert(ContactRow), [_row("c1", "{}")])
        problem = classify_store_error(caught.value, store.engine.url)
    assert problem is not None and problem.kind is StoreProblemKind.TIMED_OUT
    assert "timed out" in problem.message and "lock" in problem.message


def test_every_connection_carries_the_configured_timeouts(store_url):
    """PostgreSQL: the statement and lock timeouts are the session's, beside the URL's own search_path;
    SQLite: the lock timeout is the busy timeout."""
    with StateStore(store_url, timeouts=SHORT) as store, store.engine.connect() as conn:
        if store.engine.dialect.name != "postgresql":
            assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() == 300
            return
        assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "5s"
        assert conn.execute(text("SHOW lock_timeout")).scalar_one() == "300ms"
        assert conn.execute(text("SHOW search_path")).scalar_one().startswith("crmsync_test_")


def test_a_failing_statement_shows_no_parameter_values_in_its_error_nor_in_the_log(store_url):
    alice, bob = ("@".join((name, "example.com")) for name in ("alice.martin", "bob.durand"))  # not in tracebacks
    stream = io.StringIO()
    configure_logging(json=True, stream=stream, level="INFO")
    try:
        with StateStore(store_url) as store:
            with pytest.raises(DBAPIError) as caught, store.engine.begin() as conn:
                conn.execute(insert(ContactRow), [_row("c1", alice), {**_row("c2", bob), "crm": None}])
            structlog.get_logger("crmsync.test").error("store_failed", exc_info=caught.value)
    finally:
        structlog.reset_defaults()
    assert "hidden" in str(caught.value)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert bob not in line["exception"] and alice not in line["exception"]
    assert "parameters hidden" in line["exception"]
