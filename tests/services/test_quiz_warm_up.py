"""The quiz service's warm-up: it readies the answer path and leaves nothing behind."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, event, func
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from backend.questionnaire import load_definition
from backend.services.questionnaires import import_definition
from backend.services.quiz import ChatUser, QuizService
from backend.storage.engine import session_scope
from backend.storage.models import Answer, QuizSession, Respondent

LIKERT = """
id: warm
title: Warm quiz
intro: Two questions.
sections:
  - id: main
    questions:
      - {id: mood, type: likert, text: I feel great today}
      - {id: sleep, type: yes_no, text: Did you sleep well?}
dimensions:
  - id: wellbeing
    label: Wellbeing
    items: [{question: mood}]
"""


def _rows(engine: Engine) -> tuple[int, int, int]:
    with session_scope(engine) as session:
        return tuple(  # type: ignore[return-value]
            session.exec(select(func.count()).select_from(model)).one()
            for model in (Respondent, QuizSession, Answer)
        )


def test_warm_up_rehearses_an_answer_and_rolls_it_back(engine: Engine) -> None:
    with session_scope(engine) as session:
        import_definition(load_definition(LIKERT), session=session)
    service = QuizService(engine)
    sql: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: sql.append(a[2]))

    service.warm_up()

    # the rehearsal reached the answer: a session was created and an answer written...
    assert any(s.startswith("INSERT INTO quizsession") for s in sql)
    # (on PostgreSQL, inside the statement that moves the cursor on)
    assert any("INSERT INTO answer" in s for s in sql)
    # ...and none of it stayed
    assert _rows(engine) == (0, 0, 0)
    # a real respondent afterwards starts afresh, the definition already parsed
    sql.clear()
    step = service.start(user=ChatUser(7, 7, "Ana", "en"), key="warm", update_id=1)
    assert step.kind == "intro"
    assert not any("FROM questionnaireversion" in s for s in sql)
    assert _rows(engine) == (1, 1, 0)


def test_warm_up_without_questionnaires_does_nothing(engine: Engine) -> None:
    QuizService(engine).warm_up()
    assert _rows(engine) == (0, 0, 0)


def test_a_failed_warm_up_is_logged_and_the_bot_starts_anyway(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    service = QuizService(engine)

    def unreachable() -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(service, "active_questionnaires", unreachable)
    service.warm_up()
    assert "warming up the quiz service failed" in caplog.text
