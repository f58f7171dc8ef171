"""Load and validate content packs: shape, targeting rules, and every template rendered.

Problems come back as :class:`DefinitionIssue` with the path and line of the node at fault,
all of them at once, exactly like questionnaire definitions. A template is rendered for every
test profile here, so a message that cannot be built is rejected at import, not at send time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError
from pydantic import ValidationError

from backend.followups.rules import Rule, parse_rule, rule_dimensions
from backend.followups.schema import ContentPackDefinition, Item, TestProfile
from backend.followups.targeting import SegmentView, TraitView, variant_texts
from backend.followups.templates import compile_template, render, render_context
from backend.questionnaire import read_definition_file
from backend.questionnaire.errors import DefinitionError, DefinitionIssue, Path
from backend.questionnaire.loader import LineMap, parse_definition_text, string_issues

MAX_CONTENT_BYTES = 1_000_000


@dataclass(frozen=True)
class ContentPack:
    """A validated pack with its rules parsed, ready for targeting."""

    definition: ContentPackDefinition
    rules: Mapping[str, Rule]

    @property
    def key(self) -> str:
        return self.definition.id

    def content_hash(self) -> str:
        canonical = json.dumps(
            self.definition.model_dump(mode="json"), sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def _data_path(data: Any, loc: tuple[str | int, ...]) -> Path:
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
            path.append(part)
        elif i == len(loc) - 1 and isinstance(part, str) and not part[:1].isupper():
            path.append(part)  # a missing or unknown key: name it
    return tuple(path)


def _shape(data: Any, lines: LineMap) -> tuple[ContentPackDefinition | None, list]:
    if not isinstance(data, dict):
        return None, [DefinitionIssue((), 1, "a content pack is a mapping of keys to values")]
    try:
        return ContentPackDefinition.model_validate(data), []
    except ValidationError as exc:
        issues: list[DefinitionIssue] = []
        for error in exc.errors():
            path = _data_path(data, tuple(error["loc"]))
            field = path[-1] if path else ""
            if error["type"] == "extra_forbidden":
                message = f"unknown key {field!r}"
            elif error["type"] == "missing":
                message = f"missing required field {field!r}"
            else:
                message = str(error["msg"]).removeprefix("Value error, ")
            issue = DefinitionIssue(path, lines.line_of(path), message)
            if issue not in issues:
                issues.append(issue)
        return None, issues


def test_profiles(
    pack: ContentPackDefinition, dimensions: Collection[str]
) -> list[tuple[str, str | None, SegmentView, dict[str, float | None]]]:
    """Return (label, first name, segment, own scores) of every profile templates must serve.

    Generated: each dimension high and low (with it as the one top trait), and a respondent
    with no first name and no scores in a segment with no traits; then the pack's own.
    """
    dims = sorted(dimensions)
    profiles: list[tuple[str, str | None, SegmentView, dict[str, float | None]]] = []
    for dim in dims:
        for direction, z, score in (("high", 1.2, 80.0), ("low", -1.2, 20.0)):
            segment = SegmentView(
                id=f"test-{dim}-{direction}",
                name=f"Test {direction} {dim}",
                description=f"A test segment with {direction} {dim}.",
                z_scores={d: (z if d == dim else 0.0) for d in dims},
                scores={d: (score if d == dim else 50.0) for d in dims},
                bands={d: (direction if d == dim else "average") for d in dims},
                traits=(TraitView(dim, direction, direction.title(), dim, z),),
            )
            own = {d: (score if d == dim else 50.0) for d in dims}
            profiles.append((f"{dim} {direction}", "Ada", segment, dict(own)))
    flat = SegmentView(
        id="test-flat",
        name="Test flat",
        description="",
        z_scores=dict.fromkeys(dims, 0.0),
        scores=dict.fromkeys(dims, 50.0),
        bands=dict.fromkeys(dims, "average"),
    )
    profiles.append(("no first name, no traits", None, flat, {}))
    for i, extra in enumerate(pack.test_profiles):
        profiles.append((f"test_profiles[{i}]", extra.first_name, _segment_of(extra), {}))
    return profiles


def _segment_of(profile: TestProfile) -> SegmentView:
    return SegmentView(
        id=profile.segment_id,
        name=profile.segment_name,
        description=profile.segment_description,
        z_scores=profile.z_scores,
        scores=profile.scores,
        traits=tuple(
            TraitView(t.dimension, t.direction, t.adjective, t.dimension, t.z)
            for t in profile.traits
        ),
    )


class _Checker:
    def __init__(
        self, pack: ContentPackDefinition, lines: LineMap, dimensions: Collection[str] | None
    ) -> None:
        self.pack = pack
        self.lines = lines
        self.dimensions = dimensions
        self.issues: list[DefinitionIssue] = []
        self.rules: dict[str, Rule] = {}

    def add(self, path: Path, message: str) -> None:
        self.issues.append(DefinitionIssue(path, self.lines.line_of(path), message))

    def run(self) -> None:
        seen: set[str] = set()
        for i, item in enumerate(self.pack.items):
            path: Path = ("items", i)
            if item.id in seen:
                self.add((*path, "id"), f"duplicate item id {item.id!r}")
            seen.add(item.id)
            self.check_target(item, path)
            self.check_wording(item, path)
        if not any(item.target.default for item in self.pack.items):
            self.add(
                ("items",),
                "no default item: add one with `target: {default: true}` for segments that "
                "no rule matches",
            )
        # Templates are rendered whatever else is wrong, so one upload shows every problem.
        self.check_templates()

    def check_target(self, item: Item, path: Path) -> None:
        target = item.target
        given = [
            name
            for name, present in (
                ("rule", target.rule is not None),
                ("segments", target.segments is not None),
                ("default", target.default),
            )
            if present
        ]
        if len(given) != 1:
            self.add(
                (*path, "target"),
                "give exactly one of rule, segments or default: true"
                + (f" (found {', '.join(given)})" if given else ""),
            )
            return
        if target.rule is not None:
            rule = parse_rule(
                target.rule,
                (*path, "target", "rule"),
                self.issues,
                self.lines.line_of,
                self.dimensions,
            )
            if rule is not None:
                self.rules[item.id] = rule

    def check_wording(self, item: Item, path: Path) -> None:
        if (item.text is None) == (not item.variants):
            self.add(path, "give either text or variants (A/B wordings), not both or neither")
        ids = [v.id for v in item.variants]
        for vi, vid in enumerate(ids):
            if vid in ids[:vi]:
                self.add((*path, "variants", vi, "id"), f"duplicate variant id {vid!r}")

    def template_path(self, item_index: int, variant_index: int | None) -> Path:
        if variant_index is None:
            return ("items", item_index, "text")
        return ("items", item_index, "variants", variant_index, "text")

    def check_templates(self) -> None:
        dims = set(self.dimensions or ())
        for rule in self.rules.values():
            dims |= rule_dimensions(rule)
        profiles = test_profiles(self.pack, dims)
        for i, item in enumerate(self.pack.items):
            for vi, (_, source) in enumerate(variant_texts(item)):
                path = self.template_path(i, vi if item.variants else None)
                try:
                    compile_template(source)
                except TemplateSyntaxError as exc:
                    self.add(
                        path, f"template syntax error on template line {exc.lineno}: {exc.message}"
                    )
                    continue
                except TemplateError as exc:  # nested too deeply to compile
                    self.add(path, f"template error: {exc}")
                    continue
                for label, first_name, segment, own in profiles:
                    context = render_context(
                        first_name=first_name or self.pack.fallback_first_name,
                        segment=segment,
                        scores=own,
                    )
                    try:
                        render(source, context)
                    except (
                        TemplateError,
                        ValueError,
                        TypeError,
                        ArithmeticError,
                        LookupError,
                    ) as exc:
                        self.add(path, f"template fails for test profile {label!r}: {exc}")
                        break


def load_content(
    text: str,
    *,
    source: str | None = None,
    fmt: str | None = None,
    dimensions: Collection[str] | None = None,
) -> ContentPack:
    """Parse and validate a content pack; raise :class:`DefinitionError` listing every problem.

    Parameters
    ----------
    text
        YAML or JSON text.
    source
        A name for messages (usually the file name); ``.json`` picks JSON.
    fmt
        ``"yaml"`` or ``"json"``.
    dimensions
        The dimension ids of the pack's questionnaire: rules naming others are rejected and
        templates are rendered for a high and a low profile of each. None skips that check.
    """
    if len(text.encode()) > MAX_CONTENT_BYTES:
        issue = DefinitionIssue((), None, f"the file is over {MAX_CONTENT_BYTES:,} bytes")
        raise DefinitionError([issue], source)
    fmt = fmt or ("json" if source and source.lower().endswith(".json") else "yaml")
    try:
        data, lines = parse_definition_text(text, fmt=fmt, check_strings=False)
    except DefinitionError as exc:
        raise DefinitionError(exc.issues, source) from None
    issues = string_issues(data, lines)
    definition, shape = _shape(data, lines)
    if definition is None:
        raise DefinitionError(_by_line(issues + shape), source)
    checker = _Checker(definition, lines, dimensions)
    checker.run()
    if issues or checker.issues:
        raise DefinitionError(_by_line(issues + checker.issues), source)
    return ContentPack(definition, checker.rules)


def _by_line(issues: list[DefinitionIssue]) -> list[DefinitionIssue]:
    return sorted(issues, key=lambda i: (i.line or 0, i.location))


def load_content_file(
    path: FilePath | str, *, dimensions: Collection[str] | None = None
) -> ContentPack:
    """Read and validate a content pack file (``.yaml``, ``.yml`` or ``.json``)."""
    text = read_definition_file(path, max_bytes=MAX_CONTENT_BYTES)
    return load_content(text, source=str(path), dimensions=dimensions)


def pack_from_json(data: Mapping[str, Any]) -> ContentPack:
    """Rebuild a pack stored by ``import_pack`` (already validated when it was imported)."""
    definition = ContentPackDefinition.model_validate(data)
    issues: list[DefinitionIssue] = []
    rules: dict[str, Rule] = {}
    for i, item in enumerate(definition.items):
        if item.target.rule is not None:
            rule = parse_rule(item.target.rule, ("items", i), issues, lambda _: None)
            if rule is not None:
                rules[item.id] = rule
    if issues:
        raise DefinitionError(issues, definition.id)
    return ContentPack(definition, rules)
