"""API contract: auth and roles on every route, questionnaires, responses, respondents."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from backend.api.views import routes
from tests.api.conftest import auth

ROOT = Path(__file__).resolve().parents[2]
BIG_FIVE = (ROOT / "questionnaires" / "big-five-ipip.yaml").read_text()
MOOD = """
id: mood
title: Mood
sections:
  - id: main
    questions:
      - {id: calm, type: likert, text: I feel calm}
      - {id: tense, type: likert, text: I feel tense}
      - id: sport
        type: multiple_choice
        text: Sports
        required: false
        min_selected: 0
        options: [{id: run, text: Run}, {id: swim, text: Swim}]
dimensions:
  - id: serenity
    label: Serenity
    items: [{question: calm}, {question: tense, reverse: true}]
"""
ALL_ROLES = ("ops", "marketer", "analyst")


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "1" if "id" in m.group(0) else "mood", path)


PROTECTED = [spec for spec in routes.specs if spec.roles is not None]


@pytest.mark.parametrize("spec", PROTECTED, ids=[f"{s.method} {s.path}" for s in PROTECTED])
async def test_every_route_refuses_a_missing_or_wrong_token(
    api: TestClient[Any, Any], spec: Any
) -> None:
    path = concrete(spec.path)
    for headers in ({}, {"Authorization": "Bearer nope-nope-nope"}, {"Authorization": "Basic x"}):
        response = await api.request(spec.method, path, headers=headers)
        assert response.status == 401, (spec.path, headers)
        assert "error" in await response.json()
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("spec", PROTECTED, ids=[f"{s.method} {s.path}" for s in PROTECTED])
async def test_each_role_is_held_to_its_routes(api: TestClient[Any, Any], spec: Any) -> None:
    path = concrete(spec.path)
    for role in ALL_ROLES:
        response = await api.request(spec.method, path, headers=auth(role), data=b"")
        if role in {r.value for r in spec.roles}:
            assert response.status not in {401, 403}, (role, spec.path)
        else:
            assert response.status == 403, (role, spec.path)
            assert f"the {role} role may not" in (await response.json())["error"]


async def test_health_is_public_and_readiness_checks_the_database(
    api: TestClient[Any, Any],
) -> None:
    assert (await api.get("/healthz")).status == 200
    ready = await api.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["checks"]["database"] == "ok"


async def test_upload_versions_and_reads(api: TestClient[Any, Any]) -> None:
    created = await api.post(
        "/api/questionnaires?filename=big-five.yaml", data=BIG_FIVE, headers=auth("marketer")
    )
    assert created.status == 201
    assert await created.json() == {"id": "big-five-ipip", "version": 1, "outcome": "created"}
    again = await api.post("/api/questionnaires", data=BIG_FIVE, headers=auth("marketer"))
    assert again.status == 200
    assert (await again.json())["outcome"] == "unchanged"
    changed = BIG_FIVE.replace("Am the life of the party.", "Am the life of every party.")
    newer = await api.post("/api/questionnaires", data=changed, headers=auth("ops"))
    assert (await newer.json())["version"] == 2
    listing = await (await api.get("/api/questionnaires", headers=auth("analyst"))).json()
    assert [(q["id"], q["version"], q["versions"]) for q in listing] == [("big-five-ipip", 2, 2)]
    detail = await (
        await api.get("/api/questionnaires/big-five-ipip", headers=auth("analyst"))
    ).json()
    assert detail["questions"] == 50
    assert {d["id"] for d in detail["dimensions"]} == {
        "extraversion",
        "agreeableness",
        "conscientiousness",
        "neuroticism",
        "openness",
    }
    archived = await api.post(
        "/api/questionnaires/big-five-ipip/archive", headers=auth("marketer")
    )
    assert (await archived.json())["status"] == "archived"
    missing = await api.get("/api/questionnaires/nope", headers=auth("analyst"))
    assert missing.status == 404
    assert "nope" in (await missing.json())["error"]


async def test_an_invalid_upload_lists_every_problem_with_its_line(
    api: TestClient[Any, Any],
) -> None:
    broken = MOOD.replace("{question: calm}", "{question: clam}").replace(
        "type: multiple_choice", "type: multiple_choise"
    )
    response = await api.post(
        "/api/questionnaires?filename=mood.yaml", data=broken, headers=auth("marketer")
    )
    assert response.status == 400
    body = await response.json()
    assert "mood.yaml" in body["error"]
    [problem] = body["details"]["problems"]
    assert problem["line"] == 10
    assert "multiple_choise" in problem["message"]
    listing = await (await api.get("/api/questionnaires", headers=auth("analyst"))).json()
    assert listing == []  # a rejected file stores nothing
    not_utf8 = await api.post("/api/questionnaires", data=b"\xff\xfe", headers=auth("ops"))
    assert not_utf8.status == 400
    json_broken = await api.post(
        "/api/questionnaires?filename=x.json", data='{"id": ', headers=auth("ops")
    )
    assert "JSON syntax error" in str(await json_broken.json())


async def test_bodies_over_the_limit_are_refused_with_413(api: TestClient[Any, Any]) -> None:
    response = await api.post(
        "/api/questionnaires", data=io.BytesIO(b"#" * (6 * 1024 * 1024)), headers=auth("ops")
    )
    assert response.status == 413
    assert "too large" in (await response.json())["error"]


async def test_responses_import_then_export_with_scores(api: TestClient[Any, Any]) -> None:
    await api.post("/api/questionnaires", data=MOOD, headers=auth("marketer"))
    csv_text = "respondent,calm,tense,sport\nr1,5,1,run;swim\nr2,1,5,\n"
    imported = await api.post(
        "/api/questionnaires/mood/responses", data=csv_text, headers=auth("marketer")
    )
    assert imported.status == 201
    assert await imported.json() == {"imported": 2}
    exported = await api.get("/api/questionnaires/mood/responses.csv", headers=auth("analyst"))
    assert exported.headers["Content-Type"].startswith("text/csv")
    lines = (await exported.text()).strip().splitlines()
    assert lines[0].split(",")[:4] == ["respondent", "session", "version", "completed_at"]
    assert lines[0].endswith("calm,tense,sport,serenity,serenity_100,segment")
    first = lines[1].split(",")
    assert first[0] == "r1"
    assert first[4:9] == ["5", "1", "run;swim", "5.0", "100.0"]


async def test_a_bad_responses_file_names_line_and_column_and_stores_nothing(
    api: TestClient[Any, Any],
) -> None:
    await api.post("/api/questionnaires", data=MOOD, headers=auth("marketer"))
    bad = "respondent,calm,tense,sport\nr1,9,1,\nr2,2,x,golf\n"
    response = await api.post(
        "/api/questionnaires/mood/responses", data=bad, headers=auth("marketer")
    )
    assert response.status == 400
    problems = (await response.json())["details"]["problems"]
    assert any(p.startswith("line 2, column calm") for p in problems)
    assert any(p.startswith("line 3, column tense") for p in problems)
    assert any(p.startswith("line 3, column sport") for p in problems)
    exported = await api.get("/api/questionnaires/mood/responses.csv", headers=auth("analyst"))
    assert len((await exported.text()).strip().splitlines()) == 1
    unknown = await api.post(
        "/api/questionnaires/mood/responses", data="who,calm\n1,2\n", headers=auth("ops")
    )
    assert "unknown column who" in str(await unknown.json())


async def test_respondents_look_up_and_erase(api: TestClient[Any, Any]) -> None:
    await api.post("/api/questionnaires", data=MOOD, headers=auth("marketer"))
    await api.post(
        "/api/questionnaires/mood/responses",
        data="respondent,calm,tense\nr1,4,2\n",
        headers=auth("marketer"),
    )
    found = await api.get("/api/respondents/1", headers=auth("ops"))
    body = await found.json()
    assert (body["external_id"], body["completed"]) == ("r1", 1)
    assert (await api.delete("/api/respondents/1", headers=auth("ops"))).status == 200
    assert (await api.get("/api/respondents/1", headers=auth("ops"))).status == 404
    assert (await api.get("/api/respondents/abc", headers=auth("ops"))).status == 400


async def test_unknown_routes_and_methods_answer_json(api: TestClient[Any, Any]) -> None:
    missing = await api.get("/api/nothing", headers=auth("ops"))
    assert missing.status == 404
    assert "openapi" in (await missing.json())["error"]


async def test_openapi_describes_every_route(api: TestClient[Any, Any]) -> None:
    document = await (await api.get("/api/openapi.json", headers=auth("analyst"))).json()
    assert document["openapi"].startswith("3.1")
    described = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert described == {(s.method, s.path) for s in routes.specs}


async def test_webhook_requires_the_secret(api: TestClient[Any, Any]) -> None:
    # no bot runs in this app: the webhook says so rather than accepting updates
    response = await api.post(
        "/telegram/webhook",
        json={"update_id": 1},
        headers={"X-Telegram-Bot-Api-Secret-Token": "hook-secret-123"},
    )
    assert response.status == 404
