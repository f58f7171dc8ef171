"""The bot under hostile or unlucky conditions, driven through the Bot API sandbox.

- The service dies (``kill -9``) after an answer is stored but before the next question is
  sent: the respondent's next message or button, or the redelivered update, brings the
  question back with its buttons, instead of leaving them with nothing to press.
- Forged button data of any content (non-ASCII, NUL, lone surrogates, over-long, follow-up
  tokens with odd digits) gets "this button is not valid" and records nothing.

On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import Engine, func
from sqlmodel import col, select
from telegram import Update
from telegram.ext import Application

from backend.questionnaire import load_definition
from backend.quiz import QuestionAction
from backend.services.questionnaires import import_definition
from backend.services.quiz import ChatUser, QuizService
from backend.storage.engine import session_scope
from backend.storage.models import Answer, QuizSession, Respondent
from bot.sandbox import ChatMessage, SandboxClient, SandboxConfig
from bot.sandbox.instance import SANDBOX
from bot.sandbox.records import CallbackQuery
from tests.helpers.chat import Chat
from tests.helpers.quizbot import running_bot

pytestmark = pytest.mark.usefixtures("ptb_timedelta")

QUIZ = """
id: hang
title: Hang
sections:
  - id: main
    questions:
      - {id: first, type: likert, text: The first statement}
      - {id: second, type: likert, text: The second statement}
      - {id: third, type: likert, text: The third statement}
dimensions:
  - id: trait
    label: Trait
    items: [{question: first}, {question: second}, {question: third}]
"""


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(rate_limit_enabled=False)


@pytest.fixture
async def bot_app(engine: Engine, bot_base_url: str) -> AsyncIterator[Application]:
    with session_scope(engine) as session:
        import_definition(load_definition(QUIZ), session=session)
    async with running_bot(engine, bot_base_url) as application:
        yield application


def state(engine: Engine, user_id: int) -> tuple[int, str | None, str | None, dict[str, Any]]:
    """The respondent's session: id, cursor, the step last shown, and the answers."""
    with session_scope(engine) as session:
        quiz = session.exec(
            select(QuizSession)
            .join(Respondent, col(Respondent.id) == col(QuizSession.respondent_id))
            .where(Respondent.telegram_user_id == user_id)
        ).one()
        answers = session.exec(
            select(Answer.question_id, Answer.value).where(Answer.session_id == quiz.id)
        ).all()
        assert quiz.id is not None
        return quiz.id, quiz.cursor, quiz.shown, dict(answers)


async def settled_state(
    engine: Engine, user_id: int, expected: tuple[Any, ...]
) -> tuple[Any, ...]:
    """The state once the bot recorded what it sent (just after the send itself)."""
    for _ in range(50):
        found = state(engine, user_id)[1:]
        if found == expected:
            break
        await asyncio.sleep(0.1)
    return found


async def crash_after_storing_the_first_answer(
    engine: Engine, client: SandboxClient
) -> tuple[Chat, ChatMessage, int]:
    """Open the quiz, then store an answer to the first question the way the bot does, and
    send nothing: what a ``kill -9`` between the commit and the next send leaves behind."""
    chat = await Chat.open(client)
    sent = await chat.command("start", "hang")
    first = await chat.expect("The first statement")
    uid = chat.user_id
    assert await settled_state(engine, uid, ("first", "first", {})) == ("first", "first", {})
    session_id = state(engine, uid)[0]

    QuizService(engine).press(
        user=ChatUser(uid, uid, "Ana"),
        session_id=session_id,
        question_index=0,
        action=QuestionAction.ANSWER,
        raw="4",
    )

    assert state(engine, uid)[1:] == ("second", "first", {"first": 4})
    assert sent.update_id is not None
    return chat, first, sent.update_id


async def expect_the_second_question(chat: Chat) -> ChatMessage:
    again = await chat.expect("The second statement")
    assert [b.text for b in again.buttons[0]] == ["1", "2", "3", "4", "5"]
    return again


async def test_a_button_of_the_answered_question_brings_the_next_one_back(
    bot_app: Application,
    respondent: SandboxClient,
    engine: Engine,
) -> None:
    chat, first, _ = await crash_after_storing_the_first_answer(engine, respondent)

    await chat.press("2", on=first)

    assert "already answered" in await chat.toast()
    await expect_the_second_question(chat)
    settled = ("second", "second", {"first": 4})
    assert await settled_state(engine, chat.user_id, settled) == settled  # no answer changed
    third = await chat.choose("5")
    assert "The third statement" in (third.text or "")
    assert state(engine, chat.user_id)[3] == {"first": 4, "second": 5}


async def test_a_typed_message_brings_the_question_back_and_is_not_taken_as_an_answer(
    bot_app: Application,
    respondent: SandboxClient,
    engine: Engine,
) -> None:
    chat, _, _ = await crash_after_storing_the_first_answer(engine, respondent)

    await chat.say("3")  # typed before seeing the second question

    await expect_the_second_question(chat)
    settled = ("second", "second", {"first": 4})
    assert await settled_state(engine, chat.user_id, settled) == settled


async def test_a_sticker_brings_the_question_back(
    bot_app: Application,
    respondent: SandboxClient,
    engine: Engine,
) -> None:
    chat, _, _ = await crash_after_storing_the_first_answer(engine, respondent)

    await respondent.send_sticker(chat.user_id)

    await chat.expect("only read text")
    await expect_the_second_question(chat)


async def test_the_redelivered_update_brings_the_question_back(
    bot_app: Application,
    respondent: SandboxClient,
    engine: Engine,
) -> None:
    # After a restart Telegram delivers again what was not confirmed: the /start update is
    # a duplicate (ignored), but the question it led to must still reach the respondent.
    chat, _, update_id = await crash_after_storing_the_first_answer(engine, respondent)
    uid = chat.user_id
    update = {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": uid, "type": "private", "first_name": "Ana"},
            "from": {"id": uid, "is_bot": False, "first_name": "Ana"},
            "text": "/start hang",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }

    await bot_app.process_update(Update.de_json(update, bot_app.bot))

    await expect_the_second_question(chat)
    assert state(engine, uid)[3] == {"first": 4}


async def test_when_the_question_did_arrive_nothing_is_sent_twice(
    bot_app: Application,
    respondent: SandboxClient,
    engine: Engine,
) -> None:
    chat = await Chat.open(respondent)
    await chat.command("start", "hang")
    await chat.expect()
    await chat.press("4")
    await expect_the_second_question(chat)

    await respondent.send_sticker(chat.user_id)

    await chat.expect("only read text")
    with pytest.raises(TimeoutError):
        await chat.expect(timeout=1.0)


FORGED = [
    "é",
    "a.1.0.4.é" + "x" * 10,
    "a.1.0.4.\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9",
    "\x00",
    "a.1.0.4\x00.AAAAAAAAAAA",
    "\ud800",
    "🙂" * 16,
    "a" * 65,
    "a.1.0.4.AAAAAAAAAAA",  # well-formed, wrong signature
    "a.zzzzzzzzzzzzzz.0.²",
    "fu:x.²",
    "fu:x.٣",
    "fu:\x00.1",
    "fu:" + "x" * 50 + ".1",
    "fu:.1",
]


def forge_press(server: TestServer, user_id: int, message_id: int, data: str) -> None:
    """Queue a press whose data no button of the bot carries (a modified client)."""
    world = server.app[SANDBOX].world
    chat = world.chat(user_id)
    shown = world.message(chat, message_id)
    assert shown is not None
    query = CallbackQuery(
        id=str(secrets.randbits(63)),
        user_id=user_id,
        chat_id=user_id,
        message_id=message_id,
        data=data,
        created=world.clock(),
    )
    world.callbacks[query.id] = query
    body = {
        "id": query.id,
        "from": world.user(user_id).to_json(),
        "message": world.message_json(shown),
        "chat_instance": "1",
        "data": data,
    }
    world.push_update("callback_query", body, chat.id)


def counts(engine: Engine) -> tuple[int, int, int]:
    with session_scope(engine) as session:
        return tuple(  # type: ignore[return-value]
            int(session.exec(select(func.count()).select_from(table)).one())
            for table in (Respondent, QuizSession, Answer)
        )


async def test_forged_buttons_of_any_content_are_refused_and_record_nothing(
    bot_app: Application,
    respondent: SandboxClient,
    engine: Engine,
    sandbox_server: TestServer,
) -> None:
    chat = await Chat.open(respondent)
    uid = chat.user_id
    await chat.command("start", "hang")
    first = await chat.expect()
    await settled_state(engine, uid, ("first", "first", {}))
    before = counts(engine), state(engine, uid)

    for data in FORGED:
        forge_press(sandbox_server, uid, first.message_id, data)
        toast = await respondent.wait_for_toast(uid)
        assert toast in {"This button is not valid.", "This button is no longer valid."}, data

    assert (counts(engine), state(engine, uid)) == before
    # the real buttons still work
    await chat.press("3")
    await expect_the_second_question(chat)
