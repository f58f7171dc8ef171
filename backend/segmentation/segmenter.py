"""The segmenter: a scikit-learn clusterer that chooses its own number of segments.

Large N: the candidate search (every k, several restarts, silhouettes) runs on a random
subsample of ``subsample_size`` rows (50 000 by default), which is plenty to tell apart
segments of at least ``min_share`` of the population. Only the chosen k is then fitted on all
rows, warm-started from the subsample's centres with a single Lloyd run (or a single EM run for
mixtures), so it converges in a few passes. Silhouettes always use a fixed-size sample, so
their cost does not grow with N, and run in 256 MB distance chunks (see :mod:`.selection`).

Measured on 2 cores, 1M x 8 synthetic respondents from 4 profiles: KMeans fit 6-9 s, the
process peaking at about 540 MiB of which 260 MiB is the input and its generation; the
Gaussian mixture path takes 20-30 s (eight mixtures with restarts on the subsample), so lower
``subsample_size`` there if that matters. MiniBatchKMeans was not needed: the warm-started
Lloyd pass over all rows takes well under a second.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.metrics import pairwise_distances_argmin
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from backend.segmentation.mixture import SoftModel, select_mixture
from backend.segmentation.selection import (
    REASON_MIN_SHARE,
    Candidate,
    choose_gmm,
    choose_kmeans,
    fit_kmeans,
    score_gmm,
    score_kmeans,
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

#: Rows the stability check fits its half-samples on, and how many pairs of halves.
STABILITY_ROWS = 4_000
STABILITY_PAIRS = 3


class Segmenter(ClusterMixin, BaseEstimator):
    """Cluster respondents into segments, choosing the number of segments from the data.

    Tries every k from ``k_min`` to ``k_max``, scores each candidate, rejects candidates that
    leave a segment below ``min_share`` of respondents, and keeps the best; when no candidate
    shows real structure the result is a single segment. Segments are numbered by size,
    largest first.

    Parameters
    ----------
    method : {"mixture", "kmeans", "gmm"}, default="mixture"
        ``"mixture"`` (the default) lets BIC propose k over diagonal and full Gaussian
        mixtures, k=1 included, and vetoes splits that half-samples do not reproduce (see
        :mod:`.mixture`); ``"kmeans"`` scores candidates by silhouette (see :mod:`.selection`
        for the test that tells one profile from several); ``"gmm"`` fits Gaussian mixtures
        of ``covariance_type`` and picks the lowest BIC, k=1 included.
    k_min, k_max : int, default=2, 8
        Range of segment counts to try. Capped by the number of distinct rows.
    min_share : float, default=0.05
        A candidate with any segment smaller than this share of respondents is rejected.
    n_init : int, default=4
        Restarts per candidate; the best (lowest inertia / highest likelihood) is kept.
        ``"mixture"`` tries two covariance types, each with half as many restarts.
    silhouette_sample_size : int, default=10_000
        Rows sampled for each silhouette, so its cost does not grow with N.
    min_silhouette : float, default=0.25
        KMeans only: a candidate scoring below this has no substantial structure.
    null_margin : float, default=0.05
        KMeans only: a candidate must beat the silhouette of a structureless reference of the
        same spread by this much.
    subsample_size : int or None, default=50_000
        Candidates are searched on a random subsample of this many rows; the chosen k is then
        refitted on all rows. ``None`` searches on all rows.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        GMM only: covariance model of each component.
    max_iter : int, default=300
        Iteration cap for each KMeans or EM run.
    mixture_sample_size : int, default=10_000
        ``"mixture"`` only: rows the candidates are fitted on; the chosen mixture then
        assigns everyone.
    reg_covar : float, default=0.05
        ``"mixture"`` only: added to every variance (in standard deviations squared), about
        the rounding error of a scale score, so a component cannot shrink onto the
        scale's steps.
    min_stability : float, default=0.6
        ``"mixture"`` only: a k whose half-sample fits agree less than this (adjusted Rand
        index) and less than k-1's is an over-split.
    random_state : int, RandomState instance or None, default=None
        Seeds subsampling, initialisation and silhouette samples; an int gives repeatable fits.

    Attributes
    ----------
    n_clusters_ : int
        The number of segments chosen.
    cluster_centers_ : ndarray of shape (n_clusters_, n_features)
        Segment centres in the input's (standardised) space.
    labels_ : ndarray of shape (n_samples,)
        Segment of each training row, 0 being the largest segment.
    candidates_ : list of Candidate
        Every k tried, with its scores and, if rejected, why.
    choice_reason_ : str
        Why ``n_clusters_`` was chosen, in a sentence a person can read.
    soft_model_ : SoftModel
        The mixture the segments imply, one component per segment in segment order; it
        gives :meth:`predict_proba` and :meth:`predict`.
    n_iter_ : int
        Iterations of the final fit (1 for a single segment, which is a plain mean).
    n_features_in_ : int
        Number of features seen during fit.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(-3, 1, (100, 2)), rng.normal(3, 1, (100, 2))])
    >>> segmenter = Segmenter(random_state=0).fit(X)
    >>> segmenter.n_clusters_
    2
    """

    def __init__(
        self,
        method: Literal["mixture", "kmeans", "gmm"] = "mixture",
        k_min: int = 2,
        k_max: int = 8,
        min_share: float = 0.05,
        n_init: int = 4,
        silhouette_sample_size: int = 10_000,
        min_silhouette: float = 0.25,
        null_margin: float = 0.05,
        subsample_size: int | None = 50_000,
        covariance_type: Literal["full", "tied", "diag", "spherical"] = "full",
        max_iter: int = 300,
        mixture_sample_size: int = 10_000,
        reg_covar: float = 0.05,
        min_stability: float = 0.6,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.method = method
        self.k_min = k_min
        self.k_max = k_max
        self.min_share = min_share
        self.n_init = n_init
        self.silhouette_sample_size = silhouette_sample_size
        self.min_silhouette = min_silhouette
        self.null_margin = null_margin
        self.subsample_size = subsample_size
        self.covariance_type = covariance_type
        self.max_iter = max_iter
        self.mixture_sample_size = mixture_sample_size
        self.reg_covar = reg_covar
        self.min_stability = min_stability
        self.random_state = random_state

    def _check_params(self) -> None:
        if self.method not in ("mixture", "kmeans", "gmm"):
            raise ValueError(f"method must be 'mixture', 'kmeans' or 'gmm'; got {self.method!r}.")
        if not (isinstance(self.k_min, int | np.integer) and self.k_min >= 2):
            raise ValueError(f"k_min must be an integer of at least 2; got {self.k_min!r}.")
        if not (isinstance(self.k_max, int | np.integer) and self.k_max >= self.k_min):
            raise ValueError(f"k_max must be an integer >= k_min; got {self.k_max!r}.")
        if not 0.0 <= self.min_share < 1.0:
            raise ValueError(f"min_share must be in [0, 1); got {self.min_share!r}.")
        if not self.reg_covar >= 0:
            raise ValueError(f"reg_covar must be >= 0; got {self.reg_covar!r}.")
        if not 0.0 <= self.min_stability <= 1.0:
            raise ValueError(f"min_stability must be in [0, 1]; got {self.min_stability!r}.")
        for name in ("n_init", "silhouette_sample_size", "max_iter", "mixture_sample_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)!r}.")
        if self.subsample_size is not None and self.subsample_size < 2:
            raise ValueError(f"subsample_size must be at least 2; got {self.subsample_size!r}.")

    def fit(self, X: ArrayLike, y: Any = None) -> Segmenter:
        """Choose the number of segments and fit them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Standardised features, e.g. :attr:`FeatureMatrix.values`.
        y : Ignored
            Present for scikit-learn API consistency.

        Returns
        -------
        self : Segmenter
            The fitted segmenter.
        """
        self._check_params()
        data: FloatArray = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        rng = check_random_state(self.random_state)
        n_samples = data.shape[0]
        limit = self.subsample_size
        if self.method == "mixture":
            limit = min(limit or n_samples, self.mixture_sample_size)
        search = data
        if limit is not None and n_samples > limit:
            rows = np.sort(rng.choice(n_samples, limit, replace=False))
            search = data[rows]

        # KMeans cannot find more segments than distinct rows, and a silhouette needs
        # k <= n - 1; asking for more only produces degenerate candidates and warnings.
        n_distinct = len(np.unique(search, axis=0))
        k_top = min(int(self.k_max), n_distinct, len(search) - 1)
        ks = list(range(int(self.k_min), k_top + 1))

        soft: SoftModel | None = None
        if self.method == "kmeans":
            candidates, kmeans_models = score_kmeans(
                search,
                ks,
                min_share=self.min_share,
                min_silhouette=self.min_silhouette,
                null_margin=self.null_margin,
                n_init=self.n_init,
                max_iter=self.max_iter,
                sample_size=self.silhouette_sample_size,
                rng=rng,
            )
            k, reason = choose_kmeans(candidates)
            if k == 1:
                centers = data.mean(axis=0, keepdims=True)
                labels = np.zeros(n_samples, dtype=np.intp)
                n_iter = 1
            elif search is data:
                centers = kmeans_models[k].cluster_centers_
                labels = np.asarray(kmeans_models[k].labels_, dtype=np.intp)
                n_iter = int(kmeans_models[k].n_iter_)
            else:
                final = fit_kmeans(
                    data,
                    k,
                    n_init=1,
                    max_iter=self.max_iter,
                    seed=rng.randint(2**31 - 1),
                    init=kmeans_models[k].cluster_centers_,
                )
                centers = final.cluster_centers_
                labels = np.asarray(final.labels_, dtype=np.intp)
                n_iter = int(final.n_iter_)
            if k > 1:
                soft = SoftModel.from_centres(data, np.asarray(centers), labels)
        elif self.method == "gmm":
            candidates, gmm_models = score_gmm(
                search,
                [1, *ks],
                min_share=self.min_share,
                covariance_type=self.covariance_type,
                n_init=self.n_init,
                max_iter=self.max_iter,
                rng=rng,
            )
            k, reason = choose_gmm(candidates)
            mixture = gmm_models[k]
            if search is not data:
                mixture = GaussianMixture(
                    n_components=k,
                    covariance_type=self.covariance_type,
                    weights_init=mixture.weights_,
                    means_init=mixture.means_,
                    precisions_init=mixture.precisions_,
                    max_iter=self.max_iter,
                    random_state=rng.randint(2**31 - 1),
                ).fit(data)
            soft = SoftModel.from_gaussian_mixture(mixture)
            centers = mixture.means_
            n_iter = int(mixture.n_iter_)
            labels = soft.predict(data)
        else:
            chosen, tried, notes, head = select_mixture(
                search,
                ks,
                min_share=self.min_share,
                reg_covar=self.reg_covar,
                min_stability=self.min_stability,
                stability_rows=STABILITY_ROWS,
                stability_pairs=STABILITY_PAIRS,
                # Sixteen candidates (two covariance types): half the restarts each.
                n_init=max(1, self.n_init // 2),
                max_iter=self.max_iter,
                rng=rng,
            )
            candidates = [
                Candidate(
                    c.k,
                    c.smallest_share,
                    bic=c.bic,
                    covariance_type=c.covariance_type,
                    stability=c.stability,
                    rejected=c.k > 1 and c.smallest_share < 0.75 * self.min_share,
                    reason=(
                        REASON_MIN_SHARE.format(share=f"{self.min_share:.0%}")
                        if c.k > 1 and c.smallest_share < 0.75 * self.min_share
                        else None
                    ),
                )
                for c in tried
            ]
            reason = "; ".join([head, *notes]) + "."
            if chosen is None:
                k = 1
                centers = data.mean(axis=0, keepdims=True)
                labels = np.zeros(n_samples, dtype=np.intp)
                n_iter = 1
            else:
                k = int(chosen.n_components)
                soft = SoftModel.from_gaussian_mixture(chosen)
                labels = soft.predict(data)
                centers = soft.means
                n_iter = int(chosen.n_iter_)

        if soft is None:
            covariance = np.atleast_2d(np.cov(data, rowvar=False)) if n_samples > 1 else None
            d = data.shape[1]
            if covariance is None or not np.all(np.isfinite(covariance)):
                covariance = np.eye(d)
            soft = SoftModel(
                weights=np.ones(1),
                means=np.asarray(centers, dtype=np.float64).reshape(1, d),
                covariances=(covariance + np.eye(d) * 1e-6).reshape(1, d, d),
            )

        # Number segments by size, largest first, so runs read alike before matching.
        counts = np.bincount(labels, minlength=k)
        order = np.argsort(-counts, kind="stable")
        relabel = np.empty(k, dtype=np.intp)
        relabel[order] = np.arange(k)
        self.soft_model_ = soft.reorder(order)
        self.candidates_: list[Candidate] = candidates
        self.n_clusters_ = int(k)
        self.cluster_centers_: FloatArray = np.asarray(centers, dtype=np.float64)[order]
        self.labels_: IntArray = relabel[labels]
        self.choice_reason_ = reason
        self.n_iter_ = max(n_iter, 1)
        return self

    def predict_proba(self, X: ArrayLike) -> FloatArray:
        """Return each row's probability of each segment.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows in the space the segmenter was fitted in.

        Returns
        -------
        probabilities : ndarray of shape (n_samples, n_clusters_)
            Rows sum to 1; column j is segment j.
        """
        check_is_fitted(self)
        data: FloatArray = validate_data(self, X, dtype=np.float64, reset=False)
        return self.soft_model_.predict_proba(data)

    def predict(self, X: ArrayLike) -> IntArray:
        """Assign each row to its most probable segment.

        KMeans segments assign to the nearest centre (the most probable under their
        equal-weight mixture); mixtures by their own densities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows in the space the segmenter was fitted in.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Segment number of each row.
        """
        check_is_fitted(self)
        data: FloatArray = validate_data(self, X, dtype=np.float64, reset=False)
        if self.method == "kmeans":
            return np.asarray(
                pairwise_distances_argmin(data, self.cluster_centers_), dtype=np.intp
            )
        return self.soft_model_.predict(data)


def default_segmenter(random_state: int | np.random.RandomState | None = None) -> Segmenter:
    """Return the segmenter a questionnaire without a ``segmentation`` key gets."""
    return Segmenter(random_state=random_state)
