"""Build the python-telegram-bot Application: the same code path for Telegram and sandbox."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor

from telegram import BotCommand, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    filters,
)

from backend.followups import CALLBACK_PREFIX
from backend.followups.budget import SendBudget
from backend.services.quiz import QuizService
from backend.settings import Settings
from bot import handlers, timezones
from bot.callbacks import CallbackCodec
from bot.context import CONTEXT_TYPES, BotApplication
from bot.processor import ChatOrderedProcessor
from bot.ratelimit import BudgetRateLimiter
from bot.transport import AiohttpRequest

log = logging.getLogger(__name__)

COMMANDS = [
    BotCommand("start", "Choose a quiz"),
    BotCommand("resume", "Continue where you left off"),
    BotCommand("restart", "Start the current quiz over"),
    BotCommand("cancel", "Stop the current quiz"),
    BotCommand("privacy", "What is stored about you"),
    BotCommand("delete_me", "Erase all your data"),
    BotCommand("stop", "No more follow-up messages"),
    BotCommand("timezone", "Your time zone, for quiet hours"),
    BotCommand("help", "What I can do"),
]
UPDATE_TYPES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY, Update.CHANNEL_POST]


def callback_secret(settings: Settings) -> bytes:
    """The key that signs button data: stable across restarts and shared by all workers."""
    if settings.callback_secret is not None:
        return settings.callback_secret.get_secret_value().encode()
    return hashlib.sha256(b"psychograph-callbacks:" + settings.bot_api_token.encode()).digest()


def build_application(
    settings: Settings,
    service: QuizService,
    *,
    rate_limit: bool = True,
    budget: SendBudget | None = None,
    max_concurrent_updates: int = 256,
) -> BotApplication:
    """Build the bot: handlers, per-chat ordered concurrent processing, rate limiting.

    The bot reaches Telegram, or the local sandbox, at ``settings.bot_api_url``. Its
    messages are paced by ``budget`` (shared with the follow-up dispatcher in ``serve``, a
    budget of its own otherwise); ``rate_limit=False`` only for benchmarks of the bot alone.
    """
    builder = (
        Application.builder()
        .token(settings.bot_api_token)
        .base_url(settings.bot_api_url)
        # Every message the handlers write is HTML; user-given text in it is escaped.
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .context_types(CONTEXT_TYPES)
        .concurrent_updates(ChatOrderedProcessor(max_concurrent_updates))
        # Every update in flight may hold a connection; wait for one rather than fail.
        .request(AiohttpRequest(connection_pool_size=max_concurrent_updates, pool_timeout=30.0))
        .get_updates_request(AiohttpRequest(connection_pool_size=2))
        .post_init(_post_init)
        # run_polling/run_webhook call this; the service calls it after its own shutdown.
        .post_shutdown(close_database_executor)
        # Jobs run on the service's own scheduler; PTB would start a second one.
        .job_queue(None)
    )
    if rate_limit:
        # Keeps within Telegram's limits, the waiting respondent before any follow-up.
        builder = builder.rate_limiter(BudgetRateLimiter(budget or SendBudget()))  # type: ignore[arg-type]
    application = builder.build()
    application.bot_data.attach(
        service=service,
        codec=CallbackCodec(callback_secret(settings)),
        executor=database_executor(service),
    )
    private = filters.ChatType.PRIVATE
    commands = {
        "start": handlers.start,
        "resume": handlers.resume,
        "restart": handlers.restart,
        "cancel": handlers.cancel,
        "help": handlers.help_command,
        "privacy": handlers.privacy,
        "delete_me": handlers.delete_me,
        "stop": handlers.stop,
        "timezone": handlers.timezone,
    }
    for name, handler in commands.items():
        application.add_handler(CommandHandler(name, handler, filters=private))
    # Quizzes are private conversations: a command in a group gets a pointer to the bot.
    application.add_handler(
        MessageHandler(
            filters.COMMAND & filters.ChatType.GROUPS & filters.UpdateType.MESSAGE,
            handlers.group_message,
        )
    )
    # Follow-up buttons carry unsigned tracking tokens: route them before the quiz's buttons.
    application.add_handler(
        CallbackQueryHandler(handlers.followup_click, pattern=f"^{CALLBACK_PREFIX}")
    )
    application.add_handler(
        CallbackQueryHandler(handlers.timezone_choice, pattern=f"^{timezones.PREFIX}")
    )
    application.add_handler(CallbackQueryHandler(handlers.button))
    application.add_handler(
        MessageHandler(filters.UpdateType.EDITED_MESSAGE & private, handlers.edited_message)
    )
    application.add_handler(MessageHandler(filters.COMMAND & private, handlers.unknown_command))
    application.add_handler(
        MessageHandler(
            filters.TEXT & ~filters.COMMAND & private & filters.UpdateType.MESSAGE,
            handlers.text_answer,
        )
    )
    application.add_handler(
        MessageHandler(
            private & filters.UpdateType.MESSAGE & ~filters.TEXT & ~filters.StatusUpdate.ALL,
            handlers.other_message,
        )
    )
    # Group chats, channel posts and service messages are ignored by design: quizzes are
    # private conversations. Commands addressed in groups get a pointer (handlers above).
    application.add_error_handler(handlers.on_error)
    return application


def database_executor(service: QuizService) -> ThreadPoolExecutor:
    """Threads for the handlers' database calls, as many as the database runs at once.

    SQLite takes one writer at a time, and every quiz call writes: one thread runs the
    calls in arrival order, where several would take turns at the write lock and the GIL
    and hand the waiting to whoever loses (the answer's p99 in ``bench/bot.py``).
    PostgreSQL gets a thread per pooled connection. The pool is the bot's own, so reports
    and exports in the default executor never hold up an answer.
    """
    engine = service.engine
    workers = 1 if engine.dialect.name == "sqlite" else max(1, getattr(engine.pool, "size", int)())
    return ThreadPoolExecutor(workers, thread_name_prefix="psychograph-db")


async def close_database_executor(application: BotApplication) -> None:
    """Stop the bot's database threads once the Application has shut down."""
    # A call already running finishes its transaction; nothing new starts.
    executor = application.bot_data.executor
    await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)


async def register_commands(application: BotApplication) -> None:
    """Show the commands in Telegram's menu; a failure is logged, the bot runs on."""
    try:
        await application.bot.set_my_commands(COMMANDS)
    except Exception as exc:  # a missing command menu must not stop the bot
        log.warning("could not set the bot's command menu: %s", exc)


async def warm_up(application: BotApplication) -> None:
    """Ready the quiz service's database work before the first update arrives (see
    :meth:`~backend.services.quiz.QuizService.warm_up`)."""
    data = application.bot_data
    await data.call(data.service.warm_up)


async def _post_init(application: BotApplication) -> None:
    # run_polling/run_webhook call this; `serve` starts the bot itself and does both then.
    await warm_up(application)
    await register_commands(application)
