"""Synthetic respondents of the "habits" questionnaire, for the dashboard tests and benches.

Answers are drawn around three latent profiles over four dimensions (so a segmentation finds
clusters), three Likert items a dimension with the third reverse-keyed, plus two choice
questions. Unfinished sessions stop at a random question having answered the ones before.
``draw_habits`` makes the numbers (vectorised: ``bench/dashboard.py`` writes a million with
it); ``seed`` stores them through SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine, func, insert
from sqlmodel import Session, col, select

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

#: Three well-separated profiles (item units, 1-5), one row per profile.
PROFILES = np.array([[4.3, 1.8, 4.0, 3.0], [1.8, 4.2, 2.0, 3.0], [3.0, 3.0, 4.3, 1.6]])
QUESTIONS = ["channel", "hobbies", *(f"{d}{i}" for d in DIMENSIONS for i in range(3))]
#: Every non-empty choice of hobbies.
HOBBY_SETS = [
    list(chosen)
    for size in (1, 2, 3)
    for chosen in combinations(("hiking", "cooking", "gaming"), size)
]


def draw_latent(
    profiles: NDArray[np.float64], n: int, rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """Draw each respondent's profile and latent scores around it; return scores and truth."""
    truth = rng.integers(0, len(profiles), n).astype(np.intp)
    return profiles[truth] + rng.normal(0.0, 0.35, (n, profiles.shape[1])), truth


def likert_items(latent: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.int64]:
    """Answer three 1-5 items per dimension around the latent scores, the third reverse-keyed;
    columns dimension by dimension (``d0 d1 d2`` of the first, then the next)."""
    noisy = np.repeat(latent, 3, axis=1) + rng.normal(0.0, 0.7, (len(latent), latent.shape[1] * 3))
    points = np.clip(np.rint(noisy), 1, 5).astype(np.int64)
    points[:, 2::3] = 6 - points[:, 2::3]
    return points


@dataclass(frozen=True)
class HabitsDraw:
    """``n`` respondents' answers to the habits questionnaire, as arrays."""

    #: Likert answers, one column per question of ``QUESTIONS[2:]``
    points: NDArray[np.int64]
    online: NDArray[np.bool_]
    #: index into ``HOBBY_SETS``
    hobbies: NDArray[np.intp]
    done: NDArray[np.bool_]
    #: index into ``QUESTIONS`` of the cursor of an unfinished session (completed: len)
    stop_at: NDArray[np.intp]

    def answers(self, row: int) -> dict[str, object]:
        """Return one respondent's answers up to where they stopped, by question id."""
        values: list[object] = [
            "online" if self.online[row] else "store",
            HOBBY_SETS[int(self.hobbies[row])],
            *map(int, self.points[row]),
        ]
        last = int(self.stop_at[row])
        return dict(zip(QUESTIONS[:last], values[:last], strict=True))


def draw_habits(n: int, rng: np.random.Generator, *, completed_share: float) -> HabitsDraw:
    """Draw ``n`` respondents; the first ``completed_share`` of them finish."""
    latent, _ = draw_latent(PROFILES, n, rng)
    done = np.arange(n) < int(n * completed_share)
    stopped = rng.integers(0, len(QUESTIONS), n).astype(np.intp)
    return HabitsDraw(
        points=likert_items(latent, rng),
        online=rng.random(n) < 0.6,
        hobbies=rng.integers(0, len(HOBBY_SETS), n).astype(np.intp),
        done=done,
        stop_at=np.where(done, len(QUESTIONS), stopped).astype(np.intp),
    )


@dataclass(frozen=True)
class Seeded:
    started: int
    completed: int
    #: question id -> sessions that answered it
    answered: dict[str, int]
    #: question id -> non-completed sessions stopped there
    stopped: dict[str, int]
    channel_online: int


def insert_respondents(session: Session, *, first_user: int, n: int, now: datetime) -> list[int]:
    """Insert ``n`` respondents with consecutive Telegram ids; return their ids."""
    rows = [
        {
            "telegram_user_id": first_user + i,
            "chat_id": first_user + i,
            "created_at": now,
            "updated_at": now,
            "last_update_id": 0,
            "opted_out": False,
            "unreachable": False,
        }
        for i in range(n)
    ]
    stmt = insert(Respondent).returning(col(Respondent.id), sort_by_parameter_order=True)
    return [int(i) for i in session.scalars(stmt, rows) if i is not None]


def insert_sessions(
    session: Session,
    respondent_ids: list[int],
    *,
    version_id: int | None,
    cursors: list[str | None],
    done: list[bool],
    now: datetime,
) -> list[int]:
    """Insert one session per respondent, completed or active at its cursor; return the ids."""
    rows = [
        {
            "respondent_id": rid,
            "version_id": version_id,
            "status": SessionStatus.COMPLETED if finished else SessionStatus.ACTIVE,
            "cursor": cursor,
            "language": "en",
            "seed": 0,
            "started_at": now,
            "updated_at": now,
            "completed_at": now if finished else None,
        }
        for rid, cursor, finished in zip(respondent_ids, cursors, done, strict=True)
    ]
    stmt = insert(QuizSession).returning(col(QuizSession.id), sort_by_parameter_order=True)
    return [int(i) for i in session.scalars(stmt, rows) if i is not None]


def insert_scores(
    session: Session,
    rows: Iterable[tuple[int, int, Any, Any]],
    *,
    questionnaire_id: int | None,
    version_id: int | None,
    now: datetime,
) -> None:
    """Insert the scores of completed sessions: (session id, respondent id, raw, 0-100)."""
    session.execute(
        insert(SessionScore),
        [
            {
                "session_id": sid,
                "respondent_id": rid,
                "questionnaire_id": questionnaire_id,
                "version_id": version_id,
                "completed_at": now,
                "scores": raw,
                "scores_100": pct,
            }
            for sid, rid, raw, pct in rows
        ],
    )


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
    drawn = draw_habits(n, rng, completed_share=completed_share)
    n_done = int(drawn.done.sum())
    sessions: list[dict[str, object]] = [
        {
            "answers": drawn.answers(i),
            "done": bool(drawn.done[i]),
            "cursor": None if drawn.done[i] else QUESTIONS[int(drawn.stop_at[i])],
        }
        for i in range(n)
    ]

    key = ScoringKey.from_definition(definition())
    finished = [s for s in sessions if s["done"]]
    scored = score_matrix(key, key.raw_matrix([s["answers"] for s in finished]))  # type: ignore[misc]
    now = utcnow()
    with session_scope(engine) as session:
        respondent_ids = insert_respondents(session, first_user=top + 1, n=n, now=now)
        session_ids = insert_sessions(
            session,
            respondent_ids,
            version_id=version_id,
            cursors=[s["cursor"] for s in sessions],  # type: ignore[misc]
            done=[bool(s["done"]) for s in sessions],
            now=now,
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
            insert_scores(
                session,
                ((sid, rid, *scored.row(i)) for i, (sid, rid) in enumerate(done_ids)),
                questionnaire_id=questionnaire_id,
                version_id=version_id,
                now=now,
            )
    answered = {q: sum(q in s["answers"] for s in sessions) for q in QUESTIONS}  # type: ignore[operator]
    stopped = {q: sum(s["cursor"] == q for s in sessions) for q in QUESTIONS}
    online = sum(s["answers"].get("channel") == "online" for s in sessions)  # type: ignore[attr-defined]
    return Seeded(n, n_done, answered, stopped, online)
