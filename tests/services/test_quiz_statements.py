"""The answer path's database round trips: a refactor of the quiz service must not add any.

Counted is every command the database receives: each statement, and the BEGIN and COMMIT
of a transaction (SQLite's BEGIN IMMEDIATE is a statement of its own; a statement run in
autocommit mode has neither). On PostgreSQL each is a network round trip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, event

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

#: The same quiz without its intro: /start shows the first question at once.
STRAIGHT = QUIZ.replace("id: tiny", "id: straight").replace("intro: Three quick questions.\n", "")

#: Commands per call: (the call, the mark_shown after it) on SQLite.
EXPECTED = {
    # a newcomer: their respondent row and their session, one INSERT each
    "start": 8,
    "start, no intro (newcomer)": 8,
    "begin": (7, 1),
    "answer": (6, 1),
    "toggle": 5,
    "done": (6, 1),
    "back": (5, 1),
    "typed answer": (7, 1),
    # the completion: its scores, and the time zone with the completed count in one read
    "last answer": (8, 1),
    "start again (known respondent)": 8,
}
#: PostgreSQL records a button's update while it reads the session (one statement), and
#: stores a new answer while it moves the cursor on (another).
ON_POSTGRESQL = {
    "answer": (4, 1),
    "toggle": 4,
    "done": (5, 1),
    "back": (4, 1),
    "typed answer": (6, 1),
    "last answer": (7, 1),
}


def test_each_quiz_call_sends_as_few_commands_as_before(engine: Engine) -> None:
    with session_scope(engine) as session:
        import_definition(load_definition(QUIZ), session=session)
        import_definition(load_definition(STRAIGHT), session=session)
    service = QuizService(engine)
    user = ChatUser(5, 5, "Ana", "en")
    commands = 0
    separate_begin = engine.dialect.name != "sqlite"

    def statement(*_: Any) -> None:
        nonlocal commands
        commands += 1

    def transaction_end(connection: Connection) -> None:
        nonlocal commands
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            commands += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", transaction_end)
    if separate_begin:
        event.listen(engine, "begin", transaction_end)
    updates = iter(range(1, 100))
    seen: dict[str, Any] = {}

    def run(name: str, call: Callable[..., Any], *, shown: bool = True, **kwargs: Any) -> Any:
        nonlocal commands
        commands = 0
        step = call(**kwargs)
        seen[name] = commands
        if shown and step.marker is not None:
            commands = 0
            service.mark_shown(session_id=step.session_id, marker=step.marker)
            seen[name] = (seen[name], commands)
        return step

    def press(name: str, step: Step, index: int, action: QuestionAction, raw: str = "") -> Step:
        return run(
            name,
            service.press,
            shown=action is not QuestionAction.TOGGLE,
            user=user,
            session_id=step.session_id,
            question_index=index,
            action=action,
            raw=raw,
            update_id=next(updates),
        )

    step = run("start", service.start, shown=False, user=user, key="tiny", update_id=next(updates))
    step = run(
        "begin", service.begin, user=user, session_id=step.session_id, update_id=next(updates)
    )
    step = press("answer", step, 0, QuestionAction.ANSWER, "4")
    step = press("toggle", step, 1, QuestionAction.TOGGLE, "0")
    step = press("done", step, 1, QuestionAction.DONE)
    step = press("back", step, 2, QuestionAction.BACK)
    step = press("done", step, 1, QuestionAction.DONE)
    step = run("typed answer", service.answer_text, user=user, text="33", update_id=next(updates))
    step = press("last answer", step, 3, QuestionAction.SKIP)
    assert step.kind == "result"
    run(
        "start again (known respondent)",
        service.start,
        shown=False,
        user=user,
        key="tiny",
        update_id=next(updates),
    )
    first = run(
        "start, no intro (newcomer)",
        service.start,
        shown=False,
        user=ChatUser(6, 6, "Bo", "en"),
        key="straight",
        update_id=next(updates),
    )
    assert first.kind == "question"
    assert seen == EXPECTED | (ON_POSTGRESQL if engine.dialect.name == "postgresql" else {})
