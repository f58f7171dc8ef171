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
from backend.storage.engine import session_scope
from backend.storage.models import Answer, QuizSession, Respondent, SessionStatus
from bot.sandbox import ChatMessage, SandboxClient, SandboxConfig
from tests.bot.conftest import running_bot

QUIZ = """
id: tiny
title: {en: Tiny quiz, de: Mini-Quiz}
languages: [en, de]
intro: {en: Three quick questions., de: Drei kurze Fragen.}
sections:
  - id: main
    title: {en: About you, de: Über dich}
    questions:
      - id: mood
        type: likert
        text: {en: I feel great today, de: Mir geht es heute gut}
        min_label: {en: Disagree, de: Stimme nicht zu}
        max_label: {en: Agree, de: Stimme zu}
      - id: sports
        type: multiple_choice
        text: Which sports?
        min_selected: 1
        max_selected: 2
        options:
          - {id: run, text: Running}
          - {id: swim, text: Swimming}
          - {id: lift, text: Lifting}
      - id: age
        type: number
        text: How old are you?
        integer: true
        min: 16
        max: 99
      - id: note
        type: text
        text: Anything else?
        max_length: 20
        required: false
dimensions:
  - id: wellbeing
    label: {en: Wellbeing, de: Wohlbefinden}
    items: [{question: mood}]
    bands:
      - {up_to: 50, label: low, text: {en: Could be better., de: Geht besser.}}
      - {label: high, text: {en: Doing well., de: Gut drauf.}}
"""


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(rate_limit_enabled=False)


@pytest.fixture
def tiny(engine: Engine) -> QuestionnaireDefinition:
    definition = load_definition(QUIZ)
    with session_scope(engine) as session:
        import_definition(definition, session=session)
    return definition


@pytest.fixture
async def bot_app(
    engine: Engine, tiny: QuestionnaireDefinition, bot_base_url: str
) -> AsyncIterator[Application]:
    async with running_bot(engine, bot_base_url) as application:
        yield application


async def reply(client: SandboxClient, chat_id: int) -> ChatMessage:
    event = await client.next_event(chat_id, timeout=5, kinds=("message",))
    assert event.message is not None
    return event.message


def data_of(message: ChatMessage, label: str) -> str:
    for row in message.buttons:
        for button in row:
            if label in button.text:
                assert button.callback_data is not None
                return button.callback_data
    raise AssertionError(
        f"no button {label!r} in {[[b.text for b in r] for r in message.buttons]}"
    )


async def open_quiz(client: SandboxClient, language: str = "en") -> tuple[int, ChatMessage]:
    user = await client.create_user(first_name="Ana", language_code=language)
    await client.send_command(user.id, "start", "tiny")
    intro = await reply(client, user.id)
    await client.press(user.id, intro.message_id, data=intro.buttons[0][0].callback_data)
    return user.id, await reply(client, user.id)


def answers_in(engine: Engine, user_id: int) -> dict[str, Any]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(Answer.question_id, Answer.value)
            .join(QuizSession, QuizSession.id == Answer.session_id)  # type: ignore[arg-type]
            .join(Respondent, Respondent.id == QuizSession.respondent_id)  # type: ignore[arg-type]
            .where(Respondent.telegram_user_id == user_id)
        ).all()
    return dict(rows)


async def test_start_lists_open_quizzes_and_a_deep_link_opens_one(
    bot_app: Application, respondent: SandboxClient
) -> None:
    user = await respondent.create_user(first_name="Ana")
    await respondent.send_command(user.id, "start")
    listing = await reply(respondent, user.id)
    assert "Which quiz" in (listing.text or "")
    await respondent.press(user.id, listing.message_id, text="Tiny quiz")
    intro = await reply(respondent, user.id)
    assert "Three quick questions." in (intro.text or "")
    await respondent.send_command(user.id, "start", "nope")
    assert "no open questionnaire" in ((await reply(respondent, user.id)).text or "")


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
    uid, q1 = await open_quiz(respondent)
    await respondent.press(uid, q1.message_id, data=data_of(q1, "4"))
    edited = await respondent.wait_for_reply(uid)
    assert "✓" in (edited.text or "")
    assert edited.buttons == []
    q2 = await reply(respondent, uid)
    assert "Question 2 of 4" in (q2.text or "")
    await respondent.press(uid, q2.message_id, data=data_of(q2, "Done"))
    assert "at least 1" in (await respondent.wait_for_toast(uid) or "")
    for label in ("Running", "Swimming"):
        await respondent.press(uid, q2.message_id, data=data_of(q2, label))
        q2 = await respondent.wait_for_reply(uid)
    assert "✅ Running" in str(q2.buttons)
    await respondent.press(uid, q2.message_id, data=data_of(q2, "Lifting"))
    assert "at most 2" in (await respondent.wait_for_toast(uid) or "")
    await respondent.press(uid, q2.message_id, data=data_of(q2, "Done"))
    q3 = await reply(respondent, uid)
    assert answers_in(engine, uid)["sports"] == ["run", "swim"]
    # Back to the sports question: the ticks are still there, and can change
    await respondent.press(uid, q3.message_id, data=data_of(q3, "Back"))
    back = await reply(respondent, uid)
    assert "✅ Swimming" in str(back.buttons)
    await respondent.press(uid, back.message_id, data=data_of(back, "Swimming"))
    back = await respondent.wait_for_reply(uid)
    await respondent.press(uid, back.message_id, data=data_of(back, "Done"))
    q3 = await reply(respondent, uid)
    assert "How old" in (q3.text or "")
    assert answers_in(engine, uid)["sports"] == ["run"]
    await respondent.send_text(uid, "42")
    q4 = await reply(respondent, uid)
    await respondent.press(uid, q4.message_id, data=data_of(q4, "Skip"))
    result = await reply(respondent, uid)
    assert "Your profile" in (result.text or "")
    assert "Doing well." in (result.text or "")
    assert answers_in(engine, uid) == {"mood": 4, "sports": ["run"], "age": 42, "note": None}


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
    uid, q1 = await open_quiz(respondent)
    await respondent.press(uid, q1.message_id, data=data_of(q1, "3"))
    q2 = await reply(respondent, uid)
    await respondent.press(uid, q2.message_id, data=data_of(q2, "Lifting"))
    await respondent.wait_for_reply(uid)
    await respondent.press(uid, q2.message_id, data=data_of(q2, "Done"))
    await reply(respondent, uid)
    await respondent.send_text(uid, typed[:4096])
    assert reason in ((await reply(respondent, uid)).text or "")
    assert "age" not in answers_in(engine, uid)


async def test_over_long_free_text_and_text_on_a_button_question(
    bot_app: Application, respondent: SandboxClient, engine: Engine
) -> None:
    uid, q1 = await open_quiz(respondent)
    await respondent.send_text(uid, "five")
    assert "use the buttons" in ((await reply(respondent, uid)).text or "")
    await respondent.press(uid, q1.message_id, data=data_of(q1, "5"))
    q2 = await reply(respondent, uid)
    await respondent.press(uid, q2.message_id, data=data_of(q2, "Running"))
    await respondent.wait_for_reply(uid)
    await respondent.press(uid, q2.message_id, data=data_of(q2, "Done"))
    await reply(respondent, uid)
    await respondent.send_text(uid, "30")
    await reply(respondent, uid)
    await respondent.send_text(uid, "x" * 4096)
    assert "4096 characters; please keep it under 20" in (
        (await reply(respondent, uid)).text or ""
    )
    assert "note" not in answers_in(engine, uid)
    await respondent.send_text(uid, "<b>hi</b> & bye")
    assert "Your profile" in ((await reply(respondent, uid)).text or "")
    assert answers_in(engine, uid)["note"] == "<b>hi</b> & bye"


async def test_double_tap_records_once_and_the_second_tap_gets_a_toast(
    bot_app: Application, respondent: SandboxClient, engine: Engine
) -> None:
    uid, q1 = await open_quiz(respondent)
    data = data_of(q1, "2")
    await asyncio.gather(
        respondent.press(uid, q1.message_id, data=data),
        respondent.press(uid, q1.message_id, data=data),
    )
    toasts = [await respondent.wait_for_toast(uid), await respondent.wait_for_toast(uid)]
    assert toasts.count(None) == 1
    assert any("already answered" in (t or "") for t in toasts)
    with session_scope(engine) as session:
        count = session.exec(select(func.count()).select_from(Answer)).one()
    assert count == 1


async def test_a_redelivered_update_is_processed_once(
    bot_app: Application, respondent: SandboxClient, engine: Engine
) -> None:
    uid, q1 = await open_quiz(respondent)
    await respondent.press(uid, q1.message_id, data=data_of(q1, "5"))
    q2 = await reply(respondent, uid)
    await respondent.press(uid, q2.message_id, data=data_of(q2, "Running"))
    await respondent.wait_for_reply(uid)
    await respondent.press(uid, q2.message_id, data=data_of(q2, "Done"))
    await reply(respondent, uid)
    # The same typed answer delivered twice (a webhook retry): the second must not be
    # taken as the answer to the next question.
    payload = {
        "update_id": 10_000_000,
        "message": {
            "message_id": 9999,
            "date": 1,
            "chat": {"id": uid, "type": "private"},
            "from": {"id": uid, "is_bot": False, "first_name": "Ana"},
            "text": "33",
        },
    }
    for _ in range(2):
        await bot_app.process_update(Update.de_json(payload, bot_app.bot))
    assert answers_in(engine, uid)["age"] == 33
    assert "note" not in answers_in(engine, uid)


async def test_forged_and_foreign_callback_data_change_nothing(
    bot_app: Application, respondent: SandboxClient, engine: Engine
) -> None:
    uid, q1 = await open_quiz(respondent)
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
    await respondent.press(uid, q1.message_id, data=genuine)
    await reply(respondent, uid)
    assert answers_in(engine, uid) == {"mood": 3}


async def test_restart_cancel_and_buttons_of_a_cancelled_quiz(
    bot_app: Application, respondent: SandboxClient, engine: Engine
) -> None:
    uid, q1 = await open_quiz(respondent)
    await respondent.send_command(uid, "restart")
    intro = await reply(respondent, uid)
    assert "Three quick questions." in (intro.text or "")
    await respondent.press(uid, q1.message_id, data=data_of(q1, "1"))
    assert "restarted or cancelled" in (await respondent.wait_for_toast(uid) or "")
    await respondent.send_command(uid, "cancel")
    assert "Quiz cancelled" in ((await reply(respondent, uid)).text or "")
    await respondent.send_command(uid, "resume")
    assert "no unfinished quiz" in ((await reply(respondent, uid)).text or "")
    with session_scope(engine) as session:
        statuses = session.exec(select(QuizSession.status)).all()
    assert sorted(statuses) == [SessionStatus.CANCELLED, SessionStatus.CANCELLED]


async def test_privacy_stop_and_delete_me(
    bot_app: Application, respondent: SandboxClient, engine: Engine
) -> None:
    uid, q1 = await open_quiz(respondent)
    await respondent.press(uid, q1.message_id, data=data_of(q1, "4"))
    await reply(respondent, uid)
    await respondent.send_command(uid, "privacy")
    report = (await reply(respondent, uid)).text or ""
    assert "Name: Ana" in report
    assert "answers: 1" in report
    assert "Follow-up messages: on" in report
    await respondent.send_command(uid, "stop")
    assert "no more follow-up" in ((await reply(respondent, uid)).text or "")
    with session_scope(engine) as session:
        assert session.exec(select(Respondent.opted_out)).one() is True
    await respondent.send_command(uid, "delete_me")
    confirm = await reply(respondent, uid)
    await respondent.press(uid, confirm.message_id, text="No, keep it")
    assert "Nothing was erased" in ((await respondent.wait_for_reply(uid)).text or "")
    await respondent.send_command(uid, "delete_me")
    confirm = await reply(respondent, uid)
    await respondent.press(uid, confirm.message_id, text="Yes, erase everything")
    assert "erased" in ((await respondent.wait_for_reply(uid)).text or "")
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(Respondent)).one() == 0
        assert session.exec(select(func.count()).select_from(Answer)).one() == 0
    await respondent.send_command(uid, "start")
    assert "Which quiz" in ((await reply(respondent, uid)).text or "")
    with session_scope(engine) as session:
        assert session.exec(select(Respondent.opted_out)).one() is False


async def test_strange_messages_get_a_helpful_reply_or_are_ignored(
    bot_app: Application, respondent: SandboxClient
) -> None:
    user = await respondent.create_user(first_name="Ana")
    await respondent.send_sticker(user.id)
    assert "only read text" in ((await reply(respondent, user.id)).text or "")
    await respondent.send_photo(user.id, caption="me")
    assert "only read text" in ((await reply(respondent, user.id)).text or "")
    await respondent.send_voice(user.id)
    assert "only read text" in ((await reply(respondent, user.id)).text or "")
    await respondent.send_command(user.id, "frobnicate")
    assert "don't know that command" in ((await reply(respondent, user.id)).text or "")
    await respondent.send_text(user.id, "hello?")
    assert "/start" in ((await reply(respondent, user.id)).text or "")
    sent = await respondent.send_text(user.id, "typo")
    await reply(respondent, user.id)
    await respondent.edit_text(user.id, sent.message_id or 0, "fixed")
    assert "does not change your answer" in ((await reply(respondent, user.id)).text or "")
    group = await respondent.create_group("Friends")
    await respondent.send_text(user.id, "hi all", chat_id=group)
    await respondent.send_command(user.id, "start", chat_id=group)
    assert "private chat" in ((await reply(respondent, group)).text or "")
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
        uid, q1 = await open_quiz(respondent)
        await respondent.press(uid, q1.message_id, data=data_of(q1, "2"))
        q2 = await reply(respondent, uid)
        await respondent.press(uid, q2.message_id, data=data_of(q2, "Swimming"))
        await respondent.wait_for_reply(uid)
    # the bot is down; a new Application on the same database takes over
    async with running_bot(engine, bot_base_url):
        await respondent.send_command(uid, "resume")
        resumed = await reply(respondent, uid)
        assert "Welcome back" in (resumed.text or "")
        assert "Question 2 of 4" in (resumed.text or "")
        assert "✅ Swimming" in str(resumed.buttons)  # the tick survived the restart
        await respondent.press(uid, resumed.message_id, data=data_of(resumed, "Done"))
        assert "How old" in ((await reply(respondent, uid)).text or "")
    assert answers_in(engine, uid) == {"mood": 2, "sports": ["swim"]}
