"""The responses export names each respondent's current segment."""

from __future__ import annotations

from sqlalchemy import Engine
from test_segments_data import seed_respondents

from backend.services.responses import export_responses
from backend.services.segments import list_segments, recluster
from backend.storage.engine import session_scope


def test_export_carries_scores_and_the_current_segment(engine: Engine) -> None:
    seed_respondents(engine, 240, seed=3)
    report = recluster(engine, "lifestyle", random_state=0)
    with session_scope(engine) as session:
        header, rows = export_responses("lifestyle", session=session)
        names = {s.name for s in list_segments("lifestyle", session=session)}
    assert header[-1] == "segment"
    assert len(rows) == 240
    assert {row[-1] for row in rows} == names
    assert len(names) == report.k
