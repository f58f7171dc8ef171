"""Telegram's message budget, shared by everything one bot sends, the waiting respondent first.

Telegram's Bot FAQ: about 30 messages a second across chats, one a second in a chat, 20 a
minute in a group; a 429 with ``retry_after`` and a flood wait for a bot that exceeds them.
A :class:`SendBudget` hands out a :class:`Slot` per message so that the server never sees
more, whatever the network does between here and there:

* **A sliding window, not a bucket that starts full.** A message occupies the window from the
  moment it is granted until one ``window`` after its answer came back: Telegram received it
  somewhere in between, so at most ``limit`` messages can fall in any window of Telegram's,
  however late or early each one arrived. Grants also follow a schedule ``window / limit``
  apart (a late timer may catch up by three), so after a pause the budget resumes at the
  steady pace instead of a burst.
* **Granted ahead, sent on time.** A slot may be granted up to ``lead`` seconds before it
  may be used (its ``not_before``), so the caller's own work before sending (the dispatcher
  claims the row in the database) overlaps the wait instead of adding to each message's
  time in the window; :meth:`SendBudget.depart` waits for ``not_before``.
* **Per-chat spacing measured when a request leaves, with a margin**, and again from its
  answer: the next message to that chat is granted no sooner than ``chat_interval + margin``
  after the previous one left and ``chat_interval`` after its answer (20 per minute in
  groups). Only one request per chat is ever in flight.
* **Priorities in one budget.** :data:`URGENT` (a respondent waiting for the next question)
  goes before :data:`BACKGROUND` (follow-ups); while both wait, the background keeps
  ``reserve`` of each window, so follow-ups still progress under a full quiz load.
* **An unexpected 429 pauses only what it concerns.** The chat that got it waits
  ``retry_after``; nothing else is granted until the requests already in flight have
  answered; if one of them to another chat was refused too, the limit was the bot's global
  one and everything waits ``retry_after``, otherwise the other chats go on at once. No
  queued request is ever sent into a flood wait.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

#: A respondent is waiting for this message (the next question, an answer to a command).
URGENT = 0
#: Nobody is waiting (follow-ups): sent when the urgent traffic leaves room.
BACKGROUND = 1


@dataclass(eq=False, slots=True)
class Slot:
    """The permission to send one message to ``chat_id``; give it back with ``release``."""

    chat_id: int | None
    priority: int
    granted: float
    #: The earliest moment the message may leave (``granted`` unless granted ahead).
    not_before: float = 0.0
    done: float | None = None
    #: When the chat was ready before this grant (restored when the slot is cancelled).
    chat_was_ready: float = 0.0


@dataclass(eq=False, slots=True)
class _Waiter:
    priority: int
    seq: int
    chat_id: int | None
    group: bool
    future: asyncio.Future[Slot]


@dataclass(slots=True)
class _Chat:
    busy: bool = False
    ready_at: float = 0.0
    paused_until: float = 0.0
    recent: deque[float] = field(default_factory=deque)


class SendBudget:
    """Grant sends within Telegram's limits to callers of several priorities.

    Parameters
    ----------
    limit
        Messages in any ``window`` seconds across chats (Telegram: 30 a second); None lifts
        the global limit (per-chat spacing still applies).
    chat_interval
        Seconds between two messages to one private chat (Telegram: 1).
    margin
        Extra seconds added to the per-chat interval, measured from when a request left.
    group_limit, group_window
        Messages to one group in a window (Telegram: 20 a minute).
    reserve
        Share of each window kept for :data:`BACKGROUND` while it has messages waiting.
    lead
        How long before its ``not_before`` a slot may be granted.
    """

    def __init__(
        self,
        *,
        limit: int | None = 30,
        window: float = 1.0,
        chat_interval: float = 1.0,
        margin: float = 0.05,
        group_limit: int = 20,
        group_window: float = 60.0,
        reserve: float = 0.1,
        lead: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lead = lead
        self.limit, self.window = limit, window
        self.chat_interval, self.margin = chat_interval, margin
        self.group_limit, self.group_window = group_limit, group_window
        self.reserved = 0 if limit is None else max(1, math.floor(limit * reserve))
        self.spacing = 0.0 if limit is None else window / limit
        self.clock = clock
        self._window: deque[Slot] = deque()
        self._in_flight: set[Slot] = set()
        self._chats: dict[int, _Chat] = {}
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        #: The pace's schedule: grants are due ``spacing`` apart, and a late timer may catch
        #: up by ``tolerance`` (the window still caps every second at ``limit``).
        self._scheduled = -math.inf
        self.tolerance = 3 * self.spacing
        self._paused_until = 0.0
        #: After an unexpected 429: (its chat, its retry_after), until the flight settles.
        self._suspect: tuple[int | None, float] | None = None
        #: The last 429: its chat and when its wait ends.
        self._last_refusal: tuple[int | None, float] | None = None
        self._timer: asyncio.TimerHandle | None = None
        #: Counters for reports and tests.
        self.granted = {URGENT: 0, BACKGROUND: 0}
        self.refusals = 0

    # -- the callers' side -------------------------------------------------------------------

    async def acquire(
        self, chat_id: int | None, *, priority: int = URGENT, group: bool | None = None
    ) -> Slot:
        """Wait until a message to ``chat_id`` may leave within ``lead``; return its slot.

        Send it after :meth:`depart` (at once when ``lead`` is 0).
        """
        loop = asyncio.get_running_loop()
        in_group = (chat_id or 0) < 0 if group is None else group
        waiter = _Waiter(priority, next(self._seq), chat_id, in_group, loop.create_future())
        self._waiters.append(waiter)
        self._grant()
        try:
            return await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self.cancel(waiter.future.result())
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    async def depart(self, slot: Slot) -> None:
        """Wait until ``slot``'s message may leave (cancelled: the slot is given back).

        The chat's next message is spaced from now, when this one really leaves.
        """
        delay = slot.not_before - self.clock()
        if delay > 0:
            try:
                await asyncio.sleep(delay)
            except asyncio.CancelledError:
                self.cancel(slot)
                raise
        chat = self._chats.get(slot.chat_id) if slot.chat_id is not None else None
        if chat is not None and chat.busy:
            left = self.clock()
            chat.ready_at = max(chat.ready_at, left + self._interval(slot.chat_id) + self.margin)

    def release(self, slot: Slot, *, retry_after: float | None = None) -> None:
        """Record that the request answered; ``retry_after`` when Telegram answered 429."""
        now = self.clock()
        slot.done = now
        self._in_flight.discard(slot)
        chat = self._chat(slot.chat_id)
        if chat is not None:
            chat.busy = False
            chat.ready_at = max(chat.ready_at, now + self._interval(slot.chat_id))
        if len(self._chats) > 10_000:
            self._forget_idle_chats(now)
        if retry_after is not None:
            self._refused(slot, retry_after, now)
        elif self._suspect is not None and not self._in_flight:
            self._suspect = None  # every other request in flight went through: a chat limit
        self._grant()

    def cancel(self, slot: Slot) -> None:
        """Give back a slot whose message did not leave (nothing was sent)."""
        self._in_flight.discard(slot)
        if slot in self._window:
            self._window.remove(slot)
        chat = self._chat(slot.chat_id)
        if chat is not None:
            chat.busy = False
            chat.ready_at = slot.chat_was_ready
            if chat.recent and chat.recent[-1] == slot.not_before:
                chat.recent.pop()
        self._grant()

    @property
    def waiting(self) -> int:
        """Return how many sends wait for a slot."""
        return len(self._waiters)

    # -- the budget's side -------------------------------------------------------------------

    def _interval(self, chat_id: int | None) -> float:
        return 0.0 if chat_id is None or chat_id < 0 else self.chat_interval

    def _chat(self, chat_id: int | None) -> _Chat | None:
        if chat_id is None:
            return None
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _Chat()
        return chat

    def _forget_idle_chats(self, now: float) -> None:
        horizon = now - self.group_window
        for chat_id in [
            key
            for key, chat in self._chats.items()
            if not chat.busy
            and max(chat.ready_at, chat.paused_until) < now
            and (not chat.recent or chat.recent[-1] < horizon)
        ]:
            del self._chats[chat_id]

    def _refused(self, slot: Slot, retry_after: float, now: float) -> None:
        self.refusals += 1
        chat = self._chat(slot.chat_id)
        if chat is not None:
            chat.paused_until = max(chat.paused_until, now + retry_after)
        last, self._last_refusal = self._last_refusal, (slot.chat_id, now + retry_after)
        if last is not None and last[0] != slot.chat_id and now < last[1]:
            # Two chats refused within one wait: the bot's global limit; everyone waits.
            self._paused_until = max(self._paused_until, last[1], now + retry_after)
            self._suspect = None
        elif self._in_flight:
            self._suspect = (slot.chat_id, retry_after)

    def _chat_ready_at(self, waiter: _Waiter, now: float) -> float:
        chat = self._chat(waiter.chat_id)
        if chat is None:
            return now
        if chat.busy:
            return math.inf  # released later, which grants again
        ready = max(chat.ready_at, chat.paused_until)
        if waiter.group:
            while chat.recent and chat.recent[0] <= now - self.group_window:
                chat.recent.popleft()
            if len(chat.recent) >= self.group_limit:
                ready = max(ready, chat.recent[-self.group_limit] + self.group_window)
        return ready

    def _grant(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._waiters:
            return
        now = self.clock()
        window = self._window
        while window and window[0].done is not None and window[0].done <= now - self.window:
            window.popleft()
        next_change = math.inf
        if now < self._paused_until:
            next_change = self._paused_until
        elif self._suspect is None:
            background_ready = any(
                w.priority > URGENT and self._chat_ready_at(w, now) <= now for w in self._waiters
            )
            background_used = sum(1 for s in window if s.priority > URGENT)
            horizon = now + self.lead
            for waiter in sorted(self._waiters, key=lambda w: (w.priority, w.seq)):
                go = now
                if self.limit is not None:
                    go = max(go, self._window_room_at(now), self._scheduled - self.tolerance)
                    if go > horizon:
                        next_change = min(next_change, go - self.lead)
                        break
                at = self._chat_ready_at(waiter, now)
                if at > horizon:
                    next_change = min(next_change, at - self.lead)
                    continue
                go = max(go, at)
                if (
                    waiter.priority == URGENT
                    and self.limit is not None
                    and background_ready
                    and background_used < self.reserved
                    and len(window) >= self.limit - self.reserved
                ):
                    continue  # the rest of this window is the follow-ups'
                self._give(waiter, now, go)
                if waiter.priority > URGENT:
                    background_used += 1
        if self._waiters and next_change < math.inf:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.0, next_change - now), self._grant)

    def _window_room_at(self, now: float) -> float:
        """When fewer than ``limit`` slots will occupy the window (inf: after a release)."""
        assert self.limit is not None
        ends = [s.done + self.window if s.done is not None else math.inf for s in self._window]
        busy = [end for end in ends if end > now]
        if len(busy) < self.limit:
            return now
        return sorted(busy)[len(busy) - self.limit]  # inf while those are still in flight

    def _give(self, waiter: _Waiter, now: float, go: float) -> None:
        self._waiters.remove(waiter)
        slot = Slot(waiter.chat_id, waiter.priority, now, not_before=go)
        self._window.append(slot)
        self._in_flight.add(slot)
        self._scheduled = max(self._scheduled, go) + self.spacing
        self.granted[min(waiter.priority, BACKGROUND)] += 1
        chat = self._chat(waiter.chat_id)
        if chat is not None:
            slot.chat_was_ready = chat.ready_at
            chat.busy = True
            chat.ready_at = go + self._interval(waiter.chat_id) + self.margin
            if waiter.group:
                chat.recent.append(go)
        if not waiter.future.done():
            waiter.future.set_result(slot)
