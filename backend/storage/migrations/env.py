"""Alembic environment: migrate ``SQLModel.metadata`` on SQLite (batch mode) and PostgreSQL.

Run through :mod:`backend.storage.migrate`, which hands over a connection already inside the
transaction that commits the run; ``sqlalchemy.url`` is the fallback for other callers.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import JSON, Connection, DateTime
from sqlmodel import SQLModel

from backend.storage import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from backend.storage.engine import make_engine
from backend.storage.migrate import migration_connection
from backend.storage.types import UTCDateTime

config = context.config
target_metadata = SQLModel.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render the app's column types as plain SQLAlchemy, so revisions import no app code."""
    if type_ != "type":
        return False
    if isinstance(obj, UTCDateTime) or (
        isinstance(obj, DateTime) and obj.timezone and not obj._variant_mapping
    ):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, JSON) and "postgresql" in obj._variant_mapping:
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )


def run_migrations_offline() -> None:
    """Emit the SQL for ``--sql`` instead of running it."""
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=bool(url and url.startswith("sqlite")),
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection, or on one to ``sqlalchemy.url``."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: pass a connection or set sqlalchemy.url")
    engine = make_engine(url)
    try:
        with migration_connection(engine) as connection:
            _configure(connection)
            context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
