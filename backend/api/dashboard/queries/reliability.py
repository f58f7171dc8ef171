"""Reliability of a version's scales from a bounded sample of its latest completed sessions."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from backend.questionnaire import QuestionnaireDefinition
from backend.scoring import DimensionReliability, ScoringKey, reliability
from backend.scoring.reliability import WEAK_ALPHA, cronbach_alpha
from backend.storage import counters
from backend.storage.models import Answer, QuizSession, SessionStatus

RELIABILITY_SAMPLE = 5_000


@dataclass(frozen=True, slots=True)
class ItemAnalysis:
    question_id: str
    text: str
    reverse: bool
    #: Correlation of the item with the sum of the scale's other items.
    item_total: float | None
    #: The scale's alpha without this item.
    alpha_if_deleted: float | None

    def lowers(self, alpha: float | None) -> bool:
        """True when the scale would be more reliable without this item."""
        return (
            alpha is not None
            and self.alpha_if_deleted is not None
            and self.alpha_if_deleted > alpha + 0.01
        ) or (self.item_total is not None and self.item_total < 0.2)


@dataclass(frozen=True, slots=True)
class ScaleReliability:
    dimension: str
    label: str
    n: int
    alpha: float | None
    items: list[ItemAnalysis]

    @property
    def verdict(self) -> str:
        """What the figures mean for the marketer, in one or two sentences."""
        if len(self.items) < 2:
            return "One item: reliability needs at least two items that measure the same thing."
        if self.alpha is None:
            return (
                f"Not enough complete answers yet ({self.n}): alpha appears once a few "
                "respondents have answered every item of this scale."
            )
        worst = [i for i in self.items if i.lowers(self.alpha)]
        worst.sort(key=lambda i: (i.alpha_if_deleted or 0.0) - (i.item_total or 0.0), reverse=True)
        if self.alpha >= 0.8:
            level = "Good: the items measure the same thing."
        elif self.alpha >= WEAK_ALPHA:
            level = "Acceptable, though more or better items would sharpen it."
        else:
            level = "Weak: the items do not hang together well enough to trust the score."
        if worst:
            item = worst[0]
            level += (
                f" Item “{item.text}” ({item.question_id}) lowers this scale's reliability"
                + (
                    f" (alpha {item.alpha_if_deleted:.2f} without it)"
                    if item.alpha_if_deleted is not None
                    else ""
                )
                + "; consider rewording it"
                + (" or checking its reverse key." if item.reverse else ".")
            )
        return level


@dataclass(frozen=True, slots=True)
class Reliability:
    #: Completed sessions of the version, and how many the figures were computed from.
    completed: int
    sampled: int
    dimensions: list[DimensionReliability]
    scales: list[ScaleReliability] = field(default_factory=list)


def sampled_reliability(
    definition: QuestionnaireDefinition,
    version_id: int,
    *,
    session: Session,
    sample: int = RELIABILITY_SAMPLE,
) -> Reliability:
    """Cronbach's alpha per dimension from the latest ``sample`` completed sessions.

    The scoring core does the statistics; only the sample's answers are read.
    """
    status = counters.read(version_id, ("status",), session=session)["status"]
    completed = status.get((SessionStatus.COMPLETED.value, ""), 0)
    latest = (
        select(QuizSession.id)
        .where(QuizSession.version_id == version_id)
        .where(QuizSession.status == SessionStatus.COMPLETED)
        .order_by(col(QuizSession.id).desc())
        .limit(sample)
    )
    by_session: dict[int, dict[str, Any]] = defaultdict(dict)
    for session_id, question_id, value in session.exec(
        select(Answer.session_id, Answer.question_id, Answer.value).where(
            col(Answer.session_id).in_(latest.scalar_subquery())
        )
    ):
        by_session[session_id][question_id] = value
    key = ScoringKey.from_definition(definition)
    raw = key.raw_matrix(list(by_session.values()))
    dims = reliability(key, raw)
    return Reliability(
        completed=int(completed),
        sampled=len(by_session),
        dimensions=dims,
        scales=item_analysis(definition, key, raw, dims),
    )


def item_analysis(
    definition: QuestionnaireDefinition,
    key: ScoringKey,
    raw: Any,
    dims: list[DimensionReliability],
) -> list[ScaleReliability]:
    """Add alpha-if-item-deleted to the scoring core's alpha and item-total correlations."""
    keyed = np.asarray(raw, dtype=np.float64) * key.scales + key.offsets
    questions = definition.questions()
    out = []
    for d, dim in enumerate(dims):
        cols = [c for c, column in enumerate(key.columns) if column.dimension == d]
        block = keyed[:, cols]
        complete = block[~np.isnan(block).any(axis=1)] if len(block) else block
        items = []
        for position, stat in enumerate(dim.items):
            rest = np.delete(complete, position, axis=1) if len(cols) > 2 else None
            question = questions.get(stat.question)
            items.append(
                ItemAnalysis(
                    question_id=stat.question,
                    text=definition.text(question.text) if question is not None else "",
                    reverse=stat.reverse,
                    item_total=stat.corrected_item_total,
                    alpha_if_deleted=cronbach_alpha(rest) if rest is not None else None,
                )
            )
        label = definition.text(definition.dimension(dim.dimension).label)
        out.append(ScaleReliability(dim.dimension, label, dim.n, dim.alpha, items))
    return out
