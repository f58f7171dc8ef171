"""Leader election: run a job on one instance only.

On PostgreSQL the instance that takes ``pg_try_advisory_lock`` runs the job and holds the lock
(on a dedicated connection) until it is done; the others skip. The lock is session-level, so
a crashed leader releases it when its connection drops. On SQLite the service is a single
process, and a process-local lock keeps two threads from running the same job at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

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
            yield True
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
