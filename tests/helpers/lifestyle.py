"""Respondents drawn from known latent profiles, answered item by item, scored and stored.

Shared by the segments, scheduler, CLI and export tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine, func, insert
from sqlmodel import col, select

from backend.questionnaire import QuestionnaireDefinition, load_definition
from backend.scoring import ScoringKey, score_matrix
from backend.services.questionnaires import import_definition
from backend.storage.engine import session_scope
from backend.storage.models import (
    Questionnaire,
    QuizSession,
    Respondent,
    SessionScore,
    SessionStatus,
)
from backend.storage.types import utcnow

DIMENSIONS = ("adventure", "price_sensitivity", "health_consciousness", "social_activity")

DEFINITION = (
    """
id: lifestyle
title: Lifestyle
sections:
  - id: main
    questions:
"""
    + "".join(
        f"      - {{id: {d}{i}, type: likert, text: 'About {d} ({i})'}}\n"
        for d in DIMENSIONS
        for i in range(3)
    )
    + """
dimensions:
"""
    + "".join(
        f"""  - id: {d}
    label: {d.replace("_", " ").capitalize()}
    items: [{{question: {d}0}}, {{question: {d}1}}, {{question: {d}2, reverse: true}}]
"""
        for d in DIMENSIONS
    )
    + """
segmentation:
  k_min: 2
  k_max: 6
  min_share: 0.05
"""
)

#: Three well-separated profiles (item units, 1-5), one row per profile.
PROFILES = np.array(
    [
        [4.3, 1.8, 4.0, 3.0],
        [1.8, 4.2, 2.0, 3.0],
        [3.0, 3.0, 4.3, 1.6],
    ]
)


@dataclass(frozen=True)
class Seeded:
    respondent_ids: list[int]
    truth: NDArray[np.intp]
    scores: NDArray[np.float64]


def definition() -> QuestionnaireDefinition:
    return load_definition(DEFINITION)


def import_lifestyle(engine: Engine) -> int:
    """Import the test questionnaire; return its id."""
    with session_scope(engine) as session:
        result = import_definition(definition(), session=session)
        assert result.questionnaire.id is not None
        return result.questionnaire.id


def answers_for(
    profiles: NDArray[np.float64], n: int, rng: np.random.Generator
) -> tuple[list[dict[str, int]], NDArray[np.intp]]:
    """Answer every item around each respondent's latent profile (reverse items mirrored)."""
    truth = rng.integers(0, len(profiles), n).astype(np.intp)
    latent = profiles[truth] + rng.normal(0.0, 0.35, (n, profiles.shape[1]))
    answers = []
    for row in latent:
        one: dict[str, int] = {}
        for d, value in zip(DIMENSIONS, row, strict=True):
            for i in range(3):
                point = int(np.clip(np.rint(value + rng.normal(0.0, 0.7)), 1, 5))
                one[f"{d}{i}"] = 6 - point if i == 2 else point
        answers.append(one)
    return answers, truth


def seed_respondents(
    engine: Engine,
    n: int,
    *,
    seed: int = 0,
    profiles: NDArray[np.float64] = PROFILES,
    first_user: int | None = None,
) -> Seeded:
    """Store ``n`` respondents with one completed, scored session each."""
    questionnaire_id = import_lifestyle(engine)
    rng = np.random.default_rng(seed)
    answers, truth = answers_for(profiles, n, rng)
    key = ScoringKey.from_definition(definition())
    scored = score_matrix(key, key.raw_matrix(answers))
    rows = [scored.row(i) for i in range(n)]
    now = utcnow()
    with session_scope(engine) as session:
        questionnaire = session.get(Questionnaire, questionnaire_id)
        assert questionnaire is not None
        version_id = questionnaire.current_version_id
        start = first_user
        if start is None:
            top = session.exec(select(func.max(Respondent.telegram_user_id))).one()
            start = (top or 0) + 1
        respondent_ids = list(
            session.scalars(
                insert(Respondent).returning(col(Respondent.id), sort_by_parameter_order=True),
                [
                    {
                        "telegram_user_id": start + i,
                        "chat_id": start + i,
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
                        "status": SessionStatus.COMPLETED,
                        "language": "en",
                        "seed": 0,
                        "started_at": now,
                        "updated_at": now,
                        "completed_at": now,
                    }
                    for rid in respondent_ids
                ],
            )
        )
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
                for sid, rid, (raw, pct) in zip(session_ids, respondent_ids, rows, strict=True)
            ],
        )
    return Seeded(
        respondent_ids=[int(i) for i in respondent_ids if i is not None],
        truth=truth,
        scores=scored.raw,
    )
