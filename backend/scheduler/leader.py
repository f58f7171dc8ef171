"""Leader election: run a job on one instance only.

On PostgreSQL the instance that takes ``pg_try_advisory_lock`` runs the job and holds the lock
(on a dedicated connection) until it is done; the others skip. The lock is session-level, so
a crashed leader releases it when its connection drops. On SQLite a process-local lock keeps
two threads from running the same job at once, and a lock file beside the database two
processes (the service's re-clustering worker and a ``psychograph segments`` command).

A lock alone lets a short periodic job run once per worker per interval (each worker's timer
fires in turn, after the previous holder let go). :func:`claim_tick` also records, in the
``jobtick`` table, the tick (wall-clock interval) that an instance ran, so a job runs once
per tick across all workers.
"""

from __future__ import annotations

import fcntl
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

from backend.storage.engine import session_scope

#: First key of the advisory locks of re-clustering jobs ("pseg"); the second is the
#: questionnaire id, so different questionnaires can be re-clustered by different instances.
RECLUSTER_LOCK = 0x70736567

_LOCAL: dict[tuple[str, int, int], threading.Lock] = {}
_LOCAL_GUARD = threading.Lock()


def _local_lock(engine: Engine, key: int, subkey: int) -> threading.Lock:
    name = engine.url.render_as_string(hide_password=False)
    with _LOCAL_GUARD:
        return _LOCAL.setdefault((name, key, subkey), threading.Lock())


@contextmanager
def leader_lock(engine: Engine, subkey: int, *, key: int = RECLUSTER_LOCK) -> Iterator[bool]:
    """Try to become the leader for ``(key, subkey)``; yield whether this instance is.

    Never waits: a job that is already running elsewhere is skipped, not queued.
    """
    local = _local_lock(engine, key, subkey)
    if not local.acquire(blocking=False):
        yield False
        return
    try:
        if engine.dialect.name != "postgresql":
            with _file_lock(engine, key, subkey) as taken:
                yield taken
            return
        with engine.connect() as connection:
            taken = bool(
                connection.execute(
                    text("SELECT pg_try_advisory_lock(:key, :subkey)"),
                    {"key": key, "subkey": subkey},
                ).scalar()
            )
            connection.commit()
            try:
                yield taken
            finally:
                if taken:
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:key, :subkey)"),
                        {"key": key, "subkey": subkey},
                    )
                    connection.commit()
    finally:
        local.release()


@contextmanager
def _file_lock(engine: Engine, key: int, subkey: int) -> Iterator[bool]:
    """SQLite: a lock file beside the database, so that a re-clustering started by the CLI,
    or run by a pool's worker process, skips while another process holds it. Released by
    the operating system when its holder dies, like an advisory lock."""
    database = engine.url.database
    if not database or database == ":memory:":
        yield True  # one process only: the local lock is enough
        return
    with open(f"{database}.lock-{key:x}-{subkey}", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_CLAIM = text(
    "INSERT INTO jobtick (job, tick) VALUES (:job, :tick) "
    "ON CONFLICT (job) DO UPDATE SET tick = excluded.tick WHERE jobtick.tick < excluded.tick "
    "RETURNING tick"
)


def tick_of(interval_seconds: float, now: float | None = None) -> int:
    """Return the number of the wall-clock interval ``now`` falls in."""
    return math.floor((time.time() if now is None else now) / interval_seconds)


def claim_tick(
    engine: Engine, job: str, interval_seconds: float, *, now: float | None = None
) -> bool:
    """Claim the current tick of ``job`` for this instance; False if another one has it.

    One statement (an upsert that only moves the tick forward), so two workers firing in
    the same interval cannot both win, on PostgreSQL or SQLite.
    """
    tick = tick_of(interval_seconds, now)
    with session_scope(engine) as session:
        return session.execute(_CLAIM, {"job": job, "tick": tick}).first() is not None
