"""Hostile requests at the HTTP edge: odd digits, NUL bytes, headers that are not UTF-8.

Each case answered 500 before; now each is a JSON error (400, 401 or 404) saying what was
wrong, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from backend.api.app import create_app
from backend.api.edges import parse_int
from backend.api.errors import ApiError
from backend.settings import Role, Settings

TOKENS = {"ops": "ops-token-0123456789", "analyst": "analyst-token-0123456789"}
OPS = {"Authorization": f"Bearer {TOKENS['ops']}"}
SECRET = "hook-secret-123"


@pytest.fixture
async def api(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], engine: Engine
) -> TestClient[Any, Any]:
    settings = Settings(
        database_url="sqlite://",
        api_tokens={token: Role(role) for role, token in TOKENS.items()},
        webhook_secret=SecretStr(SECRET),
    )
    app = create_app(settings, engine, bot=object())  # type: ignore[arg-type]  # enables the webhook route
    return await aiohttp_client(app)


async def raw_request(api: TestClient[Any, Any], request: bytes) -> tuple[int, dict[str, Any]]:
    """Send bytes as they are (a client library would refuse to) and read the JSON answer."""
    assert api.server.host is not None
    reader, writer = await asyncio.open_connection(api.server.host, api.server.port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


async def expect_error(response: Any, status: int, *words: str) -> None:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    message = (await response.json())["error"]
    for word in words:
        assert word in message, message


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("%C2%B2", ("digits 0-9", "²")),  # superscript two: isdigit() but not int()
        ("%D9%A3", ("digits 0-9",)),  # Arabic-Indic three: int() but not ASCII
        ("%EF%BC%91", ("digits 0-9",)),  # fullwidth one
        ("99999999999999999999999", ("from 1 to",)),  # past BIGINT
        ("0", ("from 1 to",)),
        ("-1", ("digits 0-9",)),
        ("1e3", ("digits 0-9",)),
        ("%201", ("digits 0-9",)),
    ],
)
async def test_respondent_ids_are_ascii_digits_in_range(
    api: TestClient[Any, Any], raw: str, words: tuple[str, ...]
) -> None:
    for method in ("GET", "DELETE"):
        response = await api.request(method, f"/api/respondents/{raw}", headers=OPS)
        await expect_error(response, 400, "respondent id", *words)


@pytest.mark.parametrize("raw", ["%C2%B2", "%D9%A3", "0", "201", "-5", "99999999999999999999"])
async def test_the_runs_limit_is_ascii_digits_in_range(
    api: TestClient[Any, Any], raw: str
) -> None:
    response = await api.get(f"/api/questionnaires/mood/runs?limit={raw}", headers=OPS)
    await expect_error(response, 400, "limit")


async def test_a_segment_id_of_unicode_digits_is_refused(api: TestClient[Any, Any]) -> None:
    response = await api.patch("/api/segments/%C2%B2", json={"name": "x"}, headers=OPS)
    await expect_error(response, 400, "segment id")
    response = await api.patch(
        "/api/segments/99999999999999999999", json={"name": "x"}, headers=OPS
    )
    await expect_error(response, 400, "segment id")


@pytest.mark.parametrize(
    "path",
    [
        "/api/questionnaires/a%00b",
        "/api/questionnaires/a%00b/segments",
        "/api/questionnaires/a%00b/runs",
        "/api/questionnaires/a%00b/responses.csv",
        "/api/followups/stats?pack=a%00b",
        "/api/questionnaires/mood/runs?limit=1%00",
        "/api/questionnaires/%FF%FE",
        "/api/followups/stats?pack=%FF",
    ],
)
async def test_nul_and_broken_escapes_in_urls_are_refused(
    api: TestClient[Any, Any], path: str
) -> None:
    response = await api.get(path, headers=OPS)
    await expect_error(response, 400, "URL")


@pytest.mark.parametrize("key", ["x" * 300, "%E2%80%AE", "a%20b", "..."])
async def test_keys_that_cannot_exist_are_not_found(api: TestClient[Any, Any], key: str) -> None:
    for suffix in ("", "/segments", "/runs", "/responses.csv"):
        response = await api.get(f"/api/questionnaires/{key}{suffix}", headers=OPS)
        await expect_error(response, 404, "no questionnaire")


async def test_an_authorization_header_that_is_not_utf8_is_refused(
    api: TestClient[Any, Any],
) -> None:
    status, body = await raw_request(
        api,
        b"GET /api/questionnaires HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\x80\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert status == 401
    assert "UTF-8" in body["error"]


async def test_a_webhook_secret_that_is_not_utf8_is_refused(api: TestClient[Any, Any]) -> None:
    status, body = await raw_request(
        api,
        b"POST /telegram/webhook HTTP/1.1\r\nHost: x\r\n"
        b"X-Telegram-Bot-Api-Secret-Token: hook-\xe9secret\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\n{}",
    )
    assert status == 400
    assert "X-Telegram-Bot-Api-Secret-Token" in body["error"]


async def test_a_dashboard_cookie_that_is_not_utf8_is_refused(api: TestClient[Any, Any]) -> None:
    status, body = await raw_request(
        api,
        b"GET /dashboard/questionnaires HTTP/1.1\r\nHost: x\r\nCookie: pg_session=\xff.\xfe\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert status == 400
    assert "Cookie" in body["error"]


def test_parse_int_accepts_exactly_ascii_numbers_in_range() -> None:
    assert parse_int("0", "n") == 0
    assert parse_int("007", "n", high=10) == 7
    assert parse_int("200", "n", low=1, high=200) == 200
    for bad in ("", "²", "٣", "+1", " 1", "1_000", "201", "9" * 5000):
        with pytest.raises(ApiError) as caught:
            parse_int(bad, "n", low=1, high=200)
        assert caught.value.status == 400


async def test_a_form_that_is_not_utf8_does_not_break_the_sign_in(
    api: TestClient[Any, Any],
) -> None:
    body = b"csrf=x&token=\xff\xfe&next=%2Fdashboard%2F"
    status, _ = await raw_request_text(
        api,
        b"POST /dashboard/sign-in HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {len(body)}\r\n".encode()
        + b"Connection: close\r\n\r\n"
        + body,
    )
    assert status in {400, 403}


async def raw_request_text(api: TestClient[Any, Any], request: bytes) -> tuple[int, bytes]:
    assert api.server.host is not None
    reader, writer = await asyncio.open_connection(api.server.host, api.server.port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def test_a_likert_cell_of_unicode_digits_is_a_listed_problem(
    api: TestClient[Any, Any],
) -> None:
    definition = (
        "id: mood\ntitle: Mood\nsections:\n  - id: main\n    questions:\n"
        "      - {id: calm, type: likert, text: I feel calm}\n"
        "dimensions:\n  - id: serenity\n    label: Serenity\n    items: [{question: calm}]\n"
    )
    assert (await api.post("/api/questionnaires", data=definition, headers=OPS)).status == 201
    for cell in ("²", "٣", "9" * 5000):
        response = await api.post(
            "/api/questionnaires/mood/responses", data=f"calm\n{cell}\n", headers=OPS
        )
        await expect_error(response, 400, "nothing was imported")
        problems = (await response.json())["details"]["problems"]
        assert len(problems) == 1, problems
        assert problems[0].startswith("line 2, column calm: ")
        assert problems[0].endswith("expected a whole number from 1 to 5")
