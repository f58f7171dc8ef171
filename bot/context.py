"""The typed context every handler gets: what the bot shares, instead of ``bot_data`` keys."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from backend.services.quiz import QuizService
from backend.storage.engine import retry_stale
from bot.callbacks import CallbackCodec
from bot.render import Renderer

T = TypeVar("T")


class BotData:
    """``application.bot_data``: the service and the parts every handler shares.

    python-telegram-bot creates it without arguments (``ContextTypes`` requires that), and
    :func:`bot.application.build_application` attaches the parts before the bot starts.
    """

    service: QuizService
    codec: CallbackCodec
    renderer: Renderer
    #: Where the service's blocking database calls run (see ``database_executor``).
    executor: Executor

    def attach(self, *, service: QuizService, codec: CallbackCodec, executor: Executor) -> None:
        """Give the handlers their service, button codec and database threads."""
        self.service = service
        self.codec = codec
        self.renderer = Renderer(codec)
        self.executor = executor

    async def call(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Run a blocking service call on the database threads, keeping the log context.

        A call that met a connection the database had dropped (a restart) runs once more
        on a fresh one: every service call is one transaction, safe to repeat.
        """
        context = contextvars.copy_context()
        work = functools.partial(fn, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(
            self.executor, functools.partial(context.run, retry_stale, work)
        )


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """The ``context`` of every handler, with the shared parts as typed properties."""

    @property
    def service(self) -> QuizService:
        return self.bot_data.service

    @property
    def codec(self) -> CallbackCodec:
        return self.bot_data.codec

    @property
    def renderer(self) -> Renderer:
        return self.bot_data.renderer

    async def call(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Run a blocking service call off the event loop (see :meth:`BotData.call`)."""
        return await self.bot_data.call(fn, **kwargs)


CONTEXT_TYPES = ContextTypes(context=BotContext, bot_data=BotData)
#: The Application as built here: its handlers get a :class:`BotContext`.
BotApplication = Application[
    ExtBot[None], BotContext, dict[Any, Any], dict[Any, Any], BotData, None
]
