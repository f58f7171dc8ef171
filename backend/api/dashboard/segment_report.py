"""What the segments page shows: profile cards, traits in words, runs and transitions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from backend.api.dashboard import charts, queries
from backend.api.dashboard.pages import duration
from backend.api.db import read_only
from backend.followups import segment_view, select_items
from backend.followups.outbox import packs_for
from backend.scoring import ScoringKey
from backend.services import questionnaires as qs
from backend.services import segments as ss
from backend.services.questionnaires import questionnaire_definition


@dataclass(frozen=True)
class Trait:
    """What sets a segment apart on one dimension, in words and on the scale."""

    label: str
    sentence: str
    z: float


@dataclass(frozen=True)
class SequenceStep:
    pack_key: str
    item_id: str
    send_after: str
    text: str
    delivered: int
    clicked: int

    @property
    def click_rate(self) -> float | None:
        return self.clicked / self.delivered if self.delivered else None


@dataclass(frozen=True)
class Card:
    segment: Any
    colour: str
    sizes: list[int]
    traits: list[Trait]
    sequence: list[SequenceStep]
    confidence: queries.Confidence | None


@dataclass(frozen=True)
class Transition:
    run_id: int
    previous_run_id: int | None
    #: (previous segment name, [count per new segment])
    rows: list[tuple[str, list[int]]]
    columns: list[str]
    stayed: int
    moved: int


@dataclass(frozen=True)
class SegmentsReport:
    title: str
    cards: list[Card]
    runs: list[Any]
    dimensions: list[str]
    labels: dict[str, str]
    ranges: dict[str, tuple[float, float]]
    #: segment id -> dimension -> (mean, low, high) of the 95% confidence interval
    intervals: dict[int, dict[str, tuple[float, float, float]]]
    overall: dict[str, float]
    transitions: list[Transition]
    #: False while a first count of the outbox runs: the cards show no results yet.
    followups_counted: bool

    @property
    def segments(self) -> list[Any]:
        return [card.segment for card in self.cards]


def _scale(value: float) -> str:
    return f"{value:.1f}"


def _trait_sentence(
    label: str, mean: float, overall: float, z: float, scale: tuple[float, float]
) -> str:
    strength = "much " if abs(z) >= 1.0 else "" if abs(z) >= 0.5 else "slightly "
    side = "higher" if mean >= overall else "lower"
    low, high = scale
    return (
        f"{strength.capitalize() if strength else ''}{side if strength else side.capitalize()} "
        f"{label} than average: {_scale(mean)} vs {_scale(overall)} on the "
        f"{_scale(low).removesuffix('.0')}–{_scale(high).removesuffix('.0')} scale"
    )


def _interval(spread: Any) -> tuple[float, float, float] | None:
    if not isinstance(spread, list) or len(spread) != 3:
        return None
    mean, sd, n = (float(v) for v in spread)
    half = 1.96 * sd / math.sqrt(n) if n > 1 else 0.0
    return (mean, mean - half, mean + half)


def segments_report(engine: Engine, key: str) -> SegmentsReport:
    """Read everything the segments page of ``key`` shows (on the reader ``engine``)."""
    with read_only(engine) as session:
        questionnaire = qs.get_questionnaire(key, session=session)
        assert questionnaire.id is not None
        definition = qs.definition_of(qs.current_version(key, session=session))
        segments = ss.list_segments(session=session, questionnaire_key=key)
        every = ss.list_segments(session=session, questionnaire_key=key, include_retired=True)
        runs = ss.runs(session=session, questionnaire_key=key, limit=10)
        confidence = queries.membership_confidence(questionnaire.id, session=session)
        loaded = packs_for(session=session, questionnaire_key=key)
        rows = {r.id: r for r in queries.segment_rows(questionnaire.id, session=session)}
        content_definition = questionnaire_definition(key, session=session)
    counted = queries.cached_followup_counts(engine)
    counts = counted or []
    labels = {d.id: definition.text(d.label) for d in definition.dimensions}
    dimensions = [d for d in definition.segmentation_dimensions() if d in labels] or list(labels)
    scoring = ScoringKey.from_definition(definition)
    ranges = dict(zip(scoring.dimensions, scoring.ranges, strict=True))
    total = sum(s.size for s in segments) or 1
    overall = {
        d: sum(s.centroid.get(d, 0.0) * s.size for s in segments) / total
        for d in dimensions
        if all(d in s.centroid for s in segments)
    }
    latest = next((r for r in runs if r.status.value == "succeeded"), None)
    spread = latest.metrics.get("spread", {}) if latest is not None else {}
    intervals: dict[int, dict[str, tuple[float, float, float]]] = {}
    for segment in segments:
        mine = spread.get(str(segment.id), {}) if isinstance(spread, dict) else {}
        intervals[segment.id] = {}
        for d in dimensions:
            point = _interval(mine.get(d))
            if point is None and d in segment.centroid:
                mean = float(segment.centroid[d])
                point = (mean, mean, mean)
            if point is not None:
                intervals[segment.id][d] = point
    cards = []
    for index, segment in enumerate(segments):
        sizes = [
            int(run.metrics["sizes"][str(segment.id)])
            for run in reversed(runs)
            if isinstance(run.metrics.get("sizes"), dict)
            and str(segment.id) in run.metrics["sizes"]
        ]
        traits = []
        for t in segment.traits[:3]:
            dim = str(t.get("dimension", ""))
            if dim not in segment.centroid or dim not in overall or dim not in ranges:
                continue
            label = labels.get(dim, str(t.get("label") or dim))
            z = float(t.get("z", 0.0))
            traits.append(
                Trait(
                    label,
                    _trait_sentence(
                        label, float(segment.centroid[dim]), overall[dim], z, ranges[dim]
                    ),
                    z,
                )
            )
        results = {(c.pack_key, c.item_id): c for c in counts if c.segment_key == str(segment.id)}
        sequence = []
        if segment.id in rows:
            view = segment_view(rows[segment.id], content_definition)
            for pack in loaded:
                for planned in select_items(pack.definition, pack.rules, view):
                    c = results.get((pack.key, planned.item.id))
                    item = planned.item
                    text = item.text or (item.variants[0].text if item.variants else "")
                    sequence.append(
                        SequenceStep(
                            pack.key,
                            item.id,
                            duration(planned.send_after),
                            text,
                            c.delivered if c else 0,
                            c.clicked if c else 0,
                        )
                    )
        cards.append(
            Card(
                segment,
                charts.colour(index),
                sizes or [segment.size],
                traits,
                sequence,
                confidence.get(segment.id) if confidence else None,
            )
        )
    names = {s.id: s.name for s in every}
    transitions = []
    for run in runs:
        table = run.metrics.get("transitions")
        if not isinstance(table, dict) or not table.get("previous_segments"):
            continue
        previous, new = table["previous_segments"], table["new_segments"]
        matrix = table["counts"]
        stayed = sum(
            matrix[i][j]
            for i, p in enumerate(previous)
            for j, n in enumerate(new)
            if p == n and i < len(matrix) and j < len(matrix[i])
        )
        moved = sum(sum(row) for row in matrix) - stayed
        transitions.append(
            Transition(
                run.id,
                run.metrics.get("previous_run_id"),
                [(names.get(p, f"segment {p}"), list(matrix[i])) for i, p in enumerate(previous)],
                [names.get(n, f"segment {n}") for n in new],
                stayed,
                moved,
            )
        )
    return SegmentsReport(
        definition.text(definition.title),
        cards,
        runs,
        dimensions,
        labels,
        {d: ranges[d] for d in dimensions if d in ranges},
        intervals,
        overall,
        transitions,
        counted is not None,
    )
