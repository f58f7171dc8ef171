"""Database work of a view, off the event loop: reads on the reader, writes on the writer.

A view hands a function of one session to :func:`read` or :func:`write`; the function runs
in a worker thread, so the loop keeps serving while the database works.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy import Engine, text
from sqlmodel import Session

from backend.api.keys import ENGINE, READER
from backend.storage.engine import retry_stale, session_scope, writer_lock

T = TypeVar("T")


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking work off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


@contextmanager
def read_only(reader: Engine, *, writer: Engine | None = None) -> Iterator[Session]:
    """Yield a session that cannot write: the reader engine, in a read-only transaction.

    When the reader is the writer itself (in-memory SQLite), the writer's lock is held, as
    every transaction on that engine takes SQLite's write lock at its start.
    """
    lock = writer_lock(reader) if reader is writer else None
    with (
        lock if lock is not None else nullcontext(),
        Session(reader, expire_on_commit=False) as session,
    ):
        if reader.dialect.name == "postgresql":
            session.execute(text("SET TRANSACTION READ ONLY"))
        yield session


def reading(app: web.Application) -> AbstractContextManager[Session]:
    """Open a read-only session on the application's reader."""
    return read_only(app[READER], writer=app[ENGINE])


async def read(request: web.Request, fn: Callable[[Session], T]) -> T:
    """Return ``fn(session)`` run in a thread on a read-only session."""
    app = request.app

    def work() -> T:
        with reading(app) as session:
            return fn(session)

    # A read met on a connection the database dropped is simply read again.
    return await in_thread(retry_stale, work)


async def write(request: web.Request, fn: Callable[[Session], T]) -> T:
    """Return ``fn(session)`` run in a thread on the writer, committed when it returns."""
    engine = request.app[ENGINE]

    def work() -> T:
        with session_scope(engine) as session:
            return fn(session)

    return await in_thread(work)
