"""Scoring against hand-computed scores: reverse keys, weights, missing items."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from backend.questionnaire import load_definition
from backend.scoring import ScoringKey, score_answers, score_matrix

DEFINITION = """
id: scoring-test
title: Scoring test
sections:
  - id: main
    questions:
      - {id: e1, type: likert, text: Life of the party}
      - {id: e2, type: likert, text: Don't talk a lot}
      - {id: e3, type: likert, text: Start conversations}
      - {id: e4, type: likert, text: Keep in the background}
      - {id: o1, type: likert, points: 7, text: Rich vocabulary}
      - {id: o2, type: likert, points: 7, text: Not interested in abstract ideas}
      - id: hobbies
        type: multiple_choice
        text: What do you do on weekends?
        min_selected: 0
        required: false
        options:
          - {id: hiking, text: Hiking}
          - {id: cycling, text: Cycling}
          - {id: reading, text: Reading}
      - {id: gym, type: yes_no, text: "Are you a gym member?"}
dimensions:
  - id: extraversion
    label: Extraversion
    items:
      - {question: e1}
      - {question: e2, reverse: true}
      - {question: e3}
      - {question: e4, reverse: true}
  - id: openness
    label: Openness
    items:
      - {question: o1}
      - {question: o2, reverse: true}
  - id: outdoor
    label: Outdoor activity
    items:
      - {question: hobbies, weights: {hiking: 0.7, cycling: 0.6}}
      - {question: gym, weights: {"yes": 0.5}}
"""


@pytest.fixture(scope="module")
def key() -> ScoringKey:
    return ScoringKey.from_definition(load_definition(DEFINITION))


def test_reverse_keyed_likert_items_are_flipped_before_the_mean(key: ScoringKey) -> None:
    raw, pct = score_answers(key, {"e1": 5, "e2": 1, "e3": 4, "e4": 2, "o1": 6, "o2": 3})
    # extraversion: 5, 6-1=5, 4, 6-2=4 -> mean 4.5 on 1..5 -> (4.5-1)/4 = 87.5%
    assert raw["extraversion"] == pytest.approx(4.5)
    assert pct["extraversion"] == pytest.approx(87.5)
    # openness on 7 points: 6, 8-3=5 -> 5.5 -> (5.5-1)/6 = 75%
    assert raw["openness"] == pytest.approx(5.5)
    assert pct["openness"] == pytest.approx(75.0)


def test_a_dimension_with_fewer_than_half_of_its_items_is_missing(key: ScoringKey) -> None:
    raw, pct = score_answers(key, {"e1": 4, "o1": 7})
    assert raw["extraversion"] is None  # 1 of 4 answered
    assert pct["extraversion"] is None
    # openness: 1 of 2 answered is half, not fewer: scored from the item present
    assert raw["openness"] == pytest.approx(7.0)
    raw, _ = score_answers(key, {"e1": 4, "e2": 2})
    assert raw["extraversion"] == pytest.approx((4 + 4) / 2)  # 2 of 4 is enough


def test_choice_weights_feed_a_dimension_capped_at_one(key: ScoringKey) -> None:
    raw, pct = score_answers(key, {"hobbies": ["hiking", "cycling"], "gym": "yes"})
    # hobbies: 0.7 + 0.6 = 1.3 capped at 1; gym: 0.5 -> mean 0.75 on 0..1
    assert raw["outdoor"] == pytest.approx(0.75)
    assert pct["outdoor"] == pytest.approx(75.0)
    raw, _ = score_answers(key, {"hobbies": ["reading"], "gym": "no"})
    assert raw["outdoor"] == pytest.approx(0.0)  # answered, nothing outdoorsy
    raw, _ = score_answers(key, {"hobbies": [], "gym": "no"})
    assert raw["outdoor"] == pytest.approx(0.0)


def test_unknown_answer_values_count_as_unanswered(key: ScoringKey) -> None:
    raw, _ = score_answers(key, {"e1": "five", "e2": True, "e3": None, "e4": 2})
    assert raw["extraversion"] is None


def test_matrix_scoring_equals_one_by_one(key: ScoringKey) -> None:
    rng = np.random.default_rng(7)
    sessions = []
    for _ in range(200):
        answers: dict[str, object] = {
            q: int(rng.integers(1, 6)) for q in ("e1", "e2", "e3", "e4") if rng.random() > 0.3
        }
        answers |= {q: int(rng.integers(1, 8)) for q in ("o1", "o2") if rng.random() > 0.3}
        answers["hobbies"] = [o for o in ("hiking", "cycling", "reading") if rng.random() > 0.5]
        sessions.append(answers)
    scores = score_matrix(key, key.raw_matrix(sessions))
    for i, answers in enumerate(sessions):
        assert scores.row(i) == score_answers(key, answers)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, (20, 4), elements=st.integers(1, 5).map(float)))
def test_percent_and_raw_agree_and_stay_in_range(values: np.ndarray) -> None:
    definition = load_definition(DEFINITION)
    key = ScoringKey.from_definition(definition)
    raw = np.full((values.shape[0], len(key.columns)), np.nan)
    raw[:, :4] = values
    scores = score_matrix(key, raw)
    ext = scores.raw[:, 0]
    assert np.all((ext >= 1) & (ext <= 5))
    assert np.allclose(scores.percent[:, 0], (ext - 1) / 4 * 100)
    # the other dimensions were not answered at all
    assert np.isnan(scores.raw[:, 1:]).all()
    flipped = values.copy()
    flipped[:, [1, 3]] = 6 - flipped[:, [1, 3]]
    assert np.allclose(ext, flipped.mean(axis=1))


def test_wrong_matrix_shape_is_refused(key: ScoringKey) -> None:
    with pytest.raises(ValueError, match="expected sessions x"):
        score_matrix(key, np.zeros((3, 2)))


def test_scores_are_json_friendly(key: ScoringKey) -> None:
    raw, pct = score_answers(key, {"e1": 3, "e2": 3})
    assert all(v is None or (isinstance(v, float) and math.isfinite(v)) for v in raw.values())
    assert set(raw) == set(pct) == {"extraversion", "openness", "outdoor"}
