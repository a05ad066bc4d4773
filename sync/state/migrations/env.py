"""Alembic environment for the state store.

Migrations run programmatically (`sync.state.migrate.upgrade`), never from an
`alembic.ini`: the caller hands over an open connection in
`config.attributes["connection"]`, so the same engine settings (SQLite pragmas,
PostgreSQL search_path) apply to the migration and to the store.
"""

from __future__ import annotations

from alembic import context

from sync.state.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through sync.state.migrate, which provides the connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
