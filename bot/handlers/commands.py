"""The quiz commands: /start, /resume, /restart, /cancel, /help, and what is not a command."""

from __future__ import annotations

import html
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from backend.services.quiz import Duplicate, QuizError
from bot.callbacks import Action, Callback
from bot.context import BotContext
from bot.handlers.common import chat_user, once, record_again_safe, reply, show

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
log = logging.getLogger(__name__)

PRIVATE_ONLY = "Quizzes run in a private chat with me: open it and send /start."


@once
async def start(update: Update, context: BotContext) -> None:
    """List the open questionnaires, or open one from a deep link (/start ID)."""
    user = chat_user(update)
    if context.args:
        key = context.args[0].strip().lower()
        try:
            step = await context.call(
                context.service.start, user=user, key=key, update_id=update.update_id
            )
        except Duplicate:
            raise
        except QuizError as exc:
            await reply(update, html.escape(str(exc)) + " Send /start to see the open ones.")
            return
        await show(context.bot, user.chat_id, context, step)
        return
    try:
        await context.call(
            context.service.set_opt_out, user=user, opted_out=False, update_id=update.update_id
        )
    except Duplicate:
        # Stored before, but its reply may never have left (a worker died): the list
        # changes nothing, so it is sent again rather than leave the person waiting.
        log.info("start: already processed, the list is sent again")
    listings = await context.call(context.service.active_questionnaires)
    if not listings:
        await reply(update, "There are no open quizzes right now. Please come back later.")
        return
    rows = [
        [
            InlineKeyboardButton(
                listing.title[:64],
                callback_data=context.codec.encode(
                    Callback(Action.OPEN, listing.questionnaire_id)
                ),
            )
        ]
        for listing in listings
    ]
    name = html.escape(user.first_name or "there")
    await reply(
        update, f"Hi {name}! Which quiz would you like to take?", InlineKeyboardMarkup(rows)
    )


@once
async def resume(update: Update, context: BotContext) -> None:
    """Continue the latest unfinished quiz."""
    user = chat_user(update)
    step = await context.call(context.service.resume, user=user, update_id=update.update_id)
    if step is None:
        await reply(update, "You have no unfinished quiz. Send /start to begin one.")
        return
    await show(context.bot, user.chat_id, context, step)


@once
async def restart(update: Update, context: BotContext) -> None:
    """Start the latest quiz over."""
    user = chat_user(update)
    try:
        step = await context.call(context.service.restart, user=user, update_id=update.update_id)
    except Duplicate:
        raise
    except QuizError as exc:
        await reply(update, html.escape(str(exc)))
        return
    if step is None:
        await reply(update, "There is nothing to restart yet. Send /start to begin a quiz.")
        return
    await show(context.bot, user.chat_id, context, step)


@once
async def cancel(update: Update, context: BotContext) -> None:
    """Cancel the unfinished quiz."""
    cancelled = await record_again_safe(
        context, context.service.cancel, user=chat_user(update), update_id=update.update_id
    )
    if cancelled is None:  # a redelivery: whatever it cancelled then, nothing is open now
        await reply(update, "You have no unfinished quiz. Send /start to begin one.")
    elif cancelled:
        await reply(update, "Quiz cancelled. Send /start whenever you want to begin again.")
    else:
        await reply(update, "You have no unfinished quiz.")


@once
async def help_command(update: Update, context: BotContext) -> None:
    """Show the commands."""
    await reply(update, HELP)


@once
async def unknown_command(update: Update, context: BotContext) -> None:
    """Point to /help for commands the bot does not know."""
    await reply(update, "I don't know that command. " + HELP)


@once
async def group_message(update: Update, context: BotContext) -> None:
    """Point group members to a private chat (only when addressed with a command)."""
    await reply(update, PRIVATE_ONLY)
