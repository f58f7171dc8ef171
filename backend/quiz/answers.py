"""Parse and check one answer against its question: what a respondent typed or pressed."""

from __future__ import annotations

import math
import re
from typing import Any

from backend.questionnaire.schema import (
    LikertQuestion,
    MultipleChoiceQuestion,
    NumberQuestion,
    Question,
    SingleChoiceQuestion,
    TextQuestion,
    YesNoQuestion,
)


class AnswerInvalid(ValueError):
    """The answer does not fit the question; the message says why, for the respondent."""


_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")


def parse_typed(question: Question, text: str) -> Any:
    """Turn a typed message into an answer value, or raise :class:`AnswerInvalid`."""
    text = text.strip()
    if isinstance(question, NumberQuestion):
        compact = text.replace(" ", "").replace("\u00a0", "")
        if not _NUMBER.match(compact):
            raise AnswerInvalid("Please send a number" + _range_hint(question) + ".")
        return check_value(question, float(compact.replace(",", ".")))
    if isinstance(question, TextQuestion):
        return check_value(question, text)
    raise AnswerInvalid("Please use the buttons below the question to answer.")


def _range_hint(question: NumberQuestion) -> str:
    parts = ["a whole number"] if question.integer else []
    low, high = question.min, question.max
    if low is not None and high is not None:
        parts.append(f"from {low:g} to {high:g}")
    elif low is not None:
        parts.append(f"at least {low:g}")
    elif high is not None:
        parts.append(f"at most {high:g}")
    return f" ({', '.join(parts)})" if parts else ""


def check_value(question: Question, value: Any) -> Any:
    """Check a decoded value (from a button or typed text); return it normalised."""
    if isinstance(question, LikertQuestion):
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 1 <= value <= question.points
        ):
            raise AnswerInvalid(f"Choose a point from 1 to {question.points}.")
        return value
    if isinstance(question, SingleChoiceQuestion):
        if value not in {o.id for o in question.options}:
            raise AnswerInvalid("That option is not part of this question.")
        return value
    if isinstance(question, MultipleChoiceQuestion):
        ids = [o.id for o in question.options]
        if not isinstance(value, list) or any(v not in ids for v in value):
            raise AnswerInvalid("That option is not part of this question.")
        chosen = [i for i in ids if i in value]  # definition order, no duplicates
        top = question.max_selected or len(ids)
        if len(chosen) < question.min_selected:
            n = question.min_selected
            raise AnswerInvalid(f"Please choose at least {n} option{'s' if n > 1 else ''}.")
        if len(chosen) > top:
            raise AnswerInvalid(f"Please choose at most {top} option{'s' if top > 1 else ''}.")
        return chosen
    if isinstance(question, YesNoQuestion):
        if value not in ("yes", "no"):
            raise AnswerInvalid("Please answer yes or no.")
        return value
    if isinstance(question, NumberQuestion):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AnswerInvalid("Please send a number" + _range_hint(question) + ".")
        if not math.isfinite(value):
            raise AnswerInvalid(f"That number is out of range: send one{_range_hint(question)}.")
        if question.integer:
            if value != int(value):
                raise AnswerInvalid("Please send a whole number" + _range_hint(question) + ".")
            value = int(value)
        if (question.min is not None and value < question.min) or (
            question.max is not None and value > question.max
        ):
            raise AnswerInvalid(
                f"{value:g} is out of range: send a number{_range_hint(question)}."
            )
        return value
    if isinstance(question, TextQuestion):
        if not isinstance(value, str) or not value.strip():
            raise AnswerInvalid("Please send some text.")
        if len(value) > question.max_length:
            raise AnswerInvalid(
                f"That is {len(value)} characters; please keep it under {question.max_length}."
            )
        return value.strip()
    raise AnswerInvalid("This question cannot be answered here.")  # pragma: no cover
