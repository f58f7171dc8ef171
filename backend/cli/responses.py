"""``psychograph responses``: import responses collected elsewhere."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from backend.cli.common import Context, console, err, fail, nothing_stored, pass_context
from backend.services.imports import ResponsesRejected, import_response_file
from backend.services.questionnaires import QuestionnaireNotFound

#: Files with more rows than this show a progress bar.
PROGRESS_ROWS = 1_000


@click.group()
def responses() -> None:
    """Responses collected elsewhere."""


@responses.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--questionnaire", "questionnaire_key", metavar="ID", required=True)
@pass_context
def responses_import(obj: Context, file: Path, questionnaire_key: str) -> None:
    """Import FILE (CSV: a respondent column and one column per question id) into ID.

    Works on the database directly. Checks the whole file first: a file with any problem
    stores nothing. Importing the same respondents again updates them.
    """
    engine = obj.migrated_engine()
    try:
        lines = file.read_bytes().count(b"\n")
    except OSError as exc:
        fail(f"{file}: cannot read the file: {exc.strerror or exc}")
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
        disable=lines < PROGRESS_ROWS,
    ) as bar:
        task = bar.add_task(f"{file.name}: checking", total=max(lines, 1))

        def step(stage: str, done: int, total: int) -> None:
            label = "checking" if stage == "check" else "storing"
            bar.update(task, description=f"{file.name}: {label}", completed=done, total=total)

        try:
            report = import_response_file(engine, questionnaire_key, file, progress=step)
        except QuestionnaireNotFound as exc:
            fail(str(exc.args[0]))
        except ResponsesRejected as exc:
            for problem in exc.problems:
                err.print(f"{file}: {problem}", highlight=False, markup=False)
            nothing_stored(f"{file} was not imported: fix the lines above")
    console.print(
        f"{file}: {report.rows:,} respondents: {report.created:,} new, {report.updated:,} "
        f"updated, {report.unchanged:,} unchanged; {report.segmented:,} assigned to a segment"
        " now (the others at the next re-clustering).",
        highlight=False,
        soft_wrap=True,
    )
    if report.no_chat:
        console.print(
            f"{report.no_chat:,} of them have no Telegram chat: they are segmented and "
            "reported, but cannot receive follow-ups.",
            highlight=False,
            soft_wrap=True,
        )
