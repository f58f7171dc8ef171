"""What a quiz shows next, and what a respondent can do to a question: the bot-service protocol.

Both enums are ``StrEnum``: their values are the words stored and logged before they existed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from backend.questionnaire.schema import Question, QuestionnaireDefinition
from backend.quiz.results import DimensionResult

#: What ``QuizSession.shown`` holds once a completed session's result reached the respondent
#: (never a question's id: those start with a letter).
RESULT_SHOWN = "#result"


class StepKind(StrEnum):
    """Which message a step is."""

    INTRO = "intro"
    QUESTION = "question"
    RESULT = "result"


class QuestionAction(StrEnum):
    """A press on a button of the current question."""

    ANSWER = "answer"
    TOGGLE = "toggle"  # tick or untick an option of a multiple-choice question
    DONE = "done"  # submit the ticked options
    SKIP = "skip"
    BACK = "back"


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """The segment a completed respondent was assigned to, as the result message shows it."""

    segment_id: int
    name: str
    description: str


@dataclass(slots=True)
class Step:
    """What the bot shows next."""

    kind: StepKind
    session_id: int
    definition: QuestionnaireDefinition
    language: str
    question: Question | None = None
    position: int = 0
    total: int = 0
    options: tuple[str, ...] = ()
    #: The stored answer (after Back) or the ticked options (multiple choice).
    current: Any = None
    can_back: bool = False
    section_intro: str | None = None
    profile: list[DimensionResult] = field(default_factory=list)
    segment: SegmentInfo | None = None
    notice: str | None = None
    #: The question just answered (or skipped) to reach this step, and the stored value.
    answered_question: str | None = None
    answered_value: Any = None
    #: A result that ends the respondent's first quiz while the bot does not know their time
    #: zone: the bot asks for it (with consent, never guessed).
    ask_timezone: bool = False

    @property
    def marker(self) -> str | None:
        """What ``QuizSession.shown`` holds once this step reached the respondent: the
        question's id, ``""`` for the intro, :data:`RESULT_SHOWN` for a result."""
        match self.kind:
            case StepKind.QUESTION:
                return self.question.id if self.question is not None else None
            case StepKind.INTRO:
                return ""
            case StepKind.RESULT:
                return RESULT_SHOWN
