"""The respondent-facing quiz service: one call per chat action, one transaction each.

``service`` holds :class:`QuizService`; ``respondents`` the respondent's row, redelivered
updates and erasure; ``listings`` the open questionnaires; ``sessions`` the answer path;
``completion`` scoring at the end.
"""

from backend.services.quiz.completion import SegmentAssigner
from backend.services.quiz.listings import Listing
from backend.services.quiz.respondents import (
    DUPLICATE_WINDOW,
    ERASURE_WINDOW,
    UNKEYED_ERASURES,
    ChatUser,
    Duplicate,
    PrivacyReport,
    QuizError,
    StaleAction,
    erase_respondent,
    erasure_hash,
)
from backend.services.quiz.service import QuizService

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
    "StaleAction",
    "erase_respondent",
    "erasure_hash",
]
