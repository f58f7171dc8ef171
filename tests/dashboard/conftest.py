"""Fixtures for dashboard tests: the API app with the dashboard added."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from sqlalchemy import Engine

from backend.api.app import create_app
from backend.settings import Settings
from tests.helpers.auth import API_TOKENS, Client


@pytest.fixture
def dashboard_settings() -> Settings:
    return Settings(database_url="sqlite://", api_tokens=API_TOKENS)


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
