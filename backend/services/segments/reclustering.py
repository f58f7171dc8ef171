"""Segments service: re-cluster a questionnaire's respondents, assign new ones, report.

A re-clustering reads one score vector per respondent (their latest completed session) straight
from a DB-API cursor into numpy, runs the pure core (:mod:`backend.segmentation`), and writes
the run, its segments and the changed assignments in one transaction with bulk statements.
Only the final write holds the database's write lock; reading and fitting do not, so quizzes
keep being answered while a run is under way.
"""

from __future__ import annotations

import csv
import io
import json
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, Engine, bindparam, func, update
from sqlmodel import Session, col, select
from threadpoolctl import threadpool_limits

from backend.questionnaire import QuestionnaireDefinition
from backend.segmentation import (
    SegmentationError,
    Segmenter,
    Standardiser,
    build_features,
    compare_runs,
    describe_segments,
    match_segments,
    nearest_segment,
)
from backend.segmentation.features import DEFAULT_MAX_MISSING_FRACTION
from backend.segmentation.mixture import SoftModel, sticky_soft_assign
from backend.segmentation.stability import DEFAULT_MARGIN
from backend.services.questionnaires import (
    current_version,
    definition_of,
    get_questionnaire,
)
from backend.services.quiz import SegmentAssigner, SegmentInfo
from backend.storage.engine import session_scope
from backend.storage.models import (
    Questionnaire,
    QuestionnaireStatus,
    QuestionnaireVersion,
    SessionScore,
)
from backend.storage.segment_tables import (
    RunStatus,
    Segment,
    SegmentAssignment,
    SegmentationRun,
    SegmentationRunPublic,
    SegmentPublic,
    SegmentStatus,
)
from backend.storage.types import utcnow

__all__ = [
    "Progress",
    "RunReport",
    "SegmentNotFound",
    "VectorTable",
    "assign_now",
    "completions_since_last_run",
    "export_assignments",
    "list_segments",
    "read_vectors",
    "recluster",
    "rename_segment",
    "runs",
    "segment_assigner",
    "segmented_questionnaires",
    "write_export_csv",
]

#: Called with a stage ("read", "fit", "match", "store", "done") and the overall fraction done.
Progress = Callable[[str, float], None]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

#: Rows per fetch and per bulk JSON parse: each holds the GIL, so small batches keep the
#: event loop's threads responsive (50 000 rows stalled them for 150-200 ms).
_FETCH_ROWS = 5_000
#: Rows per executemany batch when writing assignments.
_WRITE_ROWS = 50_000


class SegmentNotFound(LookupError):
    """No segment has the given id."""

    def __init__(self, segment_id: int) -> None:
        super().__init__(
            f"no segment with id {segment_id}; `psychograph segments show` lists them"
        )
        self.segment_id = segment_id


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


@dataclass(frozen=True)
class VectorTable:
    """Each respondent's latest score vector: ids, and scores in item units (NaN = missing)."""

    respondent_ids: IntArray
    scores: FloatArray
    dimensions: tuple[str, ...]


# --- reading -----------------------------------------------------------------------------


def _placeholder(connection: Connection) -> str:
    return "?" if connection.dialect.paramstyle in ("qmark", "numeric") else "%s"


def _vector_sql(dialect: str, dimensions: Sequence[str], ph: str) -> str:
    if dialect == "sqlite":
        # One JSON parse per row: json_extract with several paths returns a JSON array text,
        # which the caller turns into floats in bulk. A bare column beside max() takes its
        # value from the row holding the max (SQLite's documented min/max behaviour).
        paths = ", ".join(f"'$.\"{d}\"'" for d in dimensions)
        extract = (
            f"json_extract(scores, {paths})"
            if len(dimensions) > 1
            else (f"json_array(json_extract(scores, {paths}))")
        )
        return (
            f"SELECT respondent_id, {extract}, max(completed_at) FROM sessionscore "
            f"WHERE questionnaire_id = {ph} GROUP BY respondent_id"
        )
    columns = ", ".join("(scores->>'{}')::float8".format(d.replace("'", "''")) for d in dimensions)
    return (
        f"SELECT DISTINCT ON (respondent_id) respondent_id, {columns} FROM sessionscore "
        f"WHERE questionnaire_id = {ph} ORDER BY respondent_id, completed_at DESC"
    )


def read_vectors(engine: Engine, questionnaire_id: int, dimensions: Sequence[str]) -> VectorTable:
    """Read each respondent's latest score vector for ``dimensions`` into numpy arrays.

    Uses a raw DB-API connection outside any SQLAlchemy transaction: on SQLite that is an
    autocommit read (a WAL snapshot), so it never takes the write lock the bot needs.
    """
    dims = tuple(dimensions)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        dialect = engine.dialect.name
        ph = "?" if engine.dialect.paramstyle in ("qmark", "numeric") else "%s"
        cursor.execute(_vector_sql(dialect, dims, ph), (questionnaire_id,))
        id_chunks: list[IntArray] = []
        score_chunks: list[FloatArray] = []
        while True:
            rows = cursor.fetchmany(_FETCH_ROWS)
            if not rows:
                break
            if dialect == "sqlite":
                ids, arrays, _ = zip(*rows, strict=True)
                id_chunks.append(np.fromiter(ids, dtype=np.int64, count=len(rows)))
                # One json.loads for the whole chunk instead of one per row.
                parsed = json.loads("[" + ",".join(arrays) + "]")
                score_chunks.append(np.array(parsed, dtype=np.float64).reshape(len(rows), -1))
            else:
                block = np.array(rows, dtype=np.float64)
                id_chunks.append(block[:, 0].astype(np.int64))
                score_chunks.append(block[:, 1:])
        cursor.close()
    finally:
        raw.rollback()
        raw.close()
    if not id_chunks:
        return VectorTable(np.empty(0, np.int64), np.empty((0, len(dims))), dims)
    return VectorTable(
        np.concatenate(id_chunks),
        np.concatenate(score_chunks) if len(score_chunks) > 1 else score_chunks[0],
        dims,
    )


def _read_assignments(
    engine: Engine, questionnaire_id: int
) -> tuple[IntArray, IntArray, FloatArray]:
    """Return (respondent ids sorted, their segment ids, their confidence or NaN) of the
    current assignments."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        ph = "?" if engine.dialect.paramstyle in ("qmark", "numeric") else "%s"
        cursor.execute(
            "SELECT respondent_id, segment_id, confidence FROM segmentassignment "
            f"WHERE questionnaire_id = {ph} ORDER BY respondent_id",
            (questionnaire_id,),
        )
        chunks = []
        while rows := cursor.fetchmany(_FETCH_ROWS):
            # None (no confidence yet) becomes NaN.
            chunks.append(np.array(rows, dtype=np.float64).reshape(-1, 3))
        cursor.close()
    finally:
        raw.rollback()
        raw.close()
    if not chunks:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64)
    table = np.concatenate(chunks)
    return table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2].copy()


# --- re-clustering -----------------------------------------------------------------------


@dataclass
class _Previous:
    run_id: int | None
    segments: list[Segment]
    centroids: FloatArray
    ids: list[int]


def _poles(definition: QuestionnaireDefinition) -> dict[str, tuple[str, str]]:
    poles = {}
    for dim in definition.dimensions:
        if dim.high is not None and dim.low is not None:
            poles[dim.id] = (definition.text(dim.high), definition.text(dim.low))
    return poles


def _scales(definition: QuestionnaireDefinition) -> dict[str, tuple[float, float]]:
    """Each dimension's range in item units (e.g. 1-6), for the segment descriptions."""
    from backend.scoring import ScoringKey

    key = ScoringKey.from_definition(definition)
    return {
        dim: (float(low), float(high))
        for dim, (low, high) in zip(key.dimensions, key.ranges, strict=True)
        if high > low
    }


def _previous(session: Session, questionnaire_id: int, columns: Sequence[str]) -> _Previous:
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
    return _Previous(
        run_id=last,
        segments=segments,
        centroids=centroids.reshape(len(usable), len(columns)),
        ids=[s.id for s in usable if s.id is not None],
    )


def _start_run(engine: Engine, questionnaire_id: int, trigger: str, method: str) -> int:
    with session_scope(engine) as session:
        run = SegmentationRun(questionnaire_id=questionnaire_id, trigger=trigger, method=method)
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


def _fail_run(engine: Engine, run_id: int, started: float, error: str) -> None:
    with session_scope(engine) as session:
        run = session.get(SegmentationRun, run_id)
        if run is not None:
            run.status = RunStatus.FAILED
            run.error = error
            run.finished_at = utcnow()
            run.duration_seconds = time.perf_counter() - started
            session.add(run)


def recluster(
    engine: Engine,
    questionnaire_key: str,
    *,
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
    run_id = _start_run(engine, qid, trigger, settings.method)
    report("read", 0.0)
    try:
        vectors = read_vectors(engine, qid, dimensions)
        if len(vectors.respondent_ids) == 0:
            raise SegmentationError(
                f"{questionnaire_key!r} has no completed sessions yet: nothing to segment."
            )
        prev_respondents, prev_segments, prev_confidence = _read_assignments(engine, qid)
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
            previous = _previous(session, qid, features.columns)
        match = match_segments(
            segmenter.cluster_centers_, previous.centroids, previous.ids, features.standardiser
        )
        # Sticky assignment: respondents keep a continuing segment unless clearly closer
        # to another one.
        index_of_previous = {pid: i for i, pid in enumerate(match.mapping) if pid is not None}
        prior = np.full(len(respondent_ids), -1, dtype=np.intp)
        if len(prev_respondents):
            at = np.searchsorted(prev_respondents, respondent_ids)
            at = np.minimum(at, len(prev_respondents) - 1)
            found = prev_respondents[at] == respondent_ids
            lookup = np.full(int(prev_segments.max()) + 1, -1, dtype=np.intp)
            for pid, i in index_of_previous.items():
                if pid < len(lookup):
                    lookup[pid] = i
            prior[found] = lookup[prev_segments[at[found]]]
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

        segment_ids, created = _store(
            engine,
            run_id=run_id,
            questionnaire_id=qid,
            segmenter=segmenter,
            features_columns=features.columns,
            standardiser=features.standardiser,
            profiles=profiles,
            mapping=match.mapping,
            distances=match.distances,
            retired=match.retired,
            previous=previous,
            respondent_ids=respondent_ids,
            labels=labels,
            prev_respondents=prev_respondents,
            prev_segments=prev_segments,
            prev_confidence=prev_confidence,
            probabilities=probabilities,
            n_excluded=features.n_excluded,
            dimensions=features.dimensions,
            started=started,
            timings=timings,
        )
    except Exception as exc:
        _fail_run(engine, run_id, started, str(exc))
        raise
    lap("store", 1.0)
    queued = enqueue_run_followups(engine, questionnaire_key, qid, run_id)
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


def _spread(features: Any, labels: NDArray[np.intp], segment_ids: Sequence[int]) -> dict[str, Any]:
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


def _candidate_dict(candidate: Any) -> dict[str, Any]:
    out = {}
    for key, value in vars(candidate).items():
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out


#: A member whose confidence is below this is "uncertain" in the segment report.
UNCERTAIN_BELOW = 0.8


def _store(
    engine: Engine,
    *,
    run_id: int,
    questionnaire_id: int,
    segmenter: Segmenter,
    features_columns: Sequence[str],
    standardiser: Standardiser,
    profiles: Sequence[Any],
    mapping: Sequence[int | None],
    distances: Sequence[float | None],
    retired: Sequence[int],
    previous: _Previous,
    respondent_ids: IntArray,
    labels: NDArray[np.intp],
    prev_respondents: IntArray,
    prev_segments: IntArray,
    prev_confidence: FloatArray,
    probabilities: FloatArray,
    n_excluded: int,
    dimensions: Sequence[str],
    started: float,
    timings: dict[str, float],
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Write the run, its segments and the changed assignments in one transaction."""
    now = utcnow()
    by_id = {s.id: s for s in previous.segments}
    uncertain = np.zeros(len(profiles))
    if len(labels):
        sizes = np.bincount(labels, minlength=len(profiles)).astype(np.float64)
        unsure = np.bincount(
            labels, weights=probabilities.max(axis=1) < UNCERTAIN_BELOW, minlength=len(profiles)
        )
        uncertain = np.divide(unsure, sizes, out=np.zeros_like(unsure), where=sizes > 0)
    with session_scope(engine) as session:
        segment_ids: list[int] = []
        created: list[int] = []
        for index, (profile, continued) in enumerate(zip(profiles, mapping, strict=True)):
            segment = by_id.get(continued) if continued is not None else None
            if segment is None:
                segment = Segment(
                    questionnaire_id=questionnaire_id, name=profile.name, first_run_id=run_id
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
            segment.last_run_id = run_id
            segment.updated_at = now
            session.add(segment)
            session.flush()
            assert segment.id is not None
            if continued is None:
                created.append(segment.id)
            segment_ids.append(segment.id)
        stale = set(retired) | {s.id for s in previous.segments if s.id not in set(segment_ids)}
        if stale:
            session.exec(
                update(Segment)
                .where(col(Segment.id).in_(stale))
                .values(status=SegmentStatus.RETIRED, size=0, share=0.0, updated_at=now)
            )

        new_segments = np.asarray(segment_ids, dtype=np.int64)[labels]
        comparison = compare_runs(prev_respondents, prev_segments, respondent_ids, new_segments)
        connection = session.connection()
        written = _write_assignments(
            connection,
            questionnaire_id=questionnaire_id,
            run_id=run_id,
            respondent_ids=respondent_ids,
            segments=new_segments,
            prev_respondents=prev_respondents,
            prev_segments=prev_segments,
            prev_confidence=prev_confidence,
            probabilities=probabilities,
            segment_ids=np.asarray(segment_ids, dtype=np.int64),
            now=now,
        )

        run = session.get(SegmentationRun, run_id)
        assert run is not None
        run.status = RunStatus.SUCCEEDED
        run.dimensions = list(dimensions)
        run.k = segmenter.n_clusters_
        run.candidates = [_candidate_dict(c) for c in segmenter.candidates_]
        run.choice_reason = segmenter.choice_reason_
        run.standardiser = standardiser.to_dict()
        run.model = {
            "mixture": segmenter.soft_model_.to_dict(),
            "segment_ids": list(segment_ids),
            "method": segmenter.method,
        }
        run.n_respondents = len(respondent_ids)
        run.n_excluded = n_excluded
        run.n_moved = comparison.n_moved
        run.ari = comparison.adjusted_rand
        run.metrics = {
            "previous_run_id": previous.run_id,
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
                str(sid): d for sid, d in zip(segment_ids, distances, strict=True)
            },
            "created": created,
            "retired": sorted(int(s) for s in stale if s is not None),
            "columns": list(features_columns),
        }
        run.finished_at = utcnow()
        run.duration_seconds = time.perf_counter() - started
        session.add(run)
    return tuple(segment_ids), tuple(created)


def _db_time(connection: Connection, value: datetime) -> Any:
    if connection.dialect.name == "sqlite":
        # The format SQLAlchemy's SQLite DateTime stores (naive UTC, see UTCDateTime).
        return value.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


#: A respondent's stored probabilities are rewritten when their confidence moved this much.
CONFIDENCE_STEP = 0.01


def rounded_probabilities(probabilities: FloatArray) -> FloatArray:
    """Round to four decimals; the largest absorbs the rounding so each row sums to 1."""
    rounded = np.round(probabilities, 4)
    top = rounded.argmax(axis=1)
    rows = np.arange(len(rounded))
    rounded[rows, top] = np.round(1.0 - (rounded.sum(axis=1) - rounded[rows, top]), 4)
    return rounded


def probability_texts(probabilities: FloatArray, segment_ids: IntArray) -> list[str]:
    """Return each row's probabilities (already rounded) as JSON, ``{"<id>": p, ...}``."""
    rounded = probabilities
    keys = [f'"{int(sid)}": ' for sid in segment_ids]
    return [
        "{" + ", ".join(key + repr(float(p)) for key, p in zip(keys, row, strict=True)) + "}"
        for row in rounded.tolist()
    ]


def _write_assignments(
    connection: Connection,
    *,
    questionnaire_id: int,
    run_id: int,
    respondent_ids: IntArray,
    segments: IntArray,
    prev_respondents: IntArray,
    prev_segments: IntArray,
    prev_confidence: FloatArray,
    probabilities: FloatArray,
    segment_ids: IntArray,
    now: datetime,
) -> int:
    """Upsert the assignments that changed (new respondents, moves, and probabilities that
    moved by :data:`CONFIDENCE_STEP` or more); return how many rows were written."""
    probabilities = rounded_probabilities(probabilities)
    confidence = probabilities.max(axis=1) if probabilities.size else np.ones(len(segments))
    changed = np.ones(len(respondent_ids), dtype=bool)
    if len(prev_respondents):
        at = np.searchsorted(prev_respondents, respondent_ids)
        at = np.minimum(at, len(prev_respondents) - 1)
        same = (
            (prev_respondents[at] == respondent_ids)
            & (prev_segments[at] == segments)
            & (np.abs(prev_confidence[at] - confidence) < CONFIDENCE_STEP)
        )
        changed &= ~same
    index = np.flatnonzero(changed)
    if not len(index):
        return 0
    ph = _placeholder(connection)
    json_ph = f"CAST({ph} AS jsonb)" if connection.dialect.name == "postgresql" else ph
    moved = "segmentassignment.segment_id <> excluded.segment_id"
    sql = (
        "INSERT INTO segmentassignment (questionnaire_id, respondent_id, segment_id, run_id, "
        "assigned_at, moves, probabilities, confidence) "
        f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, 0, {json_ph}, {ph}) "
        "ON CONFLICT (questionnaire_id, respondent_id) DO UPDATE SET "
        "segment_id = excluded.segment_id, "
        f"run_id = CASE WHEN {moved} THEN excluded.run_id ELSE segmentassignment.run_id END, "
        f"assigned_at = CASE WHEN {moved} THEN excluded.assigned_at "
        "ELSE segmentassignment.assigned_at END, "
        f"moves = segmentassignment.moves + CASE WHEN {moved} THEN 1 ELSE 0 END, "
        "probabilities = excluded.probabilities, confidence = excluded.confidence"
    )
    stamp = _db_time(connection, now)
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for start in range(0, len(index), _WRITE_ROWS):
            block = index[start : start + _WRITE_ROWS]
            texts = probability_texts(probabilities[block], segment_ids)
            cursor.executemany(
                sql,
                list(
                    zip(
                        [questionnaire_id] * len(block),
                        respondent_ids[block].tolist(),
                        segments[block].tolist(),
                        [run_id] * len(block),
                        [stamp] * len(block),
                        texts,
                        confidence[block].tolist(),
                        strict=True,
                    )
                ),
            )
    finally:
        cursor.close()
    return len(index)


# --- immediate assignment ----------------------------------------------------------------


@dataclass(frozen=True)
class _Model:
    run_id: int
    standardiser: Standardiser
    segment_ids: tuple[int, ...]
    centroids: FloatArray  # standardised
    #: The run's mixture, components in ``segment_ids`` order; None for runs stored before
    #: soft membership (those assign to the nearest centroid).
    mixture: SoftModel | None = None


_MODEL_CACHE: dict[tuple[int, int, str], _Model] = {}
_MODEL_LOCK = threading.Lock()


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
    with _MODEL_LOCK:
        cached = _MODEL_CACHE.get(key)
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
    with _MODEL_LOCK:
        if len(_MODEL_CACHE) > 64:
            _MODEL_CACHE.clear()
        _MODEL_CACHE[key] = model
    return model


#: Respondents whose follow-ups are queued per transaction after a run.
ENQUEUE_BATCH = 2_000


def enqueue_run_followups(
    engine: Engine, questionnaire_key: str, questionnaire_id: int, run_id: int
) -> int:
    """Queue the follow-ups of respondents this run assigned anew or moved; return how many
    outbox rows were queued. Nothing to do (and nothing read) without content packs."""
    from backend.followups import enqueue_for_assignments
    from backend.followups.outbox import packs_for

    with session_scope(engine) as session:
        if not packs_for(questionnaire_key, session=session):
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
            queued += enqueue_for_assignments(session, rows).queued
    return queued


def assign_now(
    session: Session, score: SessionScore, *, enqueue: bool = True
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
        _enqueue_now(session, score)
    return SegmentInfo(segment_id=segment_id, name=segment.name, description=segment.description)


def _enqueue_now(session: Session, score: SessionScore) -> None:
    """Queue the respondent's first follow-ups in the completing transaction."""
    from backend.followups import enqueue_for_assignments

    row = session.get(SegmentAssignment, (score.questionnaire_id, score.respondent_id))
    if row is not None:
        enqueue_for_assignments(session, [row])


def segment_assigner(engine: Engine) -> SegmentAssigner:
    """Return the callable :class:`~backend.services.quiz.QuizService` calls on completion."""
    del engine  # the assigner works in the completing session's transaction

    def assign(session: Session, score: SessionScore) -> SegmentInfo | None:
        return assign_now(session, score)

    return assign


# --- marketer operations -----------------------------------------------------------------


def rename_segment(
    segment_id: int,
    *,
    session: Session,
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
    questionnaire_key: str, *, session: Session, include_retired: bool = False
) -> list[SegmentPublic]:
    """Return a questionnaire's segments, largest first (retired ones last, if asked for)."""
    questionnaire = get_questionnaire(questionnaire_key, session=session)
    query = select(Segment).where(Segment.questionnaire_id == questionnaire.id)
    if not include_retired:
        query = query.where(Segment.status == SegmentStatus.ACTIVE)
    rows = session.exec(query.order_by(col(Segment.status), col(Segment.size).desc())).all()
    return [SegmentPublic.model_validate(s) for s in rows]


def runs(
    questionnaire_key: str, *, session: Session, limit: int = 20
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
    rows = session.exec(
        select(Questionnaire.key, QuestionnaireVersion)
        .join(
            QuestionnaireVersion,
            col(Questionnaire.current_version_id) == col(QuestionnaireVersion.id),
        )
        .where(Questionnaire.status == QuestionnaireStatus.ACTIVE)
        .order_by(col(Questionnaire.key))
    ).all()
    return [key for key, version in rows if definition_of(version).segmentation_dimensions()]


def completions_since_last_run(questionnaire_key: str, *, session: Session) -> int:
    """Count sessions completed since the latest run (running or succeeded) started."""
    questionnaire = get_questionnaire(questionnaire_key, session=session)
    since = session.exec(
        select(func.max(SegmentationRun.started_at)).where(
            SegmentationRun.questionnaire_id == questionnaire.id,
            col(SegmentationRun.status).in_([RunStatus.RUNNING, RunStatus.SUCCEEDED]),
        )
    ).one()
    query = select(func.count()).where(SessionScore.questionnaire_id == questionnaire.id)
    if since is not None:
        query = query.where(SessionScore.completed_at > since)
    return int(session.exec(query).one())


def latest_run_started(questionnaire_key: str, *, session: Session) -> datetime | None:
    """Return when the latest running or succeeded run started, if any."""
    questionnaire = get_questionnaire(questionnaire_key, session=session)
    return session.exec(
        select(func.max(SegmentationRun.started_at)).where(
            SegmentationRun.questionnaire_id == questionnaire.id,
            col(SegmentationRun.status).in_([RunStatus.RUNNING, RunStatus.SUCCEEDED]),
        )
    ).one()


# --- export ------------------------------------------------------------------------------


def export_assignments(engine: Engine, questionnaire_key: str) -> Iterator[list[Any]]:
    """Yield CSV rows: a header, then respondent -> segment with the latest dimension scores.

    Streams from a raw cursor, so exporting a million respondents needs little memory.
    """
    with session_scope(engine) as session:
        questionnaire = get_questionnaire(questionnaire_key, session=session)
        definition = definition_of(current_version(questionnaire_key, session=session))
    dims = [d.id for d in definition.dimensions]
    with session_scope(engine) as session:
        active = [
            int(sid or 0)
            for sid in session.exec(
                select(Segment.id)
                .where(
                    Segment.questionnaire_id == questionnaire.id,
                    Segment.status == SegmentStatus.ACTIVE,
                )
                .order_by(col(Segment.id))
            ).all()
        ]
    yield [
        "respondent_id",
        "telegram_user_id",
        "external_id",
        "segment_id",
        "segment",
        "assigned_at",
        *dims,
        "confidence",
        *(f"p_segment_{sid}" for sid in active),
    ]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        ph = "?" if engine.dialect.paramstyle in ("qmark", "numeric") else "%s"
        cursor.execute(
            "SELECT a.respondent_id, r.telegram_user_id, r.external_id, a.segment_id, s.name, "
            "a.assigned_at, a.confidence, a.probabilities, (SELECT ss.scores FROM sessionscore ss "
            " WHERE ss.respondent_id = a.respondent_id AND ss.questionnaire_id = "
            " a.questionnaire_id ORDER BY ss.completed_at DESC LIMIT 1) "
            "FROM segmentassignment a JOIN segment s ON s.id = a.segment_id "
            "JOIN respondent r ON r.id = a.respondent_id "
            f"WHERE a.questionnaire_id = {ph} ORDER BY a.respondent_id",
            (questionnaire.id,),
        )
        while rows := cursor.fetchmany(_FETCH_ROWS):
            for rid, tg, ext, sid, name, assigned, confidence, probs, scores in rows:
                parsed = json.loads(scores) if isinstance(scores, str) else (scores or {})
                soft = json.loads(probs) if isinstance(probs, str) else (probs or {})
                when = assigned.isoformat() if isinstance(assigned, datetime) else assigned
                yield [
                    rid,
                    tg if tg is not None else "",
                    ext or "",
                    sid,
                    name,
                    when,
                    *("" if parsed.get(d) is None else parsed[d] for d in dims),
                    "" if confidence is None else confidence,
                    *(soft.get(str(s), "") for s in active),
                ]
        cursor.close()
    finally:
        raw.rollback()
        raw.close()


def write_export_csv(
    engine: Engine, questionnaire_key: str, out: io.TextIOBase | Any, *, raw: bool = False
) -> int:
    """Write :func:`export_assignments` as CSV to ``out``; return the number of respondents.

    Cells a spreadsheet would run as formulas are neutralised unless ``raw``.
    """
    from backend.services.responses import neutralise_row

    writer = csv.writer(out)
    count = -1
    for row in export_assignments(engine, questionnaire_key):
        writer.writerow(row if raw else neutralise_row(row))
        count += 1
    return max(count, 0)
