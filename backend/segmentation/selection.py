"""Model selection: score each candidate number of segments and explain the choice.

KMeans candidates are scored by the mean silhouette on a fixed-size sample. A silhouette alone
cannot say "there is only one profile" (it is undefined for k=1, and structureless data in
two or three dimensions scores 0.3 or more), so a candidate must pass two checks to count as
real structure:

* its silhouette is at least ``min_silhouette`` (0.25 by default: Kaufman & Rousseeuw's
  "no substantial structure" bound);
* it beats, by ``null_margin``, the silhouette KMeans reaches with the same k on a
  structureless reference: a uniform box with the data's variance along each principal axis
  (the reference distribution of Tibshirani et al.'s gap statistic, sized like the data
  rather than stretched to its range, so outliers do not inflate it). A uniform box scores
  higher than a Gaussian blob, so the check is conservative: one roughly normal profile never
  beats it, while well-separated profiles beat it by 0.2 or more.

Gaussian mixtures are scored by BIC, which compares k=1 directly, so no extra check is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from sklearn import config_context
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

REASON_MIN_SHARE = "a segment below the {share} minimum share"
REASON_WEAK = "silhouette below {floor:.2f} (no substantial structure)"
REASON_NULL = "no clearer than structureless data"
REASON_DEGENERATE = "fewer distinct segments than asked for"


@dataclass(frozen=True)
class Candidate:
    """One number of segments that was tried, with its scores.

    Scores are computed on the (sub)sample the search ran on; ``silhouette`` and
    ``null_silhouette`` for KMeans, ``bic`` for Gaussian mixtures (lower is better).
    """

    k: int
    smallest_share: float
    silhouette: float | None = None
    null_silhouette: float | None = None
    bic: float | None = None
    inertia: float | None = None
    #: Mixtures: "diag" or "full", and the half-sample agreement where it was checked.
    covariance_type: str | None = None
    stability: float | None = None
    rejected: bool = False
    reason: str | None = None


def shares(labels: IntArray, k: int) -> FloatArray:
    """Return the share of rows in each of ``k`` labels."""
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    return counts / max(len(labels), 1)


def structureless_reference(
    X: FloatArray, n_samples: int, rng: np.random.RandomState
) -> FloatArray:
    """Draw a uniform box with the data's variance along each of its principal axes."""
    center = X.mean(axis=0)
    _, singular, axes = np.linalg.svd(X - center, full_matrices=False)
    spread = singular / np.sqrt(len(X))
    # Uniform on [-a, a] has variance a²/3.
    box = rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), size=(n_samples, len(spread))) * spread
    return np.asarray(box @ axes + center, dtype=np.float64)


# silhouette_score computes distances in chunks of sklearn's working memory (1 GiB by
# default): for a 10k sample that is one 800 MB block, slower than 256 MB chunks (measured
# 2.6 s vs 0.7 s) and a large memory peak. The setting is thread-local, so it does not leak
# into other work when the fit runs in an executor.
SILHOUETTE_WORKING_MEMORY_MB = 256


def _silhouette(X: FloatArray, labels: IntArray, sample_size: int, seed: int) -> float:
    size = sample_size if len(X) > sample_size else None
    with config_context(working_memory=SILHOUETTE_WORKING_MEMORY_MB):
        return float(silhouette_score(X, labels, sample_size=size, random_state=seed))


def fit_kmeans(
    X: FloatArray,
    k: int,
    *,
    n_init: int,
    max_iter: int,
    seed: int,
    init: FloatArray | None = None,
) -> KMeans:
    """Fit KMeans with Lloyd's algorithm (the fastest exact one on dense low-d data)."""
    model = KMeans(
        n_clusters=k,
        init="k-means++" if init is None else init,
        n_init=n_init if init is None else 1,
        max_iter=max_iter,
        algorithm="lloyd",
        random_state=seed,
    )
    return model.fit(X)


def score_kmeans(
    X: FloatArray,
    ks: Sequence[int],
    *,
    min_share: float,
    min_silhouette: float,
    null_margin: float,
    n_init: int,
    max_iter: int,
    sample_size: int,
    rng: np.random.RandomState,
) -> tuple[list[Candidate], dict[int, KMeans]]:
    """Fit and score KMeans for each k; return candidates and the fitted models by k."""
    candidates: dict[int, Candidate] = {}
    models: dict[int, KMeans] = {}
    share_reason = REASON_MIN_SHARE.format(share=f"{min_share:.0%}")
    for k in ks:
        model = fit_kmeans(X, k, n_init=n_init, max_iter=max_iter, seed=rng.randint(2**31 - 1))
        models[k] = model
        labels = np.asarray(model.labels_, dtype=np.intp)
        smallest = float(shares(labels, k).min())
        inertia = float(model.inertia_)
        if len(np.unique(labels)) < k:
            candidates[k] = Candidate(
                k, smallest, inertia=inertia, rejected=True, reason=REASON_DEGENERATE
            )
            continue
        silhouette = _silhouette(X, labels, sample_size, rng.randint(2**31 - 1))
        reason = None
        if smallest < min_share:
            reason = share_reason
        elif silhouette < min_silhouette:
            reason = REASON_WEAK.format(floor=min_silhouette)
        candidates[k] = Candidate(
            k, smallest, silhouette, inertia=inertia, rejected=reason is not None, reason=reason
        )

    # The structureless reference costs a KMeans fit and a silhouette per k, so test the
    # candidates best first and stop at the first that beats it: lower-scoring candidates
    # could not be chosen anyway.
    passing = sorted(
        (c for c in candidates.values() if not c.rejected),
        key=lambda c: (-(c.silhouette or 0.0), c.k),
    )
    reference: FloatArray | None = None
    for candidate in passing:
        if reference is None:
            reference = structureless_reference(X, min(len(X), sample_size), rng)
        null_model = fit_kmeans(
            reference,
            candidate.k,
            n_init=max(1, n_init // 2),
            max_iter=max_iter,
            seed=rng.randint(2**31 - 1),
        )
        null_labels = np.asarray(null_model.labels_, dtype=np.intp)
        null_silhouette = (
            _silhouette(reference, null_labels, sample_size, rng.randint(2**31 - 1))
            if len(np.unique(null_labels)) > 1
            else 0.0
        )
        beaten = (candidate.silhouette or 0.0) >= null_silhouette + null_margin
        candidates[candidate.k] = replace(
            candidate,
            null_silhouette=null_silhouette,
            rejected=not beaten,
            reason=None if beaten else REASON_NULL,
        )
        if beaten:
            break
    return [candidates[k] for k in ks], models


def score_gmm(
    X: FloatArray,
    ks: Sequence[int],
    *,
    min_share: float,
    covariance_type: str,
    n_init: int,
    max_iter: int,
    rng: np.random.RandomState,
) -> tuple[list[Candidate], dict[int, GaussianMixture]]:
    """Fit and score Gaussian mixtures by BIC for each k (k=1 included by the caller)."""
    candidates: list[Candidate] = []
    models: dict[int, GaussianMixture] = {}
    share_reason = REASON_MIN_SHARE.format(share=f"{min_share:.0%}")
    for k in ks:
        model = GaussianMixture(
            n_components=k,
            covariance_type=covariance_type,
            n_init=n_init,
            max_iter=max_iter,
            random_state=rng.randint(2**31 - 1),
        ).fit(X)
        models[k] = model
        labels = np.asarray(model.predict(X), dtype=np.intp)
        smallest = float(shares(labels, k).min())
        bic = float(model.bic(X))
        if k > 1 and smallest < min_share:
            reason = REASON_DEGENERATE if smallest == 0 else share_reason
            candidates.append(Candidate(k, smallest, bic=bic, rejected=True, reason=reason))
        else:
            candidates.append(Candidate(k, smallest, bic=bic))
    return candidates, models


def _ks(values: Sequence[int]) -> str:
    """Name a set of k values briefly: "k=2", "k=7 and k=8", "k=2–5 and k=8"."""
    runs: list[list[int]] = []
    for k in sorted(values):
        if runs and k == runs[-1][-1] + 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    names: list[str] = []
    for run in runs:
        if len(run) >= 3:
            names.append(f"k={run[0]}–{run[-1]}")
        else:
            names.extend(f"k={k}" for k in run)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _rejections(candidates: Sequence[Candidate]) -> list[str]:
    groups: dict[str, list[int]] = {}
    for candidate in candidates:
        if candidate.rejected and candidate.reason is not None:
            groups.setdefault(candidate.reason, []).append(candidate.k)
    return [f"{_ks(ks)} rejected: {reason}" for reason, ks in groups.items()]


def choose_kmeans(candidates: Sequence[Candidate]) -> tuple[int, str]:
    """Pick the accepted candidate with the highest silhouette, or k=1; say why."""
    accepted = [c for c in candidates if not c.rejected]
    rejections = _rejections(candidates)
    if accepted:
        best = max(accepted, key=lambda c: (c.silhouette or 0.0, -c.k))
        head = (
            f"k={best.k} chosen: highest silhouette {best.silhouette:.2f} among "
            f"{len(accepted)} acceptable candidate{'s' if len(accepted) > 1 else ''}"
        )
        return best.k, "; ".join([head, *rejections]) + "."
    if not candidates:
        return 1, "One segment: too few distinct respondents to try two or more segments."
    scored = [c for c in candidates if c.silhouette is not None]
    head = f"One segment: no split into {_ks([c.k for c in candidates])} segments is acceptable"
    if scored:
        best = max(scored, key=lambda c: c.silhouette or 0.0)
        head += f" (best silhouette {best.silhouette:.2f} at k={best.k})"
    return 1, "; ".join([head, *rejections]) + "."


def choose_gmm(candidates: Sequence[Candidate]) -> tuple[int, str]:
    """Pick the accepted candidate with the lowest BIC (k=1 included); say why."""
    accepted = [c for c in candidates if not c.rejected and c.bic is not None]
    rejections = _rejections(candidates)
    best = min(accepted, key=lambda c: (c.bic if c.bic is not None else np.inf, c.k))
    plural = "s" if len(accepted) > 1 else ""
    if best.k == 1:
        head = (
            f"One segment: a single profile fits best (lowest BIC {best.bic:.1f} among "
            f"{len(accepted)} acceptable candidate{plural})"
        )
    else:
        head = (
            f"k={best.k} chosen: lowest BIC {best.bic:.1f} among {len(accepted)} acceptable "
            f"candidate{plural}"
        )
    return best.k, "; ".join([head, *rejections]) + "."
