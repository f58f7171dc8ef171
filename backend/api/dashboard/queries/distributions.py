"""Answer distributions of a questionnaire version, from the counters kept as answers arrive."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from backend.questionnaire import QuestionnaireDefinition
from backend.questionnaire.schema import (
    LikertQuestion,
    MultipleChoiceQuestion,
    NumberQuestion,
    SingleChoiceQuestion,
    TextQuestion,
    YesNoQuestion,
)
from backend.storage import counters

MAX_EXACT_VALUES = 30
NUMBER_BINS = 10


@dataclass(frozen=True, slots=True)
class Distribution:
    question_id: str
    text: str
    kind: str
    answered: int
    #: (label, count) in the question's own order; empty for free text.
    counts: list[tuple[str, int]] = field(default_factory=list)


def value_label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def distributions(
    definition: QuestionnaireDefinition, version_id: int, *, session: Session
) -> list[Distribution]:
    """Count the answers of every item of a version, grouped by value in SQL."""
    return distributions_and_answered(definition, version_id, session=session)[0]


def distributions_and_answered(
    definition: QuestionnaireDefinition, version_id: int, *, session: Session
) -> tuple[list[Distribution], dict[str, int]]:
    """Count the answers of every item by value, and how many sessions answered each."""
    questions = definition.questions()
    exact: list[str] = []
    ranged: list[str] = []
    for qid, question in questions.items():
        if isinstance(question, NumberQuestion):
            span = (
                None
                if question.min is None or question.max is None
                else question.max - question.min
            )
            if question.integer and span is not None and span <= MAX_EXACT_VALUES:
                exact.append(qid)
            else:
                ranged.append(qid)
        elif not isinstance(question, TextQuestion | MultipleChoiceQuestion):
            exact.append(qid)

    # Kept as answers arrive (backend.storage.counters): no scan of the answers here.
    kept = counters.read(version_id, ("answered", "value"), session=session)
    answered = {qid: n for (qid, _), n in kept["answered"].items()}
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    numeric = {
        qid for qid, q in questions.items() if isinstance(q, LikertQuestion | NumberQuestion)
    }
    for (qid, item), n in kept["value"].items():
        label = _number_label(item) if qid in numeric else item
        counts[qid][label] = counts[qid].get(label, 0) + n
    for qid in ranged:
        counts[qid] = _binned(counts.get(qid, {}))

    out = []
    for qid, question in questions.items():
        got = counts.get(qid, {})
        kind = question.type
        ordered: list[tuple[str, int]]
        if isinstance(question, LikertQuestion):
            names = scale_labels(definition, question)
            ordered = [(names[p - 1], got.get(str(p), 0)) for p in range(1, question.points + 1)]
        elif isinstance(question, SingleChoiceQuestion | MultipleChoiceQuestion):
            ordered = [(definition.text(o.text), got.get(o.id, 0)) for o in question.options]
        elif isinstance(question, YesNoQuestion):
            yes = definition.text(question.yes_label) or "yes"
            no = definition.text(question.no_label) or "no"
            ordered = [(yes, got.get("yes", 0)), (no, got.get("no", 0))]
        elif isinstance(question, NumberQuestion) and qid in exact:
            low, high = int(question.min or 0), int(question.max or 0)
            ordered = [(str(v), got.get(str(v), 0)) for v in range(low, high + 1)]
        else:
            ordered = list(got.items())
        out.append(
            Distribution(
                question_id=qid,
                text=definition.text(question.text),
                kind=kind,
                answered=answered.get(qid, 0),
                counts=ordered,
            )
        )
    return out, dict(answered)


def scale_labels(definition: QuestionnaireDefinition, question: LikertQuestion) -> list[str]:
    """Return each point of a Likert item as a person reads it: "1 · Strongly disagree"."""
    points = question.points
    words = [""] * points
    if question.labels and len(question.labels) == points:
        words = [definition.text(label) for label in question.labels]
    elif question.labels and len(question.labels) == 2:
        words[0], words[-1] = (definition.text(label) for label in question.labels)
    if question.min_label is not None:
        words[0] = definition.text(question.min_label)
    if question.max_label is not None:
        words[-1] = definition.text(question.max_label)
    return [f"{p} · {w}" if w else str(p) for p, w in enumerate(words, start=1)]


def _number_label(item: str) -> str:
    try:
        return value_label(float(item))
    except ValueError:
        return item


def _binned(values: dict[str, int]) -> dict[str, int]:
    """Count a number question's answers in equal-width bins between its extremes."""
    numbers = {float(v): n for v, n in values.items()}
    if not numbers:
        return {}
    low, high = min(numbers), max(numbers)
    width = (high - low) / NUMBER_BINS or 1.0
    out: dict[str, int] = {}
    for number, count in sorted(numbers.items()):
        index = min(int((number - low) // width), NUMBER_BINS - 1)
        start = low + index * width
        label = f"{value_label(round(start, 2))}–{value_label(round(start + width, 2))}"
        out[label] = out.get(label, 0) + count
    return out


def value_order(definition: QuestionnaireDefinition, question: Any) -> list[tuple[str, str]]:
    """Return (stored value, label) of a question's possible answers, in its own order."""
    if isinstance(question, LikertQuestion):
        names = scale_labels(definition, question)
        return [(str(p), names[p - 1]) for p in range(1, question.points + 1)]
    if isinstance(question, SingleChoiceQuestion | MultipleChoiceQuestion):
        return [(o.id, definition.text(o.text)) for o in question.options]
    if isinstance(question, YesNoQuestion):
        return [
            ("yes", definition.text(question.yes_label) or "yes"),
            ("no", definition.text(question.no_label) or "no"),
        ]
    return []
