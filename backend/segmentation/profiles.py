"""Profiles: what each segment looks like, a name for it, and a paragraph about it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from backend.segmentation.errors import SegmentationError
from backend.segmentation.features import Standardiser

FloatArray = NDArray[np.float64]

NAME_SEPARATOR = " · "
DEFAULT_TRAIT_THRESHOLD = 0.3
DEFAULT_MAX_TRAITS = 3

# Adjectives for the high and the low pole of common dimensions. The low poles are worded so a
# marketer can show them to a customer: "Down-to-earth", not "Closed-minded".
POLES: dict[str, tuple[str, str]] = {
    # Big Five (OCEAN)
    "openness": ("Curious", "Down-to-earth"),
    "conscientiousness": ("Organised", "Spontaneous"),
    "extraversion": ("Outgoing", "Reserved"),
    "agreeableness": ("Warm", "Straight-talking"),
    "neuroticism": ("Sensitive", "Easy-going"),
    "emotional_stability": ("Calm", "Sensitive"),
    # Activities, interests, opinions and lifestyle
    "adventure": ("Adventurous", "Cautious"),
    "risk_taking": ("Risk-taking", "Risk-averse"),
    "novelty_seeking": ("Novelty-seeking", "Routine-loving"),
    "price_sensitivity": ("Bargain-hunting", "Premium-minded"),
    "brand_loyalty": ("Brand-loyal", "Brand-agnostic"),
    "brand_consciousness": ("Brand-conscious", "Label-indifferent"),
    "health_consciousness": ("Health-conscious", "Indulgent"),
    "environmental_concern": ("Eco-minded", "Convenience-first"),
    "social_activity": ("Sociable", "Homebody"),
    "outdoor_activity": ("Outdoorsy", "Indoorsy"),
    "fitness": ("Active", "Laid-back"),
    "travel": ("Travel-loving", "Home-loving"),
    "technology": ("Tech-savvy", "Low-tech"),
    "fashion": ("Trend-setting", "Classic"),
    "family_orientation": ("Family-first", "Individualist"),
    "community_involvement": ("Community-minded", "Private"),
    "religiosity": ("Devout", "Secular"),
    "materialism": ("Acquisitive", "Minimalist"),
    "optimism": ("Optimistic", "Sceptical"),
    "career_orientation": ("Career-driven", "Life-first"),
    # Values (Schwartz)
    "self_direction": ("Independent", "Guided"),
    "stimulation": ("Thrill-seeking", "Settled"),
    "hedonism": ("Pleasure-seeking", "Restrained"),
    "achievement": ("Ambitious", "Unhurried"),
    "power": ("Status-driven", "Egalitarian"),
    "security": ("Security-minded", "Carefree"),
    "conformity": ("Rule-following", "Nonconformist"),
    "tradition": ("Traditional", "Modern"),
    "benevolence": ("Caring", "Self-reliant"),
    "universalism": ("Idealistic", "Pragmatic"),
}

# Other spellings of the same dimensions, after normalisation (lower case, underscores).
ALIASES: dict[str, str] = {
    "o": "openness",
    "openness_to_experience": "openness",
    "c": "conscientiousness",
    "e": "extraversion",
    "extroversion": "extraversion",
    "a": "agreeableness",
    "n": "neuroticism",
    "negative_emotionality": "neuroticism",
    "stability": "emotional_stability",
    "adventurousness": "adventure",
    "adventurous": "adventure",
    "risk": "risk_taking",
    "risk_tolerance": "risk_taking",
    "novelty": "novelty_seeking",
    "price_consciousness": "price_sensitivity",
    "health": "health_consciousness",
    "health_orientation": "health_consciousness",
    "environment": "environmental_concern",
    "sustainability": "environmental_concern",
    "eco_consciousness": "environmental_concern",
    "sociability": "social_activity",
    "social": "social_activity",
    "outdoors": "outdoor_activity",
    "outdoor": "outdoor_activity",
    "sport": "fitness",
    "sports": "fitness",
    "tech": "technology",
    "tech_savviness": "technology",
    "technology_adoption": "technology",
    "fashion_consciousness": "fashion",
    "family": "family_orientation",
    "community": "community_involvement",
    "religion": "religiosity",
    "career": "career_orientation",
}


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


@dataclass(frozen=True)
class SegmentProfile:
    """One segment described for people.

    Attributes
    ----------
    index : int
        The segment's index among this run's segments (``Segmenter`` label).
    size, share : int, float
        Respondents in the segment and their share of all respondents.
    centroid : dict of str to float
        Segment mean per column in item units (a choice option's share of the segment).
    z_scores : dict of str to float
        Segment mean per score dimension in standard deviations from the population mean.
    traits : tuple of Trait
        The dimensions that most set the segment apart, strongest first.
    name : str
        An automatic name from the top traits, unique within the run.
    description : str
        One paragraph for a marketer.
    """

    index: int
    size: int
    share: float
    centroid: dict[str, float]
    z_scores: dict[str, float]
    traits: tuple[Trait, ...]
    name: str
    description: str


def normalise_key(name: str) -> str:
    """Lower-case a dimension key and join its words with underscores."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def dimension_label(name: str) -> str:
    """Make a readable label from a key: ``price_sensitivity`` -> ``Price sensitivity``."""
    words = re.sub(r"[_\-]+", " ", name).strip()
    return words[:1].upper() + words[1:] if words else name


def pole_adjectives(
    dimension: str,
    *,
    label: str | None = None,
    poles: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[str, str]:
    """Return the (high, low) adjectives for a dimension.

    A caller's ``poles`` win, then the built-in lexicon, then "High <label>" / "Low <label>".
    """
    if poles is not None and dimension in poles:
        return poles[dimension]
    key = normalise_key(dimension)
    key = ALIASES.get(key, key)
    if key in POLES:
        return POLES[key]
    text = label or dimension_label(dimension)
    lowered = text[:1].lower() + text[1:]
    return f"High {lowered}", f"Low {lowered}"


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


def _describe(
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


def _unique_names(base: list[list[str]]) -> list[str]:
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


def _distinct_words(
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


def segment_means(values: ArrayLike, labels: ArrayLike, n_segments: int) -> FloatArray:
    """Return each segment's mean row (zeros for an empty segment)."""
    rows = np.atleast_2d(np.asarray(values, dtype=np.float64))
    assigned = np.asarray(labels, dtype=np.intp).ravel()
    sizes = np.bincount(assigned, minlength=n_segments).astype(np.float64)
    # One weighted bincount per column: linear time and no N x k temporary for 1M rows.
    sums = np.stack(
        [
            np.bincount(assigned, weights=rows[:, j], minlength=n_segments)
            for j in range(rows.shape[1])
        ],
        axis=1,
    )
    return np.divide(sums, sizes[:, None], out=np.zeros_like(sums), where=sizes[:, None] > 0)


def describe_segments(
    values: ArrayLike,
    labels: ArrayLike,
    standardiser: Standardiser,
    dimensions: Sequence[str],
    *,
    n_segments: int | None = None,
    dimension_labels: Mapping[str, str] | None = None,
    poles: Mapping[str, tuple[str, str]] | None = None,
    trait_threshold: float = DEFAULT_TRAIT_THRESHOLD,
    max_traits: int = DEFAULT_MAX_TRAITS,
    scales: Mapping[str, tuple[float, float]] | None = None,
) -> list[SegmentProfile]:
    """Describe each segment: size, centroid, distinguishing traits, name and paragraph.

    Parameters
    ----------
    values : array-like of shape (n_respondents, n_columns)
        Standardised features (``FeatureMatrix.values``). They are standardised on the whole
        population, so a segment's mean on a score column is its z-score.
    labels : array-like of int, shape (n_respondents,)
        Final segment index of each respondent (after sticky assignment, if used).
    standardiser : Standardiser
        Maps segment means back to item units.
    dimensions : sequence of str
        The score dimensions (the first columns); other columns are choice options, reported
        in ``centroid`` only.
    n_segments : int, optional
        Number of segments; defaults to the largest label + 1.
    dimension_labels : mapping of str to str, optional
        Readable label per dimension, e.g. from the questionnaire definition.
    poles : mapping of str to (str, str), optional
        (high, low) adjectives per dimension, overriding the built-in lexicon.
    trait_threshold : float, default 0.3
        A dimension counts as a trait when the segment mean is at least this many standard
        deviations from the population mean; below it, the segment is "close to average".
    max_traits : int, default 3
        Traits kept per segment.
    scales : mapping of str to (float, float), optional
        Each dimension's scale (e.g. ``(1, 6)`` for 6-point items), named beside the means.

    Returns
    -------
    list of SegmentProfile
        One per segment, in index order.
    """
    rows = np.atleast_2d(np.asarray(values, dtype=np.float64))
    assigned = np.asarray(labels, dtype=np.intp).ravel()
    if len(assigned) != len(rows):
        raise SegmentationError(f"{len(rows)} rows but {len(assigned)} labels.")
    if n_segments is None:
        n_segments = int(assigned.max()) + 1 if len(assigned) else 1
    if len(assigned) and (assigned.min() < 0 or assigned.max() >= n_segments):
        raise SegmentationError(f"Labels must lie in 0..{n_segments - 1}.")
    centers = segment_means(rows, assigned, n_segments)
    n_dims = len(dimensions)
    if centers.shape[1] != len(standardiser.columns) or n_dims > centers.shape[1]:
        raise SegmentationError(
            f"Centroids have {centers.shape[1]} columns; the standardiser has "
            f"{len(standardiser.columns)} and {n_dims} are dimensions."
        )
    sizes = np.bincount(assigned, minlength=len(centers))
    total = int(sizes.sum())
    raw = standardiser.inverse_transform(centers)
    overall = standardiser.mean[:n_dims]
    labels_by_dim = {
        dim: (dimension_labels or {}).get(dim) or dimension_label(dim) for dim in dimensions
    }

    drafts: list[tuple[tuple[Trait, ...], list[Trait], list[str]]] = []
    for center, units in zip(centers, raw, strict=True):
        z = center[:n_dims]
        order = np.argsort(-np.abs(z), kind="stable")
        traits: list[Trait] = []
        adjectives: list[Trait] = []
        for j in order:
            if abs(z[j]) < trait_threshold:
                break
            dim = dimensions[j]
            high, low = pole_adjectives(dim, label=labels_by_dim[dim], poles=poles)
            direction: Literal["high", "low"] = "high" if z[j] > 0 else "low"
            trait = Trait(
                dimension=dim,
                label=labels_by_dim[dim],
                direction=direction,
                adjective=high if z[j] > 0 else low,
                z=float(z[j]),
                value=float(units[j]),
                overall=float(overall[j]),
            )
            adjectives.append(trait)
            if len(traits) < max_traits:
                traits.append(trait)
        average = [
            labels_by_dim[d]
            for d, zj in zip(dimensions, z, strict=True)
            if abs(zj) < trait_threshold
        ]
        drafts.append((tuple(traits), adjectives, average))

    base = [
        [t.adjective for t in allowed] or ["Middle-of-the-road"]
        for allowed in _distinct_words(
            [candidates for _, candidates, _ in drafts], centers[:, :n_dims], dimensions
        )
    ]
    if len(centers) == 1:
        base = [["All respondents"]]
    names = _unique_names(base)

    profiles: list[SegmentProfile] = []
    for index, ((top, _, average), name) in enumerate(zip(drafts, names, strict=True)):
        size = int(sizes[index])
        share = size / total if total else 0.0
        closest: str | None = None
        differences: list[tuple[str, str, float, float]] = []
        if len(centers) > 1:
            gaps = np.linalg.norm(centers[:, :n_dims] - centers[index, :n_dims], axis=1)
            gaps[index] = np.inf
            other = int(gaps.argmin())
            closest = names[other]
            delta = centers[index, :n_dims] - centers[other, :n_dims]
            for j in np.argsort(-np.abs(delta), kind="stable")[:2]:
                if abs(delta[j]) < trait_threshold and differences:
                    break
                dim = dimensions[j]
                differences.append(
                    (labels_by_dim[dim], dim, float(raw[index, j]), float(raw[other, j]))
                )
        profiles.append(
            SegmentProfile(
                index=index,
                size=size,
                share=share,
                centroid={
                    col: float(v) for col, v in zip(standardiser.columns, raw[index], strict=True)
                },
                z_scores={
                    dim: float(v)
                    for dim, v in zip(dimensions, centers[index, :n_dims], strict=True)
                },
                traits=top,
                name=name,
                description=_describe(
                    name,
                    size,
                    share,
                    total,
                    top,
                    average,
                    n_segments=len(centers),
                    scales=scales or {},
                    closest=closest,
                    differences=differences,
                ),
            )
        )
    return profiles
