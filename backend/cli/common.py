"""What every command shares: the consoles, the context (settings, engine), and the wording
of errors and import results."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine
from sqlmodel import Session

from backend.questionnaire import DefinitionError, printable
from backend.settings import Settings
from backend.storage.engine import make_engine, session_scope
from backend.storage.migrate import ensure_current, upgrade

BUNDLED_DIR = Path(__file__).resolve().parent.parent.parent / "questionnaires"

console = Console()
err = Console(stderr=True, soft_wrap=True)

T = TypeVar("T")


class Context:
    """What every command shares: the settings, and an engine opened on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(
                self.settings.database_url, pool_size=self.settings.db_pool_size
            )
        return self._engine

    def close(self) -> None:
        """Close the database connections the command opened."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def migrated_engine(self) -> Engine:
        """Return the engine after bringing the schema up to date (embedded SQLite only)."""
        if self.settings.uses_sqlite:
            upgrade(self.engine)
        else:
            ensure_current(self.engine)
        return self.engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.migrated_engine()) as session:
            yield session


pass_context = click.make_pass_decorator(Context)


def plain(text: str) -> str:
    """Text from a file or the database, safe for the terminal: control characters shown as
    escapes, and rich markup (``[bold]``) printed as written."""
    return escape(printable(text))


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` as an error and exit with ``code``."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(code)


def plural(count: int, word: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{count} {word}{'s' if count != 1 else ''}"


def load_each(files: tuple[Path, ...], load: Callable[[Path], T], what: str) -> list[T]:
    """Load every file, print every rejected one's problems, and exit 1 if any was rejected."""
    loaded: list[T] = []
    failed = 0
    for path in files:
        try:
            loaded.append(load(path))
        except DefinitionError as exc:
            failed += 1
            err.print(str(exc), highlight=False, markup=False)
    if failed:
        fail(f"{failed} of {plural(len(files), what)} rejected")
    return loaded


def nothing_stored(reason: str) -> NoReturn:
    """Exit 1 saying why an import was refused, and that it stored nothing."""
    fail(f"{reason}; nothing was stored")


@contextmanager
def nothing_stored_on(*errors: type[Exception]) -> Iterator[None]:
    """Turn a value the database cannot hold into an error message (the import rolls back)."""
    try:
        yield
    except errors as exc:
        nothing_stored(str(exc))


def print_imported(key: str, outcome: str, version: int) -> None:
    """Say what importing a definition or a content pack did: created, a new version, or
    nothing."""
    what = {
        "created": "imported as version 1",
        "new_version": f"changed: now version {version}",
        "unchanged": f"unchanged (version {version})",
    }[outcome]
    console.print(f"{key}: {what}", highlight=False, markup=False)
