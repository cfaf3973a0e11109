"""Alembic environment: runs on the connection `campaigns.db.upgrade_database` hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import campaigns.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from campaigns.db import get_engine

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    with get_engine().begin() as own_connection:
        _run(own_connection)
