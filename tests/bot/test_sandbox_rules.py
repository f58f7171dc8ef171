"""The sandbox's pure rules: formatting, reply markup and the rate limiter."""

from __future__ import annotations

import pytest

from bot.sandbox.errors import ApiError
from bot.sandbox.formatting import (
    command_entities,
    parse_html,
    parse_markdown_v2,
    parse_text,
    utf16_len,
)
from bot.sandbox.limits import RateLimiter, StrictRateLimiter
from bot.sandbox.markup import validate_reply_markup


def test_html_entities_are_measured_in_utf16() -> None:
    parsed = parse_html('😀 <b>bold</b> <a href="https://x.org">link</a> &lt;3')
    assert parsed.text == "😀 bold link <3"
    bold, link = parsed.entities
    assert (bold["type"], bold["offset"], bold["length"]) == ("bold", 3, 4)
    assert link == {"type": "text_link", "offset": 8, "length": 4, "url": "https://x.org"}
    assert utf16_len("😀") == 2


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", "Unmatched end tag"),
        ("<p>x</p>", 'Unsupported start tag "p"'),
        ("1 < 2", "Unclosed start tag"),
    ],
)
def test_html_errors_read_like_telegrams(source: str, error: str) -> None:
    with pytest.raises(ApiError, match=error) as caught:
        parse_html(source)
    assert caught.value.code == 400
    assert caught.value.description.startswith("Bad Request: can't parse entities: ")


def test_markdown_v2_parses_nested_entities_and_escapes() -> None:
    parsed = parse_markdown_v2(r"*bold _it_* __u__ ||s|| `a\`b` [t](https://x.org/\)) 1\.5")
    assert parsed.text == "bold it u s a`b t 1.5"
    kinds = [e["type"] for e in parsed.entities]
    assert kinds == ["bold", "italic", "underline", "spoiler", "code", "text_link"]
    assert parsed.entities[-1]["url"] == "https://x.org/)"


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("Done.", "Character '.' is reserved"),
        ("*open", "Can't find end of Bold entity"),
        ("a - b", "Character '-' is reserved"),
    ],
)
def test_markdown_v2_refuses_unescaped_reserved_characters(source: str, error: str) -> None:
    with pytest.raises(ApiError, match=error):
        parse_markdown_v2(source)


def test_unknown_parse_mode_is_refused() -> None:
    with pytest.raises(ApiError, match="unsupported parse_mode"):
        parse_text("x", "BBCode")


def test_commands_get_entities_where_a_client_marks_them() -> None:
    assert command_entities("/start big-five") == [
        {"type": "bot_command", "offset": 0, "length": 6}
    ]
    assert command_entities("see /help@bot_name now") == [
        {"type": "bot_command", "offset": 4, "length": 14}
    ]
    assert command_entities("a/b and http://x/y") == []


def test_inline_keyboard_rules() -> None:
    ok = {
        "inline_keyboard": [
            [{"text": "a", "callback_data": "x" * 64}, {"text": "u", "url": "https://e.org"}]
        ]
    }
    assert validate_reply_markup(ok) == ok
    for bad, error in [
        ({"inline_keyboard": [[{"text": "a", "callback_data": "x" * 65}]]}, "BUTTON_DATA_INVALID"),
        ({"inline_keyboard": [[{"text": "a", "callback_data": ""}]]}, "BUTTON_DATA_INVALID"),
        ({"inline_keyboard": [[{"text": "a", "url": "not a url"}]]}, "BUTTON_URL_INVALID"),
        ({"inline_keyboard": [[{"text": "a"}]]}, "text buttons are unallowed"),
        ({"inline_keyboard": "rows"}, "must be an array"),
        ({"nothing": True}, "can't parse reply keyboard markup"),
    ]:
        with pytest.raises(ApiError, match=error):
            validate_reply_markup(bad)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_strict_chat_limit_is_one_a_second_with_no_burst() -> None:
    clock = FakeClock()
    limiter = StrictRateLimiter(clock=clock)
    assert limiter.acquire(1) is None
    clock.now += 0.99
    assert limiter.acquire(1) == 1  # 0.99 s after the first: refused, a flood wait starts
    assert limiter.acquire(2) is None  # the flood wait concerns that chat only
    clock.now += 0.5  # the window has moved on, but the announced wait has not passed
    assert limiter.acquire(1) == 1
    clock.now += 0.5
    assert limiter.acquire(1) is None


def test_strict_global_limit_is_a_sliding_window_with_a_flood_wait() -> None:
    clock = FakeClock()
    limiter = StrictRateLimiter(global_limit=30, clock=clock)
    for chat in range(30):
        assert limiter.acquire(chat) is None
        clock.now += 0.01
    assert limiter.acquire(99) == 1  # the 31st within one second, whatever the chat
    clock.now = 1000.0 + 1.0  # the first send has left the window...
    assert limiter.acquire(100) == 1  # ...but the flood wait it announced still holds
    clock.now = 1000.0 + 1.3
    assert limiter.acquire(100) is None
    # After a pause the window starts empty, yet never lets more than 30 through in a second.
    clock.now += 60
    results = []
    for chat in range(200, 240):
        results.append(limiter.acquire(chat))
        clock.now += 0.001
    assert results.count(None) == 30


def test_strict_group_limit_is_twenty_a_minute() -> None:
    clock = FakeClock()
    limiter = StrictRateLimiter(clock=clock)
    for _ in range(20):
        assert limiter.acquire(-5, group=True) is None
        clock.now += 1.0
    assert limiter.acquire(-5, group=True) == 40  # the first of the 20 leaves at t+60
    clock.now += 40
    assert limiter.acquire(-5, group=True) is None


def test_strict_refusals_take_nothing() -> None:
    clock = FakeClock()
    limiter = StrictRateLimiter(global_limit=2, clock=clock)
    assert limiter.acquire(1) is None
    assert limiter.acquire(2) is None
    assert [limiter.acquire(3) for _ in range(5)] == [1] * 5
    clock.now += 1.0
    assert limiter.acquire(3) is None
    assert limiter.acquire(4) is None


def test_per_chat_bucket_allows_a_burst_then_one_a_second() -> None:
    clock = FakeClock()
    limiter = RateLimiter(chat_rate=1.0, chat_burst=3, clock=clock)
    assert [limiter.acquire(1) for _ in range(3)] == [None, None, None]
    assert limiter.acquire(1) == 1
    assert limiter.acquire(2) is None  # another chat has its own bucket
    clock.now += 1.0
    assert limiter.acquire(1) is None
    assert limiter.acquire(1) == 1


def test_global_bucket_spans_chats_and_refusals_take_nothing() -> None:
    clock = FakeClock()
    limiter = RateLimiter(global_rate=2.0, global_burst=2, chat_burst=10, clock=clock)
    assert limiter.acquire(1) is None
    assert limiter.acquire(2) is None
    assert limiter.acquire(3) == 1
    assert limiter.acquire(3) == 1
    clock.now += 0.5  # one token back at 2/s; the refusals above did not spend it
    assert limiter.acquire(3) is None


def test_group_bucket_is_twenty_a_minute() -> None:
    clock = FakeClock()
    limiter = RateLimiter(group_rate=20 / 60, group_burst=1, clock=clock)
    assert limiter.acquire(-5, group=True) is None
    assert limiter.acquire(-5, group=True) == 3


def test_disabled_limiter_never_refuses() -> None:
    limiter = RateLimiter(enabled=False, chat_burst=1)
    assert all(limiter.acquire(1) is None for _ in range(100))
    strict = StrictRateLimiter(enabled=False)
    assert all(strict.acquire(1) is None for _ in range(100))
