"""Re-clustering: read the score vectors, fit, match to the previous run, store, queue.

A re-clustering reads one score vector per respondent (their latest completed session) straight
from a DB-API cursor into numpy (:mod:`.vectors`), runs the pure core
(:mod:`backend.segmentation`), and writes the run, its segments and the changed assignments in
one transaction (:mod:`.store`). Only the final write holds the database's write lock; reading
and fitting do not, so quizzes keep being answered while a run is under way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine
from threadpoolctl import threadpool_limits

from backend.questionnaire import QuestionnaireDefinition
from backend.scoring import ScoringKey
from backend.segmentation import (
    FeatureMatrix,
    SegmentationError,
    Segmenter,
    build_features,
    describe_segments,
    match_segments,
)
from backend.segmentation.mixture import sticky_soft_assign
from backend.segmentation.stability import DEFAULT_MARGIN
from backend.services.questionnaires import current_version, definition_of, get_questionnaire
from backend.services.segments.queueing import enqueue_run_followups
from backend.services.segments.store import (
    FittedRun,
    fail_run,
    previous_segments,
    start_run,
    store_run,
)
from backend.services.segments.vectors import (
    AssignmentTable,
    IntArray,
    read_assignments,
    read_vectors,
)
from backend.storage.engine import session_scope
from backend.storage.segment_tables import SegmentationRun

#: Called with a stage ("read", "fit", "match", "store", "done") and the overall fraction done.
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class RunReport:
    """What one re-clustering did, for the CLI, the scheduler log and tests."""

    run_id: int
    questionnaire: str
    k: int
    choice_reason: str
    n_respondents: int
    n_excluded: int
    #: Segment id of each new segment, largest first.
    segment_ids: tuple[int, ...]
    created: tuple[int, ...]
    retired: tuple[int, ...]
    #: Respondents assigned before this run whose segment changed.
    n_moved: int
    #: Respondents assigned before this run and segmented now.
    n_shared: int
    adjusted_rand: float | None
    duration_seconds: float
    timings: dict[str, float] = field(default_factory=dict)


def _poles(definition: QuestionnaireDefinition) -> dict[str, tuple[str, str]]:
    poles = {}
    for dim in definition.dimensions:
        if dim.high is not None and dim.low is not None:
            poles[dim.id] = (definition.text(dim.high), definition.text(dim.low))
    return poles


def _scales(definition: QuestionnaireDefinition) -> dict[str, tuple[float, float]]:
    """Each dimension's range in item units (e.g. 1-6), for the segment descriptions."""
    key = ScoringKey.from_definition(definition)
    return {
        dim: (float(low), float(high))
        for dim, (low, high) in zip(key.dimensions, key.ranges, strict=True)
        if high > low
    }


def _sticky_prior(
    mapping: Sequence[int | None], before: AssignmentTable, respondent_ids: IntArray
) -> NDArray[np.intp]:
    """Return each respondent's previous segment as a new label (-1: none, or retired), so
    respondents keep a continuing segment unless clearly closer to another one."""
    index_of_previous = {pid: i for i, pid in enumerate(mapping) if pid is not None}
    prior = np.full(len(respondent_ids), -1, dtype=np.intp)
    if len(before.respondent_ids):
        at = np.searchsorted(before.respondent_ids, respondent_ids)
        at = np.minimum(at, len(before.respondent_ids) - 1)
        found = before.respondent_ids[at] == respondent_ids
        lookup = np.full(int(before.segment_ids.max()) + 1, -1, dtype=np.intp)
        for pid, i in index_of_previous.items():
            if pid < len(lookup):
                lookup[pid] = i
        prior[found] = lookup[before.segment_ids[at[found]]]
    return prior


def recluster(
    *,
    engine: Engine,
    questionnaire_key: str,
    random_state: int | None = None,
    progress: Progress | None = None,
    trigger: str = "manual",
    margin: float = DEFAULT_MARGIN,
    threads: int | None = 1,
) -> RunReport:
    """Re-cluster one questionnaire's respondents and store the run, segments and assignments.

    Parameters
    ----------
    engine : Engine
        The database.
    questionnaire_key : str
        The questionnaire's id (its key in the definition).
    random_state : int, optional
        Seeds the segmenter, for repeatable runs.
    progress : callable, optional
        Called as ``progress(stage, fraction)`` between stages.
    trigger : str, default "manual"
        Stored with the run: "manual", "schedule" or "completions".
    margin : float, default 0.10
        A respondent moves to another segment only when it is closer by this fraction.
    threads : int or None, default 1
        Native threads (BLAS/OpenMP) the fit may use; 1 leaves the other cores to the bot.
        None lifts the limit.

    Raises
    ------
    QuestionnaireNotFound
        No questionnaire has that key.
    SegmentationError
        Nothing to segment (no completed sessions, or none with enough dimensions scored);
        the run is stored as failed with the same message.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    report = progress or (lambda _stage, _fraction: None)

    def lap(stage: str, fraction: float) -> None:
        timings[stage] = time.perf_counter() - started - sum(timings.values())
        report(stage, fraction)

    with session_scope(engine) as session:
        questionnaire = get_questionnaire(questionnaire_key, session=session)
        definition = definition_of(current_version(questionnaire_key, session=session))
    assert questionnaire.id is not None
    qid = questionnaire.id
    settings = definition.segmentation_settings()
    dimensions = definition.segmentation_dimensions()
    with session_scope(engine) as session:
        run_id = start_run(
            session=session, questionnaire_id=qid, trigger=trigger, method=settings.method
        )
    report("read", 0.0)
    try:
        vectors = read_vectors(engine=engine, questionnaire_id=qid, dimensions=dimensions)
        if len(vectors.respondent_ids) == 0:
            raise SegmentationError(
                f"{questionnaire_key!r} has no completed sessions yet: nothing to segment."
            )
        before = read_assignments(engine=engine, questionnaire_id=qid)
        lap("read", 0.25)

        features = build_features(vectors.scores, vectors.dimensions)
        respondent_ids = vectors.respondent_ids[features.kept]
        del vectors
        limits = threadpool_limits(threads) if threads is not None else None
        try:
            segmenter = Segmenter(
                method=settings.method,
                k_min=settings.k_min,
                k_max=max(settings.k_max, settings.k_min),
                min_share=settings.min_share,
                random_state=random_state,
            ).fit(features.values)
            probabilities = segmenter.predict_proba(features.values)
        finally:
            if limits is not None:
                limits.restore_original_limits()
        lap("fit", 0.75)

        with session_scope(engine) as session:
            previous = previous_segments(
                session=session, questionnaire_id=qid, columns=features.columns
            )
        match = match_segments(
            segmenter.cluster_centers_, previous.centroids, previous.ids, features.standardiser
        )
        prior = _sticky_prior(match.mapping, before, respondent_ids)
        # The same model assigns as it predicts: each respondent's most probable segment,
        # unless their previous one is nearly as probable.
        labels = sticky_soft_assign(probabilities, prior, margin=margin)
        profiles = describe_segments(
            features.values,
            labels,
            features.standardiser,
            features.dimensions,
            n_segments=segmenter.n_clusters_,
            dimension_labels={d.id: definition.text(d.label) for d in definition.dimensions},
            poles=_poles(definition),
            scales=_scales(definition),
        )
        lap("match", 0.8)

        fitted = FittedRun(
            run_id=run_id,
            questionnaire_id=qid,
            segmenter=segmenter,
            features=features,
            profiles=profiles,
            match=match,
            previous_segments=previous,
            respondent_ids=respondent_ids,
            labels=labels,
            probabilities=probabilities,
            previous=before,
            started=started,
        )
        with session_scope(engine) as session:
            segment_ids, created = store_run(session=session, fitted=fitted)
    except Exception as exc:
        with session_scope(engine) as session:
            fail_run(session=session, run_id=run_id, started=started, error=str(exc))
        raise
    lap("store", 1.0)
    queued = enqueue_run_followups(
        engine=engine, questionnaire_key=questionnaire_key, questionnaire_id=qid, run_id=run_id
    )
    with session_scope(engine) as session:
        run = session.get(SegmentationRun, run_id)
        assert run is not None
        run.metrics = {
            **run.metrics,
            "timings": dict(timings),
            "followups_queued": queued,
            **_spread(features, labels, segment_ids),
        }
        session.add(run)
    report("done", 1.0)
    return RunReport(
        run_id=run_id,
        questionnaire=questionnaire_key,
        k=segmenter.n_clusters_,
        choice_reason=segmenter.choice_reason_,
        n_respondents=len(respondent_ids),
        n_excluded=features.n_excluded,
        segment_ids=segment_ids,
        created=created,
        retired=match.retired,
        n_moved=int(run.n_moved or 0),
        n_shared=int(run.metrics.get("n_shared", 0)),
        adjusted_rand=run.ari,
        duration_seconds=time.perf_counter() - started,
        timings=timings,
    )


def _spread(
    features: FeatureMatrix, labels: NDArray[np.intp], segment_ids: Sequence[int]
) -> dict[str, Any]:
    """Each segment's size, and per dimension its mean, standard deviation and count in the
    items' units: the dashboard's size trend and profile plot with confidence intervals."""
    k = len(segment_ids)
    sizes = np.bincount(labels, minlength=k)
    spread: dict[str, dict[str, list[float]]] = {str(sid): {} for sid in segment_ids}
    scaler = features.standardiser
    for dim in features.dimensions:
        if dim not in scaler.columns:
            continue
        j = scaler.columns.index(dim)
        values = features.values[:, j] * scaler.scale[j] + scaler.mean[j]
        sums = np.bincount(labels, weights=values, minlength=k)
        squares = np.bincount(labels, weights=values * values, minlength=k)
        for i, sid in enumerate(segment_ids):
            n = int(sizes[i])
            if n == 0:
                continue
            mean = sums[i] / n
            var = max(0.0, (squares[i] - n * mean * mean) / (n - 1)) if n > 1 else 0.0
            spread[str(sid)][dim] = [float(mean), math.sqrt(var), n]
    return {
        "sizes": {str(sid): int(sizes[i]) for i, sid in enumerate(segment_ids)},
        "spread": spread,
    }
