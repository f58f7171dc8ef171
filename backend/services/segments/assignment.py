"""Immediate assignment: a just-completed respondent is placed by the current run's model, in
the completing transaction, so the result message and the first follow-up need not wait for
the next run."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
from sqlalchemy import bindparam, func
from sqlmodel import Session, col, select

from backend.caches import BoundedCache
from backend.quiz import SegmentInfo
from backend.segmentation import Standardiser, nearest_segment
from backend.segmentation.features import DEFAULT_MAX_MISSING_FRACTION
from backend.segmentation.mixture import SoftModel
from backend.services.quiz import SegmentAssigner
from backend.services.segments.queueing import enqueue_new_assignment
from backend.services.segments.vectors import (
    FloatArray,
    probability_texts,
    rounded_probabilities,
)
from backend.storage.models import Questionnaire, SessionScore
from backend.storage.segment_tables import (
    RunStatus,
    Segment,
    SegmentAssignment,
    SegmentationRun,
    SegmentStatus,
)
from backend.storage.types import utcnow


@dataclass(frozen=True)
class _Model:
    run_id: int
    questionnaire_key: str
    standardiser: Standardiser
    segment_ids: tuple[int, ...]
    centroids: FloatArray  # standardised
    #: The run's mixture, components in ``segment_ids`` order; None for runs stored before
    #: soft membership (those assign to the nearest centroid).
    mixture: SoftModel | None = None


#: Models by (questionnaire, run, active segment ids): a new run or a retired segment makes a
#: new key, and a run's stored model never changes.
_MODELS: BoundedCache[_Model] = BoundedCache("segments.models", maxsize=64)


# Read on every completion, so built once (building a statement costs more than running it):
# the active segments, each with the latest successful run's id. One round trip, and no
# stored model is read or parsed unless that run is new to this process.
_LATEST_RUN_ID = (
    select(func.max(SegmentationRun.id))
    .where(
        SegmentationRun.questionnaire_id == bindparam("questionnaire_id"),
        SegmentationRun.status == RunStatus.SUCCEEDED,
    )
    .scalar_subquery()
)
_ACTIVE_SEGMENTS = (
    select(
        col(Segment.id),
        col(Segment.name),
        col(Segment.description),
        _LATEST_RUN_ID.label("run_id"),
    )
    .where(
        Segment.questionnaire_id == bindparam("questionnaire_id"),
        Segment.status == SegmentStatus.ACTIVE,
    )
    .order_by(col(Segment.id))
)


def _current_model(
    session: Session, questionnaire_id: int
) -> tuple[_Model, dict[int, SegmentInfo]] | None:
    """The latest run's model and the active segments, or None before the first run."""
    rows = session.execute(_ACTIVE_SEGMENTS, {"questionnaire_id": questionnaire_id}).all()
    if not rows or rows[0].run_id is None:
        return None
    run_id: int = rows[0].run_id
    segments = {
        row.id: SegmentInfo(segment_id=row.id, name=row.name, description=row.description)
        for row in rows
    }
    key = (questionnaire_id, run_id, ",".join(str(i) for i in segments))
    model = _MODELS.get(key)
    if model is None:
        model = _load_model(session, questionnaire_id, run_id, tuple(segments))
        if model is None:
            return None
        _MODELS.put(key, model)
    return model, segments


def _load_model(
    session: Session, questionnaire_id: int, run_id: int, active: tuple[int, ...]
) -> _Model | None:
    run = session.get(SegmentationRun, run_id)
    questionnaire = session.get(Questionnaire, questionnaire_id)
    if run is None or run.standardiser is None or questionnaire is None:
        return None
    standardiser = Standardiser.from_dict(run.standardiser)
    stored_model = run.model or {}
    if stored_model.get("mixture") and set(stored_model.get("segment_ids", ())) <= set(active):
        mixture = SoftModel.from_dict(stored_model["mixture"])
        return _Model(
            run_id=run_id,
            questionnaire_key=questionnaire.key,
            standardiser=standardiser,
            segment_ids=tuple(int(i) for i in stored_model["segment_ids"]),
            centroids=mixture.means,
            mixture=mixture,
        )
    centroids = dict(
        session.exec(select(Segment.id, Segment.centroid).where(col(Segment.id).in_(active))).all()
    )
    units = np.array(
        [[centroids[i].get(c, math.nan) for c in standardiser.columns] for i in active],
        dtype=np.float64,
    )
    return _Model(
        run_id=run_id,
        questionnaire_key=questionnaire.key,
        standardiser=standardiser,
        segment_ids=active,
        centroids=standardiser.transform(units),
    )


def assign_now(
    *, session: Session, score: SessionScore, enqueue: bool = True
) -> SegmentInfo | None:
    """Assign a just-completed session's respondent by the current run's model.

    Stores the probability of every segment and the confidence. Returns None when the
    questionnaire has not been segmented yet, or when the session misses too many of the
    segmentation dimensions to place it. ``enqueue=False`` queues no follow-ups (imported
    respondents without a chat).
    """
    current = _current_model(session, score.questionnaire_id)
    if current is None:
        return None
    model, segments = current
    values = [score.scores.get(c) for c in model.standardiser.columns]
    vector = np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)
    missing = int(np.isnan(vector).sum())
    if missing > math.floor(DEFAULT_MAX_MISSING_FRACTION * len(vector) + 1e-9):
        return None
    point = model.standardiser.transform(vector)
    probabilities: dict[str, float] | None = None
    confidence: float | None = None
    if model.mixture is not None:
        # The run's own mixture, so a completion lands where the run would have put it.
        row = rounded_probabilities(model.mixture.predict_proba(point[None, :]))
        text = probability_texts(row, np.asarray(model.segment_ids, dtype=np.int64))[0]
        probabilities = json.loads(text)
        index = int(row[0].argmax())
        confidence = float(row[0, index])
    else:
        nearest, _ = nearest_segment(point, model.centroids)
        index = int(nearest[0])
    segment_id = model.segment_ids[index]
    assignment = session.get(SegmentAssignment, (score.questionnaire_id, score.respondent_id))
    now = utcnow()
    if assignment is None:
        session.add(
            SegmentAssignment(
                questionnaire_id=score.questionnaire_id,
                respondent_id=score.respondent_id,
                segment_id=segment_id,
                assigned_at=now,
                probabilities=probabilities,
                confidence=confidence,
            )
        )
    else:
        if assignment.segment_id != segment_id:
            assignment.segment_id = segment_id
            assignment.run_id = None
            assignment.assigned_at = now
            assignment.moves += 1
        assignment.probabilities = probabilities
        assignment.confidence = confidence
        session.add(assignment)
    session.flush()
    if enqueue:
        # The respondent's first follow-ups, queued in the completing transaction.
        stored = session.get(SegmentAssignment, (score.questionnaire_id, score.respondent_id))
        if stored is not None:
            enqueue_new_assignment(
                session=session, row=stored, questionnaire_key=model.questionnaire_key
            )
    return segments[segment_id]


def segment_assigner() -> SegmentAssigner:
    """Return the callable :class:`~backend.services.quiz.QuizService` calls on completion."""

    def assign(session: Session, score: SessionScore) -> SegmentInfo | None:
        return assign_now(session=session, score=score)

    return assign
