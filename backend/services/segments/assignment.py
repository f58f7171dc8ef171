"""Immediate assignment: a just-completed respondent is placed by the current run's model, in
the completing transaction, so the result message and the first follow-up need not wait for
the next run."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from backend.caches import BoundedCache
from backend.quiz import SegmentInfo
from backend.segmentation import Standardiser, nearest_segment
from backend.segmentation.features import DEFAULT_MAX_MISSING_FRACTION
from backend.segmentation.mixture import SoftModel
from backend.services.quiz import SegmentAssigner
from backend.services.segments.queueing import enqueue_assignments
from backend.services.segments.vectors import (
    FloatArray,
    probability_texts,
    rounded_probabilities,
)
from backend.storage.models import SessionScore
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
    standardiser: Standardiser
    segment_ids: tuple[int, ...]
    centroids: FloatArray  # standardised
    #: The run's mixture, components in ``segment_ids`` order; None for runs stored before
    #: soft membership (those assign to the nearest centroid).
    mixture: SoftModel | None = None


#: Models by (questionnaire, run, active segment ids): a new run or a retired segment makes a
#: new key, and a run's stored model never changes.
_MODELS: BoundedCache[_Model] = BoundedCache("segments.models", maxsize=64)


# Read on every completion: built once (building a statement costs more than running it).
_LATEST_RUN = (
    select(SegmentationRun.id, SegmentationRun.standardiser, SegmentationRun.model)
    .where(
        SegmentationRun.questionnaire_id == bindparam("questionnaire_id"),
        SegmentationRun.status == RunStatus.SUCCEEDED,
    )
    .order_by(col(SegmentationRun.id).desc())
    .limit(1)
)
_ACTIVE_CENTROIDS = (
    select(Segment.id, Segment.centroid)
    .where(
        Segment.questionnaire_id == bindparam("questionnaire_id"),
        Segment.status == SegmentStatus.ACTIVE,
    )
    .order_by(col(Segment.id))
)


def _current_model(session: Session, questionnaire_id: int) -> _Model | None:
    params = {"questionnaire_id": questionnaire_id}
    run = session.exec(_LATEST_RUN, params=params).first()
    if run is None or run[0] is None or run[1] is None:
        return None
    run_id: int = run[0]
    stored = run[1]
    segments = session.exec(_ACTIVE_CENTROIDS, params=params).all()
    if not segments:
        return None
    key = (questionnaire_id, run_id, ",".join(str(s[0]) for s in segments))
    cached = _MODELS.get(key)
    if cached is not None:
        return cached
    standardiser = Standardiser.from_dict(stored)
    stored_model = run[2] or {}
    active = {int(s[0] or 0) for s in segments}
    if stored_model.get("mixture") and set(stored_model.get("segment_ids", ())) <= active:
        mixture = SoftModel.from_dict(stored_model["mixture"])
        ids = tuple(int(i) for i in stored_model["segment_ids"])
        model = _Model(
            run_id=run_id,
            standardiser=standardiser,
            segment_ids=ids,
            centroids=mixture.means,
            mixture=mixture,
        )
    else:
        units = np.array(
            [
                [centroid.get(c, math.nan) for c in standardiser.columns]
                for _, centroid in segments
            ],
            dtype=np.float64,
        )
        model = _Model(
            run_id=run_id,
            standardiser=standardiser,
            segment_ids=tuple(int(s[0] or 0) for s in segments),
            centroids=standardiser.transform(units),
        )
    _MODELS.put(key, model)
    return model


def assign_now(
    *, session: Session, score: SessionScore, enqueue: bool = True
) -> SegmentInfo | None:
    """Assign a just-completed session's respondent by the current run's model.

    Stores the probability of every segment and the confidence. Returns None when the
    questionnaire has not been segmented yet, or when the session misses too many of the
    segmentation dimensions to place it. ``enqueue=False`` queues no follow-ups (imported
    respondents without a chat).
    """
    model = _current_model(session, score.questionnaire_id)
    if model is None:
        return None
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
    segment = session.get(Segment, segment_id)
    assert segment is not None
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
            enqueue_assignments(session=session, rows=[stored])
    return SegmentInfo(segment_id=segment_id, name=segment.name, description=segment.description)


def segment_assigner() -> SegmentAssigner:
    """Return the callable :class:`~backend.services.quiz.QuizService` calls on completion."""

    def assign(session: Session, score: SessionScore) -> SegmentInfo | None:
        return assign_now(session=session, score=score)

    return assign
