"""Fixtures for driving the Bot API sandbox, registered for the whole suite.

Tests that make python-telegram-bot build a ``RetryAfter`` use ``ptb_timedelta`` (the bot's and
the follow-ups' conftests make it automatic there).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer
from telegram import Bot

from bot.sandbox import SandboxClient, SandboxConfig, create_sandbox_app


@pytest.fixture
def ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the opt-in, building telegram.error.RetryAfter emits a PTBDeprecationWarning,
    # which filterwarnings=error turns into the exception a 429 raises instead of RetryAfter.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    """Return the sandbox's settings (override in a test module for other limits)."""
    return SandboxConfig()


@pytest.fixture
async def sandbox_server(
    aiohttp_server: Callable[..., Awaitable[TestServer]], sandbox_config: SandboxConfig
) -> TestServer:
    """Serve a fresh sandbox on a real local port."""
    return await aiohttp_server(create_sandbox_app(sandbox_config))


@pytest.fixture
def bot_base_url(sandbox_server: TestServer) -> str:
    """Return the ``base_url`` that points python-telegram-bot at the sandbox."""
    return str(sandbox_server.make_url("/bot"))


@pytest.fixture
async def bot(bot_base_url: str, sandbox_config: SandboxConfig) -> AsyncIterator[Bot]:
    """Return an initialised ``telegram.Bot`` talking to the sandbox."""
    async with Bot(sandbox_config.token, base_url=bot_base_url) as telegram_bot:
        yield telegram_bot


@pytest.fixture
async def respondent(sandbox_server: TestServer) -> AsyncIterator[SandboxClient]:
    """Return the respondent-side client of the sandbox."""
    async with SandboxClient(str(sandbox_server.make_url(""))) as client:
        yield client
