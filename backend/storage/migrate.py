"""Schema migrations: bring a database to the revision this code expects, or say how to.

Revisions live in ``backend/storage/migrations/versions`` and are named ``NNNN_slug`` (the
revision id is the file name). Alembic is configured here, in code; there is no alembic.ini.

Adding a revision after changing ``backend/storage/models.py``::

    .venv/bin/python -m backend.storage.migrate revision 0002_outbox -m "add the outbox"

This migrates a scratch SQLite database to head, autogenerates the difference to the models
into ``versions/0002_outbox.py`` (formatted with ruff), and prints its path. Read and tidy
the file: autogenerate misses renames and server defaults, and the revision must run on
SQLite (batch mode) and PostgreSQL alike. ``tests/storage`` fails while the models and the
migrations disagree.

Other commands: ``python -m backend.storage.migrate upgrade [URL] [REVISION]``,
``downgrade URL REVISION``, ``current URL``, ``heads``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, text

from backend.storage.engine import make_engine

__all__ = [
    "MIGRATIONS_DIR",
    "MigrationError",
    "SchemaOutOfDate",
    "alembic_config",
    "current_revision",
    "downgrade",
    "ensure_current",
    "head_revision",
    "migration_connection",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Key of the PostgreSQL advisory lock that serialises concurrent upgrades of one database.
_PG_MIGRATION_LOCK = 0x70737963  # "psyc"


class MigrationError(Exception):
    """A migration could not be applied."""


class SchemaOutOfDate(Exception):
    """The database schema is not at the revision this code expects."""

    def __init__(self, current: str | None, expected: str, *, where: str = "") -> None:
        self.current = current
        self.expected = expected
        self.where = where
        super().__init__(self._message())

    def _message(self) -> str:
        db = f"database {self.where}" if self.where else "database"
        if self.current is None:
            return (
                f"{db} has no schema yet (no revision), code expects {self.expected}: "
                "run `psychograph db upgrade`"
            )
        if not _is_known_revision(self.current):
            return (
                f"{db} is at revision {self.current}, which this version of Psychograph does "
                f"not know (it expects {self.expected}): the database was migrated by a newer "
                "release; upgrade Psychograph or point it at another database"
            )
        return (
            f"{db} is at revision {self.current}, code expects {self.expected}: "
            "run `psychograph db upgrade`"
        )


def alembic_config(connection: Connection | None = None, *, url: str | None = None) -> Config:
    """Build the Alembic configuration; env.py uses ``connection`` when given, else ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(rev)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def _is_known_revision(revision: str) -> bool:
    try:
        return _script().get_revision(revision) is not None
    except CommandError:
        return False


def head_revision() -> str:
    """Return the revision id the code expects the database to be at."""
    head = _script().get_current_head()
    if head is None:  # pragma: no cover - the initial revision always exists
        raise MigrationError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """Return the database's revision id, or None when it has never been migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def ensure_current(engine: Engine) -> None:
    """Raise :class:`SchemaOutOfDate` unless the database is at :func:`head_revision`."""
    current = current_revision(engine)
    expected = head_revision()
    if current != expected:
        where = engine.url.render_as_string(hide_password=True)
        raise SchemaOutOfDate(current, expected, where=where)


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """Yield a connection inside one transaction that commits every migration run in it.

    On SQLite, foreign keys are switched off for the run: batch migrations rebuild a table by
    copying it and dropping the original, and with foreign keys on, that DROP would cascade
    deletes into every referencing table. The keys are checked before the commit instead.
    On PostgreSQL an advisory lock makes concurrent upgrades (several workers starting at
    once) run one after another.
    """
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A PRAGMA foreign_keys inside a transaction is ignored, so it goes to the raw
            # connection before SQLAlchemy begins one.
            connection.connection.dbapi_connection.execute(  # type: ignore[union-attr]
                "PRAGMA foreign_keys=OFF"
            )
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                    )
                yield connection
                if sqlite:
                    _check_sqlite_foreign_keys(connection)
        finally:
            if sqlite:
                connection.connection.dbapi_connection.execute(  # type: ignore[union-attr]
                    "PRAGMA foreign_keys=ON"
                )


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if problems:
        shown = ", ".join(f"{row[0]} row {row[1]} -> {row[2]}" for row in problems[:5])
        raise MigrationError(
            f"migration left {len(problems)} rows with broken foreign keys ({shown}); "
            "nothing was changed"
        )


@contextmanager
def _engine_for(engine_or_url: Engine | str) -> Iterator[Engine]:
    if isinstance(engine_or_url, Engine):
        yield engine_or_url
        return
    engine = make_engine(engine_or_url)
    try:
        yield engine
    finally:
        engine.dispose()


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> None:
    """Migrate the database up to ``revision`` in one transaction (all or nothing)."""
    with _engine_for(engine_or_url) as engine, migration_connection(engine) as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine_or_url: Engine | str, revision: str) -> None:
    """Migrate the database down to ``revision`` (``"base"`` removes every table)."""
    with _engine_for(engine_or_url) as engine, migration_connection(engine) as connection:
        command.downgrade(alembic_config(connection), revision)


def _format_with_ruff(config: Config) -> None:
    ruff = Path(sys.executable).with_name("ruff")
    executable = str(ruff) if ruff.is_file() else shutil.which("ruff")
    if executable is None:
        return
    section = "post_write_hooks"
    config.set_section_option(section, "hooks", "ruff_format")
    config.set_section_option(section, "ruff_format.type", "exec")
    config.set_section_option(section, "ruff_format.executable", executable)
    config.set_section_option(section, "ruff_format.options", "format REVISION_SCRIPT_FILENAME")


def _new_revision(rev_id: str, message: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        try:
            upgrade(engine)
            with migration_connection(engine) as connection:
                config = alembic_config(connection)
                _format_with_ruff(config)
                scripts = command.revision(config, message, autogenerate=True, rev_id=rev_id)
        finally:
            engine.dispose()
    for script in scripts if isinstance(scripts, list) else [scripts]:
        if script is not None:
            print(script.path)


def main(argv: list[str] | None = None) -> int:
    """Run the maintenance commands described in the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m backend.storage.migrate")
    sub = parser.add_subparsers(dest="command", required=True)
    rev = sub.add_parser("revision", help="autogenerate a revision from the models")
    rev.add_argument("rev_id", help="revision id and file name, e.g. 0002_outbox")
    rev.add_argument("-m", "--message", required=True)
    up = sub.add_parser("upgrade", help="migrate a database up")
    up.add_argument("url", nargs="?", default="sqlite:///psychograph.db")
    up.add_argument("revision", nargs="?", default="head")
    down = sub.add_parser("downgrade", help="migrate a database down")
    down.add_argument("url")
    down.add_argument("revision")
    cur = sub.add_parser("current", help="print a database's revision")
    cur.add_argument("url")
    sub.add_parser("heads", help="print the revision the code expects")
    args = parser.parse_args(argv)

    if args.command == "revision":
        _new_revision(args.rev_id, args.message)
    elif args.command == "upgrade":
        upgrade(args.url, args.revision)
    elif args.command == "downgrade":
        downgrade(args.url, args.revision)
    elif args.command == "current":
        engine = make_engine(args.url)
        try:
            print(current_revision(engine) or "(none)")
        finally:
            engine.dispose()
    else:
        print(head_revision())
    return 0


if __name__ == "__main__":
    sys.exit(main())
