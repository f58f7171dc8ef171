"""The ``psychograph`` command: database, questionnaires, and (as they land) the service."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine
from sqlmodel import Session

from backend.questionnaire import (
    DefinitionError,
    QuestionnaireDefinition,
    load_definition_file,
    printable,
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

    def close(self) -> None:
        """Close the database connections the command opened."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

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


def plain(text: str) -> str:
    """Text from a file or the database, safe for the terminal: control characters shown as
    escapes, and rich markup (``[bold]``) printed as written."""
    return escape(printable(text))


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
    ctx.call_on_close(ctx.obj.close)


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


@contextmanager
def _nothing_stored_on(*errors: type[Exception]) -> Iterator[None]:
    """Turn a value the database cannot hold into an error message (the import rolls back)."""
    try:
        yield
    except errors as exc:
        fail(f"{exc}; nothing was imported")


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
    from backend.questionnaire import read_definition_file
    from backend.services.questionnaires import import_definition
    from backend.storage.limits import StoredValueError

    loaded = _load_all(files)
    with _nothing_stored_on(StoredValueError), obj.session() as session:
        for path, definition in loaded:
            result = import_definition(
                definition,
                session=session,
                source_name=path.name,
                source_text=read_definition_file(path),
            )
            what = {
                "created": "imported as version 1",
                "new_version": f"changed: new version {result.version.version}",
                "unchanged": f"unchanged (version {result.version.version})",
            }[result.outcome]
            console.print(f"{definition.id}: {what}", highlight=False, markup=False)


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


# --- serve -------------------------------------------------------------------------------


@cli.command()
@pass_context
def serve(obj: Context) -> None:
    """Run the service: HTTP API, Telegram bot and scheduler (SIGTERM stops it cleanly)."""
    import asyncio

    from backend.logs import configure_logging
    from backend.runtime import StartupError
    from backend.runtime import serve as run

    configure_logging(obj.settings.log_format)
    try:
        asyncio.run(run(obj.settings))
    except StartupError as exc:
        fail(str(exc), code=2)
    except KeyboardInterrupt:  # a second Ctrl+C during shutdown
        pass


# --- sandbox -----------------------------------------------------------------------------


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8081, show_default=True, type=int)
@click.option("--no-rate-limit", is_flag=True, help="Lift Telegram's flood limits.")
@click.option(
    "--lenient",
    is_flag=True,
    help="Forgive short bursts (3 per chat) instead of Telegram's limits to the letter.",
)
def sandbox(host: str, port: int, no_rate_limit: bool, lenient: bool) -> None:
    """Run the local Telegram Bot API sandbox alone (Ctrl+C stops it)."""
    import asyncio

    from bot.sandbox import SandboxConfig, run_sandbox

    config = SandboxConfig(rate_limit_enabled=not no_rate_limit, strict=not lenient)
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

DEMO_DATABASE = "psychograph-demo.db"


@cli.command()
@click.option("--respondents", default=300, show_default=True, type=click.IntRange(1, 100_000))
@click.option(
    "--questionnaire",
    default="values-attitudes",
    show_default=True,
    help="The bundled questionnaire the simulated respondents take.",
)
@click.option("--keep-running", is_flag=True, help="Leave everything up to explore.")
@click.option(
    "--demo-database",
    default=f"sqlite:///{DEMO_DATABASE}",
    show_default=True,
    help="Where the demo keeps its data (a SQLite file is started afresh).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port of the API and dashboard [default: PSYCHOGRAPH_HTTP_PORT, else 8080; a busy "
    "default moves to a free port].",
)
@click.option(
    "--sandbox-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port of the Telegram sandbox and its chat view [default: the next port].",
)
@pass_context
def demo(
    obj: Context,
    respondents: int,
    questionnaire: str,
    keep_running: bool,
    demo_database: str,
    port: int | None,
    sandbox_port: int | None,
) -> None:
    """Run everything on this machine: sandbox, bot, API; simulated respondents answer
    through the real bot, get segmented and receive follow-ups; then print a report."""
    import asyncio
    import logging

    from backend.demo import run_demo
    from backend.logs import configure_logging
    from backend.runtime import StartupError

    configure_logging(obj.settings.log_format, level=logging.WARNING)
    if demo_database.startswith("sqlite:///"):
        path = Path(demo_database.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    settings = obj.settings.model_copy(update={"database_url": demo_database})
    try:
        asyncio.run(
            run_demo(
                settings,
                respondents=respondents,
                questionnaire=questionnaire,
                keep_running=keep_running,
                console=console,
                http_port=port,
                sandbox_port=sandbox_port,
            )
        )
    except (StartupError, ValueError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        console.print("Stopped.")


# --- segments ----------------------------------------------------------------------------


@cli.group()
def segments() -> None:
    """Re-cluster respondents into segments, show, rename and export them."""


def _segmented_keys(obj: Context, questionnaire_key: str | None) -> list[str]:
    from backend.services.questionnaires import QuestionnaireNotFound, get_questionnaire
    from backend.services.segments import segmented_questionnaires

    with obj.session() as session:
        if questionnaire_key is not None:
            try:
                get_questionnaire(questionnaire_key, session=session)
            except QuestionnaireNotFound as exc:
                fail(str(exc.args[0]))
            return [questionnaire_key]
        keys = segmented_questionnaires(session=session)
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
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from backend.segmentation import SegmentationError
    from backend.services.segments import recluster

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
                report = recluster(
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
    from backend.services.segments import list_segments

    for key in _segmented_keys(obj, questionnaire_key):
        with obj.session() as session:
            rows = list_segments(
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
    from backend.services.segments import write_export_csv

    keys = _segmented_keys(obj, questionnaire_key)
    if len(keys) > 1:
        fail(f"several questionnaires are segmented ({', '.join(keys)}): pass --questionnaire ID")
    if output is None:
        write_export_csv(engine=obj.engine, questionnaire_key=keys[0], out=sys.stdout, raw=raw)
        return
    with output.open("w", encoding="utf-8", newline="") as handle:
        count = write_export_csv(engine=obj.engine, questionnaire_key=keys[0], out=handle, raw=raw)
    err.print(f"{count:,} respondents written to {output}", highlight=False)


@segments.command("rename")
@click.argument("segment_id", type=int)
@click.argument("name")
@click.option("--description", help="Replace the description too.")
@pass_context
def segments_rename(obj: Context, segment_id: int, name: str, description: str | None) -> None:
    """Give segment SEGMENT_ID a NAME that later re-clusterings keep."""
    from backend.services.segments import SegmentNotFound, rename_segment

    try:
        with obj.session() as session:
            segment = rename_segment(
                session=session, segment_id=segment_id, name=name, description=description
            )
    except (SegmentNotFound, ValueError) as exc:
        fail(str(exc.args[0]))
        return
    console.print(f"Segment {segment.id} is now [bold]{segment.name}[/].", highlight=False)


# --- responses -----------------------------------------------------------------------------

#: Files with more rows than this show a progress bar.
PROGRESS_ROWS = 1_000


@cli.group()
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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from backend.services.imports import ResponsesRejected, import_response_file
    from backend.services.questionnaires import QuestionnaireNotFound

    engine = obj.migrated_engine()
    try:
        lines = file.read_bytes().count(b"\n")
    except OSError as exc:
        fail(f"{file}: cannot read the file: {exc.strerror or exc}")
        return
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
            return
        except ResponsesRejected as exc:
            for problem in exc.problems:
                err.print(f"{file}: {problem}", highlight=False, markup=False)
            fail(f"{file} was not imported: nothing was stored; fix the lines above")
            return
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


# --- content packs and follow-ups --------------------------------------------------------

CONTENT_DIR = BUNDLED_DIR / "content"


@cli.group()
def content() -> None:
    """Validate, import and list follow-up content packs."""


def _pack_dimensions(path: Path, obj: Context | None) -> list[str] | None:
    """Find the dimensions of a pack's questionnaire: imported, next to it, or bundled."""
    from backend.followups.content import MAX_CONTENT_BYTES
    from backend.questionnaire import read_definition_file
    from backend.questionnaire.loader import parse_definition_text

    try:
        text = read_definition_file(path, max_bytes=MAX_CONTENT_BYTES)
        fmt = "json" if path.suffix.lower() == ".json" else "yaml"
        data, _ = parse_definition_text(text, fmt=fmt)
    except DefinitionError:  # the loader reports the file's real problem with its line
        return None
    key = data.get("questionnaire") if isinstance(data, dict) else None
    if not isinstance(key, str):
        return None
    if obj is not None:
        from backend.services.questionnaires import questionnaire_definition

        with obj.session() as session:
            found = questionnaire_definition(key, session=session)
        if found is not None:
            return [d.id for d in found.dimensions]
    for candidate in (path.parent.parent / f"{key}.yaml", BUNDLED_DIR / f"{key}.yaml"):
        if candidate.is_file():
            try:
                return [d.id for d in load_definition_file(candidate).dimensions]
            except DefinitionError:
                return None
    return None


def _load_packs(files: tuple[Path, ...], obj: Context | None) -> list[tuple[Path, Any]]:
    from backend.followups import load_content_file

    loaded, failed = [], 0
    for path in files:
        try:
            pack = load_content_file(path, dimensions=_pack_dimensions(path, obj))
            loaded.append((path, pack))
        except DefinitionError as exc:
            failed += 1
            err.print(str(exc), highlight=False, markup=False)
    if failed:
        fail(f"{failed} of {len(files)} content file{'s' if len(files) != 1 else ''} rejected")
    return loaded


@content.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def content_validate(files: tuple[Path, ...]) -> None:
    """Check content pack FILES (rules, and every template on every test profile)."""
    for path, pack in _load_packs(files, None):
        console.print(
            f"[green]ok[/] {plain(str(path))}: {pack.key!r} for "
            f"{pack.definition.questionnaire!r}, {len(pack.definition.items)} items",
            highlight=False,
        )


@content.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_context
def content_import(obj: Context, files: tuple[Path, ...]) -> None:
    """Import content pack FILES; a changed file replaces the pack's current version."""
    from backend.followups import import_pack
    from backend.followups.content import MAX_CONTENT_BYTES
    from backend.questionnaire import read_definition_file
    from backend.storage.limits import StoredValueError

    loaded = _load_packs(files, obj)
    with _nothing_stored_on(StoredValueError), obj.session() as session:
        for path, pack in loaded:
            result = import_pack(
                session=session,
                pack=pack,
                source_name=path.name,
                source_text=read_definition_file(path, max_bytes=MAX_CONTENT_BYTES),
            )
            what = {
                "created": "imported as version 1",
                "new_version": f"changed: now version {result.record.version}",
                "unchanged": f"unchanged (version {result.record.version})",
            }[result.outcome]
            console.print(f"{pack.key}: {what}", highlight=False)


@content.command("list")
@pass_context
def content_list(obj: Context) -> None:
    """List the imported content packs."""
    from backend.followups import list_packs

    with obj.session() as session:
        packs = list_packs(session=session)
    if not packs:
        console.print("No content packs yet: `psychograph content import FILE`.")
        return
    table = Table("id", "questionnaire", "title", "version", "items", "imported")
    for pack in packs:
        table.add_row(
            plain(pack.key),
            plain(pack.questionnaire_key),
            plain(pack.title),
            str(pack.version),
            str(pack.items),
            pack.imported_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


@cli.group()
def followups() -> None:
    """Send follow-ups, read their engagement, settle uncertain sends."""


@followups.command("dispatch")
@click.option("--once", is_flag=True, help="One pass: send what is due now, then exit.")
@click.option("--rate", type=float, default=30.0, show_default=True, help="Messages/s overall.")
@click.option("--no-rate-limit", is_flag=True, help="Lift the overall limit (paid broadcasts).")
@click.option("--max-in-flight", type=int, default=16, show_default=True)
@click.option("--lease", type=float, default=60.0, show_default=True, help="Lease in seconds.")
@click.option("--read-timeout", type=float, default=10.0, show_default=True)
@click.option("--click-base-url", help="Tracked-link base for buttons (default: callbacks).")
@pass_context
def followups_dispatch(
    obj: Context,
    once: bool,
    rate: float,
    no_rate_limit: bool,
    max_in_flight: int,
    lease: float,
    read_timeout: float,
    click_base_url: str | None,
) -> None:
    """Send due follow-ups through the bot (the Bot API at PSYCHOGRAPH_TELEGRAM_BASE_URL)."""
    import asyncio
    import logging
    from datetime import timedelta

    from backend.followups import DispatchConfig, Dispatcher
    from backend.scheduler.dispatch import send_rules
    from bot.delivery import TelegramSender

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = obj.settings
    config = DispatchConfig(
        rate=None if no_rate_limit else rate,
        max_in_flight=max_in_flight,
        rules=send_rules(settings, lease=timedelta(seconds=lease), click_base_url=click_base_url),
    )
    engine = obj.migrated_engine()

    async def run() -> None:
        sender = TelegramSender.build(
            settings.bot_api_token,
            settings.bot_api_url,
            read_timeout=read_timeout,
            pool_size=max_in_flight,
        )
        async with sender.bot:
            dispatcher = Dispatcher(engine, sender, config)
            if once:
                report = await dispatcher.run_once()
                console.print(
                    f"sent {report.sent}, failed {report.failed}, uncertain {report.uncertain}, "
                    f"deferred {report.deferred}, cancelled {report.cancelled}, "
                    f"expired {report.expired}, 429s waited out {report.rate_limited}, "
                    f"left uncertain by a stopped dispatcher {report.recovered_uncertain} "
                    f"({report.seconds:.1f} s)",
                    highlight=False,
                )
            else:
                await dispatcher.run_forever(settings.dispatch_interval_seconds)

    asyncio.run(run())


@followups.command("stats")
@click.option("--pack", "pack_key", help="Only this content pack.")
@pass_context
def followups_stats(obj: Context, pack_key: str | None) -> None:
    """Sent, delivered and clicked per item, variant and segment."""
    from backend.followups import followup_stats, status_counts

    with obj.session() as session:
        rows = followup_stats(session=session, pack_key=pack_key)
        counts = status_counts(session=session)
    if not rows:
        console.print("Nothing queued yet.")
        return
    table = Table(
        "pack", "item", "variant", "segment", "queued", "sent", "delivered", "clicked",
        "click rate", "pending", "deferred (quiet/cap)", "failed", "uncertain", "cancelled",
    )  # fmt: skip
    for r in rows:
        rate = f"{r.clicked / r.delivered:.0%}" if r.delivered else "—"
        deferred = f"{r.deferred_quiet_hours}/{r.deferred_frequency_cap}" if r.deferred else "—"
        table.add_row(
            r.pack_key, r.item_id, r.variant or "—", f"{r.segment_name} ({r.segment_key})",
            str(r.queued), str(r.sent), str(r.delivered), str(r.clicked), rate,
            str(r.pending), deferred, str(r.failed), str(r.uncertain), str(r.cancelled),
        )  # fmt: skip
    console.print(table)
    uncertain = counts.get("uncertain", 0)
    if uncertain:
        console.print(
            f"[yellow]{uncertain} uncertain[/] (may have been delivered): check, then "
            "`psychograph followups release-uncertain` to send again or --mark-sent."
        )


@followups.command("release-uncertain")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "everything", is_flag=True, help="Every uncertain row.")
@click.option("--mark-sent", is_flag=True, help="Record them as sent instead of re-sending.")
@pass_context
def followups_release_uncertain(
    obj: Context, ids: tuple[int, ...], everything: bool, mark_sent: bool
) -> None:
    """Settle uncertain rows IDS (or --all): queue them again, or --mark-sent."""
    from backend.followups import release_uncertain

    if not ids and not everything:
        fail("name the rows to release (IDS) or pass --all")
    with obj.session() as session:
        count = release_uncertain(
            session=session, ids=list(ids) if ids else None, resend=not mark_sent
        )
    what = "marked sent" if mark_sent else "queued to be sent again"
    console.print(f"{count} uncertain follow-up{'s' if count != 1 else ''} {what}.")


def main() -> None:
    """Entry point of the ``psychograph`` console script."""
    cli()


if __name__ == "__main__":
    main()
