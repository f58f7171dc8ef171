"""scikit-learn's own conformance checks for the segmenter."""

from __future__ import annotations

from collections.abc import Callable

from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks

from backend.segmentation import Segmenter


@parametrize_with_checks(
    # The mixture instance is kept small: the checks fit it dozens of times.
    [Segmenter(random_state=0), Segmenter(method="gmm", k_max=4, n_init=1, random_state=0)],
)
def test_sklearn_compatible(
    estimator: BaseEstimator, check: Callable[[BaseEstimator], None]
) -> None:
    check(estimator)
