"""Reliability of dimensions: Cronbach's alpha and corrected item-total correlations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backend.scoring.keys import ScoringKey

#: Below this alpha a dimension's items do not hang together well enough to trust its score.
WEAK_ALPHA = 0.6


@dataclass(frozen=True, slots=True)
class ItemStatistic:
    question: str
    reverse: bool
    #: Correlation of the item with the sum of the dimension's other items.
    corrected_item_total: float | None


@dataclass(frozen=True, slots=True)
class DimensionReliability:
    dimension: str
    items: tuple[ItemStatistic, ...]
    #: Sessions that answered every item of the dimension (listwise deletion).
    n: int
    alpha: float | None

    @property
    def weak(self) -> bool:
        return self.alpha is None or self.alpha < WEAK_ALPHA


def cronbach_alpha(items: NDArray[np.floating[Any]]) -> float | None:
    """Return Cronbach's alpha of an N x k item matrix (complete rows only), or None.

    ``alpha = k / (k - 1) * (1 - sum(item variances) / variance(total))``, with sample
    variances (ddof=1). None when there are fewer than two items or two rows, or the total
    has no variance.
    """
    items = np.asarray(items, dtype=np.float64)
    n, k = items.shape
    if k < 2 or n < 2:
        return None
    total_var = items.sum(axis=1).var(ddof=1)
    if total_var == 0:
        return None
    return float(k / (k - 1) * (1 - items.var(axis=0, ddof=1).sum() / total_var))


def corrected_item_total(items: NDArray[np.floating[Any]]) -> list[float | None]:
    """Correlate each item with the sum of the other items (None where undefined)."""
    items = np.asarray(items, dtype=np.float64)
    total = items.sum(axis=1)
    out: list[float | None] = []
    for j in range(items.shape[1]):
        rest = total - items[:, j]
        if items.shape[0] < 2 or items[:, j].std() == 0 or rest.std() == 0:
            out.append(None)
        else:
            out.append(float(np.corrcoef(items[:, j], rest)[0, 1]))
    return out


def reliability(key: ScoringKey, raw: NDArray[np.floating[Any]]) -> list[DimensionReliability]:
    """Compute alpha and item statistics per dimension from raw answers (sessions x columns).

    Items are keyed first (reverse items flipped), then sessions that skipped any item of
    a dimension are left out of that dimension's statistics.
    """
    raw = np.asarray(raw, dtype=np.float64)
    keyed = raw * key.scales + key.offsets
    results = []
    for d, dimension in enumerate(key.dimensions):
        cols = [c for c, column in enumerate(key.columns) if column.dimension == d]
        block = keyed[:, cols]
        complete = block[~np.isnan(block).any(axis=1)]
        correlations = corrected_item_total(complete) if len(cols) > 1 else [None]
        stats = tuple(
            ItemStatistic(key.columns[c].question, key.columns[c].reverse, r)
            for c, r in zip(cols, correlations, strict=True)
        )
        results.append(
            DimensionReliability(dimension, stats, len(complete), cronbach_alpha(complete))
        )
    return results
