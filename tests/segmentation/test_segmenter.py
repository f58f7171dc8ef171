from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.metrics import adjusted_rand_score

from backend.segmentation import Segmenter, build_features
from tests.helpers.synthetic import PROFILES_3, PROFILES_4, Respondents


def _features(data: Respondents) -> NDArray[np.float64]:
    return build_features(data.scores, data.dimensions).values


@pytest.mark.parametrize("profiles", [PROFILES_3, PROFILES_4], ids=["K=3", "K=4"])
def test_kmeans_recovers_known_profiles(
    respondents: Callable[..., Respondents], profiles: NDArray[np.float64]
) -> None:
    data = respondents(profiles, 3000, seed=3)
    segmenter = Segmenter(method="kmeans", random_state=0).fit(_features(data))
    assert segmenter.n_clusters_ == len(profiles)
    assert adjusted_rand_score(data.truth, segmenter.labels_) >= 0.9
    assert segmenter.choice_reason_.startswith(f"k={len(profiles)} chosen: highest silhouette")


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_one_profile_gives_one_segment(
    respondents: Callable[..., Respondents], method: Literal["kmeans", "gmm"]
) -> None:
    data = respondents(PROFILES_3[:1], 3000, seed=5)
    segmenter = Segmenter(method=method, random_state=0).fit(_features(data))
    assert segmenter.n_clusters_ == 1
    assert set(segmenter.labels_) == {0}
    assert segmenter.choice_reason_.startswith("One segment")
    if method == "gmm":
        assert min(segmenter.candidates_, key=lambda c: c.bic or 0.0).k == 1
    else:
        assert all(c.rejected for c in segmenter.candidates_)


@pytest.mark.parametrize("n_dims", [1, 2, 3])
@pytest.mark.parametrize("correlation", [0.0, 0.5])
def test_no_spurious_split_in_few_correlated_dimensions(n_dims: int, correlation: float) -> None:
    # Structureless data in one to three dimensions has silhouettes of 0.3-0.6, above the
    # 0.25 floor: only the comparison with a structureless reference stops the split.
    rng = np.random.default_rng(n_dims)
    cov = np.full((n_dims, n_dims), correlation) + np.eye(n_dims) * (1 - correlation)
    X = rng.multivariate_normal(np.zeros(n_dims), cov, size=2000)
    segmenter = Segmenter(method="kmeans", random_state=0).fit(X)
    assert segmenter.n_clusters_ == 1, segmenter.choice_reason_
    for candidate in segmenter.candidates_:
        if candidate.null_silhouette is not None:
            assert candidate.reason == "no clearer than structureless data"
    if n_dims <= 2:
        assert "no clearer than structureless data" in segmenter.choice_reason_


def test_min_share_rejects_a_candidate_with_a_tiny_segment(
    respondents: Callable[..., Respondents],
) -> None:
    # Four clear profiles, one of them only 2% of respondents: k=4 separates it best but
    # leaves a segment below the 5% minimum, so the tiny profile is folded into another.
    data = respondents(PROFILES_4, 4000, seed=7, weights=np.array([0.34, 0.32, 0.32, 0.02]))
    segmenter = Segmenter(method="kmeans", random_state=0).fit(_features(data))
    by_k = {c.k: c for c in segmenter.candidates_}
    assert by_k[4].rejected
    assert by_k[4].smallest_share < 0.05
    assert by_k[4].reason == "a segment below the 5% minimum share"
    assert segmenter.n_clusters_ == 3
    assert "k=4" in segmenter.choice_reason_
    assert "below the 5% minimum share" in segmenter.choice_reason_
    shares = np.bincount(segmenter.labels_) / len(segmenter.labels_)
    assert shares.min() >= 0.05

    lenient = Segmenter(method="kmeans", min_share=0.01, random_state=0).fit(_features(data))
    assert not {c.k: c for c in lenient.candidates_}[4].rejected


def test_gmm_chooses_by_bic(respondents: Callable[..., Respondents]) -> None:
    data = respondents(PROFILES_4, 3000, seed=11)
    segmenter = Segmenter(method="gmm", random_state=0).fit(_features(data))
    assert segmenter.n_clusters_ == 4
    assert adjusted_rand_score(data.truth, segmenter.labels_) >= 0.9
    accepted = [c for c in segmenter.candidates_ if not c.rejected]
    assert segmenter.candidates_[0].k == 1
    assert all(c.bic is not None for c in segmenter.candidates_)
    assert min(accepted, key=lambda c: c.bic or 0.0).k == 4
    assert "lowest BIC" in segmenter.choice_reason_
    np.testing.assert_array_equal(segmenter.predict(_features(data)), segmenter.labels_)


def test_candidates_record_every_k_with_scores(respondents: Callable[..., Respondents]) -> None:
    data = respondents(PROFILES_3, 1500, seed=2)
    segmenter = Segmenter(method="kmeans", k_min=2, k_max=6, random_state=0).fit(_features(data))
    assert [c.k for c in segmenter.candidates_] == [2, 3, 4, 5, 6]
    for candidate in segmenter.candidates_:
        assert candidate.inertia is not None
        assert candidate.inertia > 0
        assert candidate.silhouette is not None
        assert 0.0 <= candidate.smallest_share <= 1 / candidate.k
        assert candidate.rejected == (candidate.reason is not None)
    chosen = next(c for c in segmenter.candidates_ if c.k == segmenter.n_clusters_)
    assert chosen.null_silhouette is not None
    assert chosen.silhouette is not None
    assert chosen.silhouette > chosen.null_silhouette


def test_segments_are_numbered_by_size(respondents: Callable[..., Respondents]) -> None:
    data = respondents(PROFILES_3, 2000, seed=4, weights=np.array([0.2, 0.5, 0.3]))
    segmenter = Segmenter(random_state=0).fit(_features(data))
    sizes = np.bincount(segmenter.labels_)
    assert list(sizes) == sorted(sizes, reverse=True)


def test_large_input_searches_a_subsample_and_fits_all_rows(
    respondents: Callable[..., Respondents],
) -> None:
    data = respondents(PROFILES_4, 6000, seed=8)
    X = _features(data)
    segmenter = Segmenter(
        method="kmeans", subsample_size=1500, silhouette_sample_size=500, random_state=0
    )
    segmenter.fit(X)
    assert segmenter.n_clusters_ == 4
    assert segmenter.labels_.shape == (6000,)
    assert adjusted_rand_score(data.truth, segmenter.labels_) >= 0.9
    np.testing.assert_array_equal(segmenter.predict(X), segmenter.labels_)


def test_same_seed_gives_same_segments(respondents: Callable[..., Respondents]) -> None:
    X = _features(respondents(PROFILES_3, 1000, seed=9))
    first = Segmenter(random_state=42).fit(X)
    second = Segmenter(random_state=42).fit(X)
    np.testing.assert_array_equal(first.labels_, second.labels_)
    assert first.candidates_ == second.candidates_


def test_identical_rows_give_one_segment() -> None:
    segmenter = Segmenter(random_state=0).fit(np.ones((20, 3)))
    assert segmenter.n_clusters_ == 1
    assert "too few distinct respondents" in segmenter.choice_reason_


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"method": "dbscan"}, "method must be"),
        ({"k_min": 1}, "k_min must be"),
        ({"k_min": 5, "k_max": 3}, "k_max must be"),
        ({"min_share": 1.5}, "min_share must be"),
        ({"n_init": 0}, "n_init must be"),
    ],
)
def test_rejects_bad_parameters_at_fit(params: dict[str, object], message: str) -> None:
    segmenter = Segmenter(**params)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        segmenter.fit(np.random.default_rng(0).normal(size=(30, 2)))
