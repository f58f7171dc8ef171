"""The pure quiz engine: order, branching, answer checks, progress and the final profile."""

from backend.quiz.answers import AnswerInvalid, check_value, parse_typed
from backend.quiz.conditions import evaluate
from backend.quiz.engine import Plan, QuizNavigator, make_plan, seed_for
from backend.quiz.results import DimensionResult, band_of, profile
from backend.quiz.steps import RESULT_SHOWN, QuestionAction, SegmentInfo, Step, StepKind

__all__ = [
    "RESULT_SHOWN",
    "AnswerInvalid",
    "DimensionResult",
    "Plan",
    "QuestionAction",
    "QuizNavigator",
    "SegmentInfo",
    "Step",
    "StepKind",
    "band_of",
    "check_value",
    "evaluate",
    "make_plan",
    "parse_typed",
    "profile",
    "seed_for",
]
