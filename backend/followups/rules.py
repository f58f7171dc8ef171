"""Targeting rules on a segment profile: parsing (with the path of every mistake) and matching.

A rule is a mapping. Each key is a dimension id with a condition, or ``all`` / ``any`` (a
list of rules) or ``not`` (one rule); several keys in one mapping must all hold::

    openness: high                    # z-score >= levels.high (0.5 by default)
    extraversion: low                 # z-score <= levels.low (-0.5)
    agreeableness: average            # in between
    outdoor_activity: ">= 0.6"        # z-score comparison
    fitness: "score >= 60"            # segment mean on the 0-100 scale
    neuroticism: "band low"           # the questionnaire's band of the segment mean
    any: [{openness: high}, {novelty_seeking: high}]
    not: {tradition: high}
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from backend.questionnaire.errors import DefinitionIssue, Path

LEVELS = ("high", "low", "average")
COMBINATORS = ("all", "any", "not")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_COMPARISON = re.compile(
    r"^\s*(?:(?P<field>z|score)\s*)?(?P<op>>=|<=|==|!=|>|<)\s*(?P<num>[-+]?\d+(?:\.\d+)?)\s*$"
)
_BAND = re.compile(r"^\s*band\s+(?P<label>[a-z][a-z0-9_]*)\s*$")


class SegmentFacts(Protocol):
    """What a rule reads about a segment (implemented by :class:`SegmentView`)."""

    @property
    def z_scores(self) -> Mapping[str, float]: ...
    @property
    def scores(self) -> Mapping[str, float]: ...
    @property
    def bands(self) -> Mapping[str, str]: ...


@dataclass(frozen=True, slots=True)
class Condition:
    """One test on one dimension."""

    dimension: str
    kind: Literal["level", "z", "score", "band"]
    value: str | float
    op: str = ""

    def holds(self, segment: SegmentFacts, high: float, low: float) -> bool:
        if self.kind == "band":
            return segment.bands.get(self.dimension) == self.value
        source = segment.scores if self.kind == "score" else segment.z_scores
        number = source.get(self.dimension)
        if number is None:
            return False
        if self.kind == "level":
            if self.value == "high":
                return number >= high
            if self.value == "low":
                return number <= low
            return low < number < high
        return _OPS[self.op](float(number), float(self.value))


@dataclass(frozen=True, slots=True)
class AllOf:
    rules: tuple[Rule, ...]

    def holds(self, segment: SegmentFacts, high: float, low: float) -> bool:
        return all(rule.holds(segment, high, low) for rule in self.rules)


@dataclass(frozen=True, slots=True)
class AnyOf:
    rules: tuple[Rule, ...]

    def holds(self, segment: SegmentFacts, high: float, low: float) -> bool:
        return any(rule.holds(segment, high, low) for rule in self.rules)


@dataclass(frozen=True, slots=True)
class Not:
    rule: Rule

    def holds(self, segment: SegmentFacts, high: float, low: float) -> bool:
        return not self.rule.holds(segment, high, low)


Rule = Condition | AllOf | AnyOf | Not


def parse_condition(dimension: str, value: Any) -> Condition:
    """Parse the condition text of one dimension; raise ValueError saying what is accepted."""
    if isinstance(value, str):
        text = value.strip()
        if text in LEVELS:
            return Condition(dimension, "level", text)
        match = _COMPARISON.match(text)
        if match:
            kind: Literal["z", "score"] = "score" if match.group("field") == "score" else "z"
            return Condition(dimension, kind, float(match.group("num")), match.group("op"))
        match = _BAND.match(text)
        if match:
            return Condition(dimension, "band", match.group("label"))
    raise ValueError(
        f"{value!r} is not a condition: write high, low or average (relative to all "
        "respondents), a z-score comparison such as '>= 0.6', 'score >= 60' (0-100), "
        "or 'band high'"
    )


def parse_rule(
    data: Any,
    path: Path,
    issues: list[DefinitionIssue],
    line_of: Callable[[Path], int | None],
    dimensions: Collection[str] | None = None,
) -> Rule | None:
    """Parse ``data`` at ``path``; append a located issue per mistake and return None then."""

    def add(where: Path, message: str) -> None:
        issues.append(DefinitionIssue(where, line_of(where), message))

    if not isinstance(data, dict) or not data:
        add(path, "a rule is a non-empty mapping of dimension ids to conditions (or all/any/not)")
        return None
    before = len(issues)
    parts: list[Rule] = []
    for key, value in data.items():
        where = (*path, key)
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                add(where, f"{key!r} takes a non-empty list of rules")
                continue
            subrules = [
                parse_rule(sub, (*where, i), issues, line_of, dimensions)
                for i, sub in enumerate(value)
            ]
            done = tuple(r for r in subrules if r is not None)
            parts.append(AllOf(done) if key == "all" else AnyOf(done))
        elif key == "not":
            sub = parse_rule(value, where, issues, line_of, dimensions)
            if sub is not None:
                parts.append(Not(sub))
        else:
            if dimensions is not None and key not in dimensions:
                known = ", ".join(sorted(dimensions))
                add(where, f"unknown dimension {key!r} (this questionnaire has: {known})")
                continue
            try:
                parts.append(parse_condition(key, value))
            except ValueError as exc:
                add(where, str(exc))
    if len(issues) > before:
        return None
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def rule_dimensions(rule: Rule) -> set[str]:
    """Return every dimension a rule reads."""
    if isinstance(rule, Condition):
        return {rule.dimension}
    if isinstance(rule, Not):
        return rule_dimensions(rule.rule)
    return set().union(*(rule_dimensions(r) for r in rule.rules)) if rule.rules else set()
