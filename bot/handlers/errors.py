"""The one error handler: log with the update, and tell the respondent something useful."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Forbidden, NetworkError

from bot.context import BotContext

log = logging.getLogger(__name__)


async def on_error(update: object, context: BotContext) -> None:
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
