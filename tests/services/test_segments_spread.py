"""A run stores each segment's size and spread: the dashboard's trend and confidence intervals."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from backend.services.segments import list_segments, recluster
from backend.storage.engine import session_scope
from backend.storage.segment_tables import SegmentationRun
from tests.helpers.seed import DIMENSIONS, KEY, seed


def test_a_run_stores_sizes_and_each_segments_spread_on_the_scale(
    sqlite_engine: Engine,
) -> None:
    seed(sqlite_engine, 150, seed=4)
    report = recluster(engine=sqlite_engine, questionnaire_key=KEY, random_state=0)
    with session_scope(sqlite_engine) as session:
        run = session.get(SegmentationRun, report.run_id)
        assert run is not None
        metrics = dict(run.metrics)
        segments = list_segments(session=session, questionnaire_key=KEY)
    sizes = metrics["sizes"]
    assert sum(sizes.values()) == report.n_respondents
    for segment in segments:
        assert sizes[str(segment.id)] == segment.size
        spread = metrics["spread"][str(segment.id)]
        for dimension in DIMENSIONS:
            mean, sd, n = spread[dimension]
            assert n == segment.size
            assert mean == pytest.approx(segment.centroid[dimension], abs=1e-6)
            assert 0 < sd < 2  # on the items' 1-5 scale
