"""API contract: auth and roles on every route, questionnaires, responses, respondents."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from backend.api.views import routes
from tests.helpers.auth import auth

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


VALUES = (ROOT / "questionnaires" / "values-attitudes.yaml").read_text()
VALUES_PACK = (ROOT / "questionnaires" / "content" / "values-attitudes.yaml").read_text()


async def _seed_values_responses(api: TestClient[Any, Any], n: int = 120) -> None:
    """Import responses from four latent profiles through the API's CSV import."""
    import random

    from backend.questionnaire import load_definition
    from bot.simulator import latent_chooser, latent_profiles

    definition = load_definition(VALUES)
    rng = random.Random(5)
    profiles = latent_profiles(definition, 4, rng)
    ids = list(definition.questions())
    lines = ["respondent," + ",".join(ids)]
    for i in range(n):
        choose = latent_chooser(definition, profiles[i % 4], rng)
        lines.append(f"r{i}," + ",".join(str(choose(q)) for q in definition.questions().values()))
    response = await api.post(
        "/api/questionnaires/values-attitudes/responses",
        data="\n".join(lines),
        headers=auth("marketer"),
    )
    assert response.status == 201, await response.text()


async def test_content_packs_upload_and_list(api: TestClient[Any, Any]) -> None:
    await api.post("/api/questionnaires", data=VALUES, headers=auth("marketer"))
    created = await api.post(
        "/api/content?filename=values.yaml", data=VALUES_PACK, headers=auth("marketer")
    )
    assert created.status == 201, await created.text()
    body = await created.json()
    assert body["outcome"] == "created"
    listing = await (await api.get("/api/content", headers=auth("analyst"))).json()
    assert [p["key"] for p in listing] == [body["key"]]
    broken = VALUES_PACK.replace("{{", "{%", 1)
    rejected = await api.post(
        "/api/content?filename=bad.yaml", data=broken, headers=auth("marketer")
    )
    assert rejected.status == 400
    problems = (await rejected.json())["details"]["problems"]
    assert problems
    assert all(p["line"] for p in problems)


async def test_recluster_then_segments_runs_rename_and_stats(api: TestClient[Any, Any]) -> None:
    import asyncio

    await api.post("/api/questionnaires", data=VALUES, headers=auth("marketer"))
    await api.post("/api/content", data=VALUES_PACK, headers=auth("marketer"))
    await _seed_values_responses(api)
    started = await api.post(
        "/api/questionnaires/values-attitudes/recluster", headers=auth("marketer")
    )
    assert started.status == 202
    runs: list[Any] = []
    for _ in range(300):
        runs = await (
            await api.get("/api/questionnaires/values-attitudes/runs", headers=auth("analyst"))
        ).json()
        if runs and runs[0]["status"] != "running":
            break
        await asyncio.sleep(0.1)
    assert runs[0]["status"] == "succeeded", runs
    assert runs[0]["k"] == 4
    assert "chosen" in runs[0]["choice_reason"]
    assert len(runs[0]["candidates"]) >= 2
    segments = await (
        await api.get("/api/questionnaires/values-attitudes/segments", headers=auth("analyst"))
    ).json()
    assert len(segments) == 4
    assert all(s["traits"] and s["z_scores"] for s in segments)
    renamed = await api.patch(
        f"/api/segments/{segments[0]['id']}",
        json={"name": "Green pioneers"},
        headers=auth("marketer"),
    )
    assert (await renamed.json())["name"] == "Green pioneers"
    empty = await api.patch(
        f"/api/segments/{segments[0]['id']}", json={"name": ""}, headers=auth("marketer")
    )
    assert empty.status == 400
    stats: list[Any] = []
    for _ in range(100):  # follow-ups are queued right after the run is stored
        stats = await (await api.get("/api/followups/stats", headers=auth("analyst"))).json()
        if sum(row["queued"] for row in stats) >= 120:
            break
        await asyncio.sleep(0.1)
    assert sum(row["queued"] for row in stats) >= 120
    assert (await api.get("/api/questionnaires/nope/runs", headers=auth("analyst"))).status == 404
    bad_limit = await api.get(
        "/api/questionnaires/values-attitudes/runs?limit=x", headers=auth("analyst")
    )
    assert bad_limit.status == 400
