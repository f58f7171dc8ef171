"""The funnel of a questionnaire version: started, reaching each question, completed.

Sums of the counters kept by triggers (:mod:`backend.storage.counters`): no scan of the
answers, so it is ready at once, also the first time after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from backend.questionnaire import QuestionnaireDefinition
from backend.storage import counters
from backend.storage.models import SessionStatus


@dataclass(frozen=True, slots=True)
class FunnelStep:
    question_id: str
    text: str
    #: Sessions that answered the question or are waiting at it.
    reached: int
    #: Sessions not completed whose cursor stopped here.
    stopped: int

    @property
    def drop_off(self) -> float:
        return self.stopped / self.reached if self.reached else 0.0


@dataclass(frozen=True, slots=True)
class Funnel:
    started: int
    completed: int
    by_status: dict[str, int]
    steps: list[FunnelStep]


def funnel(
    definition: QuestionnaireDefinition,
    version_id: int,
    *,
    session: Session,
    answered: dict[str, int] | None = None,
) -> Funnel:
    """Count sessions started, reaching each question, stopping at it, and completed.

    ``answered`` (question id -> sessions that answered it) saves a scan when the caller
    counted it already.
    """
    kept = counters.read(version_id, ("status", "stopped"), session=session)
    by_status = {status: n for (status, _), n in kept["status"].items()}
    stopped = {cursor: n for (cursor, _), n in kept["stopped"].items() if cursor}
    if answered is None:
        answered = answered_counts(version_id, session=session)
    steps = []
    for question_id, question in definition.questions().items():
        waiting = stopped.get(question_id, 0)
        steps.append(
            FunnelStep(
                question_id=question_id,
                text=definition.text(question.text),
                reached=answered.get(question_id, 0) + waiting,
                stopped=waiting,
            )
        )
    return Funnel(
        started=sum(by_status.values()),
        completed=by_status.get(SessionStatus.COMPLETED.value, 0),
        by_status=by_status,
        steps=steps,
    )


def answered_counts(version_id: int, *, session: Session) -> dict[str, int]:
    """Return question id -> sessions of the version that answered it (one row each)."""
    kept = counters.read(version_id, ("answered",), session=session)["answered"]
    return {question_id: n for (question_id, _), n in kept.items()}
