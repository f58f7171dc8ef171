"""``psychograph demo``: the whole product on this machine."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from backend.cli.common import Context, console, fail, pass_context
from backend.demo import DEFAULT_QUESTIONNAIRE
from backend.logs import configure_logging

DEMO_DATABASE = "psychograph-demo.db"


@click.command()
@click.option("--respondents", default=300, show_default=True, type=click.IntRange(1, 100_000))
@click.option(
    "--questionnaire",
    default=DEFAULT_QUESTIONNAIRE,
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
    # The demo loads the whole service and the sandbox: seconds, for this command only.
    from backend.demo.run import run_demo
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
