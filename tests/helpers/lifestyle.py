"""Synthetic respondents of the "lifestyle" questionnaire: completed, scored and stored.

Drawn like the habits respondents of ``tests.helpers.seed`` (the same profiles and items).

Shared by the segments, scheduler, CLI and export tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine, func
from sqlmodel import select

from backend.questionnaire import QuestionnaireDefinition, load_definition
from backend.scoring import ScoringKey, score_matrix
from backend.services.questionnaires import import_definition
from backend.storage.engine import session_scope
from backend.storage.models import (
    Questionnaire,
    Respondent,
)
from backend.storage.types import utcnow
from tests.helpers.seed import (
    PROFILES,
    draw_latent,
    insert_respondents,
    insert_scores,
    insert_sessions,
    likert_items,
)

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
    latent, truth = draw_latent(profiles, n, rng)
    columns = [f"{d}{i}" for d in DIMENSIONS for i in range(3)]
    points = likert_items(latent, rng)
    return [dict(zip(columns, map(int, row), strict=True)) for row in points], truth


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
        respondent_ids = insert_respondents(session, first_user=start, n=n, now=now)
        session_ids = insert_sessions(
            session,
            respondent_ids,
            version_id=version_id,
            cursors=[None] * n,
            done=[True] * n,
            now=now,
        )
        insert_scores(
            session,
            (
                (sid, rid, raw, pct)
                for sid, rid, (raw, pct) in zip(session_ids, respondent_ids, rows, strict=True)
            ),
            questionnaire_id=questionnaire_id,
            version_id=version_id,
            now=now,
        )
    return Seeded(respondent_ids=respondent_ids, truth=truth, scores=scored.raw)
