from __future__ import annotations

import math

import numpy as np
import pytest

from backend.segmentation import ChoiceAnswers, SegmentationError, Standardiser, build_features

DIMS = ("openness", "conscientiousness", "extraversion")


def test_excludes_respondents_missing_more_than_a_third() -> None:
    nan = np.nan
    scores = np.array(
        [
            [1.0, 2.0, 3.0],
            [2.0, nan, 4.0],  # one of three missing: kept, imputed
            [nan, nan, 5.0],  # two of three missing: excluded
            [3.0, 4.0, 5.0],
        ]
    )
    features = build_features(scores, DIMS)
    assert features.n_excluded == 1
    assert features.kept.tolist() == [True, True, False, True]
    assert features.n_kept == 3
    assert features.n_imputed == 1


def test_imputes_missing_with_column_mean_of_kept_respondents() -> None:
    scores = np.array([[1.0, 2.0, 3.0], [2.0, np.nan, 4.0], [3.0, 4.0, 5.0]])
    features = build_features(scores, DIMS)
    raw = features.standardiser.inverse_transform(features.values)
    assert raw[1, 1] == pytest.approx(3.0)  # mean of 2 and 4
    np.testing.assert_allclose(raw[[0, 2]], scores[[0, 2]])


def test_standardises_and_maps_back() -> None:
    rng = np.random.default_rng(1)
    scores = rng.uniform(1, 5, (200, 3))
    features = build_features(scores, DIMS)
    np.testing.assert_allclose(features.values.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(features.values.std(axis=0), 1.0)
    np.testing.assert_allclose(features.standardiser.inverse_transform(features.values), scores)
    np.testing.assert_allclose(features.standardiser.transform(scores), features.values)


def test_uses_only_the_configured_dimensions_in_their_order() -> None:
    scores = np.array([[1.0, 2.0, 3.0], [3.0, 5.0, 1.0]])
    features = build_features(scores, DIMS, use=["extraversion", "openness"])
    assert features.columns == ("extraversion", "openness")
    np.testing.assert_allclose(features.standardiser.mean, [2.0, 2.0])


def test_missing_fraction_is_configurable() -> None:
    scores = np.array([[1.0, np.nan, 3.0], [2.0, 2.0, 2.0], [3.0, 4.0, 1.0]])
    assert build_features(scores, DIMS, max_missing_fraction=0.0).n_excluded == 1
    assert build_features(scores, DIMS).n_excluded == 0


def test_constant_dimension_does_not_produce_nan() -> None:
    scores = np.array([[1.0, 3.0, 3.0], [2.0, 3.0, 4.0], [3.0, 3.0, 5.0]])
    features = build_features(scores, DIMS)
    assert np.isfinite(features.values).all()
    np.testing.assert_allclose(features.values[:, 1], 0.0)


def test_choice_columns_put_different_answers_weight_apart() -> None:
    scores = np.array([[1.0], [1.0], [2.0]])
    choice = ChoiceAnswers.one_hot("sport", ["run", "swim"], [0, 1, -1])
    features = build_features(scores, ["openness"], choices=[choice], choice_weight=2.0)
    assert features.columns == ("openness", "sport=run", "sport=swim")
    distance = np.linalg.norm(features.values[0, 1:] - features.values[1, 1:])
    assert distance == pytest.approx(2.0)
    # The unanswered row gets each option's share; mapped back, centroids read as shares.
    raw = features.standardiser.inverse_transform(features.values)
    np.testing.assert_allclose(raw[2, 1:], [0.5, 0.5])


def test_rejects_bad_input_with_clear_messages() -> None:
    with pytest.raises(SegmentationError, match="Unknown dimension"):
        build_features(np.ones((2, 3)), DIMS, use=["honesty"])
    with pytest.raises(SegmentationError, match="one column per dimension"):
        build_features(np.ones((2, 2)), DIMS)
    with pytest.raises(SegmentationError, match="No respondent"):
        build_features(np.full((2, 3), np.nan), DIMS)
    with pytest.raises(SegmentationError, match="must lie in"):
        ChoiceAnswers.one_hot("sport", ["run"], [3])


def test_standardiser_round_trips_through_dict() -> None:
    standardiser = Standardiser(("a", "b"), np.array([1.0, 2.0]), np.array([0.5, math.sqrt(2)]))
    again = Standardiser.from_dict(standardiser.to_dict())
    np.testing.assert_array_equal(again.mean, standardiser.mean)
    np.testing.assert_array_equal(again.scale, standardiser.scale)
    assert again.columns == standardiser.columns
    # A new respondent's missing answer lands on the mean.
    np.testing.assert_allclose(again.transform([np.nan, 2.0 + math.sqrt(2)]), [0.0, 1.0])


def test_dimension_without_any_score_is_named() -> None:
    scores = np.array([[1.0, np.nan, 3.0], [2.0, np.nan, 4.0], [3.0, np.nan, 5.0]])
    with pytest.raises(SegmentationError, match="'conscientiousness' have no scores"):
        build_features(scores, DIMS, max_missing_fraction=0.5)


def test_unanswered_choice_question_gets_zero_shares() -> None:
    choice = ChoiceAnswers.one_hot("sport", ["run", "swim"], [-1, -1])
    features = build_features(np.array([[1.0], [2.0]]), ["openness"], choices=[choice])
    np.testing.assert_array_equal(features.values[:, 1:], 0.0)
