"""The re-clustering jobs and the scheduler that runs them."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine

from backend.logs import CONTEXT
from backend.metrics import RECLUSTER_SECONDS
from backend.scheduler.leader import leader_lock
from backend.segmentation import SegmentationError
from backend.services.questionnaires import get_questionnaire
from backend.services.segments import (
    RunReport,
    completions_since_last_run,
    latest_run_started,
    recluster,
    segmented_questionnaires,
)
from backend.settings import Settings
from backend.storage.engine import make_engine, session_scope
from backend.storage.types import utcnow

log = logging.getLogger(__name__)

#: A late run still runs if it is at most this late (APScheduler's default of 1 s would
#: silently drop a run delayed by a busy loop or a restart).
MISFIRE_GRACE_SECONDS = 15 * 60

#: Options of every job: missed runs collapse into one, and a job never overlaps itself.
JOB_DEFAULTS: dict[str, Any] = {
    "coalesce": True,
    "max_instances": 1,
    "misfire_grace_time": MISFIRE_GRACE_SECONDS,
}

CHECK_JOB_ID = "segments:check"
RECLUSTER_JOB_PREFIX = "segments:recluster:"


def recluster_exclusive(
    engine: Engine,
    questionnaire_key: str,
    *,
    trigger: str,
    min_interval: timedelta = timedelta(seconds=MISFIRE_GRACE_SECONDS),
    min_completions: int = 0,
    random_state: int | None = None,
) -> RunReport | None:
    """Re-cluster on this instance if it is the leader and the run is still due.

    Returns None when another instance holds the lock, when a run started less than
    ``min_interval`` ago (another instance served this firing already), or when fewer than
    ``min_completions`` sessions completed since the latest run.
    """
    with session_scope(engine) as session:
        questionnaire = get_questionnaire(questionnaire_key, session=session)
    assert questionnaire.id is not None
    with leader_lock(engine, questionnaire.id) as leader:
        if not leader:
            log.info("re-clustering %s: running on another instance", questionnaire_key)
            return None
        with session_scope(engine) as session:
            started = latest_run_started(session=session, questionnaire_key=questionnaire_key)
            if started is not None and utcnow() - started < min_interval:
                log.info("re-clustering %s: a run started at %s", questionnaire_key, started)
                return None
            if min_completions > 0:
                new = completions_since_last_run(
                    session=session, questionnaire_key=questionnaire_key
                )
                if new < min_completions:
                    return None
        return recluster(
            engine=engine,
            questionnaire_key=questionnaire_key,
            trigger=trigger,
            random_state=random_state,
        )


#: The re-clustering worker's niceness: the processor goes to answers first.
BACKGROUND_NICENESS = 10


def recluster_in_process(
    database_url: str, questionnaire_key: str, **kwargs: Any
) -> RunReport | None:
    """:func:`recluster_exclusive` on an engine of its own, for a worker process.

    The worker runs at a lower processor priority than the service: a fit keeps every core
    busy for seconds, and a respondent waiting for the next question must not wait for it
    (answer p99 204 ms during a 1M re-clustering on PostgreSQL, before; see
    ``bench/recluster.py``).
    """
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if current < BACKGROUND_NICENESS:
        os.setpriority(os.PRIO_PROCESS, 0, BACKGROUND_NICENESS)
    engine = make_engine(database_url)
    try:
        return recluster_exclusive(engine, questionnaire_key, **kwargs)
    finally:
        engine.dispose()


class SegmentJobs:
    """The job functions, bound to one engine; fits run in a worker process.

    A fit is CPU-bound Python and numpy for seconds to a minute: in a thread of this
    process it would hold the GIL for long stretches and the bot's answers would wait
    (p99 of 300-400 ms during a 100k run, measured); in its own process it costs the bot
    only the core it uses.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        executor: Executor | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self._own_executor = executor is None
        # One worker: fits queue behind each other instead of competing for the cores the bot
        # needs. In-memory SQLite cannot be shared with another process: fit in a thread.
        in_memory = engine.url.get_backend_name() == "sqlite" and engine.url.database in {
            None,
            "",
            ":memory:",
        }
        self.executor: Executor = executor or (
            ThreadPoolExecutor(1, thread_name_prefix="recluster")
            if in_memory
            else ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        )
        # Light database work of the jobs stays in a thread of this process.
        self._light = ThreadPoolExecutor(1, thread_name_prefix="segment-jobs")

    async def _off_loop(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._light, partial(func, *args, **kwargs))

    async def _fit(self, questionnaire_key: str, **kwargs: Any) -> RunReport | None:
        kwargs.setdefault("random_state", self.settings.segmentation_seed)
        token = CONTEXT.set(f"job:recluster:{questionnaire_key}:{kwargs.get('trigger', '')}")
        try:
            report = await self._fit_off_loop(questionnaire_key, **kwargs)
            if report is not None:
                RECLUSTER_SECONDS.observe(report.duration_seconds)
                _log_report(questionnaire_key, report)
            else:
                log.info(
                    "re-clustering %s: not due here (another instance, or done)", questionnaire_key
                )
        finally:
            CONTEXT.reset(token)
        return report

    async def _fit_off_loop(self, questionnaire_key: str, **kwargs: Any) -> RunReport | None:
        loop = asyncio.get_running_loop()
        if isinstance(self.executor, ProcessPoolExecutor):
            url = self.engine.url.render_as_string(hide_password=False)
            call = partial(recluster_in_process, url, questionnaire_key, **kwargs)
        else:
            call = partial(recluster_exclusive, self.engine, questionnaire_key, **kwargs)
        result: RunReport | None = await loop.run_in_executor(self.executor, call)
        return result

    async def recluster(
        self, questionnaire_key: str, trigger: str = "schedule"
    ) -> RunReport | None:
        """Re-cluster one questionnaire off the event loop (the scheduled job)."""
        try:
            result: RunReport | None = await self._fit(questionnaire_key, trigger=trigger)
        except SegmentationError as exc:
            log.warning("re-clustering %s skipped: %s", questionnaire_key, exc)
            return None
        return result

    async def now(self, questionnaire_key: str, trigger: str) -> RunReport | None:
        """Re-cluster one questionnaire now (a marketer asked), in the worker process."""
        return await self._fit(questionnaire_key, trigger=trigger, min_interval=timedelta(0))

    def _due_by_completions(self) -> list[str]:
        threshold = self.settings.recluster_after_completions
        with session_scope(self.engine) as session:
            keys = segmented_questionnaires(session=session)
            if threshold <= 0:
                return []
            return [
                key
                for key in keys
                if completions_since_last_run(session=session, questionnaire_key=key) >= threshold
            ]

    async def check(self, scheduler: AsyncIOScheduler | None = None) -> list[RunReport]:
        """Add cron jobs for newly imported questionnaires, and re-cluster those with enough
        new completions since their latest run."""
        if scheduler is not None:
            await self._off_loop(sync_recluster_jobs, scheduler, self)
        reports = []
        threshold = self.settings.recluster_after_completions
        for key in await self._off_loop(self._due_by_completions):
            try:
                report = await self._fit(
                    key,
                    trigger="completions",
                    min_interval=timedelta(0),
                    min_completions=threshold,
                )
            except SegmentationError as exc:
                log.warning("re-clustering %s skipped: %s", key, exc)
                continue
            if report is not None:
                reports.append(report)
        return reports

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop the executors this object created (with ``wait``, a running fit finishes)."""
        self._light.shutdown(wait=wait)
        if self._own_executor:
            self.executor.shutdown(wait=wait, cancel_futures=True)


async def recluster_now(
    engine: Engine,
    questionnaire_key: str,
    *,
    trigger: str,
    segment_jobs: SegmentJobs | None = None,
) -> RunReport | None:
    """Re-cluster now: in the scheduler's worker process, or in a thread when there is none.

    The API and the dashboard call this, so a button pressed during quiz traffic fits where
    the scheduled runs fit and the bot's answers do not wait on the GIL meanwhile.
    """
    if segment_jobs is not None:
        return await segment_jobs.now(questionnaire_key, trigger)
    report = await asyncio.to_thread(
        recluster_exclusive, engine, questionnaire_key, trigger=trigger, min_interval=timedelta(0)
    )
    if report is not None:
        _log_report(questionnaire_key, report)
    return report


def _log_report(questionnaire_key: str, report: RunReport) -> None:
    log.info(
        "re-clustered %s: %d segments, %d respondents, %d moved, %.1f s",
        questionnaire_key,
        report.k,
        report.n_respondents,
        report.n_moved,
        report.duration_seconds,
    )


def next_cron_run(cron: str | None) -> datetime | None:
    """When ``cron`` (UTC) fires next; None without a cron."""
    if not cron:
        return None
    fire: datetime | None = CronTrigger.from_crontab(cron, timezone=UTC).get_next_fire_time(
        None, datetime.now(UTC)
    )
    return fire


def sync_recluster_jobs(scheduler: AsyncIOScheduler, jobs: SegmentJobs) -> list[str]:
    """Give every segmented active questionnaire a cron job, and drop jobs of the others."""
    cron = jobs.settings.recluster_cron
    with session_scope(jobs.engine) as session:
        keys = segmented_questionnaires(session=session) if cron else []
    wanted = {RECLUSTER_JOB_PREFIX + key: key for key in keys}
    for job in scheduler.get_jobs():
        if job.id.startswith(RECLUSTER_JOB_PREFIX) and job.id not in wanted:
            job.remove()
    for job_id, key in wanted.items():
        if scheduler.get_job(job_id) is None:
            assert cron is not None
            scheduler.add_job(
                jobs.recluster,
                CronTrigger.from_crontab(cron, timezone=UTC),
                args=[key],
                id=job_id,
                name=f"re-cluster {key}",
                **JOB_DEFAULTS,
            )
    return sorted(wanted.values())
