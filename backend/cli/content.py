"""``psychograph content``: validate, import and list follow-up content packs."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from backend.cli.common import (
    BUNDLED_DIR,
    Context,
    console,
    load_each,
    nothing_stored_on,
    pass_context,
    plain,
    print_imported,
)
from backend.followups import (
    ContentPack,
    import_pack,
    list_packs,
    load_content_file,
)
from backend.followups.content import MAX_CONTENT_BYTES
from backend.questionnaire import DefinitionError, load_definition_file, read_definition_file
from backend.questionnaire.loader import parse_definition_text
from backend.services.questionnaires import questionnaire_definition
from backend.storage.limits import StoredValueError


@click.group()
def content() -> None:
    """Validate, import and list follow-up content packs."""


def _pack_dimensions(path: Path, obj: Context | None) -> list[str] | None:
    """Find the dimensions of a pack's questionnaire: imported, next to it, or bundled."""
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


def _load_packs(files: tuple[Path, ...], obj: Context | None) -> list[tuple[Path, ContentPack]]:
    return load_each(
        files,
        lambda path: (path, load_content_file(path, dimensions=_pack_dimensions(path, obj))),
        "content file",
    )


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
    loaded = _load_packs(files, obj)
    with nothing_stored_on(StoredValueError), obj.session() as session:
        for path, pack in loaded:
            result = import_pack(
                session=session,
                pack=pack,
                source_name=path.name,
                source_text=read_definition_file(path, max_bytes=MAX_CONTENT_BYTES),
            )
            print_imported(pack.key, result.outcome, result.record.version)


@content.command("list")
@pass_context
def content_list(obj: Context) -> None:
    """List the imported content packs."""
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
