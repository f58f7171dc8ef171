"""Quiz service: every chat action is one call here, in one database transaction.

Conversation state lives in the database (the session's cursor, answers and draft), so
any worker can process any update and a restart loses nothing that was acknowledged.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, bindparam, delete, func, insert, update
from sqlmodel import Session, col, select

from backend.questionnaire.schema import (
    ChoiceQuestionBase,
    MultipleChoiceQuestion,
    Question,
    QuestionnaireDefinition,
    YesNoQuestion,
)
from backend.quiz import AnswerInvalid, DimensionResult, QuizNavigator, check_value, profile
from backend.quiz import seed_for as _seed_for
from backend.services.questionnaires import definition_of
from backend.services.responses import answers_of, record_scores
from backend.storage.engine import session_scope, writer_lock
from backend.storage.models import (
    Answer,
    Erasure,
    Questionnaire,
    QuestionnaireStatus,
    QuestionnaireVersion,
    QuizSession,
    Respondent,
    SessionScore,
    SessionStatus,
)
from backend.storage.types import utcnow

#: How long an update id stays a reliable marker of what was processed (see _respondent).
DUPLICATE_WINDOW = timedelta(days=1)
#: How long an erasure tombstone is compared with update ids: Telegram numbers updates in
#: sequence and starts afresh at random only after a week without any update, and it keeps
#: an undelivered update for 24 hours, so within a week an id at or below the tombstone's is
#: an update from before the erasure.
ERASURE_WINDOW = timedelta(days=7)
#: The tombstone key when none is configured (the sandbox and tests).
UNKEYED_ERASURES = hashlib.sha256(b"psychograph-erasure-unkeyed").digest()

# Statements of the answer path, built once: building one costs more than running it.
_RESPONDENT = select(Respondent).where(Respondent.telegram_user_id == bindparam("user_id"))
_INSERT_ANSWER = insert(Answer)
_UPDATE_ANSWER = update(Answer).where(
    col(Answer.session_id) == bindparam("b_session_id"),
    col(Answer.question_id) == bindparam("b_question_id"),
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


def erasure_hash(key: bytes, telegram_user_id: int) -> str:
    """A keyed hash of a Telegram user id: recognises the user, cannot be read back."""
    return hmac.new(key, str(telegram_user_id).encode(), hashlib.sha256).hexdigest()


def erase_respondent(
    session: Session, respondent: Respondent, *, key: bytes, update_id: int | None = None
) -> None:
    """Delete a respondent and everything stored about them, keeping a tombstone.

    The tombstone (a keyed hash of their Telegram user id and their newest update id) lets
    a late or replayed update of theirs be ignored instead of creating them again.
    """
    now = utcnow()
    if respondent.telegram_user_id is not None:
        user_hash = erasure_hash(key, respondent.telegram_user_id)
        last = max(respondent.last_update_id, update_id or 0)
        tombstone = session.get(Erasure, user_hash)
        if tombstone is None:
            session.add(Erasure(user_hash=user_hash, last_update_id=last, erased_at=now))
        else:
            tombstone.last_update_id = max(tombstone.last_update_id, last)
            tombstone.erased_at = now
            session.add(tombstone)
        # Tombstones past the window tell nothing any more (see ERASURE_WINDOW).
        session.exec(delete(Erasure).where(col(Erasure.erased_at) < now - ERASURE_WINDOW))
    session.exec(delete(Respondent).where(col(Respondent.id) == respondent.id))


class QuizError(Exception):
    """Something the respondent did cannot be done now; the message says why."""


class StaleAction(QuizError):
    """A button from an earlier question, a finished quiz or an old version."""


class Duplicate(QuizError):
    """This update was processed before."""


@dataclass(frozen=True, slots=True)
class ChatUser:
    """Who an update comes from."""

    user_id: int
    chat_id: int
    first_name: str | None = None
    language_code: str | None = None


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    segment_id: int
    name: str
    description: str


@dataclass(slots=True)
class Step:
    """What the bot shows next."""

    kind: str  # "intro", "question", "result"
    session_id: int
    definition: QuestionnaireDefinition
    language: str
    question: Question | None = None
    position: int = 0
    total: int = 0
    options: tuple[str, ...] = ()
    #: The stored answer (after Back) or the ticked options (multiple choice).
    current: Any = None
    can_back: bool = False
    section_intro: str | None = None
    profile: list[DimensionResult] = field(default_factory=list)
    segment: SegmentInfo | None = None
    notice: str | None = None
    #: The question just answered (or skipped) to reach this step, and the stored value.
    answered_question: str | None = None
    answered_value: Any = None
    #: A result that ends the respondent's first quiz while the bot does not know their time
    #: zone: the bot asks for it (with consent, never guessed).
    ask_timezone: bool = False

    @property
    def marker(self) -> str | None:
        """What ``QuizSession.shown`` holds once this step reached the respondent: the
        question's id, ``""`` for the intro, None for a result (nothing to resume)."""
        if self.kind == "question" and self.question is not None:
            return self.question.id
        return "" if self.kind == "intro" else None


#: Called when a session completes, inside its transaction: returns the segment, if any.
SegmentAssigner = Callable[[Session, SessionScore], SegmentInfo | None]


@dataclass(frozen=True, slots=True)
class Listing:
    key: str
    questionnaire_id: int
    title: str
    description: str


@dataclass(frozen=True, slots=True)
class PrivacyReport:
    first_name: str | None
    language_code: str | None
    opted_out: bool
    sessions: int
    completed: int
    answers: int
    questionnaires: list[str]


class QuizService:
    """The respondent-facing operations; each public method is one transaction."""

    def __init__(
        self,
        engine: Engine,
        *,
        assign_segment: SegmentAssigner | None = None,
        erasure_key: bytes = UNKEYED_ERASURES,
    ) -> None:
        self.engine = engine
        self.assign_segment = assign_segment
        #: Key of the erasure tombstones' hashes (``Settings.erasure_key``).
        self.erasure_key = erasure_key
        self._definitions: dict[int, QuestionnaireDefinition] = {}

    # -- respondents --------------------------------------------------------------------

    def _respondent(self, session: Session, user: ChatUser, update_id: int | None) -> Respondent:
        respondent = session.exec(_RESPONDENT, params={"user_id": user.user_id}).first()
        if respondent is None:
            if update_id is not None:
                self._check_erasure(session, user, update_id)
            respondent = Respondent(
                telegram_user_id=user.user_id,
                chat_id=user.chat_id,
                first_name=user.first_name,
                language_code=user.language_code,
            )
            session.add(respondent)
            session.flush()
        else:
            changed = (respondent.chat_id, respondent.first_name, respondent.language_code) != (
                user.chat_id,
                user.first_name,
                user.language_code,
            )
            if changed:
                respondent.chat_id = user.chat_id
                respondent.first_name = user.first_name
                respondent.language_code = user.language_code or respondent.language_code
                respondent.updated_at = utcnow()
        if update_id is not None:
            now = utcnow()
            recent = (
                respondent.last_update_at is not None
                and now - respondent.last_update_at < DUPLICATE_WINDOW
            )
            # Telegram redelivers an update within minutes; after a week without updates it
            # starts update ids afresh at random, so older ids say nothing about new ones.
            if recent and update_id <= respondent.last_update_id:
                raise Duplicate("this update was processed before")
            respondent.last_update_id = update_id
            respondent.last_update_at = now
        session.add(respondent)
        return respondent

    def _check_erasure(self, session: Session, user: ChatUser, update_id: int) -> None:
        """Refuse an update from before this user erased their data; a newer one means they
        came back, and their tombstone goes."""
        tombstone = session.get(Erasure, erasure_hash(self.erasure_key, user.user_id))
        if tombstone is None:
            return
        recent = utcnow() - tombstone.erased_at < ERASURE_WINDOW
        if recent and update_id <= tombstone.last_update_id:
            raise Duplicate("an update from before this person erased their data")
        session.delete(tombstone)

    def _language(self, definition: QuestionnaireDefinition, user: ChatUser) -> str:
        code = (user.language_code or "").lower()
        for candidate in (code, code.split("-", 1)[0]):
            if candidate in definition.languages:
                return candidate
        return definition.fallback_language

    # -- listing and starting -----------------------------------------------------------

    def active_questionnaires(self) -> list[Listing]:
        with session_scope(self.engine) as session:
            rows = session.exec(
                select(Questionnaire, QuestionnaireVersion)
                .join(
                    QuestionnaireVersion,
                    col(Questionnaire.current_version_id) == col(QuestionnaireVersion.id),
                )
                .where(Questionnaire.status == QuestionnaireStatus.ACTIVE)
                .order_by(col(Questionnaire.key))
            ).all()
            out = []
            for questionnaire, version in rows:
                definition = definition_of(version)
                assert questionnaire.id is not None
                out.append(
                    Listing(
                        questionnaire.key,
                        questionnaire.id,
                        questionnaire.title,
                        definition.text(definition.description),
                    )
                )
            return out

    def start(
        self,
        user: ChatUser,
        *,
        key: str | None = None,
        questionnaire_id: int | None = None,
        update_id: int | None = None,
        restart: bool = False,
    ) -> Step:
        """Open a questionnaire: resume its unfinished session, or begin a new one."""
        with session_scope(self.engine) as session:
            respondent = self._respondent(session, user, update_id)
            respondent.opted_out = False
            query = select(Questionnaire)
            if questionnaire_id is not None:
                query = query.where(Questionnaire.id == questionnaire_id)
            else:
                query = query.where(Questionnaire.key == key)
            questionnaire = session.exec(query).first()
            if questionnaire is None or questionnaire.status != QuestionnaireStatus.ACTIVE:
                raise QuizError(
                    f"There is no open questionnaire called “{key}”."
                    if key
                    else "That questionnaire is no longer open."
                )
            active = session.exec(
                select(QuizSession)
                .join(QuestionnaireVersion)
                .where(
                    QuizSession.respondent_id == respondent.id,
                    QuizSession.status == SessionStatus.ACTIVE,
                    QuestionnaireVersion.questionnaire_id == questionnaire.id,
                )
            ).first()
            if active is not None and not restart:
                active.updated_at = utcnow()
                session.add(active)
                step = self._step(session, active, user)
                step.notice = "Welcome back! Here is where you left off."
                return step
            if active is not None:
                active.status = SessionStatus.CANCELLED
                session.add(active)
            version = session.get(QuestionnaireVersion, questionnaire.current_version_id)
            assert version is not None
            assert version.id is not None
            assert respondent.id is not None
            attempts = session.exec(
                select(func.count())
                .select_from(QuizSession)
                .join(QuestionnaireVersion)
                .where(
                    QuizSession.respondent_id == respondent.id,
                    QuestionnaireVersion.questionnaire_id == questionnaire.id,
                )
            ).one()
            definition = definition_of(version)
            quiz = QuizSession(
                respondent_id=respondent.id,
                version_id=version.id,
                language=self._language(definition, user),
                seed=_seed_for(respondent.id, questionnaire.key, attempts),
            )
            session.add(quiz)
            session.flush()
            if definition.intro is None:
                self._enter_first(quiz, definition, {})
            return self._step(session, quiz, user)

    def _enter_first(
        self, quiz: QuizSession, definition: QuestionnaireDefinition, answers: dict[str, Any]
    ) -> None:
        quiz.cursor = QuizNavigator(definition, quiz.seed).first(answers)

    # -- the current session ------------------------------------------------------------

    def _latest_active(self, session: Session, respondent: Respondent) -> QuizSession | None:
        return session.exec(
            select(QuizSession)
            .where(
                QuizSession.respondent_id == respondent.id,
                QuizSession.status == SessionStatus.ACTIVE,
            )
            .order_by(col(QuizSession.updated_at).desc(), col(QuizSession.id).desc())
        ).first()

    def _own_session(
        self, session: Session, respondent: Respondent, session_id: int
    ) -> QuizSession:
        quiz = session.get(QuizSession, session_id, with_for_update=True)
        if quiz is None or quiz.respondent_id != respondent.id:
            raise StaleAction("That quiz is no longer available.")
        if quiz.status == SessionStatus.COMPLETED:
            raise StaleAction("You have already finished this quiz.")
        if quiz.status == SessionStatus.CANCELLED:
            raise StaleAction("That quiz was restarted or cancelled.")
        return quiz

    def resume(self, user: ChatUser, *, update_id: int | None = None) -> Step | None:
        """Return the step of the most recent unfinished quiz, or None when there is none."""
        with session_scope(self.engine) as session:
            respondent = self._respondent(session, user, update_id)
            quiz = self._latest_active(session, respondent)
            if quiz is None:
                return None
            step = self._step(session, quiz, user)
            step.notice = "Welcome back! Here is where you left off."
            return step

    def restart(self, user: ChatUser, *, update_id: int | None = None) -> Step | None:
        """Start the most recent quiz over (earlier answers of it are set aside)."""
        with session_scope(self.engine) as session:
            respondent = self._respondent(session, user, update_id)
            quiz = self._latest_active(session, respondent)
            if quiz is None:
                last = session.exec(
                    select(QuizSession)
                    .where(QuizSession.respondent_id == respondent.id)
                    .order_by(col(QuizSession.id).desc())
                ).first()
                if last is None:
                    return None
                quiz = last
            version = session.get(QuestionnaireVersion, quiz.version_id)
            assert version is not None
            questionnaire_id = version.questionnaire_id
        return self.start(user, questionnaire_id=questionnaire_id, restart=True)

    def cancel(self, user: ChatUser, *, update_id: int | None = None) -> int:
        """Cancel every unfinished quiz; return how many there were."""
        with session_scope(self.engine) as session:
            respondent = self._respondent(session, user, update_id)
            active = session.exec(
                select(QuizSession).where(
                    QuizSession.respondent_id == respondent.id,
                    QuizSession.status == SessionStatus.ACTIVE,
                )
            ).all()
            for quiz in active:
                quiz.status = SessionStatus.CANCELLED
                session.add(quiz)
            return len(active)

    def begin(self, user: ChatUser, session_id: int, *, update_id: int | None = None) -> Step:
        """Leave the intro/consent message and show the first question."""
        with session_scope(self.engine) as session:
            respondent = self._respondent(session, user, update_id)
            quiz = self._own_session(session, respondent, session_id)
            if quiz.cursor is not None:
                raise StaleAction("You have already begun this quiz.")
            definition = self._definition(session, quiz)
            self._enter_first(quiz, definition, answers_of(session_id, session=session))
            self._touch(session, quiz)
            return self._step(session, quiz, user)

    def answer(
        self,
        user: ChatUser,
        session_id: int,
        question_id: str,
        value: Any,
        *,
        update_id: int | None = None,
    ) -> Step:
        """Record an answer to the current question and move on.

        Raises
        ------
        StaleAction
            The question is not the current one, or the quiz is over.
        AnswerInvalid
            The value does not fit the question (nothing is stored).
        """
        with session_scope(self.engine) as session:
            respondent = self._respondent(session, user, update_id)
            quiz = self._own_session(session, respondent, session_id)
            definition = self._definition(session, quiz)
            question = self._current_question(quiz, definition, question_id)
            value = check_value(question, value)
            return self._record(session, quiz, definition, question, value, user)

    def answer_text(
        self, user: ChatUser, text: str, *, update_id: int | None = None
    ) -> Step | None:
        """Take a typed message as the answer to the current question of the latest quiz.

        Returns None when no quiz is waiting for an answer.
        """
        from backend.quiz import parse_typed

        with session_scope(self.engine) as session:
            respondent = self._respondent(session, user, update_id)
            quiz = self._latest_active(session, respondent)
            if quiz is None:
                return None
            if _undelivered(quiz):
                # Their current question never reached them (a crash after storing the
                # previous answer): this text cannot be its answer. Show it again.
                step = self._step(session, quiz, user)
                step.notice = "Here is where you are in the quiz:"
                return step
            definition = self._definition(session, quiz)
            if quiz.cursor is None:
                raise AnswerInvalid("Press “Begin” above to start the quiz.")
            question = definition.questions()[quiz.cursor]
            value = parse_typed(question, text)
            return self._record(session, quiz, definition, question, value, user)

    def press(
        self,
        user: ChatUser,
        session_id: int,
        question_index: int,
        action: str,
        raw: str = "",
        *,
        update_id: int | None = None,
    ) -> Step:
        """Handle a quiz button in one transaction.

        ``question_index`` is the question's position in the definition and ``raw`` the
        button's value: a Likert point, an option's position, or ``yes``/``no``.
        """
        with session_scope(self.engine) as session:
            respondent = self._respondent(session, user, update_id)
            quiz = self._own_session(session, respondent, session_id)
            definition = self._definition(session, quiz)
            questions = list(definition.questions().values())
            if not 0 <= question_index < len(questions):
                raise StaleAction("That question is not part of this quiz.")
            question = self._current_question(quiz, definition, questions[question_index].id)
            if action == "answer":
                value = check_value(question, _decode_button(question, raw))
                return self._record(session, quiz, definition, question, value, user)
            if action == "toggle":
                return self._toggle(session, quiz, question, _decode_option(question, raw), user)
            if action == "done":
                value = check_value(question, list(quiz.draft or []))
                return self._record(session, quiz, definition, question, value, user)
            if action == "skip":
                if question.required:
                    raise AnswerInvalid("This question needs an answer.")
                return self._record(session, quiz, definition, question, None, user)
            if action == "back":
                return self._back(session, quiz, definition, question, user)
            raise StaleAction("This button is not valid.")

    # -- delivery -------------------------------------------------------------------------

    def mark_shown(self, session_id: int, marker: str) -> None:
        """Record that the step ``marker`` (see :attr:`Step.marker`) reached the respondent."""
        # Core, not a Session: this runs once per message sent and is a single statement.
        lock = writer_lock(self.engine)
        with lock if lock is not None else nullcontext(), self.engine.begin() as connection:
            connection.execute(_MARK_SHOWN, {"b_session_id": session_id, "b_shown": marker})

    def undelivered_step(self, user: ChatUser) -> Step | None:
        """The current step of the respondent's latest quiz if it never reached them (the
        service stopped between storing an answer and sending what follows), else None.

        Reads only: a stranger or an erased person is not created by asking.
        """
        with session_scope(self.engine) as session:
            respondent = session.exec(_RESPONDENT, params={"user_id": user.user_id}).first()
            if respondent is None:
                return None
            quiz = self._latest_active(session, respondent)
            if quiz is None or not _undelivered(quiz):
                return None
            step = self._step(session, quiz, user)
            step.notice = "Here is where you are in the quiz:"
            return step

    # -- privacy --------------------------------------------------------------------------

    def privacy(self, user: ChatUser, *, update_id: int | None = None) -> PrivacyReport:
        with session_scope(self.engine) as session:
            respondent = self._respondent(session, user, update_id)
            sessions = session.exec(
                select(QuizSession, Questionnaire.title)
                .join(
                    QuestionnaireVersion,
                    col(QuizSession.version_id) == col(QuestionnaireVersion.id),
                )
                .join(
                    Questionnaire,
                    col(QuestionnaireVersion.questionnaire_id) == col(Questionnaire.id),
                )
                .where(QuizSession.respondent_id == respondent.id)
            ).all()
            ids = [quiz.id for quiz, _ in sessions]
            answers = (
                session.exec(
                    select(func.count()).select_from(Answer).where(col(Answer.session_id).in_(ids))
                ).one()
                if ids
                else 0
            )
            return PrivacyReport(
                first_name=respondent.first_name,
                language_code=respondent.language_code,
                opted_out=respondent.opted_out,
                sessions=len(sessions),
                completed=sum(q.status == SessionStatus.COMPLETED for q, _ in sessions),
                answers=answers,
                questionnaires=sorted({title for _, title in sessions}),
            )

    def delete_me(self, user: ChatUser, *, update_id: int | None = None) -> bool:
        """Erase the respondent and everything stored about them; False if nothing was.

        Pressing "erase" again, or the same press delivered twice, answers True while the
        erasure is recent: the person is told again that their data is gone.
        """
        with session_scope(self.engine) as session:
            respondent = session.exec(_RESPONDENT, params={"user_id": user.user_id}).first()
            if respondent is None:
                tombstone = session.get(Erasure, erasure_hash(self.erasure_key, user.user_id))
                return tombstone is not None and utcnow() - tombstone.erased_at < ERASURE_WINDOW
            erase_respondent(session, respondent, key=self.erasure_key, update_id=update_id)
            return True

    def set_opt_out(
        self, user: ChatUser, opted_out: bool, *, update_id: int | None = None
    ) -> None:
        with session_scope(self.engine) as session:
            respondent = self._respondent(session, user, update_id)
            respondent.opted_out = opted_out
            session.add(respondent)

    def set_timezone(
        self, user: ChatUser, zone: str | None, *, update_id: int | None = None
    ) -> None:
        """Store the time zone the respondent chose (None forgets it); quiet hours use it."""
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise QuizError(
                    f"{zone!r} is not a time zone I know; write it like Europe/Berlin."
                ) from None
        with session_scope(self.engine) as session:
            respondent = self._respondent(session, user, update_id)
            respondent.timezone = zone
            respondent.updated_at = utcnow()
            session.add(respondent)

    def timezone(self, user: ChatUser) -> str | None:
        """Return the time zone the respondent chose, if any."""
        with session_scope(self.engine) as session:
            respondent = session.exec(_RESPONDENT, params={"user_id": user.user_id}).first()
            return respondent.timezone if respondent is not None else None

    def touch(self, user: ChatUser, *, update_id: int | None = None) -> None:
        """Record that an update was seen (so its redelivery is ignored)."""
        with session_scope(self.engine) as session:
            self._respondent(session, user, update_id)

    # -- internals ------------------------------------------------------------------------

    def _toggle(
        self,
        session: Session,
        quiz: QuizSession,
        question: Question,
        option_id: str,
        user: ChatUser,
    ) -> Step:
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
        self._touch(session, quiz)
        return self._step(session, quiz, user)

    def _back(
        self,
        session: Session,
        quiz: QuizSession,
        definition: QuestionnaireDefinition,
        question: Question,
        user: ChatUser,
    ) -> Step:
        assert quiz.id is not None
        navigator = QuizNavigator(definition, quiz.seed)
        answers = answers_of(quiz.id, session=session)
        previous = navigator.previous(question.id, answers)
        if previous is None:
            raise StaleAction("This is the first question.")
        quiz.cursor = previous
        stored = answers.get(previous)
        quiz.draft = list(stored) if isinstance(stored, list) else None
        self._touch(session, quiz)
        return self._step(session, quiz, user)

    def _definition(self, session: Session, quiz: QuizSession) -> QuestionnaireDefinition:
        # Versions are immutable and this service serves one database: cache by id, so an
        # answer does not load and parse the definition's JSON again.
        found = self._definitions.get(quiz.version_id)
        if found is None:
            version = session.get(QuestionnaireVersion, quiz.version_id)
            assert version is not None
            found = self._definitions[quiz.version_id] = definition_of(version)
        return found

    def _current_question(
        self, quiz: QuizSession, definition: QuestionnaireDefinition, question_id: str
    ) -> Question:
        if quiz.cursor is None:
            raise StaleAction("Press “Begin” to start the quiz first.")
        if quiz.cursor != question_id:
            raise StaleAction("That question is already answered; see the latest message.")
        return definition.questions()[question_id]

    def _touch(self, session: Session, quiz: QuizSession) -> None:
        # No flush: the commit writes it, and queries autoflush before they read.
        quiz.updated_at = utcnow()
        session.add(quiz)

    def _record(
        self,
        session: Session,
        quiz: QuizSession,
        definition: QuestionnaireDefinition,
        question: Question,
        value: Any,
        user: ChatUser,
    ) -> Step:
        assert quiz.id is not None
        # The hot path: plain rows and one prepared statement, no ORM objects.
        answers = answers_of(quiz.id, session=session)
        if question.id in answers:
            session.execute(
                _UPDATE_ANSWER,
                {
                    "b_session_id": quiz.id,
                    "b_question_id": question.id,
                    "value": value,
                    "answered_at": utcnow(),
                },
            )
        else:
            session.execute(
                _INSERT_ANSWER,
                {"session_id": quiz.id, "question_id": question.id, "value": value},
            )
        answers[question.id] = value
        navigator = QuizNavigator(definition, quiz.seed)
        following = navigator.next_after(question.id, answers)
        # An answer changed after "Back" may put the respondent on a path they already
        # answered further along: continue at the first question still unanswered.
        while following is not None and following in answers:
            following = navigator.next_after(following, answers)
        quiz.draft = None
        if following is None:
            step = self._complete(session, quiz, definition, navigator, answers, user)
        else:
            quiz.cursor = following
            stored_next = answers.get(following)
            if isinstance(stored_next, list):
                quiz.draft = list(stored_next)
            self._touch(session, quiz)
            step = self._step(session, quiz, user, answers)
        step.answered_question, step.answered_value = question.id, value
        return step

    def _complete(
        self,
        session: Session,
        quiz: QuizSession,
        definition: QuestionnaireDefinition,
        navigator: QuizNavigator,
        answers: dict[str, Any],
        user: ChatUser,
    ) -> Step:
        assert quiz.id is not None
        kept = navigator.kept_answers(answers)
        dropped = [q for q in answers if q not in kept]
        if dropped:
            session.exec(
                delete(Answer).where(
                    col(Answer.session_id) == quiz.id, col(Answer.question_id).in_(dropped)
                )
            )
        quiz.status = SessionStatus.COMPLETED
        quiz.cursor = None
        quiz.completed_at = utcnow()
        self._touch(session, quiz)
        score = record_scores(quiz, session=session, answers=kept)
        segment = self.assign_segment(session, score) if self.assign_segment else None
        respondent = session.get(Respondent, quiz.respondent_id)
        completed = session.exec(
            select(func.count())
            .select_from(QuizSession)
            .where(
                QuizSession.respondent_id == quiz.respondent_id,
                QuizSession.status == SessionStatus.COMPLETED,
            )
        ).one()
        return Step(
            kind="result",
            session_id=quiz.id,
            definition=definition,
            language=quiz.language,
            profile=profile(definition, score.scores_100, quiz.language),
            segment=segment,
            ask_timezone=completed == 1 and respondent is not None and not respondent.timezone,
        )

    def _step(
        self,
        session: Session,
        quiz: QuizSession,
        user: ChatUser,
        answers: dict[str, Any] | None = None,
    ) -> Step:
        assert quiz.id is not None
        definition = self._definition(session, quiz)
        if quiz.cursor is None:
            return Step("intro", quiz.id, definition, quiz.language)
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
            kind="question",
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


def _undelivered(quiz: QuizSession) -> bool:
    """Whether the session's current step never reached the respondent."""
    return quiz.shown is None or quiz.shown != (quiz.cursor or "")


def _decode_option(question: Question, raw: str) -> str:
    if not isinstance(question, ChoiceQuestionBase) or not (raw.isascii() and raw.isdigit()):
        raise StaleAction("That option is not part of this question.")
    index = int(raw)
    if index >= len(question.options):
        raise StaleAction("That option is not part of this question.")
    return question.options[index].id


def _decode_button(question: Question, raw: str) -> Any:
    if isinstance(question, YesNoQuestion):
        return raw
    if isinstance(question, ChoiceQuestionBase):
        return _decode_option(question, raw)
    if raw.isascii() and raw.isdigit() and len(raw) <= 6:
        return int(raw)
    raise StaleAction("That answer is not part of this question.")
