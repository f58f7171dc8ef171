"""Parse YAML or JSON definition text into plain data plus the line of every node.

JSON is parsed strictly first (for its own syntax errors) and then composed with the YAML
composer, which keeps a mark on every node; that gives one line map for both formats.

Parsing is bounded, so a hostile file costs little: nesting depth, alias uses, the number of
nodes after aliases are expanded and the characters they add up to are all limited, and
every string is checked for what cannot be stored or shown (lone surrogates, NUL and other
control characters).

One module of over 400 lines on purpose: the limits are enforced inside the composer and the
line map is built by the same walk, so splitting them would separate each limit from the only
code that can enforce it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from backend.questionnaire.errors import DefinitionError, DefinitionIssue, Path

#: Deepest nesting of mappings and lists (a definition needs about 12).
MAX_DEPTH = 40
#: Alias (``*name``) uses in one YAML file.
MAX_ALIASES = 500
#: Nodes (mappings, lists, scalars) once aliases are expanded.
MAX_NODES = 20_000
#: Characters of all strings once aliases are expanded.
MAX_EXPANDED_CHARS = 4_000_000
#: Characters in one string (a text, an id, a template).
MAX_STRING_CHARS = 100_000


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


class _LimitPassed(yaml.composer.ComposerError):
    """The file passed one of the parsing limits."""


class _Limited(yaml.composer.Composer):
    """A composer with limits on nesting depth, alias uses and nodes."""

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0
        self._aliases = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[attr-defined]  # the parser's, mixed in
        mark: Any = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _LimitPassed(None, None, f"more than {MAX_ALIASES} aliases (*name)", mark)
            return super().compose_node(parent, index)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _LimitPassed(None, None, f"the file has more than {MAX_NODES:,} values", mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _LimitPassed(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _PureLoader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    _Limited,
    yaml.constructor.SafeConstructor,
    yaml.resolver.Resolver,
):
    """The pure-Python parser under the limited composer."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        _Limited.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)


_Loader: type = _PureLoader
if yaml.__with_libyaml__:  # libyaml scans ten times faster; composing stays ours, limited
    from yaml._yaml import CParser

    class _FastLoader(
        _Limited,
        CParser,
        yaml.constructor.SafeConstructor,
        yaml.resolver.Resolver,
    ):
        """libyaml's parser (C) under the limited composer (Python)."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _Limited.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

    _Loader = _FastLoader

# YAML 1.2 booleans: only true/false, so ``yes``/``no`` stay strings.
_Loader.yaml_implicit_resolvers = {  # type: ignore[attr-defined]
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(  # type: ignore[attr-defined]
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _Budget:
    """What one file may expand to once aliases are followed."""

    def __init__(self) -> None:
        self.nodes = 0
        self.chars = 0
        #: Collections being built: meeting one again means an alias refers to itself.
        self.open: set[int] = set()
        self.constructor = yaml.constructor.SafeConstructor()

    def spend(self, node: yaml.Node) -> None:
        self.nodes += 1
        if isinstance(node, yaml.ScalarNode):
            self.chars += len(node.value)
        if self.nodes > MAX_NODES or self.chars > MAX_EXPANDED_CHARS:
            what = (
                f"{MAX_NODES:,} values" if self.nodes > MAX_NODES else
                f"{MAX_EXPANDED_CHARS:,} characters"
            )  # fmt: skip
            raise yaml.constructor.ConstructorError(
                None, None, f"the file expands to more than {what} (aliases?)", node.start_mark
            )


#: Tags a definition may use: plain YAML values. ``!!binary``, ``!!timestamp``, ``!!set``,
#: ``!!python/...`` and the like are refused rather than turned into something else.
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null")
)
_COLLECTION_TAGS = frozenset(("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"))


def _unknown_tag(node: yaml.Node) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(
        None,
        None,
        f"the tag {node.tag!r} is not allowed: use plain text, numbers, true/false, lists "
        "and mappings",
        node.start_mark,
    )


def _scalar(node: yaml.ScalarNode, budget: _Budget) -> Any:
    if node.tag == "tag:yaml.org,2002:str":
        return node.value
    if node.tag not in _SCALAR_TAGS:
        raise _unknown_tag(node)
    try:
        return budget.constructor.construct_object(node, deep=True)
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise yaml.constructor.ConstructorError(
            None, None, f"cannot read the value: {exc}", node.start_mark
        ) from None


def _construct(
    node: yaml.Node, path: Path, lines: LineMap, issues: list[DefinitionIssue], budget: _Budget
) -> Any:
    budget.spend(node)
    lines.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.CollectionNode):
        if node.tag not in _COLLECTION_TAGS:
            raise _unknown_tag(node)
        if id(node) in budget.open:
            raise yaml.constructor.ConstructorError(
                None, None, "an alias refers to the collection it is in", node.start_mark
            )
        budget.open.add(id(node))
        try:
            return _construct_collection(node, path, lines, issues, budget)
        finally:
            budget.open.discard(id(node))
    assert isinstance(node, yaml.ScalarNode)
    return _scalar(node, budget)


def _construct_collection(
    node: yaml.CollectionNode,
    path: Path,
    lines: LineMap,
    issues: list[DefinitionIssue],
    budget: _Budget,
) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                issues.append(DefinitionIssue(path, line, "a key is a list or a mapping"))
                continue
            budget.spend(key_node)
            key = _scalar(key_node, budget)
            if not isinstance(key, str):
                issues.append(DefinitionIssue(path, line, f"key {key!r} is not a string"))
                key = str(key)
            if key in result:
                issues.append(DefinitionIssue((*path, key), line, f"duplicate key {key!r}"))
                continue
            result[key] = _construct(value_node, (*path, key), lines, issues, budget)
            lines.lines[(*path, key)] = line
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, (*path, i), lines, issues, budget)
            for i, item in enumerate(node.value)
        ]
    raise AssertionError(f"unknown node {node!r}")


def _line_to_change(text: str, index: int) -> int:
    """Return the line of the last content before ``index``: where a missing ``}``, ``]``,
    ``,`` or ``:`` belongs, rather than the line where the parser noticed it was missing."""
    head = text[:index]
    for number in range(head.count("\n"), -1, -1):
        start = head.rfind("\n", 0, len(head)) + 1
        line = head[start:]
        head = head[: max(start - 1, 0)]
        content = line.split(" #", 1)[0].strip()
        if content and not content.startswith("#"):
            return number + 1
    return 1


def _start_of_token(text: str, index: int) -> int:
    """Step back over a lone word the parser read as the continuation of an open line."""
    line_start = text.rfind("\n", 0, index) + 1
    prefix = text[line_start:index].strip()
    return line_start if re.fullmatch(r"[\w\"'.-]*", prefix) else index


#: Problems that mean "something is missing before here": the fix is on an earlier line.
_MISSING = ("expected ',' or '}'", "expected ',' or ']'", "expected ':'", "expected <block end>")


def _yaml_issue(exc: yaml.YAMLError, label: str, text: str = "") -> DefinitionIssue:
    if isinstance(exc, yaml.reader.ReaderError) and text:
        position = min(exc.position, len(text))
        at = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return DefinitionIssue(
            (),
            at,
            f"{label}: column {column} holds a control character (U+{ord(char):04X}): remove it",
        )
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(filter(None, [exc.context, exc.problem]))
        if mark is not None and text and any(m in (exc.problem or "") for m in _MISSING):
            changed = _line_to_change(text, _start_of_token(text, mark.index))
            if line is not None and changed < line:
                what += f" (noticed on line {line})"
                line = changed
        return DefinitionIssue((), line, f"{label}: {what}")
    return DefinitionIssue((), None, f"{label}: {exc}")


_FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _char_problem(value: str) -> str | None:
    if len(value) > MAX_STRING_CHARS:
        return f"the text is {len(value):,} characters; at most {MAX_STRING_CHARS:,} are allowed"
    found = _FORBIDDEN_CHARS.search(value)
    if found is None:
        return None
    char = found.group()
    if "\ud800" <= char <= "\udfff":
        kind = "a lone surrogate (half of a UTF-16 pair), which is not a character"
    elif char == "\x00":
        kind = "a NUL character"
    else:
        kind = "a control character"
    return f"contains {kind} (U+{ord(char):04X}) at position {found.start() + 1}: remove it"


def string_issues(data: Any, lines: LineMap, path: Path = ()) -> list[DefinitionIssue]:
    """Find strings (values and keys) that cannot be stored or shown safely."""
    issues: list[DefinitionIssue] = []
    stack: list[tuple[Path, Any]] = [(path, data)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, str):
            problem = _char_problem(node)
            if problem:
                issues.append(DefinitionIssue(where, lines.line_of(where), problem))
        elif isinstance(node, dict):
            for key, value in node.items():
                problem = _char_problem(key) if isinstance(key, str) else None
                if problem:
                    issues.append(DefinitionIssue(where, lines.line_of(where), f"a key {problem}"))
                    continue
                stack.append(((*where, key), value))
        elif isinstance(node, list):
            stack.extend(((*where, i), item) for i, item in enumerate(node))
    return sorted(issues, key=lambda i: (i.line or 0, i.location))


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _json_depth_issue(text: str) -> DefinitionIssue | None:
    """Find nesting deeper than MAX_DEPTH before the recursive JSON parser meets it."""
    depth = 0
    for piece_start, piece in _json_pieces(text):
        for match in _JSON_BRACKET.finditer(piece):
            depth += 1 if match.group() in "[{" else -1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, piece_start + match.start()) + 1
                return DefinitionIssue(
                    (), line, f"JSON error: nested more than {MAX_DEPTH} levels deep"
                )
    return None


def _json_pieces(text: str) -> Iterator[tuple[int, str]]:
    """Yield the stretches of ``text`` outside string literals, with their offsets."""
    position = 0
    for match in _JSON_STRING.finditer(text):
        yield position, text[position : match.start()]
        position = match.end()
    yield position, text[position:]


#: JSON errors where the fix (a comma, a colon, a bracket) belongs after the previous token.
_JSON_MISSING = ("Expecting ',' delimiter", "Expecting ':' delimiter", "Expecting value",
                 "Expecting property name")  # fmt: skip


def _json_issue(exc: json.JSONDecodeError) -> DefinitionIssue:
    line = exc.lineno
    message = f"JSON syntax error: {exc.msg}"
    if exc.msg.startswith(_JSON_MISSING):
        changed = _line_to_change(exc.doc, _start_of_token(exc.doc, exc.pos))
        if changed < line:
            message += f" (noticed on line {line})"
            line = changed
    return DefinitionIssue((), line, message)


def _compose(text: str) -> tuple[Any, LineMap]:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except _LimitPassed as exc:
        raise DefinitionError([_yaml_issue(exc, "too big", text)]) from None
    except yaml.YAMLError as exc:
        raise DefinitionError([_yaml_issue(exc, "YAML syntax error", text)]) from None
    if node is None:
        raise DefinitionError([DefinitionIssue((), 1, "the file is empty")])
    lines = LineMap()
    issues: list[DefinitionIssue] = []
    try:
        data = _construct(node, (), lines, issues, _Budget())
    except yaml.YAMLError as exc:
        raise DefinitionError([_yaml_issue(exc, "YAML error", text)]) from None
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


def parse_definition_text(
    text: str, *, fmt: str = "yaml", check_strings: bool = True
) -> tuple[Any, LineMap]:
    """Parse ``text`` (``yaml`` or ``json``) and return the data and its line map.

    Parameters
    ----------
    check_strings
        Also reject strings that cannot be stored or shown (see :func:`string_issues`); a
        caller that collects every problem at once checks them itself.

    Raises
    ------
    DefinitionError
        On a syntax error, a duplicate key or a limit passed, with the line where it was
        found.
    """
    if fmt != "json":
        data, lines = _compose(text)
    else:
        data, lines = _parse_json(text)
    issues = string_issues(data, lines) if check_strings else []
    if issues:
        raise DefinitionError(issues)
    return data, lines


def _parse_json(text: str) -> tuple[Any, LineMap]:
    if not text.strip():
        raise DefinitionError([DefinitionIssue((), 1, "the file is empty")])
    too_deep = _json_depth_issue(text)
    if too_deep is not None:
        raise DefinitionError([too_deep])
    try:
        data = json.loads(text, object_pairs_hook=_json_pairs)
    except json.JSONDecodeError as exc:
        raise DefinitionError([_json_issue(exc)]) from None
    except DefinitionError as exc:
        duplicate = exc.issues[0]
        try:  # the YAML composer knows the line of the second occurrence
            _compose(text.replace("\t", " "))
        except DefinitionError as located:
            raise DefinitionError(located.issues) from None
        raise DefinitionError([duplicate]) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4,300 digits
        raise DefinitionError([DefinitionIssue((), None, f"JSON error: {exc}")]) from None
    # JSON is (nearly) YAML: compose it only for the line numbers; the data comes from the
    # JSON parser, which handles what YAML reads differently (tabs, surrogate escapes).
    try:
        _, lines = _compose(text.replace("\t", " "))
    except DefinitionError as exc:
        if any(i.message.startswith("too big") for i in exc.issues):
            raise  # the JSON has more values than a definition may
        lines = LineMap()
    return data, lines
