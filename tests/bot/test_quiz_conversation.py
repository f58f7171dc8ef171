"""The respondent's experience: navigation, commands, privacy, bad input, restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select
from telegram import Update
from telegram.ext import Application

from backend.questionnaire import QuestionnaireDefinition, load_definition
from backend.services.questionnaires import import_definition
from backend.services.quiz import ChatUser
from backend.storage.engine import session_scope
from backend.storage.models import Answer, QuizSession, Respondent, SessionStatus
from bot.sandbox import ChatMessage, SandboxClient, SandboxConfig
from tests.helpers.chat import Chat, data_of
from tests.helpers.definitions import TINY
from tests.helpers.quizbot import running_bot


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(rate_limit_enabled=False)


@pytest.fixture
def tiny(engine: Engine) -> QuestionnaireDefinition:
    definition = load_definition(TINY)
    with session_scope(engine) as session:
        import_definition(definition, session=session)
    return definition


@pytest.fixture
async def bot_app(
    engine: Engine, tiny: QuestionnaireDefinition, bot_base_url: str
) -> AsyncIterator[Application]:
    async with running_bot(engine, bot_base_url) as application:
        yield application


async def open_quiz(client: SandboxClient, language: str = "en") -> tuple[Chat, ChatMessage]:
    """Open the tiny quiz past its intro; return the chat and the first question."""
    chat = await Chat.open(client, language_code=language)
    await chat.command("start", "tiny")
    intro = await chat.expect()
    return chat, await chat.choose(intro.buttons[0][0].text)


def answers_in(engine: Engine, user_id: int) -> dict[str, Any]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(Answer.question_id, Answer.value)
            .join(QuizSession, QuizSession.id == Answer.session_id)  # type: ignore[arg-type]
            .join(Respondent, Respondent.id == QuizSession.respondent_id)  # type: ignore[arg-type]
            .where(Respondent.telegram_user_id == user_id)
        ).all()
    return dict(rows)


def _typed(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    """A private text message from ``user_id``, as Telegram delivers it."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id % 1_000_000,
            "date": 1,
            "chat": {"id": user_id, "type": "private"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Ana"},
            "text": text,
        },
    }


def _command(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    """A private command (``/name args``) from ``user_id``, as Telegram delivers it."""
    payload = _typed(update_id, user_id, text)
    command = text.split()[0]
    payload["message"]["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return payload


async def test_start_lists_open_quizzes_and_a_deep_link_opens_one(
    bot_app: Application, respondent: SandboxClient
) -> None:
    chat = await Chat.open(respondent)
    await chat.command("start")
    await chat.expect("Which quiz")
    await chat.press("Tiny quiz")
    await chat.expect("Three quick questions.")
    await chat.command("start", "nope")
    await chat.expect("no open questionnaire")


async def test_question_shows_progress_labels_and_texts_in_the_users_language(
    bot_app: Application, respondent: SandboxClient
) -> None:
    _, question = await open_quiz(respondent, language="de")
    text = question.text or ""
    assert "Frage 1 von 4" in text
    assert "Mir geht es heute gut" in text
    assert "1 = Stimme nicht zu · 5 = Stimme zu" in text
    assert [b.text for b in question.buttons[0]] == ["1", "2", "3", "4", "5"]


async def test_multiple_choice_toggles_enforces_max_and_min_then_back_and_skip(
    bot_app: Application, respondent: SandboxClient, engine: Engine
) -> None:
    chat, _ = await open_quiz(respondent)
    uid = chat.user_id
    await chat.press("4")
    edited = await chat.edited()
    assert "✓" in (edited.text or "")
    assert edited.buttons == []
    q2 = await chat.expect("Question 2 of 4")
    await chat.press("Done")
    assert "at least 1" in await chat.toast()
    for label in ("Running", "Swimming"):
        await chat.press(label)
        q2 = await chat.edited()
    assert "✅ Running" in str(q2.buttons)
    await chat.press("Lifting")
    assert "at most 2" in await chat.toast()
    await chat.choose("Done")
    assert answers_in(engine, uid)["sports"] == ["run", "swim"]
    # Back to the sports question: the ticks are still there, and can change
    back = await chat.choose("Back")
    assert "✅ Swimming" in str(back.buttons)
    await chat.press("Swimming")
    await chat.edited()
    await chat.press("Done")
    await chat.expect("How old")
    assert answers_in(engine, uid)["sports"] == ["run"]
    await chat.answer("42")
    result = await chat.choose("Skip")
    assert "Your profile" in (result.text or "")
    assert "Doing well." in (result.text or "")
    assert answers_in(engine, uid) == {"mood": 4, "sports": ["run"], "age": 42, "note": None}


async def answer_the_choices(chat: Chat, first: ChatMessage, *, mood: str, sport: str) -> None:
    """Answer the Likert (``first``) and the sports question; the age question is then shown."""
    await chat.press(mood, on=first)
    await chat.expect()
    await chat.press(sport)
    await chat.edited()
    await chat.choose("Done")


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("forty", "Please send a number (a whole number, from 16 to 99)."),
        ("12", "12 is out of range"),
        ("30.5", "whole number"),
        ("9" * 5000, "out of range"),
    ],
)
async def test_wrong_typed_answers_are_re_asked_with_the_reason(
    bot_app: Application,
    respondent: SandboxClient,
    engine: Engine,
    typed: str,
    reason: str,
) -> None:
    chat, q1 = await open_quiz(respondent)
    await answer_the_choices(chat, q1, mood="3", sport="Lifting")
    assert reason in ((await chat.answer(typed[:4096])).text or "")
    assert "age" not in answers_in(engine, chat.user_id)


async def test_over_long_free_text_and_text_on_a_button_question(
    bot_app: Application, respondent: SandboxClient, engine: Engine
) -> None:
    chat, q1 = await open_quiz(respondent)
    uid = chat.user_id
    assert "use the buttons" in ((await chat.answer("five")).text or "")
    await answer_the_choices(chat, q1, mood="5", sport="Running")
    await chat.answer("30")
    too_long = await chat.answer("x" * 4096)
    assert "4096 characters; please keep it under 20" in (too_long.text or "")
    assert "note" not in answers_in(engine, uid)
    assert "Your profile" in ((await chat.answer("<b>hi</b> & bye")).text or "")
    assert answers_in(engine, uid)["note"] == "<b>hi</b> & bye"


async def test_double_tap_records_once_and_the_second_tap_gets_a_toast(
    bot_app: Application, respondent: SandboxClient, engine: Engine
) -> None:
    chat, _ = await open_quiz(respondent)
    await asyncio.gather(chat.press("2"), chat.press("2"))
    toasts = [await respondent.wait_for_toast(chat.user_id) for _ in range(2)]
    assert toasts.count(None) == 1
    assert any("already answered" in (t or "") for t in toasts)
    with session_scope(engine) as session:
        count = session.exec(select(func.count()).select_from(Answer)).one()
    assert count == 1


async def test_a_redelivered_update_is_processed_once(
    bot_app: Application, respondent: SandboxClient, engine: Engine
) -> None:
    chat, q1 = await open_quiz(respondent)
    uid = chat.user_id
    await answer_the_choices(chat, q1, mood="5", sport="Running")
    # The same typed answer delivered twice (a webhook retry): the second must not be
    # taken as the answer to the next question.
    payload = _typed(10_009_999, uid, "33")
    for _ in range(2):
        await bot_app.process_update(Update.de_json(payload, bot_app.bot))
    assert answers_in(engine, uid)["age"] == 33
    assert "note" not in answers_in(engine, uid)


async def test_a_redelivered_start_whose_reply_was_lost_lists_the_quizzes_again(
    bot_app: Application, respondent: SandboxClient
) -> None:
    chat = await Chat.open(respondent)
    update_id = 20_000_000
    # Its first delivery was stored, then the worker died before the list went out.
    bot_app.bot_data.service.set_opt_out(
        user=ChatUser(chat.user_id, chat.user_id, "Ana", "en"),
        opted_out=False,
        update_id=update_id,
    )
    payload = _command(update_id, chat.user_id, "/start")
    await bot_app.process_update(Update.de_json(payload, bot_app.bot))
    await chat.expect("Which quiz would you like to take?")


async def test_a_result_lost_to_a_crash_is_sent_when_the_update_comes_again(
    bot_app: Application, respondent: SandboxClient, engine: Engine
) -> None:
    chat, q1 = await open_quiz(respondent)
    uid = chat.user_id
    await answer_the_choices(chat, q1, mood="4", sport="Running")
    await chat.answer("42")
    for _ in range(100):  # the bot records that the last question arrived
        with session_scope(engine) as session:
            if session.exec(select(QuizSession.shown)).first() == "note":
                break
        await asyncio.sleep(0.02)
    # The last answer was stored and the quiz completed, then the worker died before the
    # result went out; Telegram delivers the update again.
    final = _typed(30_000_000, uid, "Thanks")
    step = bot_app.bot_data.service.answer_text(
        user=ChatUser(uid, uid, "Ana", "en"), text="Thanks", update_id=final["update_id"]
    )
    assert step.kind == "result"
    await bot_app.process_update(Update.de_json(final, bot_app.bot))
    result = await chat.expect("Your profile")
    assert "Doing well." in (result.text or "")
    with session_scope(engine) as session:
        shown = session.exec(select(QuizSession.shown).where(QuizSession.status == "completed"))
        assert shown.all() == ["#result"]
    # Once it arrived, another delivery of the update sends nothing.
    await bot_app.process_update(Update.de_json(final, bot_app.bot))
    await chat.command("help")
    assert "Your profile" not in ((await chat.expect()).text or "")


@pytest.mark.parametrize(
    ("command", "first_delivery", "reply"),
    [
        ("/stop", "set_opt_out", "no more follow-up messages"),
        ("/privacy", "privacy", "What we store about you"),
        ("/timezone Europe/Berlin", "set_timezone", "Berlin"),
        ("/timezone", "touch", "Which time does your clock show"),
        ("/cancel", "cancel", "You have no unfinished quiz"),
    ],
)
async def test_a_command_whose_reply_was_lost_replies_when_the_update_comes_again(
    bot_app: Application,
    respondent: SandboxClient,
    engine: Engine,
    command: str,
    first_delivery: str,
    reply: str,
) -> None:
    chat, _ = await open_quiz(respondent)
    update_id = 40_000_000
    user = ChatUser(chat.user_id, chat.user_id, "Ana", "en")
    extra: dict[str, dict[str, Any]] = {
        "set_opt_out": {"opted_out": True},
        "set_timezone": {"zone": "Europe/Berlin"},
    }
    arguments = extra.get(first_delivery, {})
    # The first delivery was stored, then the worker died before the reply went out.
    service = bot_app.bot_data.service
    getattr(service, first_delivery)(user=user, update_id=update_id, **arguments)
    await bot_app.process_update(
        Update.de_json(_command(update_id, chat.user_id, command), bot_app.bot)
    )
    assert reply in ((await chat.expect()).text or "")


async def test_a_privacy_request_from_before_an_erasure_brings_no_one_back(
    bot_app: Application, respondent: SandboxClient, engine: Engine
) -> None:
    chat, _ = await open_quiz(respondent)
    user = ChatUser(chat.user_id, chat.user_id, "Ana", "en")
    service = bot_app.bot_data.service
    service.privacy(user=user, update_id=50_000_000)
    assert service.delete_me(user=user, update_id=50_000_001)
    # Telegram delivers the /privacy again, from before the erasure.
    await bot_app.process_update(
        Update.de_json(_command(50_000_000, chat.user_id, "/privacy"), bot_app.bot)
    )
    assert "Nothing is stored about you" in ((await chat.expect()).text or "")
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(Respondent)).one() == 0


async def test_forged_and_foreign_callback_data_change_nothing(
    bot_app: Application, respondent: SandboxClient, engine: Engine
) -> None:
    chat, q1 = await open_quiz(respondent)
    uid = chat.user_id
    genuine = data_of(q1, "3")
    forged = genuine[:-3] + ("AAA" if not genuine.endswith("AAA") else "BBB")
    tampered = genuine.replace(".2.", ".1.", 1) if ".2." in genuine else "a.1.0.5.xxxxxxxxxxx"
    other = await respondent.create_user(first_name="Mallory")
    for data, sender in [(forged, uid), (tampered, uid), (genuine, other.id), ("junk", uid)]:
        update = {
            "callback_query": {
                "id": f"forged-{sender}-{data[:5]}",
                "from": {"id": sender, "is_bot": False, "first_name": "X"},
                "chat_instance": "1",
                "data": data,
                "message": {
                    "message_id": q1.message_id,
                    "date": 1,
                    "chat": {"id": sender, "type": "private"},
                    "text": "x",
                },
            }
        }
        await respondent.send_raw_update(update)
    await asyncio.sleep(0.5)
    assert answers_in(engine, uid) == {}
    # the genuine button still works for its owner afterwards
    await chat.choose("3")
    assert answers_in(engine, uid) == {"mood": 3}


async def test_restart_cancel_and_buttons_of_a_cancelled_quiz(
    bot_app: Application, respondent: SandboxClient, engine: Engine
) -> None:
    chat, q1 = await open_quiz(respondent)
    await chat.command("restart")
    await chat.expect("Three quick questions.")
    await chat.press("1", on=q1)
    assert "restarted or cancelled" in await chat.toast()
    await chat.command("cancel")
    await chat.expect("Quiz cancelled")
    await chat.command("resume")
    await chat.expect("no unfinished quiz")
    with session_scope(engine) as session:
        statuses = session.exec(select(QuizSession.status)).all()
    assert sorted(statuses) == [SessionStatus.CANCELLED, SessionStatus.CANCELLED]


async def test_privacy_stop_and_delete_me(
    bot_app: Application, respondent: SandboxClient, engine: Engine
) -> None:
    chat, _ = await open_quiz(respondent)
    await chat.choose("4")
    await chat.command("privacy")
    report = (await chat.expect()).text or ""
    assert "Name: Ana" in report
    assert "answers: 1" in report
    assert "Follow-up messages: on" in report
    await chat.command("stop")
    await chat.expect("no more follow-up")
    with session_scope(engine) as session:
        assert session.exec(select(Respondent.opted_out)).one() is True
    await chat.command("delete_me")
    await chat.expect()
    await chat.press("No, keep it")
    assert "Nothing was erased" in ((await chat.edited()).text or "")
    await chat.command("delete_me")
    await chat.expect()
    await chat.press("Yes, erase everything")
    assert "erased" in ((await chat.edited()).text or "")
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(Respondent)).one() == 0
        assert session.exec(select(func.count()).select_from(Answer)).one() == 0
    await chat.command("start")
    await chat.expect("Which quiz")
    with session_scope(engine) as session:
        assert session.exec(select(Respondent.opted_out)).one() is False


async def test_strange_messages_get_a_helpful_reply_or_are_ignored(
    bot_app: Application, respondent: SandboxClient
) -> None:
    chat = await Chat.open(respondent)
    uid = chat.user_id
    await respondent.send_sticker(uid)
    await chat.expect("only read text")
    await respondent.send_photo(uid, caption="me")
    await chat.expect("only read text")
    await respondent.send_voice(uid)
    await chat.expect("only read text")
    await chat.command("frobnicate")
    await chat.expect("don't know that command")
    assert "/start" in ((await chat.answer("hello?")).text or "")
    sent = await chat.say("typo")
    await chat.expect()
    await respondent.edit_text(uid, sent.message_id or 0, "fixed")
    await chat.expect("does not change your answer")
    group = await respondent.create_group("Friends")
    await respondent.send_text(uid, "hi all", chat_id=group)
    await respondent.send_command(uid, "start", chat_id=group)
    pointer = await respondent.next_event(group, kinds=("message",))
    assert pointer.message is not None
    assert "private chat" in (pointer.message.text or "")
    channel = await respondent.create_group("News", kind="channel")
    await respondent.post_in_channel(channel, "/start")
    await asyncio.sleep(0.3)
    view = await respondent.chat(group)
    assert sum(m.from_bot for m in view.messages) == 1  # only the /start got a pointer
    assert all(not m.from_bot for m in (await respondent.chat(channel)).messages)


async def test_a_new_application_resumes_at_the_same_question(
    engine: Engine, tiny: QuestionnaireDefinition, bot_base_url: str, respondent: SandboxClient
) -> None:
    async with running_bot(engine, bot_base_url):
        chat, _ = await open_quiz(respondent)
        await chat.choose("2")
        await chat.press("Swimming")
        await chat.edited()
    # the bot is down; a new Application on the same database takes over
    async with running_bot(engine, bot_base_url):
        await chat.command("resume")
        resumed = await chat.expect("Welcome back")
        assert "Question 2 of 4" in (resumed.text or "")
        assert "✅ Swimming" in str(resumed.buttons)  # the tick survived the restart
        await chat.press("Done")
        await chat.expect("How old")
    assert answers_in(engine, chat.user_id) == {"mood": 2, "sports": ["swim"]}
