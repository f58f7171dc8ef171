"""The ``psychograph`` command: database, questionnaires, segments, follow-ups and the service.

Each command group lives in a module of its own. What takes seconds to import
(scikit-learn, the service with python-telegram-bot, the sandbox) is imported inside the
commands that use it, so the others start quickly.
"""

from __future__ import annotations

import click

from backend.cli.common import Context, fail
from backend.cli.content import content
from backend.cli.db import db
from backend.cli.demo import demo
from backend.cli.followups import followups
from backend.cli.questionnaire import questionnaire
from backend.cli.responses import responses
from backend.cli.sandbox import sandbox
from backend.cli.segments import segments
from backend.cli.service import serve
from backend.settings import SettingsError, load_settings

__all__ = ["cli", "main"]


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


for command in (db, questionnaire, content, responses, segments, followups, serve, sandbox, demo):
    cli.add_command(command)


def main() -> None:
    """Entry point of the ``psychograph`` console script."""
    cli()
