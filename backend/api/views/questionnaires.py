"""Questionnaire views: list, upload a definition, read one, archive one."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel
from sqlmodel import Session

from backend.api.db import read, write
from backend.api.edges import path_key
from backend.api.errors import ApiError
from backend.api.keys import CHECKER
from backend.api.replies import ok
from backend.api.routes import MARKETING, READ, Body, RouteTable
from backend.api.uploads import read_upload, rejected
from backend.questionnaire import DefinitionError
from backend.services import questionnaires as qs
from backend.storage.limits import StoredValueError

routes = RouteTable()


class QuestionnaireOut(BaseModel):
    id: str
    title: str
    status: str
    version: int
    versions: int
    sessions: int
    completed: int


class DimensionOut(BaseModel):
    id: str
    label: str
    items: int


class QuestionnaireDetail(QuestionnaireOut):
    description: str
    languages: list[str]
    questions: int
    dimensions: list[DimensionOut]
    definition: dict[str, Any]


class ImportOut(BaseModel):
    id: str
    version: int
    outcome: str


def _summary_out(row: qs.QuestionnaireSummary) -> QuestionnaireOut:
    return QuestionnaireOut(
        id=row.key,
        title=row.title,
        status=row.status.value,
        version=row.version,
        versions=row.versions,
        sessions=row.sessions,
        completed=row.completed,
    )


def _summary(key: str, session: Session) -> QuestionnaireOut:
    row = next(r for r in qs.list_questionnaires(session=session) if r.key == key)
    return _summary_out(row)


@routes.route(
    "GET",
    "/api/questionnaires",
    summary="List questionnaires",
    tag="questionnaires",
    roles=READ,
    response=list[QuestionnaireOut],
)
async def list_questionnaires(request: web.Request) -> web.Response:
    def work(session: Session) -> list[QuestionnaireOut]:
        return [_summary_out(r) for r in qs.list_questionnaires(session=session)]

    return ok(await read(request, work))


@routes.route(
    "POST",
    "/api/questionnaires",
    summary="Upload a definition (YAML or JSON); a changed one becomes a new version",
    tag="questionnaires",
    roles=MARKETING,
    body=Body("application/x-yaml", {"type": "string"}, "the definition file's text"),
    response=ImportOut,
    query={"filename": ("string", "name for messages; .json selects JSON")},
    statuses={400: "the definition is invalid", 413: "body too large"},
)
async def upload_questionnaire(request: web.Request) -> web.Response:
    text_body, name, fmt = await read_upload(request, "definition")
    try:
        definition = await request.app[CHECKER].definition(text_body, source=name, fmt=fmt)
    except DefinitionError as exc:
        raise rejected(exc, name, "definition") from None

    def work(session: Session) -> ImportOut:
        try:
            result = qs.import_definition(
                definition, session=session, source_name=name, source_text=text_body
            )
        except StoredValueError as exc:
            raise ApiError(400, f"{name}: {exc}") from None
        return ImportOut(id=definition.id, version=result.version.version, outcome=result.outcome)

    result = await write(request, work)
    return ok(result, status=201 if result.outcome != "unchanged" else 200)


@routes.route(
    "GET",
    "/api/questionnaires/{key}",
    summary="A questionnaire and its definition",
    tag="questionnaires",
    roles=READ,
    response=QuestionnaireDetail,
    statuses={404: "no such questionnaire"},
)
async def get_questionnaire(request: web.Request) -> web.Response:
    key = path_key(request)

    def work(session: Session) -> QuestionnaireDetail:
        version = qs.current_version(key, session=session)
        definition = qs.definition_of(version)
        return QuestionnaireDetail(
            **_summary(key, session).model_dump(),
            description=definition.text(definition.description),
            languages=definition.languages,
            questions=len(definition.questions()),
            dimensions=[
                DimensionOut(id=d.id, label=definition.text(d.label), items=len(d.items))
                for d in definition.dimensions
            ],
            definition=version.definition,
        )

    return ok(await read(request, work))


@routes.route(
    "POST",
    "/api/questionnaires/{key}/archive",
    summary="Archive a questionnaire (answers and versions are kept)",
    tag="questionnaires",
    roles=MARKETING,
    response=QuestionnaireOut,
    statuses={404: "no such questionnaire"},
)
async def archive_questionnaire(request: web.Request) -> web.Response:
    key = path_key(request)

    def work(session: Session) -> QuestionnaireOut:
        qs.archive_questionnaire(key, session=session)
        return _summary(key, session)

    return ok(await write(request, work))
