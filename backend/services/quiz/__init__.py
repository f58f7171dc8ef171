"""The respondent-facing quiz service: one call per chat action, one transaction each."""

from backend.services.quiz.service import (
    DUPLICATE_WINDOW,
    ERASURE_WINDOW,
    UNKEYED_ERASURES,
    ChatUser,
    Duplicate,
    Listing,
    PrivacyReport,
    QuizError,
    QuizService,
    SegmentAssigner,
    SegmentInfo,
    StaleAction,
    Step,
    erase_respondent,
    erasure_hash,
)

__all__ = [
    "DUPLICATE_WINDOW",
    "ERASURE_WINDOW",
    "UNKEYED_ERASURES",
    "ChatUser",
    "Duplicate",
    "Listing",
    "PrivacyReport",
    "QuizError",
    "QuizService",
    "SegmentAssigner",
    "SegmentInfo",
    "StaleAction",
    "Step",
    "erase_respondent",
    "erasure_hash",
]
