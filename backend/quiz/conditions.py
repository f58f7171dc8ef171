"""Evaluate branching conditions on the answers given so far."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend.questionnaire.schema import (
    AllCondition,
    AnswerCondition,
    AnyCondition,
    Condition,
    NotCondition,
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _leaf(cond: AnswerCondition, answers: Mapping[str, Any]) -> bool:
    present = cond.question in answers and answers[cond.question] is not None
    if cond.answered is not None:
        return present == cond.answered
    if not present:
        # An unanswered (skipped or hidden) question satisfies only negative tests.
        return cond.not_equals is not None or cond.not_in is not None or cond.excludes is not None
    value = answers[cond.question]
    if cond.equals is not None:
        return bool(value == cond.equals)
    if cond.not_equals is not None:
        return bool(value != cond.not_equals)
    if cond.in_ is not None:
        return value in cond.in_
    if cond.not_in is not None:
        return value not in cond.not_in
    if cond.includes is not None:
        return isinstance(value, list) and cond.includes in value
    if cond.excludes is not None:
        return not (isinstance(value, list) and cond.excludes in value)
    number = _number(value)
    if number is None:
        return False
    if cond.gt is not None:
        return number > cond.gt
    if cond.gte is not None:
        return number >= cond.gte
    if cond.lt is not None:
        return number < cond.lt
    if cond.lte is not None:
        return number <= cond.lte
    return False


def evaluate(cond: Condition | None, answers: Mapping[str, Any]) -> bool:
    """Return whether ``cond`` holds for ``answers`` (no condition always holds)."""
    if cond is None:
        return True
    if isinstance(cond, AnswerCondition):
        return _leaf(cond, answers)
    if isinstance(cond, AllCondition):
        return all(evaluate(c, answers) for c in cond.all)
    if isinstance(cond, AnyCondition):
        return any(evaluate(c, answers) for c in cond.any)
    if isinstance(cond, NotCondition):
        return not evaluate(cond.not_, answers)
    raise TypeError(f"not a condition: {cond!r}")  # pragma: no cover
