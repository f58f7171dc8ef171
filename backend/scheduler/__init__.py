"""Scheduled jobs: re-clustering on a cron and after enough new completions, the follow-up
dispatch, and the fold of the dashboard's counters.

``build_jobs(settings, engine)`` returns a :class:`Jobs`: APScheduler 3.x's
``AsyncIOScheduler`` (start it inside the service's event loop) with the jobs it runs; the
fits run in a worker process. On PostgreSQL an advisory lock makes one instance of the
service run each job (see :mod:`.leader`).
"""

from backend.scheduler.jobs import (
    JOB_DEFAULTS,
    MISFIRE_GRACE_SECONDS,
    SegmentJobs,
    next_cron_run,
    recluster_exclusive,
    recluster_now,
)
from backend.scheduler.leader import RECLUSTER_LOCK, leader_lock
from backend.scheduler.service import Jobs, build_jobs

__all__ = [
    "JOB_DEFAULTS",
    "MISFIRE_GRACE_SECONDS",
    "RECLUSTER_LOCK",
    "Jobs",
    "SegmentJobs",
    "build_jobs",
    "leader_lock",
    "next_cron_run",
    "recluster_exclusive",
    "recluster_now",
]
