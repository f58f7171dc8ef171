"""The respondent side: what the control API allows, refuses and shows."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest

from bot.sandbox import SandboxClient, SandboxConfig, SandboxError, run_sandbox


async def test_waiting_for_the_bot_times_out_when_it_stays_silent(
    respondent: SandboxClient,
) -> None:
    user = await respondent.create_user()
    await respondent.send_text(user.id, "anyone?")
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="no message/edit from the bot"):
        await respondent.wait_for_reply(user.id, timeout=0.3)
    assert time.monotonic() - started < 1.5


async def test_a_reply_sent_before_waiting_is_not_missed(
    bot: Bot, respondent: SandboxClient
) -> None:
    await respondent.set_rate_limits(enabled=False)
    user = await respondent.create_user()
    await respondent.send_text(user.id, "hi")
    await bot.send_message(user.id, "first")
    await bot.send_message(user.id, "second")
    assert (await respondent.wait_for_reply(user.id)).text == "first"
    assert (await respondent.wait_for_reply(user.id)).text == "second"
    # A new action moves the read point: older bot messages are not its reply.
    await bot.send_message(user.id, "old news")
    await respondent.send_text(user.id, "again")
    waiting = asyncio.create_task(respondent.wait_for_reply(user.id))
    await asyncio.sleep(0.05)
    await bot.send_message(user.id, "fresh")
    assert (await waiting).text == "fresh"


async def test_buttons_can_only_be_pressed_as_shown(bot: Bot, respondent: SandboxClient) -> None:
    user = await respondent.create_user()
    other = await respondent.create_user()
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Yes", callback_data="yes")],
            [InlineKeyboardButton("Site", url="https://example.org")],
        ]
    )
    sent = await bot.send_message(user.id, "Sure?", reply_markup=keyboard)
    with pytest.raises(SandboxError, match="shows no button with data 'no'") as caught:
        await respondent.press(user.id, sent.message_id, data="no")
    assert caught.value.status == 409
    with pytest.raises(SandboxError, match="opens a link"):
        await respondent.press(user.id, sent.message_id, text="Site")
    with pytest.raises(SandboxError, match="no message"):
        await respondent.press(other.id, sent.message_id, data="yes")
    pressed = await respondent.press(user.id, sent.message_id, text="Yes")
    (update,) = await bot.get_updates(timeout=0)
    assert update.callback_query is not None
    assert update.callback_query.id == pressed.callback_query_id
    assert update.callback_query.data == "yes"
    assert update.callback_query.message is not None
    assert update.callback_query.message.message_id == sent.message_id
    assert (await respondent.chat(user.id)).unanswered_callbacks == [pressed.callback_query_id]
    await bot.answer_callback_query(update.callback_query.id, "Noted", show_alert=True)
    (toast,) = (await respondent.chat(user.id)).toasts
    assert (toast.text, toast.show_alert) == ("Noted", True)
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(update.callback_query.id, "twice")


async def test_a_blocked_user_cannot_write_until_unblocking(respondent: SandboxClient) -> None:
    user = await respondent.create_user()
    await respondent.block(user.id)
    with pytest.raises(SandboxError, match="blocked the bot"):
        await respondent.send_text(user.id, "hi")
    assert (await respondent.chat(user.id)).blocked
    await respondent.unblock(user.id)
    await respondent.send_text(user.id, "hi")


async def test_unknown_users_and_bad_bodies_are_refused(respondent: SandboxClient) -> None:
    with pytest.raises(SandboxError, match="no user 5") as caught:
        await respondent.send_text(5, "hi")
    assert caught.value.status == 404
    user = await respondent.create_user()
    with pytest.raises(SandboxError, match="empty message"):
        await respondent.send_text(user.id, "   ")
    with pytest.raises(SandboxError, match="unknown fault setting"):
        await respondent.set_faults(explode=True)


async def test_run_sandbox_serves_until_cancelled() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = SandboxConfig()
    server = asyncio.create_task(run_sandbox(config, "127.0.0.1", port))
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(
                        f"http://127.0.0.1:{port}/bot{config.token}/getMe"
                    ) as response:
                        body = await response.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.02)
            else:
                pytest.fail("run_sandbox did not start listening")
        assert body["result"]["username"] == config.bot_username
    finally:
        server.cancel()
        with pytest.raises(asyncio.CancelledError):
            await server
