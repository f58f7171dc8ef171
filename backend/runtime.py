"""The long-lived service: HTTP API, the Telegram bot and the scheduler in one event loop.

With ``backend.cli`` and ``backend.demo`` this is the composition root: the only code that
wires ``bot`` (Telegram) to the backend, which otherwise never imports it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from telegram.error import InvalidToken, NetworkError, TelegramError

from backend.api.app import WEBHOOK_PATH, create_app
from backend.api.keys import CHECKER
from backend.followups.budget import SendBudget
from backend.scheduler import Jobs, build_jobs
from backend.services.quiz import QuizService
from backend.services.segments import segment_assigner
from backend.settings import Settings
from backend.storage.engine import make_engine
from backend.storage.migrate import SchemaOutOfDate, ensure_current, upgrade
from bot.application import (
    build_application,
    close_database_executor,
    register_commands,
    warm_up,
)
from bot.context import BotApplication
from bot.delivery import TelegramSender

log = logging.getLogger(__name__)

#: Ops expect a stop within this many seconds of SIGTERM (systemd, Docker).
SHUTDOWN_SECONDS = 8.0


class StartupError(Exception):
    """The service cannot start; the message is one line saying what to fix."""


def open_database(settings: Settings) -> Engine:
    """Open the database, check it answers and its schema is current (SQLite: upgrade it)."""
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        if settings.uses_sqlite:
            upgrade(engine)  # the embedded database upgrades itself
        else:
            ensure_current(engine)
    except SchemaOutOfDate as exc:
        engine.dispose()
        raise StartupError(str(exc)) from None
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise StartupError(f"cannot reach the database {_safe(settings)}: {reason}") from None
    return engine


def _safe(settings: Settings) -> str:
    return make_url(settings.database_url).render_as_string(hide_password=True)


@dataclass
class Service:
    """Everything ``serve`` runs; ``start`` and ``stop`` bring it up and down in order."""

    settings: Settings
    engine: Engine
    bot: BotApplication
    jobs: Jobs | None
    runner: web.AppRunner | None = None

    async def _reach_bot_api(self) -> None:
        """Sign the bot in (``getMe``), or say in one line why the Bot API refused or is away."""
        settings = self.settings
        where = f"the Bot API at {settings.bot_api_url} ({settings.telegram} mode"
        hint = (
            "; start it with `psychograph sandbox` or set PSYCHOGRAPH_TELEGRAM=telegram)"
            if settings.telegram == "sandbox"
            else "; check PSYCHOGRAPH_TELEGRAM_BASE_URL and the network)"
        )
        try:
            await self.bot.initialize()
        except InvalidToken:
            raise StartupError(
                f"{where}) does not accept the bot token: check PSYCHOGRAPH_BOT_TOKEN"
            ) from None
        except NetworkError as exc:  # also TimedOut
            raise StartupError(f"cannot reach {where}{hint}: {exc.message}") from None
        except TelegramError as exc:
            raise StartupError(f"{where}) refused the bot: {exc.message}") from None

    async def start(self) -> None:

        await self._reach_bot_api()
        await warm_up(self.bot)
        await self.bot.start()
        # post_init runs only under run_polling/run_webhook, which the service does not use.
        await register_commands(self.bot)
        webhook = self.settings.webhook_url
        if webhook:
            secret = self.settings.webhook_secret
            await self.bot.bot.set_webhook(
                url=webhook.rstrip("/") + WEBHOOK_PATH
                if not webhook.endswith(WEBHOOK_PATH)
                else webhook,
                secret_token=secret.get_secret_value() if secret else None,
                allowed_updates=["message", "edited_message", "callback_query", "channel_post"],
            )
        else:
            await self.bot.bot.delete_webhook()
            assert self.bot.updater is not None
            await self.bot.updater.start_polling(
                poll_interval=0.0,
                timeout=10,
                allowed_updates=["message", "edited_message", "callback_query", "channel_post"],
            )
        if self.jobs is not None:
            self.jobs.start()
        quiz = self.bot.bot_data.service
        app = create_app(self.settings, self.engine, quiz=quiz, bot=self.bot, jobs=self.jobs)
        # Start the upload checker's forkserver now, not on the first upload.
        threading.Thread(target=app[CHECKER].start, name="upload-checker", daemon=True).start()
        self.runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.settings.http_host, self.settings.http_port)
        try:
            await site.start()
        except OSError as exc:
            raise StartupError(
                f"cannot listen on {self.settings.http_host}:{self.settings.http_port}: "
                f"{exc.strerror} (set PSYCHOGRAPH_HTTP_PORT)"
            ) from None
        log.info(
            "serving on http://%s:%s (%s)",
            self.settings.http_host,
            self.settings.http_port,
            "webhook" if webhook else "polling",
        )

    async def stop(self) -> None:
        """Stop taking updates, finish those in flight, then the scheduler, HTTP and database."""
        if self.bot.updater is not None and self.bot.updater.running:
            await self.bot.updater.stop()
        if self.bot.running:
            await self.bot.stop()  # processes what was already taken in
        if self.jobs is not None:
            await self.jobs.stop(grace=SHUTDOWN_SECONDS / 2)
        if self.runner is not None:
            await self.runner.cleanup()
        await self.bot.shutdown()
        # After a failed sign-in only the bot's connections are open.
        await self.bot.bot.shutdown()
        await close_database_executor(self.bot)
        self.engine.dispose()


def build_service(settings: Settings, engine: Engine) -> Service:
    """Build the bot, the quiz service and the scheduler on one engine and one send budget."""
    assigner = segment_assigner()
    quiz = QuizService(engine, assign_segment=assigner, erasure_key=settings.erasure_key())
    # One budget for everything the bot sends: the quiz and the follow-ups share Telegram's
    # limits, and the quiz goes first.
    budget = SendBudget()
    bot = build_application(settings, quiz, budget=budget)
    jobs = _jobs(settings, engine, budget)
    return Service(settings, engine, bot, jobs)


def _jobs(settings: Settings, engine: Engine, budget: SendBudget) -> Jobs:
    return build_jobs(settings, engine, sender=follow_up_sender(settings), budget=budget)


def follow_up_sender(settings: Settings) -> TelegramSender:
    """The sender of follow-ups: a bot of its own, with a connection pool sized for it."""
    return TelegramSender.build(settings.bot_api_token, settings.bot_api_url)


#: How long a thread may keep the GIL while another waits for it; Python's default is 5 ms.
SWITCH_INTERVAL_S = 0.001


def tune_for_serving() -> None:
    """Set the interpreter up for a long-lived service, once start-up is done.

    - Take what start-up built out of the garbage collector's full passes. Modules, ORM
      mappers, questionnaire definitions and the bot live as long as the process. A full
      collection walks every tracked object: walking these stalled the event loop and the
      database thread together for ~125 ms, the slowest answers of a ``bench/bot.py`` run.
      Frozen, they are skipped and a full pass takes a few ms.
    - Hand the GIL over sooner. The bot's database calls run on threads, and each of an
      answer's round trips to PostgreSQL ends with its thread waiting for the GIL while
      the event loop, busy with HTTP, keeps it for up to the switch interval: with eight
      round trips, up to 40 ms an answer at Python's default of 5 ms.
    """
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL_S)


async def serve(settings: Settings, *, ready: Callable[[], None] | None = None) -> None:
    """Run until SIGTERM or SIGINT, then shut down cleanly."""
    engine = await asyncio.to_thread(open_database, settings)
    service = build_service(settings, engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await service.start()
        tune_for_serving()
        if ready is not None:
            ready()
        await stop.wait()
        log.info("stopping: finishing updates in flight")
    finally:
        try:
            await asyncio.wait_for(service.stop(), timeout=SHUTDOWN_SECONDS)
        except TimeoutError:
            log.error("shutdown took over %.0f s; exiting anyway", SHUTDOWN_SECONDS)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("stopped")
