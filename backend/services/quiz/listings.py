"""Which questionnaires a respondent can open: the /start list and a deep link's target."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from backend.services.questionnaires import active_versions, definition_of
from backend.services.quiz.respondents import QuizError
from backend.storage.models import Questionnaire, QuestionnaireStatus


@dataclass(frozen=True, slots=True)
class Listing:
    """One line of the /start list."""

    key: str
    questionnaire_id: int
    title: str
    description: str


def open_questionnaires(*, session: Session) -> list[Listing]:
    """The open questionnaires, by key, described in their default language."""
    out = []
    for questionnaire, version in active_versions(session=session):
        definition = definition_of(version)
        assert questionnaire.id is not None
        out.append(
            Listing(
                questionnaire.key,
                questionnaire.id,
                questionnaire.title,
                definition.text(definition.description),
            )
        )
    return out


def open_questionnaire(
    *, session: Session, key: str | None, questionnaire_id: int | None
) -> Questionnaire:
    """The open questionnaire with this id (a button) or key (a deep link), or QuizError."""
    query = select(Questionnaire)
    if questionnaire_id is not None:
        query = query.where(Questionnaire.id == questionnaire_id)
    else:
        query = query.where(Questionnaire.key == key)
    questionnaire = session.exec(query).first()
    if questionnaire is None or questionnaire.status != QuestionnaireStatus.ACTIVE:
        raise QuizError(
            f"There is no open questionnaire called “{key}”."
            if key
            else "That questionnaire is no longer open."
        )
    return questionnaire
