"""Segmentation core: features, model selection, stable ids, profiles and names.

Pure code: numpy arrays in, dataclasses and a scikit-learn estimator out; storage and the
scheduler call it. A run goes :func:`build_features` -> :class:`Segmenter` ->
:func:`match_segments` -> :func:`sticky_assign` -> :func:`compare_runs` ->
:func:`describe_segments`.
"""

from backend.segmentation.errors import SegmentationError
from backend.segmentation.features import (
    ChoiceAnswers,
    FeatureMatrix,
    Standardiser,
    build_features,
)
from backend.segmentation.matching import SegmentMatch, match_segments
from backend.segmentation.naming import Trait
from backend.segmentation.poles import POLES, pole_adjectives
from backend.segmentation.profiles import SegmentProfile, describe_segments, segment_means
from backend.segmentation.segmenter import Segmenter, default_segmenter
from backend.segmentation.selection import Candidate
from backend.segmentation.stability import (
    RunComparison,
    compare_runs,
    nearest_segment,
    sticky_assign,
)

__all__ = [
    "POLES",
    "Candidate",
    "ChoiceAnswers",
    "FeatureMatrix",
    "RunComparison",
    "SegmentMatch",
    "SegmentProfile",
    "SegmentationError",
    "Segmenter",
    "Standardiser",
    "Trait",
    "build_features",
    "compare_runs",
    "default_segmenter",
    "describe_segments",
    "match_segments",
    "nearest_segment",
    "pole_adjectives",
    "segment_means",
    "sticky_assign",
]
