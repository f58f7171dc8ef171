"""Check every stored string against its column before it reaches the database.

SQLite stores a 5,000-character value in a ``VARCHAR(256)``, a NUL and a lone surrogate in
JSON; PostgreSQL refuses all three with an error that surfaced as a 500. This hook refuses
them on both, the same way, with a message naming the table and column: any INSERT or UPDATE
whose values hold a string longer than its column, a NUL character, or a lone surrogate
(also inside JSON) raises :class:`StoredValueError` before the statement is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import JSON, Engine, String, event
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import DBAPICursor, ExecutionContext

__all__ = ["StoredValueError", "install_limits", "value_problem"]


class StoredValueError(ValueError):
    """A value that its column cannot hold; nothing of the statement was stored."""

    def __init__(self, table: str, column: str, problem: str) -> None:
        super().__init__(f"{table}.{column} {problem}")
        self.table = table
        self.column = column
        self.problem = problem


def _text_problem(value: str, length: int | None) -> str | None:
    if length is not None and len(value) > length:
        return f"is {len(value):,} characters; at most {length:,} fit"
    if "\x00" in value:
        return "contains a NUL character, which cannot be stored"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate, which is not a character and cannot be stored"
    return None


def _json_problem(value: Any) -> str | None:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            problem = _text_problem(node, None)
            if problem:
                return problem.replace("contains", "holds a text that contains", 1)
        elif isinstance(node, Mapping):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return None


def value_problem(value: Any, column_type: Any) -> str | None:
    """Return why ``value`` cannot be stored in a column of ``column_type``, or None."""
    if value is None:
        return None
    if isinstance(column_type, JSON) or isinstance(
        getattr(column_type, "impl", None), JSON
    ):  # JSON, and JSON with its JSONB variant on PostgreSQL
        return _json_problem(value)
    if isinstance(value, str):
        impl = getattr(column_type, "impl", column_type)  # sqlmodel's AutoString decorates
        length = impl.length if isinstance(impl, String) else None
        return _text_problem(value, length)
    return None


def _check(
    conn: Connection,
    cursor: DBAPICursor,
    statement: str,
    parameters: Any,
    context: ExecutionContext | None,
    executemany: bool,
) -> None:
    if context is None or not (context.isinsert or context.isupdate):
        return
    compiled = context.compiled
    if compiled is None:
        return
    table = getattr(compiled.statement, "table", None)
    columns = getattr(table, "c", None)
    if table is None or columns is None:
        return
    for params in getattr(context, "compiled_parameters", ()):
        for name, value in params.items():
            if name not in columns:
                continue  # a WHERE parameter, not a stored value
            column = columns[name]
            problem = value_problem(value, column.type)
            if problem:
                raise StoredValueError(table.name, column.name, problem)


def install_limits(engine: Engine) -> None:
    """Check every INSERT and UPDATE run through ``engine``."""
    event.listen(engine, "before_cursor_execute", _check)
