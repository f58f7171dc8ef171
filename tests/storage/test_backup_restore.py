"""The backup procedure of docs/operations.md works: pg_dump -Fc, then pg_restore into an
empty database, gives the same answers and counts, at the current schema, still counting."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from backend.questionnaire import load_definition
from backend.services.questionnaires import import_definition
from backend.services.quiz import ChatUser, QuizService
from backend.storage import counters
from backend.storage.engine import make_engine, session_scope
from backend.storage.migrate import current_revision, head_revision
from tests.helpers.pgcluster import PostgresCluster

pytestmark = pytest.mark.postgres

DEFINITION = """
id: kept
title: Kept
sections:
  - id: main
    questions:
      - {id: a, type: likert, text: First}
      - {id: b, type: likert, text: Second}
dimensions:
  - id: d
    label: D
    items: [{question: a}, {question: b}]
"""


def _answer(service: QuizService, user_id: int, values: list[int]) -> None:
    user = ChatUser(user_id=user_id, chat_id=user_id)
    step = service.start(user=user, key="kept")
    for value in values:
        assert step.question is not None
        step = service.answer(
            user=user, session_id=step.session_id, question_id=step.question.id, value=value
        )


def _state(engine: Engine, version_id: int) -> tuple[list[tuple[object, ...]], object]:
    with Session(engine) as session:
        answers = [
            tuple(row)
            for row in session.execute(
                text("SELECT session_id, question_id, value FROM answer ORDER BY id")
            )
        ]
        counts = counters.read(version_id, ("status", "answered", "value"), session=session)
    return answers, counts


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_a_dump_restores_into_an_empty_database(
    pg_cluster: PostgresCluster, engine: Engine, tmp_path: Path
) -> None:
    with session_scope(engine) as session:
        version_id = import_definition(load_definition(DEFINITION), session=session).version.id
    assert version_id is not None
    service = QuizService(engine)
    for user_id in range(1, 6):
        _answer(service, user_id, [user_id % 5 + 1, 3])
    _answer(service, 99, [2])  # one still answering
    dump = tmp_path / "psychograph.dump"
    source = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    subprocess.run(
        [str(pg_cluster.bindir / "pg_dump"), "-Fc", "--no-owner", "-d", source, "-f", str(dump)],
        check=True,
        capture_output=True,
    )
    restored_url = pg_cluster.create_database("restored_copy")
    target = restored_url.replace("postgresql+psycopg://", "postgresql://")
    try:
        subprocess.run(
            [str(pg_cluster.bindir / "pg_restore"), "--no-owner", "-d", target, str(dump)],
            check=True,
            capture_output=True,
        )
        restored = make_engine(restored_url)
        try:
            assert current_revision(restored) == head_revision()
            assert _state(restored, version_id) == _state(engine, version_id)
            # The counting triggers came back with the data: the restored service counts on.
            _answer(QuizService(restored), 7, [5, 5])
            with Session(restored) as session:
                status = counters.read(version_id, ("status",), session=session)["status"]
            assert status[("completed", "")] == 6
        finally:
            restored.dispose()
    finally:
        pg_cluster.drop_database("restored_copy")
