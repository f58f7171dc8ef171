"""Telegram's flood limits as token buckets.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens a second; a send takes one
token from the global bucket and one from its chat's bucket, or is refused with the whole
seconds to wait (at least 1, as Telegram's ``retry_after`` is an integer). A refused send takes
nothing, so a bot that waits ``retry_after`` always gets through.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    """A bucket of ``burst`` tokens refilled at ``rate`` per second."""

    rate: float
    burst: int
    tokens: float = field(init=False)
    updated: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def wait_time(self, now: float) -> float:
        """Return seconds until one token is available (0 when one is there now)."""
        self._refill(now)
        if self.tokens >= 1.0:
            return 0.0
        if self.rate <= 0:
            return math.inf
        return (1.0 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        """Take one token; call only after ``wait_time`` returned 0."""
        self._refill(now)
        self.tokens -= 1.0

    def _refill(self, now: float) -> None:
        if self.updated:
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now


class RateLimiter:
    """Global and per-chat buckets for messages sent by the bot."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        global_rate: float = 30.0,
        global_burst: int = 30,
        chat_rate: float = 1.0,
        chat_burst: int = 3,
        group_rate: float = 20.0 / 60.0,
        group_burst: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self._global = TokenBucket(global_rate, global_burst)
        self._chat_rate, self._chat_burst = chat_rate, chat_burst
        self._group_rate, self._group_burst = group_rate, group_burst
        self._chats: dict[int, TokenBucket] = {}
        self._clock = clock

    def reset(self) -> None:
        """Refill every bucket, as after a long quiet time."""
        self._global = TokenBucket(self._global.rate, self._global.burst)
        self._chats.clear()

    def acquire(self, chat_id: int, *, group: bool = False) -> int | None:
        """Take a send for ``chat_id``; return None, or the seconds to retry after."""
        if not self.enabled:
            return None
        now = self._clock()
        bucket = self._chats.get(chat_id)
        if bucket is None:
            bucket = (
                TokenBucket(self._group_rate, self._group_burst)
                if group
                else TokenBucket(self._chat_rate, self._chat_burst)
            )
            self._chats[chat_id] = bucket
        wait = max(self._global.wait_time(now), bucket.wait_time(now))
        if wait > 0:
            return max(1, math.ceil(wait))
        self._global.take(now)
        bucket.take(now)
        return None
