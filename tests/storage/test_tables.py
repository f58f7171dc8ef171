"""The tables keep the promises the services rely on, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import ColumnElement, Engine, func
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import Session, col, select

from backend.storage.engine import session_scope
from backend.storage.models import (
    Answer,
    Questionnaire,
    QuestionnaireVersion,
    QuizSession,
    Respondent,
    SessionScore,
    SessionStatus,
)


def add_completed_session(engine: Engine, *, telegram_user_id: int) -> tuple[int, int, int]:
    """Store a respondent with one scored session of two answers; return the three ids."""
    with session_scope(engine) as session:
        questionnaire = Questionnaire(key=f"big5-{telegram_user_id}", title="Big Five")
        respondent = Respondent(telegram_user_id=telegram_user_id, first_name="Ada")
        session.add_all([questionnaire, respondent])
        session.flush()
        assert questionnaire.id is not None
        assert respondent.id is not None
        version = QuestionnaireVersion(
            questionnaire_id=questionnaire.id,
            version=1,
            content_hash="0" * 64,
            definition={"id": "big5", "questions": [{"id": "q1"}, {"id": "q2"}]},
        )
        session.add(version)
        session.flush()
        assert version.id is not None
        questionnaire.current_version_id = version.id
        quiz = QuizSession(
            respondent_id=respondent.id,
            version_id=version.id,
            status=SessionStatus.COMPLETED,
            completed_at=datetime.now(UTC),
        )
        session.add(quiz)
        session.flush()
        assert quiz.id is not None
        session.add_all(
            [
                Answer(session_id=quiz.id, question_id="q1", value=4),
                Answer(session_id=quiz.id, question_id="q2", value=["hiking", "yoga"]),
                SessionScore(
                    session_id=quiz.id,
                    respondent_id=respondent.id,
                    questionnaire_id=questionnaire.id,
                    version_id=version.id,
                    scores={"openness": 4.0, "neuroticism": None},
                    scores_100={"openness": 75.0, "neuroticism": None},
                ),
            ]
        )
        return respondent.id, quiz.id, questionnaire.id


def count(session: Session, model: type, *where: ColumnElement[bool]) -> int:
    return session.exec(select(func.count()).select_from(model).where(*where)).one()


def test_erasing_a_respondent_removes_their_sessions_answers_and_scores(engine: Engine) -> None:
    erased, erased_session, _ = add_completed_session(engine, telegram_user_id=1)
    kept, kept_session, _ = add_completed_session(engine, telegram_user_id=2)

    with session_scope(engine) as session:
        session.delete(session.get_one(Respondent, erased))

    with Session(engine) as session:
        assert session.get(Respondent, erased) is None
        assert count(session, QuizSession, col(QuizSession.respondent_id) == erased) == 0
        assert count(session, Answer, col(Answer.session_id) == erased_session) == 0
        assert count(session, SessionScore, col(SessionScore.respondent_id) == erased) == 0
        # Everyone else, and the questionnaires, stay.
        assert count(session, Answer, col(Answer.session_id) == kept_session) == 2
        assert count(session, SessionScore, col(SessionScore.respondent_id) == kept) == 1
        assert count(session, Questionnaire) == 2


def test_a_session_answers_each_question_once(engine: Engine) -> None:
    _, quiz_id, _ = add_completed_session(engine, telegram_user_id=1)

    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(Answer(session_id=quiz_id, question_id="q1", value=2))

    with Session(engine) as session:
        answers = session.exec(select(Answer).where(Answer.session_id == quiz_id)).all()
        assert sorted((a.question_id, a.value) for a in answers) == [
            ("q1", 4),
            ("q2", ["hiking", "yoga"]),
        ]


def test_current_version_must_exist(engine: Engine) -> None:
    # The questionnaire <-> version foreign key closes a cycle; it must exist on both backends.
    _, _, questionnaire_id = add_completed_session(engine, telegram_user_id=1)

    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.get_one(Questionnaire, questionnaire_id).current_version_id = 9999


def test_answers_to_unknown_sessions_are_rejected(engine: Engine) -> None:
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(Answer(session_id=9999, question_id="q1", value=1))


def test_timestamps_round_trip_as_aware_utc(engine: Engine) -> None:
    # 12:30 in UTC+02:00 is 10:30 UTC, and must come back as exactly that instant, in UTC.
    given = datetime(2024, 3, 31, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    with session_scope(engine) as session:
        respondent = Respondent(external_id="crm-1", created_at=given)
        session.add(respondent)
    with Session(engine) as session:
        stored = session.exec(select(Respondent)).one()
    assert stored.created_at == given
    assert stored.created_at.tzinfo is UTC
    assert stored.created_at.hour == 10
    assert stored.updated_at.tzinfo is UTC


def test_timestamps_compare_in_time_order(engine: Engine) -> None:
    early = datetime(2024, 1, 1, 23, 0, tzinfo=timezone(timedelta(hours=-5)))  # 04:00 UTC next day
    late = datetime(2024, 1, 2, 5, 0, tzinfo=UTC)
    with session_scope(engine) as session:
        session.add_all([Respondent(external_id="late", created_at=late)])
        session.add_all([Respondent(external_id="early", created_at=early)])
    with Session(engine) as session:
        ordered = session.exec(select(Respondent.external_id).order_by(col(Respondent.created_at)))
        assert list(ordered) == ["early", "late"]
        cutoff = datetime(2024, 1, 2, 4, 30, tzinfo=UTC)
        after = session.exec(
            select(Respondent.external_id).where(col(Respondent.created_at) > cutoff)
        )
        assert list(after) == ["late"]


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    with pytest.raises(StatementError, match="naive datetime"), session_scope(engine) as session:
        session.add(Respondent(external_id="x", created_at=datetime(2024, 1, 1)))  # noqa: DTZ001
