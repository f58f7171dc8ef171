"""Benchmark: score 1,000,000 completed sessions of a 50-item questionnaire.

Prints the time of :func:`backend.scoring.score_matrix` beside a bare numpy baseline that
computes the same scores on the same array (reverse keys, per-dimension nanmean, the
"fewer than half answered" rule), and checks both agree.

    .venv/bin/python bench/scoring.py [--sessions N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from backend.questionnaire import load_definition
from backend.scoring import ScoringKey, score_matrix

DIMENSIONS = 5
ITEMS_PER_DIMENSION = 10


def definition_text() -> str:
    questions, dims = [], []
    for d in range(DIMENSIONS):
        items = []
        for i in range(ITEMS_PER_DIMENSION):
            qid = f"d{d}_i{i}"
            questions.append(f"      - {{id: {qid}, type: likert, text: Item {qid}}}")
            items.append(f"{{question: {qid}, reverse: {'true' if i % 2 else 'false'}}}")
        dims.append(f"  - id: dim{d}\n    label: Dimension {d}\n    items: [{', '.join(items)}]")
    return (
        "id: bench\ntitle: Bench\nsections:\n  - id: all\n    questions:\n"
        + "\n".join(questions)
        + "\ndimensions:\n"
        + "\n".join(dims)
        + "\n"
    )


def bare_numpy(raw: np.ndarray, reverse: np.ndarray) -> np.ndarray:
    """The textbook computation: flip reverse items, nanmean per dimension, mask sparse ones."""
    keyed = np.where(reverse, 6.0 - raw, raw)
    blocks = keyed.reshape(raw.shape[0], DIMENSIONS, ITEMS_PER_DIMENSION)
    answered = (~np.isnan(blocks)).sum(axis=2)
    with np.errstate(invalid="ignore"):
        means = np.nanmean(blocks, axis=2) if np.isnan(raw).any() else blocks.mean(axis=2)
    means[answered * 2 < ITEMS_PER_DIMENSION] = np.nan
    return means


def best_of(repeats: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    key = ScoringKey.from_definition(load_definition(definition_text()))
    rng = np.random.default_rng(0)
    n_items = DIMENSIONS * ITEMS_PER_DIMENSION
    raw = rng.integers(1, 6, size=(args.sessions, n_items)).astype(np.float64)
    raw[rng.random(raw.shape) < 0.02] = np.nan  # a few skipped optional items
    reverse = np.array([c.reverse for c in key.columns])

    t_base, expected = best_of(args.repeats, lambda: bare_numpy(raw, reverse))
    t_ours, scores = best_of(args.repeats, lambda: score_matrix(key, raw))
    assert np.allclose(scores.raw, expected, equal_nan=True), "scores differ from baseline"

    print(f"scoring {args.sessions:,} sessions x {n_items} items, best of {args.repeats}")
    print(f"  bare numpy baseline : {t_base:7.3f} s")
    print(f"  psychograph scoring : {t_ours:7.3f} s  ({t_ours / t_base:.2f}x the baseline)")
    print(
        f"  targets             : within 2x of the baseline, under 2 s -> "
        f"{'met' if t_ours <= 2 * t_base and t_ours < 2 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
