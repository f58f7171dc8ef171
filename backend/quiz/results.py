"""The respondent's profile at the end: each dimension as a bar with its interpretation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from backend.questionnaire.schema import Dimension, QuestionnaireDefinition

BAR_WIDTH = 10


@dataclass(frozen=True, slots=True)
class DimensionResult:
    key: str
    label: str
    score_100: float | None
    band: str | None
    interpretation: str

    @property
    def bar(self) -> str:
        """A text bar such as ``▰▰▰▰▰▰▱▱▱▱``; blank when the score is missing."""
        if self.score_100 is None:
            return "▱" * BAR_WIDTH
        filled = round(self.score_100 / 100 * BAR_WIDTH)
        return "▰" * filled + "▱" * (BAR_WIDTH - filled)


def band_of(dimension: Dimension, score_100: float) -> int | None:
    """Return the index of the band ``score_100`` falls in (bands are "up to" inclusive)."""
    for index, band in enumerate(dimension.bands):
        if score_100 <= band.up_to + 1e-9:
            return index
    return len(dimension.bands) - 1 if dimension.bands else None


def profile(
    definition: QuestionnaireDefinition,
    scores_100: Mapping[str, float | None],
    language: str | None = None,
) -> list[DimensionResult]:
    """Describe each dimension's score in the respondent's language."""
    results = []
    for dim in definition.dimensions:
        score = scores_100.get(dim.id)
        band_index = None if score is None else band_of(dim, score)
        band = dim.bands[band_index] if band_index is not None else None
        if score is None:
            text = "Not enough answers to score this."
        else:
            text = definition.text(band.text, language) if band else ""
        results.append(
            DimensionResult(
                key=dim.id,
                label=definition.text(dim.label, language),
                score_100=score,
                band=band.label if band else None,
                interpretation=text,
            )
        )
    return results
