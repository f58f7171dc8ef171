"""The bot's deep link to a questionnaire, with its QR code."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from markupsafe import Markup

from backend.api.dashboard import charts
from backend.api.keys import BOT


@dataclass(frozen=True)
class DeepLink:
    """The bot's link that opens a questionnaire, and its QR code (when the bot is known)."""

    key: str
    url: str | None
    qr: Markup | None


def deep_link(app: web.Application, key: str) -> DeepLink:
    """Return ``https://t.me/<bot>?start=<key>`` for the bot running in this service."""
    application = app.get(BOT)
    username = None
    if application is not None:
        try:
            username = application.bot.username
        except (RuntimeError, AttributeError):  # not initialised yet: no get_me answer
            username = None
    if not username:
        return DeepLink(key, None, None)
    url = f"https://t.me/{username}?start={key}"
    return DeepLink(key, url, charts.qr_code(url))
