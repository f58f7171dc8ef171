"""Reply markup as Telegram validates it: inline keyboards, reply keyboards, remove, force."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from bot.sandbox.errors import bad_request

MAX_CALLBACK_DATA_BYTES = 64
_INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def validate_reply_markup(markup: Any, *, inline_only: bool = False) -> dict[str, Any] | None:
    """Return ``markup`` normalised, or raise the 400 Telegram answers for it."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        return {"inline_keyboard": _inline_keyboard(markup["inline_keyboard"])}
    if inline_only:
        raise bad_request("inline keyboard expected")
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request('field "keyboard" of the ReplyKeyboardMarkup must be an array')
        normalised = [[_reply_button(button) for button in row] for row in rows]
        return {**markup, "keyboard": normalised}
    if markup.get("remove_keyboard") is True:
        return dict(markup)
    if markup.get("force_reply") is True:
        return dict(markup)
    raise bad_request("can't parse reply keyboard markup JSON object")


def _inline_keyboard(rows: Any) -> list[list[dict[str, Any]]]:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an array')
    result = []
    for row in rows:
        buttons = []
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad_request("can't parse inline keyboard button: Text must be a String")
            actions = [name for name in _INLINE_ACTIONS if name in button]
            if not actions:
                raise bad_request("text buttons are unallowed in the inline keyboard")
            if "callback_data" in button:
                data = button["callback_data"]
                if (
                    not isinstance(data, str)
                    or not data
                    or len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES
                ):
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in button:
                url = button["url"]
                parsed = urlparse(url) if isinstance(url, str) else None
                if (
                    parsed is None
                    or parsed.scheme not in ("http", "https", "tg")
                    or not (parsed.netloc or parsed.scheme == "tg")
                ):
                    raise bad_request("BUTTON_URL_INVALID")
            buttons.append(dict(button))
        result.append(buttons)
    return result


def _reply_button(button: Any) -> dict[str, Any]:
    if isinstance(button, str):
        return {"text": button}
    if isinstance(button, dict) and isinstance(button.get("text"), str):
        return dict(button)
    raise bad_request("can't parse keyboard button: Text must be a String")
