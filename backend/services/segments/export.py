"""CSV export of a questionnaire's assignments: respondent -> segment, scores, probabilities."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from backend.services.questionnaires import current_version, definition_of, get_questionnaire
from backend.services.responses import neutralise_row
from backend.services.segments.vectors import read_export_rows
from backend.storage.engine import session_scope
from backend.storage.segment_tables import Segment, SegmentStatus


def export_assignments(*, engine: Engine, questionnaire_key: str) -> Iterator[list[Any]]:
    """Yield CSV rows: a header, then respondent -> segment with the latest dimension scores.

    Streams from a raw cursor, so exporting a million respondents needs little memory.
    """
    with session_scope(engine) as session:
        questionnaire = get_questionnaire(questionnaire_key, session=session)
        definition = definition_of(current_version(questionnaire_key, session=session))
        active = [
            int(sid or 0)
            for sid in session.exec(
                select(Segment.id)
                .where(
                    Segment.questionnaire_id == questionnaire.id,
                    Segment.status == SegmentStatus.ACTIVE,
                )
                .order_by(col(Segment.id))
            ).all()
        ]
    assert questionnaire.id is not None
    dims = [d.id for d in definition.dimensions]
    yield [
        "respondent_id",
        "telegram_user_id",
        "external_id",
        "segment_id",
        "segment",
        "assigned_at",
        *dims,
        "confidence",
        *(f"p_segment_{sid}" for sid in active),
    ]
    rows = read_export_rows(engine=engine, questionnaire_id=questionnaire.id)
    for rid, tg, ext, sid, name, assigned, confidence, probs, scores in rows:
        parsed = json.loads(scores) if isinstance(scores, str) else (scores or {})
        soft = json.loads(probs) if isinstance(probs, str) else (probs or {})
        when = assigned.isoformat() if isinstance(assigned, datetime) else assigned
        yield [
            rid,
            tg if tg is not None else "",
            ext or "",
            sid,
            name,
            when,
            *("" if parsed.get(d) is None else parsed[d] for d in dims),
            "" if confidence is None else confidence,
            *(soft.get(str(s), "") for s in active),
        ]


def write_export_csv(
    *, engine: Engine, questionnaire_key: str, out: io.TextIOBase | Any, raw: bool = False
) -> int:
    """Write :func:`export_assignments` as CSV to ``out``; return the number of respondents.

    Cells a spreadsheet would run as formulas are neutralised unless ``raw``.
    """
    writer = csv.writer(out)
    count = -1
    for row in export_assignments(engine=engine, questionnaire_key=questionnaire_key):
        writer.writerow(row if raw else neutralise_row(row))
        count += 1
    return max(count, 0)
