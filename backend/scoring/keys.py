"""Scoring keys: how each answer becomes a 0..1 contribution to a dimension.

Every (dimension, question) pair of a definition is one *keyed column*. A column turns the
raw answer value ``x`` into ``u = clip(offset + scale * x, 0, 1)``:

- a Likert item with ``p`` points: ``u = (x - 1) / (p - 1)``, reversed ``u = (p - x) / (p - 1)``;
- a choice or yes/no item: ``x`` is the summed weight of the selected options, ``u = x``.

A dimension's score is the mean ``u`` of its answered columns, shown on the items' scale
(``1 + u * (p - 1)`` for Likert dimensions, ``u`` otherwise) and as ``100 * u``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backend.questionnaire.schema import (
    ChoiceQuestionBase,
    LikertQuestion,
    QuestionnaireDefinition,
    YesNoQuestion,
)


@dataclass(frozen=True, slots=True)
class KeyedColumn:
    """One question feeding one dimension."""

    dimension: int
    question: str
    kind: str  # "likert" or "choice"
    reverse: bool = False
    points: int = 0
    weights: tuple[tuple[str, float], ...] = ()

    @property
    def offset(self) -> float:
        if self.kind != "likert":
            return 0.0
        span = self.points - 1
        return self.points / span if self.reverse else -1 / span

    @property
    def scale(self) -> float:
        if self.kind != "likert":
            return 1.0
        span = self.points - 1
        return -1 / span if self.reverse else 1 / span

    def raw_value(self, answer: Any) -> float:
        """Turn a stored answer into the raw value ``x`` (NaN when not scorable)."""
        if answer is None:
            return np.nan
        if self.kind == "likert":
            if isinstance(answer, bool) or not isinstance(answer, int | float):
                return np.nan
            return float(answer)
        selected = answer if isinstance(answer, list) else [answer]
        weights = dict(self.weights)
        return float(sum(weights.get(str(option), 0.0) for option in selected))


@dataclass(frozen=True, slots=True)
class ScoringKey:
    """The scoring key of one questionnaire version, ready for vectorised scoring."""

    dimensions: tuple[str, ...]
    columns: tuple[KeyedColumn, ...]
    #: Per dimension: (low, high) of the scale its score is reported on.
    ranges: tuple[tuple[float, float], ...]

    @classmethod
    def from_definition(cls, definition: QuestionnaireDefinition) -> ScoringKey:
        questions = definition.questions()
        columns: list[KeyedColumn] = []
        ranges: list[tuple[float, float]] = []
        for index, dim in enumerate(definition.dimensions):
            likert_points = 0
            for item in dim.items:
                question = questions[item.question]
                if isinstance(question, LikertQuestion):
                    likert_points = question.points
                    columns.append(
                        KeyedColumn(
                            index, question.id, "likert", item.reverse, points=question.points
                        )
                    )
                elif isinstance(question, ChoiceQuestionBase | YesNoQuestion):
                    weights = tuple(sorted((item.weights or {}).items()))
                    columns.append(KeyedColumn(index, question.id, "choice", weights=weights))
            ranges.append((1.0, float(likert_points)) if likert_points else (0.0, 1.0))
        return cls(tuple(d.id for d in definition.dimensions), tuple(columns), tuple(ranges))

    @property
    def membership(self) -> NDArray[np.float64]:
        """The columns x dimensions 0/1 matrix."""
        matrix = np.zeros((len(self.columns), len(self.dimensions)))
        for c, column in enumerate(self.columns):
            matrix[c, column.dimension] = 1.0
        return matrix

    @property
    def offsets(self) -> NDArray[np.float64]:
        return np.array([c.offset for c in self.columns])

    @property
    def scales(self) -> NDArray[np.float64]:
        return np.array([c.scale for c in self.columns])

    def raw_matrix(self, sessions: Sequence[Mapping[str, Any]]) -> NDArray[np.float64]:
        """Arrange the answers of many sessions as raw values, sessions x columns (NaN: none)."""
        matrix = np.full((len(sessions), len(self.columns)), np.nan)
        for row, answers in enumerate(sessions):
            for c, column in enumerate(self.columns):
                matrix[row, c] = column.raw_value(answers.get(column.question))
        return matrix
