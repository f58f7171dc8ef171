"""What every handler shares: the redelivery guard, replies, and showing a step."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from telegram import Bot, CallbackQuery, InlineKeyboardMarkup, Update
from telegram.error import BadRequest

from backend.logs import CONTEXT
from backend.metrics import ANSWER_SECONDS, COMPLETIONS, UPDATES
from backend.quiz import Step, StepKind
from backend.services.quiz import ChatUser, Duplicate
from bot import timezones
from bot.context import BotContext

log = logging.getLogger(__name__)

#: Handlers whose duration is an answer's latency (update in, next question out).
ANSWERING = {"button", "text_answer"}
Handler = Callable[[Update, BotContext], Coroutine[Any, Any, None]]
T = TypeVar("T")


def chat_user(update: Update) -> ChatUser:
    """Who the update comes from."""
    user, chat = update.effective_user, update.effective_chat
    assert user is not None
    assert chat is not None
    return ChatUser(user.id, chat.id, user.first_name, user.language_code)


async def reply(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Answer the update's message (HTML, the Application's default)."""
    if update.effective_message is not None:
        await update.effective_message.reply_text(text, reply_markup=markup)


async def toast(query: CallbackQuery, text: str | None = None) -> None:
    """Answer a button press; a press too old to answer (after downtime) is not an error."""
    try:
        await query.answer(text[:200] if text else None)
    except BadRequest as exc:
        log.info("could not answer callback query %s: %s", query.id, exc)


async def show(bot: Bot, chat_id: int, context: BotContext, step: Step) -> None:
    """Send the message(s) of a step to a chat; record that a question or intro arrived."""
    match step.kind:
        case StepKind.INTRO:
            rendered = context.renderer.intro(step)
            await bot.send_message(chat_id, rendered.text, reply_markup=rendered.keyboard)
        case StepKind.QUESTION:
            rendered = context.renderer.question(step)
            await bot.send_message(chat_id, rendered.text, reply_markup=rendered.keyboard)
        case StepKind.RESULT:
            COMPLETIONS.labels(questionnaire=step.definition.id).inc()
            for part in context.renderer.result(step):
                await bot.send_message(chat_id, part)
            if step.ask_timezone:
                await bot.send_message(
                    chat_id, timezones.QUESTION, reply_markup=timezones.keyboard(datetime.now(UTC))
                )
    if step.marker is not None:
        # Sent: a crash from here on leaves nothing hanging (see resend_undelivered).
        await context.call(
            context.service.mark_shown, session_id=step.session_id, marker=step.marker
        )


async def resend_undelivered(update: Update, context: BotContext) -> None:
    """Send the respondent's current question again if it never reached them."""
    if update.effective_user is None or update.effective_chat is None:
        return
    if update.effective_chat.type != "private":
        return
    user = chat_user(update)
    step = await context.call(context.service.undelivered_step, user=user)
    if step is not None:
        log.info("re-sending the undelivered step of session %s", step.session_id)
        await show(context.bot, user.chat_id, context, step)


async def record_again_safe(
    context: BotContext, fn: Callable[..., T], /, **kwargs: Any
) -> T | None:
    """Make a service call that records the update; None if the update was recorded before.

    For commands whose effect is their reply (/stop, /privacy, /timezone, /cancel): a
    redelivered update whose first delivery was stored may never have had its reply sent
    (the worker died in between), so the handler replies again rather than staying silent.
    """
    try:
        return await context.call(fn, **kwargs)
    except Duplicate:
        log.info("%s: already processed; replying again", getattr(fn, "__name__", "call"))
        return None


def once(handler: Handler) -> Handler:
    """Skip an update that was processed before (a redelivery), and count updates."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: BotContext) -> None:
        UPDATES.labels(kind=handler.__name__).inc()
        started = time.perf_counter()
        token = CONTEXT.set(f"update:{update.update_id}")
        try:
            await handler(update, context)
        except Duplicate:
            log.info("%s: already processed, ignored", handler.__name__)
            # Processed, but maybe cut off before its answer went out (a crash).
            await resend_undelivered(update, context)
        else:
            elapsed = time.perf_counter() - started
            if handler.__name__ in ANSWERING:
                ANSWER_SECONDS.observe(elapsed)
            log.info("%s handled in %.0f ms", handler.__name__, elapsed * 1000)
        finally:
            CONTEXT.reset(token)

    return wrapper
