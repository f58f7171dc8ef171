"""Names and paragraphs for segments, from the traits that set them apart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

NAME_SEPARATOR = " · "
DEFAULT_MAX_TRAITS = 3


@dataclass(frozen=True)
class Trait:
    """A dimension on which a segment differs from the whole population."""

    dimension: str
    label: str
    direction: Literal["high", "low"]
    adjective: str
    z: float
    value: float
    overall: float


def _format_number(value: float) -> str:
    return f"{value:.1f}"


def _strength(z: float) -> str:
    size = abs(z)
    if size >= 1.0:
        return "much higher" if z > 0 else "much lower"
    if size >= 0.5:
        return "higher" if z > 0 else "lower"
    return "somewhat higher" if z > 0 else "somewhat lower"


def _join(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _on_scale(value: float, overall: float, scale: tuple[float, float] | None) -> str:
    text = f"{_format_number(value)} vs everyone's {_format_number(overall)}"
    if scale is not None:
        text += f" on the {scale[0]:g}–{scale[1]:g} scale"
    return text


def describe_segment(
    name: str,
    size: int,
    share: float,
    total: int,
    traits: Sequence[Trait],
    average: Sequence[str],
    n_segments: int,
    scales: Mapping[str, tuple[float, float]],
    closest: str | None = None,
    differences: Sequence[tuple[str, str, float, float]] = (),
) -> str:
    """Write the paragraph about one segment for a marketer."""
    if n_segments == 1:
        return (
            f"All {total:,} respondents form a single segment: the answers show no distinct "
            "groups, so everyone gets the same follow-ups."
        )
    parts = [f"{name} is {size:,} respondents, {share:.0%} of the {total:,} segmented."]
    if traits:
        items = [
            f"{t.label.lower()} {_strength(t.z)} than average "
            f"({_on_scale(t.value, t.overall, scales.get(t.dimension))}: "
            f"{t.adjective.lower()})"
            for t in traits
        ]
        parts.append(f"What sets them apart: {_join(items)}.")
    else:
        parts.append("No dimension sets them clearly apart from the average respondent.")
    if average:
        parts.append(f"They are close to average on {_join([a.lower() for a in average])}.")
    if closest is not None and differences:
        items = [
            f"{'higher' if mine > theirs else 'lower'} {label.lower()} "
            f"({_format_number(mine)} vs {_format_number(theirs)})"
            for label, _, mine, theirs in differences
        ]
        parts.append(
            f"The closest segment is {closest}; compared with it they have {_join(items)}."
        )
    return " ".join(parts)


def unique_names(base: list[list[str]]) -> list[str]:
    """Join adjectives into names, adding a trait or a number where two names collide."""
    used = [2] * len(base)
    names = [NAME_SEPARATOR.join(adjectives[:2]) for adjectives in base]
    # First try a third trait for colliding names: it says what actually differs.
    for _ in range(DEFAULT_MAX_TRAITS):
        seen: dict[str, list[int]] = {}
        for i, name in enumerate(names):
            seen.setdefault(name, []).append(i)
        clashes = [group for group in seen.values() if len(group) > 1]
        if not clashes:
            return names
        progressed = False
        for group in clashes:
            for i in group:
                if used[i] < len(base[i]):
                    used[i] += 1
                    names[i] = NAME_SEPARATOR.join(base[i][: used[i]])
                    progressed = True
        if not progressed:
            break
    counts: dict[str, int] = {}
    result: list[str] = []
    totals: dict[str, int] = {}
    for name in names:
        totals[name] = totals.get(name, 0) + 1
    for name in names:
        if totals[name] == 1:
            result.append(name)
            continue
        counts[name] = counts.get(name, 0) + 1
        result.append(f"{name} {counts[name]}")
    return result


#: Two segments whose means on a dimension are this many standard deviations apart differ on
#: it, so they may not share that dimension's pole word in their names.
DISTINCT_GAP = 0.5


def distinct_words(
    candidates: Sequence[Sequence[Trait]], z: FloatArray, dimensions: Sequence[str]
) -> list[list[Trait]]:
    """Drop pole words that would name two segments alike on a dimension they differ on.

    When two segments' names would both use a dimension's pole word (say "Curious") while
    their means on that dimension are :data:`DISTINCT_GAP` or more apart, the word stays
    with the segment further out and the other one is named by its next trait.
    """
    column = {dim: j for j, dim in enumerate(dimensions)}
    banned: set[tuple[int, str]] = set()
    while True:
        allowed = [
            [t for t in traits if (i, t.dimension) not in banned]
            for i, traits in enumerate(candidates)
        ]
        words = [{t.dimension: t for t in traits[:DEFAULT_MAX_TRAITS]} for traits in allowed]
        clash = None
        for a in range(len(words)):
            for b in range(a + 1, len(words)):
                for dim, trait in words[a].items():
                    other = words[b].get(dim)
                    if other is None or other.adjective != trait.adjective:
                        continue
                    j = column[dim]
                    if abs(z[a, j] - z[b, j]) >= DISTINCT_GAP:
                        clash = (b, dim) if abs(z[a, j]) >= abs(z[b, j]) else (a, dim)
                        break
                if clash:
                    break
            if clash:
                break
        if clash is None:
            return allowed
        banned.add(clash)
