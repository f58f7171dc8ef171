"""Uploads: names, values the database cannot hold, and every problem of a file at once."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers.auth import auth
from tests.helpers.hostile_cases import QUESTIONNAIRE


async def test_a_long_or_unprintable_filename_is_refused(api: TestClient[Any, Any]) -> None:
    long = await api.post(
        "/api/questionnaires", params={"filename": "f" * 600 + ".yaml"},
        data=QUESTIONNAIRE, headers=auth("marketer"),
    )  # fmt: skip
    assert long.status == 400
    assert "filename is 605 characters; at most 255" in (await long.json())["error"]
    control = await api.post(
        "/api/questionnaires", params={"filename": "a\x1b[2J.yaml"},
        data=QUESTIONNAIRE, headers=auth("marketer"),
    )  # fmt: skip
    assert control.status == 400
    assert "control character" in (await control.json())["error"]
    listing = await api.get("/api/questionnaires", headers=auth("analyst"))
    assert await listing.json() == []


async def test_a_respondent_id_longer_than_its_column_is_refused_with_its_line(
    api: TestClient[Any, Any],
) -> None:
    assert (await api.post("/api/questionnaires", data=QUESTIONNAIRE, headers=auth("ops"))).ok
    csv_text = "respondent,q1\nr1,3\n" + "r" * 200 + ",4\n"
    response = await api.post(
        "/api/questionnaires/hostile/responses", data=csv_text, headers=auth("marketer")
    )
    assert response.status == 400
    problems = (await response.json())["details"]["problems"]
    assert problems == ["line 3, column respondent: the id is 200 characters; at most 128 fit"]
    exported = await api.get("/api/questionnaires/hostile/responses.csv", headers=auth("analyst"))
    assert len((await exported.text()).strip().splitlines()) == 1  # nothing was imported


async def test_every_problem_of_a_file_is_listed_beside_its_line(
    api: TestClient[Any, Any],
) -> None:
    text = (
        QUESTIONNAIRE.replace("text: I like tests.", "text: I like tests.\n        txet: typo")
        .replace("items: [{question: q1}]", "items: [{question: q9}]")
        .replace("{up_to: 100, label: high", "{up_to: 100, label: low")
        .replace("{id: b, text: B}", "{id: a, text: B}")
    )
    response = await api.post(
        "/api/questionnaires?filename=four.yaml", data=text, headers=auth("marketer")
    )
    assert response.status == 400
    problems = (await response.json())["details"]["problems"]
    found = {(p["line"], p["path"]): p["message"] for p in problems}
    assert "txet" in text.splitlines()[8]
    assert "unknown key 'txet'" in found[(9, "sections[0].questions[0].txet")]
    assert "duplicate option id 'a'" in found[(15, "sections[0].questions[1].options[1].id")]
    assert "unknown question 'q9'" in found[(21, "dimensions[0].items[0].question")]
    assert "duplicate band label 'low'" in found[(24, "dimensions[0].bands[1].label")]
    assert len(problems) == 4


async def test_a_missing_brace_is_reported_on_the_line_to_change(
    api: TestClient[Any, Any],
) -> None:
    text = QUESTIONNAIRE.replace("- {id: a, text: A}", "- {id: a, text: A")
    response = await api.post(
        "/api/questionnaires?filename=brace.yaml", data=text, headers=auth("marketer")
    )
    [problem] = (await response.json())["details"]["problems"]
    assert problem["line"] == text.splitlines().index("          - {id: a, text: A") + 1
    assert "expected ',' or '}'" in problem["message"]
