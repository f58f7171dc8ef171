"""The base of the cross-reference checks: collects issues; checks languages, ids, questions."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from backend.questionnaire import schema as s
from backend.questionnaire.errors import DefinitionIssue, Path
from backend.questionnaire.loader import LineMap

LIKERT_POINTS = range(2, 12)


class Checker:
    """Collects a well-shaped definition's issues; knows its questions once ids are checked."""

    def __init__(self, definition: s.QuestionnaireDefinition, lines: LineMap) -> None:
        self.d = definition
        self.lines = lines
        self.issues: list[DefinitionIssue] = []
        # question id -> (section index, position in section, global order)
        self.position: dict[str, tuple[int, int, int]] = {}
        self.questions: dict[str, s.Question] = {}

    def add(self, path: Path, message: str) -> None:
        self.issues.append(DefinitionIssue(path, self.lines.line_of(path), message))

    # -- texts -------------------------------------------------------------------------

    def texts(self, node: Any, path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
        if isinstance(node, dict):
            yield path, node
        elif isinstance(node, BaseModel):
            for name, info in type(node).model_fields.items():
                value = getattr(node, name)
                key = info.alias or name
                if isinstance(value, dict) and name not in {"weights"}:
                    yield (*path, key), value
                elif isinstance(value, BaseModel | list):
                    yield from self.texts(value, (*path, key))
        elif isinstance(node, list):
            for i, item in enumerate(node):
                if isinstance(item, BaseModel | dict):
                    yield from self.texts(item, (*path, i))

    def check_languages(self) -> None:
        langs = self.d.languages
        if len(set(langs)) != len(langs):
            self.add(("languages",), "a language is listed twice")
        known = set(langs)
        for path, text in self.texts(self.d, ()):
            for lang in text:
                if lang not in known:
                    self.add(
                        (*path, lang),
                        f"language {lang!r} is not in languages ({', '.join(langs)})",
                    )
            if self.d.fallback_language not in text:
                self.add(
                    path, f"the text has no {self.d.fallback_language!r} version (the fallback)"
                )

    # -- structure ---------------------------------------------------------------------

    def check_ids(self) -> None:
        seen_sections: set[str] = set()
        order = 0
        for si, section in enumerate(self.d.sections):
            spath: Path = ("sections", si)
            if section.id in seen_sections:
                self.add((*spath, "id"), f"duplicate section id {section.id!r}")
            seen_sections.add(section.id)
            for qi, question in enumerate(section.questions):
                qpath: Path = (*spath, "questions", qi)
                if question.id in self.questions:
                    self.add((*qpath, "id"), f"duplicate question id {question.id!r}")
                    continue
                self.questions[question.id] = question
                self.position[question.id] = (si, qi, order)
                order += 1
                self.check_question(question, qpath)
        seen_dims: set[str] = set()
        for di, dim in enumerate(self.d.dimensions):
            if dim.id in seen_dims:
                self.add(("dimensions", di, "id"), f"duplicate dimension id {dim.id!r}")
            seen_dims.add(dim.id)

    def check_question(self, q: s.Question, path: Path) -> None:
        if isinstance(q, s.LikertQuestion):
            if q.points not in LIKERT_POINTS:
                self.add((*path, "points"), f"a Likert scale needs 2 to 11 points, got {q.points}")
            elif q.labels is not None and len(q.labels) != q.points:
                self.add(
                    (*path, "labels"),
                    f"{len(q.labels)} labels for a {q.points}-point scale: give one per point, "
                    "or only min_label and max_label",
                )
            if q.labels is not None and (q.min_label or q.max_label):
                self.add((*path, "labels"), "give either labels or min_label/max_label, not both")
        if isinstance(q, s.ChoiceQuestionBase):
            seen: set[str] = set()
            for oi, option in enumerate(q.options):
                if option.id in seen:
                    self.add((*path, "options", oi, "id"), f"duplicate option id {option.id!r}")
                seen.add(option.id)
        if isinstance(q, s.MultipleChoiceQuestion):
            n = len(q.options)
            top = q.max_selected if q.max_selected is not None else n
            if top > n:
                self.add(
                    (*path, "max_selected"), f"max_selected is {top} but there are {n} options"
                )
            if q.min_selected > top:
                self.add(
                    (*path, "min_selected"),
                    f"min_selected ({q.min_selected}) is above max_selected ({top})",
                )
            if q.required and q.min_selected == 0:
                self.add(
                    (*path, "min_selected"),
                    "a required question must ask for at least one selection "
                    "(or set required: false)",
                )
        if (
            isinstance(q, s.NumberQuestion)
            and q.min is not None
            and q.max is not None
            and q.min >= q.max
        ):
            self.add((*path, "min"), f"min ({q.min:g}) must be below max ({q.max:g})")
        elif (
            isinstance(q, s.NumberQuestion)
            and q.integer
            and q.min is not None
            and q.max is not None
            and math.ceil(q.min) > math.floor(q.max)
        ):
            self.add(
                (*path, "integer"),
                f"no whole number lies between {q.min:g} and {q.max:g}",
            )
