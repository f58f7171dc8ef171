"""Tables of segmentation runs, segments and assignments.

A *run* records one re-clustering: the candidates it tried, why it chose its k, and how it
compares with the assignments before it. A *segment* keeps its id across runs (matched by
centroid), so names a marketer gave it persist; segments no run continues are retired. An
*assignment* is a respondent's current segment per questionnaire, one row each, rewritten only
when the respondent moves, so a re-run touches few rows.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from backend.storage.types import JSONType, UTCDateTime, utcnow, value_enum


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class SegmentStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


# --- runs --------------------------------------------------------------------------------


class SegmentationRunBase(SQLModel):
    status: RunStatus = Field(default=RunStatus.RUNNING, sa_type=value_enum(RunStatus))
    #: What started it: "manual", "schedule" or "completions".
    trigger: str = Field(default="manual", max_length=32)
    method: str = Field(default="kmeans", max_length=16)
    dimensions: list[str] = Field(default_factory=list, sa_type=JSONType)
    k: int | None = None
    #: Every candidate tried, with its scores and why it was rejected.
    candidates: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    choice_reason: str | None = Field(default=None, sa_type=Text)
    #: ARI against the previous assignments, transition matrix, moves, match distances.
    metrics: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    n_respondents: int = 0
    n_excluded: int = 0
    n_moved: int | None = None
    ari: float | None = None
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    duration_seconds: float | None = None
    error: str | None = Field(default=None, sa_type=Text)


class SegmentationRunPublic(SegmentationRunBase):
    id: int
    questionnaire_id: int


class SegmentationRun(SegmentationRunBase, table=True):
    """One re-clustering of one questionnaire's respondents."""

    id: int | None = Field(default=None, primary_key=True)
    questionnaire_id: int = Field(foreign_key="questionnaire.id", index=True, ondelete="CASCADE")
    #: Maps item units to the standardised space the centroids were fitted in.
    standardiser: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    #: The mixture that gives segment probabilities (``SoftModel.to_dict``) and the segment
    #: id of each of its components, so a quiz completion is assigned as the run assigned.
    model: dict[str, Any] | None = Field(default=None, sa_type=JSONType)


# --- segments ----------------------------------------------------------------------------


class SegmentBase(SQLModel):
    name: str = Field(max_length=256)
    description: str = Field(default="", sa_type=Text)
    #: Set when a marketer renamed the segment: re-runs keep the name instead of the automatic one.
    name_edited: bool = False
    description_edited: bool = False
    status: SegmentStatus = Field(default=SegmentStatus.ACTIVE, sa_type=value_enum(SegmentStatus))
    size: int = 0
    share: float = 0.0
    #: Dimension -> centroid on the items' scale.
    centroid: dict[str, float] = Field(default_factory=dict, sa_type=JSONType)
    #: Dimension -> centroid as a z-score.
    z_scores: dict[str, float] = Field(default_factory=dict, sa_type=JSONType)
    #: The traits that most set the segment apart, strongest first.
    traits: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    #: Share of members whose confidence is below 0.8 (between segments), at the last run.
    uncertain_share: float | None = None


class SegmentPublic(SegmentBase):
    id: int
    questionnaire_id: int
    created_at: datetime
    updated_at: datetime


class Segment(SegmentBase, table=True):
    """A segment of one questionnaire's respondents; its id survives re-clustering."""

    id: int | None = Field(default=None, primary_key=True)
    questionnaire_id: int = Field(foreign_key="questionnaire.id", index=True, ondelete="CASCADE")
    first_run_id: int | None = Field(
        default=None, foreign_key="segmentationrun.id", nullable=True, ondelete="SET NULL"
    )
    last_run_id: int | None = Field(
        default=None, foreign_key="segmentationrun.id", nullable=True, ondelete="SET NULL"
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- assignments -------------------------------------------------------------------------


class SegmentAssignment(SQLModel, table=True):
    """A respondent's current segment in one questionnaire (one row per pair)."""

    questionnaire_id: int = Field(
        foreign_key="questionnaire.id", primary_key=True, ondelete="CASCADE"
    )
    respondent_id: int = Field(
        foreign_key="respondent.id", primary_key=True, index=True, ondelete="CASCADE"
    )
    segment_id: int = Field(foreign_key="segment.id", index=True, ondelete="CASCADE")
    #: The run that put the respondent here; None when assigned at completion.
    run_id: int | None = Field(
        default=None, foreign_key="segmentationrun.id", nullable=True, ondelete="SET NULL"
    )
    #: When the respondent entered this segment.
    assigned_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    #: How many times a run or a new completion moved the respondent to another segment.
    moves: int = 0
    #: Segment id (as a string) -> probability of belonging to it; sums to 1. None for
    #: assignments made before soft membership.
    probabilities: dict[str, float] | None = Field(default=None, sa_type=JSONType)
    #: The highest of ``probabilities``: how sure the model is of this respondent's segment.
    confidence: float | None = None
