"""Fixtures for API tests: the app on SQLite and PostgreSQL, with a token per role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import Engine

from backend.api.app import create_app
from backend.settings import Settings

TOKENS = {
    "ops": "ops-token-0123456789",
    "marketer": "marketer-token-0123456789",
    "analyst": "analyst-token-0123456789",
}


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@pytest.fixture
def api_settings() -> Settings:
    return Settings(
        database_url="sqlite://",
        api_tokens=",".join(f"{role}:{token}" for role, token in TOKENS.items()),
        webhook_secret="hook-secret-123",
    )


@pytest.fixture
async def api(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    engine: Engine,
    api_settings: Settings,
) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(api_settings, engine))
