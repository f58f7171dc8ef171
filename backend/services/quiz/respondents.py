"""Who an update comes from: the respondent's row, redelivered updates, erasure, privacy."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, update
from sqlmodel import Session, col, select

from backend.storage.models import (
    Answer,
    Erasure,
    Questionnaire,
    QuestionnaireVersion,
    QuizSession,
    Respondent,
    SessionStatus,
)
from backend.storage.types import utcnow

#: How long an update id stays a reliable marker of what was processed (see respondent_for).
DUPLICATE_WINDOW = timedelta(days=1)
#: How long an erasure tombstone is compared with update ids: Telegram numbers updates in
#: sequence and starts afresh at random only after a week without any update, and it keeps
#: an undelivered update for 24 hours, so within a week an id at or below the tombstone's is
#: an update from before the erasure.
ERASURE_WINDOW = timedelta(days=7)
#: The tombstone key when none is configured (the sandbox and tests).
UNKEYED_ERASURES = hashlib.sha256(b"psychograph-erasure-unkeyed").digest()

# Built once: the answer path runs them on every update.
_RESPONDENT = select(Respondent).where(Respondent.telegram_user_id == bindparam("user_id"))
_RESPONDENT_TABLE = Respondent.__table__  # type: ignore[attr-defined]
_RESPONDENTS = _RESPONDENT_TABLE.c
#: Record a new update of a known respondent whose chat and name are unchanged, unless it
#: was processed before; returns the respondent's id (no row: see :func:`respondent_for`).
#: Check and record a returning respondent's update, in one statement: their id, or no row
#: when the update is a duplicate or the person is new or changed (see respondent_id_for).
RECORD_UPDATE = (
    update(_RESPONDENT_TABLE)
    .where(
        _RESPONDENTS.telegram_user_id == bindparam("b_user_id"),
        _RESPONDENTS.chat_id == bindparam("b_chat_id"),
        _RESPONDENTS.first_name.is_not_distinct_from(bindparam("b_first_name")),
        _RESPONDENTS.language_code.is_not_distinct_from(bindparam("b_language_code")),
        or_(
            _RESPONDENTS.last_update_at.is_(None),
            _RESPONDENTS.last_update_at <= bindparam("b_window_start"),
            _RESPONDENTS.last_update_id < bindparam("b_update_id"),
        ),
    )
    .values(last_update_id=bindparam("b_update_id"), last_update_at=bindparam("b_now"))
    .returning(_RESPONDENTS.id)
)


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
class PrivacyReport:
    """What /privacy shows: everything stored about the respondent, counted."""

    first_name: str | None
    language_code: str | None
    opted_out: bool
    sessions: int
    completed: int
    answers: int
    questionnaires: list[str]


def erasure_hash(key: bytes, telegram_user_id: int) -> str:
    """A keyed hash of a Telegram user id: recognises the user, cannot be read back."""
    return hmac.new(key, str(telegram_user_id).encode(), hashlib.sha256).hexdigest()


def find_respondent(*, session: Session, user_id: int) -> Respondent | None:
    """Return the respondent with this Telegram user id, without creating one."""
    return session.exec(_RESPONDENT, params={"user_id": user_id}).first()


def respondent_for(
    *, session: Session, user: ChatUser, update_id: int | None, erasure_key: bytes
) -> Respondent:
    """Return the update's respondent (created on their first update), its update recorded.

    Raises
    ------
    Duplicate
        The update was processed before, or it is from before this person erased their data.
    """
    respondent, _ = resolve_respondent(
        session=session, user=user, update_id=update_id, erasure_key=erasure_key
    )
    return respondent


def resolve_respondent(
    *, session: Session, user: ChatUser, update_id: int | None, erasure_key: bytes
) -> tuple[Respondent, bool]:
    """:func:`respondent_for`, and whether the respondent was created by this update (a
    newcomer has no sessions yet: the caller need not look for them)."""
    respondent = find_respondent(session=session, user_id=user.user_id)
    now = utcnow()
    if respondent is None:
        if update_id is not None:
            _check_erasure(session=session, user=user, update_id=update_id, key=erasure_key)
        # One INSERT, the update recorded in it.
        respondent = Respondent(
            telegram_user_id=user.user_id,
            chat_id=user.chat_id,
            first_name=user.first_name,
            language_code=user.language_code,
            last_update_id=update_id or 0,
            last_update_at=now if update_id is not None else None,
        )
        session.add(respondent)
        session.flush()
        return respondent, True
    changed = (respondent.chat_id, respondent.first_name, respondent.language_code) != (
        user.chat_id,
        user.first_name,
        user.language_code,
    )
    if changed:
        respondent.chat_id = user.chat_id
        respondent.first_name = user.first_name
        respondent.language_code = user.language_code or respondent.language_code
        respondent.updated_at = now
    if update_id is not None:
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
    return respondent, False


def record_update_params(user: ChatUser, update_id: int) -> dict[str, Any]:
    """The parameters of :data:`RECORD_UPDATE`."""
    now = utcnow()
    return {
        "b_user_id": user.user_id,
        "b_chat_id": user.chat_id,
        "b_first_name": user.first_name,
        "b_language_code": user.language_code,
        "b_window_start": now - DUPLICATE_WINDOW,
        "b_update_id": update_id,
        "b_now": now,
    }


def respondent_id_for(
    *, session: Session, user: ChatUser, update_id: int, erasure_key: bytes
) -> int:
    """:func:`respondent_for`'s id, in one statement for a returning respondent.

    The answer path needs only the id: a known respondent's update is checked and recorded
    by a single ``UPDATE … RETURNING``; a newcomer, a changed name or chat, and a duplicate
    take the full way, which raises or creates as :func:`respondent_for` does.
    """
    recorded = session.execute(RECORD_UPDATE, record_update_params(user, update_id)).scalar()
    if recorded is not None:
        return int(recorded)
    respondent = respondent_for(
        session=session, user=user, update_id=update_id, erasure_key=erasure_key
    )
    assert respondent.id is not None
    return respondent.id


def _check_erasure(*, session: Session, user: ChatUser, update_id: int, key: bytes) -> None:
    """Refuse an update from before this user erased their data; a newer one means they
    came back, and their tombstone goes."""
    tombstone = session.get(Erasure, erasure_hash(key, user.user_id))
    if tombstone is None:
        return
    recent = utcnow() - tombstone.erased_at < ERASURE_WINDOW
    if recent and update_id <= tombstone.last_update_id:
        raise Duplicate("an update from before this person erased their data")
    session.delete(tombstone)


def recently_erased(*, session: Session, user_id: int, key: bytes) -> bool:
    """Whether this Telegram user erased their data within the erasure window."""
    tombstone = session.get(Erasure, erasure_hash(key, user_id))
    return tombstone is not None and utcnow() - tombstone.erased_at < ERASURE_WINDOW


def erase_respondent(
    *, session: Session, respondent: Respondent, key: bytes, update_id: int | None = None
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


def privacy_report(*, session: Session, respondent: Respondent) -> PrivacyReport:
    """Describe what is stored about the respondent."""
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
