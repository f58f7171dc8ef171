"""Thin handlers: decode the update, make one service call off the event loop, render.

``commands`` holds the quiz commands, ``answers`` the answer path (typed answers and
buttons), ``account`` the respondent's own data and settings, ``errors`` the error handler;
``common`` what they share.
"""

from bot.handlers.account import delete_me, privacy, stop, timezone, timezone_choice
from bot.handlers.answers import (
    button,
    edited_message,
    followup_click,
    other_message,
    text_answer,
)
from bot.handlers.commands import (
    cancel,
    group_message,
    help_command,
    restart,
    resume,
    start,
    unknown_command,
)
from bot.handlers.errors import on_error

__all__ = [
    "button",
    "cancel",
    "delete_me",
    "edited_message",
    "followup_click",
    "group_message",
    "help_command",
    "on_error",
    "other_message",
    "privacy",
    "restart",
    "resume",
    "start",
    "stop",
    "text_answer",
    "timezone",
    "timezone_choice",
    "unknown_command",
]
