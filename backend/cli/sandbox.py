"""``psychograph sandbox``: the local Telegram Bot API sandbox on its own."""

from __future__ import annotations

import asyncio

import click

from backend.cli.common import console, fail


@click.command()
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
    # The sandbox is only for this command and the demo; it takes a second to import.
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
