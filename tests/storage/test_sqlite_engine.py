"""The embedded SQLite database runs in WAL mode with foreign keys enforced."""

from __future__ import annotations

from sqlalchemy import Engine

from backend.storage.migrate import upgrade


def pragmas(engine: Engine) -> tuple[str, int]:
    with engine.connect() as connection:
        journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar_one()
        foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one()
    return journal, foreign_keys


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_engine: Engine) -> None:
    assert pragmas(sqlite_engine) == ("wal", 1)


def test_migrating_leaves_foreign_keys_on(sqlite_engine: Engine) -> None:
    # Migrations switch foreign keys off on their connection; the pool must not keep it so.
    upgrade(sqlite_engine)
    assert pragmas(sqlite_engine) == ("wal", 1)
