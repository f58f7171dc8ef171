"""``psychograph segments``: re-cluster respondents, show, rename and export segments."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from backend.cli.common import Context, console, err, fail, pass_context
from backend.services.questionnaires import QuestionnaireNotFound, get_questionnaire


@click.group()
def segments() -> None:
    """Re-cluster respondents into segments, show, rename and export them."""


def _segmented_keys(obj: Context, questionnaire_key: str | None) -> list[str]:
    # scikit-learn takes seconds to import: only the segments commands load it.
    from backend.services import segments as segment_service

    with obj.session() as session:
        if questionnaire_key is not None:
            try:
                get_questionnaire(questionnaire_key, session=session)
            except QuestionnaireNotFound as exc:
                fail(str(exc.args[0]))
            return [questionnaire_key]
        keys = segment_service.segmented_questionnaires(session=session)
    if not keys:
        fail(
            "no active questionnaire has dimensions to segment on; "
            "import one with `dimensions:` (see docs/questionnaire-format.md)"
        )
    return keys


@segments.command("recluster")
@click.option("--questionnaire", "questionnaire_key", metavar="ID", help="Only this one.")
@click.option("--seed", type=int, help="Random seed (default: PSYCHOGRAPH_SEGMENTATION_SEED, 0).")
@pass_context
def segments_recluster(obj: Context, questionnaire_key: str | None, seed: int | None) -> None:
    """Re-cluster now (every segmented questionnaire, or --questionnaire ID)."""
    # scikit-learn takes seconds to import: only the segments commands load it.
    from backend.segmentation import SegmentationError
    from backend.services import segments as segment_service

    keys = _segmented_keys(obj, questionnaire_key)
    if seed is None:
        seed = obj.settings.segmentation_seed
    failed = 0
    for key in keys:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[stage]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task(key, total=1.0, stage="")

            def step(
                stage: str, fraction: float, task: TaskID = task, bar: Progress = bar
            ) -> None:
                bar.update(task, completed=fraction, stage=stage)

            try:
                report = segment_service.recluster(
                    engine=obj.engine, questionnaire_key=key, random_state=seed, progress=step
                )
            except SegmentationError as exc:
                failed += 1
                err.print(f"[bold red]{key}:[/] {exc}", highlight=False)
                continue
        ari = "—" if report.adjusted_rand is None else f"{report.adjusted_rand:.2f}"
        console.print(
            f"[bold]{key}[/]: {report.k} segment{'s' if report.k != 1 else ''} from "
            f"{report.n_respondents:,} respondents ({report.n_excluded:,} left out for missing "
            f"scores) in {report.duration_seconds:.1f} s; {len(report.created)} new, "
            f"{len(report.retired)} retired, {report.n_moved:,} moved, ARI {ari}.",
            highlight=False,
        )
        console.print(f"  {report.choice_reason}", highlight=False, markup=False)
    if failed:
        fail(f"{failed} of {len(keys)} questionnaires could not be segmented")


@segments.command("show")
@click.option("--questionnaire", "questionnaire_key", metavar="ID", help="Only this one.")
@click.option("--all", "include_retired", is_flag=True, help="Include retired segments.")
@pass_context
def segments_show(obj: Context, questionnaire_key: str | None, include_retired: bool) -> None:
    """A table of segments with their sizes, shares and top traits."""
    # scikit-learn takes seconds to import: only the segments commands load it.
    from backend.services import segments as segment_service

    for key in _segmented_keys(obj, questionnaire_key):
        with obj.session() as session:
            rows = segment_service.list_segments(
                session=session, questionnaire_key=key, include_retired=include_retired
            )
        if not rows:
            console.print(f"{key}: no segments yet: `psychograph segments recluster`.")
            continue
        table = Table("id", title=key)
        table.add_column("name", no_wrap=True)
        for column in ("size", "share", "uncertain", "top traits", "status"):
            table.add_column(column)
        for row in rows:
            traits = (
                ", ".join(f"{t['adjective']} ({t['z']:+.1f} sd)" for t in row.traits)
                or "close to average"
            )
            name = row.name + (" [dim](edited)[/]" if row.name_edited else "")
            table.add_row(
                str(row.id),
                name,
                f"{row.size:,}",
                f"{row.share:.0%}",
                "—" if row.uncertain_share is None else f"{row.uncertain_share:.0%}",
                traits,
                row.status.value,
            )
        console.print(table)


@segments.command("export")
@click.option("--questionnaire", "questionnaire_key", metavar="ID", help="Only this one.")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Default: stdout."
)
@click.option(
    "--raw", is_flag=True, help="Cells as stored: no ' before text starting with = + - @."
)
@pass_context
def segments_export(
    obj: Context, questionnaire_key: str | None, output: Path | None, raw: bool
) -> None:
    """CSV of respondent -> segment with dimension scores."""
    # scikit-learn takes seconds to import: only the segments commands load it.
    from backend.services import segments as segment_service

    keys = _segmented_keys(obj, questionnaire_key)
    if len(keys) > 1:
        fail(f"several questionnaires are segmented ({', '.join(keys)}): pass --questionnaire ID")
    if output is None:
        segment_service.write_export_csv(
            engine=obj.engine, questionnaire_key=keys[0], out=sys.stdout, raw=raw
        )
        return
    with output.open("w", encoding="utf-8", newline="") as handle:
        count = segment_service.write_export_csv(
            engine=obj.engine, questionnaire_key=keys[0], out=handle, raw=raw
        )
    err.print(f"{count:,} respondents written to {output}", highlight=False)


@segments.command("rename")
@click.argument("segment_id", type=int)
@click.argument("name")
@click.option("--description", help="Replace the description too.")
@pass_context
def segments_rename(obj: Context, segment_id: int, name: str, description: str | None) -> None:
    """Give segment SEGMENT_ID a NAME that later re-clusterings keep."""
    # scikit-learn takes seconds to import: only the segments commands load it.
    from backend.services import segments as segment_service

    try:
        with obj.session() as session:
            segment = segment_service.rename_segment(
                session=session, segment_id=segment_id, name=name, description=description
            )
    except (segment_service.SegmentNotFound, ValueError) as exc:
        fail(str(exc.args[0]))
    console.print(f"Segment {segment.id} is now [bold]{segment.name}[/].", highlight=False)
