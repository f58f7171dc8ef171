"""Validate a parsed definition: shape (pydantic), then cross-references and ranges.

Every problem becomes a :class:`DefinitionIssue` with the path and line of the node at
fault; all of them are collected so an author fixes a file in one pass.
"""

from __future__ import annotations

import difflib
import html
import math
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ValidationError

from backend.questionnaire import schema as s
from backend.questionnaire.errors import MAX_ISSUES, DefinitionIssue, Path
from backend.questionnaire.loader import LineMap

LIKERT_POINTS = range(2, 12)

#: Telegram's limit on one message, in characters of the formatted (HTML) text.
MESSAGE_CHARS = 4096
#: Characters of a button label the bot never cuts: 64, less the 2 of the "● " mark.
BUTTON_CHARS = 62
#: Telegram's limit on a button's callback data, in bytes.
CALLBACK_BYTES = 64
#: Callback data around the value: action, session (up to 2**63 in base 36), question index
#: and signature, with their four separators (see ``bot.callbacks``).
CALLBACK_OVERHEAD_BYTES = 1 + 13 + 11 + 4
#: Characters a question message adds around the question's own texts: a notice, the
#: progress line, the answer hint and the formatting tags.
QUESTION_CHROME_CHARS = 300
#: The column that stores a questionnaire's title.
TITLE_CHARS = 256
#: Pole names (``high``/``low``) are joined into segment names, stored in 256 characters.
POLE_CHARS = 32
#: Questions, options and other counts: enough for any real questionnaire, and bounded.
MAX_QUESTIONS = 500
MAX_OPTIONS = 50
QUESTION_TYPES = ("likert", "single_choice", "multiple_choice", "yes_no", "number", "text")


#: Where a key belongs, in the words of docs/questionnaire-format.md.
_PLACES = {
    "QuestionnaireDefinition": "the top level",
    "Section": "a section",
    "QuestionBase": "a question",
    "Option": "an option",
    "Dimension": "a dimension",
    "DimensionItem": "a dimension's item",
    "Band": "a band",
    "Segmentation": "segmentation",
    "AnswerCondition": "a condition",
}


def _field_places() -> dict[str, set[str]]:
    """Each key of the format, and the places where it is allowed."""
    places: dict[str, set[str]] = {}
    for model in vars(s).values():
        if isinstance(model, type) and issubclass(model, BaseModel):
            place = next(
                (_PLACES[c.__name__] for c in model.__mro__ if c.__name__ in _PLACES), None
            )
            for name, info in model.model_fields.items():
                found = places.setdefault(info.alias or name, set())
                if place is not None:
                    found.add(place)
    return places


_KEY_PLACES = _field_places()
_KNOWN_KEYS = set(_KEY_PLACES)


#: Names pydantic puts in error locations for members of a ``str | dict`` text union.
_TEXT_MEMBERS = ("str", "dict[str,str]")


def _data_path(data: Any, loc: tuple[str | int, ...]) -> Path:
    """Map a pydantic error location onto the data, dropping union tags it inserts."""
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if (
            isinstance(node, dict)
            and not last
            and part in QUESTION_TYPES
            and node.get("type") == part
        ):
            continue  # the tag of the question-type union, not a key
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
            path.append(part)
        elif last and part not in _TEXT_MEMBERS:
            path.append(part)
    return tuple(path)


def _message(error: Any, path: Path) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    field = path[-1] if path else ""
    if kind == "extra_forbidden":
        places = _KEY_PLACES.get(str(field))
        if places:  # a real key, in the wrong place
            return f"{field!r} does not belong here: it is a key of {' or '.join(sorted(places))}"
        hint = difflib.get_close_matches(str(field), sorted(_KNOWN_KEYS), n=1)
        return f"unknown key {field!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
    if kind == "missing":
        return f"missing required field {field!r}"
    if kind == "union_tag_invalid":
        expected = ctx.get("expected_tags", "").replace("'", "")
        return f"unknown question type {ctx.get('tag')!r} (expected one of: {expected})"
    if kind == "union_tag_not_found":
        return f"missing required field 'type' (one of: {', '.join(QUESTION_TYPES)})"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern")
        if pattern == s.IDENTIFIER_PATTERN:
            return (
                f"{error['input']!r} is not a valid id: use lower-case letters, digits and "
                "underscores, starting with a letter (at most 32 characters)"
            )
        if pattern == s.KEY_PATTERN:
            return (
                f"{error['input']!r} is not a valid questionnaire id: use lower-case letters, "
                "digits, '-' and '_', starting with a letter"
            )
        if pattern == s.LANGUAGE_PATTERN:
            return f"{error['input']!r} is not a language code such as 'en' or 'pt-BR'"
    return str(error["msg"])


def shape_issues(data: Any, lines: LineMap) -> tuple[s.QuestionnaireDefinition | None, list]:
    """Validate the shape; return the model (or None) and the issues found."""
    if not isinstance(data, dict):
        return None, [DefinitionIssue((), 1, "a definition is a mapping of keys to values")]
    try:
        return s.QuestionnaireDefinition.model_validate(data), []
    except ValidationError as exc:
        issues: list[DefinitionIssue] = []
        seen: set[tuple[Path, str]] = set()
        errors = exc.errors()
        if len(errors) > MAX_ISSUES:  # name the first ones; hints for thousands take seconds
            errors = errors[:MAX_ISSUES]
            more = exc.error_count() - MAX_ISSUES
            issues.append(DefinitionIssue((), None, f"… and {more:,} more problems not listed"))
        for error in errors:
            loc = tuple(error["loc"])
            path = _data_path(data, loc)
            if any(part in _TEXT_MEMBERS for part in loc):
                message = "a text is a string, or a map of language code to string"
            else:
                message = _message(error, path)
            if error["type"] in {"union_tag_invalid", "union_tag_not_found"}:
                path = (*path, "type")
            if (path, message) in seen:
                continue
            seen.add((path, message))
            issues.append(DefinitionIssue(path, lines.line_of(path), message))
        return None, issues


def without_unknown_keys(data: Any, issues: list[DefinitionIssue]) -> Any | None:
    """Return ``data`` without the unknown keys reported in ``issues``, when those are the
    only shape problems (so the later checks can still run); else None."""
    unknown = [i for i in issues if i.message.startswith("unknown key ")]
    if not unknown or len(unknown) != len(issues):
        return None
    paths = {i.path for i in unknown}

    def strip(node: Any, path: Path) -> Any:
        if isinstance(node, dict):
            return {k: strip(v, (*path, k)) for k, v in node.items() if (*path, k) not in paths}
        if isinstance(node, list):
            return [strip(v, (*path, i)) for i, v in enumerate(node)]
        return node

    return strip(data, ())


def _within(question: s.NumberQuestion, value: float) -> bool:
    low = question.min if question.min is not None else -math.inf
    high = question.max if question.max is not None else math.inf
    return low <= value <= high


class _Checker:
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

    # -- conditions --------------------------------------------------------------------

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
                self.add(
                    lpath,
                    f"a condition needs exactly one operator, found {what}: equals, not_equals, "
                    "in, not_in, includes, excludes, gt, gte, lt, lte or answered",
                )
            target = self.questions.get(leaf.question)
            if target is None:
                hint = difflib.get_close_matches(leaf.question, list(self.questions), n=1)
                self.add(
                    (*lpath, "question"),
                    f"{owner} refers to unknown question {leaf.question!r}"
                    + (f" (did you mean {hint[0]!r}?)" if hint else ""),
                )
                continue
            refs.append(leaf.question)
            pos = self.position[leaf.question]
            if limit is not None and (pos[2] > limit[2] or (pos[2] == limit[2] and not inclusive)):
                self.add(
                    (*lpath, "question"),
                    f"{owner} refers forward to {leaf.question!r}, which is not asked before it",
                )
            elif (
                shuffled_section is not None
                and pos[0] == shuffled_section
                and not (inclusive and limit is not None and pos[2] == limit[2])
            ):
                self.add(
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
                self.add((*path, op), f"{op} needs a Likert or number question, not {target.type}")
            elif isinstance(target, s.NumberQuestion) and not _within(target, value):
                self.add((*path, op), f"{value:g} is outside the range of {target.id!r}")
            elif isinstance(target, s.LikertQuestion) and not 1 <= value <= target.points:
                self.add(
                    (*path, op), f"{value:g} is outside the {target.points}-point scale of "
                    f"{target.id!r}"
                )  # fmt: skip
            return
        if op in {"includes", "excludes"}:
            if not isinstance(target, s.MultipleChoiceQuestion):
                self.add((*path, op), f"{op} needs a multiple_choice question, not {target.type}")
                return
            values = [value]
        else:
            values = list(value) if isinstance(value, list) else [value]
            if isinstance(target, s.MultipleChoiceQuestion):
                self.add(
                    (*path, op), f"use includes/excludes for the multiple_choice {target.id!r}"
                )
                return
        if options is not None:
            for v in values:
                if not isinstance(v, str) or v not in options:
                    self.add(
                        (*path, op),
                        f"{v!r} is not an option of {target.id!r} ({', '.join(options)})",
                    )
        elif isinstance(target, s.TextQuestion):
            if not all(isinstance(v, str) for v in values):
                self.add((*path, op), f"{target.id!r} is a text question: compare with text")
        elif numeric:
            for v in values:
                if isinstance(v, bool) or not isinstance(v, int | float):
                    self.add((*path, op), f"{v!r} is not a number, but {target.id!r} is numeric")
                elif isinstance(target, s.NumberQuestion) and not _within(target, v):
                    self.add((*path, op), f"{v!r} is outside the range of {target.id!r}")
                elif isinstance(target, s.LikertQuestion) and not 1 <= v <= target.points:
                    self.add(
                        (*path, op),
                        f"{v!r} is outside the {target.points}-point scale of {target.id!r}",
                    )

    def check_conditions(self) -> None:
        graph: dict[str, list[str]] = {}
        for si, section in enumerate(self.d.sections):
            spath: Path = ("sections", si)
            first = self.position[section.questions[0].id] if section.questions else None
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
                if self.position.get(q.id, (None, None))[:2] != (si, qi):
                    continue  # a duplicate id, reported already
                qpath: Path = (*spath, "questions", qi)
                pos = self.position[q.id]
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
                self.add(path, f"question {qid!r} is shown only when it is already answered")
                continue
            cycle = self.find_cycle(ref, qid, graph, [qid, ref])
            if cycle:
                self.add(path, f"conditions form a cycle: {' -> '.join(cycle)}")
            elif self.position[ref][2] > pos[2]:
                self.add(path, f"question {qid!r} refers forward to {ref!r}, asked after it")

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

    # -- scoring -----------------------------------------------------------------------

    def check_dimensions(self) -> None:
        for di, dim in enumerate(self.d.dimensions):
            dpath: Path = ("dimensions", di)
            if not dim.items:
                self.add((*dpath, "items"), f"dimension {dim.id!r} has no items")
            points: set[int] = set()
            seen: set[str] = set()
            for ii, item in enumerate(dim.items):
                ipath: Path = (*dpath, "items", ii)
                q = self.questions.get(item.question)
                if item.question in seen:
                    self.add((*ipath, "question"), f"{item.question!r} is listed twice")
                seen.add(item.question)
                if q is None:
                    self.add(
                        (*ipath, "question"),
                        f"dimension {dim.id!r} refers to unknown question {item.question!r}",
                    )
                    continue
                if isinstance(q, s.LikertQuestion):
                    points.add(q.points)
                    if item.weights is not None:
                        self.add(
                            (*ipath, "weights"),
                            f"{q.id!r} is a Likert item: it is scored by its points "
                            "(use reverse: true to reverse it), not by weights",
                        )
                elif isinstance(q, s.ChoiceQuestionBase | s.YesNoQuestion):
                    options = (
                        [o.id for o in q.options]
                        if isinstance(q, s.ChoiceQuestionBase)
                        else list(s.YES_NO_OPTIONS)
                    )
                    if item.reverse:
                        self.add((*ipath, "reverse"), "reverse applies to Likert items only")
                    if not item.weights:
                        self.add(
                            ipath,
                            f"{q.id!r} is a {q.type} question: give weights for its options",
                        )
                    for option, weight in (item.weights or {}).items():
                        if option not in options:
                            self.add(
                                (*ipath, "weights", option),
                                f"{option!r} is not an option of {q.id!r} ({', '.join(options)})",
                            )
                        elif not 0 <= weight <= 1:
                            self.add(
                                (*ipath, "weights", option),
                                f"weight {weight:g} is outside 0..1",
                            )
                else:
                    self.add(
                        (*ipath, "question"),
                        f"{q.id!r} is a {q.type} question and cannot be scored",
                    )
            if len(points) > 1:
                shown = ", ".join(f"{p}-point" for p in sorted(points))
                self.add((*dpath, "items"), f"dimension {dim.id!r} mixes {shown} Likert items")
            self.check_bands(dim, dpath)

    def check_bands(self, dim: s.Dimension, dpath: Path) -> None:
        previous = 0.0
        labels: set[str] = set()
        for bi, band in enumerate(dim.bands):
            bpath: Path = (*dpath, "bands", bi)
            if band.label in labels:
                self.add((*bpath, "label"), f"duplicate band label {band.label!r}")
            labels.add(band.label)
            if not previous < band.up_to <= 100:
                self.add(
                    (*bpath, "up_to"),
                    f"up_to must rise above the previous band ({previous:g}) and stay "
                    f"within 100, got {band.up_to:g}",
                )
            previous = max(previous, band.up_to)
        if dim.bands and dim.bands[-1].up_to != 100:
            self.add(
                (*dpath, "bands", len(dim.bands) - 1, "up_to"),
                "the last band must reach 100 so every score has an interpretation",
            )

    def check_segmentation(self) -> None:
        seg = self.d.segmentation
        if seg is None:
            return
        known = {d.id for d in self.d.dimensions}
        listed: set[str] = set()
        for i, key in enumerate(seg.dimensions or []):
            if key not in known:
                self.add(("segmentation", "dimensions", i), f"unknown dimension {key!r}")
            elif key in listed:
                self.add(("segmentation", "dimensions", i), f"{key!r} is listed twice")
            listed.add(key)
        if not 2 <= seg.k_min <= seg.k_max <= 20:
            self.add(
                ("segmentation", "k_min"),
                f"need 2 <= k_min <= k_max <= 20, got k_min={seg.k_min}, k_max={seg.k_max}",
            )
        if not 0 < seg.min_share <= 0.5:
            self.add(("segmentation", "min_share"), "min_share must be above 0 and at most 0.5")
        elif seg.k_min * seg.min_share > 1:
            self.add(
                ("segmentation", "min_share"),
                f"{seg.k_min} segments of at least {seg.min_share:.0%} each cannot fit in 100%",
            )
        if not known:
            self.add(("segmentation",), "segmentation needs dimensions to cluster on")


def _html_length(text: str) -> int:
    return len(html.escape(text, quote=False))


def _b36_length(number: int) -> int:
    length = 1
    while number >= 36:
        number //= 36
        length += 1
    return length


class _TelegramChecker:
    """Every message and button of the definition fits Telegram, in every language."""

    def __init__(self, checker: _Checker) -> None:
        self.c = checker
        self.d = checker.d

    def texts(self, value: s.Text | None) -> list[tuple[str | None, str]]:
        if value is None:
            return []
        if isinstance(value, str):
            return [(None, value)]
        return list(value.items())

    def text_in(self, value: s.Text | None, language: str) -> str:
        return self.d.text(value, language)

    def run(self) -> None:
        self.check_title()
        self.check_intro()
        order = 0
        for si, section in enumerate(self.d.sections):
            for qi, question in enumerate(section.questions):
                path: Path = ("sections", si, "questions", qi)
                opens = qi == 0 or section.shuffle
                self.check_question(question, path, section if opens else None, order)
                order += 1
        self.check_result()

    def check_counts(self) -> None:
        total = sum(len(section.questions) for section in self.d.sections)
        if total > MAX_QUESTIONS:
            self.c.add(
                ("sections",), f"{total:,} questions; at most {MAX_QUESTIONS:,} are allowed"
            )
        for si, section in enumerate(self.d.sections):
            for qi, q in enumerate(section.questions):
                if isinstance(q, s.ChoiceQuestionBase) and len(q.options) > MAX_OPTIONS:
                    self.c.add(
                        ("sections", si, "questions", qi, "options"),
                        f"{len(q.options)} options; at most {MAX_OPTIONS} fit as buttons",
                    )

    def check_title(self) -> None:
        for language, title in self.texts(self.d.title):
            if len(title) > TITLE_CHARS:
                path: Path = ("title", language) if language else ("title",)
                self.c.add(
                    path,
                    f"the title is {len(title):,} characters; at most {TITLE_CHARS} are kept",
                )

    def too_long(self, path: Path, what: str, size: int, language: str) -> None:
        where = f" ({language})" if len(self.d.languages) > 1 else ""
        self.c.add(
            path,
            f"{what}{where} would be {size:,} characters once formatted for Telegram, over its "
            f"{MESSAGE_CHARS:,}: shorten it by {size - MESSAGE_CHARS:,}",
        )

    def check_intro(self) -> None:
        for language in self.d.languages:
            size = QUESTION_CHROME_CHARS + sum(
                _html_length(self.text_in(value, language)) + 1
                for value in (self.d.title, self.d.description, self.d.intro)
            )
            if size > MESSAGE_CHARS:
                path: Path = ("intro",) if self.d.intro else ("description",)
                self.too_long(path, "the introduction message", size, language)
                return

    def check_question(
        self, q: s.Question, path: Path, section: s.Section | None, order: int
    ) -> None:
        for language in self.d.languages:
            size = QUESTION_CHROME_CHARS + sum(
                _html_length(self.text_in(value, language)) + 8 for value in (q.text, q.help)
            )
            if section is not None:
                size += sum(
                    _html_length(self.text_in(value, language)) + 8
                    for value in (section.title, section.intro)
                )
            if isinstance(q, s.LikertQuestion) and q.labels is None:
                size += sum(
                    _html_length(self.text_in(value, language))
                    for value in (q.min_label, q.max_label)
                )
            if isinstance(q, s.NumberQuestion):
                size += _html_length(self.text_in(q.unit, language))
            if size > MESSAGE_CHARS:
                self.too_long((*path, "text"), "the question's message", size, language)
                break
        for label_path, label in self.buttons(q, path):
            for lang, text in self.texts(label):
                if len(text) > BUTTON_CHARS:
                    where = f" ({lang})" if lang and len(self.d.languages) > 1 else ""
                    self.c.add(
                        label_path,
                        f"the button text{where} is {len(text)} characters; a button shows at "
                        f"most {BUTTON_CHARS}",
                    )
                    break
        for value_path, value in self.callback_values(q, path):
            size = CALLBACK_OVERHEAD_BYTES + _b36_length(order) + len(value.encode())
            if size > CALLBACK_BYTES:
                self.c.add(
                    value_path,
                    f"the button's callback data would be {size} bytes, over Telegram's "
                    f"{CALLBACK_BYTES}: use a shorter id",
                )

    def buttons(self, q: s.Question, path: Path) -> list[tuple[Path, s.Text]]:
        found: list[tuple[Path, s.Text]] = []
        if isinstance(q, s.ChoiceQuestionBase):
            found += [((*path, "options", i, "text"), o.text) for i, o in enumerate(q.options)]
        if isinstance(q, s.LikertQuestion) and q.labels:
            found += [((*path, "labels", i), label) for i, label in enumerate(q.labels)]
        if isinstance(q, s.YesNoQuestion):
            found += [
                ((*path, key), label)
                for key, label in (("yes_label", q.yes_label), ("no_label", q.no_label))
                if label is not None
            ]
        return found

    def callback_values(self, q: s.Question, path: Path) -> list[tuple[Path, str]]:
        if isinstance(q, s.ChoiceQuestionBase):
            return [((*path, "options", i, "id"), o.id) for i, o in enumerate(q.options)]
        return []

    def check_result(self) -> None:
        """Each paragraph of the result message must fit one message on its own."""
        for di, dim in enumerate(self.d.dimensions):
            for pole in ("high", "low"):
                for language, text in self.texts(getattr(dim, pole)):
                    if len(text) > POLE_CHARS:
                        path: Path = ("dimensions", di, pole, *([language] if language else []))
                        self.c.add(
                            path,
                            f"{pole} is {len(text)} characters; at most {POLE_CHARS} (it "
                            "becomes part of segment names)",
                        )
            for bi, band in enumerate(dim.bands):
                for language in self.d.languages:
                    size = _html_length(self.text_in(band.text, language))
                    if size > MESSAGE_CHARS:
                        self.too_long(
                            ("dimensions", di, "bands", bi, "text"),
                            "the band text",
                            size,
                            language,
                        )
                        break
        for language in self.d.languages:
            size = _html_length(self.text_in(self.d.outro, language))
            if size > MESSAGE_CHARS:
                self.too_long(("outro",), "the closing text", size, language)
                break


def semantic_issues(definition: s.QuestionnaireDefinition, lines: LineMap) -> list:
    """Check ids, references, conditions, scoring keys and ranges of a well-shaped definition,
    and that every message and button fits Telegram's limits."""
    checker = _Checker(definition, lines)
    telegram = _TelegramChecker(checker)
    telegram.check_counts()
    if checker.issues:  # too big to check further in reasonable time
        return checker.issues
    telegram.run()
    checker.check_languages()
    checker.check_ids()
    checker.check_conditions()
    checker.check_dimensions()
    checker.check_segmentation()
    return sorted(checker.issues, key=lambda i: (i.line or 0, i.location))
