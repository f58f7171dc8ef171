"""The dashboard's counts are kept by the database as rows change, on both backends."""

from __future__ import annotations

import random
import threading

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from backend.questionnaire import load_definition
from backend.quiz import QuestionAction
from backend.services.questionnaires import import_definition
from backend.services.quiz import ChatUser, QuizService
from backend.storage import counters
from backend.storage.engine import session_scope

DEFINITION = """
id: counted
title: Counted
sections:
  - id: main
    questions:
      - {id: mood, type: likert, text: How are you}
      - id: hobbies
        type: multiple_choice
        text: Which do you enjoy?
        required: false
        options:
          - {id: hiking, text: Hiking}
          - {id: cooking, text: Cooking}
          - {id: gaming, text: Gaming}
      - {id: note, type: text, text: Anything else, required: false}
      - {id: energy, type: likert, text: How much energy}
dimensions:
  - id: wellbeing
    label: Wellbeing
    items: [{question: mood}, {question: energy}]
"""
METRICS = ("status", "stopped", "answered", "value")


def _setup(engine: Engine) -> tuple[QuizService, int]:
    with session_scope(engine) as session:
        result = import_definition(load_definition(DEFINITION), session=session)
        version_id = result.version.id
    assert version_id is not None
    return QuizService(engine), version_id


def _recount(engine: Engine, version_id: int) -> dict[str, dict[tuple[str, str], int]]:
    """Count from scratch (what a backfill finds), leaving the kept counts untouched."""
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            counters.backfill(connection)
            with Session(bind=connection) as session:
                return counters.read(version_id, METRICS, session=session)
        finally:
            transaction.rollback()


def _kept(engine: Engine, version_id: int) -> dict[str, dict[tuple[str, str], int]]:
    with Session(engine) as session:
        return counters.read(version_id, METRICS, session=session)


def _take(service: QuizService, user: ChatUser, rng: random.Random, *, finish: bool) -> None:
    step = service.start(user=user, key="counted")
    if step.kind == "intro":
        step = service.begin(user=user, session_id=step.session_id)
    answered = 0
    while step.kind == "question" and (finish or answered < 2):
        assert step.question is not None
        qid = step.question.id
        if qid == "hobbies":
            value: object = rng.sample(["hiking", "cooking", "gaming"], rng.randint(1, 2))
        elif qid == "note":
            value = f"free text {rng.random()}"
        else:
            value = rng.randint(1, 5)
        step = service.answer(user=user, session_id=step.session_id, question_id=qid, value=value)
        answered += 1


def test_counts_follow_answers_back_completion_cancel_and_erasure(engine: Engine) -> None:
    service, version_id = _setup(engine)
    rng = random.Random(3)
    users = [ChatUser(user_id=100 + i, chat_id=100 + i) for i in range(12)]
    for i, user in enumerate(users):
        _take(service, user, rng, finish=i % 3 != 0)
    # Back and a changed answer: the old value leaves the counts.
    waiting = users[0]
    step = service.resume(user=waiting)
    assert step is not None
    assert step.question is not None
    step = service.press(
        user=waiting, session_id=step.session_id, question_index=2, action=QuestionAction.BACK
    )
    assert step.question is not None
    service.answer(
        user=waiting, session_id=step.session_id, question_id=step.question.id, value=["gaming"]
    )
    service.cancel(user=users[3])
    counters.fold(engine)
    service.restart(user=users[6])
    assert service.delete_me(user=users[1])
    assert service.delete_me(user=users[3])

    kept = _kept(engine, version_id)

    assert kept == _recount(engine, version_id)
    assert kept["status"] == {("completed", ""): 7, ("active", ""): 3, ("cancelled", ""): 1}
    assert ("note", "") in kept["answered"]  # free text is answered, but not counted by value
    assert not any(key == "note" for key, _ in kept["value"])
    assert sum(n for (key, _), n in kept["value"].items() if key == "hobbies") >= 7


def test_folding_keeps_the_figures_and_shortens_the_rows(engine: Engine) -> None:
    service, version_id = _setup(engine)
    rng = random.Random(4)
    for i in range(6):
        _take(service, ChatUser(user_id=200 + i, chat_id=200 + i), rng, finish=True)
    before = _kept(engine, version_id)
    with Session(engine) as session:
        rows = session.execute(text("SELECT COUNT(*) FROM statcounter")).scalar_one()

    removed = counters.fold(engine)

    assert removed > 0
    with Session(engine) as session:
        assert session.execute(text("SELECT COUNT(*) FROM statcounter")).scalar_one() == (
            rows - removed
        )
    assert _kept(engine, version_id) == before
    assert counters.fold(engine) == 0


@pytest.mark.postgres
@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_concurrent_answers_and_folds_lose_no_count(engine: Engine) -> None:
    service, version_id = _setup(engine)
    errors: list[BaseException] = []
    stop = threading.Event()

    def respondents(first: int) -> None:
        rng = random.Random(first)
        try:
            for i in range(8):
                user = ChatUser(user_id=first + i, chat_id=first + i)
                _take(service, user, rng, finish=i % 4 != 0)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def folder() -> None:
        while not stop.is_set():
            counters.fold(engine)

    threads = [threading.Thread(target=respondents, args=(1000 * k,)) for k in range(1, 7)]
    folding = threading.Thread(target=folder)
    folding.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    folding.join()

    assert errors == []
    kept = _kept(engine, version_id)
    assert kept == _recount(engine, version_id)
    assert kept["status"][("completed", "")] == 36
