"""Fixtures for API tests: the app on SQLite and PostgreSQL, with a token per role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from backend.api.app import create_app
from backend.settings import Settings
from tests.helpers.auth import API_TOKENS, Client


@pytest.fixture
def api_settings() -> Settings:
    return Settings(
        database_url="sqlite://",
        api_tokens=API_TOKENS,
        webhook_secret=SecretStr("hook-secret-123"),
    )


@pytest.fixture
async def api(
    aiohttp_client: Callable[..., Awaitable[Client]],
    engine: Engine,
    api_settings: Settings,
) -> Client:
    return await aiohttp_client(create_app(api_settings, engine))
