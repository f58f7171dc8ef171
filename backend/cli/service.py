"""``psychograph serve``: the long-lived service."""

from __future__ import annotations

import asyncio

import click

from backend.cli.common import Context, fail, pass_context
from backend.logs import configure_logging


@click.command()
@pass_context
def serve(obj: Context) -> None:
    """Run the service: HTTP API, Telegram bot and scheduler (SIGTERM stops it cleanly)."""
    # The service (aiohttp, python-telegram-bot, the scheduler) takes seconds to import.
    from backend.runtime import StartupError
    from backend.runtime import serve as run

    configure_logging(obj.settings.log_format)
    try:
        asyncio.run(run(obj.settings))
    except StartupError as exc:
        fail(str(exc), code=2)
    except KeyboardInterrupt:  # a second Ctrl+C during shutdown
        pass
