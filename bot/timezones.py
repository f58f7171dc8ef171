"""The time-zone choice: one tap on the local time the respondent sees on their own clock.

Quiet hours need the respondent's time zone, and nothing about a Telegram user tells it
reliably (the language is not a place). So the bot asks, once, at the end of the first quiz,
and on ``/timezone``: a keyboard of the current time in one city per common offset. The
respondent taps the time their clock shows; the city's zone is stored (and follows its
daylight saving). Nobody who does not answer gets quiet hours guessed for them.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

#: Callback data prefix: ``tz:<index into ZONES>`` or ``tz:-`` (no thanks). Not signed: it
#: only ever changes the time zone of whoever presses it.
PREFIX = "tz:"
SKIP = f"{PREFIX}-"

#: One city per common UTC offset, west to east.
ZONES: tuple[tuple[str, str], ...] = (
    ("Honolulu", "Pacific/Honolulu"),
    ("Anchorage", "America/Anchorage"),
    ("Los Angeles", "America/Los_Angeles"),
    ("Denver", "America/Denver"),
    ("Chicago", "America/Chicago"),
    ("New York", "America/New_York"),
    ("Santiago", "America/Santiago"),
    ("São Paulo", "America/Sao_Paulo"),
    ("Azores", "Atlantic/Azores"),
    ("London", "Europe/London"),
    ("Berlin", "Europe/Berlin"),
    ("Athens", "Europe/Athens"),
    ("Moscow", "Europe/Moscow"),
    ("Dubai", "Asia/Dubai"),
    ("Karachi", "Asia/Karachi"),
    ("Delhi", "Asia/Kolkata"),
    ("Dhaka", "Asia/Dhaka"),
    ("Bangkok", "Asia/Bangkok"),
    ("Singapore", "Asia/Singapore"),
    ("Tokyo", "Asia/Tokyo"),
    ("Sydney", "Australia/Sydney"),
    ("Auckland", "Pacific/Auckland"),
)

QUESTION = (
    "One more thing: so that I never write to you at night, which time does your clock show "
    "right now? (You can change it any time with /timezone.)"
)


def keyboard(now: datetime) -> InlineKeyboardMarkup:
    """Return the buttons: the local time in each city at ``now`` (timezone-aware)."""
    buttons = [
        InlineKeyboardButton(
            f"{now.astimezone(ZoneInfo(zone)):%H:%M} {city}", callback_data=f"{PREFIX}{index}"
        )
        for index, (city, zone) in enumerate(ZONES)
    ]
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    rows.append([InlineKeyboardButton("Don't ask me", callback_data=SKIP)])
    return InlineKeyboardMarkup(rows)


def chosen(data: str) -> tuple[str, str] | None:
    """Return the (city, zone) a button's data names, or None for "don't ask" or bad data."""
    index = data.removeprefix(PREFIX)
    if not index.isdigit() or int(index) >= len(ZONES):
        return None
    return ZONES[int(index)]


def confirmation(city: str, zone: str, now: datetime) -> str:
    """Return what the bot says once a zone is chosen."""
    local = now.astimezone(ZoneInfo(zone))
    return (
        f"Thanks! I'll use the time in {city} ({zone}, now {local:%H:%M}) and send follow-ups "
        "only at sensible hours. /timezone changes it."
    )
