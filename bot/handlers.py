"""Thin handlers: decode the update, make one service call off the event loop, render."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import html
import logging
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, TimedOut
from telegram.ext import ContextTypes

from backend.logs import CONTEXT
from backend.metrics import ANSWER_SECONDS, COMPLETIONS, UPDATES
from backend.quiz import AnswerInvalid
from backend.services.quiz import ChatUser, Duplicate, QuizError, QuizService, StaleAction, Step
from bot import timezones
from bot.callbacks import Action, Callback, CallbackCodec, ForgedCallback
from bot.render import Renderer

log = logging.getLogger(__name__)
T = TypeVar("T")

HELP = (
    "<b>Psychograph quizzes</b>\n"
    "/start – choose a quiz (or <code>/start ID</code> to open one)\n"
    "/resume – continue where you left off\n"
    "/restart – start the current quiz over\n"
    "/cancel – stop the current quiz\n"
    "/privacy – see what is stored about you\n"
    "/delete_me – erase all your data\n"
    "/stop – no more follow-up messages (/start to receive them again)\n"
    "/timezone – your time zone, so that follow-ups never come at night\n"
    "/help – this list"
)
PRIVATE_ONLY = "Quizzes run in a private chat with me: open it and send /start."
NOT_TEXT = "I can only read text and button presses. Please answer with the buttons or by typing."


@dataclass
class BotContext:
    """What the handlers share, stored in ``application.bot_data``."""

    service: QuizService
    codec: CallbackCodec
    renderer: Renderer
    #: Where the service's blocking database calls run (see ``database_executor``).
    executor: Executor

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking service call off the event loop, keeping the log context."""
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            self.executor, functools.partial(context.run, fn, *args, **kwargs)
        )


def _ctx(context: ContextTypes.DEFAULT_TYPE) -> BotContext:
    found: BotContext = context.application.bot_data["psychograph"]
    return found


def _user(update: Update) -> ChatUser:
    user, chat = update.effective_user, update.effective_chat
    assert user is not None
    assert chat is not None
    return ChatUser(user.id, chat.id, user.first_name, user.language_code)


async def show(message_target: Any, ctx: BotContext, step: Step) -> None:
    """Send the message(s) of a step to a chat; record that a question or intro arrived."""
    bot, chat_id = message_target
    if step.kind == "intro":
        rendered = ctx.renderer.intro(step)
        await bot.send_message(
            chat_id, rendered.text, parse_mode=ParseMode.HTML, reply_markup=rendered.keyboard
        )
    elif step.kind == "question":
        rendered = ctx.renderer.question(step)
        await bot.send_message(
            chat_id, rendered.text, parse_mode=ParseMode.HTML, reply_markup=rendered.keyboard
        )
    else:
        COMPLETIONS.labels(questionnaire=step.definition.id).inc()
        for part in ctx.renderer.result(step):
            await bot.send_message(chat_id, part, parse_mode=ParseMode.HTML)
        if step.ask_timezone:
            await bot.send_message(
                chat_id, timezones.QUESTION, reply_markup=timezones.keyboard(datetime.now(UTC))
            )
    if step.marker is not None:
        # Sent: a crash from here on leaves nothing hanging (see resend_undelivered).
        await ctx.call(ctx.service.mark_shown, step.session_id, step.marker)


async def resend_undelivered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the respondent's current question again if it never reached them."""
    if update.effective_user is None or update.effective_chat is None:
        return
    if update.effective_chat.type != "private":
        return
    ctx = _ctx(context)
    user = _user(update)
    step = await ctx.call(ctx.service.undelivered_step, user)
    if step is not None:
        log.info("re-sending the undelivered step of session %s", step.session_id)
        await show((context.bot, user.chat_id), ctx, step)


#: Handlers whose duration is an answer's latency (update in, next question out).
ANSWERING = {"button", "text_answer"}
Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


def once(handler: Handler) -> Handler:
    """Skip an update that was processed before (a redelivery), and count updates."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
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


async def _reply(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(
            text, parse_mode=ParseMode.HTML, reply_markup=markup
        )


# --- commands ------------------------------------------------------------------------------


@once
async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the open questionnaires, or open one from a deep link (/start ID)."""
    ctx = _ctx(context)
    user = _user(update)
    if context.args:
        key = context.args[0].strip().lower()
        try:
            step = await ctx.call(ctx.service.start, user, key=key, update_id=update.update_id)
        except Duplicate:
            raise
        except QuizError as exc:
            await _reply(update, html.escape(str(exc)) + " Send /start to see the open ones.")
            return
        await show((context.bot, user.chat_id), ctx, step)
        return
    await ctx.call(ctx.service.set_opt_out, user, False, update_id=update.update_id)
    listings = await ctx.call(ctx.service.active_questionnaires)
    if not listings:
        await _reply(update, "There are no open quizzes right now. Please come back later.")
        return
    rows = [
        [
            InlineKeyboardButton(
                listing.title[:64],
                callback_data=ctx.codec.encode(Callback(Action.OPEN, listing.questionnaire_id)),
            )
        ]
        for listing in listings
    ]
    name = html.escape(user.first_name or "there")
    await _reply(
        update, f"Hi {name}! Which quiz would you like to take?", InlineKeyboardMarkup(rows)
    )


@once
async def resume(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Continue the latest unfinished quiz."""
    ctx = _ctx(context)
    user = _user(update)
    step = await ctx.call(ctx.service.resume, user, update_id=update.update_id)
    if step is None:
        await _reply(update, "You have no unfinished quiz. Send /start to begin one.")
        return
    await show((context.bot, user.chat_id), ctx, step)


@once
async def restart(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Start the latest quiz over."""
    ctx = _ctx(context)
    user = _user(update)
    try:
        step = await ctx.call(ctx.service.restart, user, update_id=update.update_id)
    except Duplicate:
        raise
    except QuizError as exc:
        await _reply(update, html.escape(str(exc)))
        return
    if step is None:
        await _reply(update, "There is nothing to restart yet. Send /start to begin a quiz.")
        return
    await show((context.bot, user.chat_id), ctx, step)


@once
async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Cancel the unfinished quiz."""
    ctx = _ctx(context)
    cancelled = await ctx.call(ctx.service.cancel, _user(update), update_id=update.update_id)
    if cancelled:
        await _reply(update, "Quiz cancelled. Send /start whenever you want to begin again.")
    else:
        await _reply(update, "You have no unfinished quiz.")


@once
async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the commands."""
    await _reply(update, HELP)


@once
async def privacy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show what is stored about the respondent."""
    ctx = _ctx(context)
    report = await ctx.call(ctx.service.privacy, _user(update), update_id=update.update_id)
    quizzes = ", ".join(html.escape(q) for q in report.questionnaires) or "none"
    await _reply(
        update,
        "<b>What we store about you</b>\n"
        f"Name: {html.escape(report.first_name or '—')}\n"
        f"Language: {html.escape(report.language_code or '—')}\n"
        f"Quizzes: {quizzes}\n"
        f"Sessions: {report.sessions} ({report.completed} completed), answers: {report.answers}\n"
        f"Follow-up messages: {'off' if report.opted_out else 'on'}\n\n"
        "Your answers are used to describe your profile and to send you content that fits "
        "it. /delete_me erases everything; /stop turns follow-ups off.",
    )


@once
async def delete_me(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Ask for confirmation before erasing the respondent's data."""
    codec = _ctx(context).codec
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "Yes, erase everything", callback_data=codec.encode(Callback(Action.ERASE))
                ),
                InlineKeyboardButton(
                    "No, keep it", callback_data=codec.encode(Callback(Action.KEEP))
                ),
            ]
        ]
    )
    await _reply(
        update,
        "This erases your answers, profile and everything else stored about you. "
        "It cannot be undone. Are you sure?",
        keyboard,
    )


@once
async def stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Opt out of follow-up messages."""
    ctx = _ctx(context)
    await ctx.call(ctx.service.set_opt_out, _user(update), True, update_id=update.update_id)
    await _reply(
        update, "Done: you will get no more follow-up messages. Send /start to opt back in."
    )


@once
async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Point to /help for commands the bot does not know."""
    await _reply(update, "I don't know that command. " + HELP)


@once
async def timezone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show or set the respondent's time zone (/timezone, /timezone Europe/Berlin, off)."""
    ctx = _ctx(context)
    user = _user(update)
    if context.args:
        wanted = context.args[0].strip()
        zone = None if wanted.lower() == "off" else wanted
        try:
            await ctx.call(ctx.service.set_timezone, user, zone, update_id=update.update_id)
        except QuizError as exc:
            await _reply(update, html.escape(str(exc)) + " Or send /timezone and tap your time.")
            return
        if zone is None:
            await _reply(update, "Forgotten: I no longer know your time zone.")
        else:
            city = zone.rsplit("/", 1)[-1].replace("_", " ")
            await _reply(
                update, html.escape(timezones.confirmation(city, zone, datetime.now(UTC)))
            )
        return
    await ctx.call(ctx.service.touch, user, update_id=update.update_id)
    current = await ctx.call(ctx.service.timezone, user)
    known = f"Your time zone is {html.escape(current)}. " if current else ""
    await _reply(
        update,
        f"{known}Which time does your clock show right now? "
        "(Or send <code>/timezone Europe/Berlin</code>; <code>/timezone off</code> forgets it.)",
        timezones.keyboard(datetime.now(UTC)),
    )


# --- answers -------------------------------------------------------------------------------


@once
async def text_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Take typed text as the answer to the current question."""
    ctx = _ctx(context)
    user = _user(update)
    message = update.effective_message
    assert message is not None
    try:
        step = await ctx.call(
            ctx.service.answer_text, user, message.text or "", update_id=update.update_id
        )
    except AnswerInvalid as exc:
        await _reply(update, html.escape(str(exc)))
        return
    if step is None:
        await _reply(update, "Send /start to choose a quiz, or /help to see what I can do.")
        return
    await show((context.bot, user.chat_id), ctx, step)


@once
async def other_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer stickers, photos, voice and other non-text messages helpfully."""
    await _reply(update, NOT_TEXT)
    await resend_undelivered(update, context)


@once
async def edited_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain that editing a sent answer changes nothing."""
    message = update.edited_message
    if message is not None:
        await message.reply_text(
            "Editing a message does not change your answer. Use ◀ Back on the current "
            "question to change the previous one."
        )


@once
async def group_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Point group members to a private chat (only when addressed with a command)."""
    await _reply(update, PRIVATE_ONLY)


# --- buttons -------------------------------------------------------------------------------


async def _toast(query: Any, text: str | None = None) -> None:
    """Answer a button press; a press too old to answer (after downtime) is not an error."""
    try:
        await query.answer(text[:200] if text else None)
    except BadRequest as exc:
        log.info("could not answer callback query %s: %s", query.id, exc)


@once
async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Handle every inline button: decode, call the service, edit the message, go on."""
    query = update.callback_query
    assert query is not None
    ctx = _ctx(context)
    user = _user(update)
    try:
        callback = ctx.codec.decode(query.data)
    except ForgedCallback:
        log.warning("refused callback data %r from user %s", query.data, user.user_id)
        await _toast(query, "This button is not valid.")
        return
    try:
        step = await _dispatch(ctx, user, callback, update.update_id)
    except Duplicate:
        await _toast(query)
        await resend_undelivered(update, context)
        return
    except StaleAction as exc:
        await _toast(query, str(exc))
        # A button of an answered question: if what followed never arrived, send it now.
        await resend_undelivered(update, context)
        return
    except (AnswerInvalid, QuizError) as exc:
        await _toast(query, str(exc))
        return
    message = query.message if isinstance(query.message, Message) else None
    # The three calls are independent: the next question does not wait for the toast or
    # for the edit of the pressed message (one round trip instead of three).
    calls: list[Coroutine[Any, Any, Any]] = [_toast(query)]
    if isinstance(step, str):
        if message is not None:
            calls.append(message.edit_text(step, parse_mode=ParseMode.HTML))
    elif step is not None:
        calls.append(_settle_message(ctx, message, callback, step))
        if callback.action is not Action.TOGGLE:
            calls.append(show((context.bot, user.chat_id), ctx, step))
    await asyncio.gather(*calls)


async def _settle_message(
    ctx: BotContext, message: Message | None, callback: Callback, step: Step
) -> None:
    """Update the pressed message: ticks for a toggle, the chosen answer otherwise."""
    if message is None:
        return
    try:
        if callback.action is Action.TOGGLE:
            await message.edit_reply_markup(reply_markup=ctx.renderer.question(step).keyboard)
        elif step.answered_question is not None:
            definition = step.definition
            question = definition.questions()[step.answered_question]
            await message.edit_text(
                ctx.renderer.answered(definition, question, step.answered_value, step.language),
                parse_mode=ParseMode.HTML,
            )
        else:  # begin, back, open: the old message's buttons are spent
            await message.edit_reply_markup(reply_markup=None)
    except BadRequest as exc:
        # "message is not modified" or a message too old to edit: nothing to fix.
        log.debug("could not update message %s: %s", message.message_id, exc)
    except (TimedOut, NetworkError) as exc:
        # The answer is saved and the next question is on its way: a stale keyboard on the
        # old message is all that is left, and a press on it is refused as stale.
        log.warning("could not update answered message %s: %s", message.message_id, exc)


_PRESS_ACTIONS = {
    Action.ANSWER: "answer",
    Action.TOGGLE: "toggle",
    Action.DONE: "done",
    Action.SKIP: "skip",
    Action.BACK: "back",
}


async def _dispatch(
    ctx: BotContext, user: ChatUser, callback: Callback, update_id: int
) -> Step | str | None:
    service = ctx.service
    action = callback.action
    if action is Action.OPEN:
        return await ctx.call(
            service.start, user, questionnaire_id=callback.session, update_id=update_id
        )
    if action is Action.ERASE:
        erased = await ctx.call(service.delete_me, user, update_id=update_id)
        return (
            "All your data has been erased. Goodbye — send /start if you ever want to return."
            if erased
            else "There was nothing stored about you."
        )
    if action is Action.KEEP:
        await ctx.call(service.touch, user, update_id=update_id)
        return "Nothing was erased."
    if action is Action.BEGIN:
        return await ctx.call(service.begin, user, callback.session, update_id=update_id)
    return await ctx.call(
        service.press,
        user,
        callback.session,
        callback.question,
        _PRESS_ACTIONS[action],
        callback.value,
        update_id=update_id,
    )


@once
async def timezone_choice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Store the time zone of the time the respondent tapped (or stop asking)."""
    query = update.callback_query
    assert query is not None
    ctx = _ctx(context)
    user = _user(update)
    picked = timezones.chosen(query.data or "")
    message = query.message if isinstance(query.message, Message) else None
    if picked is None:
        await ctx.call(ctx.service.touch, user, update_id=update.update_id)
        text = "All right, I won't ask. /timezone sets it whenever you like."
    else:
        city, zone = picked
        await ctx.call(ctx.service.set_timezone, user, zone, update_id=update.update_id)
        text = timezones.confirmation(city, zone, datetime.now(UTC))
    await _toast(query)
    if message is not None:
        try:
            await message.edit_text(text)
        except (BadRequest, TimedOut, NetworkError) as exc:  # the choice is saved already
            log.warning("could not update time-zone message %s: %s", message.message_id, exc)


@once
async def followup_click(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Record a press on a follow-up's button and hand the respondent its link."""
    from backend.followups import record_click
    from backend.storage.engine import session_scope

    query = update.callback_query
    assert query is not None
    ctx = _ctx(context)

    def record() -> Any:
        with session_scope(ctx.service.engine) as session:
            return record_click(session=session, token=query.data or "")

    click = await ctx.call(record)
    if click is None:
        await _toast(query, "This button is no longer valid.")
        return
    await _toast(query)
    if update.effective_chat is not None:
        await context.bot.send_message(
            update.effective_chat.id,
            "Here is the link:",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Open ↗", url=click.url)]]),
        )


# --- errors --------------------------------------------------------------------------------


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log every unhandled error with its update, and tell the respondent something useful."""
    if isinstance(context.error, Forbidden):
        log.info("user blocked the bot: %s", context.error)
        return
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(context.error, NetworkError):  # the Bot API or the way to it: one line
        log.error("Bot API call failed while handling update %s: %s", update_id, context.error)
    else:
        log.error("error while handling update %s", update_id, exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(
                update.effective_chat.id,
                "Sorry, something went wrong on our side. Your answers so far are saved: "
                "send /resume to continue.",
            )
        except Exception:
            log.warning("could not tell chat %s about the error", update.effective_chat.id)
