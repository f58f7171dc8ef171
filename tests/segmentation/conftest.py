"""Fixtures of the segmentation tests: one thread, and synthetic respondents."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from tests.helpers.synthetic import DIMENSIONS_6, Respondents, draw


@pytest.fixture(scope="package", autouse=True)
def _single_threaded() -> Iterator[None]:
    """Run the fits on one thread: the data here is small, and OpenMP workers spinning while
    other test suites share the cores made this folder ten times slower."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture
def respondents() -> Callable[..., Respondents]:
    """Return a factory: ``respondents(profiles, n, seed=0, weights=None)``."""

    def make(
        profiles: NDArray[np.float64],
        n: int,
        seed: int = 0,
        weights: NDArray[np.float64] | None = None,
    ) -> Respondents:
        rng = np.random.default_rng(seed)
        scores, truth = draw(profiles, n, rng, weights=weights)
        return Respondents(
            scores=scores, truth=truth, dimensions=DIMENSIONS_6[: profiles.shape[1]]
        )

    return make
