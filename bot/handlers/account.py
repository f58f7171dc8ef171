"""The respondent's own data and settings: /privacy, /delete_me, /stop, /timezone."""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, NetworkError, TimedOut

from backend.services.quiz import QuizError
from bot import timezones
from bot.callbacks import Action, Callback
from bot.context import BotContext
from bot.handlers.common import chat_user, once, record_again_safe, reply, toast

log = logging.getLogger(__name__)


@once
async def privacy(update: Update, context: BotContext) -> None:
    """Show what is stored about the respondent."""
    user = chat_user(update)
    report = await record_again_safe(
        context, context.service.privacy, user=user, update_id=update.update_id
    )
    if report is None:  # a redelivery: the report as it is now, if there is anyone
        report = await context.call(context.service.known_privacy, user=user)
    if report is None:
        await reply(update, "Nothing is stored about you.")
        return
    quizzes = ", ".join(html.escape(q) for q in report.questionnaires) or "none"
    await reply(
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
async def delete_me(update: Update, context: BotContext) -> None:
    """Ask for confirmation before erasing the respondent's data."""
    codec = context.codec
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
    await reply(
        update,
        "This erases your answers, profile and everything else stored about you. "
        "It cannot be undone. Are you sure?",
        keyboard,
    )


@once
async def stop(update: Update, context: BotContext) -> None:
    """Opt out of follow-up messages."""
    await record_again_safe(
        context,
        context.service.set_opt_out,
        user=chat_user(update),
        opted_out=True,
        update_id=update.update_id,
    )
    await reply(
        update, "Done: you will get no more follow-up messages. Send /start to opt back in."
    )


@once
async def timezone(update: Update, context: BotContext) -> None:
    """Show or set the respondent's time zone (/timezone, /timezone Europe/Berlin, off)."""
    user = chat_user(update)
    if context.args:
        wanted = context.args[0].strip()
        zone = None if wanted.lower() == "off" else wanted
        try:
            await record_again_safe(
                context,
                context.service.set_timezone,
                user=user,
                zone=zone,
                update_id=update.update_id,
            )
        except QuizError as exc:
            await reply(update, html.escape(str(exc)) + " Or send /timezone and tap your time.")
            return
        if zone is None:
            await reply(update, "Forgotten: I no longer know your time zone.")
        else:
            city = zone.rsplit("/", 1)[-1].replace("_", " ")
            await reply(update, html.escape(timezones.confirmation(city, zone, datetime.now(UTC))))
        return
    await record_again_safe(context, context.service.touch, user=user, update_id=update.update_id)
    current = await context.call(context.service.timezone, user=user)
    known = f"Your time zone is {html.escape(current)}. " if current else ""
    await reply(
        update,
        f"{known}Which time does your clock show right now? "
        "(Or send <code>/timezone Europe/Berlin</code>; <code>/timezone off</code> forgets it.)",
        timezones.keyboard(datetime.now(UTC)),
    )


@once
async def timezone_choice(update: Update, context: BotContext) -> None:
    """Store the time zone of the time the respondent tapped (or stop asking)."""
    query = update.callback_query
    assert query is not None
    user = chat_user(update)
    picked = timezones.chosen(query.data or "")
    message = query.message if isinstance(query.message, Message) else None
    if picked is None:
        await context.call(context.service.touch, user=user, update_id=update.update_id)
        text = "All right, I won't ask. /timezone sets it whenever you like."
    else:
        city, zone = picked
        await context.call(
            context.service.set_timezone, user=user, zone=zone, update_id=update.update_id
        )
        text = html.escape(timezones.confirmation(city, zone, datetime.now(UTC)))
    await toast(query)
    if message is not None:
        try:
            await message.edit_text(text)
        except (BadRequest, TimedOut, NetworkError) as exc:  # the choice is saved already
            log.warning("could not update time-zone message %s: %s", message.message_id, exc)
