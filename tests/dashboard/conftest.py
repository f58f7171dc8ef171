"""Fixtures for dashboard tests: the API app with the dashboard added, a token per role."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import Engine

from backend.api.app import create_app
from backend.settings import Settings

TOKENS = {
    "ops": "ops-token-0123456789",
    "marketer": "marketer-token-0123456789",
    "analyst": "analyst-token-0123456789",
}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')

Client = TestClient[Any, Any]


@pytest.fixture
def dashboard_settings() -> Settings:
    return Settings(
        database_url="sqlite://",
        api_tokens=",".join(f"{role}:{token}" for role, token in TOKENS.items()),
    )


@pytest.fixture
def dashboard_app(engine: Engine, dashboard_settings: Settings) -> web.Application:
    return create_app(dashboard_settings, engine)


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Awaitable[Client]], dashboard_app: web.Application
) -> Client:
    """The dashboard on SQLite and on PostgreSQL."""
    return await aiohttp_client(dashboard_app)


@pytest.fixture
async def sqlite_client(
    aiohttp_client: Callable[..., Awaitable[Client]],
    sqlite_engine: Engine,
    dashboard_settings: Settings,
) -> Client:
    """The dashboard on SQLite only, for sign-in and session checks that touch no data."""
    return await aiohttp_client(create_app(dashboard_settings, sqlite_engine))


async def csrf_of(client: Client, path: str) -> str:
    """Return the CSRF token of the forms on a page."""
    response = await client.get(path)
    assert response.status == 200, await response.text()
    found = CSRF.search(await response.text())
    assert found is not None, f"no form on {path}"
    return found.group(1)


async def sign_in(client: Client, role: str) -> None:
    csrf = await csrf_of(client, "/dashboard/sign-in")
    response = await client.post(
        "/dashboard/sign-in",
        data={"csrf": csrf, "token": TOKENS[role], "next": "/dashboard/questionnaires"},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
