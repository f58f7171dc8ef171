"""Matching: carry segment ids over from the previous run to the new clusters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from backend.segmentation.errors import SegmentationError
from backend.segmentation.features import Standardiser

DEFAULT_MAX_DISTANCE = 1.0


@dataclass(frozen=True)
class SegmentMatch:
    """How the new clusters relate to the previous run's segments.

    Attributes
    ----------
    mapping : tuple of (int or None)
        For each new cluster (by index), the previous segment id it continues, or None when it
        is a new segment.
    distances : tuple of (float or None)
        For each new cluster, the standardised distance to the centroid of the segment it
        continues (None for new segments).
    retired : tuple of int
        Previous segment ids that no new cluster continues.
    """

    mapping: tuple[int | None, ...]
    distances: tuple[float | None, ...]
    retired: tuple[int, ...]

    def segment_ids(self, next_id: int) -> tuple[int, ...]:
        """Give every new cluster an id: the matched one, or a fresh one from ``next_id`` on."""
        ids: list[int] = []
        fresh = next_id
        for previous in self.mapping:
            if previous is None:
                ids.append(fresh)
                fresh += 1
            else:
                ids.append(previous)
        return tuple(ids)


def match_segments(
    new_centroids: ArrayLike,
    previous_centroids: ArrayLike,
    previous_ids: Sequence[int],
    standardiser: Standardiser,
    *,
    max_distance: float = DEFAULT_MAX_DISTANCE,
) -> SegmentMatch:
    """Match new clusters to previous segments by Hungarian assignment on centroid distance.

    Parameters
    ----------
    new_centroids : array-like of shape (n_new, n_columns)
        The new run's centroids in its standardised space (``Segmenter.cluster_centers_``).
    previous_centroids : array-like of shape (n_previous, n_columns)
        The previous run's centroids in item units, as stored with that run. They are mapped
        with the current ``standardiser`` so both sets are compared on today's scale.
    previous_ids : sequence of int
        Segment id of each previous centroid.
    standardiser : Standardiser
        The current run's standardiser.
    max_distance : float, default 1.0
        A pair farther apart than this (Euclidean, in standard deviations) is not the same
        segment: the new cluster gets a new id and the previous one is retired.

    Returns
    -------
    SegmentMatch
    """
    new = np.atleast_2d(np.asarray(new_centroids, dtype=np.float64))
    previous_raw = np.asarray(previous_centroids, dtype=np.float64)
    if previous_raw.size == 0:
        return SegmentMatch(mapping=(None,) * len(new), distances=(None,) * len(new), retired=())
    previous = standardiser.transform(np.atleast_2d(previous_raw))
    if len(previous) != len(previous_ids):
        raise SegmentationError(
            f"{len(previous)} previous centroids but {len(previous_ids)} previous ids."
        )
    if previous.shape[1] != new.shape[1]:
        raise SegmentationError(
            f"Previous centroids have {previous.shape[1]} columns, new ones {new.shape[1]}."
        )
    cost = cdist(new, previous)
    rows, cols = linear_sum_assignment(cost)
    mapping: list[int | None] = [None] * len(new)
    distances: list[float | None] = [None] * len(new)
    continued: set[int] = set()
    for row, col in zip(rows, cols, strict=True):
        if cost[row, col] <= max_distance:
            mapping[row] = int(previous_ids[col])
            distances[row] = float(cost[row, col])
            continued.add(int(previous_ids[col]))
    retired = tuple(int(pid) for pid in previous_ids if int(pid) not in continued)
    return SegmentMatch(mapping=tuple(mapping), distances=tuple(distances), retired=retired)
