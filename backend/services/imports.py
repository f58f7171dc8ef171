"""Import responses collected elsewhere (a survey tool, a spreadsheet) from a CSV file.

The file is checked completely before anything is stored: every problem is reported on one
line with its row and column, and a rejected file stores nothing. A respondent is identified
by the file's respondent id (stored as the respondent's external id), so importing the same
file twice changes nothing and a corrected file replaces the earlier answers. Imported
respondents are scored and segmented like chat respondents; they have no Telegram chat, so
follow-ups cannot reach them.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from backend.questionnaire import QuestionnaireDefinition
from backend.questionnaire.schema import (
    LikertQuestion,
    MultipleChoiceQuestion,
    NumberQuestion,
    Question,
)
from backend.quiz import AnswerInvalid, QuizNavigator, check_value, parse_typed
from backend.services.questionnaires import current_version, definition_of
from backend.services.responses import MULTI_SEPARATOR, record_scores
from backend.storage.engine import session_scope
from backend.storage.models import (
    Answer,
    QuestionnaireVersion,
    QuizSession,
    Respondent,
    SessionStatus,
)
from backend.storage.types import utcnow

__all__ = ["ID_COLUMNS", "ImportReport", "ResponsesRejected", "import_response_file"]

#: Accepted names (any case) of the respondent id column.
ID_COLUMNS = ("respondent", "respondent_id", "id")
#: At most this many problems are listed; the rest are counted.
MAX_PROBLEMS = 50

#: Called with a stage ("check" or "store"), rows done and rows in all.
ImportProgress = Callable[[str, int, int], None]


class ResponsesRejected(ValueError):
    """The file was rejected; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class ImportReport:
    """What an import stored."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    #: Respondents in the file without a Telegram chat: follow-ups cannot reach them.
    no_chat: int = 0
    #: Respondents assigned to a segment at once (the questionnaire has been segmented).
    segmented: int = 0
    respondents: list[str] = field(default_factory=list)


def _decode(raw: bytes) -> str:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ResponsesRejected(
            ["the file is UTF-16 encoded; save it as CSV in UTF-8 (Excel: 'CSV UTF-8')"]
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ResponsesRejected(
            [
                f"row {line}: byte 0x{raw[exc.start]:02x} is not UTF-8: the file is in another "
                "encoding (Windows-1252 or Latin-1?); save it as CSV in UTF-8 (Excel: "
                "'CSV UTF-8') and import it again"
            ]
        ) from None


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    first = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(first, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _parse(question: Question, raw: str) -> Any:
    """Turn one cell into an answer value; raise ValueError saying what is expected."""
    text = raw.strip()
    if isinstance(question, LikertQuestion):
        if not text.lstrip("-").isdigit() or not 1 <= int(text) <= question.points:
            raise ValueError(
                f"{raw!r} is outside the 1–{question.points} scale; write a whole number "
                f"from 1 to {question.points} or leave the cell empty"
            )
        return check_value(question, int(text))
    try:
        if isinstance(question, MultipleChoiceQuestion):
            chosen = [part.strip() for part in text.split(MULTI_SEPARATOR) if part.strip()]
            return check_value(question, chosen)
        if isinstance(question, NumberQuestion) or question.type == "text":
            return parse_typed(question, text)
        return check_value(question, text)
    except AnswerInvalid as exc:
        raise ValueError(f"{raw!r}: {exc}") from None


def _check(
    text: str, definition: QuestionnaireDefinition, progress: ImportProgress
) -> list[tuple[str, dict[str, Any]]]:
    """Parse and check the whole file; return (respondent id, answers) per row."""
    questions = definition.questions()
    by_lower = {qid.lower(): qid for qid in questions}
    reader = csv.reader(io.StringIO(text), _dialect(text))
    try:
        header = next(reader)
    except StopIteration:
        raise ResponsesRejected(
            [
                "the file is empty: expected a header row with a respondent column "
                f"({' or '.join(ID_COLUMNS)}) and question ids"
            ]
        ) from None
    except csv.Error as exc:
        raise ResponsesRejected([f"row 1: not a CSV file ({exc})"]) from None
    problems: list[str] = []
    columns: list[str | None] = []
    id_at: int | None = None
    seen: dict[str, int] = {}
    for number, name in enumerate(header, start=1):
        key = name.strip().lower()
        where = f"row 1, column {number} ({name.strip()!r})"
        if key in seen:
            problems.append(f"{where}: the same column as column {seen[key]}; keep one of them")
            columns.append(None)
            continue
        seen[key] = number
        if key in ID_COLUMNS and id_at is None:
            id_at = number - 1
            columns.append(None)
        elif key in by_lower:
            columns.append(by_lower[key])
        else:
            problems.append(
                f"{where}: not a question of {definition.id!r}; rename it to a question id "
                f"({', '.join(list(questions)[:6])}{', …' if len(questions) > 6 else ''}) "
                "or remove the column"
            )
            columns.append(None)
    if id_at is None:
        problems.append(
            f"row 1: no respondent id column; add one named {ID_COLUMNS[0]!r} so that "
            "importing the file again updates the same respondents"
        )
    if problems:
        raise ResponsesRejected(problems)
    assert id_at is not None
    rows = text.count("\n") + 1
    parsed: list[tuple[str, dict[str, Any]]] = []
    first_row: dict[str, int] = {}
    try:
        for row_no, row in enumerate(reader, start=2):
            if row_no % 1000 == 0:
                progress("check", row_no, rows)
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                problems.append(
                    f"row {row_no}: {len(row)} cells but the header has {len(header)}; "
                    "check for a stray separator or a missing cell"
                )
                continue
            respondent = row[id_at].strip()
            if not respondent:
                problems.append(
                    f"row {row_no}, column {id_at + 1} ({header[id_at].strip()!r}): no "
                    "respondent id; every row needs one"
                )
                continue
            if respondent in first_row:
                problems.append(
                    f"row {row_no}, column {id_at + 1} ({header[id_at].strip()!r}): respondent "
                    f"{respondent!r} again (first on row {first_row[respondent]}); keep one "
                    "row per respondent"
                )
                continue
            first_row[respondent] = row_no
            values: dict[str, Any] = {}
            for number, (question_id, cell) in enumerate(zip(columns, row, strict=True), 1):
                if question_id is None or not cell.strip():
                    continue
                try:
                    values[question_id] = _parse(questions[question_id], cell)
                except ValueError as exc:
                    problems.append(f"row {row_no}, column {number} ({question_id}): {exc}")
            parsed.append((respondent, values))
    except csv.Error as exc:
        problems.append(f"row {reader.line_num}: not valid CSV ({exc})")
    if problems:
        extra = len(problems) - MAX_PROBLEMS
        raise ResponsesRejected(
            problems[:MAX_PROBLEMS] + ([f"… and {extra} more"] if extra > 0 else [])
        )
    if not parsed:
        raise ResponsesRejected(["the file has a header but no rows of answers"])
    progress("check", rows, rows)
    return parsed


def _store_one(
    session: Session,
    stored: QuestionnaireVersion,
    definition: QuestionnaireDefinition,
    version_ids: Sequence[int],
    external: str,
    values: dict[str, Any],
    report: ImportReport,
) -> QuizSession | None:
    """Create or update one respondent's imported session; None when nothing changed."""
    assert stored.id is not None
    navigator = QuizNavigator(definition, 0)
    kept = {q: v for q, v in values.items() if navigator.is_visible(q, values)}
    respondent = session.exec(select(Respondent).where(Respondent.external_id == external)).first()
    if respondent is None:
        respondent = Respondent(external_id=external)
        session.add(respondent)
        session.flush()
    assert respondent.id is not None
    if respondent.chat_id is None:
        report.no_chat += 1
    quiz = session.exec(
        select(QuizSession)
        .where(
            QuizSession.respondent_id == respondent.id,
            col(QuizSession.version_id).in_(version_ids),
            QuizSession.status == SessionStatus.COMPLETED,
        )
        .order_by(col(QuizSession.completed_at).desc())
        .limit(1)
    ).first()
    if quiz is not None and quiz.id is not None:
        given = dict(
            session.exec(
                select(Answer.question_id, Answer.value).where(Answer.session_id == quiz.id)
            ).all()
        )
        if given == kept and quiz.version_id == stored.id:
            report.unchanged += 1
            return None
        session.exec(delete(Answer).where(col(Answer.session_id) == quiz.id))
        quiz.version_id = stored.id
        quiz.completed_at = utcnow()
        session.add(quiz)
        report.updated += 1
    else:
        quiz = QuizSession(
            respondent_id=respondent.id,
            version_id=stored.id,
            status=SessionStatus.COMPLETED,
            completed_at=utcnow(),
        )
        session.add(quiz)
        report.created += 1
    session.flush()
    assert quiz.id is not None
    for question_id, value in kept.items():
        session.add(Answer(session_id=quiz.id, question_id=question_id, value=value))
    session.flush()
    return quiz


def import_response_file(
    engine: Engine,
    questionnaire_key: str,
    path: Path,
    *,
    progress: ImportProgress | None = None,
) -> ImportReport:
    """Check and import a CSV of responses in one transaction.

    Column names match question ids case-insensitively; one column (``respondent``,
    ``respondent_id`` or ``id``) holds the respondent id. Comma, semicolon and tab
    separators are recognised; the file must be UTF-8.

    Raises
    ------
    QuestionnaireNotFound
        No questionnaire has that key.
    ResponsesRejected
        With one line per problem; nothing was stored.
    """
    # Segmenting loads scikit-learn (seconds): only when a file is really imported, so the CLI
    # starts fast.
    from backend.services.segments import assign_now

    report_progress = progress or (lambda _stage, _done, _total: None)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ResponsesRejected([f"cannot read the file: {exc.strerror or exc}"]) from None
    if not raw.strip():
        raise ResponsesRejected(
            [
                "the file is empty: expected a header row with a respondent column "
                f"({' or '.join(ID_COLUMNS)}) and question ids"
            ]
        )
    text = _decode(raw)
    with session_scope(engine) as session:
        stored = current_version(questionnaire_key, session=session)
        definition = definition_of(stored)
        version_ids = session.exec(
            select(QuestionnaireVersion.id).where(
                QuestionnaireVersion.questionnaire_id == stored.questionnaire_id
            )
        ).all()
    parsed = _check(text, definition, report_progress)
    report = ImportReport(rows=len(parsed))
    with session_scope(engine) as session:
        version = session.get(QuestionnaireVersion, stored.id)
        assert version is not None
        ids = [v for v in version_ids if v is not None]
        for done, (external, values) in enumerate(parsed, start=1):
            quiz = _store_one(session, version, definition, ids, external, values, report)
            report.respondents.append(external)
            if quiz is not None:
                score = record_scores(quiz, session=session)
                if assign_now(session=session, score=score, enqueue=False) is not None:
                    report.segmented += 1
            if done % 200 == 0:
                report_progress("store", done, len(parsed))
        report_progress("store", len(parsed), len(parsed))
    return report
