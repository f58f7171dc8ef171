"""A real ``telegram.ext.Application`` runs against the sandbox, polling and by webhook."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import Conflict
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from bot.sandbox import SECRET_HEADER, SandboxClient, SandboxConfig


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Agree", callback_data="q1:agree")],
            [InlineKeyboardButton("About", url="https://example.org/about")],
        ]
    )
    await update.effective_message.reply_text(
        f"Hello! You asked for {' '.join(context.args or []) or 'nothing'}.",
        reply_markup=keyboard,
    )


async def _button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("Saved")
    await query.edit_message_text(f"You chose {query.data}")


def _build(config: SandboxConfig, base_url: str, *, with_updater: bool = True) -> Application:
    builder = ApplicationBuilder().token(config.token).base_url(base_url)
    if not with_updater:
        builder = builder.updater(None)
    application = builder.build()
    application.add_handler(CommandHandler("start", _start))
    application.add_handler(CallbackQueryHandler(_button))
    return application


@asynccontextmanager
async def _polling(application: Application) -> AsyncIterator[Application]:
    async with application:
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        await application.start()
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()


async def _quiz_round_trip(respondent: SandboxClient) -> None:
    user = await respondent.create_user(first_name="Ada")
    await respondent.send_command(user.id, "start", "big-five")
    reply = await respondent.wait_for_reply(user.id)
    assert reply.text == "Hello! You asked for big-five."
    assert reply.button_texts == ["Agree", "About"]

    await respondent.press(user.id, reply.message_id, text="Agree")
    assert await respondent.wait_for_toast(user.id) == "Saved"
    edited = await respondent.wait_for_reply(user.id)
    assert edited.message_id == reply.message_id
    assert edited.text == "You chose q1:agree"

    chat = await respondent.chat(user.id)
    assert [(m.from_bot, m.text) for m in chat.messages] == [
        (False, "/start big-five"),
        (True, "You chose q1:agree"),
    ]
    assert chat.messages[1].edited
    assert chat.messages[1].buttons == []
    assert [t.text for t in chat.toasts] == ["Saved"]
    assert chat.unanswered_callbacks == []


async def test_polling_application_answers_a_command_and_a_button(
    sandbox_config: SandboxConfig, bot_base_url: str, respondent: SandboxClient
) -> None:
    async with _polling(_build(sandbox_config, bot_base_url)):
        await _quiz_round_trip(respondent)
    stats = await respondent.stats()
    assert stats["pending_updates"] == 0
    assert stats["messages_sent"] == 1
    assert stats["messages_edited"] == 1
    # the /start got a reply: one latency from handing the update out to the bot's message
    latency = stats["reply_latency_ms"]
    assert latency["count"] == 1
    assert 0 < latency["p50"] == latency["p99"] < 5000


async def test_restarted_polling_gets_no_update_twice(
    sandbox_config: SandboxConfig, bot_base_url: str, respondent: SandboxClient
) -> None:
    user = await respondent.create_user()
    async with _polling(_build(sandbox_config, bot_base_url)):
        await respondent.send_command(user.id, "start")
        await respondent.wait_for_reply(user.id)
    await asyncio.sleep(1.0)  # Telegram allows the bot one message a second in this chat
    # The updater confirmed what it fetched when it stopped: a new one starts clean.
    async with _polling(_build(sandbox_config, bot_base_url)):
        await respondent.send_command(user.id, "start", "again")
        assert (await respondent.wait_for_reply(user.id)).text == "Hello! You asked for again."
    assert len((await respondent.chat(user.id)).bot_messages) == 2


@asynccontextmanager
async def _webhook_receiver(
    application: Application, *, fail_first: int = 0
) -> AsyncIterator[tuple[TestServer, list[str | None]]]:
    """Serve a webhook that hands updates to ``application``; record the secret headers."""
    secrets: list[str | None] = []
    failures = [fail_first]

    async def receive(request: web.Request) -> web.Response:
        secrets.append(request.headers.get(SECRET_HEADER))
        if failures[0] > 0:
            failures[0] -= 1
            return web.Response(status=500)
        if request.headers.get(SECRET_HEADER) != "s3cret-token":
            return web.Response(status=403)
        await application.update_queue.put(Update.de_json(await request.json(), application.bot))
        return web.Response()

    app = web.Application()
    app.router.add_post("/telegram", receive)
    server = TestServer(app)
    await server.start_server()
    try:
        yield server, secrets
    finally:
        await server.close()


async def test_webhook_application_gets_updates_with_the_secret_header(
    sandbox_config: SandboxConfig, bot_base_url: str, respondent: SandboxClient
) -> None:
    application = _build(sandbox_config, bot_base_url, with_updater=False)
    async with application, _webhook_receiver(application, fail_first=1) as (server, secrets):
        await application.start()
        try:
            await application.bot.set_webhook(
                str(server.make_url("/telegram")), secret_token="s3cret-token"
            )
            with pytest.raises(Conflict, match=r"(?i)webhook is active"):
                await application.bot.get_updates(timeout=0)
            await _quiz_round_trip(respondent)
            info = await application.bot.get_webhook_info()
            assert info.url == str(server.make_url("/telegram"))
            assert info.pending_update_count == 0
            # The first delivery failed with 500 and was retried.
            assert info.last_error_message is not None
            assert "500" in info.last_error_message
            assert await application.bot.delete_webhook()
        finally:
            await application.stop()
    assert secrets
    assert set(secrets) == {"s3cret-token"}
    stats = await respondent.stats()
    assert stats["webhook_failures"] == 1
    assert stats["webhook_deliveries"] == 2


async def test_webhook_delivers_each_chat_in_order(
    sandbox_config: SandboxConfig, bot_base_url: str, respondent: SandboxClient
) -> None:
    received: list[tuple[int, str]] = []

    async def receive(request: web.Request) -> web.Response:
        update = await request.json()
        await asyncio.sleep(0.01)
        received.append((update["message"]["chat"]["id"], update["message"]["text"]))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", receive)
    server = TestServer(app)
    await server.start_server()
    application = _build(sandbox_config, bot_base_url, with_updater=False)
    try:
        async with application:
            users = [await respondent.create_user() for _ in range(3)]
            await application.bot.set_webhook(str(server.make_url("/hook")))
            for number in range(5):
                for user in users:
                    await respondent.send_text(user.id, f"m{number}")
            for _ in range(200):
                if len(received) == 15:
                    break
                await asyncio.sleep(0.02)
            await application.bot.delete_webhook()
    finally:
        await server.close()
    for user in users:
        assert [text for chat, text in received if chat == user.id] == [f"m{n}" for n in range(5)]
