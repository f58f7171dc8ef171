"""Targeting by confidence: `min_confidence` on an item or a pack."""

from __future__ import annotations

import pytest

from backend.followups import SegmentView, load_content, select_items
from backend.questionnaire import DefinitionError

PACK = """
id: confident
questionnaire: big5
title: Confidence
min_confidence: 0.7
items:
  - id: open_deep
    target: {rule: {openness: high}}
    min_confidence: 0.9
    text: Deep dive.
  - id: open_light
    target: {rule: {openness: high}}
    text: Light touch.
  - id: fallback
    target: {default: true}
    text: For everyone else.
"""

OPEN = SegmentView(id="1", name="Curious", z_scores={"openness": 1.2})


def planned(confidence: float | None) -> list[str]:
    pack = load_content(PACK, dimensions=["openness"])
    return [
        p.item.id for p in select_items(pack.definition, pack.rules, OPEN, confidence=confidence)
    ]


def test_item_minimum_overrides_the_packs_and_uncertain_members_get_the_default() -> None:
    assert planned(0.95) == ["open_deep", "open_light"]
    assert planned(0.8) == ["open_light"]  # the pack's 0.7 applies to open_light
    assert planned(0.6) == ["fallback"]
    # Unknown confidence (an assignment older than soft membership) meets no minimum.
    assert planned(None) == ["fallback"]


def test_min_confidence_must_lie_between_zero_and_one() -> None:
    with pytest.raises(DefinitionError, match="min_confidence"):
        load_content(PACK.replace("min_confidence: 0.9", "min_confidence: 1.5"))
