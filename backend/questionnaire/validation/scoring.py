"""Scoring and segmentation: dimension items, weights, bands and clustering settings."""

from __future__ import annotations

from backend.questionnaire import schema as s
from backend.questionnaire.errors import Path
from backend.questionnaire.validation.checker import Checker


class ScoringChecker:
    """Each dimension scores known, scorable questions; bands and segmentation are in range."""

    def __init__(self, checker: Checker) -> None:
        self.c = checker
        self.d = checker.d

    def check_dimensions(self) -> None:
        for di, dim in enumerate(self.d.dimensions):
            dpath: Path = ("dimensions", di)
            if not dim.items:
                self.c.add((*dpath, "items"), f"dimension {dim.id!r} has no items")
            points: set[int] = set()
            seen: set[str] = set()
            for ii, item in enumerate(dim.items):
                ipath: Path = (*dpath, "items", ii)
                q = self.c.questions.get(item.question)
                if item.question in seen:
                    self.c.add((*ipath, "question"), f"{item.question!r} is listed twice")
                seen.add(item.question)
                if q is None:
                    self.c.add(
                        (*ipath, "question"),
                        f"dimension {dim.id!r} refers to unknown question {item.question!r}",
                    )
                    continue
                if isinstance(q, s.LikertQuestion):
                    points.add(q.points)
                    if item.weights is not None:
                        self.c.add(
                            (*ipath, "weights"),
                            f"{q.id!r} is a Likert item: it is scored by its points "
                            "(use reverse: true to reverse it), not by weights",
                        )
                elif isinstance(q, s.ChoiceQuestionBase | s.YesNoQuestion):
                    options = (
                        [o.id for o in q.options]
                        if isinstance(q, s.ChoiceQuestionBase)
                        else list(s.YES_NO_OPTIONS)
                    )
                    if item.reverse:
                        self.c.add((*ipath, "reverse"), "reverse applies to Likert items only")
                    if not item.weights:
                        self.c.add(
                            ipath,
                            f"{q.id!r} is a {q.type} question: give weights for its options",
                        )
                    for option, weight in (item.weights or {}).items():
                        if option not in options:
                            self.c.add(
                                (*ipath, "weights", option),
                                f"{option!r} is not an option of {q.id!r} ({', '.join(options)})",
                            )
                        elif not 0 <= weight <= 1:
                            self.c.add(
                                (*ipath, "weights", option),
                                f"weight {weight:g} is outside 0..1",
                            )
                else:
                    self.c.add(
                        (*ipath, "question"),
                        f"{q.id!r} is a {q.type} question and cannot be scored",
                    )
            if len(points) > 1:
                shown = ", ".join(f"{p}-point" for p in sorted(points))
                self.c.add((*dpath, "items"), f"dimension {dim.id!r} mixes {shown} Likert items")
            self.check_bands(dim, dpath)

    def check_bands(self, dim: s.Dimension, dpath: Path) -> None:
        previous = 0.0
        labels: set[str] = set()
        for bi, band in enumerate(dim.bands):
            bpath: Path = (*dpath, "bands", bi)
            if band.label in labels:
                self.c.add((*bpath, "label"), f"duplicate band label {band.label!r}")
            labels.add(band.label)
            if not previous < band.up_to <= 100:
                self.c.add(
                    (*bpath, "up_to"),
                    f"up_to must rise above the previous band ({previous:g}) and stay "
                    f"within 100, got {band.up_to:g}",
                )
            previous = max(previous, band.up_to)
        if dim.bands and dim.bands[-1].up_to != 100:
            self.c.add(
                (*dpath, "bands", len(dim.bands) - 1, "up_to"),
                "the last band must reach 100 so every score has an interpretation",
            )

    def check_segmentation(self) -> None:
        seg = self.d.segmentation
        if seg is None:
            return
        known = {d.id for d in self.d.dimensions}
        listed: set[str] = set()
        for i, key in enumerate(seg.dimensions or []):
            if key not in known:
                self.c.add(("segmentation", "dimensions", i), f"unknown dimension {key!r}")
            elif key in listed:
                self.c.add(("segmentation", "dimensions", i), f"{key!r} is listed twice")
            listed.add(key)
        if not 2 <= seg.k_min <= seg.k_max <= 20:
            self.c.add(
                ("segmentation", "k_min"),
                f"need 2 <= k_min <= k_max <= 20, got k_min={seg.k_min}, k_max={seg.k_max}",
            )
        if not 0 < seg.min_share <= 0.5:
            self.c.add(("segmentation", "min_share"), "min_share must be above 0 and at most 0.5")
        elif seg.k_min * seg.min_share > 1:
            self.c.add(
                ("segmentation", "min_share"),
                f"{seg.k_min} segments of at least {seg.min_share:.0%} each cannot fit in 100%",
            )
        if not known:
            self.c.add(("segmentation",), "segmentation needs dimensions to cluster on")
