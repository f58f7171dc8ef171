"""The dispatcher: sends due outbox rows within Telegram's limits, and records what happened.

One pass (:meth:`Dispatcher.run_once`) turns expired leases into uncertain rows, then keeps
claiming due rows and sending them until none is due: at most ``rate`` messages a second
overall (a token bucket), one message per ``chat_interval`` in a chat, at most
``max_in_flight`` requests whose outcome is not yet recorded. A row is claimed (committed as
``sending`` with a lease) just before its request leaves, so a crash leaves at most
``max_in_flight`` rows sending, and those become uncertain, never pending.

Database work runs in worker threads, so the event loop keeps sending while it commits.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Engine

from backend.followups.delivery import (
    Outcome,
    OutgoingMessage,
    RateLimited,
    Sender,
    Uncertain,
)
from backend.followups.outbox import (
    Candidate,
    SendRules,
    claim,
    due_candidates,
    expire_leases,
    record_outcomes,
)
from backend.storage.engine import session_scope
from backend.storage.types import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")


def default_owner() -> str:
    """Name this process in leases: host and pid."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


@dataclass(frozen=True)
class DispatchConfig:
    """Limits of the dispatcher.

    Parameters
    ----------
    rate
        Messages per second overall (Telegram: about 30); None lifts the limit.
    burst
        How many messages may leave back to back after a pause.
    chat_interval
        Seconds between two messages to one chat (Telegram: 1).
    max_in_flight
        Requests sent whose outcome is not recorded yet; also the most rows a crash can
        leave uncertain.
    batch
        Due rows read at a time.
    rules
        Send-time checks, retries and the lease.
    """

    rate: float | None = 30.0
    burst: int = 3
    chat_interval: float = 1.0
    max_in_flight: int = 16
    batch: int = 500
    rules: SendRules = field(default_factory=SendRules)
    owner: str = field(default_factory=default_owner)


@dataclass
class DispatchReport:
    requests: int = 0
    sent: int = 0
    failed: int = 0
    uncertain: int = 0
    retried: int = 0
    rate_limited: int = 0
    blocked: int = 0
    deferred: int = 0
    cancelled: int = 0
    expired: int = 0
    #: Rows left ``sending`` by a dispatcher that stopped, now uncertain.
    recovered_uncertain: int = 0
    seconds: float = 0.0


class TokenGate:
    """A token bucket on the loop's clock: ``rate`` per second, at most ``burst`` saved up."""

    def __init__(self, rate: float | None, burst: int, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.clock = clock
        self.tokens = float(self.burst)
        self.updated = clock()
        self.paused_until = 0.0

    def _refill(self, now: float) -> None:
        if self.rate is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_time(self) -> float:
        now = self.clock()
        if now < self.paused_until:
            return self.paused_until - now
        if self.rate is None:
            return 0.0
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def available(self) -> int:
        if self.rate is None:
            return 1 << 30
        self._refill(self.clock())
        return int(self.tokens)

    def take(self, n: int) -> None:
        if self.rate is not None:
            self._refill(self.clock())
            self.tokens -= n

    def refund(self, n: int) -> None:
        if self.rate is not None:
            self.tokens = min(self.burst, self.tokens + n)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)


class Dispatcher:
    """Send due follow-ups through ``sender`` (see ``bot.delivery.TelegramSender``)."""

    def __init__(
        self,
        engine: Engine,
        sender: Sender,
        config: DispatchConfig | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.sender = sender
        self.config = config or DispatchConfig()
        self.clock = clock
        #: Requests sent and not yet recorded, for tests and metrics.
        self.in_flight = 0

    def _in_session(self, fn: Callable[..., T], **kwargs: Any) -> T:
        with session_scope(self.engine) as session:
            return fn(session=session, **kwargs)

    async def _db(self, fn: Callable[..., T], **kwargs: Any) -> T:
        return await asyncio.to_thread(partial(self._in_session, fn, **kwargs))

    async def run_once(
        self, *, max_seconds: float | None = None, stop: asyncio.Event | None = None
    ) -> DispatchReport:
        """Send everything due now (and what 429s and retries put back meanwhile).

        When ``stop`` is set, nothing more is claimed; messages already handed to Telegram
        are waited for and their outcomes stored, so a shutdown leaves nothing uncertain.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        cfg, rules = self.config, self.config.rules
        report = DispatchReport()
        report.recovered_uncertain = await self._db(expire_leases, now=self.clock())
        gate = TokenGate(cfg.rate, cfg.burst, loop.time)
        queue: deque[Candidate] = deque()
        chat_ready: dict[int, float] = {}
        retries: dict[int, float] = {}
        outcomes: asyncio.Queue[tuple[OutgoingMessage, Outcome]] = asyncio.Queue()
        progress = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()

        async def send(message: OutgoingMessage) -> None:
            try:
                outcome = await self.sender.send(message)
            except Exception as exc:  # the request may have left: never assume it did not
                log.exception("sender failed on follow-up %s", message.row_id)
                outcome = Uncertain(f"unexpected error while sending: {exc!r}")
            await outcomes.put((message, outcome))

        async def write() -> None:
            while True:
                batch = [await outcomes.get()]
                # Gather what else completes within a few milliseconds: one commit for many
                # outcomes keeps the database off the critical path at high rates.
                deadline = loop.time() + 0.01
                while len(batch) < cfg.max_in_flight:
                    try:
                        batch.append(
                            await asyncio.wait_for(outcomes.get(), deadline - loop.time())
                        )
                    except TimeoutError:
                        break
                done = await self._db(
                    record_outcomes,
                    results=[(m.row_id, o) for m, o in batch],
                    owner=cfg.owner,
                    now=self.clock(),
                    rules=rules,
                )
                for field_name in ("sent", "failed", "uncertain", "retried", "blocked"):
                    setattr(
                        report, field_name, getattr(report, field_name) + getattr(done, field_name)
                    )
                report.rate_limited += done.rate_limited
                now_wall, now_mono = self.clock(), loop.time()
                for row_id, when in done.retry_at.items():
                    retries[row_id] = now_mono + max(0.0, (when - now_wall).total_seconds())
                for message, outcome in batch:
                    if isinstance(outcome, RateLimited):
                        gate.pause(outcome.retry_after)
                        chat_ready[message.chat_id] = now_mono + outcome.retry_after
                self.in_flight -= len(batch)
                progress.set()

        writer = asyncio.create_task(write())
        try:
            while True:
                if max_seconds is not None and loop.time() - started > max_seconds:
                    break
                if stop is not None and stop.is_set():
                    break
                progress.clear()
                if not queue:
                    found = await self._db(due_candidates, now=self.clock(), limit=cfg.batch)
                    queue.extend(found)
                    for candidate in found:
                        retries.pop(candidate.row_id, None)
                    if not queue:
                        if self.in_flight:
                            await progress.wait()
                            continue
                        now_mono = loop.time()
                        for row_id in [r for r, t in retries.items() if t < now_mono - 5]:
                            del retries[row_id]  # settled elsewhere (cancelled, erased)
                        if not retries:
                            break
                        await asyncio.sleep(min(5.0, max(0.02, min(retries.values()) - now_mono)))
                        continue
                room = cfg.max_in_flight - self.in_flight
                # Unlimited, claim in larger groups: one transaction per few rows would make
                # the database, not Telegram, the limit.
                if room <= 0 or (
                    cfg.rate is None and self.in_flight and room < cfg.max_in_flight // 2
                ):
                    await progress.wait()
                    continue
                wait = gate.wait_time()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                picked, earliest = self._pick(queue, gate, chat_ready, loop.time())
                if not picked:
                    delay = max(0.005, earliest - loop.time())
                    if self.in_flight:
                        with suppress(TimeoutError):
                            await asyncio.wait_for(progress.wait(), delay)
                    else:
                        await asyncio.sleep(delay)
                    continue
                gate.take(len(picked))
                claimed = await self._db(
                    claim,
                    ids=[c.row_id for c in picked],
                    owner=cfg.owner,
                    now=self.clock(),
                    rules=rules,
                )
                gate.refund(len(picked) - len(claimed.claimed))
                report.deferred += claimed.deferred
                report.cancelled += claimed.cancelled
                report.expired += claimed.expired
                report.failed += claimed.failed
                report.requests += len(claimed.claimed)
                for message in claimed.claimed:
                    chat_ready[message.chat_id] = loop.time() + cfg.chat_interval
                    self.in_flight += 1
                    task = asyncio.create_task(send(message))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            while self.in_flight:
                progress.clear()
                await progress.wait()
        finally:
            writer.cancel()
            with suppress(asyncio.CancelledError):
                await writer
        report.seconds = loop.time() - started
        return report

    def _pick(
        self, queue: deque[Candidate], gate: TokenGate, chat_ready: dict[int, float], now: float
    ) -> tuple[list[Candidate], float]:
        room = min(gate.available(), self.config.max_in_flight - self.in_flight)
        picked: list[Candidate] = []
        skipped: list[Candidate] = []
        chats: set[int] = set()
        earliest = math.inf
        while queue and len(picked) < room:
            candidate = queue.popleft()
            chat = candidate.chat_id
            if chat is None:
                picked.append(candidate)  # claiming fails it with the reason
                continue
            ready = chat_ready.get(chat, 0.0)
            if chat in chats or ready > now:
                skipped.append(candidate)
                earliest = min(earliest, ready if ready > now else now + 0.01)
                continue
            chats.add(chat)
            picked.append(candidate)
        queue.extendleft(reversed(skipped))
        return picked, earliest

    async def run_forever(self, interval: float, *, stop: asyncio.Event | None = None) -> None:
        """Run a pass every ``interval`` seconds until ``stop`` is set (or cancelled)."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                report = await self.run_once()
                if report.requests:
                    log.info("follow-ups dispatched: %s", report)
            except Exception:
                log.exception("follow-up dispatch pass failed")
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
