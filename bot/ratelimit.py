"""The bot's rate limiter: Telegram's budget shared with the follow-ups, the quiz first.

python-telegram-bot's ``AIORateLimiter`` keeps its own 30-per-second bucket for every call,
so the quiz and the follow-up dispatcher (another ``Bot``) each believed they had the whole
budget, and the quiz was throttled by calls Telegram does not count. This limiter hands the
messages the bot *sends* to the :class:`~backend.followups.budget.SendBudget` it shares with
the dispatcher, at :data:`~backend.followups.budget.URGENT` priority: a respondent waiting
for the next question goes before a follow-up. Telegram's Bot FAQ publishes limits for
sending messages only; edits, callback answers and the rest pass straight through, and
should Telegram still answer one of them 429, it is waited out and retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram._utils.types import JSONDict
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from backend.followups.budget import URGENT, SendBudget

log = logging.getLogger(__name__)

#: Bot API methods that send a message: what Telegram's published limits count.
SENDING = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendAudio",
        "sendVideo",
        "sendAnimation",
        "sendVoice",
        "sendVideoNote",
        "sendSticker",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendPoll",
        "sendDice",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
    }
)

Request = Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]]


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class BudgetRateLimiter(BaseRateLimiter[int]):
    """Pace the bot's sends through a shared :class:`SendBudget`.

    Parameters
    ----------
    budget
        The budget the follow-up dispatcher uses too (one per bot token and process).
    max_retries
        How often a request answered 429 is retried after waiting ``retry_after``.
    priority
        The priority of the bot's sends (``rate_limit_args`` overrides it per call).
    """

    def __init__(
        self, budget: SendBudget, *, max_retries: int = 2, priority: int = URGENT
    ) -> None:
        self.budget = budget
        self.max_retries = max_retries
        self.priority = priority

    async def initialize(self) -> None:
        """Nothing to set up: the budget lives as long as the service."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Request,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        chat_id: Any = data.get("chat_id")
        with contextlib.suppress(ValueError, TypeError):
            chat_id = int(chat_id)
        limited = endpoint in SENDING and not data.get("allow_paid_broadcast", False)
        priority = self.priority if rate_limit_args is None else rate_limit_args
        for attempt in range(self.max_retries + 1):
            slot = None
            if limited:
                # A channel's @username: a group as far as the limits go.
                key = chat_id if isinstance(chat_id, int) else -abs(hash(chat_id)) - 1
                slot = await self.budget.acquire(key, priority=priority)
                await self.budget.depart(slot)
            try:
                result = await callback(*args, **kwargs)
            except RetryAfter as exc:
                wait = _seconds(exc.retry_after)
                if slot is not None:
                    self.budget.release(slot, retry_after=wait)
                if attempt == self.max_retries:
                    raise
                log.warning("%s to %s answered 429: retrying in %g s", endpoint, chat_id, wait)
                if slot is None:  # the budget does not pace this call: wait here
                    await asyncio.sleep(wait)
                continue
            except BaseException:
                if slot is not None:
                    self.budget.release(slot)
                raise
            if slot is not None:
                self.budget.release(slot)
            return result
        raise AssertionError("unreachable")  # pragma: no cover
