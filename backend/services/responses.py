"""Response service: score completed sessions, read answers back, compute reliability."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine, bindparam
from sqlmodel import Session, col, select

from backend.questionnaire.schema import LikertQuestion, MultipleChoiceQuestion, NumberQuestion
from backend.quiz import AnswerInvalid, QuizNavigator, check_value, parse_typed
from backend.scoring import DimensionReliability, ScoringKey, reliability, score_answers
from backend.services.questionnaires import current_version, definition_of, get_questionnaire
from backend.storage.limits import value_problem
from backend.storage.models import (
    Answer,
    QuestionnaireVersion,
    QuizSession,
    Respondent,
    SessionScore,
    SessionStatus,
)
from backend.storage.segment_tables import Segment, SegmentAssignment
from backend.storage.types import utcnow

#: Built once: every answer reads the session's answers, and building a statement costs
#: more than running it.
_ANSWERS = select(Answer.question_id, Answer.value).where(
    Answer.session_id == bindparam("session_id")
)


def answers_of(session_id: int, *, session: Session) -> dict[str, Any]:
    """Return a session's current answers as question id -> value."""
    return dict(session.exec(_ANSWERS, params={"session_id": session_id}).all())


_VERSION_IDENTITY = select(
    QuestionnaireVersion.questionnaire_id, QuestionnaireVersion.content_hash
).where(QuestionnaireVersion.id == bindparam("version_id"))
#: (version id, content hash) -> scoring key: versions are immutable, and the hash tells
#: apart equal ids of different databases in one process.
_SCORING_KEYS: dict[tuple[int, str], ScoringKey] = {}
_SCORING_KEYS_MAX = 256


def _scoring_key(version_id: int, *, session: Session) -> tuple[int, ScoringKey]:
    """Return the questionnaire id and scoring key of a version, without loading its JSON."""
    questionnaire_id, content_hash = session.exec(
        _VERSION_IDENTITY, params={"version_id": version_id}
    ).one()
    key = _SCORING_KEYS.get((version_id, content_hash))
    if key is None:
        version = session.get(QuestionnaireVersion, version_id)
        assert version is not None
        if len(_SCORING_KEYS) >= _SCORING_KEYS_MAX:
            _SCORING_KEYS.clear()
        key = _SCORING_KEYS[version_id, content_hash] = ScoringKey.from_definition(
            definition_of(version)
        )
    return questionnaire_id, key


def record_scores(
    quiz_session: QuizSession,
    *,
    session: Session,
    answers: dict[str, Any] | None = None,
    first: bool = False,
    scoring: tuple[int, ScoringKey] | None = None,
) -> SessionScore:
    """Score a finished session and store its dimension vector (replacing an earlier one).

    ``answers`` are the session's stored answers when the caller has them at hand;
    ``first``: the session is completing now, so it has no earlier vector to look up;
    ``scoring``: its version's questionnaire id and scoring key, when the caller has them.
    """
    assert quiz_session.id is not None
    questionnaire_id, key = scoring or _scoring_key(quiz_session.version_id, session=session)
    if answers is None:
        answers = answers_of(quiz_session.id, session=session)
    scores, scores_100 = score_answers(key, answers)
    completed_at = quiz_session.completed_at or utcnow()
    row = None if first else session.get(SessionScore, quiz_session.id)
    if row is None:
        row = SessionScore(
            session_id=quiz_session.id,
            respondent_id=quiz_session.respondent_id,
            questionnaire_id=questionnaire_id,
            version_id=quiz_session.version_id,
            completed_at=completed_at,
            scores=scores,
            scores_100=scores_100,
        )
    else:
        row.scores, row.scores_100, row.completed_at = scores, scores_100, completed_at
    session.add(row)
    session.flush()
    return row


def version_reliability(
    key: str, *, session: Session, version: int | None = None
) -> tuple[QuestionnaireVersion, int, list[DimensionReliability]]:
    """Compute alpha and item-total correlations of one version from its completed sessions.

    Returns the version, the number of completed sessions read, and one result per
    dimension.
    """
    questionnaire = get_questionnaire(key, session=session)
    if version is None:
        stored = current_version(key, session=session)
    else:
        found = session.exec(
            select(QuestionnaireVersion).where(
                QuestionnaireVersion.questionnaire_id == questionnaire.id,
                QuestionnaireVersion.version == version,
            )
        ).first()
        if found is None:
            raise LookupError(f"{key!r} has no version {version}")
        stored = found
    scoring_key = ScoringKey.from_definition(definition_of(stored))
    by_session: dict[int, dict[str, Any]] = defaultdict(dict)
    rows = session.exec(
        select(Answer.session_id, Answer.question_id, Answer.value)
        .join(QuizSession, col(QuizSession.id) == Answer.session_id)
        .where(
            QuizSession.version_id == stored.id,
            QuizSession.status == SessionStatus.COMPLETED,
        )
    ).all()
    for session_id, question_id, value in rows:
        by_session[session_id][question_id] = value
    raw = scoring_key.raw_matrix(list(by_session.values()))
    return stored, len(by_session), reliability(scoring_key, raw)


# --- CSV export and import ------------------------------------------------------------------

#: Separator of the options of a multiple-choice answer inside one CSV cell.
MULTI_SEPARATOR = ";"


class ImportError_(ValueError):
    """A response file was rejected; ``problems`` lists each with its line and column."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


#: What a spreadsheet reads as the start of a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralise_cell(value: Any) -> Any:
    """Return ``value`` safe to open in a spreadsheet: text that a spreadsheet would run as
    a formula gets a leading ``'`` (OWASP's advice); plain numbers such as ``-1.5`` stay."""
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_STARTS)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def neutralise_row(row: Sequence[Any]) -> list[Any]:
    """Apply :func:`neutralise_cell` to every cell of a CSV row."""
    return [neutralise_cell(cell) for cell in row]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return MULTI_SEPARATOR.join(str(v) for v in value)
    return str(value)


#: Completed sessions read per batch of an export (their answers are read per batch too).
EXPORT_BATCH = 2_000


def export_responses(key: str, *, engine: Engine) -> Iterator[list[str]]:
    """Yield the header, then one row per completed session with its answers (by item id),
    dimension scores and segment.

    Rows are read in batches of :data:`EXPORT_BATCH` sessions, so an export of any size
    needs little memory. Pass a reader (:func:`~backend.storage.engine.make_reader`): the
    export then takes no write lock however long it runs.

    Raises
    ------
    QuestionnaireNotFound
        On the first ``next()``, before any row.
    """

    with Session(engine) as session:
        questionnaire = get_questionnaire(key, session=session)
        definition = definition_of(current_version(key, session=session))
        question_ids = list(definition.questions())
        dimensions = [d.id for d in definition.dimensions]
        segment_of = _segments_by_respondent(session, questionnaire.id or 0)
        yield [
            "respondent",
            "session",
            "version",
            "completed_at",
            *question_ids,
            *dimensions,
            *(f"{d}_100" for d in dimensions),
            "segment",
        ]
        scores = session.execute(
            sa.select(  # more columns than sqlmodel's select is typed for
                col(SessionScore.session_id),
                col(SessionScore.respondent_id),
                col(SessionScore.completed_at),
                col(SessionScore.scores),
                col(SessionScore.scores_100),
                col(Respondent.external_id),
                col(QuestionnaireVersion.version),
            )
            .join(Respondent, col(Respondent.id) == col(SessionScore.respondent_id))
            .join(
                QuestionnaireVersion, col(QuestionnaireVersion.id) == col(SessionScore.version_id)
            )
            .where(col(SessionScore.questionnaire_id) == questionnaire.id)
            .order_by(col(SessionScore.completed_at), col(SessionScore.session_id))
            .execution_options(yield_per=EXPORT_BATCH)
        )
        for batch in scores.partitions():
            answers: dict[int, dict[str, Any]] = defaultdict(dict)
            for session_id, question_id, value in session.execute(
                select(Answer.session_id, Answer.question_id, Answer.value).where(
                    col(Answer.session_id).in_([row.session_id for row in batch])
                )
            ):
                answers[session_id][question_id] = value
            for row in batch:
                given = answers[row.session_id]
                yield [
                    row.external_id or str(row.respondent_id),
                    str(row.session_id),
                    str(row.version),
                    row.completed_at.isoformat(),
                    *(_cell(given.get(q)) for q in question_ids),
                    *(_cell(row.scores.get(d)) for d in dimensions),
                    *(_cell(row.scores_100.get(d)) for d in dimensions),
                    segment_of.get(row.respondent_id, ""),
                ]


def _segments_by_respondent(session: Session, questionnaire_id: int) -> dict[int, str]:
    """Respondent -> current segment name (empty before the first segmentation)."""

    rows = session.exec(
        select(SegmentAssignment.respondent_id, Segment.name)
        .join(Segment, col(Segment.id) == col(SegmentAssignment.segment_id))
        .where(SegmentAssignment.questionnaire_id == questionnaire_id)
    ).all()
    return dict(rows)


def _parse_cell(question: Any, raw: str) -> Any:

    if isinstance(question, LikertQuestion):
        digits = raw.strip().lstrip("-")
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 6):
            raise ValueError(f"expected a whole number from 1 to {question.points}")
        return check_value(question, int(raw))
    if isinstance(question, MultipleChoiceQuestion):
        chosen = [part.strip() for part in raw.split(MULTI_SEPARATOR) if part.strip()]
        return check_value(question, chosen)
    if isinstance(question, NumberQuestion):
        return parse_typed(question, raw)
    if question.type == "text":
        return parse_typed(question, raw)
    return check_value(question, raw.strip())


def _external_id_type() -> Any:

    return Respondent.__table__.c.external_id.type  # type: ignore[attr-defined]


def import_responses(
    key: str,
    text: str,
    *,
    session: Session,
    assign_segment: Any = None,
) -> int:
    """Import completed responses collected elsewhere (CSV, one column per item id, an
    optional ``respondent`` column of external ids). All rows or none; returns the count.

    Raises
    ------
    ImportError_
        With every problem found, each naming its line and column.
    """

    stored = current_version(key, session=session)
    definition = definition_of(stored)
    questions = definition.questions()
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ImportError_(["line 1: the file is empty; expected a header of item ids"]) from None
    except csv.Error as exc:
        raise ImportError_([f"line 1: not CSV: {exc}"]) from None
    problems: list[str] = []
    known = {"respondent", *questions}
    unknown = [h for h in header if h not in known]
    if unknown:
        problems.append(
            f"line 1: unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"expected respondent and item ids of {key!r}"
        )
    if len(set(header)) != len(header):
        problems.append("line 1: a column appears twice")
    if problems:
        raise ImportError_(problems)
    parsed: list[tuple[str | None, dict[str, Any]]] = []
    seen_external: set[str] = set()
    try:
        for line_no, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                problems.append(f"line {line_no}: {len(row)} cells, the header has {len(header)}")
                continue
            external: str | None = None
            values: dict[str, Any] = {}
            for column, raw in zip(header, row, strict=True):
                if column == "respondent":
                    external = raw.strip() or None
                    continue
                if not raw.strip():
                    continue
                try:
                    values[column] = _parse_cell(questions[column], raw)
                except (AnswerInvalid, ValueError) as exc:
                    problems.append(f"line {line_no}, column {column}: {raw!r}: {exc}")
            if external is not None:
                problem = value_problem(external, _external_id_type())
                if problem:
                    problems.append(f"line {line_no}, column respondent: the id {problem}")
                elif external in seen_external:
                    problems.append(f"line {line_no}: respondent {external!r} appears twice")
                seen_external.add(external)
            parsed.append((external, values))
    except csv.Error as exc:
        problems.append(f"line {reader.line_num}: not CSV: {exc}")
    if problems:
        raise ImportError_(
            problems[:50] + ([f"… and {len(problems) - 50} more"] if len(problems) > 50 else [])
        )
    assert stored.id is not None
    for external, values in parsed:
        respondent = None
        if external is not None:
            respondent = session.exec(
                select(Respondent).where(Respondent.external_id == external)
            ).first()
        if respondent is None:
            respondent = Respondent(external_id=external)
            session.add(respondent)
            session.flush()
        assert respondent.id is not None
        quiz = QuizSession(
            respondent_id=respondent.id,
            version_id=stored.id,
            status=SessionStatus.COMPLETED,
            completed_at=utcnow(),
        )
        session.add(quiz)
        session.flush()
        assert quiz.id is not None
        # Drop answers to questions the branching would not have asked.
        navigator = QuizNavigator(definition, 0)
        kept = {q: v for q, v in values.items() if navigator.is_visible(q, values)}
        for question_id, value in kept.items():
            session.add(Answer(session_id=quiz.id, question_id=question_id, value=value))
        session.flush()
        score = record_scores(quiz, session=session)
        if assign_segment is not None:
            assign_segment(session, score)
    return len(parsed)
