from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from backend.segmentation import (
    SegmentationError,
    Segmenter,
    build_features,
    compare_runs,
    match_segments,
    nearest_segment,
    sticky_assign,
)
from tests.helpers.synthetic import PROFILES_4, Respondents, draw


def test_compare_runs_counts_transitions_on_shared_respondents() -> None:
    comparison = compare_runs(
        previous_respondents=[1, 2, 3, 4, 5],
        previous_segments=[10, 10, 11, 11, 11],
        new_respondents=[5, 4, 3, 2, 6],
        new_segments=[12, 11, 11, 10, 10],
    )
    assert comparison.n_shared == 4
    assert comparison.previous_segments == (10, 11)
    assert comparison.new_segments == (10, 11, 12)
    np.testing.assert_array_equal(comparison.transitions, [[1, 0, 0], [0, 2, 1]])
    assert comparison.n_moved == 1
    assert comparison.adjusted_rand is not None
    assert comparison.adjusted_rand < 1.0


def test_compare_runs_identical_labelling_has_ari_one() -> None:
    comparison = compare_runs([1, 2, 3, 4], [0, 0, 1, 1], [4, 3, 2, 1], [1, 1, 0, 0])
    assert comparison.adjusted_rand == pytest.approx(1.0)
    assert comparison.n_moved == 0


def test_compare_runs_without_shared_respondents_has_no_ari() -> None:
    comparison = compare_runs([1], [0], [2], [0])
    assert comparison.n_shared == 0
    assert comparison.adjusted_rand is None


def test_sticky_assign_keeps_borderline_respondents() -> None:
    centroids = np.array([[0.0], [10.0]])
    points = np.array([[5.2], [5.2], [7.0], [1.0]])
    previous = np.array([0, -1, 0, 1])
    # 5.2 is 4.8 from the right vs 5.2 from the left: closer, but by less than 10%.
    labels = sticky_assign(points, centroids, previous, margin=0.10)
    assert labels.tolist() == [0, 1, 1, 0]
    assert sticky_assign(points, centroids, previous, margin=0.0).tolist() == [1, 1, 1, 0]


def test_sticky_assign_without_history_is_nearest_centroid() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(300, 3))
    centroids = rng.normal(size=(4, 3))
    nearest, distances = nearest_segment(points, centroids)
    sticky = sticky_assign(points, centroids, np.full(300, -1), chunk_size=64)
    np.testing.assert_array_equal(sticky, nearest)
    assert distances.shape == (300,)


def test_sticky_assign_rejects_unknown_previous_segments() -> None:
    with pytest.raises(SegmentationError, match="Previous segments"):
        sticky_assign(np.zeros((1, 2)), np.zeros((2, 2)), [5])


def test_ten_percent_new_respondents_keep_ids_and_move_few(
    respondents: Callable[..., Respondents],
) -> None:
    data = respondents(PROFILES_4, 3000, seed=31)
    respondent_ids = np.arange(3000)
    features = build_features(data.scores, data.dimensions)
    first = Segmenter(random_state=0).fit(features.values)
    segment_ids = np.array([1, 2, 3, 4])
    stored_centroids = features.standardiser.inverse_transform(first.cluster_centers_)
    stored_labels = segment_ids[first.labels_]

    # 300 more respondents from the same population; the scaler is refitted on all of them.
    extra, _ = draw(PROFILES_4, 300, np.random.default_rng(99))
    all_scores = np.vstack([data.scores, extra])
    all_ids = np.arange(3300)
    features2 = build_features(all_scores, data.dimensions)
    second = Segmenter(random_state=5).fit(features2.values)
    match = match_segments(
        second.cluster_centers_, stored_centroids, list(segment_ids), features2.standardiser
    )
    assert match.retired == ()
    new_ids = np.asarray(match.segment_ids(next_id=5))
    assert sorted(new_ids.tolist()) == [1, 2, 3, 4]

    index_of = {int(sid): i for i, sid in enumerate(new_ids)}
    previous_index = np.full(3300, -1)
    previous_index[:3000] = [index_of[int(s)] for s in stored_labels]
    labels = sticky_assign(features2.values, second.cluster_centers_, previous_index)
    comparison = compare_runs(respondent_ids, stored_labels, all_ids, new_ids[labels])
    assert comparison.n_shared == 3000
    assert comparison.n_moved / comparison.n_shared < 0.05
    assert comparison.adjusted_rand is not None
    assert comparison.adjusted_rand > 0.9
