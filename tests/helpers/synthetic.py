"""Synthetic respondents drawn from known latent profiles, scored like Likert scales."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

BIG_FIVE = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")
DIMENSIONS_6 = (*BIG_FIVE, "price_sensitivity")


@dataclass(frozen=True)
class Respondents:
    """Scores in item units (1-5) and the profile each respondent was drawn from."""

    scores: NDArray[np.float64]
    truth: NDArray[np.intp]
    dimensions: tuple[str, ...]


def likert_scores(
    latent: NDArray[np.float64], rng: np.random.Generator, items: int = 4
) -> NDArray[np.float64]:
    """Answer ``items`` 1-5 Likert items per dimension around the latent score; return means."""
    answers = np.rint(latent[:, :, None] + rng.normal(0.0, 0.7, (*latent.shape, items)))
    return np.clip(answers, 1, 5).mean(axis=2)


def draw(
    profiles: NDArray[np.float64],
    n: int,
    rng: np.random.Generator,
    *,
    weights: NDArray[np.float64] | None = None,
    spread: float = 0.35,
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """Draw respondents from profiles (rows, item units) and score them."""
    truth = rng.choice(len(profiles), size=n, p=weights).astype(np.intp)
    latent = profiles[truth] + rng.normal(0.0, spread, (n, profiles.shape[1]))
    return likert_scores(latent, rng), truth


# Well-separated profiles: every pair differs by 2 scale points on at least 3 dimensions.
PROFILES_3 = np.array(
    [
        [4.2, 2.0, 4.0, 3.0, 2.0, 3.0],
        [2.0, 4.2, 2.0, 3.0, 4.0, 3.0],
        [3.0, 3.0, 4.2, 2.0, 4.0, 1.8],
    ]
)
PROFILES_4 = np.array(
    [
        [4.2, 2.0, 4.0, 3.0, 2.0, 3.0],
        [2.0, 4.2, 2.0, 3.0, 4.0, 3.0],
        [3.0, 3.0, 4.2, 2.0, 4.0, 1.8],
        [2.0, 2.0, 2.0, 4.2, 2.0, 4.2],
    ]
)
