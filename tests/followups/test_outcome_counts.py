"""A dispatch pass sums the outcome counts of its batches, every kind of outcome included."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from backend.followups import DispatchReport
from backend.followups.outbox import OutcomeCounts, OutcomeReport


def test_a_pass_adds_every_outcome_count_of_a_batch() -> None:
    names = [f.name for f in dataclasses.fields(OutcomeCounts)]
    batch = OutcomeReport(
        **{name: index + 1 for index, name in enumerate(names)},
        retry_at={7: datetime(2026, 1, 1, tzinfo=UTC)},
    )
    report = DispatchReport(requests=3, deferred=2, sent=10)
    report.add(batch)
    report.add(batch)
    expected = {name: 2 * (index + 1) for index, name in enumerate(names)}
    expected["sent"] += 10
    assert {name: getattr(report, name) for name in names} == expected
    assert (report.requests, report.deferred) == (3, 2)
