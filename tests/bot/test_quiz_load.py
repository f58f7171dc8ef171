"""Many respondents at once, and Telegram's flood limits."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from backend.questionnaire import QuestionnaireDefinition, load_definition
from backend.services.questionnaires import import_definition
from backend.storage.engine import session_scope
from backend.storage.models import Answer, QuizSession, SessionScore, SessionStatus
from bot.sandbox import SandboxClient, SandboxConfig
from bot.simulator import ScriptedRespondent
from tests.helpers.chat import random_chooser
from tests.helpers.definitions import TINY
from tests.helpers.quizbot import running_bot


@pytest.fixture
def tiny_definition(engine: Engine) -> QuestionnaireDefinition:
    definition = load_definition(TINY)
    with session_scope(engine) as session:
        import_definition(definition, session=session)
    return definition


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(rate_limit_enabled=False)


async def test_200_concurrent_respondents_every_answer_stored_exactly_once(
    engine: Engine,
    tiny_definition: QuestionnaireDefinition,
    bot_base_url: str,
    respondent: SandboxClient,
) -> None:
    definition = tiny_definition
    users = [await respondent.create_user(first_name=f"R{i}") for i in range(200)]
    scripts = [
        ScriptedRespondent(respondent, u.id, definition, random_chooser(i), timeout=60)
        for i, u in enumerate(users)
    ]
    async with running_bot(engine, bot_base_url):
        transcripts = await asyncio.gather(*(s.take(definition.id) for s in scripts))
    sent = sum(len(t.answers) for t in transcripts)
    with session_scope(engine) as session:
        stored = session.exec(select(func.count()).select_from(Answer)).one()
        completed = session.exec(
            select(func.count())
            .select_from(QuizSession)
            .where(QuizSession.status == SessionStatus.COMPLETED)
        ).one()
        scores = session.exec(select(func.count()).select_from(SessionScore)).one()
    assert sent >= 200 * (len(definition.questions()) - 1)  # the last one is optional
    assert stored == 200 * len(definition.questions())  # a skip is stored as a skip
    assert completed == scores == 200


@pytest.mark.parametrize("sandbox_config", [SandboxConfig()])  # strict, as Telegram
async def test_the_bot_keeps_within_flood_limits_instead_of_failing(
    engine: Engine,
    tiny_definition: QuestionnaireDefinition,
    bot_base_url: str,
    respondent: SandboxClient,
) -> None:
    """With Telegram's per-chat limit on, a fast respondent is paced, never dropped."""
    user = await respondent.create_user(first_name="Speedy")
    quick = ScriptedRespondent(respondent, user.id, tiny_definition, random_chooser(3), timeout=30)
    async with running_bot(engine, bot_base_url, rate_limit=True):
        transcript = await quick.take(tiny_definition.id)
    stats = await respondent.stats()
    assert "Your profile" in transcript.result
    assert stats["rate_limited"] == 0  # paced: the sandbox never had to push back
    assert transcript.latencies[-1] >= 0.9  # one message a second in the chat
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(Answer)).one() == 4
