"""The answer path: typed answers, quiz buttons, follow-up buttons, and other messages."""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, NetworkError, TimedOut

from backend.quiz import AnswerInvalid, QuestionAction, Step
from backend.services.quiz import ChatUser, Duplicate, QuizError, StaleAction
from bot.callbacks import Action, Callback, ForgedCallback
from bot.context import BotContext
from bot.handlers.common import chat_user, once, reply, resend_undelivered, show, toast

log = logging.getLogger(__name__)

NOT_TEXT = "I can only read text and button presses. Please answer with the buttons or by typing."
ERASED = "All your data has been erased. Goodbye — send /start if you ever want to return."
NOTHING_STORED = "There was nothing stored about you."
KEPT = "Nothing was erased."


@dataclass(frozen=True, slots=True)
class Edit:
    """A press whose whole answer is a new text for the pressed message (the erasure
    confirmation): nothing else follows."""

    text: str


#: What a press on a button leads to: the next step, or a new text for its message.
Outcome = Step | Edit

_QUESTION_ACTIONS = {
    Action.ANSWER: QuestionAction.ANSWER,
    Action.TOGGLE: QuestionAction.TOGGLE,
    Action.DONE: QuestionAction.DONE,
    Action.SKIP: QuestionAction.SKIP,
    Action.BACK: QuestionAction.BACK,
}


@once
async def text_answer(update: Update, context: BotContext) -> None:
    """Take typed text as the answer to the current question."""
    user = chat_user(update)
    message = update.effective_message
    assert message is not None
    try:
        step = await context.call(
            context.service.answer_text,
            user=user,
            text=message.text or "",
            update_id=update.update_id,
        )
    except AnswerInvalid as exc:
        await reply(update, html.escape(str(exc)))
        return
    if step is None:
        await reply(update, "Send /start to choose a quiz, or /help to see what I can do.")
        return
    await show(context.bot, user.chat_id, context, step)


@once
async def other_message(update: Update, context: BotContext) -> None:
    """Answer stickers, photos, voice and other non-text messages helpfully."""
    await reply(update, NOT_TEXT)
    await resend_undelivered(update, context)


@once
async def edited_message(update: Update, context: BotContext) -> None:
    """Explain that editing a sent answer changes nothing."""
    message = update.edited_message
    if message is not None:
        await message.reply_text(
            "Editing a message does not change your answer. Use ◀ Back on the current "
            "question to change the previous one."
        )


@once
async def button(update: Update, context: BotContext) -> None:
    """Handle every inline button: decode, call the service, edit the message, go on."""
    query = update.callback_query
    assert query is not None
    user = chat_user(update)
    try:
        callback = context.codec.decode(query.data)
    except ForgedCallback:
        log.warning("refused callback data %r from user %s", query.data, user.user_id)
        await toast(query, "This button is not valid.")
        return
    try:
        outcome = await _dispatch(context, user, callback, update.update_id)
    except Duplicate:
        await toast(query)
        await resend_undelivered(update, context)
        return
    except StaleAction as exc:
        await toast(query, str(exc))
        # A button of an answered question: if what followed never arrived, send it now.
        await resend_undelivered(update, context)
        return
    except (AnswerInvalid, QuizError) as exc:
        await toast(query, str(exc))
        return
    message = query.message if isinstance(query.message, Message) else None
    # The three calls are independent: the next question does not wait for the toast or
    # for the edit of the pressed message (one round trip instead of three).
    calls: list[Coroutine[Any, Any, Any]] = [toast(query)]
    match outcome:
        case Edit(text):
            if message is not None:
                calls.append(message.edit_text(text))
        case Step():
            calls.append(_settle_message(context, message, callback, outcome))
            if callback.action is not Action.TOGGLE:
                calls.append(show(context.bot, user.chat_id, context, outcome))
    await asyncio.gather(*calls)


async def _settle_message(
    context: BotContext, message: Message | None, callback: Callback, step: Step
) -> None:
    """Update the pressed message: ticks for a toggle, the chosen answer otherwise."""
    if message is None:
        return
    renderer = context.renderer
    try:
        if callback.action is Action.TOGGLE:
            await message.edit_reply_markup(reply_markup=renderer.question(step).keyboard)
        elif step.answered_question is not None:
            definition = step.definition
            question = definition.questions()[step.answered_question]
            await message.edit_text(
                renderer.answered(definition, question, step.answered_value, step.language)
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


async def _dispatch(
    context: BotContext, user: ChatUser, callback: Callback, update_id: int
) -> Outcome:
    """Make the one service call a quiz button stands for."""
    service = context.service
    match callback.action:
        case Action.OPEN:
            return await context.call(
                service.start, user=user, questionnaire_id=callback.session, update_id=update_id
            )
        case Action.ERASE:
            erased = await context.call(service.delete_me, user=user, update_id=update_id)
            return Edit(ERASED if erased else NOTHING_STORED)
        case Action.KEEP:
            await context.call(service.touch, user=user, update_id=update_id)
            return Edit(KEPT)
        case Action.BEGIN:
            return await context.call(
                service.begin, user=user, session_id=callback.session, update_id=update_id
            )
        case _:
            return await context.call(
                service.press,
                user=user,
                session_id=callback.session,
                question_index=callback.question,
                action=_QUESTION_ACTIONS[callback.action],
                raw=callback.value,
                update_id=update_id,
            )


@once
async def followup_click(update: Update, context: BotContext) -> None:
    """Record a press on a follow-up's button and hand the respondent its link."""
    query = update.callback_query
    assert query is not None
    click = await context.call(context.service.record_click, data=query.data or "")
    if click is None:
        await toast(query, "This button is no longer valid.")
        return
    await toast(query)
    if update.effective_chat is not None:
        await context.bot.send_message(
            update.effective_chat.id,
            "Here is the link:",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Open ↗", url=click.url)]]),
        )
