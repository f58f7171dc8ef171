"""The follow-up dispatch job: send what is due, on one instance at a time."""

from __future__ import annotations

import asyncio
import logging
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
from backend.logs import CONTEXT
from backend.metrics import DELIVERIES, RATE_LIMITED
from backend.scheduler.jobs import JOB_DEFAULTS
from backend.scheduler.leader import leader_lock
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
    engine: Engine, sender: Sender, config: DispatchConfig, *, max_seconds: float | None
) -> DispatchReport | None:
    """Run the dispatcher once if this instance holds the dispatch lock; None otherwise."""
    lock = leader_lock(engine, 0, key=DISPATCH_LOCK)
    leader = await asyncio.to_thread(lock.__enter__)
    token = CONTEXT.set("job:dispatch")
    try:
        if not leader:
            return None
        report = await Dispatcher(engine, sender, config).run_once(max_seconds=max_seconds)
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


def add_dispatch_job(
    scheduler: AsyncIOScheduler,
    settings: Settings,
    engine: Engine,
    sender: Sender,
    config: DispatchConfig | None = None,
) -> Any:
    """Send due follow-ups every ``settings.dispatch_interval_seconds``."""
    interval = settings.dispatch_interval_seconds
    return scheduler.add_job(
        dispatch_as_leader,
        IntervalTrigger(seconds=interval),
        args=[engine, CountingSender(sender), config or DispatchConfig()],
        kwargs={"max_seconds": max(interval * 6, 60.0)},
        id=DISPATCH_JOB_ID,
        name="send due follow-ups",
        **JOB_DEFAULTS,
    )
