"""Queueing: after an assignment, the content due to the respondent goes into the outbox.

Targeting input is an :class:`Assignment` (a respondent entering a :class:`SegmentView`),
whoever stores the segments; :func:`segment_view` describes a stored segment.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from backend.followups.content import ContentPack
from backend.followups.outbox.packs import packs_for
from backend.followups.targeting import SegmentView, TraitView, choose_variant, select_items
from backend.followups.templates import render, render_context
from backend.questionnaire import QuestionnaireDefinition
from backend.scoring import ScoringKey
from backend.storage.followup_tables import FollowupMessage
from backend.storage.followup_tables import FollowupStatus as S
from backend.storage.models import Questionnaire, Respondent, SessionScore
from backend.storage.segment_tables import Segment
from backend.storage.types import utcnow

#: The reason of a row cancelled because its respondent moved to another segment.
SEGMENT_CHANGED = "segment changed"


@dataclass(frozen=True)
class Assignment:
    """A respondent entering a segment: what queueing needs, however segments are stored."""

    respondent_id: int
    questionnaire_key: str
    segment: SegmentView
    #: When the respondent entered the segment: the sequence's delays count from here.
    assigned_at: datetime | None = None
    #: The respondent's own 0-100 scores; None reads their latest completed session.
    scores: Mapping[str, float | None] | None = None
    #: How sure the segmentation is of this segment (its probability); None when unknown.
    confidence: float | None = 1.0


def segment_view(segment: Segment, definition: QuestionnaireDefinition | None) -> SegmentView:
    """Describe a stored segment for targeting: 0-100 means and bands from the definition."""
    scores: dict[str, float] = {}
    bands: dict[str, str] = {}
    if definition is not None:
        key = ScoringKey.from_definition(definition)
        for dim, (low, high) in zip(key.dimensions, key.ranges, strict=True):
            value = segment.centroid.get(dim)
            if value is None or high <= low:
                continue
            score = max(0.0, min(100.0, (float(value) - low) / (high - low) * 100.0))
            scores[dim] = score
            for band in definition.dimension(dim).bands:
                if score <= band.up_to:
                    bands[dim] = band.label
                    break
    traits = tuple(
        TraitView(
            dimension=str(t.get("dimension", "")),
            direction=str(t.get("direction", "high")),
            adjective=str(t.get("adjective", "")),
            label=str(t.get("label", "")),
            z=float(t.get("z", 0.0)),
        )
        for t in segment.traits
    )
    return SegmentView(
        id=str(segment.id),
        name=segment.name,
        description=segment.description,
        z_scores={k: float(v) for k, v in segment.z_scores.items()},
        scores=scores,
        bands=bands,
        traits=traits,
    )


@dataclass
class EnqueueReport:
    queued: int = 0
    moved: int = 0
    cancelled: int = 0
    already: int = 0
    expired: int = 0
    failed: int = 0


def _latest_scores(
    session: Session, respondent_id: int, questionnaire_key: str
) -> dict[str, float | None]:
    row = session.exec(
        select(SessionScore.scores_100)
        .join(Questionnaire, col(Questionnaire.id) == SessionScore.questionnaire_id)
        .where(SessionScore.respondent_id == respondent_id, Questionnaire.key == questionnaire_key)
        .order_by(col(SessionScore.completed_at).desc())
        .limit(1)
    ).first()
    return dict(row) if row else {}


def _insert_ignoring_duplicates(session: Session, row: FollowupMessage) -> bool:
    values = row.model_dump(exclude={"id"})
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(FollowupMessage).values(**values).on_conflict_do_nothing()
    result = cast(CursorResult[Any], session.execute(stmt))
    return bool(result.rowcount)


def enqueue_for_assignments(
    *,
    session: Session,
    assignments: Iterable[Assignment],
    now: datetime | None = None,
) -> EnqueueReport:
    """Queue the content due to each respondent after an assignment (call in its transaction).

    Each (respondent, item) is queued at most once. When a respondent's segment changed, their
    unsent items of the old segment are cancelled (or carried over when the new segment's
    sequence has them too) and the new segment's sequence starts from ``assigned_at``. Items
    whose time is past their expiry are skipped.
    """
    now = now or utcnow()
    report = EnqueueReport()
    packs_by_key: dict[str, list[ContentPack]] = {}
    for assignment in assignments:
        key = assignment.questionnaire_key
        if key not in packs_by_key:
            packs_by_key[key] = packs_for(session=session, questionnaire_key=key)
        if not packs_by_key[key]:
            continue
        respondent = session.get(Respondent, assignment.respondent_id)
        if respondent is None:
            continue
        scores = assignment.scores
        if scores is None:
            scores = _latest_scores(session, assignment.respondent_id, key)
        for pack in packs_by_key[key]:
            _enqueue_one(session, pack, respondent, assignment, scores, now, report)
    return report


def _enqueue_one(
    session: Session,
    pack: ContentPack,
    respondent: Respondent,
    assignment: Assignment,
    scores: Mapping[str, float | None],
    now: datetime,
    report: EnqueueReport,
) -> None:
    assert respondent.id is not None
    segment = assignment.segment
    existing = {
        row.item_id: row
        for row in session.exec(
            select(FollowupMessage).where(
                FollowupMessage.respondent_id == respondent.id,
                FollowupMessage.pack_key == pack.key,
            )
        )
    }
    context = render_context(
        first_name=respondent.first_name or pack.definition.fallback_first_name,
        segment=segment,
        scores=scores,
    )
    anchor = assignment.assigned_at or now
    planned = select_items(pack.definition, pack.rules, segment, confidence=assignment.confidence)
    planned_ids = {p.item.id for p in planned}
    for old in existing.values():
        if old.segment_key != segment.id and old.status == S.PENDING:
            if old.item_id in planned_ids:
                continue  # carried over below, with the new segment's wording and timing
            old.status = S.CANCELLED
            old.reason = f"{SEGMENT_CHANGED} to {segment.name!r} before it was sent"
            old.updated_at = now
            session.add(old)
            report.cancelled += 1
    for step, plan in enumerate(planned):
        due = anchor + plan.send_after
        expires = due + plan.expires_after
        row = existing.get(plan.item.id)
        movable = row is not None and (
            (row.status == S.PENDING and row.segment_key != segment.id)
            or (row.status == S.CANCELLED and (row.reason or "").startswith(SEGMENT_CHANGED))
        )
        if row is not None and not movable:
            report.already += 1
            continue
        if expires <= now:
            report.expired += 1
            continue
        variant = choose_variant(plan.item, respondent.id)
        template = variant.text if variant else plan.item.text or ""
        buttons = variant.buttons if variant and variant.buttons is not None else plan.item.buttons
        status, reason = S.PENDING, None
        try:
            text = render(template, context)
        except Exception as exc:  # a profile the test profiles missed: fail the row, not the run
            text, status, reason = "", S.FAILED, f"template error: {exc}"
        fields: dict[str, Any] = {
            "variant": variant.id if variant else None,
            "segment_key": segment.id,
            "segment_name": segment.name[:256],
            "step": step,
            "status": status,
            "due_at": due,
            "not_before": due,
            "expires_at": expires,
            "text": text,
            "buttons": [b.model_dump() for b in buttons],
            "reason": reason,
            "updated_at": now,
        }
        if row is not None:
            for name, value in fields.items():
                setattr(row, name, value)
            row.attempts = 0
            session.add(row)
            report.moved += 1
            continue
        new = FollowupMessage(
            respondent_id=respondent.id,
            pack_key=pack.key,
            item_id=plan.item.id,
            token=secrets.token_urlsafe(16),
            created_at=now,
            **fields,
        )
        if _insert_ignoring_duplicates(session, new):
            report.failed += status == S.FAILED
            report.queued += status == S.PENDING
        else:
            report.already += 1
