"""The scheduler of the service and its jobs, as one typed object."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from backend.followups import Sender
from backend.followups.budget import SendBudget
from backend.scheduler.counters import add_fold_job
from backend.scheduler.dispatch import DispatchJob, add_dispatch_job
from backend.scheduler.jobs import (
    CHECK_JOB_ID,
    JOB_DEFAULTS,
    RECLUSTER_JOB_PREFIX,
    SegmentJobs,
    sync_recluster_jobs,
)
from backend.services.segments import RunReport
from backend.settings import Settings

__all__ = ["Jobs", "build_jobs"]


@dataclass
class Jobs:
    """APScheduler's scheduler with the jobs it runs: re-clustering, and in the service the
    follow-up dispatch and the counters' fold."""

    scheduler: AsyncIOScheduler
    segments: SegmentJobs
    #: The follow-up dispatch, stopped gracefully on shutdown (None without a sender).
    dispatch: DispatchJob | None = None

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def start(self) -> None:
        """Start the jobs; call inside the running event loop."""
        self.scheduler.start()

    async def stop(self, *, grace: float) -> None:
        """Let sends in flight finish (at most ``grace`` s), then stop scheduler and fits."""
        if not self.scheduler.running:
            return
        if self.dispatch is not None:  # sends in flight finish and are recorded
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self.dispatch.stop()
        self.scheduler.shutdown(wait=False)
        await asyncio.to_thread(self.segments.shutdown, wait=False)

    async def recluster_now(self, questionnaire_key: str, *, trigger: str) -> RunReport | None:
        """Re-cluster one questionnaire now, in the worker process the scheduled runs use."""
        return await self.segments.now(questionnaire_key, trigger)

    def next_recluster(self, questionnaire_key: str) -> datetime | None:
        """When the cron job will next re-cluster ``questionnaire_key`` (None: not scheduled)."""
        try:
            job = self.scheduler.get_job(RECLUSTER_JOB_PREFIX + questionnaire_key)
        except Exception:  # a stopped scheduler's job store may be gone
            return None
        when: datetime | None = getattr(job, "next_run_time", None)
        return when


def build_jobs(
    settings: Settings,
    engine: Engine,
    *,
    sender: Sender | None = None,
    budget: SendBudget | None = None,
    segment_jobs: SegmentJobs | None = None,
    check_interval: timedelta = timedelta(minutes=1),
) -> Jobs:
    """Build the scheduler with a cron re-clustering job per segmented questionnaire and a
    periodic check that re-clusters after ``recluster_after_completions`` completions.

    With a ``sender`` (the service), also the follow-up dispatch (sharing the bot's send
    ``budget``) and the fold of the dashboard's counters. The cron runs in UTC.
    """
    scheduler = AsyncIOScheduler(timezone=UTC, job_defaults=dict(JOB_DEFAULTS))
    segments = segment_jobs or SegmentJobs(settings, engine)
    sync_recluster_jobs(scheduler, segments)
    scheduler.add_job(
        segments.check,
        IntervalTrigger(seconds=check_interval.total_seconds(), timezone=UTC),
        kwargs={"scheduler": scheduler},
        id=CHECK_JOB_ID,
        name="re-cluster after new completions",
        **JOB_DEFAULTS,
    )
    jobs = Jobs(scheduler, segments)
    if sender is not None:
        jobs.dispatch = add_dispatch_job(scheduler, settings, engine, sender, budget=budget)
        add_fold_job(scheduler, engine)
    return jobs
