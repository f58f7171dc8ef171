"""Engine and session factory for SQLite (embedded, WAL) and PostgreSQL."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session, create_engine

from backend.storage.limits import install_limits

SQLITE_BUSY_TIMEOUT_MS = 10_000
#: Connections a PostgreSQL engine keeps open unless told (``Settings.db_pool_size``), and
#: how many more it may open at a burst.
DEFAULT_POOL_SIZE = 4
POOL_OVERFLOW = 10

T = TypeVar("T")


def _configure_sqlite(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # WAL lets readers (reports, re-clustering) run beside the writer answering quizzes;
    # foreign keys are off by default in SQLite and erasure relies on ON DELETE CASCADE.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # Take the write lock at BEGIN, so two writers queue on busy_timeout instead of one
    # failing with "database is locked" when it upgrades a read transaction. A connection
    # in AUTOCOMMIT mode runs each statement as a transaction of its own.
    if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, echo: bool = False, pool_size: int | None = None) -> Engine:
    """Create an engine for ``url`` with the pragmas and pool settings Psychograph relies on.

    PostgreSQL connections are not pinged before each use (``pool_pre_ping`` costs a round
    trip per transaction, a fifth of an answer's): a connection the server dropped fails
    its next statement, which invalidates every connection of the pool, and callers that
    can repeat their work do so through :func:`retry_stale`.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        # pysqlite's own transaction handling is replaced by explicit BEGIN (see SQLAlchemy's
        # "Serializable isolation / Savepoints / Transactional DDL" notes for pysqlite).
        event.listen(engine, "connect", _configure_sqlite)

        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            dbapi_connection.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin_immediate)
    else:
        engine = create_engine(
            url,
            echo=echo,
            pool_size=pool_size or DEFAULT_POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
        )
    # Every stored string is checked against its column, the same way on both databases.
    install_limits(engine)
    return engine


def retry_stale(fn: Callable[[], T]) -> T:
    """Run ``fn``; once more if it failed on a connection the database had dropped.

    ``fn`` must be one unit of work that is safe to repeat: a transaction that failed on a
    dead connection did not commit, unless the connection died at the commit itself, and
    every quiz call recognises an update it already stored (``Duplicate``).
    """
    try:
        return fn()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    return fn()


def make_reader(engine: Engine) -> Engine:
    """Return an engine for long reads (reports, exports) that never holds up a writer.

    On SQLite every ``session_scope`` takes the single writer's lock (``BEGIN IMMEDIATE``),
    so a report or an export reading a million answers would stall the bot's answers; a
    second, query-only engine on the same file reads from a WAL snapshot instead. PostgreSQL
    and in-memory SQLite use ``engine`` itself.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return engine
    reader = create_engine(engine.url, connect_args={"check_same_thread": False})

    @event.listens_for(reader, "connect")
    def _read_only(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    return reader


#: One writer at a time per SQLite engine, queued in Python: SQLite's own busy handler
#: sleeps in steps of up to 100 ms, which turns every lock conflict into a latency spike.
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


def _writer_lock(engine: Engine) -> threading.Lock | None:
    if engine.dialect.name != "sqlite":
        return None
    with _REGISTRY_LOCK:
        lock = _SQLITE_WRITERS.get(engine)
        if lock is None:
            lock = _SQLITE_WRITERS[engine] = threading.Lock()
        return lock


def writer_lock(engine: Engine) -> threading.Lock | None:
    """The lock every writer to a SQLite engine holds (None on PostgreSQL): for writes made
    on a connection rather than through :func:`session_scope`."""
    return _writer_lock(engine)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """Yield a session whose work is committed on success and rolled back on error."""
    lock = _writer_lock(engine)
    with (
        lock if lock is not None else nullcontext(),
        Session(engine, expire_on_commit=False) as session,
    ):
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
