"""``psychograph questionnaire``: validate, import and inspect questionnaire definitions."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from backend.cli.common import (
    Context,
    console,
    fail,
    load_each,
    nothing_stored_on,
    pass_context,
    plain,
    print_imported,
)
from backend.questionnaire import (
    QuestionnaireDefinition,
    load_definition_file,
    read_definition_file,
)
from backend.scoring import WEAK_ALPHA
from backend.services.questionnaires import (
    QuestionnaireNotFound,
    import_definition,
    list_questionnaires,
)
from backend.services.responses import version_reliability
from backend.storage.limits import StoredValueError


@click.group()
def questionnaire() -> None:
    """Validate, import and inspect questionnaire definitions."""


def _load_all(files: tuple[Path, ...]) -> list[tuple[Path, QuestionnaireDefinition]]:
    return load_each(files, lambda path: (path, load_definition_file(path)), "file")


@questionnaire.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def questionnaire_validate(files: tuple[Path, ...]) -> None:
    """Check definition FILES; exit 1 and print every problem when one is invalid."""
    for path, definition in _load_all(files):
        questions = len(definition.questions())
        console.print(
            f"[green]ok[/] {plain(str(path))}: {definition.id!r}, {questions} questions, "
            f"{len(definition.dimensions)} dimensions",
            highlight=False,
        )


@questionnaire.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_context
def questionnaire_import(obj: Context, files: tuple[Path, ...]) -> None:
    """Import definition FILES; a changed file becomes a new version. All or nothing."""
    loaded = _load_all(files)
    with nothing_stored_on(StoredValueError), obj.session() as session:
        for path, definition in loaded:
            result = import_definition(
                definition,
                session=session,
                source_name=path.name,
                source_text=read_definition_file(path),
            )
            print_imported(definition.id, result.outcome, result.version.version)


@questionnaire.command("list")
@click.option("--active", is_flag=True, help="Only active questionnaires.")
@pass_context
def questionnaire_list(obj: Context, active: bool) -> None:
    """List questionnaires with their versions and responses."""
    with obj.session() as session:
        rows = list_questionnaires(session=session, include_archived=not active)
    if not rows:
        console.print("No questionnaires yet: `psychograph questionnaire import FILE`.")
        return
    table = Table("id", "title", "status", "version", "versions", "started", "completed")
    for row in rows:
        table.add_row(
            plain(row.key),
            plain(row.title),
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
    with obj.session() as session:
        try:
            stored, n, results = version_reliability(key, session=session, version=version)
        except (QuestionnaireNotFound, LookupError) as exc:
            fail(str(exc.args[0]))
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
