"""A questionnaire's segments: their rows, answers split by segment, members' confidence."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlmodel import Session, col, select

from backend.api.dashboard.queries.distributions import value_label
from backend.api.dashboard.queries.sql import dialect_of, json_scalar
from backend.questionnaire import QuestionnaireDefinition
from backend.questionnaire.schema import (
    LikertQuestion,
    MultipleChoiceQuestion,
    SingleChoiceQuestion,
    YesNoQuestion,
)
from backend.services.segments import UNCERTAIN_BELOW
from backend.storage.segment_tables import Segment, SegmentStatus


def segment_rows(questionnaire_id: int, *, session: Session) -> list[Segment]:
    """Return a questionnaire's active segments as table rows (targeting reads them)."""
    return list(
        session.exec(
            select(Segment)
            .where(Segment.questionnaire_id == questionnaire_id)
            .where(Segment.status == SegmentStatus.ACTIVE)
            .order_by(col(Segment.size).desc())
        ).all()
    )


# --- answers split by segment --------------------------------------------------------------


def answers_by_segment(
    definition: QuestionnaireDefinition,
    version_id: int,
    questionnaire_id: int,
    *,
    session: Session,
) -> dict[str, dict[int, dict[str, int]]]:
    """Count each choice and Likert item's answers by value within each current segment.

    Returns question id -> segment id -> value (as stored: point, option id) -> count.
    Grouped in SQL; only asked for when a marketer splits the answers.
    """
    dialect = dialect_of(session)
    questions = definition.questions()
    scalar = [
        qid
        for qid, q in questions.items()
        if isinstance(q, LikertQuestion | SingleChoiceQuestion | YesNoQuestion)
    ]
    multi = [qid for qid, q in questions.items() if isinstance(q, MultipleChoiceQuestion)]
    out: dict[str, dict[int, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    join = (
        "JOIN quizsession s ON s.id = a.session_id "
        "JOIN segmentassignment g ON g.respondent_id = s.respondent_id "
        "AND g.questionnaire_id = :q "
    )
    if scalar:
        value = json_scalar(dialect, "a.value")
        rows = session.execute(
            text(
                f"SELECT a.question_id, g.segment_id, {value} AS v, COUNT(*) FROM answer a "
                f"{join}WHERE s.version_id = :v AND a.question_id IN :ids "
                "GROUP BY a.question_id, g.segment_id, v"
            ).bindparams(bindparam("ids", expanding=True)),
            {"v": version_id, "q": questionnaire_id, "ids": scalar},
        )
        for qid, segment_id, raw, count in rows:
            if raw is not None:
                out[qid][int(segment_id)][value_label(raw)] = int(count)
    if multi:
        source = (
            "answer a CROSS JOIN LATERAL jsonb_array_elements_text(a.value) AS e(value)"
            if dialect == "postgresql"
            else "answer a, json_each(a.value) AS e"
        )
        rows = session.execute(
            text(
                f"SELECT a.question_id, g.segment_id, e.value, COUNT(*) FROM {source} "
                f"{join}WHERE s.version_id = :v AND a.question_id IN :ids "
                "GROUP BY a.question_id, g.segment_id, e.value"
            ).bindparams(bindparam("ids", expanding=True)),
            {"v": version_id, "q": questionnaire_id, "ids": multi},
        )
        for qid, segment_id, option, count in rows:
            out[qid][int(segment_id)][str(option)] = int(count)
    return {qid: dict(by) for qid, by in out.items()}


# --- segment history and membership --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Confidence:
    """How sure the segmenter is of a segment's members."""

    mean: float
    uncertain: float  # share of members below ``UNCERTAIN_BELOW``
    members: int


def membership_confidence(questionnaire_id: int, *, session: Session) -> dict[int, Confidence]:
    """Return segment id -> its members' mean confidence and share of uncertain members.

    Members assigned before soft membership (no confidence) are left out of both figures.
    """
    rows = session.execute(
        text(
            "SELECT segment_id, AVG(confidence), "
            "AVG(CASE WHEN confidence < :below THEN 1.0 ELSE 0.0 END), COUNT(*) "
            "FROM segmentassignment WHERE questionnaire_id = :q AND confidence IS NOT NULL "
            "GROUP BY segment_id"
        ),
        {"q": questionnaire_id, "below": UNCERTAIN_BELOW},
    )
    return {
        int(segment): Confidence(float(mean), float(uncertain), int(n))
        for segment, mean, uncertain, n in rows
    }
