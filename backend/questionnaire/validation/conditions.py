"""Conditions (``when``, ``end_if``): references, operators, order and cycles."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator

from backend.questionnaire import schema as s
from backend.questionnaire.errors import Path
from backend.questionnaire.validation.checker import Checker


def _within(question: s.NumberQuestion, value: float) -> bool:
    low = question.min if question.min is not None else -math.inf
    high = question.max if question.max is not None else math.inf
    return low <= value <= high


class ConditionChecker:
    """Each condition refers to a question asked before it, with an operator that fits it."""

    def __init__(self, checker: Checker) -> None:
        self.c = checker
        self.d = checker.d

    def walk_conditions(
        self, cond: s.Condition, path: Path
    ) -> Iterator[tuple[s.AnswerCondition, Path]]:
        if isinstance(cond, s.AnswerCondition):
            yield cond, path
        elif isinstance(cond, s.AllCondition | s.AnyCondition):
            key = "all" if isinstance(cond, s.AllCondition) else "any"
            items = cond.all if isinstance(cond, s.AllCondition) else cond.any
            for i, sub in enumerate(items):
                yield from self.walk_conditions(sub, (*path, key, i))
        else:
            yield from self.walk_conditions(cond.not_, (*path, "not"))

    def check_condition(
        self,
        cond: s.Condition,
        path: Path,
        *,
        owner: str,
        limit: tuple[int, int, int] | None,
        inclusive: bool,
        shuffled_section: int | None,
    ) -> list[str]:
        """Check references and operators; return the question ids referred to."""
        refs: list[str] = []
        for leaf, lpath in self.walk_conditions(cond, path):
            ops = leaf.operators_given
            if len(ops) != 1:
                what = "no operator" if not ops else f"several operators ({', '.join(ops)})"
                self.c.add(
                    lpath,
                    f"a condition needs exactly one operator, found {what}: equals, not_equals, "
                    "in, not_in, includes, excludes, gt, gte, lt, lte or answered",
                )
            target = self.c.questions.get(leaf.question)
            if target is None:
                hint = difflib.get_close_matches(leaf.question, list(self.c.questions), n=1)
                self.c.add(
                    (*lpath, "question"),
                    f"{owner} refers to unknown question {leaf.question!r}"
                    + (f" (did you mean {hint[0]!r}?)" if hint else ""),
                )
                continue
            refs.append(leaf.question)
            pos = self.c.position[leaf.question]
            if limit is not None and (pos[2] > limit[2] or (pos[2] == limit[2] and not inclusive)):
                self.c.add(
                    (*lpath, "question"),
                    f"{owner} refers forward to {leaf.question!r}, which is not asked before it",
                )
            elif (
                shuffled_section is not None
                and pos[0] == shuffled_section
                and not (inclusive and limit is not None and pos[2] == limit[2])
            ):
                self.c.add(
                    (*lpath, "question"),
                    f"{owner} refers to {leaf.question!r} in the same shuffled section, "
                    "whose order differs per respondent",
                )
            if len(ops) == 1:
                self.check_operator(leaf, target, lpath)
        return refs

    def check_operator(self, leaf: s.AnswerCondition, target: s.Question, path: Path) -> None:
        op = leaf.operators_given[0]
        value = getattr(leaf, "in_" if op == "in" else op)
        if op == "answered":
            return
        options: list[str] | None = None
        if isinstance(target, s.ChoiceQuestionBase):
            options = [o.id for o in target.options]
        elif isinstance(target, s.YesNoQuestion):
            options = list(s.YES_NO_OPTIONS)
        numeric = isinstance(target, s.LikertQuestion | s.NumberQuestion)
        if op in {"gt", "gte", "lt", "lte"}:
            if not numeric:
                self.c.add(
                    (*path, op), f"{op} needs a Likert or number question, not {target.type}"
                )
            elif isinstance(target, s.NumberQuestion) and not _within(target, value):
                self.c.add((*path, op), f"{value:g} is outside the range of {target.id!r}")
            elif isinstance(target, s.LikertQuestion) and not 1 <= value <= target.points:
                self.c.add(
                    (*path, op), f"{value:g} is outside the {target.points}-point scale of "
                    f"{target.id!r}"
                )  # fmt: skip
            return
        if op in {"includes", "excludes"}:
            if not isinstance(target, s.MultipleChoiceQuestion):
                self.c.add(
                    (*path, op), f"{op} needs a multiple_choice question, not {target.type}"
                )
                return
            values = [value]
        else:
            values = list(value) if isinstance(value, list) else [value]
            if isinstance(target, s.MultipleChoiceQuestion):
                self.c.add(
                    (*path, op), f"use includes/excludes for the multiple_choice {target.id!r}"
                )
                return
        if options is not None:
            for v in values:
                if not isinstance(v, str) or v not in options:
                    self.c.add(
                        (*path, op),
                        f"{v!r} is not an option of {target.id!r} ({', '.join(options)})",
                    )
        elif isinstance(target, s.TextQuestion):
            if not all(isinstance(v, str) for v in values):
                self.c.add((*path, op), f"{target.id!r} is a text question: compare with text")
        elif numeric:
            for v in values:
                if isinstance(v, bool) or not isinstance(v, int | float):
                    self.c.add((*path, op), f"{v!r} is not a number, but {target.id!r} is numeric")
                elif isinstance(target, s.NumberQuestion) and not _within(target, v):
                    self.c.add((*path, op), f"{v!r} is outside the range of {target.id!r}")
                elif isinstance(target, s.LikertQuestion) and not 1 <= v <= target.points:
                    self.c.add(
                        (*path, op),
                        f"{v!r} is outside the {target.points}-point scale of {target.id!r}",
                    )

    def check_conditions(self) -> None:
        graph: dict[str, list[str]] = {}
        for si, section in enumerate(self.d.sections):
            spath: Path = ("sections", si)
            first = self.c.position[section.questions[0].id] if section.questions else None
            if section.when is not None and first is not None:
                self.check_condition(
                    section.when,
                    (*spath, "when"),
                    owner=f"section {section.id!r}",
                    limit=first,
                    inclusive=False,
                    shuffled_section=None,
                )
            shuffled = si if section.shuffle else None
            for qi, q in enumerate(section.questions):
                if self.c.position.get(q.id, (None, None))[:2] != (si, qi):
                    continue  # a duplicate id, reported already
                qpath: Path = (*spath, "questions", qi)
                pos = self.c.position[q.id]
                if q.when is not None:
                    refs = self.check_condition(
                        q.when,
                        (*qpath, "when"),
                        owner=f"question {q.id!r}",
                        limit=None,
                        inclusive=False,
                        shuffled_section=shuffled,
                    )
                    graph[q.id] = refs
                    self.check_cycle_or_forward(q.id, refs, (*qpath, "when"), pos, graph)
                if q.end_if is not None:
                    self.check_condition(
                        q.end_if,
                        (*qpath, "end_if"),
                        owner=f"end_if of {q.id!r}",
                        limit=pos,
                        inclusive=True,
                        shuffled_section=shuffled,
                    )

    def check_cycle_or_forward(
        self,
        qid: str,
        refs: list[str],
        path: Path,
        pos: tuple[int, int, int],
        graph: dict[str, list[str]],
    ) -> None:
        for ref in refs:
            if ref == qid:
                self.c.add(path, f"question {qid!r} is shown only when it is already answered")
                continue
            cycle = self.find_cycle(ref, qid, graph, [qid, ref])
            if cycle:
                self.c.add(path, f"conditions form a cycle: {' -> '.join(cycle)}")
            elif self.c.position[ref][2] > pos[2]:
                self.c.add(path, f"question {qid!r} refers forward to {ref!r}, asked after it")

    def find_cycle(
        self, node: str, goal: str, graph: dict[str, list[str]], trail: list[str]
    ) -> list[str] | None:
        for nxt in graph.get(node, []):
            if nxt == goal:
                return [*trail, goal]
            if nxt not in trail:
                found = self.find_cycle(nxt, goal, graph, [*trail, nxt])
                if found:
                    return found
        return None
