"""The follow-up dispatch job: send what is due, on one instance at a time."""

from __future__ import annotations

import asyncio
import logging
from datetime import time, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from backend.followups import (
    Blocked,
    Delivered,
    DispatchConfig,
    Dispatcher,
    DispatchReport,
    Outcome,
    OutgoingMessage,
    RateLimited,
    Rejected,
    Sender,
    Uncertain,
)
from backend.followups.budget import SendBudget
from backend.followups.outbox import SendRules
from backend.followups.policy import parse_quiet_hours
from backend.logs import CONTEXT
from backend.metrics import DELIVERIES, JOB_RUNS, RATE_LIMITED
from backend.scheduler.jobs import JOB_DEFAULTS
from backend.scheduler.leader import claim_tick, leader_lock
from backend.settings import Settings

log = logging.getLogger(__name__)

#: Advisory lock key of the dispatcher ("pdsp"): Telegram's limits are per bot, so only one
#: instance may send at a time or together they would exceed them.
DISPATCH_LOCK = 0x70647370
DISPATCH_JOB_ID = "followups:dispatch"


class CountingSender:
    """Count delivery outcomes and 429s for ``/metrics`` around another sender."""

    def __init__(self, inner: Sender) -> None:
        self.inner = inner

    async def send(self, message: OutgoingMessage) -> Outcome:
        outcome = await self.inner.send(message)
        status = {
            Delivered: "sent",
            RateLimited: "rate_limited",
            Blocked: "blocked",
            Rejected: "failed",
            Uncertain: "uncertain",
        }.get(type(outcome), "retry")
        DELIVERIES.labels(status=status).inc()
        if isinstance(outcome, RateLimited):
            RATE_LIMITED.inc()
        return outcome


async def dispatch_as_leader(
    engine: Engine,
    sender: Sender,
    config: DispatchConfig,
    *,
    max_seconds: float | None,
    stop: asyncio.Event | None = None,
    tick_seconds: float | None = None,
    budget: SendBudget | None = None,
) -> DispatchReport | None:
    """Run the dispatcher once if this instance holds the dispatch lock; None otherwise.

    With ``tick_seconds``, also only if no instance ran this tick yet (several workers).
    ``budget`` is the bot's, when the quiz runs in the same process: they share Telegram's.
    """
    lock = leader_lock(engine, 0, key=DISPATCH_LOCK)
    leader = await asyncio.to_thread(lock.__enter__)
    token = CONTEXT.set("job:dispatch")
    try:
        if not leader:
            return None
        if tick_seconds is not None and not await asyncio.to_thread(
            claim_tick, engine, DISPATCH_JOB_ID, tick_seconds
        ):
            return None
        JOB_RUNS.labels(job="dispatch").inc()
        report = await Dispatcher(engine, sender, config, budget=budget).run_once(
            max_seconds=max_seconds, stop=stop
        )
        if report.sent or report.failed or report.uncertain:
            log.info(
                "follow-ups: %d sent, %d failed, %d uncertain",
                report.sent,
                report.failed,
                report.uncertain,
            )
        return report
    finally:
        CONTEXT.reset(token)
        await asyncio.to_thread(lock.__exit__, None, None, None)


class DispatchJob:
    """The scheduled dispatch pass, which a shutdown can stop gracefully.

    Cancelling a pass mid-send would leave messages in Telegram's hands unrecorded (they
    turn ``uncertain``) and log the cancellation as a job error; :meth:`stop` instead
    ends the pass after the sends in flight, and keeps new passes from starting.
    """

    def __init__(
        self,
        engine: Engine,
        sender: Sender,
        config: DispatchConfig,
        max_seconds: float,
        tick_seconds: float | None = None,
        budget: SendBudget | None = None,
    ) -> None:
        self.engine, self.sender, self.config = engine, sender, config
        self.max_seconds = max_seconds
        self.tick_seconds = tick_seconds
        self.budget = budget
        self._stop = asyncio.Event()
        self._running: set[asyncio.Task[Any]] = set()

    async def run(self) -> DispatchReport | None:
        """Run one pass (the scheduler's job function)."""
        if self._stop.is_set():
            return None
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            return await dispatch_as_leader(
                self.engine,
                self.sender,
                self.config,
                max_seconds=self.max_seconds,
                stop=self._stop,
                tick_seconds=self.tick_seconds,
                budget=self.budget,
            )
        finally:
            self._running.discard(task)

    async def stop(self) -> None:
        """Let a running pass finish its sends, and start no more (bound it with a timeout)."""
        self._stop.set()
        if self._running:
            await asyncio.wait(set(self._running))


def send_rules(settings: Settings, **changes: Any) -> SendRules:
    """Return the send-time rules the settings ask for (quiet hours, frequency cap)."""
    span = parse_quiet_hours(settings.followup_quiet_hours)
    start, end = span if span is not None else (time(0), time(0))
    return SendRules(
        quiet_start=start,
        quiet_end=end,
        frequency_cap=settings.followup_frequency_cap,
        cap_window=timedelta(days=settings.followup_cap_days),
        **changes,
    )


def add_dispatch_job(
    scheduler: AsyncIOScheduler,
    settings: Settings,
    engine: Engine,
    sender: Sender,
    config: DispatchConfig | None = None,
    *,
    budget: SendBudget | None = None,
) -> DispatchJob:
    """Send due follow-ups every ``settings.dispatch_interval_seconds``.

    Returns the :class:`DispatchJob`, which a shutdown stops gracefully.
    """
    interval = settings.dispatch_interval_seconds
    job = DispatchJob(
        engine,
        CountingSender(sender),
        config or DispatchConfig(rules=send_rules(settings)),
        max(interval * 6, 60.0),
        tick_seconds=interval,
        budget=budget,
    )
    scheduler.add_job(
        job.run,
        IntervalTrigger(seconds=interval),
        id=DISPATCH_JOB_ID,
        name="send due follow-ups",
        **JOB_DEFAULTS,
    )
    return job
