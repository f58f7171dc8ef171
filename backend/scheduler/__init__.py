"""Scheduled jobs: re-clustering on a cron and after enough new completions.

``build_scheduler(settings, engine)`` returns an APScheduler 3.x ``AsyncIOScheduler`` to start
inside the service's event loop; the fits run in a dedicated executor thread. On PostgreSQL
an advisory lock makes one instance of the service run each job (see :mod:`.leader`).
"""

from backend.scheduler.jobs import (
    JOB_DEFAULTS,
    MISFIRE_GRACE_SECONDS,
    SegmentJobs,
    build_scheduler,
    recluster_exclusive,
)
from backend.scheduler.leader import RECLUSTER_LOCK, leader_lock

__all__ = [
    "JOB_DEFAULTS",
    "MISFIRE_GRACE_SECONDS",
    "RECLUSTER_LOCK",
    "SegmentJobs",
    "build_scheduler",
    "leader_lock",
    "recluster_exclusive",
]
