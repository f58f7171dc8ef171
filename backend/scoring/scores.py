"""Vectorised scoring: raw answer values -> dimension scores on the item scale and 0-100."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backend.scoring.keys import ScoringKey

#: Rows scored at a time: keeps temporaries in cache-friendly blocks on large inputs.
CHUNK_ROWS = 65_536


@dataclass(frozen=True, slots=True)
class DimensionScores:
    """Scores of N sessions on d dimensions; NaN where a dimension is missing."""

    dimensions: tuple[str, ...]
    #: N x d, on each dimension's reported scale (e.g. 1..5 for 5-point Likert dimensions).
    raw: NDArray[np.float64]
    #: N x d, rescaled to 0..100.
    percent: NDArray[np.float64]
    #: N x d, how many items of each dimension were answered.
    answered: NDArray[np.int64]

    def row(self, index: int) -> tuple[dict[str, float | None], dict[str, float | None]]:
        """Return one session's scores as two ``dimension -> value`` maps (None if missing)."""

        def as_map(values: NDArray[np.float64]) -> dict[str, float | None]:
            return {
                d: (None if np.isnan(v) else round(float(v), 6))
                for d, v in zip(self.dimensions, values, strict=True)
            }

        return as_map(self.raw[index]), as_map(self.percent[index])


def score_matrix(key: ScoringKey, raw: NDArray[np.floating[Any]]) -> DimensionScores:
    """Score many sessions at once.

    Parameters
    ----------
    key
        The questionnaire version's scoring key.
    raw
        Sessions x keyed columns of raw answer values (Likert points, summed option
        weights), NaN for unanswered items; see :meth:`ScoringKey.raw_matrix`.

    Notes
    -----
    A dimension is missing when fewer than half of its items were answered. The mean of
    the keyed items is two matrix products (sum and count per dimension), so a million
    sessions of a 50-item questionnaire score in well under a second.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 2 or raw.shape[1] != len(key.columns):
        raise ValueError(f"expected sessions x {len(key.columns)} values, got {raw.shape}")
    membership = key.membership
    offsets, scales = key.offsets, key.scales
    items_per_dim = membership.sum(axis=0)
    low = np.array([r[0] for r in key.ranges])
    span = np.array([r[1] - r[0] for r in key.ranges])
    n = raw.shape[0]
    percent = np.empty((n, len(key.dimensions)))
    answered = np.empty((n, len(key.dimensions)), dtype=np.int64)
    for start in range(0, n, CHUNK_ROWS):
        block = raw[start : start + CHUNK_ROWS]
        present = ~np.isnan(block)
        units = np.clip(np.where(present, block * scales + offsets, 0.0), 0.0, 1.0)
        count = present.astype(np.float64) @ membership
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (units @ membership) / count
        mean[count * 2 < items_per_dim] = np.nan
        percent[start : start + CHUNK_ROWS] = mean * 100.0
        answered[start : start + CHUNK_ROWS] = count
    raw_scores = low + percent / 100.0 * span
    return DimensionScores(key.dimensions, raw_scores, percent, answered)


def score_answers(
    key: ScoringKey, answers: Mapping[str, Any]
) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """Score one session's answers (question id -> stored value)."""
    return score_matrix(key, key.raw_matrix([answers])).row(0)
