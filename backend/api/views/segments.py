"""Segment views: current segments, re-clustering runs, renaming, and a re-clustering now."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError
from sqlmodel import Session

from backend.api.db import read, write
from backend.api.edges import path_int, path_key, query_int
from backend.api.errors import ApiError
from backend.api.keys import RECLUSTERS
from backend.api.replies import ok
from backend.api.routes import MARKETING, READ, Body, RouteTable
from backend.services import questionnaires as qs
from backend.services import segments as ss
from backend.storage.segment_tables import SegmentationRunPublic, SegmentPublic

routes = RouteTable()


@routes.route(
    "GET",
    "/api/questionnaires/{key}/segments",
    summary="Current segments with their profiles (centroids, z-scores, traits)",
    tag="segments",
    roles=READ,
    response=list[SegmentPublic],
    statuses={404: "no such questionnaire"},
)
async def list_segments(request: web.Request) -> web.Response:
    key = path_key(request)
    return ok(
        await read(
            request, lambda session: ss.list_segments(session=session, questionnaire_key=key)
        )
    )


@routes.route(
    "GET",
    "/api/questionnaires/{key}/runs",
    summary="Re-clustering runs with their candidates, choice and stability metrics",
    tag="segments",
    roles=READ,
    response=list[SegmentationRunPublic],
    query={"limit": ("integer", "how many of the latest runs (default 20, max 200)")},
    statuses={400: "bad limit", 404: "no such questionnaire"},
)
async def list_runs(request: web.Request) -> web.Response:
    key = path_key(request)
    limit = query_int(request, "limit", default=20, low=1, high=200)
    return ok(
        await read(
            request, lambda session: ss.runs(session=session, questionnaire_key=key, limit=limit)
        )
    )


class SegmentEdit(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=256)
    description: str | None = Field(default=None, max_length=5000)


@routes.route(
    "PATCH",
    "/api/segments/{segment_id}",
    summary="Rename a segment or rewrite its description (kept across runs)",
    tag="segments",
    roles=MARKETING,
    body=Body("application/json", SegmentEdit),
    response=SegmentPublic,
    statuses={400: "bad body", 404: "no such segment"},
)
async def edit_segment(request: web.Request) -> web.Response:
    segment_id = path_int(request, "segment_id")
    try:
        edit = SegmentEdit.model_validate_json(await request.read() or b"{}")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, f"{where}: {first['msg']}") from None
    if edit.name is None and edit.description is None:
        raise ApiError(400, "give a name, a description or both")

    def work(session: Session) -> SegmentPublic:
        try:
            return ss.rename_segment(
                session=session,
                segment_id=segment_id,
                name=edit.name,
                description=edit.description,
            )
        except ValueError as exc:  # a name or description the segment cannot take
            raise ApiError(400, str(exc)) from None

    return ok(await write(request, work))


class ReclusterOut(BaseModel):
    status: str
    questionnaire: str


@routes.route(
    "POST",
    "/api/questionnaires/{key}/recluster",
    summary="Start a re-clustering now; follow it in the runs",
    tag="segments",
    roles=MARKETING,
    response=ReclusterOut,
    statuses={404: "no such questionnaire", 409: "one is running already"},
)
async def trigger_recluster(request: web.Request) -> web.Response:
    key = path_key(request)
    await read(request, lambda session: qs.get_questionnaire(key, session=session))
    if not request.app[RECLUSTERS].start(key, trigger="api"):
        raise ApiError(409, f"a re-clustering of {key!r} is running; see its runs")
    return ok(ReclusterOut(status="started", questionnaire=key), status=202)
