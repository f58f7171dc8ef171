"""The sandbox answers python-telegram-bot's ``telegram.Bot`` with Telegram's rules."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from telegram import (
    Bot,
    BotCommand,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)

from bot.sandbox import SandboxClient, SandboxConfig, SandboxError

#: For tests about what a message may contain, not about pacing: they send several messages
#: to one chat back to back, which the strict limits (tested below) would refuse.
UNPACED = pytest.mark.parametrize("sandbox_config", [SandboxConfig(rate_limit_enabled=False)])


async def test_get_me_describes_the_bot(bot: Bot, sandbox_config: SandboxConfig) -> None:
    me = await bot.get_me()
    assert me.is_bot
    assert me.id == sandbox_config.bot_id
    assert me.username == sandbox_config.bot_username


async def test_wrong_token_is_unauthorized(bot_base_url: str) -> None:
    with pytest.raises(InvalidToken, match="rejected by the server") as caught:
        async with Bot("42:wrong-token", base_url=bot_base_url):
            pass
    assert str(caught.value.__cause__) == "Unauthorized"


async def test_updates_carry_increasing_ids_and_offset_confirms_them(
    bot: Bot, respondent: SandboxClient
) -> None:
    user = await respondent.create_user(first_name="Ada", language_code="de")
    for text in ("one", "two", "three"):
        await respondent.send_text(user.id, text)

    updates = await bot.get_updates(timeout=0)
    assert [u.message.text for u in updates if u.message] == ["one", "two", "three"]
    ids = [u.update_id for u in updates]
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    message_ids = [u.message.message_id for u in updates if u.message]
    assert message_ids == sorted(message_ids)
    first = updates[0].message
    assert first is not None
    assert first.from_user is not None
    assert first.from_user.language_code == "de"
    assert first.chat.type == "private"
    assert first.chat.id == user.id

    # Without an offset the same updates come again: nothing was confirmed yet.
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == ids
    assert [u.update_id for u in await bot.get_updates(offset=ids[1], timeout=0)] == ids[1:]
    assert await bot.get_updates(offset=ids[-1] + 1, timeout=0) == ()
    assert (await bot.get_webhook_info()).pending_update_count == 0


async def test_long_poll_wakes_when_an_update_arrives(bot: Bot, respondent: SandboxClient) -> None:
    user = await respondent.create_user()
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5, read_timeout=10))
    await asyncio.sleep(0.1)
    assert not poll.done()
    await respondent.send_text(user.id, "hello")
    updates = await poll
    assert [u.message.text for u in updates if u.message] == ["hello"]
    assert time.monotonic() - started < 2


async def test_long_poll_returns_empty_after_its_timeout(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 < time.monotonic() - started < 3


async def test_allowed_updates_drops_other_kinds(bot: Bot, respondent: SandboxClient) -> None:
    user = await respondent.create_user()
    await bot.get_updates(timeout=0, allowed_updates=["callback_query"])
    await respondent.send_text(user.id, "ignored")
    assert await bot.get_updates(timeout=0) == ()
    await bot.get_updates(timeout=0, allowed_updates=[])
    await respondent.send_text(user.id, "seen")
    assert [u.message.text for u in await bot.get_updates(timeout=0) if u.message] == ["seen"]


async def test_command_carries_a_bot_command_entity(bot: Bot, respondent: SandboxClient) -> None:
    user = await respondent.create_user()
    await respondent.send_command(user.id, "start", "big-five")
    (update,) = await bot.get_updates(timeout=0)
    assert update.message is not None
    assert update.message.text == "/start big-five"
    assert update.message.parse_entities(["bot_command"]) == {update.message.entities[0]: "/start"}


async def test_callback_data_is_at_most_64_bytes(bot: Bot, respondent: SandboxClient) -> None:
    user = await respondent.create_user()
    ok = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="é" * 32)]])
    await bot.send_message(user.id, "fits", reply_markup=ok)
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("no", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(user.id, "too long", reply_markup=too_long)
    assert [m.text for m in (await respondent.chat(user.id)).messages] == ["fits"]


@UNPACED
async def test_text_is_1_to_4096_characters_after_parsing(
    bot: Bot, respondent: SandboxClient
) -> None:
    user = await respondent.create_user()
    await bot.send_message(user.id, "x" * 4096)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(user.id, "x" * 4097)
    # The limit counts what the user sees, not the markup around it.
    await bot.send_message(user.id, "<b>" + "x" * 4090 + "</b>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(user.id, "<b> </b>", parse_mode=ParseMode.HTML)
    assert len((await respondent.chat(user.id)).messages) == 2


@UNPACED
async def test_html_and_markdown_v2_are_parsed_or_refused(
    bot: Bot, respondent: SandboxClient
) -> None:
    user = await respondent.create_user()
    sent = await bot.send_message(
        user.id, "<b>Question 1</b> of 3 &amp; more", parse_mode=ParseMode.HTML
    )
    assert sent.text == "Question 1 of 3 & more"
    assert sent.entities[0].type == "bold"
    assert (sent.entities[0].offset, sent.entities[0].length) == (0, 10)
    with pytest.raises(BadRequest, match=r'(?i)Unsupported start tag "br"'):
        await bot.send_message(user.id, "a<br>b", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)Character '.' is reserved"):
        await bot.send_message(user.id, "*Done.*", parse_mode=ParseMode.MARKDOWN_V2)
    done = await bot.send_message(user.id, r"*Done\.*", parse_mode=ParseMode.MARKDOWN_V2)
    assert done.text == "Done."
    (first, second) = (await respondent.chat(user.id)).messages
    assert first.raw_text == "<b>Question 1</b> of 3 &amp; more"
    assert first.text == "Question 1 of 3 & more"
    assert second.text == "Done."


async def test_edits_show_to_the_respondent_and_unchanged_edits_are_refused(
    bot: Bot, respondent: SandboxClient
) -> None:
    user = await respondent.create_user()
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    sent = await bot.send_message(user.id, "Pick one", reply_markup=keyboard)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("Pick one", user.id, sent.message_id, reply_markup=keyboard)

    await bot.edit_message_text("Pick one!", user.id, sent.message_id, reply_markup=keyboard)
    (message,) = (await respondent.chat(user.id)).messages
    assert message.text == "Pick one!"
    assert message.edited
    assert message.button_texts == ["A"]

    # editMessageText without reply_markup removes the keyboard, as on Telegram.
    await bot.edit_message_text("Picked", user.id, sent.message_id)
    (message,) = (await respondent.chat(user.id)).messages
    assert message.buttons == []
    with pytest.raises(SandboxError, match="shows no button"):
        await respondent.press(user.id, sent.message_id, data="a")

    await bot.edit_message_reply_markup(user.id, sent.message_id, reply_markup=keyboard)
    assert (await respondent.chat(user.id)).messages[0].button_texts == ["A"]
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", user.id, 999)


@UNPACED
async def test_deleted_messages_are_gone_from_the_chat(
    bot: Bot, respondent: SandboxClient
) -> None:
    user = await respondent.create_user()
    first = await bot.send_message(user.id, "first")
    await bot.send_message(user.id, "second")
    assert await bot.delete_message(user.id, first.message_id)
    assert [m.text for m in (await respondent.chat(user.id)).messages] == ["second"]
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(user.id, first.message_id)


@UNPACED
async def test_reply_keyboards_and_force_reply_are_accepted(
    bot: Bot, respondent: SandboxClient
) -> None:
    user = await respondent.create_user()
    await bot.send_message(user.id, "age?", reply_markup=ForceReply())
    await bot.send_message(user.id, "pick", reply_markup=ReplyKeyboardMarkup([["Yes", "No"]]))
    assert (await respondent.chat(user.id)).reply_keyboard == [["Yes", "No"]]
    await bot.send_message(user.id, "thanks", reply_markup=ReplyKeyboardRemove())
    assert (await respondent.chat(user.id)).reply_keyboard is None


async def test_unknown_chat_is_400_and_blocked_user_is_403(
    bot: Bot, respondent: SandboxClient
) -> None:
    user = await respondent.create_user()
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(987654, "hello")
    await respondent.block(user.id)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(user.id, "hello")
    (update,) = await bot.get_updates(timeout=0)
    assert update.my_chat_member is not None
    assert update.my_chat_member.new_chat_member.status == "kicked"
    await respondent.unblock(user.id)
    await bot.send_message(user.id, "welcome back")

    stranger = await respondent.create_user(started=False)
    with pytest.raises(Forbidden, match=r"(?i)can't initiate conversation"):
        await bot.send_message(stranger.id, "hello")


@UNPACED
async def test_malformed_calls_are_400_naming_the_parameter(
    sandbox_server: TestServer, sandbox_config: SandboxConfig, respondent: SandboxClient
) -> None:
    user = await respondent.create_user()
    base = sandbox_server.make_url(f"/bot{sandbox_config.token}")
    async with aiohttp.ClientSession() as session:

        async def call(method: str, **params: object) -> tuple[int, dict[str, object]]:
            async with session.post(f"{base}/{method}", json=params) as response:
                return response.status, await response.json()

        assert await call("sendMessage", text="hi") == (
            400,
            {"ok": False, "error_code": 400, "description": "Bad Request: chat_id is empty"},
        )
        status, body = await call("sendMessage", chat_id=user.id)
        assert (status, body["description"]) == (400, "Bad Request: message text is empty")
        status, body = await call("editMessageText", chat_id=user.id, message_id="x", text="t")
        assert status == 400
        assert "message_id" in str(body["description"])
        status, body = await call("sendMessage", chat_id=user.id, text="t", reply_markup="{")
        assert status == 400
        assert "reply keyboard" in str(body["description"])
        status, body = await call("sendChatAction", chat_id=user.id, action="dancing")
        assert status == 400
        status, body = await call("sendFlyingPig", chat_id=user.id)
        assert (status, body["description"]) == (404, "Not Found: method not found")
        # Form-encoded parameters (what python-telegram-bot sends) work as JSON ones do.
        async with session.post(
            f"{base}/sendMessage", data={"chat_id": str(user.id), "text": "form"}
        ) as response:
            assert response.status == 200
        async with session.get(f"{base}/sendMessage?chat_id={user.id}&text=query") as response:
            assert response.status == 200


async def test_commands_round_trip(bot: Bot) -> None:
    assert await bot.get_my_commands() == ()
    commands = [BotCommand("start", "Start a quiz"), BotCommand("help", "What I can do")]
    assert await bot.set_my_commands(commands)
    assert await bot.get_my_commands() == tuple(commands)
    assert await bot.get_my_commands(language_code="de") == ()
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Bad Command", "x")])
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()


async def test_chat_action_close_and_log_out_are_harmless(
    bot: Bot, respondent: SandboxClient
) -> None:
    user = await respondent.create_user()
    assert await bot.send_chat_action(user.id, "typing")
    assert await bot.close()
    assert await bot.log_out()
    assert (await respondent.stats())["chat_actions"] == 1


async def test_robustness_updates_parse_as_telegram_updates(
    bot: Bot, respondent: SandboxClient
) -> None:
    user = await respondent.create_user()
    sent = await respondent.send_text(user.id, "typo")
    assert sent.message_id is not None
    await respondent.edit_text(user.id, sent.message_id, "fixed")
    await respondent.send_sticker(user.id, emoji="🙂")
    await respondent.send_photo(user.id, caption="me")
    await respondent.send_voice(user.id, duration=2)
    group = await respondent.create_group("Friends")
    await respondent.send_command(user.id, "start", chat_id=group)
    channel = await respondent.create_group("News", kind="channel")
    await respondent.post_in_channel(channel, "hello subscribers")

    updates = await bot.get_updates(timeout=0)
    assert len(updates) == 7
    _, edited, sticker, photo, voice, in_group, post = updates
    assert edited.edited_message is not None
    assert edited.edited_message.text == "fixed"
    assert sticker.message is not None
    assert sticker.message.sticker is not None
    assert sticker.message.sticker.emoji == "🙂"
    assert photo.message is not None
    assert photo.message.photo
    assert photo.message.caption == "me"
    assert voice.message is not None
    assert voice.message.voice is not None
    assert in_group.message is not None
    assert in_group.message.chat.type == "group"
    assert (in_group.message.text or "").startswith("/start@")
    assert post.channel_post is not None
    assert post.channel_post.sender_chat is not None


async def test_rate_limit_answers_429_with_retry_after(
    bot: Bot, respondent: SandboxClient
) -> None:
    user = await respondent.create_user()
    await bot.send_message(user.id, "first")
    with pytest.raises(RetryAfter) as caught:  # strict: no burst in a private chat
        await bot.send_message(user.id, "too soon")
    assert isinstance(caught.value.retry_after, timedelta)
    assert caught.value.retry_after >= timedelta(seconds=1)
    # Edits are not rate-limited by default; other chats have their own limit.
    sent = await bot.send_message((await respondent.create_user()).id, "other chat")
    await bot.edit_message_text("edited", sent.chat_id, sent.message_id)
    stats = await respondent.stats()
    assert stats["rate_limited"] == 1
    assert stats["messages_sent"] == 2
    assert len((await respondent.chat(user.id)).messages) == 1
    # Waiting the announced retry_after always gets through.
    await asyncio.sleep(caught.value.retry_after.total_seconds())
    await bot.send_message(user.id, "after the wait")

    await respondent.set_rate_limits(enabled=False)
    for number in range(10):
        await bot.send_message(user.id, f"unlimited {number}")


@pytest.mark.parametrize("sandbox_config", [SandboxConfig(global_limit=5)])
async def test_global_rate_limit_spans_chats(bot: Bot, respondent: SandboxClient) -> None:
    users = [await respondent.create_user() for _ in range(7)]
    for user in users[:5]:
        await bot.send_message(user.id, "hi")
    with pytest.raises(RetryAfter):
        await bot.send_message(users[5].id, "hi")
    with pytest.raises(RetryAfter):  # the flood wait holds every chat
        await bot.send_message(users[6].id, "hi")
    assert (await respondent.get_limits())["strict"] is True


@pytest.mark.parametrize("sandbox_config", [SandboxConfig(strict=False)])
async def test_lenient_mode_forgives_a_short_burst(bot: Bot, respondent: SandboxClient) -> None:
    user = await respondent.create_user()
    for number in range(3):
        await bot.send_message(user.id, f"message {number}")
    with pytest.raises(RetryAfter):
        await bot.send_message(user.id, "one too many")


async def test_long_polling_honours_timeout(bot: Bot, respondent: SandboxClient) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1, read_timeout=5) == ()
    assert 0.9 <= time.monotonic() - started < 2.0  # waited, and no longer than asked
    user = await respondent.create_user()
    waiting = asyncio.create_task(bot.get_updates(timeout=10, read_timeout=15))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await respondent.send_text(user.id, "wake up")
    (update,) = await waiting
    assert update.message is not None
    assert time.monotonic() - started < 1.0  # an update ends the wait at once


async def test_the_command_menu_is_recorded(bot: Bot, respondent: SandboxClient) -> None:
    assert await respondent.commands() == []
    await bot.set_my_commands([("start", "Choose a quiz"), ("help", "What I can do")])
    assert [c["command"] for c in await respondent.commands()] == ["start", "help"]


async def test_hang_with_delivery_times_out_but_the_message_arrives(
    bot: Bot, respondent: SandboxClient
) -> None:
    user = await respondent.create_user()
    await respondent.set_faults(hang_next=1, hang_seconds=1.0, hang_delivers=True)
    with pytest.raises(TimedOut):
        await bot.send_message(user.id, "late answer", read_timeout=0.2)
    assert [m.text for m in (await respondent.chat(user.id)).messages] == ["late answer"]
    await asyncio.sleep(1.0)  # the late answer was delivered: one message a second per chat
    await bot.send_message(user.id, "on time", read_timeout=0.5)


async def test_hang_without_delivery_times_out_and_nothing_arrives(
    bot: Bot, respondent: SandboxClient
) -> None:
    user = await respondent.create_user()
    await respondent.set_faults(hang_next=1, hang_seconds=1.0, hang_delivers=False)
    with pytest.raises(TimedOut):
        await bot.send_message(user.id, "lost", read_timeout=0.2)
    assert (await respondent.chat(user.id)).messages == []
    assert (await respondent.stats())["faults_hung"] == 1


async def test_injected_failures_are_network_errors(bot: Bot, respondent: SandboxClient) -> None:
    user = await respondent.create_user()
    await respondent.set_faults(fail_next=2, fail_status=502)
    for _ in range(2):
        with pytest.raises(NetworkError, match=r"(?i)Bad Gateway"):
            await bot.send_message(user.id, "fails")
    await bot.send_message(user.id, "works")
    assert [m.text for m in (await respondent.chat(user.id)).messages] == ["works"]


async def test_second_poller_ends_the_first_with_conflict(
    bot: Bot, bot_base_url: str, sandbox_config: SandboxConfig
) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5, read_timeout=10))
    await asyncio.sleep(0.1)
    async with Bot(sandbox_config.token, base_url=bot_base_url) as second_instance:
        assert await second_instance.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match=r"(?i)terminated by other getUpdates"):
        await first


async def test_reset_forgets_the_world_but_not_update_ids(
    bot: Bot, respondent: SandboxClient
) -> None:
    user = await respondent.create_user()
    await respondent.send_text(user.id, "before")
    (before,) = await bot.get_updates(timeout=0)
    await respondent.reset()
    with pytest.raises(SandboxError, match="no user"):
        await respondent.send_text(user.id, "gone")
    user = await respondent.create_user(user.id)
    await respondent.send_text(user.id, "after")
    (after,) = await bot.get_updates(offset=before.update_id + 1, timeout=0)
    assert after.update_id > before.update_id
