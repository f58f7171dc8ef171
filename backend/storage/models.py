"""SQLModel tables: respondents, questionnaires and versions, sessions, answers, scores.

Layering follows ``XBase`` -> ``XPublic`` -> ``X(table=True)``: the API returns public
models only, never table rows.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.storage.types import JSONType, UTCDateTime, utcnow, value_enum

# Named constraints, so later migrations can drop them (SQLite rebuilds tables by name).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default_factory=utcnow if not nullable else lambda: None,
        sa_type=UTCDateTime,
        nullable=nullable,
        index=index,
    )


class QuestionnaireStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class SessionStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# --- respondents -------------------------------------------------------------------------


class RespondentBase(SQLModel):
    first_name: str | None = Field(default=None, max_length=256)
    language_code: str | None = Field(default=None, max_length=16)
    timezone: str | None = Field(default=None, max_length=64)
    opted_out: bool = False
    unreachable: bool = False


class RespondentPublic(RespondentBase):
    id: int
    telegram_user_id: int | None
    external_id: str | None
    created_at: datetime


class Respondent(RespondentBase, table=True):
    """A person who answers quizzes: a Telegram user, or one imported from elsewhere."""

    id: int | None = Field(default=None, primary_key=True)
    telegram_user_id: int | None = Field(
        default=None, sa_type=BigInteger, unique=True, nullable=True
    )
    chat_id: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    external_id: str | None = Field(default=None, max_length=128, unique=True, nullable=True)
    #: The newest Telegram update processed for this person: a redelivered update is ignored.
    last_update_id: int = Field(default=0, sa_type=BigInteger)
    last_update_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Erasure(SQLModel, table=True):
    """What is kept of a Telegram user who erased their data: not who they were, only enough
    to recognise a late, redelivered or replayed update of theirs and ignore it.

    ``user_hash`` is an HMAC-SHA256 of the Telegram user id under a server secret, so the
    table cannot be turned back into user ids without the key.
    """

    user_hash: str = Field(primary_key=True, max_length=64)
    #: The newest update of theirs seen when they were erased: older ones are ignored.
    last_update_id: int = Field(sa_type=BigInteger)
    erased_at: datetime = _ts(index=True)


# --- questionnaires ----------------------------------------------------------------------


class QuestionnaireBase(SQLModel):
    key: str = Field(max_length=64, unique=True, index=True)
    title: str = Field(max_length=256)
    status: QuestionnaireStatus = Field(
        default=QuestionnaireStatus.ACTIVE, sa_type=value_enum(QuestionnaireStatus)
    )


class QuestionnairePublic(QuestionnaireBase):
    id: int
    current_version: int
    created_at: datetime


class Questionnaire(QuestionnaireBase, table=True):
    """A questionnaire by its stable key; its content lives in immutable versions."""

    id: int | None = Field(default=None, primary_key=True)
    current_version_id: int | None = Field(
        default=None,
        sa_column=Column(
            ForeignKey("questionnaireversion.id", use_alter=True, name="fk_current_version"),
            nullable=True,
        ),
    )
    created_at: datetime = _ts()


class QuestionnaireVersionBase(SQLModel):
    version: int = Field(ge=1)
    content_hash: str = Field(max_length=64)
    created_at: datetime = _ts()


class QuestionnaireVersionPublic(QuestionnaireVersionBase):
    id: int
    questionnaire_id: int


class QuestionnaireVersion(QuestionnaireVersionBase, table=True):
    """One immutable version of a definition; sessions point at the version they answered."""

    __table_args__ = (
        UniqueConstraint("questionnaire_id", "version"),
        UniqueConstraint("questionnaire_id", "content_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    questionnaire_id: int = Field(foreign_key="questionnaire.id", index=True, ondelete="CASCADE")
    definition: dict[str, Any] = Field(sa_type=JSONType)
    source_name: str | None = Field(default=None, max_length=512)
    source_text: str | None = None


# --- sessions and answers -----------------------------------------------------------------


class QuizSessionBase(SQLModel):
    status: SessionStatus = Field(default=SessionStatus.ACTIVE, sa_type=value_enum(SessionStatus))
    language: str = Field(default="en", max_length=16)
    cursor: str | None = Field(default=None, max_length=64)
    seed: int = Field(default=0, sa_type=BigInteger)


class QuizSessionPublic(QuizSessionBase):
    id: int
    respondent_id: int
    version_id: int
    started_at: datetime
    completed_at: datetime | None


class QuizSession(QuizSessionBase, table=True):
    """One attempt at one questionnaire version by one respondent."""

    __table_args__ = (
        Index("ix_quizsession_respondent_status", "respondent_id", "status"),
        # The response funnel counts sessions by status and by the question they stopped at.
        Index("ix_quizsession_version_status_cursor", "version_id", "status", "cursor"),
    )

    id: int | None = Field(default=None, primary_key=True)
    respondent_id: int = Field(foreign_key="respondent.id", ondelete="CASCADE")
    version_id: int = Field(foreign_key="questionnaireversion.id", index=True)
    #: Options ticked so far on the current multiple-choice question, before "Done".
    draft: list[str] | None = Field(default=None, sa_type=JSONType)
    #: The step whose message reached the respondent: the cursor of the question last
    #: delivered, ``""`` for the intro. When it differs from ``cursor``, the current
    #: question was never delivered (a crash between storing and sending) and the next
    #: message or button from the respondent gets it again.
    shown: str | None = Field(default=None, max_length=64)
    started_at: datetime = _ts()
    updated_at: datetime = _ts()
    completed_at: datetime | None = _ts(nullable=True)


class AnswerBase(SQLModel):
    question_id: str = Field(max_length=64)
    value: Any = Field(sa_type=JSONType)


class AnswerPublic(AnswerBase):
    answered_at: datetime


class Answer(AnswerBase, table=True):
    """The current answer of a session to one question (changed in place by "Back")."""

    __table_args__ = (UniqueConstraint("session_id", "question_id"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="quizsession.id", ondelete="CASCADE")
    answered_at: datetime = _ts()


class SessionScoreBase(SQLModel):
    #: Dimension key -> score on the items' scale (None when too few items were answered).
    scores: dict[str, float | None] = Field(sa_type=JSONType)
    #: Dimension key -> the same score rescaled to 0-100.
    scores_100: dict[str, float | None] = Field(sa_type=JSONType)


class SessionScorePublic(SessionScoreBase):
    session_id: int
    respondent_id: int
    questionnaire_id: int
    version_id: int
    completed_at: datetime


class SessionScore(SessionScoreBase, table=True):
    """The dimension scores of one completed session: the vector segmentation reads."""

    __table_args__ = (
        Index("ix_sessionscore_questionnaire_completed", "questionnaire_id", "completed_at"),
    )

    session_id: int = Field(foreign_key="quizsession.id", primary_key=True, ondelete="CASCADE")
    respondent_id: int = Field(foreign_key="respondent.id", index=True, ondelete="CASCADE")
    questionnaire_id: int = Field(foreign_key="questionnaire.id", ondelete="CASCADE")
    version_id: int = Field(foreign_key="questionnaireversion.id")
    completed_at: datetime = _ts()


# --- dashboard -----------------------------------------------------------------------------


class RevokedSession(SQLModel, table=True):
    """A dashboard session signed out before its expiry; kept until then, then pruned."""

    session_id: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = _ts(index=True)


# Tables defined in their own modules register on the same metadata when imported here.
from backend.storage import counter_tables, followup_tables, segment_tables  # noqa: E402, F401
