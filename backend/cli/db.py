"""``psychograph db``: the database schema."""

from __future__ import annotations

import click

from backend.cli.common import Context, console, pass_context
from backend.storage.migrate import current_revision, head_revision, upgrade


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_context
def db_upgrade(obj: Context, revision: str) -> None:
    """Apply migrations up to REVISION."""
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
    console.print(f"database: {current_revision(obj.engine) or 'empty'}")
    console.print(f"code:     {head_revision()}")
