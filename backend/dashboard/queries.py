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

import numpy as np
from sqlalchemy import Engine, bindparam, text
from sqlmodel import Session, col, select

from backend.followups.policy import FREQUENCY_CAP, QUIET_HOURS
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
from backend.scoring.reliability import WEAK_ALPHA, cronbach_alpha
from backend.services.segments import UNCERTAIN_BELOW
from backend.storage import counters
from backend.storage.followup_tables import FollowupStatus
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
class ItemAnalysis:
    question_id: str
    text: str
    reverse: bool
    #: Correlation of the item with the sum of the scale's other items.
    item_total: float | None
    #: The scale's alpha without this item.
    alpha_if_deleted: float | None

    def lowers(self, alpha: float | None) -> bool:
        """True when the scale would be more reliable without this item."""
        return (
            alpha is not None
            and self.alpha_if_deleted is not None
            and self.alpha_if_deleted > alpha + 0.01
        ) or (self.item_total is not None and self.item_total < 0.2)


@dataclass(frozen=True, slots=True)
class ScaleReliability:
    dimension: str
    label: str
    n: int
    alpha: float | None
    items: list[ItemAnalysis]

    @property
    def verdict(self) -> str:
        """What the figures mean for the marketer, in one or two sentences."""
        if len(self.items) < 2:
            return "One item: reliability needs at least two items that measure the same thing."
        if self.alpha is None:
            return (
                f"Not enough complete answers yet ({self.n}): alpha appears once a few "
                "respondents have answered every item of this scale."
            )
        worst = [i for i in self.items if i.lowers(self.alpha)]
        worst.sort(key=lambda i: (i.alpha_if_deleted or 0.0) - (i.item_total or 0.0), reverse=True)
        if self.alpha >= 0.8:
            level = "Good: the items measure the same thing."
        elif self.alpha >= WEAK_ALPHA:
            level = "Acceptable, though more or better items would sharpen it."
        else:
            level = "Weak: the items do not hang together well enough to trust the score."
        if worst:
            item = worst[0]
            level += (
                f" Item “{item.text}” ({item.question_id}) lowers this scale's reliability"
                + (
                    f" (alpha {item.alpha_if_deleted:.2f} without it)"
                    if item.alpha_if_deleted is not None
                    else ""
                )
                + "; consider rewording it"
                + (" or checking its reverse key." if item.reverse else ".")
            )
        return level


@dataclass(frozen=True, slots=True)
class Reliability:
    #: Completed sessions of the version, and how many the figures were computed from.
    completed: int
    sampled: int
    dimensions: list[DimensionReliability]
    scales: list[ScaleReliability] = field(default_factory=list)


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


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _scalar(dialect: str, column: str) -> str:
    """The SQL text of a JSON scalar (a string without quotes, a number as written)."""
    if dialect == "postgresql":
        return f"({column} #>> '{{}}')"
    return f"json_extract({column}, '$')"


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
            names = scale_labels(definition, question)
            ordered = [(names[p - 1], got.get(str(p), 0)) for p in range(1, question.points + 1)]
        elif isinstance(question, SingleChoiceQuestion | MultipleChoiceQuestion):
            ordered = [(definition.text(o.text), got.get(o.id, 0)) for o in question.options]
        elif isinstance(question, YesNoQuestion):
            yes = definition.text(question.yes_label) or "yes"
            no = definition.text(question.no_label) or "no"
            ordered = [(yes, got.get("yes", 0)), (no, got.get("no", 0))]
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


def scale_labels(definition: QuestionnaireDefinition, question: LikertQuestion) -> list[str]:
    """Return each point of a Likert item as a person reads it: "1 · Strongly disagree"."""
    points = question.points
    words = [""] * points
    if question.labels and len(question.labels) == points:
        words = [definition.text(label) for label in question.labels]
    elif question.labels and len(question.labels) == 2:
        words[0], words[-1] = (definition.text(label) for label in question.labels)
    if question.min_label is not None:
        words[0] = definition.text(question.min_label)
    if question.max_label is not None:
        words[-1] = definition.text(question.max_label)
    return [f"{p} · {w}" if w else str(p) for p, w in enumerate(words, start=1)]


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
    raw = key.raw_matrix(list(by_session.values()))
    dims = reliability(key, raw)
    return Reliability(
        completed=int(completed),
        sampled=len(by_session),
        dimensions=dims,
        scales=item_analysis(definition, key, raw, dims),
    )


def item_analysis(
    definition: QuestionnaireDefinition,
    key: ScoringKey,
    raw: Any,
    dims: list[DimensionReliability],
) -> list[ScaleReliability]:
    """Add alpha-if-item-deleted to the scoring core's alpha and item-total correlations."""
    keyed = np.asarray(raw, dtype=np.float64) * key.scales + key.offsets
    questions = definition.questions()
    out = []
    for d, dim in enumerate(dims):
        cols = [c for c, column in enumerate(key.columns) if column.dimension == d]
        block = keyed[:, cols]
        complete = block[~np.isnan(block).any(axis=1)] if len(block) else block
        items = []
        for position, stat in enumerate(dim.items):
            rest = np.delete(complete, position, axis=1) if len(cols) > 2 else None
            question = questions.get(stat.question)
            items.append(
                ItemAnalysis(
                    question_id=stat.question,
                    text=definition.text(question.text) if question is not None else "",
                    reverse=stat.reverse,
                    item_total=stat.corrected_item_total,
                    alpha_if_deleted=cronbach_alpha(rest) if rest is not None else None,
                )
            )
        label = definition.text(definition.dimension(dim.dimension).label)
        out.append(ScaleReliability(dim.dimension, label, dim.n, dim.alpha, items))
    return out


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


# --- answers split by segment --------------------------------------------------------------


def answers_by_segment(
    definition: QuestionnaireDefinition,
    version_id: int,
    questionnaire_id: int,
    *,
    session: Session,
) -> dict[str, dict[int, dict[str, int]]]:
    """Count each choice and Likert item's answers by value within each current segment.

    Returns question id -> segment id -> value (as stored: point, option id) -> count.
    Grouped in SQL; only asked for when a marketer splits the answers.
    """
    dialect = _dialect(session)
    questions = definition.questions()
    scalar = [
        qid
        for qid, q in questions.items()
        if isinstance(q, LikertQuestion | SingleChoiceQuestion | YesNoQuestion)
    ]
    multi = [qid for qid, q in questions.items() if isinstance(q, MultipleChoiceQuestion)]
    out: dict[str, dict[int, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    join = (
        "JOIN quizsession s ON s.id = a.session_id "
        "JOIN segmentassignment g ON g.respondent_id = s.respondent_id "
        "AND g.questionnaire_id = :q "
    )
    if scalar:
        value = _scalar(dialect, "a.value")
        rows = session.execute(
            text(
                f"SELECT a.question_id, g.segment_id, {value} AS v, COUNT(*) FROM answer a "
                f"{join}WHERE s.version_id = :v AND a.question_id IN :ids "
                "GROUP BY a.question_id, g.segment_id, v"
            ).bindparams(bindparam("ids", expanding=True)),
            {"v": version_id, "q": questionnaire_id, "ids": scalar},
        )
        for qid, segment_id, raw, count in rows:
            if raw is not None:
                out[qid][int(segment_id)][_value_label(raw)] = int(count)
    if multi:
        source = (
            "answer a CROSS JOIN LATERAL jsonb_array_elements_text(a.value) AS e(value)"
            if dialect == "postgresql"
            else "answer a, json_each(a.value) AS e"
        )
        rows = session.execute(
            text(
                f"SELECT a.question_id, g.segment_id, e.value, COUNT(*) FROM {source} "
                f"{join}WHERE s.version_id = :v AND a.question_id IN :ids "
                "GROUP BY a.question_id, g.segment_id, e.value"
            ).bindparams(bindparam("ids", expanding=True)),
            {"v": version_id, "q": questionnaire_id, "ids": multi},
        )
        for qid, segment_id, option, count in rows:
            out[qid][int(segment_id)][str(option)] = int(count)
    return {qid: dict(by) for qid, by in out.items()}


def value_order(definition: QuestionnaireDefinition, question: Any) -> list[tuple[str, str]]:
    """Return (stored value, label) of a question's possible answers, in its own order."""
    if isinstance(question, LikertQuestion):
        names = scale_labels(definition, question)
        return [(str(p), names[p - 1]) for p in range(1, question.points + 1)]
    if isinstance(question, SingleChoiceQuestion | MultipleChoiceQuestion):
        return [(o.id, definition.text(o.text)) for o in question.options]
    if isinstance(question, YesNoQuestion):
        return [
            ("yes", definition.text(question.yes_label) or "yes"),
            ("no", definition.text(question.no_label) or "no"),
        ]
    return []


# --- segment history and membership --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Confidence:
    """How sure the segmenter is of a segment's members."""

    mean: float
    uncertain: float  # share of members below ``UNCERTAIN_BELOW``
    members: int


def membership_confidence(questionnaire_id: int, *, session: Session) -> dict[int, Confidence]:
    """Return segment id -> its members' mean confidence and share of uncertain members.

    Members assigned before soft membership (no confidence) are left out of both figures.
    """
    rows = session.execute(
        text(
            "SELECT segment_id, AVG(confidence), "
            "AVG(CASE WHEN confidence < :below THEN 1.0 ELSE 0.0 END), COUNT(*) "
            "FROM segmentassignment WHERE questionnaire_id = :q AND confidence IS NOT NULL "
            "GROUP BY segment_id"
        ),
        {"q": questionnaire_id, "below": UNCERTAIN_BELOW},
    )
    return {
        int(segment): Confidence(float(mean), float(uncertain), int(n))
        for segment, mean, uncertain, n in rows
    }


# --- follow-ups ----------------------------------------------------------------------------


@dataclass
class FollowupCounts:
    """What happened to one item (and variant) for one segment's respondents."""

    pack_key: str
    item_id: str
    variant: str | None
    segment_key: str
    queued: int = 0
    #: Still pending, moved later by quiet hours or the frequency cap.
    deferred: int = 0
    #: Still pending and not deferred: due later or right now.
    waiting: int = 0
    #: Requests made (delivered or uncertain).
    sent: int = 0
    delivered: int = 0
    clicked: int = 0
    #: Respondents whose last delivered follow-up this was when they opted out (/stop).
    opted_out_after: int = 0
    #: Sends Telegram refused because the person had blocked the bot (403).
    blocked: int = 0
    expired: int = 0
    failed: int = 0
    cancelled: int = 0
    deferred_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def click_rate(self) -> float | None:
        return self.clicked / self.delivered if self.delivered else None


#: The outbox's ``deferred_reason`` as a marketer reads it.
DEFERRED_LABELS = {QUIET_HOURS: "quiet hours", FREQUENCY_CAP: "frequency cap"}
BLOCKED_PREFIX = "blocked: "


def _in_state(session: Session, status: str) -> str:
    """SQL of the outbox rows in one state, found through the state index (few rows)."""
    # SQLite would merge the subquery into the outer GROUP BY and scan the whole table in
    # the statistics index's order; a LIMIT keeps it apart. PostgreSQL plans this well.
    limit = " LIMIT -1" if _dialect(session) == "sqlite" else ""
    return (
        "SELECT pack_key, item_id, variant, segment_key, reason, deferred_reason "
        "FROM followupmessage "
        f"WHERE status = '{FollowupStatus(status).value}'{limit}"
    )


def deferred_reasons(
    *, session: Session
) -> dict[tuple[str, str, str | None, str], dict[str, int]]:
    """Return (pack, item, variant, segment key) -> why its pending rows wait -> count."""
    rows = session.execute(
        text(
            "SELECT f.pack_key, f.item_id, f.variant, f.segment_key, f.deferred_reason, COUNT(*) "
            f"FROM ({_in_state(session, 'pending')}) f WHERE f.deferred_reason IS NOT NULL "
            "GROUP BY f.pack_key, f.item_id, f.variant, f.segment_key, f.deferred_reason"
        )
    )
    out: dict[tuple[str, str, str | None, str], dict[str, int]] = defaultdict(dict)
    for pack, item, variant, segment, why, count in rows:
        out[(pack, item, variant, segment)][DEFERRED_LABELS.get(why, why)] = int(count)
    return dict(out)


def followup_counts(*, session: Session) -> list[FollowupCounts]:
    """Count per item, variant and segment everything the follow-ups page shows, in SQL.

    Rows are keyed by the segment's id, never by the name saved when a row was queued, so
    the page always shows the segment's current name.
    """
    group = "f.pack_key, f.item_id, f.variant, f.segment_key"
    rows: dict[tuple[Any, ...], FollowupCounts] = {}

    def at(key: tuple[Any, ...]) -> FollowupCounts:
        if key not in rows:
            rows[key] = FollowupCounts(*key)
        return rows[key]

    # By state, from the statistics index alone; the reasons are read for the few rows
    # whose state has several (pending: deferred or not; failed: blocked or not).
    # Grouped in the index's own order (the stored name too, merged here): no sort needed.
    for *key, _name, status, count in session.execute(
        text(
            f"SELECT {group}, f.segment_name, f.status, COUNT(*) FROM followupmessage f "
            f"GROUP BY {group}, f.segment_name, f.status"
        )
    ):
        counts = at(tuple(key))
        counts.queued += count
        if status in ("sent", "uncertain"):
            counts.sent += count
        if status == "sent":
            counts.delivered += count
        elif status in ("pending", "sending"):
            counts.waiting += count
        elif status == "failed":
            counts.failed += count
        elif status == "expired":
            counts.expired += count
        elif status == "cancelled":
            counts.cancelled += count
    for *key, count in session.execute(
        text(
            f"SELECT {group}, COUNT(*) FROM ({_in_state(session, 'failed')}) f "
            f"WHERE f.reason LIKE :blocked GROUP BY {group}"
        ),
        {"blocked": BLOCKED_PREFIX + "%"},
    ):
        counts = at(tuple(key))
        counts.blocked += count
        counts.failed -= count
    for *key, count in session.execute(
        text(
            f"SELECT {group}, COUNT(DISTINCT c.message_id) FROM followupclick c "
            f"JOIN followupmessage f ON f.id = c.message_id GROUP BY {group}"
        )
    ):
        at(tuple(key)).clicked = int(count)
    # Last touch: an opt-out counts against the last follow-up the person had received.
    # (Few people opt out: read them first; CROSS JOIN keeps SQLite to that order.)
    for *key, count in session.execute(
        text(
            f"SELECT {group}, COUNT(*) FROM respondent r CROSS JOIN followupmessage f "
            "WHERE f.respondent_id = r.id AND r.opted_out = :yes AND f.status = 'sent' "
            "AND f.sent_at = ("
            "SELECT MAX(l.sent_at) FROM followupmessage l "
            "WHERE l.respondent_id = f.respondent_id AND l.status = 'sent') "
            f"GROUP BY {group}"
        ),
        {"yes": True},
    ):
        at(tuple(key)).opted_out_after = int(count)
    for group_key, reasons in deferred_reasons(session=session).items():
        if group_key in rows:
            deferred = sum(reasons.values())
            rows[group_key].deferred_reasons = reasons
            rows[group_key].deferred += deferred
            rows[group_key].waiting -= deferred
    return sorted(
        rows.values(),
        key=lambda r: (r.segment_key, r.pack_key, r.item_id, r.variant or ""),
    )


def cached_followup_counts(engine: Engine) -> list[FollowupCounts] | None:
    """:func:`followup_counts`, served from the cache like the funnel (None while a first
    count over a large outbox takes longer than a page may wait)."""

    def compute() -> list[FollowupCounts]:
        with Session(engine) as session:
            return followup_counts(session=session)

    return cached_within(("fc", id(engine)), compute, wait=PAGE_WAIT_SECONDS)
