"""Stored strings are checked against their columns, the same way on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Engine, func, update
from sqlmodel import select

from backend.storage.engine import session_scope
from backend.storage.limits import StoredValueError
from backend.storage.models import Questionnaire, QuestionnaireVersion, Respondent


def _count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.exec(select(func.count()).select_from(Questionnaire)).one()


@pytest.mark.parametrize(
    ("title", "problem"),
    [
        ("T" * 5_000, "questionnaire.title is 5,000 characters; at most 256 fit"),
        ("A\x00B", "questionnaire.title contains a NUL character"),
        ("A\ud800B", "questionnaire.title contains a lone surrogate"),
    ],
    ids=["too-long", "nul", "lone-surrogate"],
)
def test_a_value_its_column_cannot_hold_is_refused(
    engine: Engine, title: str, problem: str
) -> None:
    with (
        pytest.raises(StoredValueError, match=re.escape(problem)),
        session_scope(engine) as session,
    ):
        session.add(Questionnaire(key="q", title=title))
    assert _count(engine) == 0


def test_json_holding_a_nul_is_refused(engine: Engine) -> None:  # jsonb refuses \u0000
    with session_scope(engine) as session:
        questionnaire = Questionnaire(key="q", title="Q")
        session.add(questionnaire)
        session.flush()
        owner = questionnaire.id
    assert owner is not None
    version = QuestionnaireVersion(
        questionnaire_id=owner, version=1, content_hash="h", definition={"t": "a\x00b"}
    )
    with (
        pytest.raises(StoredValueError, match="definition holds a text that contains a NUL"),
        session_scope(engine) as session,
    ):
        session.add(version)
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(QuestionnaireVersion)).one() == 0


def test_updates_are_checked_and_where_clauses_are_not(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(Respondent(first_name="Ada", external_id="ada"))
    too_long = update(Respondent).values(first_name="x" * 300)
    with (
        pytest.raises(StoredValueError, match=r"respondent\.first_name is 300 characters"),
        session_scope(engine) as session,
    ):
        session.exec(too_long)
    with session_scope(engine) as session:  # a long value in a WHERE clause only matches nothing
        session.exec(
            update(Respondent).where(Respondent.external_id == "x" * 500).values(first_name="B")  # type: ignore[arg-type]
        )
        assert session.exec(select(Respondent.first_name)).one() == "Ada"


def test_values_that_fit_are_stored(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(Questionnaire(key="q", title="T" * 256 + "\u00e9"[:0]))
    assert _count(engine) == 1
