"""Versioning rules of questionnaire imports, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from backend.questionnaire import load_definition
from backend.scoring import ScoringKey
from backend.services.questionnaires import (
    QuestionnaireNotFound,
    archive_questionnaire,
    current_version,
    definition_of,
    import_definition,
    list_questionnaires,
)
from backend.services.responses import record_scores, version_reliability
from backend.storage.engine import session_scope
from backend.storage.models import (
    Answer,
    QuestionnaireStatus,
    QuestionnaireVersion,
    QuizSession,
    Respondent,
    SessionScore,
    SessionStatus,
)
from backend.storage.types import utcnow

BASE = """
id: mood
title: Mood
sections:
  - id: main
    questions:
      - {id: calm, type: likert, text: I feel calm}
      - {id: tense, type: likert, text: I feel tense}
dimensions:
  - id: serenity
    label: Serenity
    items: [{question: calm}, {question: tense, reverse: true}]
"""


def test_first_import_creates_version_one(engine: Engine) -> None:
    with session_scope(engine) as session:
        result = import_definition(load_definition(BASE), session=session)
        assert result.outcome == "created"
        assert result.version.version == 1
        assert result.questionnaire.current_version_id == result.version.id


def test_identical_content_is_a_no_op_whatever_the_formatting(engine: Engine) -> None:
    reformatted = "# a comment\n" + BASE.replace("{question: calm}", "{ question:   calm }")
    json_text = load_definition(BASE).model_dump_json(by_alias=True, exclude_none=True)
    with session_scope(engine) as session:
        first = import_definition(load_definition(BASE), session=session)
    with session_scope(engine) as session:
        again = import_definition(load_definition(reformatted), session=session)
        as_json = import_definition(load_definition(json_text, fmt="json"), session=session)
        versions = session.exec(select(QuestionnaireVersion)).all()
    assert again.outcome == as_json.outcome == "unchanged"
    assert again.version.id == as_json.version.id == first.version.id
    assert len(versions) == 1


def test_changed_content_makes_a_new_immutable_version(engine: Engine) -> None:
    changed = BASE.replace("I feel calm", "I feel relaxed")
    with session_scope(engine) as session:
        v1 = import_definition(load_definition(BASE), session=session).version
    with session_scope(engine) as session:
        result = import_definition(load_definition(changed), session=session)
    assert result.outcome == "new_version"
    assert result.version.version == 2
    with session_scope(engine) as session:
        old = session.get(QuestionnaireVersion, v1.id)
        assert old is not None
        assert definition_of(old).questions()["calm"].text == "I feel calm"
        assert current_version("mood", session=session).version == 2
        # going back to the first content is a no-op again, not a third version
        back = import_definition(load_definition(BASE), session=session)
        assert back.outcome == "unchanged"
        assert back.version.version == 1


def _complete_session(engine: Engine, version_id: int, answers: dict[str, int]) -> int:
    with session_scope(engine) as session:
        respondent = Respondent(first_name="Ana")
        session.add(respondent)
        session.flush()
        assert respondent.id is not None
        quiz = QuizSession(
            respondent_id=respondent.id,
            version_id=version_id,
            status=SessionStatus.COMPLETED,
            completed_at=utcnow(),
        )
        session.add(quiz)
        session.flush()
        assert quiz.id is not None
        for question, value in answers.items():
            session.add(Answer(session_id=quiz.id, question_id=question, value=value))
        session.flush()
        record_scores(quiz, session=session)
        return quiz.id


def test_sessions_keep_their_version_and_dimensions_stay_comparable(engine: Engine) -> None:
    with session_scope(engine) as session:
        v1 = import_definition(load_definition(BASE), session=session).version
    assert v1.id is not None
    first = _complete_session(engine, v1.id, {"calm": 5, "tense": 1})
    changed = BASE.replace("I feel tense", "I feel on edge")
    with session_scope(engine) as session:
        v2 = import_definition(load_definition(changed), session=session).version
    assert v2.id is not None
    second = _complete_session(engine, v2.id, {"calm": 1, "tense": 5})
    with session_scope(engine) as session:
        rows = {s.session_id: s for s in session.exec(select(SessionScore)).all()}
        first_session = session.get(QuizSession, first)
        assert first_session is not None
        assert first_session.version_id == v1.id
    assert rows[first].scores == {"serenity": 5.0}
    assert rows[second].scores == {"serenity": 1.0}
    assert rows[first].questionnaire_id == rows[second].questionnaire_id
    assert rows[first].version_id != rows[second].version_id


def test_archive_hides_and_reimport_revives(engine: Engine) -> None:
    with session_scope(engine) as session:
        import_definition(load_definition(BASE), session=session)
        archive_questionnaire("mood", session=session)
        assert list_questionnaires(session=session, include_archived=False) == []
        [row] = list_questionnaires(session=session)
        assert row.status == QuestionnaireStatus.ARCHIVED
        assert import_definition(load_definition(BASE), session=session).outcome == "unchanged"
        [row] = list_questionnaires(session=session, include_archived=False)
        assert row.status == QuestionnaireStatus.ACTIVE


def test_unknown_questionnaire_says_which(engine: Engine) -> None:
    with session_scope(engine) as session, pytest.raises(QuestionnaireNotFound, match="'nope'"):
        current_version("nope", session=session)


def test_list_counts_versions_sessions_and_completions(engine: Engine) -> None:
    with session_scope(engine) as session:
        v1 = import_definition(load_definition(BASE), session=session).version
    assert v1.id is not None
    for _ in range(3):
        _complete_session(engine, v1.id, {"calm": 4, "tense": 2})
    with session_scope(engine) as session:
        [row] = list_questionnaires(session=session)
    assert (row.version, row.versions, row.sessions, row.completed) == (1, 1, 3, 3)


def test_reliability_from_stored_answers(engine: Engine) -> None:
    with session_scope(engine) as session:
        v1 = import_definition(load_definition(BASE), session=session).version
    assert v1.id is not None
    for calm, tense in [(5, 1), (4, 2), (2, 4), (1, 5), (3, 3), (5, 2)]:
        _complete_session(engine, v1.id, {"calm": calm, "tense": tense})
    with session_scope(engine) as session:
        stored, n, [serenity] = version_reliability("mood", session=session)
    assert stored.version == 1
    assert n == 6
    assert serenity.alpha is not None
    assert serenity.alpha > 0.9
    key = ScoringKey.from_definition(load_definition(BASE))
    assert serenity.dimension == key.dimensions[0]
