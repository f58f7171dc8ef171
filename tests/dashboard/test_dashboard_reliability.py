"""Reliability as the questionnaire page explains it: which item to fix, in plain words."""

from __future__ import annotations

import numpy as np

from backend.api.dashboard.queries import item_analysis
from backend.questionnaire import load_definition
from backend.scoring import ScoringKey, reliability

DEFINITION = """\
id: coffee
title: Coffee
sections:
  - id: main
    questions:
      - {id: c1, type: likert, text: I drink coffee every morning}
      - {id: c2, type: likert, text: A day without coffee is a bad day}
      - {id: c3, type: likert, text: I like the colour blue}
      - {id: c4, type: likert, text: I buy good beans}
      - {id: t1, type: likert, text: I drink tea}
dimensions:
  - id: coffee
    label: Coffee love
    items: [{question: c1}, {question: c2}, {question: c3}, {question: c4}]
  - id: tea
    label: Tea
    items: [{question: t1}]
"""


def _analyse(answers: list[dict[str, int]]) -> list:
    definition = load_definition(DEFINITION)
    key = ScoringKey.from_definition(definition)
    raw = key.raw_matrix(answers)
    return item_analysis(definition, key, raw, reliability(key, raw))


def test_the_verdict_names_the_item_that_lowers_a_scale() -> None:
    rng = np.random.default_rng(0)
    answers = []
    for _ in range(300):
        level = int(rng.integers(1, 6))
        near = [int(np.clip(level + rng.integers(-1, 2), 1, 5)) for _ in range(3)]
        answers.append(
            {"c1": near[0], "c2": near[1], "c3": int(rng.integers(1, 6)), "c4": near[2], "t1": 3}
        )
    coffee, tea = _analyse(answers)
    blue = next(i for i in coffee.items if i.question_id == "c3")
    assert blue.item_total is not None
    assert blue.item_total < 0.2
    assert blue.alpha_if_deleted is not None
    assert coffee.alpha is not None
    assert blue.alpha_if_deleted > coffee.alpha
    assert "Item “I like the colour blue” (c3) lowers this scale's reliability" in coffee.verdict
    assert "consider rewording it" in coffee.verdict
    others = [i for i in coffee.items if i.question_id != "c3"]
    assert not any(i.lowers(coffee.alpha) for i in others)
    assert tea.verdict.startswith("One item")


def test_no_answers_yet_is_not_called_weak() -> None:
    coffee, _ = _analyse([])
    assert coffee.alpha is None
    assert coffee.verdict.startswith("Not enough complete answers yet")
    assert "Weak" not in coffee.verdict
