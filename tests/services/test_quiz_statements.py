"""The answer path's database round trips: a refactor of the quiz service must not add any."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event

from backend.questionnaire import load_definition
from backend.quiz import QuestionAction, Step
from backend.services.questionnaires import import_definition
from backend.services.quiz import ChatUser, QuizService
from backend.storage.engine import session_scope

QUIZ = """
id: tiny
title: Tiny quiz
intro: Three quick questions.
sections:
  - id: main
    questions:
      - {id: mood, type: likert, text: I feel great today}
      - id: sports
        type: multiple_choice
        text: Which sports?
        min_selected: 1
        options: [{id: run, text: Running}, {id: swim, text: Swimming}]
      - {id: age, type: number, text: How old are you?, integer: true}
      - {id: note, type: text, text: Anything else?, required: false}
dimensions:
  - id: wellbeing
    label: Wellbeing
    items: [{question: mood}]
"""


def test_each_quiz_call_runs_as_many_statements_as_before(sqlite_engine: Engine) -> None:
    with session_scope(sqlite_engine) as session:
        import_definition(load_definition(QUIZ), session=session)
    service = QuizService(sqlite_engine)
    user = ChatUser(5, 5, "Ana", "en")
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(sqlite_engine, "before_cursor_execute", count)
    updates = iter(range(1, 100))

    def run(call: Callable[..., Any], **kwargs: Any) -> tuple[Any, int]:
        nonlocal statements
        statements = 0
        return call(**kwargs), statements

    def press(step: Step, index: int, action: QuestionAction, raw: str = "") -> tuple[Step, int]:
        return run(
            service.press,
            user=user,
            session_id=step.session_id,
            question_index=index,
            action=action,
            raw=raw,
            update_id=next(updates),
        )

    def shown(step: Step) -> int:
        assert step.marker is not None
        return run(service.mark_shown, session_id=step.session_id, marker=step.marker)[1]

    step, n = run(service.start, user=user, key="tiny", update_id=next(updates))
    assert n == 10
    step, n = run(service.begin, user=user, session_id=step.session_id, update_id=next(updates))
    assert (n, shown(step)) == (7, 2)
    step, n = press(step, 0, QuestionAction.ANSWER, "4")
    assert (n, shown(step)) == (7, 2)
    step, n = press(step, 1, QuestionAction.TOGGLE, "0")
    assert n == 6
    step, n = press(step, 1, QuestionAction.DONE)
    assert (n, shown(step)) == (7, 2)
    step, n = press(step, 2, QuestionAction.BACK)
    assert (n, shown(step)) == (7, 2)
    step, n = press(step, 1, QuestionAction.DONE)
    assert (n, shown(step)) == (7, 2)
    step, n = run(service.answer_text, user=user, text="33", update_id=next(updates))
    assert (n, shown(step)) == (7, 2)
    step, n = press(step, 3, QuestionAction.SKIP)
    assert (step.kind, n) == ("result", 12)
