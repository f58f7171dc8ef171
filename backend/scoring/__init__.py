"""Scoring: item answers -> dimension scores, and reliability. Pure and vectorised."""

from backend.scoring.keys import KeyedColumn, ScoringKey
from backend.scoring.reliability import (
    WEAK_ALPHA,
    DimensionReliability,
    ItemStatistic,
    corrected_item_total,
    cronbach_alpha,
    reliability,
)
from backend.scoring.scores import DimensionScores, score_answers, score_matrix

__all__ = [
    "WEAK_ALPHA",
    "DimensionReliability",
    "DimensionScores",
    "ItemStatistic",
    "KeyedColumn",
    "ScoringKey",
    "corrected_item_total",
    "cronbach_alpha",
    "reliability",
    "score_answers",
    "score_matrix",
]
