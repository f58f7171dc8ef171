"""SQL text that differs between SQLite and PostgreSQL."""

from __future__ import annotations

from sqlmodel import Session


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def json_scalar(dialect: str, column: str) -> str:
    """The SQL text of a JSON scalar (a string without quotes, a number as written)."""
    if dialect == "postgresql":
        return f"({column} #>> '{{}}')"
    return f"json_extract({column}, '$')"
