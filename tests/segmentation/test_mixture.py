"""The default model selection (BIC proposes, stability vetoes) and soft membership."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from backend.questionnaire.schema import Segmentation
from backend.segmentation import Segmenter, build_features, default_segmenter
from backend.segmentation.mixture import (
    EM_TOL,
    SoftModel,
    fit_gaussian_mixture,
    sticky_soft_assign,
)
from tests.helpers.synthetic import PROFILES_3, PROFILES_4, Respondents


def _features(data: Respondents) -> NDArray[np.float64]:
    return build_features(data.scores, data.dimensions).values


def test_documented_defaults_are_the_segmenters_own() -> None:
    settings = Segmentation()
    segmenter = default_segmenter()
    assert settings.method == segmenter.method == "mixture"
    assert (settings.k_min, settings.k_max) == (segmenter.k_min, segmenter.k_max)
    assert settings.min_share == segmenter.min_share


@pytest.mark.parametrize("profiles", [PROFILES_3, PROFILES_4], ids=["K=3", "K=4"])
def test_mixture_recovers_known_profiles_and_says_why(
    respondents: Callable[..., Respondents], profiles: NDArray[np.float64]
) -> None:
    data = respondents(profiles, 3000, seed=3)
    segmenter = Segmenter(random_state=0).fit(_features(data))
    assert segmenter.n_clusters_ == len(profiles), segmenter.choice_reason_
    assert adjusted_rand_score(data.truth, segmenter.labels_) >= 0.9
    assert segmenter.choice_reason_.startswith(f"k={len(profiles)} chosen:")
    assert "agreement" in segmenter.choice_reason_
    chosen = [c for c in segmenter.candidates_ if c.stability is not None]
    assert chosen
    assert all(c.bic is not None for c in segmenter.candidates_)


def test_mixture_gives_one_segment_without_structure(
    respondents: Callable[..., Respondents],
) -> None:
    data = respondents(PROFILES_3[:1], 3000, seed=5)
    segmenter = Segmenter(random_state=0).fit(_features(data))
    assert segmenter.n_clusters_ == 1, segmenter.choice_reason_
    assert segmenter.choice_reason_.startswith("One segment")
    proba = segmenter.predict_proba(_features(data)[:5])
    np.testing.assert_allclose(proba, 1.0)


@pytest.mark.parametrize("method", ["mixture", "kmeans", "gmm"])
def test_probabilities_sum_to_one_and_agree_with_predict(
    respondents: Callable[..., Respondents], method: str
) -> None:
    data = respondents(PROFILES_3, 1500, seed=11)
    X = _features(data)
    segmenter = Segmenter(method=method, random_state=0).fit(X)  # type: ignore[arg-type]
    proba = segmenter.predict_proba(X)
    assert proba.shape == (len(X), segmenter.n_clusters_)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba.argmax(axis=1), segmenter.predict(X))
    np.testing.assert_array_equal(segmenter.predict(X), segmenter.labels_)
    # A point between two segment centres is uncertain; a centre is certain.
    centres = segmenter.cluster_centers_
    middle = (centres[0] + centres[1]) / 2
    assert segmenter.predict_proba(centres[:1]).max() > 0.95
    assert segmenter.predict_proba(middle[None, :]).max() < 0.95


def test_soft_model_round_trips_through_json(respondents: Callable[..., Respondents]) -> None:
    X = _features(respondents(PROFILES_3, 1200, seed=12))
    model = Segmenter(random_state=0).fit(X).soft_model_
    again = SoftModel.from_dict(model.to_dict())
    np.testing.assert_allclose(again.predict_proba(X), model.predict_proba(X))


def test_sticky_soft_assign_keeps_a_nearly_as_probable_previous_segment() -> None:
    proba = np.array([[0.52, 0.48], [0.9, 0.1], [0.3, 0.7]])
    previous = np.array([1, 1, -1])
    assert sticky_soft_assign(proba, previous, margin=0.10).tolist() == [1, 0, 1]
    assert sticky_soft_assign(proba, previous, margin=0.0).tolist() == [0, 0, 1]


def test_the_best_restart_is_continued_past_scikit_learns_loose_tolerance() -> None:
    # Three weakly separated profiles in unequal shares: EM at scikit-learn's tol=1e-3 stops
    # after a few steps, while the components are still pulling apart.
    rng = np.random.default_rng(1)
    centres = rng.normal(0.0, 1.0, (3, 5))
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=2)[np.triu_indices(3, 1)]
    centres *= 1.2 / gaps.min()
    truth = rng.choice(3, 3_000, p=[0.6, 0.3, 0.1])
    X = centres[truth] + rng.normal(0.0, 1.0, (3_000, 5))
    loose = GaussianMixture(
        3,
        covariance_type="diag",
        reg_covar=1e-3,
        n_init=2,
        max_iter=500,
        init_params="k-means++",
        random_state=3,
    ).fit(X)
    model = fit_gaussian_mixture(
        X, 3, covariance_type="diag", reg_covar=1e-3, n_init=2, max_iter=500, seed=3
    )

    assert model.converged_
    assert model.tol == EM_TOL
    assert model.score(X) > loose.score(X)
    assert (
        adjusted_rand_score(truth, model.predict(X))
        > adjusted_rand_score(truth, loose.predict(X)) + 0.1
    )
