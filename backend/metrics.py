"""Prometheus metrics of the service, exported at ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

UPDATES = Counter("psychograph_updates_total", "Telegram updates processed, by kind", ["kind"])
ANSWER_SECONDS = Histogram(
    "psychograph_answer_seconds",
    "Time to handle one answer, from update to the next question sent",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
COMPLETIONS = Counter("psychograph_completions_total", "Quizzes completed", ["questionnaire"])
RECLUSTER_SECONDS = Histogram(
    "psychograph_recluster_seconds",
    "Duration of a re-clustering run",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
DELIVERIES = Counter(
    "psychograph_followup_deliveries_total", "Follow-up delivery outcomes", ["status"]
)
RATE_LIMITED = Counter(
    "psychograph_telegram_429_total", "Too Many Requests (429) answers seen from Telegram"
)
JOB_RUNS = Counter(
    "psychograph_job_runs_total",
    "Scheduled job passes this instance ran as the leader (summed over workers: once a tick)",
    ["job"],
)
