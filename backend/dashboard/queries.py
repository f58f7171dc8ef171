"""Aggregates the dashboard shows, read from counts the database keeps as answers arrive.

Nothing here scans the answers: the funnel and the answer distributions are sums of the
counters kept by triggers (:mod:`backend.storage.counters`), so they are ready at once, also
the first time after a restart; reliability reads a bounded sample of the latest completed
sessions. Results are cached for a few seconds per questionnaire version.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from backend.questionnaire import QuestionnaireDefinition
from backend.questionnaire.schema import (
    LikertQuestion,
    MultipleChoiceQuestion,
    NumberQuestion,
    SingleChoiceQuestion,
    TextQuestion,
    YesNoQuestion,
)
from backend.scoring import DimensionReliability, ScoringKey, reliability
from backend.storage import counters
from backend.storage.models import Answer, QuizSession, SessionStatus
from backend.storage.segment_tables import Segment, SegmentStatus

#: Reliability is computed from at most this many of the latest completed sessions.
RELIABILITY_SAMPLE = 5_000
#: Seconds an aggregate is reused before it is counted again.
CACHE_SECONDS = 30.0
#: Integer questions with at most this many possible values get one bar per value.
MAX_EXACT_VALUES = 30
NUMBER_BINS = 10

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FunnelStep:
    question_id: str
    text: str
    #: Sessions that answered the question or are waiting at it.
    reached: int
    #: Sessions not completed whose cursor stopped here.
    stopped: int

    @property
    def drop_off(self) -> float:
        return self.stopped / self.reached if self.reached else 0.0


@dataclass(frozen=True, slots=True)
class Funnel:
    started: int
    completed: int
    by_status: dict[str, int]
    steps: list[FunnelStep]


@dataclass(frozen=True, slots=True)
class Distribution:
    question_id: str
    text: str
    kind: str
    answered: int
    #: (label, count) in the question's own order; empty for free text.
    counts: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Reliability:
    #: Completed sessions of the version, and how many the figures were computed from.
    completed: int
    sampled: int
    dimensions: list[DimensionReliability]


@dataclass(frozen=True, slots=True)
class VersionStats:
    """Everything the questionnaire page counts, for one version, counted together."""

    funnel: Funnel
    distributions: list[Distribution]
    reliability: Reliability
    counted_at: datetime
    max_age: float


# --- a cache that serves stale values while it recounts -------------------------------------

#: How long a page waits for a first count before it shows "counting" and refreshes itself.
PAGE_WAIT_SECONDS = 0.8

_cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
_refreshing: set[tuple[Any, ...]] = set()
_cache_lock = threading.Lock()


def cached(key: tuple[Any, ...], compute: Callable[[], T], *, seconds: float = CACHE_SECONDS) -> T:
    """Return the value under ``key``, computing it in this thread when never counted."""
    value = cached_within(key, compute, seconds=seconds, wait=None)
    assert value is not None
    return value


def cached_within(
    key: tuple[Any, ...],
    compute: Callable[[], T],
    *,
    seconds: float = CACHE_SECONDS,
    wait: float | None = None,
) -> T | None:
    """Return the value under ``key``, computing it when absent.

    A value older than ``seconds`` is still returned at once while one background thread
    computes a fresh one: a page over a million answers stays fast, at most a refresh old.
    With ``wait``, a value never counted before is computed in the background too, and None
    is returned when it takes longer than ``wait`` seconds (the page says it is counting).
    """
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        running = key in _refreshing
        if hit is not None or (wait is not None and not running):
            if (hit is None or now - hit[0] >= seconds) and not running:
                _refreshing.add(key)
                threading.Thread(
                    target=_refresh, args=(key, compute), name="dashboard-refresh", daemon=True
                ).start()
            if hit is not None:
                return hit[1]
    if wait is None:
        value = compute()
        _store(key, value)
        return value
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None:
                return hit[1]
            if key not in _refreshing:  # the count failed; the next request retries
                return None
        time.sleep(0.02)
    return None


def _store(key: tuple[Any, ...], value: Any) -> None:
    with _cache_lock:
        if len(_cache) > 512:
            _cache.clear()
        _cache[key] = (time.monotonic(), value)


def _refresh(key: tuple[Any, ...], compute: Callable[[], Any]) -> None:
    try:
        _store(key, compute())
    except Exception:  # keep serving the previous value; the next request retries
        log.warning("refreshing the dashboard's %s failed", key, exc_info=True)
    finally:
        with _cache_lock:
            _refreshing.discard(key)


def forget(prefix: tuple[Any, ...]) -> None:
    """Drop cached values whose key starts with ``prefix`` (after an upload or a rename)."""
    with _cache_lock:
        for key in [k for k in _cache if k[: len(prefix)] == prefix]:
            del _cache[key]


def version_stats(
    engine: Engine, key: str, version_id: int, definition: QuestionnaireDefinition
) -> VersionStats | None:
    """Return the funnel, distributions and reliability of a version (cached, see above);
    None while a first count takes longer than a page may wait."""

    def compute() -> VersionStats:
        with Session(engine) as session:
            dists, answered = distributions_and_answered(definition, version_id, session=session)
            return VersionStats(
                funnel=funnel(definition, version_id, session=session, answered=answered),
                distributions=dists,
                reliability=sampled_reliability(definition, version_id, session=session),
                counted_at=datetime.now(UTC),
                max_age=CACHE_SECONDS,
            )

    return cached_within(("q", key, version_id, id(engine)), compute, wait=PAGE_WAIT_SECONDS)


# --- the funnel ----------------------------------------------------------------------------


def funnel(
    definition: QuestionnaireDefinition,
    version_id: int,
    *,
    session: Session,
    answered: dict[str, int] | None = None,
) -> Funnel:
    """Count sessions started, reaching each question, stopping at it, and completed.

    ``answered`` (question id -> sessions that answered it) saves a scan when the caller
    counted it already.
    """
    kept = counters.read(version_id, ("status", "stopped"), session=session)
    by_status = {status: n for (status, _), n in kept["status"].items()}
    stopped = {cursor: n for (cursor, _), n in kept["stopped"].items() if cursor}
    if answered is None:
        answered = answered_counts(version_id, session=session)
    steps = []
    for question_id, question in definition.questions().items():
        waiting = stopped.get(question_id, 0)
        steps.append(
            FunnelStep(
                question_id=question_id,
                text=definition.text(question.text),
                reached=answered.get(question_id, 0) + waiting,
                stopped=waiting,
            )
        )
    return Funnel(
        started=sum(by_status.values()),
        completed=by_status.get(SessionStatus.COMPLETED.value, 0),
        by_status=by_status,
        steps=steps,
    )


def answered_counts(version_id: int, *, session: Session) -> dict[str, int]:
    """Return question id -> sessions of the version that answered it (one row each)."""
    kept = counters.read(version_id, ("answered",), session=session)["answered"]
    return {question_id: n for (question_id, _), n in kept.items()}


# --- answer distributions ------------------------------------------------------------------


def _value_label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def distributions(
    definition: QuestionnaireDefinition, version_id: int, *, session: Session
) -> list[Distribution]:
    """Count the answers of every item of a version, grouped by value in SQL."""
    return distributions_and_answered(definition, version_id, session=session)[0]


def distributions_and_answered(
    definition: QuestionnaireDefinition, version_id: int, *, session: Session
) -> tuple[list[Distribution], dict[str, int]]:
    """Count the answers of every item by value, and how many sessions answered each."""
    questions = definition.questions()
    exact: list[str] = []
    ranged: list[str] = []
    for qid, question in questions.items():
        if isinstance(question, NumberQuestion):
            span = (
                None
                if question.min is None or question.max is None
                else question.max - question.min
            )
            if question.integer and span is not None and span <= MAX_EXACT_VALUES:
                exact.append(qid)
            else:
                ranged.append(qid)
        elif not isinstance(question, TextQuestion | MultipleChoiceQuestion):
            exact.append(qid)

    # Kept as answers arrive (backend.storage.counters): no scan of the answers here.
    kept = counters.read(version_id, ("answered", "value"), session=session)
    answered = {qid: n for (qid, _), n in kept["answered"].items()}
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    numeric = {
        qid for qid, q in questions.items() if isinstance(q, LikertQuestion | NumberQuestion)
    }
    for (qid, item), n in kept["value"].items():
        label = _number_label(item) if qid in numeric else item
        counts[qid][label] = counts[qid].get(label, 0) + n
    for qid in ranged:
        counts[qid] = _binned(counts.get(qid, {}))

    out = []
    for qid, question in questions.items():
        got = counts.get(qid, {})
        kind = question.type
        ordered: list[tuple[str, int]]
        if isinstance(question, LikertQuestion):
            ordered = [(str(p), got.get(str(p), 0)) for p in range(1, question.points + 1)]
        elif isinstance(question, SingleChoiceQuestion | MultipleChoiceQuestion):
            ordered = [(definition.text(o.text), got.get(o.id, 0)) for o in question.options]
        elif isinstance(question, YesNoQuestion):
            ordered = [("yes", got.get("yes", 0)), ("no", got.get("no", 0))]
        elif isinstance(question, NumberQuestion) and qid in exact:
            low, high = int(question.min or 0), int(question.max or 0)
            ordered = [(str(v), got.get(str(v), 0)) for v in range(low, high + 1)]
        else:
            ordered = list(got.items())
        out.append(
            Distribution(
                question_id=qid,
                text=definition.text(question.text),
                kind=kind,
                answered=answered.get(qid, 0),
                counts=ordered,
            )
        )
    return out, dict(answered)


def _number_label(item: str) -> str:
    try:
        return _value_label(float(item))
    except ValueError:
        return item


def _binned(values: dict[str, int]) -> dict[str, int]:
    """Count a number question's answers in equal-width bins between its extremes."""
    numbers = {float(v): n for v, n in values.items()}
    if not numbers:
        return {}
    low, high = min(numbers), max(numbers)
    width = (high - low) / NUMBER_BINS or 1.0
    out: dict[str, int] = {}
    for number, count in sorted(numbers.items()):
        index = min(int((number - low) // width), NUMBER_BINS - 1)
        start = low + index * width
        label = f"{_value_label(round(start, 2))}–{_value_label(round(start + width, 2))}"
        out[label] = out.get(label, 0) + count
    return out


# --- reliability ---------------------------------------------------------------------------


def sampled_reliability(
    definition: QuestionnaireDefinition,
    version_id: int,
    *,
    session: Session,
    sample: int = RELIABILITY_SAMPLE,
) -> Reliability:
    """Cronbach's alpha per dimension from the latest ``sample`` completed sessions.

    The scoring core does the statistics; only the sample's answers are read.
    """
    status = counters.read(version_id, ("status",), session=session)["status"]
    completed = status.get((SessionStatus.COMPLETED.value, ""), 0)
    latest = (
        select(QuizSession.id)
        .where(QuizSession.version_id == version_id)
        .where(QuizSession.status == SessionStatus.COMPLETED)
        .order_by(col(QuizSession.id).desc())
        .limit(sample)
    )
    by_session: dict[int, dict[str, Any]] = defaultdict(dict)
    for session_id, question_id, value in session.exec(
        select(Answer.session_id, Answer.question_id, Answer.value).where(
            col(Answer.session_id).in_(latest.scalar_subquery())
        )
    ):
        by_session[session_id][question_id] = value
    key = ScoringKey.from_definition(definition)
    dims = reliability(key, key.raw_matrix(list(by_session.values())))
    return Reliability(completed=int(completed), sampled=len(by_session), dimensions=dims)


# --- segments ------------------------------------------------------------------------------


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
