"""The marketer's segments: list, rename, runs, and which questionnaires are due a run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.services.questionnaires import active_versions, definition_of, get_questionnaire
from backend.storage.models import SessionScore
from backend.storage.segment_tables import (
    RunStatus,
    Segment,
    SegmentationRun,
    SegmentationRunPublic,
    SegmentPublic,
    SegmentStatus,
)
from backend.storage.types import utcnow


class SegmentNotFound(LookupError):
    """No segment has the given id."""

    def __init__(self, segment_id: int) -> None:
        super().__init__(
            f"no segment with id {segment_id}; `psychograph segments show` lists them"
        )
        self.segment_id = segment_id


def rename_segment(
    *,
    session: Session,
    segment_id: int,
    name: str | None = None,
    description: str | None = None,
) -> SegmentPublic:
    """Rename a segment and/or rewrite its description; later runs keep what is set here."""
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise SegmentNotFound(segment_id)
    if name is not None:
        name = name.strip()
        if not name:
            raise ValueError("a segment name cannot be empty")
        if len(name) > 256:
            raise ValueError(f"a segment name has at most 256 characters, got {len(name)}")
        segment.name = name
        segment.name_edited = True
    if description is not None:
        segment.description = description.strip()
        segment.description_edited = True
    segment.updated_at = utcnow()
    session.add(segment)
    session.flush()
    return SegmentPublic.model_validate(segment)


def list_segments(
    *, session: Session, questionnaire_key: str, include_retired: bool = False
) -> list[SegmentPublic]:
    """Return a questionnaire's segments, largest first (retired ones last, if asked for)."""
    questionnaire = get_questionnaire(questionnaire_key, session=session)
    query = select(Segment).where(Segment.questionnaire_id == questionnaire.id)
    if not include_retired:
        query = query.where(Segment.status == SegmentStatus.ACTIVE)
    rows = session.exec(query.order_by(col(Segment.status), col(Segment.size).desc())).all()
    return [SegmentPublic.model_validate(s) for s in rows]


def runs(
    *, session: Session, questionnaire_key: str, limit: int = 20
) -> list[SegmentationRunPublic]:
    """Return a questionnaire's latest runs, newest first."""
    questionnaire = get_questionnaire(questionnaire_key, session=session)
    rows = session.exec(
        select(SegmentationRun)
        .where(SegmentationRun.questionnaire_id == questionnaire.id)
        .order_by(col(SegmentationRun.id).desc())
        .limit(limit)
    ).all()
    return [SegmentationRunPublic.model_validate(r) for r in rows]


def segmented_questionnaires(*, session: Session) -> list[str]:
    """Return the keys of active questionnaires that are segmented: every one with at least
    one dimension (with the documented defaults when it has no ``segmentation`` key)."""
    return [
        questionnaire.key
        for questionnaire, version in active_versions(session=session)
        if definition_of(version).segmentation_dimensions()
    ]


def latest_run_started(*, session: Session, questionnaire_key: str) -> datetime | None:
    """Return when the latest running or succeeded run started, if any."""
    questionnaire = get_questionnaire(questionnaire_key, session=session)
    return session.exec(
        select(func.max(SegmentationRun.started_at)).where(
            SegmentationRun.questionnaire_id == questionnaire.id,
            col(SegmentationRun.status).in_([RunStatus.RUNNING, RunStatus.SUCCEEDED]),
        )
    ).one()


def completions_since_last_run(*, session: Session, questionnaire_key: str) -> int:
    """Count sessions completed since the latest run (running or succeeded) started."""
    questionnaire = get_questionnaire(questionnaire_key, session=session)
    since = latest_run_started(session=session, questionnaire_key=questionnaire_key)
    query = select(func.count()).where(SessionScore.questionnaire_id == questionnaire.id)
    if since is not None:
        query = query.where(SessionScore.completed_at > since)
    return int(session.exec(query).one())
