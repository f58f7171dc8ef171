"""``psychograph followups``: send follow-ups, read their engagement, settle uncertain sends."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import click
from rich.table import Table

from backend.cli.common import Context, console, fail, pass_context, plural
from backend.followups import (
    DispatchConfig,
    Dispatcher,
    followup_stats,
    release_uncertain,
    status_counts,
)


@click.group()
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
    # Only this command needs python-telegram-bot and the scheduler (scikit-learn): seconds.
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
    if not ids and not everything:
        fail("name the rows to release (IDS) or pass --all")
    with obj.session() as session:
        count = release_uncertain(
            session=session, ids=list(ids) if ids else None, resend=not mark_sent
        )
    what = "marked sent" if mark_sent else "queued to be sent again"
    console.print(f"{plural(count, 'uncertain follow-up')} {what}.")
