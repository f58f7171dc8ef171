"""Fixtures for follow-ups: the Bot API sandbox on a real local port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer

from bot.sandbox import SandboxClient, SandboxConfig, create_sandbox_app


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    """Telegram's limits, as the sandbox enforces them by default."""
    return SandboxConfig()


@pytest.fixture
async def sandbox_server(
    aiohttp_server: Callable[..., Awaitable[TestServer]], sandbox_config: SandboxConfig
) -> TestServer:
    return await aiohttp_server(create_sandbox_app(sandbox_config))


@pytest.fixture
def bot_base_url(sandbox_server: TestServer) -> str:
    return str(sandbox_server.make_url("/bot"))


@pytest.fixture
async def respondent(sandbox_server: TestServer) -> AsyncIterator[SandboxClient]:
    async with SandboxClient(str(sandbox_server.make_url(""))) as client:
        yield client
