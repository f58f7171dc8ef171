"""API routes for content packs, segments and follow-up statistics."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from backend.api.edges import path_int, path_key, query_int
from backend.api.errors import ApiError
from backend.api.keys import CHECKER, ENGINE, SCHEDULER
from backend.api.routes import MARKETING, READ, Body
from backend.api.views import in_thread, ok, read_upload, rejected, routes
from backend.followups import followup_stats, import_pack, list_packs
from backend.questionnaire import DefinitionError
from backend.segmentation import SegmentationError
from backend.services import questionnaires as qs
from backend.services import segments as ss
from backend.services.questionnaires import questionnaire_definition as pack_questionnaire
from backend.storage.engine import session_scope
from backend.storage.followup_tables import ContentPackPublic
from backend.storage.limits import StoredValueError
from backend.storage.segment_tables import SegmentationRunPublic, SegmentPublic

log = logging.getLogger(__name__)


def _not_found(exc: LookupError) -> ApiError:
    return ApiError(404, str(exc.args[0]) if exc.args else "not found")


# --- content -------------------------------------------------------------------------------


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
    engine = request.app[ENGINE]
    checker = request.app[CHECKER]

    def dimensions(key: str | None) -> list[str] | None:
        if key is None:
            return None
        with session_scope(engine) as session:
            found = pack_questionnaire(key, session=session)
        return [d.id for d in found.dimensions] if found is not None else None

    try:
        key = await checker.content_questionnaire(text, source=name, fmt=fmt)
        dims = await in_thread(dimensions, key)
        pack = await checker.content(text, source=name, fmt=fmt, dimensions=dims)
    except DefinitionError as exc:
        raise rejected(exc, name, "content pack") from None

    def work() -> PackImportOut:
        with session_scope(engine) as session:
            try:
                result = import_pack(
                    session=session, pack=pack, source_name=name, source_text=text
                )
            except StoredValueError as exc:
                raise ApiError(400, f"{name}: {exc}") from None
            return PackImportOut(
                key=pack.key, version=result.record.version, outcome=result.outcome
            )

    result = await in_thread(work)
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
    def work() -> list[ContentPackPublic]:
        with session_scope(request.app[ENGINE]) as session:
            return list_packs(session=session)

    return ok(await in_thread(work))


# --- segments ------------------------------------------------------------------------------


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

    def work() -> list[SegmentPublic]:
        with session_scope(request.app[ENGINE]) as session:
            try:
                return ss.list_segments(session=session, questionnaire_key=key)
            except qs.QuestionnaireNotFound as exc:
                raise _not_found(exc) from None

    return ok(await in_thread(work))


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

    def work() -> list[SegmentationRunPublic]:
        with session_scope(request.app[ENGINE]) as session:
            try:
                return ss.runs(session=session, questionnaire_key=key, limit=limit)
            except qs.QuestionnaireNotFound as exc:
                raise _not_found(exc) from None

    return ok(await in_thread(work))


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

    def work() -> SegmentPublic:
        with session_scope(request.app[ENGINE]) as session:
            try:
                return ss.rename_segment(
                    session=session,
                    segment_id=segment_id,
                    name=edit.name,
                    description=edit.description,
                )
            except ss.SegmentNotFound as exc:
                raise _not_found(exc) from None
            except ValueError as exc:
                raise ApiError(400, str(exc)) from None

    return ok(await in_thread(work))


class ReclusterOut(BaseModel):
    status: str
    questionnaire: str


#: Re-clusterings started from the API, by questionnaire (set up by ``create_app``).
RECLUSTERS: web.AppKey[dict[str, asyncio.Task[Any]]] = web.AppKey("reclusters")


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
    app = request.app
    engine = app[ENGINE]

    def exists() -> None:
        with session_scope(engine) as session:
            try:
                qs.get_questionnaire(key, session=session)
            except qs.QuestionnaireNotFound as exc:
                raise _not_found(exc) from None

    await in_thread(exists)
    running = app[RECLUSTERS]
    if key in running and not running[key].done():
        raise ApiError(409, f"a re-clustering of {key!r} is running; see its runs")

    async def run() -> None:
        from backend.scheduler.jobs import recluster_now

        try:
            await recluster_now(engine, key, trigger="api", scheduler=app.get(SCHEDULER))
        except SegmentationError as exc:
            log.warning("re-clustering %s from the API: %s", key, exc)
        except Exception:
            log.exception("re-clustering %s from the API failed", key)

    running[key] = asyncio.create_task(run())
    return ok(ReclusterOut(status="started", questionnaire=key), status=202)


# --- follow-ups ----------------------------------------------------------------------------


class StatsOut(BaseModel):
    pack_key: str
    item_id: str
    variant: str | None
    segment_key: str
    segment_name: str
    queued: int
    sent: int
    delivered: int
    clicked: int
    pending: int
    failed: int
    uncertain: int
    cancelled: int
    #: Of ``pending``: waiting out the respondent's quiet hours, or the frequency cap.
    deferred_quiet_hours: int
    deferred_frequency_cap: int


@routes.route(
    "GET",
    "/api/followups/stats",
    summary="Follow-ups sent, delivered and clicked per item, variant and segment",
    tag="followups",
    roles=READ,
    response=list[StatsOut],
    query={"pack": ("string", "only this content pack")},
)
async def followups_stats(request: web.Request) -> web.Response:
    pack = request.query.get("pack") or None

    def work() -> list[StatsOut]:
        with session_scope(request.app[ENGINE]) as session:
            return [
                StatsOut(**dataclasses.asdict(row))
                for row in followup_stats(session=session, pack_key=pack)
            ]

    return ok(await in_thread(work))
