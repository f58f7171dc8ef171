"""Database fixtures: fresh databases on SQLite and on a throwaway PostgreSQL cluster.

- ``database_url``: the URL of a fresh, empty database, once per backend (``sqlite``,
  ``postgresql``); the PostgreSQL case carries the ``postgres`` mark.
- ``engine``: an engine on a fresh database migrated to head, once per backend.
- ``sqlite_engine``: the same on SQLite only, for tests that need one backend.
- ``pg_cluster``: the session's PostgreSQL cluster, started on first use (per xdist worker).

Without PostgreSQL binaries the ``postgresql`` cases skip, saying why; with ``CI`` set they
fail instead, so CI cannot pass by silently skipping them.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from backend import caches
from backend.storage.engine import make_engine
from backend.storage.migrate import upgrade
from tests.helpers.pgcluster import PostgresCluster, PostgresUnavailable

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]

_TEMPLATE_DB = "psychograph_template"
_db_numbers = itertools.count(1)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """Start a PostgreSQL cluster for this session (this worker) and remove it at the end."""
    try:
        cluster = PostgresCluster()
        cluster.start()
    except PostgresUnavailable as exc:
        if _in_ci():
            pytest.fail(f"CI is set but PostgreSQL cannot run: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL not available: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_template(pg_cluster: PostgresCluster) -> str:
    """Return the name of a database migrated to head, to clone test databases from."""
    upgrade(pg_cluster.create_database(_TEMPLATE_DB))
    return _TEMPLATE_DB


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a SQLite file migrated to head, to copy test databases from."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")  # disposes its engine: the WAL is checkpointed into the file
    return path


@pytest.fixture(params=BACKENDS)
def db_backend(request: pytest.FixtureRequest) -> str:
    """Return the backend of the current case: ``"sqlite"`` or ``"postgresql"``."""
    return str(request.param)


def _pg_database(request: pytest.FixtureRequest, *, template: str | None) -> Iterator[str]:
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    name = f"test_{next(_db_numbers)}"
    url = cluster.create_database(name, template=template)
    try:
        yield url
    finally:
        cluster.drop_database(name)


@pytest.fixture
def database_url(db_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of a fresh, empty database on the current backend."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        yield from _pg_database(request, template=None)


@pytest.fixture
def migrated_database_url(
    db_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """Yield the URL of a fresh database at head (a copy of the migrated template)."""
    if db_backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "migrated.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
    else:
        yield from _pg_database(request, template=request.getfixturevalue("pg_template"))


@pytest.fixture
def engine(migrated_database_url: str) -> Iterator[Engine]:
    """Yield an engine on a fresh database migrated to head; disposed afterwards."""
    engine = make_engine(migrated_database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """Yield an engine on a fresh SQLite database migrated to head; disposed afterwards."""
    path = tmp_path / "sqlite.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(autouse=True)
def empty_caches() -> None:
    """Start every test with empty process caches: their keys name rows (a questionnaire
    version, a run), not the database, and each test has a database of its own."""
    caches.clear_all()
