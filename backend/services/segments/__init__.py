"""Segments service: re-cluster a questionnaire's respondents, assign new ones, report.

- :mod:`.vectors`: all raw SQL (score vectors and assignments in and out of numpy);
- :mod:`.store`: runs in the database, and storing a fitted run in one transaction;
- :mod:`.reclustering`: a run from reading to queueing its follow-ups;
- :mod:`.assignment`: a just-completed respondent placed by the current run's model;
- :mod:`.queueing`: the door into follow-ups;
- :mod:`.crud` and :mod:`.export`: the marketer's segments, runs and CSV.
"""

from backend.services.segments.assignment import assign_now, segment_assigner
from backend.services.segments.crud import (
    SegmentNotFound,
    completions_since_last_run,
    latest_run_started,
    list_segments,
    rename_segment,
    runs,
    segmented_questionnaires,
)
from backend.services.segments.export import export_assignments, write_export_csv
from backend.services.segments.queueing import enqueue_assignments, enqueue_run_followups
from backend.services.segments.reclustering import Progress, RunReport, recluster
from backend.services.segments.store import UNCERTAIN_BELOW
from backend.services.segments.vectors import VectorTable, read_vectors

__all__ = [
    "UNCERTAIN_BELOW",
    "Progress",
    "RunReport",
    "SegmentNotFound",
    "VectorTable",
    "assign_now",
    "completions_since_last_run",
    "enqueue_assignments",
    "enqueue_run_followups",
    "export_assignments",
    "latest_run_started",
    "list_segments",
    "read_vectors",
    "recluster",
    "rename_segment",
    "runs",
    "segment_assigner",
    "segmented_questionnaires",
    "write_export_csv",
]
