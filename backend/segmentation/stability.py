"""Stability between runs: who moved where, and keeping borderline respondents in place."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import adjusted_rand_score, pairwise_distances_argmin_min
from sklearn.metrics.pairwise import euclidean_distances

from backend.segmentation.errors import SegmentationError

IntArray = NDArray[np.intp]
FloatArray = NDArray[np.float64]

DEFAULT_MARGIN = 0.10


@dataclass(frozen=True)
class RunComparison:
    """The previous run's segments against the new run's, on respondents in both.

    Attributes
    ----------
    previous_segments, new_segments : tuple of int
        Segment ids heading the rows and the columns of ``transitions``.
    transitions : ndarray of shape (n_previous, n_new)
        Respondents who were in a previous segment (row) and are now in a new one (column).
    adjusted_rand : float or None
        Adjusted Rand index of the two labellings (1 = same grouping); None with fewer than two
        shared respondents.
    n_shared : int
        Respondents present in both runs.
    n_moved : int
        Shared respondents whose segment id changed.
    """

    previous_segments: tuple[int, ...]
    new_segments: tuple[int, ...]
    transitions: NDArray[np.int64]
    adjusted_rand: float | None
    n_shared: int
    n_moved: int


def compare_runs(
    previous_respondents: ArrayLike,
    previous_segments: ArrayLike,
    new_respondents: ArrayLike,
    new_segments: ArrayLike,
) -> RunComparison:
    """Build the transition matrix and adjusted Rand index on respondents in both runs.

    Parameters
    ----------
    previous_respondents, new_respondents : array-like of int
        Respondent ids of each run (unique within a run).
    previous_segments, new_segments : array-like of int
        Segment id of each respondent, aligned with the ids.

    Returns
    -------
    RunComparison
    """
    prev_ids = np.asarray(previous_respondents).ravel()
    prev_seg = np.asarray(previous_segments, dtype=np.int64).ravel()
    new_ids = np.asarray(new_respondents).ravel()
    new_seg = np.asarray(new_segments, dtype=np.int64).ravel()
    if prev_ids.shape != prev_seg.shape or new_ids.shape != new_seg.shape:
        raise SegmentationError("Each run needs exactly one segment per respondent.")
    _, prev_at, new_at = np.intersect1d(prev_ids, new_ids, assume_unique=True, return_indices=True)
    before = prev_seg[prev_at]
    after = new_seg[new_at]
    rows, row_index = np.unique(before, return_inverse=True)
    cols, col_index = np.unique(after, return_inverse=True)
    transitions = np.zeros((len(rows), len(cols)), dtype=np.int64)
    np.add.at(transitions, (row_index, col_index), 1)
    n_shared = len(before)
    ari = float(adjusted_rand_score(before, after)) if n_shared >= 2 else None
    return RunComparison(
        previous_segments=tuple(int(r) for r in rows),
        new_segments=tuple(int(c) for c in cols),
        transitions=transitions,
        adjusted_rand=ari,
        n_shared=n_shared,
        n_moved=int((before != after).sum()),
    )


def nearest_segment(points: ArrayLike, centroids: ArrayLike) -> tuple[IntArray, FloatArray]:
    """Return the nearest centroid's index and distance for each standardised row."""
    rows = np.atleast_2d(np.asarray(points, dtype=np.float64))
    centers = np.atleast_2d(np.asarray(centroids, dtype=np.float64))
    index, distance = pairwise_distances_argmin_min(rows, centers)
    return np.asarray(index, dtype=np.intp), np.asarray(distance, dtype=np.float64)


def sticky_assign(
    points: ArrayLike,
    centroids: ArrayLike,
    previous: ArrayLike,
    *,
    margin: float = DEFAULT_MARGIN,
    chunk_size: int = 65_536,
) -> IntArray:
    """Assign rows to the nearest centroid, but keep a previous segment unless clearly beaten.

    A respondent moves only when the nearest segment is closer than ``(1 - margin)`` times the
    distance to their previous segment, so respondents on a border do not flip between runs.

    Parameters
    ----------
    points : array-like of shape (n_samples, n_columns)
        Standardised rows.
    centroids : array-like of shape (n_segments, n_columns)
        Current centroids, in the same space.
    previous : array-like of int, shape (n_samples,)
        Index into ``centroids`` of each respondent's previous segment, or -1 for a respondent
        with none (new, or whose segment was retired).
    margin : float, default 0.10
        Relative margin, in [0, 1): 0.10 means "closer by at least 10%".
    chunk_size : int, default 65536
        Rows per block, to bound the memory for the distance table.

    Returns
    -------
    ndarray of shape (n_samples,)
        Index into ``centroids`` of each row's segment.
    """
    if not 0.0 <= margin < 1.0:
        raise SegmentationError(f"margin must be in [0, 1); got {margin}.")
    rows = np.atleast_2d(np.asarray(points, dtype=np.float64))
    centers = np.atleast_2d(np.asarray(centroids, dtype=np.float64))
    before = np.asarray(previous, dtype=np.intp).ravel()
    if len(before) != len(rows):
        raise SegmentationError(f"{len(rows)} rows but {len(before)} previous segments.")
    if len(before) and (before.max(initial=-1) >= len(centers) or before.min(initial=0) < -1):
        raise SegmentationError(f"Previous segments must be -1 or in 0..{len(centers) - 1}.")
    result = np.empty(len(rows), dtype=np.intp)
    for start in range(0, len(rows), chunk_size):
        stop = start + chunk_size
        distances = euclidean_distances(rows[start:stop], centers)
        nearest = distances.argmin(axis=1)
        prior = before[start:stop]
        has_prior = prior >= 0
        at = np.arange(len(prior))
        prior_distance = np.where(has_prior, distances[at, np.maximum(prior, 0)], np.inf)
        moves = distances[at, nearest] < (1.0 - margin) * prior_distance
        result[start:stop] = np.where(moves | ~has_prior, nearest, prior)
    return result
