"""Time zones with consent, a failed edit after a saved answer, the command menu, bad bodies.

These run against the strict sandbox with the bot's rate limiter on, as in production.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from telegram import Bot
from telegram.error import NetworkError
from telegram.ext import Application

from backend.questionnaire import load_definition
from backend.services.questionnaires import import_definition
from backend.storage.engine import session_scope
from backend.storage.models import Respondent
from bot.application import register_commands
from bot.sandbox import SandboxClient
from bot.transport import AiohttpRequest
from tests.helpers.chat import Chat
from tests.helpers.quizbot import running_bot

ONE = """
id: one
title: One question
sections:
  - id: main
    questions:
      - {id: mood, type: likert, text: I feel great today, min_label: No, max_label: Yes}
dimensions:
  - {id: wellbeing, label: Wellbeing, items: [{question: mood}]}
"""


@pytest.fixture
async def paced_bot(engine: Engine, bot_base_url: str) -> AsyncIterator[Application]:
    with session_scope(engine) as session:
        import_definition(load_definition(ONE), session=session)
    async with running_bot(engine, bot_base_url, rate_limit=True) as application:
        yield application


def stored_zone(engine: Engine, user_id: int) -> str | None:
    with session_scope(engine) as session:
        return session.exec(
            select(Respondent.timezone).where(Respondent.telegram_user_id == user_id)
        ).one()


async def take_quiz(chat: Chat) -> None:
    await chat.command("start", "one")  # no intro: the question at once
    await chat.until("I feel great")
    await chat.press("4")


async def test_the_first_quiz_ends_asking_for_the_time_zone_with_one_tap(
    paced_bot: Application, engine: Engine, respondent: SandboxClient
) -> None:
    chat = await Chat.open(respondent, first_name="Ada")
    await take_quiz(chat)
    asked = await chat.until("which time does your clock show")
    assert stored_zone(engine, chat.user_id) is None  # nothing guessed meanwhile
    await chat.press("London")
    await respondent.next_event(chat.user_id, timeout=10, kinds=("edit",))
    assert stored_zone(engine, chat.user_id) == "Europe/London"
    shown = {m.message_id: m for m in (await respondent.chat(chat.user_id)).messages}
    assert "Europe/London" in (shown[asked.message_id].text or "")
    assert not shown[asked.message_id].buttons
    # A second quiz does not ask again.
    await take_quiz(chat)
    await chat.until("Your profile")
    stats = await respondent.stats()
    assert stats["rate_limited"] == 0  # paced within the strict limits throughout
    assert "which time" not in ((await respondent.chat(chat.user_id)).messages[-1].text or "")


async def test_the_timezone_command_sets_checks_and_forgets(
    paced_bot: Application, engine: Engine, respondent: SandboxClient
) -> None:
    chat = await Chat.open(respondent)
    await chat.command("timezone", "Europe/Berlin")
    await chat.until("Europe/Berlin")
    assert stored_zone(engine, chat.user_id) == "Europe/Berlin"
    await chat.command("timezone", "Mars/Olympus")
    await chat.until("not a time zone I know")
    assert stored_zone(engine, chat.user_id) == "Europe/Berlin"
    await chat.command("timezone")
    shown = await chat.until("Your time zone is Europe/Berlin")
    assert any("Tokyo" in b.text for row in shown.buttons for b in row)
    await chat.command("timezone", "off")
    await chat.until("Forgotten")
    assert stored_zone(engine, chat.user_id) is None


async def test_a_failed_edit_of_the_answered_question_is_only_a_warning(
    paced_bot: Application,
    engine: Engine,
    respondent: SandboxClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    chat = await Chat.open(respondent)
    await chat.command("start", "one")
    await chat.until("I feel great")
    await respondent.set_faults(fail_next=1, fail_status=502, methods=["editMessageText"])
    with caplog.at_level(logging.WARNING):
        await chat.press("4")
        await chat.until("Your profile")
        await chat.until("which time")
    texts = [m.text or "" for m in (await respondent.chat(chat.user_id)).messages]
    assert not any("Sorry" in t for t in texts)
    assert any("could not update answered message" in r.message for r in caplog.records)
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)


async def test_the_command_menu_is_registered(
    paced_bot: Application, respondent: SandboxClient
) -> None:
    await register_commands(paced_bot)
    commands = {c["command"] for c in await respondent.commands()}
    assert {"start", "resume", "timezone", "delete_me"} <= commands


async def test_an_html_error_page_is_one_log_line(
    bot_base_url: str, respondent: SandboxClient, caplog: pytest.LogCaptureFixture
) -> None:
    user = await respondent.create_user()
    await respondent.set_faults(fail_next=1, fail_status=502, fail_html=True)
    request = AiohttpRequest()
    async with Bot(
        "123456789:AAsandbox-local-token-not-for-telegram00",
        base_url=bot_base_url,
        request=request,
    ) as bot:
        with caplog.at_level(logging.WARNING), pytest.raises(NetworkError, match="without JSON"):
            await bot.send_message(user.id, "hi")
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(records) == 1
    assert records[0].exc_info is None
    assert "Bad Gateway (502)" in records[0].getMessage()
