"""What the dispatcher hands a sender, and what a send can come to.

The outcomes say what is *known* about a request, because Telegram's ``sendMessage`` has no
idempotency key: only :class:`NotSent` and :class:`RateLimited` prove nothing reached the
chat and may be retried; :class:`Uncertain` may have been delivered and is never re-sent on
its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutgoingButton:
    """An inline button: a tracked ``url``, or ``callback_data`` the bot records."""

    text: str
    url: str | None = None
    callback_data: str | None = None


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    row_id: int
    chat_id: int
    text: str
    buttons: tuple[OutgoingButton, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Delivered:
    """Telegram accepted the message."""

    message_id: int


@dataclass(frozen=True, slots=True)
class RateLimited:
    """429: nothing was sent; wait ``retry_after`` seconds."""

    retry_after: float


@dataclass(frozen=True, slots=True)
class Blocked:
    """403: the user blocked the bot (or the chat is gone)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """400: Telegram refused the message as it is; sending it again would not help."""

    reason: str


@dataclass(frozen=True, slots=True)
class NotSent:
    """The request provably did not take effect (connection refused, 5xx): retry later."""

    reason: str


@dataclass(frozen=True, slots=True)
class Uncertain:
    """The request may have reached Telegram (read timeout, connection lost mid-way)."""

    reason: str


Outcome = Delivered | RateLimited | Blocked | Rejected | NotSent | Uncertain


class Sender(Protocol):
    """Sends one message; never raises for Telegram or network errors, returns an outcome."""

    async def send(self, message: OutgoingMessage) -> Outcome: ...
