"""Content views: upload a content pack (templates test-rendered first), list the packs."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel
from sqlmodel import Session

from backend.api.db import read, write
from backend.api.errors import ApiError
from backend.api.keys import CHECKER
from backend.api.replies import ok
from backend.api.routes import MARKETING, READ, Body, RouteTable
from backend.api.uploads import read_upload, rejected
from backend.followups import import_pack, list_packs
from backend.questionnaire import DefinitionError
from backend.services.questionnaires import questionnaire_definition as pack_questionnaire
from backend.storage.followup_tables import ContentPackPublic
from backend.storage.limits import StoredValueError

routes = RouteTable()


class PackImportOut(BaseModel):
    key: str
    version: int
    outcome: str


@routes.route(
    "POST",
    "/api/content",
    summary="Upload a content pack (YAML or JSON); templates are test-rendered first",
    tag="content",
    roles=MARKETING,
    body=Body("application/x-yaml", {"type": "string"}, "the content pack file's text"),
    response=PackImportOut,
    query={"filename": ("string", "name for messages; .json selects JSON")},
    statuses={400: "the pack is invalid; every problem is listed"},
)
async def upload_content(request: web.Request) -> web.Response:
    text, name, fmt = await read_upload(request, "content pack")
    checker = request.app[CHECKER]
    try:
        key = await checker.content_questionnaire(text, source=name, fmt=fmt)
        dims = None
        if key is not None:
            found = await read(request, lambda session: pack_questionnaire(key, session=session))
            dims = [d.id for d in found.dimensions] if found is not None else None
        pack = await checker.content(text, source=name, fmt=fmt, dimensions=dims)
    except DefinitionError as exc:
        raise rejected(exc, name, "content pack") from None

    def work(session: Session) -> PackImportOut:
        try:
            result = import_pack(session=session, pack=pack, source_name=name, source_text=text)
        except StoredValueError as exc:
            raise ApiError(400, f"{name}: {exc}") from None
        return PackImportOut(key=pack.key, version=result.record.version, outcome=result.outcome)

    result = await write(request, work)
    return ok(result, status=201 if result.outcome != "unchanged" else 200)


@routes.route(
    "GET",
    "/api/content",
    summary="List content packs",
    tag="content",
    roles=READ,
    response=list[ContentPackPublic],
)
async def list_content(request: web.Request) -> web.Response:
    return ok(await read(request, lambda session: list_packs(session=session)))
