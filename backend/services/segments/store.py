"""Runs in the database: start, fail, the previous run's segments, and storing a fitted run.

:func:`store_run` writes the run, its segments and the changed assignments in one transaction;
it is the only step of a re-clustering that holds the database's write lock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import update
from sqlmodel import Session, col, select

from backend.segmentation import (
    FeatureMatrix,
    Segmenter,
    SegmentMatch,
    SegmentProfile,
    compare_runs,
)
from backend.services.segments.vectors import (
    AssignmentTable,
    FloatArray,
    IntArray,
    write_assignments,
)
from backend.storage.segment_tables import RunStatus, Segment, SegmentationRun, SegmentStatus
from backend.storage.types import utcnow

#: A member whose confidence is below this is "uncertain" in the segment report.
UNCERTAIN_BELOW = 0.8


@dataclass(frozen=True)
class PreviousSegments:
    """The segments a new run is matched against: the active ones, and of those the ones
    fitted on the run's columns with their centroids (item units)."""

    run_id: int | None
    segments: list[Segment]
    centroids: FloatArray
    ids: list[int]


@dataclass(frozen=True)
class FittedRun:
    """A fitted re-clustering, ready to store.

    ``labels`` index ``profiles`` and ``match.mapping`` (the segment each new one continues,
    or None); ``previous`` holds the assignments before this run.
    """

    run_id: int
    questionnaire_id: int
    segmenter: Segmenter
    features: FeatureMatrix
    profiles: Sequence[SegmentProfile]
    match: SegmentMatch
    previous_segments: PreviousSegments
    respondent_ids: IntArray
    labels: NDArray[np.intp]
    probabilities: FloatArray
    previous: AssignmentTable
    #: ``time.perf_counter()`` when the run started.
    started: float


def start_run(*, session: Session, questionnaire_id: int, trigger: str, method: str) -> int:
    """Store a running run; return its id."""
    run = SegmentationRun(questionnaire_id=questionnaire_id, trigger=trigger, method=method)
    session.add(run)
    session.flush()
    assert run.id is not None
    return run.id


def fail_run(*, session: Session, run_id: int, started: float, error: str) -> None:
    """Mark a run failed with ``error``."""
    run = session.get(SegmentationRun, run_id)
    if run is not None:
        run.status = RunStatus.FAILED
        run.error = error
        run.finished_at = utcnow()
        run.duration_seconds = time.perf_counter() - started
        session.add(run)


def previous_segments(
    *, session: Session, questionnaire_id: int, columns: Sequence[str]
) -> PreviousSegments:
    """Return the active segments and the latest succeeded run of a questionnaire."""
    segments = list(
        session.exec(
            select(Segment)
            .where(
                Segment.questionnaire_id == questionnaire_id,
                Segment.status == SegmentStatus.ACTIVE,
            )
            .order_by(col(Segment.id))
        ).all()
    )
    last = session.exec(
        select(SegmentationRun.id)
        .where(
            SegmentationRun.questionnaire_id == questionnaire_id,
            SegmentationRun.status == RunStatus.SUCCEEDED,
        )
        .order_by(col(SegmentationRun.id).desc())
        .limit(1)
    ).first()
    # Segments fitted on other dimensions cannot be compared: they all retire.
    usable = [s for s in segments if set(s.centroid) >= set(columns)]
    centroids = np.array([[s.centroid[c] for c in columns] for s in usable], dtype=np.float64)
    return PreviousSegments(
        run_id=last,
        segments=segments,
        centroids=centroids.reshape(len(usable), len(columns)),
        ids=[s.id for s in usable if s.id is not None],
    )


def _candidate_dict(candidate: Any) -> dict[str, Any]:
    out = {}
    for key, value in vars(candidate).items():
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out


def store_run(*, session: Session, fitted: FittedRun) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Write the run, its segments and the changed assignments; return the segment ids (in
    label order) and those of the segments created."""
    now = utcnow()
    profiles, labels, probabilities = fitted.profiles, fitted.labels, fitted.probabilities
    old = fitted.previous_segments
    by_id = {s.id: s for s in old.segments}
    uncertain = np.zeros(len(profiles))
    if len(labels):
        sizes = np.bincount(labels, minlength=len(profiles)).astype(np.float64)
        unsure = np.bincount(
            labels, weights=probabilities.max(axis=1) < UNCERTAIN_BELOW, minlength=len(profiles)
        )
        uncertain = np.divide(unsure, sizes, out=np.zeros_like(unsure), where=sizes > 0)
    segment_ids: list[int] = []
    created: list[int] = []
    for index, (profile, continued) in enumerate(zip(profiles, fitted.match.mapping, strict=True)):
        segment = by_id.get(continued) if continued is not None else None
        if segment is None:
            segment = Segment(
                questionnaire_id=fitted.questionnaire_id,
                name=profile.name,
                first_run_id=fitted.run_id,
            )
        if not segment.name_edited:
            segment.name = profile.name
        if not segment.description_edited:
            segment.description = profile.description
        segment.status = SegmentStatus.ACTIVE
        segment.size = profile.size
        segment.share = profile.share
        segment.centroid = profile.centroid
        segment.z_scores = profile.z_scores
        segment.traits = [vars(t).copy() for t in profile.traits]
        segment.uncertain_share = round(float(uncertain[index]), 4)
        segment.last_run_id = fitted.run_id
        segment.updated_at = now
        session.add(segment)
        session.flush()
        assert segment.id is not None
        if continued is None:
            created.append(segment.id)
        segment_ids.append(segment.id)
    stale = set(fitted.match.retired) | {
        s.id for s in old.segments if s.id not in set(segment_ids)
    }
    if stale:
        session.exec(
            update(Segment)
            .where(col(Segment.id).in_(stale))
            .values(status=SegmentStatus.RETIRED, size=0, share=0.0, updated_at=now)
        )

    new_segments = np.asarray(segment_ids, dtype=np.int64)[labels]
    before = fitted.previous
    comparison = compare_runs(
        before.respondent_ids, before.segment_ids, fitted.respondent_ids, new_segments
    )
    written = write_assignments(
        session.connection(),
        questionnaire_id=fitted.questionnaire_id,
        run_id=fitted.run_id,
        respondent_ids=fitted.respondent_ids,
        segments=new_segments,
        previous=before,
        probabilities=probabilities,
        segment_ids=np.asarray(segment_ids, dtype=np.int64),
        now=now,
    )

    segmenter = fitted.segmenter
    run = session.get(SegmentationRun, fitted.run_id)
    assert run is not None
    run.status = RunStatus.SUCCEEDED
    run.dimensions = list(fitted.features.dimensions)
    run.k = segmenter.n_clusters_
    run.candidates = [_candidate_dict(c) for c in segmenter.candidates_]
    run.choice_reason = segmenter.choice_reason_
    run.standardiser = fitted.features.standardiser.to_dict()
    run.model = {
        "mixture": segmenter.soft_model_.to_dict(),
        "segment_ids": list(segment_ids),
        "method": segmenter.method,
    }
    run.n_respondents = len(fitted.respondent_ids)
    run.n_excluded = fitted.features.n_excluded
    run.n_moved = comparison.n_moved
    run.ari = comparison.adjusted_rand
    run.metrics = {
        "previous_run_id": old.run_id,
        "adjusted_rand": comparison.adjusted_rand,
        "n_shared": comparison.n_shared,
        "n_moved": comparison.n_moved,
        "n_written": written,
        "transitions": {
            "previous_segments": list(comparison.previous_segments),
            "new_segments": list(comparison.new_segments),
            "counts": comparison.transitions.tolist(),
        },
        "match_distances": {
            str(sid): d for sid, d in zip(segment_ids, fitted.match.distances, strict=True)
        },
        "created": created,
        "retired": sorted(int(s) for s in stale if s is not None),
        "columns": list(fitted.features.columns),
    }
    run.finished_at = utcnow()
    run.duration_seconds = time.perf_counter() - fitted.started
    session.add(run)
    return tuple(segment_ids), tuple(created)
