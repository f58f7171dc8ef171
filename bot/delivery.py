"""The Telegram side of follow-ups: one ``sendMessage`` per outbox row, errors as outcomes.

Telegram errors become the dispatcher's outcome types, sorted by what they prove: a 429 or a
refused connection or a 5xx proves nothing was sent (retried); a read timeout or a connection
lost mid-request proves nothing either way (uncertain, never re-sent on its own).
"""

from __future__ import annotations

from datetime import timedelta

import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from backend.followups.delivery import (
    Blocked,
    Delivered,
    NotSent,
    Outcome,
    OutgoingMessage,
    RateLimited,
    Rejected,
    Uncertain,
)
from bot.transport import QuietHTTPXRequest

#: httpx errors raised before a byte of the request left: the message cannot have arrived.
_BEFORE_SENDING = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _keyboard(message: OutgoingMessage) -> InlineKeyboardMarkup | None:
    if not message.buttons:
        return None
    rows = [
        [InlineKeyboardButton(b.text, url=b.url, callback_data=b.callback_data)]
        for b in message.buttons
    ]
    return InlineKeyboardMarkup(rows)


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def classify(exc: TelegramError) -> Outcome:
    """Map a python-telegram-bot error to what it proves about the send."""
    if isinstance(exc, RetryAfter):
        return RateLimited(_seconds(exc.retry_after))
    if isinstance(exc, Forbidden):
        return Blocked(exc.message)
    if isinstance(exc, BadRequest):
        return Rejected(f"Telegram refused the message: {exc.message}")
    cause = exc.__cause__
    if isinstance(cause, _BEFORE_SENDING):
        return NotSent(f"{type(cause).__name__}: the request never left")
    if isinstance(exc, TimedOut):
        return Uncertain(f"no answer in time ({type(cause).__name__ if cause else 'timeout'})")
    if isinstance(exc, NetworkError) and (cause is None or isinstance(cause, TelegramError)):
        # An HTTP answer arrived with a 5xx status (a 502 Bad Gateway, a 500): not sent.
        return NotSent(f"Telegram answered with an error: {exc.message}")
    if isinstance(exc, NetworkError):
        return Uncertain(f"connection lost mid-request: {exc.message}")
    return Rejected(f"Telegram error: {exc.message}")


class TelegramSender:
    """Send follow-ups with a python-telegram-bot ``Bot``; see :func:`classify` for errors.

    Parameters
    ----------
    bot
        An initialised ``telegram.Bot`` (``base_url`` points it at Telegram or the sandbox).
    """

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    @classmethod
    def build(
        cls,
        token: str,
        base_url: str,
        *,
        read_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        pool_size: int = 64,
    ) -> TelegramSender:
        """Make a sender with its own connection pool sized for the dispatcher."""
        request = QuietHTTPXRequest(
            connection_pool_size=pool_size,
            read_timeout=read_timeout,
            write_timeout=read_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=read_timeout,
        )
        return cls(Bot(token, base_url=base_url, request=request))

    async def send(self, message: OutgoingMessage) -> Outcome:
        try:
            sent = await self.bot.send_message(
                chat_id=message.chat_id,
                text=message.text,
                reply_markup=_keyboard(message),
                link_preview_options=None,
            )
        except TelegramError as exc:
            return classify(exc)
        return Delivered(sent.message_id)
