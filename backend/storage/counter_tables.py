"""Tables of the counts the dashboard shows, kept by the database as rows change.

``statcounter`` holds signed deltas: triggers on ``quizsession``, ``answer`` and
``followupmessage`` append one row per change (never update one), so concurrent answers never
wait on a shared counter row; a figure is the sum of its rows, and a periodic fold replaces
the rows of each figure by their sum (see :mod:`backend.storage.counters`).
``uncountedquestion`` lists the free-text questions of each version, whose answers are
counted as answered but not by value. ``jobtick`` records which tick of a periodic job an
instance claimed, so that several workers run it once per tick.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, Text
from sqlmodel import Field, SQLModel


class StatCounter(SQLModel, table=True):
    """One signed change of one figure: (scope, metric, key, item) moved by ``n``."""

    __table_args__ = (Index("ix_statcounter_scope_metric", "scope", "metric"),)

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    #: The questionnaire version (0 for the outbox).
    scope: int = Field(sa_type=Integer)
    #: status, stopped, answered, value or outbox.
    metric: str = Field(max_length=16)
    #: A session status, a question id (answered, value, stopped) or an outbox status.
    key: str = Field(max_length=64)
    #: An answer value (metric "value"), else empty.
    item: str = Field(default="", sa_type=Text)
    n: int = Field(sa_type=BigInteger)


class UncountedQuestion(SQLModel, table=True):
    """A free-text question of a version: its answers are not counted by value."""

    version_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("questionnaireversion.id", ondelete="CASCADE"), primary_key=True
        )
    )
    question_id: str = Field(max_length=64, primary_key=True)


class JobTick(SQLModel, table=True):
    """The latest tick of a periodic job that an instance claimed (see scheduler.leader)."""

    job: str = Field(max_length=64, primary_key=True)
    tick: int = Field(sa_type=BigInteger)
