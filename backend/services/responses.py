"""Response service: score completed sessions, read answers back, compute reliability."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlmodel import Session, col, select

from backend.scoring import DimensionReliability, ScoringKey, reliability, score_answers
from backend.services.questionnaires import current_version, definition_of, get_questionnaire
from backend.storage.models import (
    Answer,
    QuestionnaireVersion,
    QuizSession,
    SessionScore,
    SessionStatus,
)
from backend.storage.types import utcnow


def answers_of(session_id: int, *, session: Session) -> dict[str, Any]:
    """Return a session's current answers as question id -> value."""
    rows = session.exec(
        select(Answer.question_id, Answer.value).where(Answer.session_id == session_id)
    ).all()
    return dict(rows)


def record_scores(quiz_session: QuizSession, *, session: Session) -> SessionScore:
    """Score a finished session and store its dimension vector (replacing an earlier one)."""
    assert quiz_session.id is not None
    version = session.get(QuestionnaireVersion, quiz_session.version_id)
    assert version is not None
    assert version.id is not None
    key = ScoringKey.from_definition(definition_of(version))
    scores, scores_100 = score_answers(key, answers_of(quiz_session.id, session=session))
    completed_at = quiz_session.completed_at or utcnow()
    row = session.get(SessionScore, quiz_session.id)
    if row is None:
        row = SessionScore(
            session_id=quiz_session.id,
            respondent_id=quiz_session.respondent_id,
            questionnaire_id=version.questionnaire_id,
            version_id=version.id,
            completed_at=completed_at,
            scores=scores,
            scores_100=scores_100,
        )
    else:
        row.scores, row.scores_100, row.completed_at = scores, scores_100, completed_at
    session.add(row)
    session.flush()
    return row


def version_reliability(
    key: str, *, session: Session, version: int | None = None
) -> tuple[QuestionnaireVersion, int, list[DimensionReliability]]:
    """Compute alpha and item-total correlations of one version from its completed sessions.

    Returns the version, the number of completed sessions read, and one result per
    dimension.
    """
    questionnaire = get_questionnaire(key, session=session)
    if version is None:
        stored = current_version(key, session=session)
    else:
        found = session.exec(
            select(QuestionnaireVersion).where(
                QuestionnaireVersion.questionnaire_id == questionnaire.id,
                QuestionnaireVersion.version == version,
            )
        ).first()
        if found is None:
            raise LookupError(f"{key!r} has no version {version}")
        stored = found
    scoring_key = ScoringKey.from_definition(definition_of(stored))
    by_session: dict[int, dict[str, Any]] = defaultdict(dict)
    rows = session.exec(
        select(Answer.session_id, Answer.question_id, Answer.value)
        .join(QuizSession, col(QuizSession.id) == Answer.session_id)
        .where(
            QuizSession.version_id == stored.id,
            QuizSession.status == SessionStatus.COMPLETED,
        )
    ).all()
    for session_id, question_id, value in rows:
        by_session[session_id][question_id] = value
    raw = scoring_key.raw_matrix(list(by_session.values()))
    return stored, len(by_session), reliability(scoring_key, raw)
