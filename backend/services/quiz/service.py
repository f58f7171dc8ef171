"""Quiz service: every chat action is one call here, in one database transaction.

Conversation state lives in the database (the session's cursor, answers and draft), so
any worker can process any update and a restart loses nothing that was acknowledged.

The shape of a call: :class:`QuizService`'s methods take keyword-only arguments and own
their transaction (one ``session_scope`` each), because the bot runs each on a database
thread as one unit of work; the functions they compose (``respondents``, ``sessions``,
``completion``) take the session passed in, ``*, session``.
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Engine
from sqlmodel import Session, select

from backend.caches import BoundedCache
from backend.followups import Click, record_click
from backend.questionnaire.schema import (
    LikertQuestion,
    Question,
    SingleChoiceQuestion,
    YesNoQuestion,
)
from backend.quiz import AnswerInvalid, QuestionAction, Step, StepKind, check_value, parse_typed
from backend.services.quiz import sessions
from backend.services.quiz.completion import SegmentAssigner, stored_result
from backend.services.quiz.listings import Listing, open_questionnaire, open_questionnaires
from backend.services.quiz.respondents import (
    UNKEYED_ERASURES,
    ChatUser,
    PrivacyReport,
    QuizError,
    StaleAction,
    erase_respondent,
    find_respondent,
    privacy_report,
    recently_erased,
    resolve_respondent,
    respondent_for,
    respondent_id_for,
)
from backend.services.responses import answers_of
from backend.storage.engine import session_scope, writer_lock
from backend.storage.models import (
    QuestionnaireVersion,
    QuizSession,
    Respondent,
    SessionStatus,
)
from backend.storage.types import utcnow

log = logging.getLogger(__name__)

WELCOME_BACK = "Welcome back! Here is where you left off."
WHERE_YOU_ARE = "Here is where you are in the quiz:"


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
        self._versions: sessions.Versions = BoundedCache("quiz.versions", maxsize=256)
        #: Where each call's transaction comes from (:meth:`warm_up` joins its own).
        self._transaction: Callable[[], AbstractContextManager[Session]] = functools.partial(
            session_scope, engine
        )

    def _respondent(self, session: Session, user: ChatUser, update_id: int | None) -> Respondent:
        return respondent_for(
            session=session, user=user, update_id=update_id, erasure_key=self.erasure_key
        )

    def _respondent_id(self, session: Session, user: ChatUser, update_id: int | None) -> int:
        if update_id is None:
            respondent = self._respondent(session, user, update_id)
            assert respondent.id is not None
            return respondent.id
        return respondent_id_for(
            session=session, user=user, update_id=update_id, erasure_key=self.erasure_key
        )

    def _own_session_with_answers(
        self, session: Session, user: ChatUser, update_id: int | None, session_id: int
    ) -> tuple[QuizSession, dict[str, Any]]:
        """Check and record the update, then lock the respondent's session ``session_id``:
        one round trip on PostgreSQL for a returning respondent's update."""
        if update_id is None or self.engine.dialect.name != "postgresql":
            return sessions.own_session_with_answers(
                session=session,
                respondent_id=self._respondent_id(session, user, update_id),
                session_id=session_id,
            )
        return sessions.recorded_own_session_with_answers(
            session=session,
            user=user,
            update_id=update_id,
            session_id=session_id,
            erasure_key=self.erasure_key,
        )

    def _step(self, session: Session, quiz: QuizSession) -> Step:
        return sessions.step_of(session=session, quiz=quiz, versions=self._versions)

    def _version(self, session: Session, quiz: QuizSession) -> sessions.LoadedVersion:
        return sessions.loaded_version(
            session=session, version_id=quiz.version_id, versions=self._versions
        )

    def _record(
        self,
        session: Session,
        quiz: QuizSession,
        version: sessions.LoadedVersion,
        question: Question,
        value: Any,
        answers: dict[str, Any] | None = None,
    ) -> Step:
        return sessions.record(
            session=session,
            quiz=quiz,
            version=version,
            question=question,
            value=value,
            versions=self._versions,
            assign_segment=self.assign_segment,
            answers=answers,
        )

    # -- listing and starting -----------------------------------------------------------

    def active_questionnaires(self) -> list[Listing]:
        """The open questionnaires, by key."""
        with self._transaction() as session:
            return open_questionnaires(session=session)

    def start(
        self,
        *,
        user: ChatUser,
        key: str | None = None,
        questionnaire_id: int | None = None,
        update_id: int | None = None,
        restart: bool = False,
    ) -> Step:
        """Open a questionnaire: resume its unfinished session, or begin a new one."""
        with self._transaction() as session:
            respondent, newcomer = resolve_respondent(
                session=session, user=user, update_id=update_id, erasure_key=self.erasure_key
            )
            respondent.opted_out = False
            questionnaire = open_questionnaire(
                session=session, key=key, questionnaire_id=questionnaire_id
            )
            active = None
            if not newcomer:
                active = sessions.active_session(
                    session=session, respondent_id=respondent.id, questionnaire_id=questionnaire.id
                )
            if active is not None and not restart:
                active.updated_at = utcnow()
                session.add(active)
                step = self._step(session, active)
                step.notice = WELCOME_BACK
                return step
            if active is not None:
                active.status = SessionStatus.CANCELLED
                session.add(active)
            assert respondent.id is not None
            quiz = sessions.new_session(
                session=session,
                respondent_id=respondent.id,
                questionnaire=questionnaire,
                user=user,
                versions=self._versions,
                first=newcomer,
            )
            # A new session has no answers to read.
            return sessions.step_of(
                session=session, quiz=quiz, versions=self._versions, answers={}
            )

    # -- the current session ------------------------------------------------------------

    def resume(self, *, user: ChatUser, update_id: int | None = None) -> Step | None:
        """Return the step of the most recent unfinished quiz, or None when there is none."""
        with self._transaction() as session:
            respondent = self._respondent(session, user, update_id)
            quiz = sessions.latest_active(session=session, respondent_id=respondent.id)
            if quiz is None:
                return None
            step = self._step(session, quiz)
            step.notice = WELCOME_BACK
            return step

    def restart(self, *, user: ChatUser, update_id: int | None = None) -> Step | None:
        """Start the most recent quiz over (earlier answers of it are set aside)."""
        with self._transaction() as session:
            respondent = self._respondent(session, user, update_id)
            quiz = sessions.restart_target(session=session, respondent_id=respondent.id)
            if quiz is None:
                return None
            version = session.get(QuestionnaireVersion, quiz.version_id)
            assert version is not None
            questionnaire_id = version.questionnaire_id
        return self.start(user=user, questionnaire_id=questionnaire_id, restart=True)

    def cancel(self, *, user: ChatUser, update_id: int | None = None) -> int:
        """Cancel every unfinished quiz; return how many there were."""
        with self._transaction() as session:
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

    def begin(self, *, user: ChatUser, session_id: int, update_id: int | None = None) -> Step:
        """Leave the intro/consent message and show the first question."""
        with self._transaction() as session:
            respondent_id = self._respondent_id(session, user, update_id)
            quiz = sessions.own_session(
                session=session, respondent_id=respondent_id, session_id=session_id
            )
            if quiz.cursor is not None:
                raise StaleAction("You have already begun this quiz.")
            definition = self._version(session, quiz).definition
            answers = answers_of(session_id, session=session)
            sessions.enter_first(quiz=quiz, definition=definition, answers=answers)
            sessions.touch(session=session, quiz=quiz)
            return self._step(session, quiz)

    def answer(
        self,
        *,
        user: ChatUser,
        session_id: int,
        question_id: str,
        value: Any,
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
        with self._transaction() as session:
            quiz, answers = self._own_session_with_answers(session, user, update_id, session_id)
            version = self._version(session, quiz)
            definition = version.definition
            question = sessions.current_question(
                quiz=quiz, definition=definition, question_id=question_id
            )
            value = check_value(question, value)
            return self._record(session, quiz, version, question, value, answers)

    def answer_text(
        self, *, user: ChatUser, text: str, update_id: int | None = None
    ) -> Step | None:
        """Take a typed message as the answer to the current question of the latest quiz.

        Returns None when no quiz is waiting for an answer.
        """
        with self._transaction() as session:
            respondent_id = self._respondent_id(session, user, update_id)
            quiz = sessions.latest_active(session=session, respondent_id=respondent_id)
            if quiz is None:
                return None
            if sessions.undelivered(quiz):
                # Their current question never reached them (a crash after storing the
                # previous answer): this text cannot be its answer. Show it again.
                step = self._step(session, quiz)
                step.notice = WHERE_YOU_ARE
                return step
            version = self._version(session, quiz)
            definition = version.definition
            if quiz.cursor is None:
                raise AnswerInvalid("Press “Begin” above to start the quiz.")
            question = definition.questions()[quiz.cursor]
            value = parse_typed(question, text)
            return self._record(session, quiz, version, question, value)

    def press(
        self,
        *,
        user: ChatUser,
        session_id: int,
        question_index: int,
        action: QuestionAction,
        raw: str = "",
        update_id: int | None = None,
    ) -> Step:
        """Handle a quiz button in one transaction.

        ``question_index`` is the question's position in the definition and ``raw`` the
        button's value: a Likert point, an option's position, or ``yes``/``no``.
        """
        with self._transaction() as session:
            quiz, answers = self._own_session_with_answers(session, user, update_id, session_id)
            version = self._version(session, quiz)
            definition = version.definition
            questions = list(definition.questions().values())
            if not 0 <= question_index < len(questions):
                raise StaleAction("That question is not part of this quiz.")
            question = sessions.current_question(
                quiz=quiz, definition=definition, question_id=questions[question_index].id
            )
            match action:
                case QuestionAction.ANSWER:
                    value = check_value(question, sessions.decode_button(question, raw))
                    return self._record(session, quiz, version, question, value, answers)
                case QuestionAction.TOGGLE:
                    return sessions.toggle(
                        session=session,
                        quiz=quiz,
                        question=question,
                        option_id=sessions.decode_option(question, raw),
                        versions=self._versions,
                        answers=answers,
                    )
                case QuestionAction.DONE:
                    value = check_value(question, list(quiz.draft or []))
                    return self._record(session, quiz, version, question, value, answers)
                case QuestionAction.SKIP:
                    if question.required:
                        raise AnswerInvalid("This question needs an answer.")
                    return self._record(session, quiz, version, question, None, answers)
                case QuestionAction.BACK:
                    return sessions.back(
                        session=session,
                        quiz=quiz,
                        definition=definition,
                        question=question,
                        versions=self._versions,
                        answers=answers,
                    )
            raise StaleAction("This button is not valid.")

    # -- start-up --------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Make the first updates after a start as quick as the ones after them.

        The first calls of a process pay for what the later ones find ready: connections
        to open, statements to compile, the open questionnaires' definitions to parse. A
        worker (re)started under load had its first hundred answers wait up to a second
        (``bench/bot.py``). Here a respondent who does not exist starts the first open
        questionnaire and answers its first question, in a transaction rolled back at the
        end, and the pool opens its connections. Best effort: a failure is logged.
        """
        try:
            self._open_pool()
            listings = self.active_questionnaires()
            if listings:
                self._rehearse(listings[0].key)
        except Exception:
            log.warning("warming up the quiz service failed; the first answers may be slower")
            log.debug("warm-up failure", exc_info=True)

    def _open_pool(self) -> None:
        size = getattr(self.engine.pool, "size", None)
        if self.engine.dialect.name == "sqlite" or not callable(size):
            return
        connections = [self.engine.connect() for _ in range(size())]
        for connection in connections:
            connection.close()

    def _rehearse(self, key: str) -> None:
        lock = writer_lock(self.engine)
        with (
            lock if lock is not None else nullcontext(),
            self.engine.connect() as connection,
        ):
            outer = connection.begin()
            try:
                rehearsal = copy.copy(self)
                rehearsal._transaction = functools.partial(_joined, connection)
                step = rehearsal.start(user=REHEARSAL_USER, key=key, update_id=1)
                if step.kind == StepKind.INTRO:
                    step = rehearsal.begin(user=REHEARSAL_USER, session_id=step.session_id)
                question = step.question
                raw = _first_button(question) if question is not None else None
                if raw is not None:
                    assert question is not None
                    rehearsal.press(
                        user=REHEARSAL_USER,
                        session_id=step.session_id,
                        question_index=list(step.definition.questions()).index(question.id),
                        action=QuestionAction.ANSWER,
                        raw=raw,
                        update_id=2,
                    )
            finally:
                outer.rollback()

    # -- delivery -------------------------------------------------------------------------

    def mark_shown(self, *, session_id: int, marker: str) -> None:
        """Record that the step ``marker`` (see :attr:`Step.marker`) reached the respondent."""
        # Core, not a Session: this runs once per message sent and is a single statement,
        # which PostgreSQL commits by itself (no BEGIN and COMMIT round trips).
        lock = writer_lock(self.engine)
        with (
            lock if lock is not None else nullcontext(),
            self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection,
        ):
            sessions.mark_shown(connection=connection, session_id=session_id, marker=marker)

    def undelivered_step(self, *, user: ChatUser) -> Step | None:
        """The current step of the respondent's latest quiz if it never reached them (the
        service stopped between storing an answer and sending what follows), else None.

        Reads only: a stranger or an erased person is not created by asking.
        """
        with self._transaction() as session:
            respondent = find_respondent(session=session, user_id=user.user_id)
            if respondent is None:
                return None
            quiz = sessions.latest_active(session=session, respondent_id=respondent.id)
            if quiz is not None and sessions.undelivered(quiz):
                step = self._step(session, quiz)
                step.notice = WHERE_YOU_ARE
                return step
            # The update completed a quiz, and its result never went out.
            done = sessions.latest_completed(session=session, respondent_id=respondent.id)
            if done is None or not sessions.undelivered(done):
                return None
            return stored_result(
                session=session, quiz=done, definition=self._version(session, done).definition
            )

    # -- the respondent -------------------------------------------------------------------

    def privacy(self, *, user: ChatUser, update_id: int | None = None) -> PrivacyReport:
        """Describe what is stored about the respondent."""
        with self._transaction() as session:
            respondent = self._respondent(session, user, update_id)
            return privacy_report(session=session, respondent=respondent)

    def known_privacy(self, *, user: ChatUser) -> PrivacyReport | None:
        """:meth:`privacy` of a known respondent, else None: records nothing, creates no one
        (a redelivered /privacy from before an erasure must not bring the person back)."""
        with self._transaction() as session:
            respondent = find_respondent(session=session, user_id=user.user_id)
            if respondent is None:
                return None
            return privacy_report(session=session, respondent=respondent)

    def delete_me(self, *, user: ChatUser, update_id: int | None = None) -> bool:
        """Erase the respondent and everything stored about them; False if nothing was.

        Pressing "erase" again, or the same press delivered twice, answers True while the
        erasure is recent: the person is told again that their data is gone.
        """
        with self._transaction() as session:
            respondent = find_respondent(session=session, user_id=user.user_id)
            if respondent is None:
                return recently_erased(session=session, user_id=user.user_id, key=self.erasure_key)
            erase_respondent(
                session=session, respondent=respondent, key=self.erasure_key, update_id=update_id
            )
            return True

    def set_opt_out(
        self, *, user: ChatUser, opted_out: bool, update_id: int | None = None
    ) -> None:
        """Turn follow-up messages off (True) or on again."""
        with self._transaction() as session:
            respondent = self._respondent(session, user, update_id)
            respondent.opted_out = opted_out
            session.add(respondent)

    def set_timezone(
        self, *, user: ChatUser, zone: str | None, update_id: int | None = None
    ) -> None:
        """Store the time zone the respondent chose (None forgets it); quiet hours use it."""
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise QuizError(
                    f"{zone!r} is not a time zone I know; write it like Europe/Berlin."
                ) from None
        with self._transaction() as session:
            respondent = self._respondent(session, user, update_id)
            respondent.timezone = zone
            respondent.updated_at = utcnow()
            session.add(respondent)

    def timezone(self, *, user: ChatUser) -> str | None:
        """Return the time zone the respondent chose, if any."""
        with self._transaction() as session:
            respondent = find_respondent(session=session, user_id=user.user_id)
            return respondent.timezone if respondent is not None else None

    def record_click(self, *, data: str) -> Click | None:
        """Record a press on a follow-up's button (``data``); None when it is not one."""
        with self._transaction() as session:
            return record_click(session=session, token=data)

    def touch(self, *, user: ChatUser, update_id: int | None = None) -> None:
        """Record that an update was seen (so its redelivery is ignored)."""
        with self._transaction() as session:
            self._respondent(session, user, update_id)


#: Who :meth:`QuizService.warm_up` rehearses as: no Telegram user has id 0.
REHEARSAL_USER = ChatUser(0, 0, "warm-up", None)


@contextmanager
def _joined(connection: Connection) -> Iterator[Session]:
    """A call's transaction as a savepoint of ``connection``'s, which is rolled back later."""
    with Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    ) as session:
        yield session
        session.commit()


def _first_button(question: Question) -> str | None:
    """The value of the first answer button of ``question``, if it is answered by one."""
    match question:
        case LikertQuestion():
            return "1"
        case YesNoQuestion():
            return "yes"
        case SingleChoiceQuestion():
            return "0"  # the first option
    return None
