"""The quiz engine: which question comes next, going back, progress, and the end.

Pure functions of (definition, seed, answers, cursor). The plan - question order within
shuffled sections and option order - is drawn from the session's seed, so a respondent
sees the same order on every device and after any restart.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backend.questionnaire.schema import (
    ChoiceQuestionBase,
    Option,
    Question,
    QuestionnaireDefinition,
)
from backend.quiz.conditions import evaluate


def seed_for(respondent_key: str | int, questionnaire_key: str, attempt: int = 0) -> int:
    """Derive a stable per-respondent seed (63 bits, fits a signed BIGINT)."""
    digest = hashlib.sha256(f"{respondent_key}:{questionnaire_key}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@dataclass(frozen=True, slots=True)
class Plan:
    """The order one respondent meets the questions and options in."""

    order: tuple[str, ...]
    section_of: Mapping[str, int]
    option_order: Mapping[str, tuple[str, ...]]


def make_plan(definition: QuestionnaireDefinition, seed: int) -> Plan:
    """Draw the question and option order for ``seed``."""
    rng = random.Random(seed)
    order: list[str] = []
    section_of: dict[str, int] = {}
    option_order: dict[str, tuple[str, ...]] = {}
    for index, section in enumerate(definition.sections):
        questions = [q.id for q in section.questions]
        if section.shuffle:
            rng.shuffle(questions)
        order.extend(questions)
        section_of.update(dict.fromkeys(questions, index))
        for q in section.questions:
            if isinstance(q, ChoiceQuestionBase):
                option_order[q.id] = _shuffled_options(q.options, q.shuffle_options, rng)
    return Plan(tuple(order), section_of, option_order)


def _shuffled_options(options: list[Option], shuffle: bool, rng: random.Random) -> tuple[str, ...]:
    ids = [o.id for o in options]
    if not shuffle:
        return tuple(ids)
    movable = [o.id for o in options if not o.fixed]
    rng.shuffle(movable)
    # Fixed options ("None of these") keep their place; the rest fill the gaps.
    it = iter(movable)
    return tuple(o.id if o.fixed else next(it) for o in options)


class QuizNavigator:
    """Navigation over one definition and plan; every method is a pure function of answers."""

    def __init__(self, definition: QuestionnaireDefinition, seed: int) -> None:
        self.definition = definition
        self.plan = make_plan(definition, seed)
        self.questions: dict[str, Question] = definition.questions()

    def is_visible(self, question_id: str, answers: Mapping[str, Any]) -> bool:
        """Whether the question is asked, given the answers so far (conditions look back)."""
        section = self.definition.sections[self.plan.section_of[question_id]]
        return evaluate(section.when, answers) and evaluate(
            self.questions[question_id].when, answers
        )

    def first(self, answers: Mapping[str, Any]) -> str | None:
        return self._next_from(0, answers)

    def next_after(self, question_id: str, answers: Mapping[str, Any]) -> str | None:
        """The next question after ``question_id`` is answered, or None when the quiz ends."""
        question = self.questions[question_id]
        if question.end_if is not None and evaluate(question.end_if, answers):
            return None
        return self._next_from(self.plan.order.index(question_id) + 1, answers)

    def _next_from(self, start: int, answers: Mapping[str, Any]) -> str | None:
        for question_id in self.plan.order[start:]:
            if self.is_visible(question_id, answers):
                return question_id
        return None

    def previous(self, question_id: str | None, answers: Mapping[str, Any]) -> str | None:
        """The question before ``question_id`` on the respondent's path (None at the start)."""
        path = self.path(answers)
        if question_id is not None and question_id in path:
            index = path.index(question_id)
            return path[index - 1] if index > 0 else None
        # The question being asked now comes right after the answered path.
        return path[-1] if path else None

    def path(self, answers: Mapping[str, Any]) -> list[str]:
        """The questions asked so far, in order, replaying answers from the start."""
        path: list[str] = []
        current = self.first(answers)
        while current is not None and current in answers:
            path.append(current)
            current = self.next_after(current, answers)
        return path

    def kept_answers(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        """The answers on the current path: a changed answer can hide later questions."""
        return {q: answers[q] for q in self.path(answers)}

    def progress(self, question_id: str, answers: Mapping[str, Any]) -> tuple[int, int]:
        """Return (position, total) of ``question_id`` among the questions this respondent
        gets, counting later questions whose conditions hold on the answers so far."""
        visible = [q for q in self.plan.order if self.is_visible(q, answers)]
        if question_id not in visible:
            visible.append(question_id)
            visible.sort(key=self.plan.order.index)
        return visible.index(question_id) + 1, len(visible)

    def options(self, question_id: str) -> tuple[str, ...]:
        return self.plan.option_order.get(question_id, ())
