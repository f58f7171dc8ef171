"""Response views: export completed responses as CSV, import responses collected elsewhere."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel
from sqlmodel import Session

from backend.api.db import write
from backend.api.edges import path_key, query_int
from backend.api.errors import ApiError
from backend.api.keys import QUIZ, READER
from backend.api.replies import ok, stream_csv
from backend.api.routes import MARKETING, READ, Body, RouteTable
from backend.services import responses as rs

routes = RouteTable()


@routes.route(
    "GET",
    "/api/questionnaires/{key}/responses.csv",
    summary="Completed responses with dimension scores and segment, as CSV",
    tag="responses",
    roles=READ,
    response={"type": "string"},
    response_media_type="text/csv",
    query={
        "raw": (
            "integer",
            "1: cells exactly as stored; by default text starting with = + - @ tab or CR "
            "gets a leading ' so spreadsheets do not run it as a formula",
        )
    },
    statuses={400: "bad raw flag", 404: "no such questionnaire"},
)
async def export_responses(request: web.Request) -> web.StreamResponse:
    key = path_key(request)
    raw = query_int(request, "raw", default=0, low=0, high=1) == 1
    rows = rs.export_responses(key, engine=request.app[READER])
    return await stream_csv(request, f"{key}-responses.csv", rows, raw=raw)


class ImportedOut(BaseModel):
    imported: int


@routes.route(
    "POST",
    "/api/questionnaires/{key}/responses",
    summary="Import responses collected elsewhere (CSV with item ids as columns)",
    tag="responses",
    roles=MARKETING,
    body=Body("text/csv", {"type": "string"}, "header: respondent (optional) and item ids"),
    response=ImportedOut,
    statuses={
        400: "the file has problems (all listed); nothing was stored",
        404: "no such questionnaire",
    },
)
async def import_responses(request: web.Request) -> web.Response:
    key = path_key(request)
    raw = await request.read()
    try:
        body = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(400, "the file is not UTF-8 text") from None
    quiz = request.app[QUIZ]

    def work(session: Session) -> int:
        try:
            return rs.import_responses(
                key, body, session=session, assign_segment=quiz.assign_segment
            )
        except rs.ImportError_ as exc:
            raise ApiError(
                400,
                f"{len(exc.problems)} problem(s); nothing was imported",
                problems=exc.problems,
            ) from None

    return ok(ImportedOut(imported=await write(request, work)), status=201)
