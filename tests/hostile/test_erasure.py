"""Erased stays erased: late, redelivered or replayed updates never re-create a person.

What is kept of them is a keyed hash of their Telegram user id and their last update id,
nothing that says who they were. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, func, update
from sqlmodel import select

from backend.api.app import create_app
from backend.questionnaire import load_definition_file
from backend.quiz import QuestionAction
from backend.services.questionnaires import import_definition
from backend.services.quiz import (
    ChatUser,
    Duplicate,
    QuizService,
    erasure_hash,
)
from backend.settings import Role, Settings
from backend.storage.engine import session_scope
from backend.storage.models import Answer, Erasure, QuizSession, Respondent
from backend.storage.types import utcnow

ROOT = Path(__file__).resolve().parents[2]
KEY = b"k" * 32
ALICE = ChatUser(user_id=4242, chat_id=4242, first_name="Alice", language_code="en")


@pytest.fixture
def service(engine: Engine) -> QuizService:
    with session_scope(engine) as session:
        import_definition(
            load_definition_file(ROOT / "questionnaires" / "values-attitudes.yaml"),
            session=session,
        )
    return QuizService(engine, erasure_key=KEY)


def count(engine: Engine, table: Any) -> int:
    with session_scope(engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def answer_some(service: QuizService) -> None:
    """Alice opens the quiz (update 100), begins (101) and answers one question (102)."""
    step = service.start(user=ALICE, key="values-attitudes", update_id=100)
    if step.kind == "intro":
        step = service.begin(user=ALICE, session_id=step.session_id, update_id=101)
    assert step.question is not None
    index = list(step.definition.questions()).index(step.question.id)
    service.press(
        user=ALICE,
        session_id=step.session_id,
        question_index=index,
        action=QuestionAction.ANSWER,
        raw="3",
        update_id=102,
    )


def erase(service: QuizService, update_id: int = 103) -> None:
    assert service.delete_me(user=ALICE, update_id=update_id)


def replays(service: QuizService) -> list[Callable[[], object]]:
    """Every kind of update Alice sent before she erased her data, delivered again."""
    return [
        lambda: service.start(user=ALICE, key="values-attitudes", update_id=100),
        lambda: service.answer_text(user=ALICE, text="4", update_id=102),
        lambda: service.resume(user=ALICE, update_id=101),
        lambda: service.privacy(user=ALICE, update_id=99),
        lambda: service.set_opt_out(user=ALICE, opted_out=True, update_id=98),
        lambda: service.touch(user=ALICE, update_id=103),
        lambda: service.cancel(user=ALICE, update_id=97),
        lambda: service.restart(user=ALICE, update_id=96),
    ]


def test_replayed_updates_do_not_recreate_an_erased_person(
    engine: Engine, service: QuizService
) -> None:
    answer_some(service)
    erase(service)
    assert count(engine, Respondent) == 0

    for replay in replays(service):
        with pytest.raises(Duplicate):
            replay()

    assert count(engine, Respondent) == 0
    assert count(engine, QuizSession) == 0
    assert count(engine, Answer) == 0


def test_the_tombstone_keeps_no_identity(engine: Engine, service: QuizService) -> None:
    answer_some(service)
    erase(service)
    with session_scope(engine) as session:
        rows = session.exec(select(Erasure)).all()
    assert len(rows) == 1
    tombstone = rows[0]
    assert tombstone.last_update_id == 103
    assert tombstone.user_hash == erasure_hash(KEY, ALICE.user_id)
    assert str(ALICE.user_id) not in tombstone.user_hash
    # keyed: without the key the hash cannot be recomputed from a guessed id
    assert erasure_hash(b"another key", ALICE.user_id) != tombstone.user_hash
    assert len(tombstone.user_hash) == 64


def test_a_newer_update_brings_the_person_back(engine: Engine, service: QuizService) -> None:
    answer_some(service)
    erase(service)

    step = service.start(user=ALICE, key="values-attitudes", update_id=104)

    assert step.kind in {"intro", "question"}
    assert count(engine, Respondent) == 1
    assert count(engine, Erasure) == 0  # nothing kept once they are back
    # their old updates are still old: the new row's own marker refuses them
    with pytest.raises(Duplicate):
        service.answer_text(user=ALICE, text="4", update_id=102)


def test_erasing_twice_says_erased_both_times(engine: Engine, service: QuizService) -> None:
    answer_some(service)
    erase(service, 103)
    assert service.delete_me(user=ALICE, update_id=103)  # the same press, redelivered
    assert service.delete_me(user=ALICE, update_id=104)  # pressed again
    assert count(engine, Respondent) == 0
    stranger = ChatUser(user_id=1, chat_id=1)
    assert not service.delete_me(user=stranger, update_id=105)


def test_after_a_week_ids_are_not_compared(engine: Engine, service: QuizService) -> None:
    # Telegram restarts update ids at random after a week without updates: an old tombstone
    # must not lock a returning person out.
    answer_some(service)
    erase(service)
    with session_scope(engine) as session:
        session.exec(update(Erasure).values(erased_at=utcnow() - timedelta(days=8)))

    service.start(user=ALICE, key="values-attitudes", update_id=5)

    assert count(engine, Respondent) == 1


def test_old_tombstones_are_pruned_at_the_next_erasure(
    engine: Engine, service: QuizService
) -> None:
    answer_some(service)
    erase(service)
    with session_scope(engine) as session:
        session.exec(update(Erasure).values(erased_at=utcnow() - timedelta(days=8)))
    bob = ChatUser(user_id=77, chat_id=77, first_name="Bob")
    service.start(user=bob, key="values-attitudes", update_id=200)
    assert service.delete_me(user=bob, update_id=201)
    with session_scope(engine) as session:
        hashes = {row.user_hash for row in session.exec(select(Erasure)).all()}
    assert hashes == {erasure_hash(KEY, bob.user_id)}


async def test_an_erasure_through_the_api_keeps_a_tombstone_too(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], engine: Engine
) -> None:
    settings = Settings(
        database_url="sqlite://",
        api_tokens={"ops-token-0123456789": Role.OPS},
        erasure_secret=SecretStr("erasure-secret-0123456789"),
    )
    service = QuizService(engine, erasure_key=settings.erasure_key())
    with session_scope(engine) as session:
        import_definition(
            load_definition_file(ROOT / "questionnaires" / "values-attitudes.yaml"),
            session=session,
        )
    answer_some(service)
    with session_scope(engine) as session:
        respondent_id = session.exec(select(Respondent.id)).one()
    client = await aiohttp_client(create_app(settings, engine, quiz=service))

    response = await client.delete(
        f"/api/respondents/{respondent_id}",
        headers={"Authorization": "Bearer ops-token-0123456789"},
    )

    assert response.status == 200
    with pytest.raises(Duplicate):
        service.answer_text(user=ALICE, text="4", update_id=102)
    assert count(engine, Respondent) == 0


def test_the_erasure_key_comes_from_the_settings() -> None:
    explicit = Settings(
        database_url="sqlite://", erasure_secret=SecretStr("one-secret-0123456789")
    )
    other = Settings(database_url="sqlite://", erasure_secret=SecretStr("two-secret-0123456789"))
    from_bot = Settings(database_url="sqlite://", bot_token=SecretStr("123:abc"))
    assert explicit.erasure_key() != other.erasure_key()
    assert (
        explicit.erasure_key()
        == Settings(
            database_url="sqlite://", erasure_secret=SecretStr("one-secret-0123456789")
        ).erasure_key()
    )
    assert from_bot.erasure_key() != Settings(database_url="sqlite://").erasure_key()
