"""Questionnaire service: import definitions as immutable versions, list, archive, load."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.questionnaire import QuestionnaireDefinition, content_hash
from backend.storage.models import (
    Questionnaire,
    QuestionnaireStatus,
    QuestionnaireVersion,
    QuizSession,
    SessionScore,
)


class QuestionnaireNotFound(LookupError):
    """No questionnaire has the given id."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no questionnaire with id {key!r}; `psychograph questionnaire list`")
        self.key = key


@dataclass(frozen=True, slots=True)
class ImportResult:
    questionnaire: Questionnaire
    version: QuestionnaireVersion
    #: "created" (new questionnaire), "new_version" (content changed) or "unchanged".
    outcome: str


@dataclass(frozen=True, slots=True)
class QuestionnaireSummary:
    key: str
    title: str
    status: QuestionnaireStatus
    version: int
    versions: int
    sessions: int
    completed: int


def import_definition(
    definition: QuestionnaireDefinition,
    *,
    session: Session,
    source_name: str | None = None,
    source_text: str | None = None,
) -> ImportResult:
    """Store ``definition``: a new questionnaire, a new version when the content changed, or
    nothing when identical content was imported before (the existing version is returned).

    Re-importing an archived questionnaire makes it active again.
    """
    digest = content_hash(definition)
    title = definition.text(definition.title)
    questionnaire = session.exec(
        select(Questionnaire).where(Questionnaire.key == definition.id).with_for_update()
    ).first()
    if questionnaire is None:
        questionnaire = Questionnaire(key=definition.id, title=title)
        session.add(questionnaire)
        session.flush()
        outcome = "created"
    else:
        existing = session.exec(
            select(QuestionnaireVersion).where(
                QuestionnaireVersion.questionnaire_id == questionnaire.id,
                QuestionnaireVersion.content_hash == digest,
            )
        ).first()
        if existing is not None:
            if questionnaire.status != QuestionnaireStatus.ACTIVE:
                questionnaire.status = QuestionnaireStatus.ACTIVE
                session.add(questionnaire)
            return ImportResult(questionnaire, existing, "unchanged")
        outcome = "new_version"
    assert questionnaire.id is not None
    latest = session.exec(
        select(func.max(QuestionnaireVersion.version)).where(
            QuestionnaireVersion.questionnaire_id == questionnaire.id
        )
    ).one()
    version = QuestionnaireVersion(
        questionnaire_id=questionnaire.id,
        version=(latest or 0) + 1,
        content_hash=digest,
        definition=definition.model_dump(mode="json", by_alias=True, exclude_none=True),
        source_name=source_name,
        source_text=source_text,
    )
    session.add(version)
    session.flush()
    questionnaire.current_version_id = version.id
    questionnaire.title = title
    questionnaire.status = QuestionnaireStatus.ACTIVE
    session.add(questionnaire)
    session.flush()
    return ImportResult(questionnaire, version, outcome)


def get_questionnaire(key: str, *, session: Session) -> Questionnaire:
    found = session.exec(select(Questionnaire).where(Questionnaire.key == key)).first()
    if found is None:
        raise QuestionnaireNotFound(key)
    return found


def current_version(key: str, *, session: Session) -> QuestionnaireVersion:
    questionnaire = get_questionnaire(key, session=session)
    version = session.get(QuestionnaireVersion, questionnaire.current_version_id)
    if version is None:  # pragma: no cover - every questionnaire is created with a version
        raise QuestionnaireNotFound(key)
    return version


def questionnaire_definition(key: str, *, session: Session) -> QuestionnaireDefinition | None:
    """Return the current definition of questionnaire ``key``, or None when not imported."""
    questionnaire = session.exec(select(Questionnaire).where(Questionnaire.key == key)).first()
    if questionnaire is None or questionnaire.current_version_id is None:
        return None
    version = session.get(QuestionnaireVersion, questionnaire.current_version_id)
    return definition_of(version) if version is not None else None


def active_versions(*, session: Session) -> list[tuple[Questionnaire, QuestionnaireVersion]]:
    """Return each active questionnaire with its current version, by key."""
    rows = session.exec(
        select(Questionnaire, QuestionnaireVersion)
        .join(
            QuestionnaireVersion,
            col(Questionnaire.current_version_id) == col(QuestionnaireVersion.id),
        )
        .where(Questionnaire.status == QuestionnaireStatus.ACTIVE)
        .order_by(col(Questionnaire.key))
    ).all()
    return [(questionnaire, version) for questionnaire, version in rows]


def archive_questionnaire(key: str, *, session: Session) -> Questionnaire:
    """Hide a questionnaire from respondents; answers and versions are kept."""
    questionnaire = get_questionnaire(key, session=session)
    questionnaire.status = QuestionnaireStatus.ARCHIVED
    session.add(questionnaire)
    session.flush()
    return questionnaire


def list_questionnaires(
    *, session: Session, include_archived: bool = True
) -> list[QuestionnaireSummary]:
    """Summarise every questionnaire with its version and session counts (one query each)."""
    versions = dict(
        session.exec(
            select(QuestionnaireVersion.questionnaire_id, func.count()).group_by(
                col(QuestionnaireVersion.questionnaire_id)
            )
        ).all()
    )
    started = dict(
        session.exec(
            select(QuestionnaireVersion.questionnaire_id, func.count(col(QuizSession.id)))
            .join(QuizSession, col(QuizSession.version_id) == col(QuestionnaireVersion.id))
            .group_by(col(QuestionnaireVersion.questionnaire_id))
        ).all()
    )
    completed = dict(
        session.exec(
            select(SessionScore.questionnaire_id, func.count()).group_by(
                col(SessionScore.questionnaire_id)
            )
        ).all()
    )
    current = dict(
        session.exec(
            select(QuestionnaireVersion.id, QuestionnaireVersion.version).join(
                Questionnaire,
                col(Questionnaire.current_version_id) == col(QuestionnaireVersion.id),
            )
        ).all()
    )
    query = select(Questionnaire).order_by(Questionnaire.key)
    if not include_archived:
        query = query.where(Questionnaire.status == QuestionnaireStatus.ACTIVE)
    return [
        QuestionnaireSummary(
            key=q.key,
            title=q.title,
            status=q.status,
            version=current.get(q.current_version_id or -1, 0),
            versions=versions.get(q.id or -1, 0),
            sessions=started.get(q.id or -1, 0),
            completed=completed.get(q.id or -1, 0),
        )
        for q in session.exec(query).all()
    ]


#: Parsed definitions by (version id, content hash); versions never change once stored.
_DEFINITIONS: dict[tuple[int, str], QuestionnaireDefinition] = {}
_DEFINITIONS_MAX = 256


def definition_of(version: QuestionnaireVersion) -> QuestionnaireDefinition:
    """Return the parsed definition of a stored version (cached: versions are immutable)."""
    assert version.id is not None
    cache_key = (version.id, version.content_hash)
    found = _DEFINITIONS.get(cache_key)
    if found is None:
        if len(_DEFINITIONS) >= _DEFINITIONS_MAX:
            _DEFINITIONS.clear()
        found = QuestionnaireDefinition.model_validate(version.definition)
        _DEFINITIONS[cache_key] = found
    return found
