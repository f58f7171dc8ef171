"""The sandbox's chat view: a conversation in the browser as the respondent saw it."""

from __future__ import annotations

import aiohttp
from aiohttp.test_utils import TestServer
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

from bot.sandbox import SandboxClient
from bot.sandbox.webview import formatted


def test_entities_become_html_and_text_is_escaped() -> None:
    text = "Hi <you> 😀 bold link"
    # UTF-16 offsets: the emoji counts two units
    entities = [
        {"type": "bold", "offset": 12, "length": 4},
        {"type": "text_link", "offset": 17, "length": 4, "url": "https://example.org/?a=1&b=2"},
        {"type": "italic", "offset": 0, "length": 17},
        {"type": "text_link", "offset": 0, "length": 2, "url": "javascript:alert(1)"},
    ]
    html = formatted(text, entities)
    assert "&lt;you&gt;" in html
    assert "<em><strong>bold</strong></em>" in html
    assert "href='https://example.org/?a=1&amp;b=2'" in html
    assert "javascript" not in html


async def test_a_chat_reads_as_the_respondent_saw_it(
    bot: Bot, respondent: SandboxClient, sandbox_server: TestServer
) -> None:
    await respondent.set_rate_limits(enabled=False)
    user = await respondent.create_user(first_name="Ada")
    blocked = await respondent.create_user(first_name="Bob")
    await respondent.send_command(user.id, "start", "habits")
    await bot.get_updates(timeout=0)
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Agree", callback_data="a.1"),
                InlineKeyboardButton("No", callback_data="a.0"),
            ],
        ]
    )
    question = await bot.send_message(
        user.id, "<b>Do you like</b> <i>hiking</i>?", parse_mode="HTML", reply_markup=keyboard
    )
    await respondent.press(user.id, question.message_id, data="a.1")
    (*_, update) = await bot.get_updates(timeout=0)
    assert update.callback_query is not None
    await bot.answer_callback_query(update.callback_query.id, "Saved")
    await bot.edit_message_text(
        "<b>Do you like</b> <i>hiking</i>? Yes", user.id, question.message_id, parse_mode="HTML"
    )
    await bot.send_message(user.id, "Next question")  # the reply to the press
    await bot.get_updates(offset=update.update_id + 1, timeout=0)
    # nothing awaits an answer now: this one is the bot's own (a follow-up)
    await bot.send_message(user.id, "A week later: new trails near you")
    offer = await bot.send_message(
        user.id,
        "Try it",
        reply_markup=InlineKeyboardMarkup(
            [
                [InlineKeyboardButton("Open", callback_data="fu:x.0")],
                [InlineKeyboardButton("Read more", url="https://example.org/more")],
            ]
        ),
    )
    await respondent.press(user.id, offer.message_id, data="fu:x.0")
    await respondent.block(blocked.id)

    async with aiohttp.ClientSession() as http:
        async with http.get(sandbox_server.make_url(f"/sandbox/view/chats/{user.id}")) as r:
            assert r.status == 200
            assert r.content_type == "text/html"
            page = await r.text()
        async with http.get(sandbox_server.make_url("/sandbox/view/chats")) as r:
            index = await r.text()
        async with http.get(sandbox_server.make_url(f"/sandbox/view/chats/{blocked.id}")) as r:
            blocked_page = await r.text()
        async with http.get(sandbox_server.make_url("/sandbox/view/chats/999")) as r:
            assert r.status == 404
            assert "no chat 999" in await r.text()

    assert "<span class='command'>/start</span> habits" in page
    assert "<strong>Do you like</strong> <em>hiking</em>? Yes" in page
    assert "1 earlier wording" in page  # the question before the edit
    # the edit took the keyboard away: the press is still shown with the button's text
    assert "pressed “Agree”" in page
    assert "“No”" not in page
    assert "toast: Saved" in page
    assert "href='https://example.org/more'" in page
    assert page.count("sent by the bot on its own") == 2
    assert "Open ✓" in page
    assert "A week later" in page
    assert f"/sandbox/view/chats/{user.id}'>Ada</a>" in index
    assert f"/sandbox/view/chats/{blocked.id}'>Bob</a>" in index
    assert "blocked the bot" in blocked_page
