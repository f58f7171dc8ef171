"""All raw SQL of the segments service: score vectors and assignments in and out of numpy.

Reads go through a raw DB-API cursor outside any SQLAlchemy transaction: on SQLite that is an
autocommit read (a WAL snapshot), so it never takes the write lock the bot needs. The one
write, :func:`write_assignments`, runs in the caller's transaction with bulk statements.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, Dialect, Engine

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

#: Rows per fetch and per bulk JSON parse: each holds the GIL, so small batches keep the
#: event loop's threads responsive (50 000 rows stalled them for 150-200 ms).
FETCH_ROWS = 5_000
#: Rows per executemany batch when writing assignments.
_WRITE_ROWS = 50_000
#: A respondent's stored probabilities are rewritten when their confidence moved this much.
CONFIDENCE_STEP = 0.01


@dataclass(frozen=True)
class VectorTable:
    """Each respondent's latest score vector: ids, and scores in item units (NaN = missing)."""

    respondent_ids: IntArray
    scores: FloatArray
    dimensions: tuple[str, ...]


@dataclass(frozen=True)
class AssignmentTable:
    """The current assignments: respondent ids sorted, their segment ids, their confidence
    (NaN when none is stored)."""

    respondent_ids: IntArray
    segment_ids: IntArray
    confidence: FloatArray


def _placeholder(dialect: Dialect) -> str:
    return "?" if dialect.paramstyle in ("qmark", "numeric") else "%s"


@contextmanager
def _reading(engine: Engine) -> Iterator[tuple[Any, str]]:
    """Yield a raw cursor, and the driver's placeholder, for one read of many rows.

    On PostgreSQL the cursor is the server's (a named cursor), so the rows come as they are
    fetched: the reader holds one batch at a time, and the server produces rows no faster
    than a re-clustering worker at low priority takes them, instead of a million at once
    beside the answers.
    """
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "postgresql":
            cursor = raw.cursor(name="psychograph_read")
        else:
            cursor = raw.cursor()
        try:
            yield cursor, _placeholder(engine.dialect)
        finally:
            cursor.close()
    finally:
        raw.rollback()
        raw.close()


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


def read_vectors(
    *, engine: Engine, questionnaire_id: int, dimensions: Sequence[str]
) -> VectorTable:
    """Read each respondent's latest score vector for ``dimensions`` into numpy arrays."""
    dims = tuple(dimensions)
    dialect = engine.dialect.name
    id_chunks: list[IntArray] = []
    score_chunks: list[FloatArray] = []
    with _reading(engine) as (cursor, ph):
        cursor.execute(_vector_sql(dialect, dims, ph), (questionnaire_id,))
        while rows := cursor.fetchmany(FETCH_ROWS):
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
    if not id_chunks:
        return VectorTable(np.empty(0, np.int64), np.empty((0, len(dims))), dims)
    return VectorTable(
        np.concatenate(id_chunks),
        np.concatenate(score_chunks) if len(score_chunks) > 1 else score_chunks[0],
        dims,
    )


def read_assignments(*, engine: Engine, questionnaire_id: int) -> AssignmentTable:
    """Read a questionnaire's current assignments, sorted by respondent."""
    chunks = []
    with _reading(engine) as (cursor, ph):
        cursor.execute(
            "SELECT respondent_id, segment_id, confidence FROM segmentassignment "
            f"WHERE questionnaire_id = {ph} ORDER BY respondent_id",
            (questionnaire_id,),
        )
        while rows := cursor.fetchmany(FETCH_ROWS):
            # None (no confidence yet) becomes NaN.
            chunks.append(np.array(rows, dtype=np.float64).reshape(-1, 3))
    if not chunks:
        return AssignmentTable(
            np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64)
        )
    table = np.concatenate(chunks)
    return AssignmentTable(
        table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2].copy()
    )


def read_export_rows(*, engine: Engine, questionnaire_id: int) -> Iterator[Sequence[Any]]:
    """Yield each assigned respondent: id, Telegram user id, external id, segment id and name,
    assigned at, confidence, probabilities and their latest scores (JSON text or a dict)."""
    with _reading(engine) as (cursor, ph):
        cursor.execute(
            "SELECT a.respondent_id, r.telegram_user_id, r.external_id, a.segment_id, s.name, "
            "a.assigned_at, a.confidence, a.probabilities, (SELECT ss.scores FROM sessionscore ss "
            " WHERE ss.respondent_id = a.respondent_id AND ss.questionnaire_id = "
            " a.questionnaire_id ORDER BY ss.completed_at DESC LIMIT 1) "
            "FROM segmentassignment a JOIN segment s ON s.id = a.segment_id "
            "JOIN respondent r ON r.id = a.respondent_id "
            f"WHERE a.questionnaire_id = {ph} ORDER BY a.respondent_id",
            (questionnaire_id,),
        )
        while rows := cursor.fetchmany(FETCH_ROWS):
            yield from rows


def rounded_probabilities(probabilities: FloatArray) -> FloatArray:
    """Round to four decimals; the largest absorbs the rounding so each row sums to 1."""
    rounded = np.round(probabilities, 4)
    top = rounded.argmax(axis=1)
    rows = np.arange(len(rounded))
    rounded[rows, top] = np.round(1.0 - (rounded.sum(axis=1) - rounded[rows, top]), 4)
    return rounded


def probability_texts(probabilities: FloatArray, segment_ids: IntArray) -> list[str]:
    """Return each row's probabilities (already rounded) as JSON, ``{"<id>": p, ...}``."""
    keys = [f'"{int(sid)}": ' for sid in segment_ids]
    return [
        "{" + ", ".join(key + repr(float(p)) for key, p in zip(keys, row, strict=True)) + "}"
        for row in probabilities.tolist()
    ]


def _db_time(connection: Connection, value: datetime) -> Any:
    if connection.dialect.name == "sqlite":
        # The format SQLAlchemy's SQLite DateTime stores (naive UTC, see UTCDateTime).
        return value.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def write_assignments(
    connection: Connection,
    *,
    questionnaire_id: int,
    run_id: int,
    respondent_ids: IntArray,
    segments: IntArray,
    previous: AssignmentTable,
    probabilities: FloatArray,
    segment_ids: IntArray,
    now: datetime,
) -> int:
    """Upsert the assignments that changed (new respondents, moves, and probabilities that
    moved by :data:`CONFIDENCE_STEP` or more); return how many rows were written."""
    probabilities = rounded_probabilities(probabilities)
    confidence = probabilities.max(axis=1) if probabilities.size else np.ones(len(segments))
    changed = np.ones(len(respondent_ids), dtype=bool)
    if len(previous.respondent_ids):
        at = np.searchsorted(previous.respondent_ids, respondent_ids)
        at = np.minimum(at, len(previous.respondent_ids) - 1)
        same = (
            (previous.respondent_ids[at] == respondent_ids)
            & (previous.segment_ids[at] == segments)
            & (np.abs(previous.confidence[at] - confidence) < CONFIDENCE_STEP)
        )
        changed &= ~same
    index = np.flatnonzero(changed)
    if not len(index):
        return 0
    stamp = _db_time(connection, now)
    rows = _assignment_rows(
        index, respondent_ids, segments, probabilities, segment_ids, confidence
    )
    # sqlite3 streams the rows of a generator; the DB-API stub asks for a sequence.
    cursor: Any = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if connection.dialect.name == "postgresql":
            _copy_assignments(
                cursor, questionnaire_id=questionnaire_id, run_id=run_id, stamp=stamp, rows=rows
            )
        else:
            ph = _placeholder(connection.dialect)
            cursor.executemany(
                f"{_UPSERT_COLUMNS} VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, 0, {ph}, {ph}) "
                f"{_UPSERT_CONFLICT}",
                (
                    (questionnaire_id, respondent, segment, run_id, stamp, texts, sure)
                    for respondent, segment, texts, sure in rows
                ),
            )
    finally:
        cursor.close()
    return len(index)


_MOVED = "segmentassignment.segment_id <> excluded.segment_id"
_UPSERT_COLUMNS = (
    "INSERT INTO segmentassignment (questionnaire_id, respondent_id, segment_id, run_id, "
    "assigned_at, moves, probabilities, confidence)"
)
_UPSERT_CONFLICT = (
    "ON CONFLICT (questionnaire_id, respondent_id) DO UPDATE SET "
    "segment_id = excluded.segment_id, "
    f"run_id = CASE WHEN {_MOVED} THEN excluded.run_id ELSE segmentassignment.run_id END, "
    f"assigned_at = CASE WHEN {_MOVED} THEN excluded.assigned_at "
    "ELSE segmentassignment.assigned_at END, "
    f"moves = segmentassignment.moves + CASE WHEN {_MOVED} THEN 1 ELSE 0 END, "
    "probabilities = excluded.probabilities, confidence = excluded.confidence"
)


def _assignment_rows(
    index: IntArray,
    respondent_ids: IntArray,
    segments: IntArray,
    probabilities: FloatArray,
    segment_ids: IntArray,
    confidence: FloatArray,
) -> Iterator[tuple[int, int, str, float]]:
    for start in range(0, len(index), _WRITE_ROWS):
        block = index[start : start + _WRITE_ROWS]
        yield from zip(
            respondent_ids[block].tolist(),
            segments[block].tolist(),
            probability_texts(probabilities[block], segment_ids),
            confidence[block].tolist(),
            strict=True,
        )


def _copy_assignments(
    cursor: Any,
    *,
    questionnaire_id: int,
    run_id: int,
    stamp: Any,
    rows: Iterator[tuple[int, int, str, float]],
) -> None:
    """PostgreSQL: COPY the rows into a temporary table, then one upsert from it.

    A million rows by ``executemany`` took 55 s of a 65 s first run; COPY streams them.
    """
    cursor.execute(
        "CREATE TEMPORARY TABLE IF NOT EXISTS incoming_assignment (respondent_id bigint, "
        "segment_id bigint, probabilities text, confidence double precision) ON COMMIT DROP"
    )
    with cursor.copy(
        "COPY incoming_assignment (respondent_id, segment_id, probabilities, confidence) "
        "FROM STDIN"
    ) as copy:
        for row in rows:
            copy.write_row(row)
    cursor.execute(
        f"{_UPSERT_COLUMNS} SELECT %s, respondent_id, segment_id, %s, %s, 0, "
        "CAST(probabilities AS jsonb), confidence FROM incoming_assignment "
        f"{_UPSERT_CONFLICT}",
        (questionnaire_id, run_id, stamp),
    )
    cursor.execute("DROP TABLE incoming_assignment")
