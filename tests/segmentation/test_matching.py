from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from backend.segmentation import Segmenter, Standardiser, build_features, match_segments
from tests.helpers.synthetic import PROFILES_4, Respondents


def _identity(columns: int) -> Standardiser:
    return Standardiser(
        columns=tuple(f"d{i}" for i in range(columns)),
        mean=np.zeros(columns),
        scale=np.ones(columns),
    )


def test_rerun_with_another_seed_keeps_every_id(respondents: Callable[..., Respondents]) -> None:
    data = respondents(PROFILES_4, 2000, seed=21)
    features = build_features(data.scores, data.dimensions)
    first = Segmenter(random_state=1).fit(features.values)
    ids = [10, 11, 12, 13]
    stored = features.standardiser.inverse_transform(first.cluster_centers_)

    # Another seed and a shuffled row order: KMeans numbers its clusters differently.
    order = np.random.default_rng(0).permutation(len(features.values))
    second = Segmenter(random_state=7).fit(features.values[order])
    match = match_segments(second.cluster_centers_, stored, ids, features.standardiser)

    assert match.retired == ()
    assert sorted(match.mapping) == ids  # type: ignore[type-var]
    new_ids = np.asarray(match.segment_ids(next_id=14))
    before = np.asarray(ids)[first.labels_][order]
    after = new_ids[second.labels_]
    assert (before == after).mean() > 0.99


def test_far_cluster_is_new_and_unmatched_previous_is_retired() -> None:
    standardiser = _identity(2)
    previous = np.array([[0.0, 0.0], [5.0, 5.0]])
    new = np.array([[0.1, 0.0], [-6.0, 4.0], [5.0, 5.2]])
    match = match_segments(new, previous, [1, 2], standardiser, max_distance=1.0)
    assert match.mapping == (1, None, 2)
    assert match.retired == ()
    assert match.segment_ids(next_id=3) == (1, 3, 2)

    fewer = match_segments(new[:1], previous, [1, 2], standardiser)
    assert fewer.mapping == (1,)
    assert fewer.retired == (2,)


def test_previous_centroids_are_mapped_with_the_current_scaler() -> None:
    # Stored in item units: 4.0 on a scale with mean 3 and sd 0.5 is z = 2.
    standardiser = Standardiser(("openness",), np.array([3.0]), np.array([0.5]))
    match = match_segments([[2.0], [-2.0]], [[2.0], [4.0]], [7, 8], standardiser)
    assert match.mapping == (8, 7)
    assert match.distances == (0.0, 0.0)


def test_no_previous_run_makes_every_cluster_new() -> None:
    match = match_segments(np.eye(3), np.empty((0, 3)), [], _identity(3))
    assert match.mapping == (None, None, None)
    assert match.segment_ids(next_id=1) == (1, 2, 3)


@settings(max_examples=50, deadline=None)
@given(
    centroids=st.integers(1, 6).flatmap(
        lambda k: arrays(
            np.float64,
            (k, 3),
            elements=st.floats(-5, 5, allow_nan=False).map(lambda v: round(v, 1)),
            unique=True,
        )
    ),
    seed=st.integers(0, 2**16),
)
def test_identical_centroids_match_back_whatever_their_order(
    centroids: np.ndarray, seed: int
) -> None:
    # Distinct rows (unique elements make them so): the zero-cost assignment is the only one.
    ids = list(range(100, 100 + len(centroids)))
    permutation = np.random.default_rng(seed).permutation(len(centroids))
    match = match_segments(centroids[permutation], centroids, ids, _identity(3))
    assert match.retired == ()
    assert match.mapping == tuple(ids[i] for i in permutation)
