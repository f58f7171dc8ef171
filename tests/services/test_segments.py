"""Re-clustering end to end: stored runs, stable ids and names, immediate assignment."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score
from sqlalchemy import Engine, delete, event, func
from sqlmodel import col, select

from backend.followups import import_pack, load_content
from backend.quiz import Step
from backend.services.quiz import ChatUser, QuizService
from backend.services.segments import (
    export_assignments,
    list_segments,
    recluster,
    rename_segment,
    runs,
    segment_assigner,
)
from backend.storage.engine import session_scope
from backend.storage.followup_tables import FollowupMessage, FollowupStatus
from backend.storage.models import Respondent
from backend.storage.segment_tables import (
    RunStatus,
    Segment,
    SegmentAssignment,
    SegmentationRun,
    SegmentStatus,
)
from tests.helpers.lifestyle import DIMENSIONS, PROFILES, import_lifestyle, seed_respondents

#: One item for every segment of the lifestyle quiz.
LIFESTYLE_PACK = """
id: lifestyle-tips
questionnaire: lifestyle
title: Tips
items:
  - id: welcome
    target: {default: true}
    text: "Welcome {{ first_name }}, one of {{ segment_name }}."
"""


def assignments(engine: Engine) -> dict[int, SegmentAssignment]:
    with session_scope(engine) as session:
        rows = session.exec(select(SegmentAssignment)).all()
        return {row.respondent_id: row for row in rows}


def test_run_finds_the_known_profiles_and_stores_everything(engine: Engine) -> None:
    seeded = seed_respondents(engine, 600, seed=1)

    report = recluster(engine=engine, questionnaire_key="lifestyle", random_state=0)

    assert report.k == len(PROFILES)
    assert report.n_respondents == 600
    assert report.created == report.segment_ids
    assigned = assignments(engine)
    labels = [assigned[rid].segment_id for rid in seeded.respondent_ids]
    assert adjusted_rand_score(seeded.truth, labels) >= 0.9
    # Soft membership: every segment's probability, summing to 1; confidence is the top one.
    for row in assigned.values():
        assert row.probabilities is not None
        assert set(row.probabilities) == {str(i) for i in report.segment_ids}
        assert abs(sum(row.probabilities.values()) - 1.0) < 1e-6
        assert row.confidence == pytest.approx(max(row.probabilities.values()), abs=1e-4)
        assert row.confidence is not None
        assert row.probabilities[str(row.segment_id)] >= 0.9 * row.confidence
    with session_scope(engine) as session:
        run = session.get(SegmentationRun, report.run_id)
        assert run is not None
        assert run.status == RunStatus.SUCCEEDED
        assert run.k == 3
        assert sorted({c["k"] for c in run.candidates}) == [1, 2, 3, 4, 5, 6]
        assert run.model is not None
        assert run.model["segment_ids"] == list(report.segment_ids)
        assert "k=3 chosen" in (run.choice_reason or "")
        assert run.standardiser is not None
        assert run.standardiser["columns"] == list(DIMENSIONS)
        segments = list_segments(session=session, questionnaire_key="lifestyle")
    assert sorted(s.id for s in segments) == sorted(report.segment_ids)
    assert sum(s.size for s in segments) == 600
    assert abs(sum(s.share for s in segments) - 1.0) < 1e-9
    for segment in segments:
        assert segment.name
        assert " · " in segment.name
        assert f"{segment.size:,} respondents" in segment.description
        assert set(segment.centroid) == set(DIMENSIONS)
        assert all(1.0 <= v <= 5.0 for v in segment.centroid.values())
        assert segment.traits
        assert abs(segment.traits[0]["z"]) >= 0.3


def test_rerun_with_another_seed_keeps_ids_and_marketer_names(engine: Engine) -> None:
    seed_respondents(engine, 600, seed=2)
    first = recluster(engine=engine, questionnaire_key="lifestyle", random_state=0)
    renamed = first.segment_ids[1]
    with session_scope(engine) as session:
        rename_segment(
            session=session,
            segment_id=renamed,
            name="Weekend explorers",
            description="Our best buyers.",
        )
        auto = {
            s.id: s.name for s in list_segments(session=session, questionnaire_key="lifestyle")
        }

    second = recluster(engine=engine, questionnaire_key="lifestyle", random_state=12345)

    assert set(second.segment_ids) == set(first.segment_ids)
    assert second.created == ()
    assert second.retired == ()
    assert second.adjusted_rand == 1.0
    assert second.n_moved == 0
    with session_scope(engine) as session:
        names = {
            s.id: s.name for s in list_segments(session=session, questionnaire_key="lifestyle")
        }
        kept = session.get(Segment, renamed)
        assert kept is not None
        assert kept.description == "Our best buyers."
        assert kept.last_run_id == second.run_id
        history = runs(session=session, questionnaire_key="lifestyle")
    assert names == auto
    assert names[renamed] == "Weekend explorers"
    assert [r.id for r in history] == [second.run_id, first.run_id]
    assert (
        history[0].metrics["transitions"]["counts"]
        == np.diag(
            [
                len([1 for a in assignments(engine).values() if a.segment_id == s])
                for s in history[0].metrics["transitions"]["new_segments"]
            ]
        ).tolist()
    )


def test_ten_percent_new_respondents_keep_ids_and_move_few(engine: Engine) -> None:
    old = seed_respondents(engine, 600, seed=3)
    first = recluster(engine=engine, questionnaire_key="lifestyle", random_state=0)
    before = assignments(engine)
    seed_respondents(engine, 60, seed=4)

    second = recluster(engine=engine, questionnaire_key="lifestyle", random_state=7)

    assert set(second.segment_ids) == set(first.segment_ids)
    assert second.n_shared == 600
    after = assignments(engine)
    moved = sum(after[r].segment_id != before[r].segment_id for r in old.respondent_ids)
    assert moved == second.n_moved
    assert moved < 0.05 * 600
    assert len(after) == 660
    assert second.adjusted_rand is not None
    assert second.adjusted_rand > 0.9


def answer_like(profile: np.ndarray, question_id: str) -> int:
    dimension, item = question_id[:-1], int(question_id[-1])
    point = int(np.clip(np.rint(profile[DIMENSIONS.index(dimension)]), 1, 5))
    return 6 - point if item == 2 else point


def take_quiz(service: QuizService, user: ChatUser, profile: np.ndarray) -> Step:
    """Take the lifestyle quiz answering like ``profile``; return the result step."""
    step = service.start(user=user, key="lifestyle")
    if step.kind == "intro":
        step = service.begin(user=user, session_id=step.session_id)
    while step.kind == "question":
        assert step.question is not None
        step = service.answer(
            user=user,
            session_id=step.session_id,
            question_id=step.question.id,
            value=answer_like(profile, step.question.id),
        )
    assert step.kind == "result"
    return step


def test_a_new_completion_is_assigned_to_the_nearest_segment_at_once(engine: Engine) -> None:
    seed_respondents(engine, 600, seed=5)
    report = recluster(engine=engine, questionnaire_key="lifestyle", random_state=0)
    with session_scope(engine) as session:
        segments = list_segments(session=session, questionnaire_key="lifestyle")
    # Profile 0 is the only one with high adventure.
    expected = max(segments, key=lambda s: s.centroid["adventure"])
    service = QuizService(engine, assign_segment=segment_assigner())
    user = ChatUser(user_id=10_000_001, chat_id=10_000_001, first_name="Ada")

    step = take_quiz(service, user, PROFILES[0])

    assert step.segment is not None
    assert step.segment.segment_id == expected.id
    assert step.segment.name == expected.name
    assert step.segment.description == expected.description
    with session_scope(engine) as session:
        row = session.exec(
            select(SegmentAssignment).where(
                SegmentAssignment.segment_id == expected.id,
                col(SegmentAssignment.run_id).is_(None),
            )
        ).one()
        assert row.moves == 0
        # The completion is assigned by the run's own mixture, with every probability.
        assert row.probabilities is not None
        assert set(row.probabilities) == {str(i) for i in report.segment_ids}
        assert abs(sum(row.probabilities.values()) - 1.0) < 1e-6
        assert row.confidence == max(row.probabilities.values())
        assert row.probabilities[str(expected.id)] == row.confidence
        run = session.get(SegmentationRun, report.run_id)
        assert run is not None
        assert run.model is not None
        assert run.model["method"] == "mixture"
        total = session.exec(select(func.count()).select_from(SegmentAssignment)).one()
    assert total == 601
    # The next run counts the respondent as already assigned.
    again = recluster(engine=engine, questionnaire_key="lifestyle", random_state=1)
    assert again.n_shared == 601
    assert set(again.segment_ids) == set(report.segment_ids)


def test_a_completion_reads_the_stored_model_once_and_segment_names_always(
    engine: Engine,
) -> None:
    seed_respondents(engine, 600, seed=5)
    recluster(engine=engine, questionnaire_key="lifestyle", random_state=0)
    service = QuizService(engine, assign_segment=segment_assigner())
    first = take_quiz(service, ChatUser(user_id=10_000_001, chat_id=10_000_001), PROFILES[0])
    assert first.segment is not None
    with session_scope(engine) as session:
        rename_segment(
            session=session,
            segment_id=first.segment.segment_id,
            name="Trailblazers",
            description="Out every weekend.",
        )
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        second = take_quiz(service, ChatUser(user_id=10_000_002, chat_id=10_000_002), PROFILES[0])
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    # The run's model was parsed at the first completion; a rename shows at once.
    assert second.segment is not None
    assert second.segment.segment_id == first.segment.segment_id
    assert second.segment.name == "Trailblazers"
    assert second.segment.description == "Out every weekend."
    assert not [s for s in statements if "segmentationrun.model" in s]


def test_a_completion_queues_the_first_followups_in_its_transaction(engine: Engine) -> None:
    seed_respondents(engine, 600, seed=5)
    recluster(engine=engine, questionnaire_key="lifestyle", random_state=0)
    service = QuizService(engine, assign_segment=segment_assigner())
    take_quiz(service, ChatUser(user_id=10_000_001, chat_id=10_000_001), PROFILES[0])
    with session_scope(engine) as session:
        assert session.exec(select(FollowupMessage)).all() == []  # no pack, nothing queued
        import_pack(session=session, pack=load_content(LIFESTYLE_PACK, source="pack.yaml"))

    user = ChatUser(user_id=10_000_002, chat_id=10_000_002, first_name="Ada")
    step = take_quiz(service, user, PROFILES[0])

    assert step.segment is not None
    with session_scope(engine) as session:
        rows = session.exec(select(FollowupMessage)).all()
        respondent = session.exec(
            select(Respondent).where(Respondent.telegram_user_id == user.user_id)
        ).one()
    assert [(r.respondent_id, r.item_id, r.segment_key) for r in rows] == [
        (respondent.id, "welcome", str(step.segment.segment_id))
    ]
    assert rows[0].text == f"Welcome Ada, one of {step.segment.name}."
    assert rows[0].status == FollowupStatus.PENDING


def test_no_segment_before_the_first_run(sqlite_engine: Engine) -> None:
    import_lifestyle(sqlite_engine)
    service = QuizService(sqlite_engine, assign_segment=segment_assigner())
    user = ChatUser(user_id=42, chat_id=42)
    step = service.start(user=user, key="lifestyle")
    while step.kind == "question":
        assert step.question is not None
        step = service.answer(
            user=user, session_id=step.session_id, question_id=step.question.id, value=3
        )
    assert step.kind == "result"
    assert step.segment is None


def test_vanished_segments_are_retired(sqlite_engine: Engine) -> None:
    old = seed_respondents(sqlite_engine, 600, seed=6)
    first = recluster(engine=sqlite_engine, questionnaire_key="lifestyle", random_state=0)
    # The old respondents erase their data; the new ones all answer like profile 1.
    with session_scope(sqlite_engine) as session:
        session.exec(delete(Respondent).where(col(Respondent.id).in_(old.respondent_ids)))
    seed_respondents(sqlite_engine, 400, seed=7, profiles=PROFILES[[1]])

    second = recluster(engine=sqlite_engine, questionnaire_key="lifestyle", random_state=0)

    assert second.k == 1
    assert len(second.retired) == 2
    assert set(second.segment_ids) < set(first.segment_ids)
    with session_scope(sqlite_engine) as session:
        active = list_segments(session=session, questionnaire_key="lifestyle")
        every = list_segments(session=session, questionnaire_key="lifestyle", include_retired=True)
    assert [s.id for s in active] == list(second.segment_ids)
    assert {s.status for s in every if s.id in second.retired} == {SegmentStatus.RETIRED}


def test_export_lists_every_respondent_with_segment_and_scores(sqlite_engine: Engine) -> None:
    seeded = seed_respondents(sqlite_engine, 300, seed=8)
    recluster(engine=sqlite_engine, questionnaire_key="lifestyle", random_state=0)

    rows = list(export_assignments(engine=sqlite_engine, questionnaire_key="lifestyle"))

    header, body = rows[0], rows[1:]
    assert header[:6] == [
        "respondent_id",
        "telegram_user_id",
        "external_id",
        "segment_id",
        "segment",
        "assigned_at",
    ]
    n_dims = len(DIMENSIONS)
    assert header[6 : 6 + n_dims] == list(DIMENSIONS)
    assert header[6 + n_dims] == "confidence"
    probability_columns = header[7 + n_dims :]
    assert probability_columns
    assert all(name.startswith("p_segment_") for name in probability_columns)
    assert [r[0] for r in body] == seeded.respondent_ids
    first = body[0]
    assert np.allclose([float(v) for v in first[6 : 6 + n_dims]], seeded.scores[0], atol=1e-6)
    for row in body:
        probabilities = [float(v) for v in row[7 + n_dims :]]
        assert abs(sum(probabilities) - 1.0) < 1e-6
        assert float(row[6 + n_dims]) == max(probabilities)


def test_rename_rejects_an_empty_name(sqlite_engine: Engine) -> None:
    seed_respondents(sqlite_engine, 300, seed=9)
    report = recluster(engine=sqlite_engine, questionnaire_key="lifestyle", random_state=0)
    with (
        pytest.raises(ValueError, match="cannot be empty"),
        session_scope(sqlite_engine) as session,
    ):
        rename_segment(session=session, segment_id=report.segment_ids[0], name="  ")
