"""Parse YAML or JSON definition text into plain data plus the line of every node.

JSON is parsed strictly first (for its own syntax errors) and then composed with the YAML
composer, which keeps a mark on every node; that gives one line map for both formats.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from backend.questionnaire.errors import DefinitionError, DefinitionIssue, Path


@dataclass
class LineMap:
    """Line numbers (1-based) of nodes, keyed by their path in the parsed data."""

    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int | None:
        """Return the line of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false, so ``yes``/``no`` stay strings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _scalar(node: yaml.Node) -> Any:
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def _construct(node: yaml.Node, path: Path, lines: LineMap, issues: list[DefinitionIssue]) -> Any:
    lines.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                issues.append(DefinitionIssue(path, line, f"key {key!r} is not a string"))
                key = str(key)
            if key in result:
                issues.append(DefinitionIssue((*path, key), line, f"duplicate key {key!r}"))
                continue
            result[key] = _construct(value_node, (*path, key), lines, issues)
            lines.lines[(*path, key)] = line
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), lines, issues) for i, item in enumerate(node.value)]
    return _scalar(node)


def _yaml_issue(exc: yaml.YAMLError, label: str) -> DefinitionIssue:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(filter(None, [exc.context, exc.problem]))
        return DefinitionIssue((), line, f"{label}: {what}")
    return DefinitionIssue((), None, f"{label}: {exc}")


def _compose(text: str) -> tuple[Any, LineMap]:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise DefinitionError([_yaml_issue(exc, "YAML syntax error")]) from None
    if node is None:
        raise DefinitionError([DefinitionIssue((), 1, "the file is empty")])
    lines = LineMap()
    issues: list[DefinitionIssue] = []
    try:
        data = _construct(node, (), lines, issues)
    except yaml.YAMLError as exc:
        raise DefinitionError([_yaml_issue(exc, "YAML error")]) from None
    if issues:
        raise DefinitionError(issues)
    return data, lines


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DefinitionError([DefinitionIssue((key,), None, f"duplicate key {key!r}")])
        result[key] = value
    return result


def parse_definition_text(text: str, *, fmt: str = "yaml") -> tuple[Any, LineMap]:
    """Parse ``text`` (``yaml`` or ``json``) and return the data and its line map.

    Raises
    ------
    DefinitionError
        On a syntax error or a duplicate key, with the line where it was found.
    """
    if fmt != "json":
        return _compose(text)
    if not text.strip():
        raise DefinitionError([DefinitionIssue((), 1, "the file is empty")])
    try:
        data = json.loads(text, object_pairs_hook=_json_pairs)
    except json.JSONDecodeError as exc:
        issue = DefinitionIssue((), exc.lineno, f"JSON syntax error: {exc.msg}")
        raise DefinitionError([issue]) from None
    except DefinitionError as exc:
        duplicate = exc.issues[0]
        try:  # the YAML composer knows the line of the second occurrence
            _compose(text.replace("\t", " "))
        except DefinitionError as located:
            raise DefinitionError(located.issues) from None
        raise DefinitionError([duplicate]) from None
    # JSON is (nearly) YAML: compose it only for the line numbers; the data comes from the
    # JSON parser, which handles what YAML reads differently (tabs, surrogate escapes).
    try:
        _, lines = _compose(text.replace("\t", " "))
    except DefinitionError:
        lines = LineMap()
    return data, lines
