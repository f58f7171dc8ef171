"""Respondents for the dashboard tests: answers, stopped and completed sessions, scores.

Three latent profiles over four dimensions make a segmentation find clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine, func, insert
from sqlmodel import col, select

from backend.questionnaire import QuestionnaireDefinition, load_definition
from backend.scoring import ScoringKey, score_matrix
from backend.services.questionnaires import import_definition
from backend.storage.engine import session_scope
from backend.storage.models import (
    Answer,
    Questionnaire,
    QuizSession,
    Respondent,
    SessionScore,
    SessionStatus,
)
from backend.storage.types import utcnow

DIMENSIONS = ("adventure", "thrift", "health", "social")
KEY = "habits"

DEFINITION = (
    f"""id: {KEY}
title: Everyday habits
sections:
  - id: main
    questions:
      - id: channel
        type: single_choice
        text: Where do you shop most?
        options:
          - {{id: online, text: Online}}
          - {{id: store, text: In a store}}
      - id: hobbies
        type: multiple_choice
        text: Which do you enjoy?
        options:
          - {{id: hiking, text: Hiking}}
          - {{id: cooking, text: Cooking}}
          - {{id: gaming, text: Gaming}}
"""
    + "".join(
        f"      - {{id: {d}{i}, type: likert, text: 'About {d} ({i})', "
        "min_label: Disagree, max_label: Agree}\n"
        for d in DIMENSIONS
        for i in range(3)
    )
    + "dimensions:\n"
    + "".join(
        f"""  - id: {d}
    label: {d.capitalize()}
    items: [{{question: {d}0}}, {{question: {d}1}}, {{question: {d}2, reverse: true}}]
"""
        for d in DIMENSIONS
    )
    + """segmentation:
  k_min: 2
  k_max: 5
  min_share: 0.05
"""
)

PROFILES = np.array([[4.3, 1.8, 4.0, 3.0], [1.8, 4.2, 2.0, 3.0], [3.0, 3.0, 4.3, 1.6]])
QUESTIONS = ["channel", "hobbies", *(f"{d}{i}" for d in DIMENSIONS for i in range(3))]


@dataclass(frozen=True)
class Seeded:
    started: int
    completed: int
    #: question id -> sessions that answered it
    answered: dict[str, int]
    #: question id -> non-completed sessions stopped there
    stopped: dict[str, int]
    channel_online: int


def definition() -> QuestionnaireDefinition:
    return load_definition(DEFINITION)


def seed(engine: Engine, n: int, *, seed: int = 0, completed_share: float = 0.8) -> Seeded:
    """Store ``n`` respondents, each with one session; the first ``completed_share`` finish,
    the others stop at a random question (their cursor), having answered the ones before."""
    rng = np.random.default_rng(seed)
    with session_scope(engine) as session:
        found = session.exec(select(Questionnaire).where(Questionnaire.key == KEY)).first()
        if found is None:
            found = import_definition(definition(), session=session).questionnaire
        questionnaire_id, version_id = found.id, found.current_version_id
        top = session.exec(select(func.max(Respondent.telegram_user_id))).one() or 0
    truth = rng.integers(0, len(PROFILES), n)
    latent = PROFILES[truth] + rng.normal(0.0, 0.35, (n, len(DIMENSIONS)))
    sessions: list[dict[str, object]] = []
    n_done = int(n * completed_share)
    for index, row in enumerate(latent):
        answers: dict[str, object] = {
            "channel": "online" if rng.random() < 0.6 else "store",
            "hobbies": [o for o in ("hiking", "cooking", "gaming") if rng.random() < 0.5]
            or ["cooking"],
        }
        for d, value in zip(DIMENSIONS, row, strict=True):
            for i in range(3):
                point = int(np.clip(np.rint(value + rng.normal(0.0, 0.7)), 1, 5))
                answers[f"{d}{i}"] = 6 - point if i == 2 else point
        done = index < n_done
        cursor = None if done else QUESTIONS[int(rng.integers(0, len(QUESTIONS)))]
        if cursor is not None:
            kept = QUESTIONS[: QUESTIONS.index(cursor)]
            answers = {q: answers[q] for q in kept}
        sessions.append({"answers": answers, "done": done, "cursor": cursor})

    key = ScoringKey.from_definition(definition())
    finished = [s for s in sessions if s["done"]]
    scored = score_matrix(key, key.raw_matrix([s["answers"] for s in finished]))  # type: ignore[misc]
    now = utcnow()
    with session_scope(engine) as session:
        respondent_ids = list(
            session.scalars(
                insert(Respondent).returning(col(Respondent.id), sort_by_parameter_order=True),
                [
                    {
                        "telegram_user_id": top + 1 + i,
                        "chat_id": top + 1 + i,
                        "created_at": now,
                        "updated_at": now,
                        "last_update_id": 0,
                        "opted_out": False,
                        "unreachable": False,
                    }
                    for i in range(n)
                ],
            )
        )
        session_ids = list(
            session.scalars(
                insert(QuizSession).returning(col(QuizSession.id), sort_by_parameter_order=True),
                [
                    {
                        "respondent_id": rid,
                        "version_id": version_id,
                        "status": SessionStatus.COMPLETED if s["done"] else SessionStatus.ACTIVE,
                        "cursor": s["cursor"],
                        "language": "en",
                        "seed": 0,
                        "started_at": now,
                        "updated_at": now,
                        "completed_at": now if s["done"] else None,
                    }
                    for rid, s in zip(respondent_ids, sessions, strict=True)
                ],
            )
        )
        session.execute(
            insert(Answer),
            [
                {"session_id": sid, "question_id": q, "value": v, "answered_at": now}
                for sid, s in zip(session_ids, sessions, strict=True)
                for q, v in s["answers"].items()  # type: ignore[attr-defined]
            ],
        )
        done_ids = [
            (sid, rid)
            for sid, rid, s in zip(session_ids, respondent_ids, sessions, strict=True)
            if s["done"]
        ]
        if done_ids:
            session.execute(
                insert(SessionScore),
                [
                    {
                        "session_id": sid,
                        "respondent_id": rid,
                        "questionnaire_id": questionnaire_id,
                        "version_id": version_id,
                        "completed_at": now,
                        "scores": scored.row(i)[0],
                        "scores_100": scored.row(i)[1],
                    }
                    for i, (sid, rid) in enumerate(done_ids)
                ],
            )
    answered = {q: sum(q in s["answers"] for s in sessions) for q in QUESTIONS}  # type: ignore[operator]
    stopped = {q: sum(s["cursor"] == q for s in sessions) for q in QUESTIONS}
    online = sum(s["answers"].get("channel") == "online" for s in sessions)  # type: ignore[attr-defined]
    return Seeded(n, n_done, answered, stopped, online)
