"""The quiz bot end to end: the real Application, over HTTP, against the sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from backend.questionnaire import QuestionnaireDefinition
from backend.scoring import ScoringKey, score_answers
from backend.storage.engine import session_scope
from backend.storage.models import Answer, QuizSession, SessionScore, SessionStatus
from bot.sandbox import SandboxClient, SandboxConfig
from bot.simulator import ScriptedRespondent
from tests.helpers.chat import random_chooser


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    # Scripted respondents answer far faster than people, so Telegram's per-chat pacing
    # would dominate every test; the limits have their own test below.
    return SandboxConfig(rate_limit_enabled=False)


def stored(engine: Engine, user_id: int) -> tuple[QuizSession, dict[str, Any], SessionScore]:
    with session_scope(engine) as session:
        from backend.storage.models import Respondent

        respondent = session.exec(
            select(Respondent).where(Respondent.telegram_user_id == user_id)
        ).one()
        quiz = session.exec(
            select(QuizSession).where(QuizSession.respondent_id == respondent.id)
        ).one()
        answers = {
            a.question_id: a.value
            for a in session.exec(select(Answer).where(Answer.session_id == quiz.id)).all()
        }
        score = session.exec(select(SessionScore).where(SessionScore.session_id == quiz.id)).one()
        return quiz, answers, score


@pytest.mark.parametrize("key", ["big-five-ipip", "fitness-aio", "values-attitudes"])
async def test_every_bundled_questionnaire_is_completed_and_stored_as_sent(
    key: str,
    engine: Engine,
    quiz_definitions: dict[str, QuestionnaireDefinition],
    quiz_bot: object,
    respondent: SandboxClient,
) -> None:
    definition = quiz_definitions[key]
    user = await respondent.create_user(first_name="Ana", language_code="en")
    script = ScriptedRespondent(respondent, user.id, definition, random_chooser(7))
    transcript = await script.take(key)
    assert "Your profile" in transcript.result
    quiz, answers, score = stored(engine, user.id)
    assert quiz.status == SessionStatus.COMPLETED
    assert answers == transcript.answers
    expected, expected_100 = score_answers(ScoringKey.from_definition(definition), answers)
    assert score.scores == expected
    assert score.scores_100 == expected_100
    for dimension in definition.dimensions:
        assert definition.text(dimension.label) in transcript.result
