"""A button's update is checked and recorded with the read of its session (one statement on
PostgreSQL): every way that can go, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from backend.questionnaire import load_definition
from backend.quiz import QuestionAction, Step
from backend.services.questionnaires import import_definition
from backend.services.quiz import ChatUser, Duplicate, QuizService, StaleAction
from backend.storage.engine import session_scope
from backend.storage.models import Answer, Respondent

QUIZ = """
id: two
title: Two questions
sections:
  - id: main
    questions:
      - {id: mood, type: likert, text: I feel great today}
      - {id: sleep, type: likert, text: I slept well}
"""

ANA = ChatUser(5, 5, "Ana", "en")


@pytest.fixture
def service(engine: Engine) -> QuizService:
    with session_scope(engine) as session:
        import_definition(load_definition(QUIZ), session=session)
    return QuizService(engine)


def _press(service: QuizService, user: ChatUser, step: Step, update_id: int) -> Step:
    return service.press(
        user=user,
        session_id=step.session_id,
        question_index=0,
        action=QuestionAction.ANSWER,
        raw="4",
        update_id=update_id,
    )


def _answers(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.exec(select(func.count()).select_from(Answer)).one()


def test_a_redelivered_press_is_a_duplicate_and_stored_once(
    engine: Engine, service: QuizService
) -> None:
    step = service.start(user=ANA, key="two", update_id=1)
    after = _press(service, ANA, step, 2)
    assert after.question is not None
    assert after.question.id == "sleep"

    with pytest.raises(Duplicate):
        _press(service, ANA, step, 2)
    assert _answers(engine) == 1


def test_a_press_after_a_change_of_name_is_stored_and_the_name_follows(
    engine: Engine, service: QuizService
) -> None:
    step = service.start(user=ANA, key="two", update_id=1)

    renamed = ChatUser(5, 5, "Anna", "pt-br")
    after = _press(service, renamed, step, 2)

    assert after.question is not None
    assert after.question.id == "sleep"
    assert _answers(engine) == 1
    with session_scope(engine) as session:
        person = session.exec(select(Respondent)).one()
    assert (person.first_name, person.language_code, person.last_update_id) == (
        "Anna",
        "pt-br",
        2,
    )


def test_a_press_on_a_missing_session_is_stale_and_records_no_update(
    engine: Engine, service: QuizService
) -> None:
    step = service.start(user=ANA, key="two", update_id=1)
    gone = Step(step.kind, step.session_id + 1000, step.definition, step.language)

    with pytest.raises(StaleAction, match="no longer available"):
        _press(service, ANA, gone, 2)

    # The update was not recorded: the same update id on the real session is taken.
    after = _press(service, ANA, step, 2)
    assert after.question is not None
    assert after.question.id == "sleep"


def test_a_press_on_someone_elses_session_is_stale_and_changes_nothing(
    engine: Engine, service: QuizService
) -> None:
    step = service.start(user=ANA, key="two", update_id=1)
    service.start(user=ChatUser(6, 6, "Bo", "en"), key="two", update_id=1)

    with pytest.raises(StaleAction):
        _press(service, ChatUser(6, 6, "Bo", "en"), step, 2)
    with pytest.raises(StaleAction):
        _press(service, ChatUser(7, 7, "Cy", "en"), step, 1)

    assert _answers(engine) == 0
    with session_scope(engine) as session:
        people = session.exec(select(Respondent.telegram_user_id)).all()
    assert set(people) == {5, 6}  # the stranger was not created
