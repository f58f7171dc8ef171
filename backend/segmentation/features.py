"""Feature matrix: respondents' dimension scores, cleaned and standardised for clustering."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from backend.segmentation.errors import SegmentationError

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

DEFAULT_MAX_MISSING_FRACTION = 1 / 3


@dataclass(frozen=True)
class ChoiceAnswers:
    """One choice question's answers as indicator columns (one-hot or multi-hot).

    Parameters
    ----------
    name : str
        The question key; feature columns are named ``"<name>=<option>"``.
    options : tuple of str
        Option keys, one per column of ``values``.
    values : ndarray of shape (n_respondents, n_options)
        1 where the respondent picked the option, 0 where not; a row of NaN means the question
        was not answered (imputed with each option's share).
    """

    name: str
    options: tuple[str, ...]
    values: FloatArray

    @classmethod
    def one_hot(cls, name: str, options: Sequence[str], codes: ArrayLike) -> ChoiceAnswers:
        """Build single-choice answers from option indices (-1 for not answered)."""
        idx = np.asarray(codes, dtype=np.int64).ravel()
        if idx.size and (idx.max(initial=-1) >= len(options) or idx.min(initial=0) < -1):
            raise SegmentationError(
                f"Choice question {name!r}: option codes must lie in -1..{len(options) - 1}."
            )
        values = np.zeros((idx.size, len(options)), dtype=np.float64)
        answered = idx >= 0
        values[np.flatnonzero(answered), idx[answered]] = 1.0
        values[~answered] = np.nan
        return cls(name=name, options=tuple(options), values=values)


@dataclass(frozen=True)
class Standardiser:
    """Map between item units and the standardised space the clustering works in.

    Score columns become z-scores ``(x - mean) / scale``. Choice indicator columns have
    ``mean = 0`` and ``scale = sqrt(2) / weight``, so a centroid's choice column maps back to
    the share of the segment that picked the option.
    """

    columns: tuple[str, ...]
    mean: FloatArray
    scale: FloatArray

    def transform(self, values: ArrayLike) -> FloatArray:
        """Standardise rows in item units; a missing value (NaN) becomes the column mean."""
        arr = np.asarray(values, dtype=np.float64)
        single = arr.ndim == 1
        arr = np.atleast_2d(arr)
        if arr.shape[1] != len(self.columns):
            raise SegmentationError(
                f"Expected {len(self.columns)} columns ({', '.join(self.columns)}), "
                f"got {arr.shape[1]}."
            )
        z = (arr - self.mean) / self.scale
        # A missing value is imputed with the mean, which is 0 once standardised.
        np.nan_to_num(z, copy=False, nan=0.0)
        return z[0] if single else z

    def inverse_transform(self, z: ArrayLike) -> FloatArray:
        """Map standardised rows (e.g. centroids) back to item units."""
        arr = np.asarray(z, dtype=np.float64)
        return arr * self.scale + self.mean

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form, for storing with a run."""
        return {
            "columns": list(self.columns),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Standardiser:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            columns=tuple(data["columns"]),
            mean=np.asarray(data["mean"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
        )


@dataclass(frozen=True)
class FeatureMatrix:
    """The clustering input and what it took to build it.

    Attributes
    ----------
    values : ndarray of shape (n_kept, n_columns)
        Standardised features of the respondents kept, in ``columns`` order.
    columns : tuple of str
        Score dimensions first (``dimensions``), then choice indicator columns.
    dimensions : tuple of str
        The score dimensions used.
    kept : ndarray of bool, shape (n_respondents,)
        Which input rows are in ``values``.
    n_excluded : int
        Respondents left out for missing too many dimensions.
    n_imputed : int
        Score cells (among kept respondents) that were missing and set to the column mean.
    standardiser : Standardiser
        Maps item units to ``values``' space and back.
    """

    values: FloatArray
    columns: tuple[str, ...]
    dimensions: tuple[str, ...]
    kept: BoolArray
    n_excluded: int
    n_imputed: int
    standardiser: Standardiser

    @property
    def n_kept(self) -> int:
        """Respondents in the matrix."""
        return int(self.values.shape[0])


def build_features(
    scores: ArrayLike,
    dimensions: Sequence[str],
    *,
    use: Sequence[str] | None = None,
    max_missing_fraction: float = DEFAULT_MAX_MISSING_FRACTION,
    choices: Sequence[ChoiceAnswers] = (),
    choice_weight: float = 1.0,
) -> FeatureMatrix:
    """Build the standardised feature matrix from per-respondent dimension scores.

    Parameters
    ----------
    scores : array-like of shape (n_respondents, n_dimensions)
        Dimension scores in item units; NaN where a dimension could not be scored.
    dimensions : sequence of str
        Names of the columns of ``scores``.
    use : sequence of str, optional
        The dimensions to cluster on (the questionnaire's segmentation settings); all when
        omitted.
    max_missing_fraction : float, default 1/3
        A respondent missing more than this fraction of the used dimensions is left out
        (counted in ``n_excluded``); remaining gaps are imputed with the column mean.
    choices : sequence of ChoiceAnswers
        Choice questions to add as indicator columns.
    choice_weight : float, default 1.0
        How much a choice question counts: two respondents who picked different single options
        end up ``choice_weight`` standard deviations apart, as if they differed by that much on
        one dimension.

    Returns
    -------
    FeatureMatrix

    Raises
    ------
    SegmentationError
        Unknown dimensions, mismatched shapes, or no respondent left to cluster.
    """
    data = np.asarray(scores, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] != len(dimensions):
        raise SegmentationError(
            f"Scores must be a table with one column per dimension ({len(dimensions)}); "
            f"got shape {data.shape}."
        )
    if not 0.0 <= max_missing_fraction < 1.0:
        raise SegmentationError(
            f"max_missing_fraction must be in [0, 1); got {max_missing_fraction}."
        )
    if not (choice_weight > 0 and math.isfinite(choice_weight)):
        raise SegmentationError(f"choice_weight must be a positive number; got {choice_weight}.")
    selected = tuple(dimensions) if use is None else tuple(use)
    unknown = [name for name in selected if name not in dimensions]
    if unknown:
        raise SegmentationError(
            f"Unknown dimension(s) {', '.join(map(repr, unknown))}; "
            f"the scores have {', '.join(map(repr, dimensions))}."
        )
    if not selected:
        raise SegmentationError("No dimensions selected for segmentation.")
    positions = [list(dimensions).index(name) for name in selected]
    picked = data[:, positions] if positions != list(range(data.shape[1])) else data.copy()

    missing = np.isnan(picked)
    n_missing = missing.sum(axis=1)
    # Compare counts, not fractions, so "more than a third of 3" is exact.
    kept = n_missing <= math.floor(max_missing_fraction * len(selected) + 1e-9)
    n_kept = int(kept.sum())
    if n_kept == 0:
        raise SegmentationError(
            f"No respondent has enough dimensions scored: all {data.shape[0]} miss more than "
            f"{max_missing_fraction:.0%} of {', '.join(selected)}."
        )
    values = picked[kept]
    observed = (~missing[kept]).sum(axis=0)
    empty = [name for name, count in zip(selected, observed, strict=True) if count == 0]
    if empty:
        raise SegmentationError(
            f"Dimension(s) {', '.join(map(repr, empty))} have no scores at all; "
            "remove them from the segmentation settings."
        )
    mean = np.nansum(values, axis=0) / observed
    scale = np.sqrt(np.nansum((values - mean) ** 2, axis=0) / observed)
    # A constant dimension carries no information; scale 1 keeps it at 0 instead of NaN.
    scale[scale < 1e-12] = 1.0
    values -= mean
    values /= scale
    n_imputed = int(np.isnan(values).sum())
    np.nan_to_num(values, copy=False, nan=0.0)

    columns = list(selected)
    means = [mean]
    scales = [scale]
    blocks = [values]
    for choice in choices:
        block = np.asarray(choice.values, dtype=np.float64)
        if block.shape != (data.shape[0], len(choice.options)):
            raise SegmentationError(
                f"Choice question {choice.name!r}: expected shape "
                f"({data.shape[0]}, {len(choice.options)}), got {block.shape}."
            )
        block = block[kept]
        answered = (~np.isnan(block)).sum(axis=0)
        # An option nobody answered gets share 0 (np.nanmean would warn on the empty column).
        share = np.divide(
            np.nansum(block, axis=0),
            answered,
            out=np.zeros(block.shape[1]),
            where=answered > 0,
        )
        block = np.where(np.isnan(block), share, block)
        col_scale = np.full(len(choice.options), math.sqrt(2) / choice_weight)
        blocks.append(block / col_scale)
        means.append(np.zeros(len(choice.options)))
        scales.append(col_scale)
        columns.extend(f"{choice.name}={option}" for option in choice.options)

    matrix = np.hstack(blocks) if len(blocks) > 1 else values
    standardiser = Standardiser(
        columns=tuple(columns), mean=np.concatenate(means), scale=np.concatenate(scales)
    )
    return FeatureMatrix(
        values=matrix,
        columns=tuple(columns),
        dimensions=selected,
        kept=kept,
        n_excluded=int(data.shape[0] - n_kept),
        n_imputed=n_imputed,
        standardiser=standardiser,
    )
