"""The end of a quiz: keep the answers on the respondent's path, score them, assign a segment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, delete, func
from sqlmodel import Session, col, select

from backend.questionnaire.schema import QuestionnaireDefinition
from backend.quiz import QuizNavigator, SegmentInfo, Step, StepKind, profile
from backend.scoring import ScoringKey
from backend.services.responses import record_scores
from backend.storage.models import Answer, QuizSession, Respondent, SessionScore, SessionStatus
from backend.storage.segment_tables import Segment, SegmentAssignment
from backend.storage.types import utcnow

#: The respondent's time zone and their completed quizzes, in one round trip.
_TIMEZONE_AND_COMPLETED = select(
    col(Respondent.timezone),
    select(func.count())
    .select_from(QuizSession)
    .where(
        col(QuizSession.respondent_id) == col(Respondent.id),
        col(QuizSession.status) == SessionStatus.COMPLETED,
    )
    .scalar_subquery()
    .label("completed"),
).where(col(Respondent.id) == bindparam("respondent_id"))

#: Called when a session completes, inside its transaction: returns the segment, if any.
SegmentAssigner = Callable[[Session, SessionScore], SegmentInfo | None]


def complete(
    *,
    session: Session,
    quiz: QuizSession,
    questionnaire_id: int,
    definition: QuestionnaireDefinition,
    scoring: ScoringKey,
    navigator: QuizNavigator,
    answers: dict[str, Any],
    assign_segment: SegmentAssigner | None,
) -> Step:
    """Complete the session: drop answers off the final path, store the scores, and return
    the result step (with the segment ``assign_segment`` gives, if any).

    ``questionnaire_id``, ``definition`` and ``scoring`` are those of the session's version.
    """
    assert quiz.id is not None
    kept = navigator.kept_answers(answers)
    dropped = [q for q in answers if q not in kept]
    if dropped:
        session.exec(
            delete(Answer).where(
                col(Answer.session_id) == quiz.id, col(Answer.question_id).in_(dropped)
            )
        )
    quiz.status = SessionStatus.COMPLETED
    quiz.cursor = None
    quiz.completed_at = utcnow()
    quiz.updated_at = utcnow()
    session.add(quiz)
    # An active session was never scored: its vector is new.
    score = record_scores(
        quiz, session=session, answers=kept, first=True, scoring=(questionnaire_id, scoring)
    )
    segment = assign_segment(session, score) if assign_segment is not None else None
    return _result(session=session, quiz=quiz, definition=definition, score=score, segment=segment)


def stored_result(
    *, session: Session, quiz: QuizSession, definition: QuestionnaireDefinition
) -> Step:
    """The result step of a session completed earlier, from its stored scores and its
    respondent's segment: to send again a result that a crash kept from the respondent."""
    assert quiz.id is not None
    score = session.get(SessionScore, quiz.id)
    assert score is not None  # stored in the completing transaction
    segment = None
    assignment = session.get(SegmentAssignment, (score.questionnaire_id, score.respondent_id))
    if assignment is not None:
        found = session.get(Segment, assignment.segment_id)
        if found is not None and found.id is not None:
            segment = SegmentInfo(
                segment_id=found.id, name=found.name, description=found.description
            )
    return _result(session=session, quiz=quiz, definition=definition, score=score, segment=segment)


def _result(
    *,
    session: Session,
    quiz: QuizSession,
    definition: QuestionnaireDefinition,
    score: SessionScore,
    segment: SegmentInfo | None,
) -> Step:
    assert quiz.id is not None
    # The time zone is asked after the first quiz only, and only when it is not known.
    row = session.execute(_TIMEZONE_AND_COMPLETED, {"respondent_id": quiz.respondent_id}).first()
    ask_timezone = row is not None and not row.timezone and row.completed == 1
    return Step(
        kind=StepKind.RESULT,
        session_id=quiz.id,
        definition=definition,
        language=quiz.language,
        profile=profile(definition, score.scores_100, quiz.language),
        segment=segment,
        ask_timezone=ask_timezone,
    )
