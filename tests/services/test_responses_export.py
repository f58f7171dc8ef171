"""The responses export names each respondent's current segment."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine

from backend.services import responses
from backend.services.questionnaires import QuestionnaireNotFound
from backend.services.responses import export_responses
from backend.services.segments import list_segments, recluster
from backend.storage.engine import make_reader, session_scope
from backend.storage.models import SessionScore
from tests.helpers.lifestyle import seed_respondents


def test_export_carries_scores_and_the_current_segment(engine: Engine) -> None:
    seed_respondents(engine, 240, seed=3)
    report = recluster(engine=engine, questionnaire_key="lifestyle", random_state=0)
    header, *rows = export_responses("lifestyle", engine=engine)
    with session_scope(engine) as session:
        names = {s.name for s in list_segments(session=session, questionnaire_key="lifestyle")}
    assert header[-1] == "segment"
    assert len(rows) == 240
    assert {row[-1] for row in rows} == names
    assert len(names) == report.k


def test_an_export_larger_than_a_batch_has_every_session_once_with_its_scores(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(responses, "EXPORT_BATCH", 7)
    seed_respondents(engine, 50, seed=4)
    header, *rows = export_responses("lifestyle", engine=engine)
    sessions = [int(row[header.index("session")]) for row in rows]
    assert sessions == sorted(sessions)  # completion order, then session order
    assert len(set(sessions)) == 50
    with session_scope(engine) as session:
        for row in rows[::9]:
            stored = session.get(SessionScore, int(row[header.index("session")]))
            assert stored is not None
            assert stored.scores
            assert all(row[header.index(d)] == str(v) for d, v in stored.scores.items())


def test_a_running_export_does_not_hold_up_a_writer(sqlite_engine: Engine) -> None:
    seed_respondents(sqlite_engine, 30, seed=5)
    reader = make_reader(sqlite_engine)
    try:
        rows = export_responses("lifestyle", engine=reader)
        next(rows), next(rows)  # the export is inside its read transaction now
        started = time.perf_counter()
        seed_respondents(sqlite_engine, 5, seed=6)  # writes (and waits for no lock)
        assert time.perf_counter() - started < 2
        assert len(list(rows)) == 29  # the export's snapshot: the 30 it began with
    finally:
        reader.dispose()


def test_an_unknown_questionnaire_is_reported_before_any_row(engine: Engine) -> None:
    with pytest.raises(QuestionnaireNotFound):
        next(export_responses("nope", engine=engine))
