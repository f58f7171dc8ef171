"""The ``psychograph`` command: database, questionnaires, and (as they land) the service."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from backend.questionnaire import (
    DefinitionError,
    QuestionnaireDefinition,
    load_definition_file,
)
from backend.settings import Settings, SettingsError, load_settings
from backend.storage.engine import make_engine, session_scope

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "questionnaires"

console = Console()
err = Console(stderr=True, soft_wrap=True)


class Context:
    """What every command shares: the settings, and an engine opened on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url)
        return self._engine

    def migrated_engine(self) -> Engine:
        """Return the engine after bringing the schema up to date (embedded SQLite only)."""
        from backend.storage.migrate import ensure_current, upgrade

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


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--database-url",
    envvar="PSYCHOGRAPH_DATABASE_URL",
    help="Database URL (default: sqlite:///psychograph.db in the working directory).",
)
@click.pass_context
def cli(ctx: click.Context, database_url: str | None) -> None:
    """Psychograph: psychographic segmentation through Telegram quizzes."""
    overrides = {"database_url": database_url} if database_url else {}
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        fail(str(exc), code=2)
    ctx.obj = Context(settings)


# --- db ----------------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_context
def db_upgrade(obj: Context, revision: str) -> None:
    """Apply migrations up to REVISION."""
    from backend.storage.migrate import current_revision, upgrade

    before = current_revision(obj.engine)
    upgrade(obj.engine, revision)
    after = current_revision(obj.engine)
    if before == after:
        console.print(f"Database already at [bold]{after}[/].")
    else:
        console.print(f"Database upgraded from [bold]{before or 'empty'}[/] to [bold]{after}[/].")


@db.command("current")
@pass_context
def db_current(obj: Context) -> None:
    """Show the database's schema revision and the one this code expects."""
    from backend.storage.migrate import current_revision, head_revision

    console.print(f"database: {current_revision(obj.engine) or 'empty'}")
    console.print(f"code:     {head_revision()}")


# --- questionnaires ----------------------------------------------------------------------


@cli.group()
def questionnaire() -> None:
    """Validate, import and inspect questionnaire definitions."""


def _load_all(files: tuple[Path, ...]) -> list[tuple[Path, QuestionnaireDefinition]]:
    loaded, failed = [], 0
    for path in files:
        try:
            loaded.append((path, load_definition_file(path)))
        except DefinitionError as exc:
            failed += 1
            err.print(str(exc), highlight=False, markup=False)
    if failed:
        fail(f"{failed} of {len(files)} file{'s' if len(files) != 1 else ''} rejected")
    return loaded


@questionnaire.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def questionnaire_validate(files: tuple[Path, ...]) -> None:
    """Check definition FILES; exit 1 and print every problem when one is invalid."""
    for path, definition in _load_all(files):
        questions = len(definition.questions())
        console.print(
            f"[green]ok[/] {path}: {definition.id!r}, {questions} questions, "
            f"{len(definition.dimensions)} dimensions",
            highlight=False,
        )


@questionnaire.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_context
def questionnaire_import(obj: Context, files: tuple[Path, ...]) -> None:
    """Import definition FILES; a changed file becomes a new version. All or nothing."""
    from backend.services.questionnaires import import_definition

    loaded = _load_all(files)
    with obj.session() as session:
        for path, definition in loaded:
            result = import_definition(
                definition,
                session=session,
                source_name=path.name,
                source_text=path.read_text(encoding="utf-8"),
            )
            what = {
                "created": "imported as version 1",
                "new_version": f"changed: new version {result.version.version}",
                "unchanged": f"unchanged (version {result.version.version})",
            }[result.outcome]
            console.print(f"{definition.id}: {what}", highlight=False)


@questionnaire.command("list")
@click.option("--active", is_flag=True, help="Only active questionnaires.")
@pass_context
def questionnaire_list(obj: Context, active: bool) -> None:
    """List questionnaires with their versions and responses."""
    from backend.services.questionnaires import list_questionnaires

    with obj.session() as session:
        rows = list_questionnaires(session=session, include_archived=not active)
    if not rows:
        console.print("No questionnaires yet: `psychograph questionnaire import FILE`.")
        return
    table = Table("id", "title", "status", "version", "versions", "started", "completed")
    for row in rows:
        table.add_row(
            row.key,
            row.title,
            row.status.value,
            str(row.version),
            str(row.versions),
            str(row.sessions),
            str(row.completed),
        )
    console.print(table)


@questionnaire.command("reliability")
@click.argument("key")
@click.option("--version", type=int, help="Version number (default: the current one).")
@pass_context
def questionnaire_reliability(obj: Context, key: str, version: int | None) -> None:
    """Cronbach's alpha and item-total correlations per dimension of questionnaire KEY."""
    from backend.scoring import WEAK_ALPHA
    from backend.services.questionnaires import QuestionnaireNotFound
    from backend.services.responses import version_reliability

    with obj.session() as session:
        try:
            stored, n, results = version_reliability(key, session=session, version=version)
        except (QuestionnaireNotFound, LookupError) as exc:
            fail(str(exc.args[0]))
            return
    console.print(f"{key} version {stored.version}: {n} completed sessions")
    table = Table("dimension", "items", "complete", "alpha", "weakest item (r)", "")
    for result in results:
        alpha = "—" if result.alpha is None else f"{result.alpha:.2f}"
        scored = [i for i in result.items if i.corrected_item_total is not None]
        weakest = min(scored, key=lambda i: i.corrected_item_total or 0, default=None)
        weak_item = (
            f"{weakest.question} ({weakest.corrected_item_total:.2f})"
            if weakest and weakest.corrected_item_total is not None
            else "—"
        )
        flag = f"[red]alpha < {WEAK_ALPHA}[/]" if result.weak else "[green]ok[/]"
        table.add_row(
            result.dimension, str(len(result.items)), str(result.n), alpha, weak_item, flag
        )
    console.print(table)


# --- sandbox -----------------------------------------------------------------------------


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8081, show_default=True, type=int)
@click.option("--no-rate-limit", is_flag=True, help="Lift Telegram's flood limits.")
def sandbox(host: str, port: int, no_rate_limit: bool) -> None:
    """Run the local Telegram Bot API sandbox alone (Ctrl+C stops it)."""
    import asyncio

    from bot.sandbox import SandboxConfig, run_sandbox

    config = SandboxConfig(rate_limit_enabled=not no_rate_limit)
    console.print(
        f"Bot API sandbox on http://{host}:{port}/bot<token>/<method>, "
        f"respondent API on http://{host}:{port}/sandbox/ (token {config.token})",
        highlight=False,
    )
    try:
        asyncio.run(run_sandbox(config, host, port))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror}")


# --- demo --------------------------------------------------------------------------------


@cli.command()
@pass_context
def demo(obj: Context) -> None:
    """Import the bundled questionnaires into the database and show what they measure."""
    from backend.services.questionnaires import import_definition

    files = sorted(BUNDLED_DIR.glob("*.yaml")) + sorted(BUNDLED_DIR.glob("*.json"))
    if not files:
        fail(f"no bundled questionnaires found in {BUNDLED_DIR}")
    loaded = _load_all(tuple(files))
    try:
        session_cm = obj.session()
        with session_cm as session:
            for path, definition in loaded:
                result = import_definition(
                    definition,
                    session=session,
                    source_name=path.name,
                    source_text=path.read_text(encoding="utf-8"),
                )
                _describe(definition, result.version.version, result.outcome)
    except OperationalError as exc:
        fail(f"cannot use the database {obj.settings.database_url}: {exc.orig}")
    console.print(
        f"\n{len(loaded)} questionnaires ready in {obj.settings.database_url}. "
        "Next: `psychograph questionnaire list`."
    )


def _describe(definition: QuestionnaireDefinition, version: int, outcome: str) -> None:
    title = definition.text(definition.title)
    counts: dict[str, int] = {}
    for q in definition.questions().values():
        counts[q.type] = counts.get(q.type, 0) + 1
    kinds = ", ".join(f"{n} {t.replace('_', ' ')}" for t, n in counts.items())
    state = {"created": "new", "new_version": "updated", "unchanged": "up to date"}[outcome]
    table = Table(
        "dimension",
        "items",
        "reverse-keyed",
        "bands",
        title=f"{title} ({definition.id}, version {version}, {state})",
        title_justify="left",
        caption=f"{sum(counts.values())} questions: {kinds}",
        caption_justify="left",
    )
    for dim in definition.dimensions:
        table.add_row(
            definition.text(dim.label),
            str(len(dim.items)),
            str(sum(i.reverse for i in dim.items)),
            " / ".join(b.label for b in dim.bands) or "—",
        )
    console.print(table)


def main() -> None:
    """Entry point of the ``psychograph`` console script."""
    cli()


if __name__ == "__main__":
    main()
