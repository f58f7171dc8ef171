"""The door from segments into follow-ups: stored assignments become targeting input, and
their content is queued in the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from backend.followups import (
    Assignment,
    EnqueueReport,
    SegmentView,
    enqueue_for_assignments,
    has_packs,
    packs_for,
    segment_view,
)
from backend.services.questionnaires import questionnaire_definition
from backend.storage.engine import session_scope
from backend.storage.models import Questionnaire
from backend.storage.segment_tables import Segment, SegmentAssignment

#: Respondents whose follow-ups are queued per transaction after a run.
ENQUEUE_BATCH = 2_000


def assignments_from_rows(
    *, session: Session, rows: Sequence[SegmentAssignment]
) -> list[Assignment]:
    """Describe stored assignments for targeting (rows of vanished segments are left out)."""
    segment_ids = {row.segment_id for row in rows}
    segments = {
        s.id: s for s in session.exec(select(Segment).where(col(Segment.id).in_(segment_ids)))
    }
    keys: dict[int, str] = {}
    views: dict[int, SegmentView] = {}
    out = []
    for row in rows:
        segment = segments.get(row.segment_id)
        if segment is None:
            continue
        if row.segment_id not in views:
            questionnaire = session.get(Questionnaire, segment.questionnaire_id)
            if questionnaire is None:
                continue
            keys[row.segment_id] = questionnaire.key
            definition = questionnaire_definition(questionnaire.key, session=session)
            views[row.segment_id] = segment_view(segment, definition)
        out.append(
            Assignment(
                respondent_id=row.respondent_id,
                questionnaire_key=keys[row.segment_id],
                segment=views[row.segment_id],
                assigned_at=row.assigned_at,
                confidence=row.confidence,
            )
        )
    return out


def enqueue_assignments(
    *, session: Session, rows: Sequence[SegmentAssignment], now: datetime | None = None
) -> EnqueueReport:
    """Queue the follow-ups due after stored assignments (call in their transaction)."""
    assignments = assignments_from_rows(session=session, rows=rows)
    return enqueue_for_assignments(session=session, assignments=assignments, now=now)


def enqueue_new_assignment(
    *, session: Session, row: SegmentAssignment, questionnaire_key: str
) -> EnqueueReport:
    """Queue the follow-ups of an assignment made at a completion (call in its transaction).

    Runs on the answer path: without content packs for the questionnaire, one read.
    """
    if not has_packs(session=session, questionnaire_key=questionnaire_key):
        return EnqueueReport()
    return enqueue_assignments(session=session, rows=[row])


def enqueue_run_followups(
    *, engine: Engine, questionnaire_key: str, questionnaire_id: int, run_id: int
) -> int:
    """Queue the follow-ups of respondents this run assigned anew or moved; return how many
    outbox rows were queued. Nothing to do (and nothing read) without content packs."""
    with session_scope(engine) as session:
        if not packs_for(session=session, questionnaire_key=questionnaire_key):
            return 0
        respondents = list(
            session.exec(
                select(SegmentAssignment.respondent_id).where(
                    SegmentAssignment.questionnaire_id == questionnaire_id,
                    SegmentAssignment.run_id == run_id,
                )
            ).all()
        )
    queued = 0
    for start in range(0, len(respondents), ENQUEUE_BATCH):
        batch = respondents[start : start + ENQUEUE_BATCH]
        with session_scope(engine) as session:
            rows = session.exec(
                select(SegmentAssignment).where(
                    SegmentAssignment.questionnaire_id == questionnaire_id,
                    col(SegmentAssignment.respondent_id).in_(batch),
                )
            ).all()
            queued += enqueue_assignments(session=session, rows=rows).queued
    return queued
