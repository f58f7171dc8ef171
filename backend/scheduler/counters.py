"""The periodic fold of the dashboard's counters, run by one instance a tick."""

from __future__ import annotations

import asyncio
import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from backend.metrics import JOB_RUNS
from backend.scheduler.jobs import JOB_DEFAULTS
from backend.scheduler.leader import claim_tick
from backend.storage import counters

log = logging.getLogger(__name__)

FOLD_JOB_ID = "counters:fold"
#: Rows appended between folds stay few (about four an answer), so sums stay quick.
FOLD_SECONDS = 30.0


def fold_once(engine: Engine, *, tick_seconds: float = FOLD_SECONDS) -> int | None:
    """Fold the counters if no instance did this tick; return the rows removed, or None."""
    if not claim_tick(engine, FOLD_JOB_ID, tick_seconds):
        return None
    JOB_RUNS.labels(job="fold").inc()
    return counters.fold(engine)


def add_fold_job(
    scheduler: AsyncIOScheduler, engine: Engine, *, seconds: float = FOLD_SECONDS
) -> None:
    """Fold the counters every ``seconds`` (once a tick across workers)."""

    async def run() -> None:
        removed = await asyncio.to_thread(fold_once, engine, tick_seconds=seconds)
        if removed:
            log.debug("counters: folded %d rows", removed)

    scheduler.add_job(
        run,
        IntervalTrigger(seconds=seconds),
        id=FOLD_JOB_ID,
        name="fold counters",
        **JOB_DEFAULTS,
    )
