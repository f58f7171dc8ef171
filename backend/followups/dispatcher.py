"""The dispatcher: sends due outbox rows within Telegram's limits, and records what happened.

One pass (:meth:`Dispatcher.run_once`) turns expired leases into uncertain rows, then keeps
taking due rows and sending them until none is due. Each row first waits for a slot of the
:class:`~backend.followups.budget.SendBudget` (shared with the quiz bot in ``serve``, where
the quiz goes first): a sliding window of ``rate`` messages a second counted from each
request's grant to its answer, one message per ``chat_interval`` in a chat counted from when
a request leaves, at most ``max_in_flight`` rows in hand. Only with its slot granted is a row
claimed (committed as ``sending`` with a lease) and its request sent, so a crash leaves at
most ``max_in_flight`` rows sending, and those become uncertain, never pending. Slots are
granted a little ahead of when they may be used, so the claim overlaps the wait.

Database work runs in worker threads, so the event loop keeps sending while it commits.
"""

from __future__ import annotations

import asyncio
import logging
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

from backend.followups.budget import BACKGROUND, SendBudget, Slot
from backend.followups.delivery import (
    Outcome,
    OutgoingMessage,
    RateLimited,
    Sender,
    Uncertain,
)
from backend.followups.outbox import (
    Candidate,
    OutcomeCounts,
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
        Messages per second overall (Telegram: about 30); None lifts the limit. Ignored when
        the dispatcher is given a shared budget.
    chat_interval
        Seconds between two messages to one chat (Telegram: 1).
    chat_margin
        Added to ``chat_interval``, counted from when the previous request left.
    max_in_flight
        Requests sent whose outcome is not recorded yet; also the most rows a crash can
        leave uncertain.
    batch
        Due rows read at a time.
    rules
        Send-time checks, retries and the lease.
    """

    rate: float | None = 30.0
    chat_interval: float = 1.0
    chat_margin: float = 0.05
    max_in_flight: int = 16
    batch: int = 500
    rules: SendRules = field(default_factory=SendRules)
    owner: str = field(default_factory=default_owner)


@dataclass
class DispatchReport(OutcomeCounts):
    """What one pass did: the outcomes of its sends, and what claiming settled without one."""

    requests: int = 0
    deferred: int = 0
    cancelled: int = 0
    expired: int = 0
    #: Rows left ``sending`` by a dispatcher that stopped, now uncertain.
    recovered_uncertain: int = 0
    seconds: float = 0.0
    #: From the first request leaving to the last: the time spent sending.
    sending_seconds: float = 0.0

    @property
    def sending_rate(self) -> float:
        """Return the messages per second sustained while sending (0 below two requests)."""
        if self.requests < 2 or self.sending_seconds <= 0:
            return 0.0
        return (self.requests - 1) / self.sending_seconds


@dataclass(frozen=True)
class _ClaimRequest:
    candidate: Candidate
    result: asyncio.Future[OutgoingMessage | None]


def budget_for(config: DispatchConfig) -> SendBudget:
    """Return a budget of the dispatcher's own (when it does not share the bot's)."""
    return SendBudget(
        limit=None if config.rate is None else max(1, int(config.rate)),
        chat_interval=config.chat_interval,
        margin=config.chat_margin,
    )


class Dispatcher:
    """Send due follow-ups through ``sender`` (see ``bot.delivery.TelegramSender``)."""

    def __init__(
        self,
        engine: Engine,
        sender: Sender,
        config: DispatchConfig | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        budget: SendBudget | None = None,
    ) -> None:
        self.engine = engine
        self.sender = sender
        self.config = config or DispatchConfig()
        self.clock = clock
        #: Telegram's budget; pass the bot's to share it (the quiz goes first).
        self.budget = budget or budget_for(self.config)
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
        cfg, rules, budget = self.config, self.config.rules, self.budget
        report = DispatchReport()
        report.recovered_uncertain = await self._db(expire_leases, now=self.clock())
        queue: deque[Candidate] = deque()
        #: Rows taken from the queue and not yet settled (waiting, claiming or sending).
        in_hand: set[int] = set()
        retries: dict[int, float] = {}
        room = asyncio.Semaphore(cfg.max_in_flight)
        claims: asyncio.Queue[_ClaimRequest] = asyncio.Queue()
        outcomes: asyncio.Queue[tuple[OutgoingMessage, Outcome]] = asyncio.Queue()
        progress = asyncio.Event()
        #: Tasks still waiting for a slot: nothing of theirs is in Telegram's hands yet.
        waiting: set[asyncio.Task[None]] = set()
        tasks: set[asyncio.Task[None]] = set()
        departures: list[float] = []

        def settle(candidate: Candidate, slot: Slot | None) -> None:
            if slot is not None:
                budget.cancel(slot)
            in_hand.discard(candidate.row_id)
            room.release()
            progress.set()

        async def deliver(candidate: Candidate) -> None:
            task = asyncio.current_task()
            assert task is not None
            slot: Slot | None = None
            waiting.add(task)
            try:
                if candidate.chat_id is not None:
                    slot = await budget.acquire(candidate.chat_id, priority=BACKGROUND)
            except asyncio.CancelledError:
                settle(candidate, slot)
                raise
            finally:
                waiting.discard(task)
            claimed: asyncio.Future[OutgoingMessage | None] = loop.create_future()
            await claims.put(_ClaimRequest(candidate, claimed))
            try:
                message = await asyncio.shield(claimed)
            except Exception:
                settle(candidate, slot)
                return
            if message is None:  # deferred, cancelled, expired or failed at claim time
                settle(candidate, slot)
                return
            if slot is not None:  # granted ahead: the claim overlapped the wait
                await budget.depart(slot)
            self.in_flight += 1
            departures.append(loop.time())
            try:
                outcome = await self.sender.send(message)
            except Exception as exc:  # the request may have left: never assume it did not
                log.exception("sender failed on follow-up %s", message.row_id)
                outcome = Uncertain(f"unexpected error while sending: {exc!r}")
            if slot is not None:
                retry_after = outcome.retry_after if isinstance(outcome, RateLimited) else None
                budget.release(slot, retry_after=retry_after)
            await outcomes.put((message, outcome))

        async def claimer() -> None:
            while True:
                batch = [await claims.get()]
                while not claims.empty():
                    batch.append(claims.get_nowait())
                try:
                    claimed = await self._db(
                        claim,
                        ids=[r.candidate.row_id for r in batch],
                        owner=cfg.owner,
                        now=self.clock(),
                        rules=rules,
                    )
                except Exception as exc:
                    log.exception("claiming %d follow-ups failed", len(batch))
                    for request in batch:
                        request.result.set_exception(exc)
                    continue
                report.deferred += claimed.deferred
                report.cancelled += claimed.cancelled
                report.expired += claimed.expired
                report.failed += claimed.failed
                report.requests += len(claimed.claimed)
                by_row = {m.row_id: m for m in claimed.claimed}
                for request in batch:
                    request.result.set_result(by_row.get(request.candidate.row_id))

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
                report.add(done)
                now_wall, now_mono = self.clock(), loop.time()
                for row_id, when in done.retry_at.items():
                    retries[row_id] = now_mono + max(0.0, (when - now_wall).total_seconds())
                for message, _ in batch:
                    in_hand.discard(message.row_id)
                    room.release()
                self.in_flight -= len(batch)
                progress.set()

        helpers = [asyncio.create_task(write()), asyncio.create_task(claimer())]
        try:
            while True:
                if max_seconds is not None and loop.time() - started > max_seconds:
                    break
                if stop is not None and stop.is_set():
                    break
                progress.clear()
                if not queue:
                    found = await self._db(due_candidates, now=self.clock(), limit=cfg.batch)
                    queue.extend(c for c in found if c.row_id not in in_hand)
                    for candidate in found:
                        retries.pop(candidate.row_id, None)
                    if not queue:
                        if in_hand:
                            with suppress(TimeoutError):
                                await asyncio.wait_for(progress.wait(), 1.0)
                            continue
                        now_mono = loop.time()
                        for row_id in [r for r, t in retries.items() if t < now_mono - 5]:
                            del retries[row_id]  # settled elsewhere (cancelled, erased)
                        if not retries:
                            break
                        await asyncio.sleep(min(5.0, max(0.02, min(retries.values()) - now_mono)))
                        continue
                await room.acquire()
                if stop is not None and stop.is_set():
                    room.release()
                    break
                candidate = queue.popleft()
                in_hand.add(candidate.row_id)
                task = asyncio.create_task(deliver(candidate))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            # Rows still waiting for a slot were not claimed: they stay pending. Those claimed
            # or in Telegram's hands finish and are recorded.
            for task in list(waiting):
                task.cancel()
            while tasks:
                await asyncio.wait(set(tasks))
            while self.in_flight:
                progress.clear()
                await progress.wait()
        finally:
            for task in tasks:
                task.cancel()
            for helper in helpers:
                helper.cancel()
            for helper in helpers:
                with suppress(asyncio.CancelledError):
                    await helper
        report.seconds = loop.time() - started
        if departures:
            report.sending_seconds = departures[-1] - departures[0]
        return report

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
