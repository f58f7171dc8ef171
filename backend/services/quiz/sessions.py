"""The answer path: a respondent's quiz session, its cursor, answers and draft, and its steps.

Performance-critical: an answer is one transaction of a fixed, small number of statements
(``tests/services/test_quiz_statements.py`` counts them); a change here must not add one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from backend.caches import BoundedCache
from backend.questionnaire.schema import (
    ChoiceQuestionBase,
    MultipleChoiceQuestion,
    Question,
    QuestionnaireDefinition,
    YesNoQuestion,
)
from backend.quiz import RESULT_SHOWN, AnswerInvalid, QuizNavigator, Step, StepKind, seed_for
from backend.scoring import ScoringKey
from backend.services.questionnaires import definition_of
from backend.services.quiz.completion import SegmentAssigner, complete
from backend.services.quiz.respondents import (
    RECORD_UPDATE,
    ChatUser,
    StaleAction,
    record_update_params,
    respondent_id_for,
)
from backend.services.responses import answers_of
from backend.storage.models import (
    Answer,
    Questionnaire,
    QuestionnaireVersion,
    QuizSession,
    SessionStatus,
)
from backend.storage.types import utcnow


@dataclass(frozen=True, slots=True)
class LoadedVersion:
    """A questionnaire version as the answer path uses it, read and parsed once."""

    questionnaire_id: int
    definition: QuestionnaireDefinition
    #: What a completion scores its answers with.
    scoring: ScoringKey


#: Loaded versions keyed by ``(version id,)``: versions are immutable, and one cache serves
#: one database (each QuizService has its own), so nothing ever invalidates it.
Versions = BoundedCache[LoadedVersion]

# Statements of the answer path, built once: building one costs more than running it.
_INSERT_ANSWER = insert(Answer)
_UPDATE_ANSWER = update(Answer).where(
    col(Answer.session_id) == bindparam("b_session_id"),
    col(Answer.question_id) == bindparam("b_question_id"),
)

#: Move a session's cursor on (the ORM's flush would build this statement each time).
_MOVE = (
    update(QuizSession)
    .where(col(QuizSession.id) == bindparam("b_session_id"))
    .values(
        cursor=bindparam("b_cursor"),
        draft=bindparam("b_draft"),
        updated_at=bindparam("b_now"),
    )
)
#: PostgreSQL: store the answer and move the cursor in one round trip.
_INSERT_AND_MOVE = _MOVE.add_cte(
    insert(Answer)
    .values(
        session_id=bindparam("b_session_id"),
        question_id=bindparam("b_question_id"),
        value=bindparam("b_value"),
    )
    .returning(col(Answer.session_id))
    .cte("stored")
)

#: A session, locked, with its answers (one row each, or one without any): one round trip.
_SESSION_WITH_ANSWERS = (
    select(QuizSession, col(Answer.question_id), col(Answer.value))
    .outerjoin(Answer, col(Answer.session_id) == col(QuizSession.id))
    .where(col(QuizSession.id) == bindparam("b_session_id"))
    .with_for_update(of=QuizSession)
)

NOT_AVAILABLE = "That quiz is no longer available."

_RECORDED = RECORD_UPDATE.cte("recorded")
#: PostgreSQL: a returning respondent's update checked and recorded (RECORD_UPDATE), and
#: the session with its answers read and locked, in one round trip.
_RECORDED_SESSION_WITH_ANSWERS = (
    select(
        QuizSession,
        col(Answer.question_id),
        col(Answer.value),
        select(_RECORDED.c.id).scalar_subquery().label("recorded"),
    )
    .add_cte(_RECORDED)
    .outerjoin(Answer, col(Answer.session_id) == col(QuizSession.id))
    .where(col(QuizSession.id) == bindparam("b_session_id"))
    .with_for_update(of=QuizSession)
)

#: Record that a step reached the respondent, unless the session moved on meanwhile.
_MARK_SHOWN = (
    update(QuizSession)
    .where(
        col(QuizSession.id) == bindparam("b_session_id"),
        col(QuizSession.status) == SessionStatus.ACTIVE,
        func.coalesce(col(QuizSession.cursor), "") == bindparam("b_shown"),
    )
    .values(shown=bindparam("b_shown"))
)
#: A completed session's result reached the respondent.
_MARK_RESULT_SHOWN = (
    update(QuizSession)
    .where(
        col(QuizSession.id) == bindparam("b_session_id"),
        col(QuizSession.status) == SessionStatus.COMPLETED,
    )
    .values(shown=RESULT_SHOWN)
)


def latest_active(*, session: Session, respondent_id: int | None) -> QuizSession | None:
    """The respondent's most recently used unfinished session."""
    return session.exec(
        select(QuizSession)
        .where(
            QuizSession.respondent_id == respondent_id,
            QuizSession.status == SessionStatus.ACTIVE,
        )
        .order_by(col(QuizSession.updated_at).desc(), col(QuizSession.id).desc())
    ).first()


def active_session(
    *, session: Session, respondent_id: int | None, questionnaire_id: int | None
) -> QuizSession | None:
    """The respondent's unfinished session of this questionnaire (any version), if any."""
    return session.exec(
        select(QuizSession)
        .join(QuestionnaireVersion)
        .where(
            QuizSession.respondent_id == respondent_id,
            QuizSession.status == SessionStatus.ACTIVE,
            QuestionnaireVersion.questionnaire_id == questionnaire_id,
        )
    ).first()


def new_session(
    *,
    session: Session,
    respondent_id: int,
    questionnaire: Questionnaire,
    user: ChatUser,
    versions: Versions,
    first: bool = False,
) -> QuizSession:
    """Begin a session of the questionnaire's current version, at its intro (or its first
    question when it has none), in the respondent's language when the quiz speaks it.

    ``first``: the respondent has no sessions yet (they were just created), so there are
    no earlier attempts to count. A newcomer's session is one INSERT.
    """
    version_id = questionnaire.current_version_id
    assert version_id is not None
    version = loaded_version(session=session, version_id=version_id, versions=versions)
    definition = version.definition
    attempts = 0
    if not first:
        attempts = session.exec(
            select(func.count())
            .select_from(QuizSession)
            .join(QuestionnaireVersion)
            .where(
                QuizSession.respondent_id == respondent_id,
                QuestionnaireVersion.questionnaire_id == questionnaire.id,
            )
        ).one()
    quiz = QuizSession(
        respondent_id=respondent_id,
        version_id=version_id,
        language=_language(definition, user),
        seed=seed_for(respondent_id, questionnaire.key, attempts),
    )
    if definition.intro is None:
        enter_first(quiz=quiz, definition=definition, answers={})
    session.add(quiz)
    session.flush()
    return quiz


def _language(definition: QuestionnaireDefinition, user: ChatUser) -> str:
    code = (user.language_code or "").lower()
    for candidate in (code, code.split("-", 1)[0]):
        if candidate in definition.languages:
            return candidate
    return definition.fallback_language


def restart_target(*, session: Session, respondent_id: int | None) -> QuizSession | None:
    """The session /restart starts over: the latest unfinished one, else the latest one."""
    quiz = latest_active(session=session, respondent_id=respondent_id)
    if quiz is not None:
        return quiz
    return session.exec(
        select(QuizSession)
        .where(QuizSession.respondent_id == respondent_id)
        .order_by(col(QuizSession.id).desc())
    ).first()


def own_session(*, session: Session, respondent_id: int | None, session_id: int) -> QuizSession:
    """Lock and return the respondent's active session ``session_id``."""
    quiz = session.get(QuizSession, session_id, with_for_update=True)
    _check_own(quiz, respondent_id)
    assert quiz is not None
    return quiz


def own_session_with_answers(
    *, session: Session, respondent_id: int | None, session_id: int
) -> tuple[QuizSession, dict[str, Any]]:
    """:func:`own_session` and its answers (question id -> value), read together."""
    rows = session.exec(_SESSION_WITH_ANSWERS, params={"b_session_id": session_id}).all()
    quiz = rows[0][0] if rows else None
    _check_own(quiz, respondent_id)
    assert quiz is not None
    return quiz, {question: value for _, question, value in rows if question is not None}


def recorded_own_session_with_answers(
    *, session: Session, user: ChatUser, update_id: int, session_id: int, erasure_key: bytes
) -> tuple[QuizSession, dict[str, Any]]:
    """PostgreSQL: record the update (see :func:`respondent_id_for`) and return
    :func:`own_session` with its answers, in one round trip when the respondent is known and
    unchanged.

    Any other case (a duplicate, a newcomer, a changed name) changed nothing in that round
    trip and takes the full way. A session that does not exist is stale, whoever asks: the
    transaction is rolled back, the update's record with it.
    """
    params = record_update_params(user, update_id) | {"b_session_id": session_id}
    rows = session.execute(_RECORDED_SESSION_WITH_ANSWERS, params).all()
    if not rows:
        raise StaleAction(NOT_AVAILABLE)
    respondent_id = rows[0].recorded
    if respondent_id is None:
        respondent_id = respondent_id_for(
            session=session, user=user, update_id=update_id, erasure_key=erasure_key
        )
    quiz = rows[0][0]
    _check_own(quiz, respondent_id)
    return quiz, {question: value for _, question, value, _ in rows if question is not None}


def _check_own(quiz: QuizSession | None, respondent_id: int | None) -> None:
    if quiz is None or quiz.respondent_id != respondent_id:
        raise StaleAction(NOT_AVAILABLE)
    if quiz.status == SessionStatus.COMPLETED:
        raise StaleAction("You have already finished this quiz.")
    if quiz.status == SessionStatus.CANCELLED:
        raise StaleAction("That quiz was restarted or cancelled.")


def loaded_version(*, session: Session, version_id: int, versions: Versions) -> LoadedVersion:
    """The version, from the cache: an answer neither loads nor parses its JSON."""
    found = versions.get((version_id,))
    if found is None:
        version = session.get(QuestionnaireVersion, version_id)
        assert version is not None
        definition = definition_of(version)
        found = LoadedVersion(
            questionnaire_id=version.questionnaire_id,
            definition=definition,
            scoring=ScoringKey.from_definition(definition),
        )
        versions.put((version_id,), found)
    return found


def enter_first(
    *, quiz: QuizSession, definition: QuestionnaireDefinition, answers: dict[str, Any]
) -> None:
    """Move the cursor from the intro to the first question."""
    quiz.cursor = QuizNavigator(definition, quiz.seed).first(answers)


def current_question(
    *, quiz: QuizSession, definition: QuestionnaireDefinition, question_id: str
) -> Question:
    """The question ``question_id`` if it is the one being asked, else :class:`StaleAction`."""
    if quiz.cursor is None:
        raise StaleAction("Press “Begin” to start the quiz first.")
    if quiz.cursor != question_id:
        raise StaleAction("That question is already answered; see the latest message.")
    return definition.questions()[question_id]


def touch(*, session: Session, quiz: QuizSession) -> None:
    """Mark the session as used now."""
    # No flush: the commit writes it, and queries autoflush before they read.
    quiz.updated_at = utcnow()
    session.add(quiz)


def mark_shown(*, connection: Connection, session_id: int, marker: str) -> None:
    """Record that the step ``marker`` (see :attr:`Step.marker`) reached the respondent."""
    if marker == RESULT_SHOWN:
        connection.execute(_MARK_RESULT_SHOWN, {"b_session_id": session_id})
    else:
        connection.execute(_MARK_SHOWN, {"b_session_id": session_id, "b_shown": marker})


def undelivered(quiz: QuizSession) -> bool:
    """Whether the session's current step (its result, once completed) never reached the
    respondent."""
    if quiz.status == SessionStatus.COMPLETED:
        return quiz.shown != RESULT_SHOWN
    return quiz.shown is None or quiz.shown != (quiz.cursor or "")


def latest_completed(*, session: Session, respondent_id: int | None) -> QuizSession | None:
    """The respondent's most recently completed session."""
    return session.exec(
        select(QuizSession)
        .where(
            QuizSession.respondent_id == respondent_id,
            QuizSession.status == SessionStatus.COMPLETED,
        )
        .order_by(col(QuizSession.completed_at).desc(), col(QuizSession.id).desc())
    ).first()


def record(
    *,
    session: Session,
    quiz: QuizSession,
    version: LoadedVersion,
    question: Question,
    value: Any,
    versions: Versions,
    assign_segment: SegmentAssigner | None,
    answers: dict[str, Any] | None = None,
) -> Step:
    """Store an answer (None for a skip), move the cursor on, and return what follows.

    ``version`` is the session's; ``answers`` are the session's answers so far, when the
    caller read them already.
    """
    assert quiz.id is not None
    definition = version.definition
    # The hot path: plain rows and prepared statements, no ORM flush.
    if answers is None:
        answers = answers_of(quiz.id, session=session)
    changed = question.id in answers
    answers[question.id] = value
    navigator = QuizNavigator(definition, quiz.seed)
    following = navigator.next_after(question.id, answers)
    # An answer changed after "Back" may put the respondent on a path they already
    # answered further along: continue at the first question still unanswered.
    while following is not None and following in answers:
        following = navigator.next_after(following, answers)
    if following is None:
        _write_answer(session, quiz.id, question.id, value, changed=changed)
        quiz.draft = None
        step = complete(
            session=session,
            quiz=quiz,
            questionnaire_id=version.questionnaire_id,
            definition=definition,
            scoring=version.scoring,
            navigator=navigator,
            answers=answers,
            assign_segment=assign_segment,
        )
    else:
        stored_next = answers.get(following)
        draft = list(stored_next) if isinstance(stored_next, list) else None
        _write_answer_and_move(
            session, quiz, question.id, value, changed=changed, cursor=following, draft=draft
        )
        step = step_of(session=session, quiz=quiz, versions=versions, answers=answers)
    step.answered_question, step.answered_value = question.id, value
    return step


def _write_answer(
    session: Session, session_id: int, question_id: str, value: Any, *, changed: bool
) -> None:
    """Store an answer: a new one, or a change to one given before (after "Back")."""
    if changed:
        session.execute(
            _UPDATE_ANSWER,
            {
                "b_session_id": session_id,
                "b_question_id": question_id,
                "value": value,
                "answered_at": utcnow(),
            },
        )
    else:
        session.execute(
            _INSERT_ANSWER, {"session_id": session_id, "question_id": question_id, "value": value}
        )


def _write_answer_and_move(
    session: Session,
    quiz: QuizSession,
    question_id: str,
    value: Any,
    *,
    changed: bool,
    cursor: str,
    draft: list[str] | None,
) -> None:
    """Store an answer and move the session's cursor to the next question.

    On PostgreSQL a new answer and the move are one statement: each is a round trip, and
    most answers are new.
    """
    assert quiz.id is not None
    now = utcnow()
    move = {"b_session_id": quiz.id, "b_cursor": cursor, "b_draft": draft, "b_now": now}
    if not changed and session.get_bind().dialect.name == "postgresql":
        session.execute(_INSERT_AND_MOVE, move | {"b_question_id": question_id, "b_value": value})
    else:
        _write_answer(session, quiz.id, question_id, value, changed=changed)
        session.execute(_MOVE, move)
    # Stored above: the session object takes the values without a flush of its own.
    for attribute, stored in (("cursor", cursor), ("draft", draft), ("updated_at", now)):
        set_committed_value(quiz, attribute, stored)


def toggle(
    *,
    session: Session,
    quiz: QuizSession,
    question: Question,
    option_id: str,
    versions: Versions,
    answers: dict[str, Any] | None = None,
) -> Step:
    """Tick or untick an option of a multiple-choice question (kept in the draft)."""
    if not isinstance(question, MultipleChoiceQuestion):
        raise StaleAction("That button does not belong to this question.")
    if option_id not in {o.id for o in question.options}:
        raise StaleAction("That option is not part of this question.")
    ticked = list(quiz.draft or [])
    if option_id in ticked:
        ticked.remove(option_id)
    else:
        top = question.max_selected or len(question.options)
        if len(ticked) >= top:
            raise AnswerInvalid(f"You can choose at most {top}. Untick one to choose another.")
        ticked.append(option_id)
    quiz.draft = ticked
    touch(session=session, quiz=quiz)
    return step_of(session=session, quiz=quiz, versions=versions, answers=answers)


def back(
    *,
    session: Session,
    quiz: QuizSession,
    definition: QuestionnaireDefinition,
    question: Question,
    versions: Versions,
    answers: dict[str, Any] | None = None,
) -> Step:
    """Move the cursor to the question before ``question`` on the respondent's path."""
    assert quiz.id is not None
    navigator = QuizNavigator(definition, quiz.seed)
    if answers is None:
        answers = answers_of(quiz.id, session=session)
    previous = navigator.previous(question.id, answers)
    if previous is None:
        raise StaleAction("This is the first question.")
    quiz.cursor = previous
    stored = answers.get(previous)
    quiz.draft = list(stored) if isinstance(stored, list) else None
    touch(session=session, quiz=quiz)
    return step_of(session=session, quiz=quiz, versions=versions, answers=answers)


def step_of(
    *,
    session: Session,
    quiz: QuizSession,
    versions: Versions,
    answers: dict[str, Any] | None = None,
) -> Step:
    """The step the session's cursor is at: the intro or the current question."""
    assert quiz.id is not None
    definition = loaded_version(
        session=session, version_id=quiz.version_id, versions=versions
    ).definition
    if quiz.cursor is None:
        return Step(StepKind.INTRO, quiz.id, definition, quiz.language)
    navigator = QuizNavigator(definition, quiz.seed)
    if answers is None:
        answers = answers_of(quiz.id, session=session)
    question = definition.questions()[quiz.cursor]
    position, total = navigator.progress(quiz.cursor, answers)
    current = quiz.draft if isinstance(question, MultipleChoiceQuestion) else None
    if current is None:
        current = answers.get(quiz.cursor)
    section_index = navigator.plan.section_of[quiz.cursor]
    section = definition.sections[section_index]
    previous = navigator.previous(quiz.cursor, answers)
    entering = previous is None or navigator.plan.section_of[previous] != section_index
    section_intro = None
    if entering and (section.title or section.intro):
        parts = [
            definition.text(section.title, quiz.language),
            definition.text(section.intro, quiz.language),
        ]
        section_intro = "\n".join(p for p in parts if p)
    return Step(
        kind=StepKind.QUESTION,
        session_id=quiz.id,
        definition=definition,
        language=quiz.language,
        question=question,
        position=position,
        total=total,
        options=navigator.options(quiz.cursor),
        current=current,
        can_back=previous is not None,
        section_intro=section_intro,
    )


def decode_option(question: Question, raw: str) -> str:
    """The option id a button's value (the option's position) stands for."""
    if not isinstance(question, ChoiceQuestionBase) or not (raw.isascii() and raw.isdigit()):
        raise StaleAction("That option is not part of this question.")
    index = int(raw)
    if index >= len(question.options):
        raise StaleAction("That option is not part of this question.")
    return question.options[index].id


def decode_button(question: Question, raw: str) -> Any:
    """The answer value a button's value stands for."""
    if isinstance(question, YesNoQuestion):
        return raw
    if isinstance(question, ChoiceQuestionBase):
        return decode_option(question, raw)
    if raw.isascii() and raw.isdigit() and len(raw) <= 6:
        return int(raw)
    raise StaleAction("That answer is not part of this question.")
