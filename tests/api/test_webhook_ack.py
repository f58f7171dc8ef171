"""The webhook acknowledges an update only once it is processed: when the database was
unreachable the answer is 503, and Telegram delivers the update again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from backend.api.app import SECRET_HEADER, WEBHOOK_PATH, create_app
from backend.settings import Settings
from bot.sandbox import DEFAULT_TOKEN

pytestmark = pytest.mark.usefixtures("ptb_timedelta")

SECRET = "hook-secret-123"


@pytest.fixture
async def application(bot_base_url: str) -> AsyncIterator[Application]:
    handled: list[str] = []

    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        text = update.effective_message.text or ""
        if text == "database away":
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        if text == "bug":
            raise ValueError("a bug, not worth a redelivery")
        handled.append(text)

    async def ignore(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        pass

    app = Application.builder().token(DEFAULT_TOKEN).base_url(bot_base_url).build()
    app.add_handler(MessageHandler(filters.TEXT, handle))
    app.add_error_handler(ignore)
    app.bot_data["handled"] = handled
    async with app:
        yield app


def update(update_id: int, text: str) -> dict[str, Any]:
    user = {"id": 7, "is_bot": False, "first_name": "Ada"}
    message = {
        "message_id": update_id,
        "date": 0,
        "chat": {"id": 7, "type": "private"},
        "from": user,
        "text": text,
    }
    return {"update_id": update_id, "message": message}


async def test_an_update_is_acknowledged_after_it_was_processed(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    sqlite_engine: Engine,
    application: Application,
) -> None:
    settings = Settings(database_url="sqlite://", webhook_secret=SecretStr(SECRET))
    client = await aiohttp_client(create_app(settings, sqlite_engine, bot=application))
    headers = {SECRET_HEADER: SECRET}

    away = await client.post(WEBHOOK_PATH, json=update(1, "database away"), headers=headers)
    stored = await client.post(WEBHOOK_PATH, json=update(2, "hello"), headers=headers)
    bug = await client.post(WEBHOOK_PATH, json=update(3, "bug"), headers=headers)

    assert away.status == 503
    assert "OperationalError" in (await away.json())["error"]
    assert stored.status == 200
    assert application.bot_data["handled"] == ["hello"]  # processed before the 200
    assert bug.status == 200  # redelivering a bug would fail again, forever
