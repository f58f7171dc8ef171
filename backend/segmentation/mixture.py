"""Soft membership: a fitted Gaussian mixture as plain arrays, and choosing its k.

:class:`SoftModel` is what a run stores and what a quiz completion predicts with: component
weights, means and covariances in the standardised space, one component per segment. Every
method yields one, so the scheduled run and the assignment at quiz completion compute the
same probabilities: a mixture predicts with its own densities; KMeans becomes an equal-weight
mixture with one shared spherical variance, whose most probable segment is the nearest centre.

:func:`select_mixture` is the default model selection. Measured on ``bench/segment_recovery.py``
(latent profiles answering 6-point Likert items):

* BIC proposes k, over both diagonal (latent profile analysis) and full covariances, on a
  subsample. BIC alone over-splits rounded and clipped Likert scores; a covariance floor
  (``reg_covar``) of the order of the rounding error removes most of that.
* Bootstrap stability vetoes over-splits: each k from BIC's choice downwards is fitted on
  pairs of half-samples; the two fits must agree (adjusted Rand index on the whole subsample)
  at ``min_stability`` or the next smaller k is tried.
* k=1 is a candidate like any other, so structureless data gives one segment through BIC
  rather than through an absolute silhouette floor.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from backend.segmentation.errors import SegmentationError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

COVARIANCE_TYPES = ("diag", "full")
#: Candidates checked for stability, best BIC first, before settling on the steadiest.
MAX_STABILITY_CHECKS = 5
#: Restarts of each half-sample fit: with one, a poor local optimum reads as instability.
STABILITY_N_INIT = 2
#: Restarts of the chosen model's final fit.
FINAL_RESTARTS = 8
#: EM tolerance (gain in mean log-likelihood per step) the best restart is continued to.
EM_TOL = 1e-5


@dataclass(frozen=True)
class SoftModel:
    """A Gaussian mixture with one component per segment, in the standardised space.

    Attributes
    ----------
    weights : ndarray of shape (k,)
        Prior share of each segment.
    means : ndarray of shape (k, d)
    covariances : ndarray of shape (k, d, d)
        Full covariance matrix of each component (diagonal and spherical ones expanded).
    """

    weights: FloatArray
    means: FloatArray
    covariances: FloatArray

    @property
    def n_components(self) -> int:
        return len(self.weights)

    @classmethod
    def from_gaussian_mixture(cls, model: GaussianMixture) -> SoftModel:
        """Convert a fitted scikit-learn mixture."""
        k, d = model.means_.shape
        cov = np.asarray(model.covariances_, dtype=np.float64)
        if model.covariance_type == "full":
            full = cov
        elif model.covariance_type == "diag":
            full = np.stack([np.diag(c) for c in cov])
        elif model.covariance_type == "tied":
            full = np.repeat(cov[None], k, axis=0)
        else:
            full = np.stack([np.eye(d) * c for c in cov])
        return cls(
            weights=np.asarray(model.weights_, dtype=np.float64),
            means=np.asarray(model.means_, dtype=np.float64),
            covariances=full,
        )

    @classmethod
    def from_centres(cls, X: FloatArray, centres: FloatArray, labels: IntArray) -> SoftModel:
        """Equal weights, one shared spherical variance: the mixture KMeans implies."""
        k, d = centres.shape
        residual = X - centres[labels]
        variance = max(float(np.mean(residual**2)), 1e-6)
        return cls(
            weights=np.full(k, 1.0 / k),
            means=np.asarray(centres, dtype=np.float64),
            covariances=np.repeat((np.eye(d) * variance)[None], k, axis=0),
        )

    def reorder(self, order: Sequence[int] | IntArray) -> SoftModel:
        """Return the model with components in ``order``."""
        at = np.asarray(order, dtype=np.intp)
        return SoftModel(self.weights[at], self.means[at], self.covariances[at])

    def log_densities(self, X: FloatArray) -> FloatArray:
        """Return log(weight_j * N(x | mean_j, cov_j)) for each row and component."""
        rows = np.atleast_2d(np.asarray(X, dtype=np.float64))
        k, d = self.means.shape
        if rows.shape[1] != d:
            raise SegmentationError(f"Expected {d} columns, got {rows.shape[1]}.")
        out = np.empty((len(rows), k), dtype=np.float64)
        for j in range(k):
            chol = np.linalg.cholesky(self.covariances[j])
            solved = np.linalg.solve(chol, (rows - self.means[j]).T)
            log_det = 2.0 * float(np.log(np.diag(chol)).sum())
            out[:, j] = (
                math.log(max(float(self.weights[j]), 1e-300))
                - 0.5 * (d * math.log(2 * math.pi) + log_det)
                - 0.5 * np.einsum("ij,ij->j", solved, solved)
            )
        return out

    def predict_proba(self, X: FloatArray, chunk_size: int = 65_536) -> FloatArray:
        """Return each row's probability of each segment (rows sum to 1)."""
        rows = np.atleast_2d(np.asarray(X, dtype=np.float64))
        out = np.empty((len(rows), self.n_components), dtype=np.float64)
        for start in range(0, len(rows), chunk_size):
            logs = self.log_densities(rows[start : start + chunk_size])
            out[start : start + chunk_size] = np.exp(logs - logsumexp(logs, axis=1)[:, None])
        return out

    def predict(self, X: FloatArray) -> IntArray:
        """Return each row's most probable segment."""
        return np.asarray(self.predict_proba(X).argmax(axis=1), dtype=np.intp)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form, for storing with a run."""
        return {
            "kind": "gaussian_mixture",
            "weights": self.weights.tolist(),
            "means": self.means.tolist(),
            "covariances": self.covariances.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SoftModel:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            weights=np.asarray(data["weights"], dtype=np.float64),
            means=np.asarray(data["means"], dtype=np.float64),
            covariances=np.asarray(data["covariances"], dtype=np.float64),
        )


def sticky_soft_assign(
    probabilities: FloatArray, previous: IntArray, *, margin: float
) -> IntArray:
    """Most probable segment, unless the previous one is nearly as probable.

    A respondent keeps their previous segment ``p`` when ``prob[p] >= (1 - margin) *
    prob[best]``, so respondents on a border do not flip between runs. ``previous`` is -1
    for respondents with no continuing segment.
    """
    if not 0.0 <= margin < 1.0:
        raise SegmentationError(f"margin must be in [0, 1); got {margin}.")
    best = probabilities.argmax(axis=1)
    at = np.arange(len(best))
    prior = np.asarray(previous, dtype=np.intp)
    has_prior = prior >= 0
    prior_p = np.where(has_prior, probabilities[at, np.maximum(prior, 0)], -1.0)
    keep = has_prior & (prior_p >= (1.0 - margin) * probabilities[at, best])
    return np.asarray(np.where(keep, prior, best), dtype=np.intp)


# --- model selection ---------------------------------------------------------------------


@dataclass(frozen=True)
class MixtureCandidate:
    k: int
    covariance_type: str
    bic: float
    smallest_share: float
    stability: float | None = None


def fit_gaussian_mixture(
    X: FloatArray,
    k: int,
    *,
    covariance_type: str,
    reg_covar: float,
    n_init: int,
    max_iter: int,
    seed: int,
) -> GaussianMixture:
    """Fit one mixture: restarts to scikit-learn's loose tolerance, then the best to a tight one.

    k-means++ starts are faster and steadier than random ones. scikit-learn stops EM when the
    mean log-likelihood gains less than 1e-3 per step, which at weak separation is often
    before two overlapping profiles have pulled apart; continuing only the best restart to
    :data:`EM_TOL` costs a few iterations and finds them.
    """
    model = GaussianMixture(
        n_components=k,
        covariance_type=covariance_type,
        reg_covar=reg_covar,
        n_init=n_init,
        max_iter=max_iter,
        init_params="k-means++",
        random_state=seed,
    ).fit(X)
    if k == 1:
        return model
    with warnings.catch_warnings():
        # Not converging within max_iter still leaves a better fit than the loose one.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.set_params(tol=EM_TOL, warm_start=True, n_init=1).fit(X)


def stability(
    X: FloatArray,
    k: int,
    *,
    covariance_type: str,
    reg_covar: float,
    pairs: int,
    max_iter: int,
    rng: np.random.RandomState,
    n_init: int = STABILITY_N_INIT,
) -> float:
    """Mean agreement (ARI on all of ``X``) of mixtures fitted on disjoint half-samples."""
    scores = []
    for _ in range(pairs):
        order = rng.permutation(len(X))
        half = len(X) // 2
        labels = []
        for rows in (order[:half], order[half:]):
            model = fit_gaussian_mixture(
                X[rows],
                k,
                covariance_type=covariance_type,
                reg_covar=reg_covar,
                n_init=n_init,
                max_iter=max_iter,
                seed=rng.randint(2**31 - 1),
            )
            labels.append(model.predict(X))
        scores.append(float(adjusted_rand_score(labels[0], labels[1])))
    return float(np.mean(scores))


def _share_reason(min_share: float) -> str:
    return f"a segment below the {min_share:.0%} minimum share"


def _fmt_k(candidate: MixtureCandidate) -> str:
    return f"k={candidate.k} ({candidate.covariance_type})"


def select_mixture(
    X: FloatArray,
    ks: Sequence[int],
    *,
    min_share: float,
    reg_covar: float,
    min_stability: float,
    stability_rows: int,
    stability_pairs: int,
    n_init: int,
    max_iter: int,
    rng: np.random.RandomState,
) -> tuple[GaussianMixture | None, list[MixtureCandidate], list[str], str]:
    """Choose k: BIC proposes (diagonal and full covariances, k=1 included), stability vetoes.

    Returns the chosen mixture (None for one segment), every candidate tried, the rejection
    notes and the reason for the choice.
    """
    candidates: list[MixtureCandidate] = []
    models: dict[tuple[str, int], GaussianMixture] = {}
    rejected: dict[tuple[str, int], str] = {}
    # Sampling noise puts a true 5% segment at 4% of a sample: only clearly smaller ones fail.
    floor = 0.75 * min_share
    for covariance_type in COVARIANCE_TYPES:
        for k in [1, *ks]:
            model = fit_gaussian_mixture(
                X,
                k,
                covariance_type=covariance_type,
                reg_covar=reg_covar,
                n_init=n_init if k > 1 else 1,
                max_iter=max_iter,
                seed=rng.randint(2**31 - 1),
            )
            labels = model.predict(X)
            counts = np.bincount(labels, minlength=k)
            smallest = float(min(model.weights_.min(), counts.min() / len(X)))
            candidate = MixtureCandidate(k, covariance_type, float(model.bic(X)), smallest)
            candidates.append(candidate)
            models[covariance_type, k] = model
            if k > 1 and smallest < floor:
                rejected[covariance_type, k] = _share_reason(min_share)
    accepted = [c for c in candidates if (c.covariance_type, c.k) not in rejected]
    best = min(accepted, key=lambda c: (c.bic, c.k))
    one = min((c for c in candidates if c.k == 1), key=lambda c: c.bic)
    notes = []
    share_rejected = sorted({k for (_, k) in rejected})
    if share_rejected:
        names = ", ".join(f"k={k}" for k in share_rejected)
        notes.append(f"{names} rejected for {_share_reason(min_share)}")
    if not ks:
        return (
            None,
            candidates,
            notes,
            "One segment: too few distinct respondents to try two or more segments",
        )
    if best.k == 1:
        return (
            None,
            candidates,
            notes,
            f"One segment: a single profile fits best (BIC {best.bic:.0f}; the best split, "
            f"{_fmt_k(_best_split(accepted) or best)}, does not beat it)",
        )

    # Stability veto, in BIC order: a split that half-samples do not reproduce is an
    # over-split of a profile (or a poor local optimum), not a segment.
    sample = X
    if len(X) > stability_rows:
        sample = X[np.sort(rng.choice(len(X), stability_rows, replace=False))]
    scores: dict[tuple[str, int], float] = {}
    ranked = sorted(
        (c for c in accepted if c.k > 1 and c.bic < one.bic), key=lambda c: (c.bic, c.k)
    )
    chosen: MixtureCandidate | None = None
    for candidate in ranked[:MAX_STABILITY_CHECKS]:
        key = (candidate.covariance_type, candidate.k)
        scores[key] = stability(
            sample,
            candidate.k,
            covariance_type=candidate.covariance_type,
            reg_covar=reg_covar,
            pairs=stability_pairs,
            max_iter=max_iter,
            rng=rng,
        )
        if scores[key] >= min_stability:
            chosen = candidate
            break
    if chosen is None:
        # Every split beats one segment on BIC but none is reproducible: keep the steadiest
        # rather than deny structure that is there.
        chosen = max(
            (c for c in ranked if (c.covariance_type, c.k) in scores),
            key=lambda c: scores[c.covariance_type, c.k],
        )
    candidates = [
        MixtureCandidate(
            c.k, c.covariance_type, c.bic, c.smallest_share, scores.get((c.covariance_type, c.k))
        )
        for c in candidates
    ]
    agreement = scores[chosen.covariance_type, chosen.k]
    if chosen is best:
        reason = (
            f"k={chosen.k} chosen: lowest BIC ({chosen.covariance_type} covariances, "
            f"{best.bic:.0f} against {one.bic:.0f} for one segment), stable across "
            f"half-samples (agreement {agreement:.2f})"
        )
    else:
        vetoed = [c for c in ranked if (c.covariance_type, c.k) in scores and c is not chosen]
        reason = (
            f"k={chosen.k} chosen: BIC best at {_fmt_k(best)}, but "
            + ", ".join(
                f"{_fmt_k(c)} is unstable across half-samples "
                f"(agreement {scores[c.covariance_type, c.k]:.2f})"
                for c in vetoed
            )
            + f"; {_fmt_k(chosen)} is "
            + ("stable" if agreement >= min_stability else "the steadiest")
            + f" ({agreement:.2f})"
        )
    # The chosen model deserves more restarts than each of the sixteen candidates got: EM
    # often settles in a poorer optimum that misses a small segment.
    final = models[chosen.covariance_type, chosen.k]
    again = fit_gaussian_mixture(
        X,
        chosen.k,
        covariance_type=chosen.covariance_type,
        reg_covar=reg_covar,
        n_init=FINAL_RESTARTS,
        max_iter=max_iter,
        seed=rng.randint(2**31 - 1),
    )
    if again.bic(X) < final.bic(X):
        final = again
    return final, candidates, notes, reason


def _best_split(candidates: Sequence[MixtureCandidate]) -> MixtureCandidate | None:
    splits = [c for c in candidates if c.k > 1]
    return min(splits, key=lambda c: c.bic) if splits else None
