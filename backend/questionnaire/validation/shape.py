"""The shape of a definition: pydantic's errors as readable messages at the right line."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from backend.questionnaire import schema as s
from backend.questionnaire.errors import MAX_ISSUES, DefinitionIssue, Path
from backend.questionnaire.loader import LineMap

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
