"""Which items a segment gets, and which variant a respondent sees. Pure."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from backend.followups.rules import Rule
from backend.followups.schema import ContentPackDefinition, Item, Variant


@dataclass(frozen=True, slots=True)
class TraitView:
    """A dimension on which the segment stands out (as the segmentation describes it)."""

    dimension: str
    direction: str = "high"
    adjective: str = ""
    label: str = ""
    z: float = 0.0


@dataclass(frozen=True, slots=True)
class SegmentView:
    """The targeting input: one segment's profile, independent of how segments are stored.

    Attributes
    ----------
    id : str
        The segment's stable id (kept across re-clustering).
    name, description : str
        As the marketer (or the automatic naming) left them.
    z_scores : dict of str to float
        Segment mean per dimension in standard deviations from all respondents' mean.
    scores : dict of str to float
        Segment mean per dimension on the 0-100 scale.
    bands : dict of str to str
        The questionnaire's band label (``low``, ``average``, ``high``) of each mean score.
    traits : tuple of TraitView
        The dimensions that most set the segment apart, strongest first.
    """

    id: str
    name: str
    description: str = ""
    z_scores: Mapping[str, float] = field(default_factory=dict)
    scores: Mapping[str, float] = field(default_factory=dict)
    bands: Mapping[str, str] = field(default_factory=dict)
    traits: tuple[TraitView, ...] = ()


@dataclass(frozen=True, slots=True)
class PlannedItem:
    """An item due to a segment: when (after assignment) and until when."""

    item: Item
    send_after: timedelta
    expires_after: timedelta


def _explicitly_chosen(item: Item, segment: SegmentView) -> bool:
    chosen = item.target.segments or []
    return any(str(choice) in (segment.id, segment.name) for choice in chosen)


def confident_enough(item: Item, pack: ContentPackDefinition, confidence: float | None) -> bool:
    """Whether a member this sure of their segment may get a targeted ``item``.

    The item's ``min_confidence`` wins over the pack's; without either, everyone may. An
    unknown confidence (an assignment made before soft membership) meets no minimum.
    """
    required = item.min_confidence if item.min_confidence is not None else pack.min_confidence
    if required is None:
        return True
    return confidence is not None and confidence >= required


def select_items(
    pack: ContentPackDefinition,
    rules: Mapping[str, Rule],
    segment: SegmentView,
    *,
    confidence: float | None = 1.0,
) -> list[PlannedItem]:
    """Return the sequence of items for a member of ``segment``, ordered by when they fall due.

    An item is for the segment when its rule holds on the profile or the marketer listed the
    segment by id or name, and the member's ``confidence`` (their probability of this
    segment) meets the item's or the pack's ``min_confidence``; when no item is, the default
    items are the sequence.
    """
    high, low = pack.levels.high, pack.levels.low
    matched: list[Item] = []
    for item in pack.items:
        if item.target.default:
            continue
        chosen = item.target.segments is not None and _explicitly_chosen(item, segment)
        if not (chosen or (item.id in rules and rules[item.id].holds(segment, high, low))):
            continue
        if confident_enough(item, pack, confidence):
            matched.append(item)
    if not matched:
        matched = [item for item in pack.items if item.target.default]
    planned = [
        PlannedItem(item, item.send_after, item.expires_after or pack.expires_after)
        for item in matched
    ]
    return sorted(planned, key=lambda p: (p.send_after, pack.items.index(p.item)))


def choose_variant(item: Item, respondent_id: int) -> Variant | None:
    """Pick a variant by weight, the same one every time for the same respondent and item."""
    if not item.variants:
        return None
    digest = hashlib.sha256(f"{item.id}:{respondent_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * sum(v.weight for v in item.variants)
    for variant in item.variants:
        point -= variant.weight
        if point < 0:
            return variant
    return item.variants[-1]


def variant_texts(item: Item) -> Sequence[tuple[str | None, str]]:
    """Return (variant id, template) of every wording of ``item``."""
    if item.variants:
        return [(v.id, v.text) for v in item.variants]
    return [(None, item.text or "")]
