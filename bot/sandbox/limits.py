"""Telegram's flood limits: strict sliding windows by default, token buckets when lenient.

Telegram's Bot FAQ ("My bot is hitting limits, how do I avoid this?") says: in one chat avoid
more than one message per second; bulk notifications get no more than about 30 messages per
second; a group gets no more than 20 messages per minute; short bursts above the per-chat
limit *may* be allowed, "but eventually you'll begin receiving 429 errors". The strict
limiter (the default) takes the published numbers literally and forgives nothing, so what
passes here passes there:

* at most ``global_limit`` sends in any ``global_window`` seconds across all chats (a sliding
  window, so there is no burst above it after a pause);
* at least ``chat_interval`` seconds between two sends to one private chat;
* at most ``group_limit`` sends in any ``group_window`` seconds to one group or channel;
* a send that breaks a rule is refused with 429 and ``retry_after`` N (whole seconds, at
  least 1), and starts a *flood wait*: for N seconds every send in the scope it broke (all
  chats for the global rule, that chat for the others) is refused with the seconds left of
  the wait it announced. Refused sends take nothing from any window, so a bot that waits
  out ``retry_after`` always gets through.

The lenient limiter is the sandbox's earlier model, token buckets that forgive a burst of 3
per chat; it is only used when chosen explicitly (``SandboxConfig(strict=False)``).
"""

from __future__ import annotations

import math
import time
from collections import deque
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
    """Lenient limits: global and per-chat token buckets for messages sent by the bot."""

    strict = False

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


def _seconds(wait: float) -> int:
    # Telegram announces whole seconds; rounding up keeps "wait retry_after" always enough.
    return max(1, math.ceil(wait - 1e-9))


class StrictRateLimiter:
    """Strict limits: sliding windows, a fixed interval per chat and flood waits."""

    strict = True

    def __init__(
        self,
        *,
        enabled: bool = True,
        global_limit: int = 30,
        global_window: float = 1.0,
        chat_interval: float = 1.0,
        group_limit: int = 20,
        group_window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self.global_limit, self.global_window = global_limit, global_window
        self.chat_interval = chat_interval
        self.group_limit, self.group_window = group_limit, group_window
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        """Forget every past send and flood wait, as after a long quiet time."""
        self._sent: deque[float] = deque()
        self._chat_sent: dict[int, deque[float]] = {}
        self._flood_global = 0.0
        self._flood_chat: dict[int, float] = {}

    def acquire(self, chat_id: int, *, group: bool = False) -> int | None:
        """Take a send for ``chat_id``; return None, or the seconds to retry after."""
        if not self.enabled:
            return None
        now = self._clock()
        if now < self._flood_global:
            return _seconds(self._flood_global - now)
        flood = self._flood_chat.get(chat_id, 0.0)
        if now < flood:
            return _seconds(flood - now)
        sent = self._sent
        while sent and sent[0] <= now - self.global_window:
            sent.popleft()
        if len(sent) >= self.global_limit:
            wait = _seconds(sent[-self.global_limit] + self.global_window - now)
            self._flood_global = now + wait
            return wait
        history = self._chat_sent.setdefault(chat_id, deque())
        limit, window = (self.group_limit, self.group_window) if group else (1, self.chat_interval)
        while history and history[0] <= now - window:
            history.popleft()
        if len(history) >= limit:
            wait = _seconds(history[-limit] + window - now)
            self._flood_chat[chat_id] = now + wait
            return wait
        sent.append(now)
        history.append(now)
        return None
