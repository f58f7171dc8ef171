"""Profiles: what each segment looks like, with its name and paragraph (see :mod:`.naming`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from backend.segmentation.errors import SegmentationError
from backend.segmentation.features import Standardiser
from backend.segmentation.naming import (
    DEFAULT_MAX_TRAITS,
    Trait,
    describe_segment,
    distinct_words,
    unique_names,
)
from backend.segmentation.poles import dimension_label, pole_adjectives

FloatArray = NDArray[np.float64]

DEFAULT_TRAIT_THRESHOLD = 0.3


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
        for allowed in distinct_words(
            [candidates for _, candidates, _ in drafts], centers[:, :n_dims], dimensions
        )
    ]
    if len(centers) == 1:
        base = [["All respondents"]]
    names = unique_names(base)

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
                description=describe_segment(
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
