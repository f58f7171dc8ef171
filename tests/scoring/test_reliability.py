"""Cronbach's alpha and corrected item-total correlations."""

from __future__ import annotations

import numpy as np
import pytest

from backend.questionnaire import load_definition
from backend.scoring import ScoringKey, corrected_item_total, cronbach_alpha, reliability

# A published worked example (4 Likert items, 10 respondents) whose alpha, computed by hand
# from the covariance matrix and checked with R's psych::alpha, is 0.674.
WORKED_EXAMPLE = np.array(
    [
        [3, 3, 3, 3],
        [3, 3, 4, 3],
        [3, 3, 3, 1],
        [5, 4, 4, 5],
        [2, 1, 4, 4],
        [4, 4, 4, 5],
        [3, 2, 3, 3],
        [3, 4, 3, 3],
        [4, 2, 2, 3],
        [3, 3, 2, 3],
    ]
)


def test_alpha_matches_the_published_worked_example() -> None:
    assert cronbach_alpha(WORKED_EXAMPLE) == pytest.approx(0.674, abs=5e-4)


def test_alpha_equals_the_covariance_form() -> None:
    cov = np.cov(WORKED_EXAMPLE, rowvar=False)
    k = cov.shape[0]
    c_bar = (cov.sum() - np.trace(cov)) / (k * (k - 1))
    v_bar = np.trace(cov) / k
    assert cronbach_alpha(WORKED_EXAMPLE) == pytest.approx(k * c_bar / (v_bar + (k - 1) * c_bar))


def test_alpha_is_undefined_for_degenerate_input() -> None:
    assert cronbach_alpha(WORKED_EXAMPLE[:, :1]) is None
    assert cronbach_alpha(WORKED_EXAMPLE[:1]) is None
    assert cronbach_alpha(np.full((5, 3), 2.0)) is None


def test_corrected_item_total_correlates_with_the_rest() -> None:
    r = corrected_item_total(WORKED_EXAMPLE)
    rest0 = WORKED_EXAMPLE[:, 1:].sum(axis=1)
    assert r[0] == pytest.approx(np.corrcoef(WORKED_EXAMPLE[:, 0], rest0)[0, 1])
    assert all(v is not None and -1 <= v <= 1 for v in r)


def test_reliability_keys_reverse_items_and_flags_weak_dimensions() -> None:
    definition = load_definition(
        """
id: rel
title: Reliability
sections:
  - id: s
    questions:
      - {id: a, type: likert, text: A}
      - {id: b, type: likert, text: B}
      - {id: c, type: likert, text: C}
      - {id: d, type: likert, text: D}
      - {id: x, type: likert, text: X}
      - {id: y, type: likert, text: Y}
dimensions:
  - id: good
    label: Good
    items: [{question: a}, {question: b}, {question: c}, {question: d, reverse: true}]
  - id: noise
    label: Noise
    items: [{question: x}, {question: y}]
"""
    )
    key = ScoringKey.from_definition(definition)
    rng = np.random.default_rng(1)
    trait = rng.normal(size=500)

    def item(sign: float) -> np.ndarray:
        return np.clip(np.round(3 + sign * trait + rng.normal(0, 0.6, 500)), 1, 5)

    raw = np.column_stack(
        [item(1), item(1), item(1), item(-1), rng.integers(1, 6, 500), rng.integers(1, 6, 500)]
    ).astype(float)
    raw[::10, 0] = np.nan  # skipped items leave those sessions out of that dimension
    good, noise = reliability(key, raw)
    assert good.n == 450
    assert good.alpha is not None
    assert good.alpha > 0.8
    assert not good.weak
    assert all(s.corrected_item_total and s.corrected_item_total > 0.5 for s in good.items)
    assert good.items[3].reverse
    assert noise.weak
