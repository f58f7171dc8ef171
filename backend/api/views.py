"""API views: read the request, make one service call off the event loop, return JSON."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import func, select

from backend.api.edges import path_int, path_key, query_int
from backend.api.errors import ApiError
from backend.api.keys import BOT, CHECKER, ENGINE, QUIZ, READER, SCHEDULER, SETTINGS
from backend.api.routes import MARKETING, OPS, READ, Body, RouteTable
from backend.questionnaire import DefinitionError, decode_text
from backend.services import questionnaires as qs
from backend.services import quiz as quiz_service
from backend.services import responses as rs
from backend.storage.engine import session_scope
from backend.storage.limits import StoredValueError
from backend.storage.models import (
    QuizSession,
    Respondent,
    RespondentPublic,
    SessionScore,
)

T = TypeVar("T")
routes = RouteTable()


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking database work off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


#: Rows encoded per hop to a thread while a CSV is streamed.
CSV_ROWS_PER_CHUNK = 1_000


async def stream_csv(
    request: web.Request, filename: str, rows: Iterator[Sequence[Any]], *, raw: bool = False
) -> web.StreamResponse:
    """Send ``rows`` as a CSV download while they are read, chunk by chunk off the loop.

    Cells a spreadsheet would run as formulas are neutralised unless ``raw``. The first
    chunk is read before anything is sent, so an error there (an unknown questionnaire) can
    still become a proper error response.
    """

    def chunk() -> bytes:
        out = io.StringIO()
        batch = itertools.islice(rows, CSV_ROWS_PER_CHUNK)
        csv.writer(out).writerows(batch if raw else map(rs.neutralise_row, batch))
        return out.getvalue().encode()

    try:
        data = await in_thread(chunk)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
            }
        )
        await response.prepare(request)
        while data:
            await response.write(data)
            data = await in_thread(chunk)
        await response.write_eof()
        return response
    finally:
        close = getattr(rows, "close", None)
        if close is not None:  # a generator: let go of its database session now
            await in_thread(close)


def ok(model: BaseModel | list[Any] | dict[str, Any], status: int = 200) -> web.Response:
    if isinstance(model, BaseModel):
        return web.json_response(text=model.model_dump_json(), status=status)
    if isinstance(model, list):
        payload = [m.model_dump(mode="json") if isinstance(m, BaseModel) else m for m in model]
        return web.json_response(payload, status=status)
    return web.json_response(model, status=status)


# --- health --------------------------------------------------------------------------------


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}


@routes.route(
    "GET",
    "/healthz",
    summary="Liveness: the process answers",
    tag="health",
    roles=None,
    response=Health,
)
async def healthz(request: web.Request) -> web.Response:
    return ok(Health(status="ok"))


@routes.route(
    "GET",
    "/readyz",
    summary="Readiness: database, bot and scheduler",
    tag="health",
    roles=None,
    response=Health,
    statuses={503: "not ready"},
)
async def readyz(request: web.Request) -> web.Response:
    app = request.app
    checks: dict[str, str] = {}

    def ping() -> None:
        with app[ENGINE].connect() as connection:
            connection.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(in_thread(ping), timeout=5)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; the reason is reported
        checks["database"] = f"unreachable: {type(exc).__name__}"
    bot = app.get(BOT)
    if bot is not None:
        checks["bot"] = "ok" if bot.running else "not running"
    scheduler = app.get(SCHEDULER)
    if scheduler is not None:
        checks["scheduler"] = "ok" if scheduler.running else "not running"
    ready = all(v == "ok" for v in checks.values())
    return web.json_response(
        Health(status="ok" if ready else "not ready", checks=checks).model_dump(),
        status=200 if ready else 503,
    )


# --- questionnaires ------------------------------------------------------------------------


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


class ProblemOut(BaseModel):
    line: int | None
    path: str
    message: str


#: Longest ``?filename=`` accepted: the column that keeps it holds 512 characters.
MAX_FILENAME_CHARS = 255


def decode_upload(raw: bytes, what: str, name: str) -> str:
    """Decode an uploaded file as UTF-8 (a BOM is dropped), naming the line of a bad byte."""
    try:
        return decode_text(raw, source=name)
    except DefinitionError as exc:
        raise rejected(exc, name, what) from None


def upload_name(request: web.Request) -> str:
    """Return ``?filename=``, refused when too long or holding control characters."""
    name = request.query.get("filename") or "upload"
    if len(name) > MAX_FILENAME_CHARS:
        raise ApiError(
            400, f"filename is {len(name):,} characters; at most {MAX_FILENAME_CHARS} are allowed"
        )
    if any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF for c in name):
        raise ApiError(400, "filename contains a control character; use a plain file name")
    return name


async def read_upload(request: web.Request, what: str) -> tuple[str, str, str]:
    """Return an uploaded file's text, its name for messages (``?filename=``) and format."""
    name = upload_name(request)
    text_body = decode_upload(await request.read(), what, name)
    fmt = "json" if "json" in request.content_type or name.endswith(".json") else "yaml"
    return text_body, name, fmt


def rejected(exc: DefinitionError, name: str, what: str) -> ApiError:
    """A 400 listing every problem of a rejected file with its line and path."""
    problems = [
        ProblemOut(line=i.line, path=i.location, message=i.message).model_dump()
        for i in exc.issues
    ]
    return ApiError(400, f"{name}: {len(problems)} problem(s) in the {what}", problems=problems)


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


@routes.route(
    "GET",
    "/api/questionnaires",
    summary="List questionnaires",
    tag="questionnaires",
    roles=READ,
    response=list[QuestionnaireOut],
)
async def list_questionnaires(request: web.Request) -> web.Response:
    def work() -> list[QuestionnaireOut]:
        with session_scope(request.app[ENGINE]) as session:
            return [_summary_out(r) for r in qs.list_questionnaires(session=session)]

    return ok(await in_thread(work))


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

    def work() -> ImportOut:
        with session_scope(request.app[ENGINE]) as session:
            try:
                result = qs.import_definition(
                    definition, session=session, source_name=name, source_text=text_body
                )
            except StoredValueError as exc:
                raise ApiError(400, f"{name}: {exc}") from None
            return ImportOut(
                id=definition.id, version=result.version.version, outcome=result.outcome
            )

    result = await in_thread(work)
    return ok(result, status=201 if result.outcome != "unchanged" else 200)


def _detail(key: str, engine: Any) -> QuestionnaireDetail:
    with session_scope(engine) as session:
        try:
            version = qs.current_version(key, session=session)
        except qs.QuestionnaireNotFound as exc:
            raise ApiError(404, str(exc.args[0])) from None
        row = next(r for r in qs.list_questionnaires(session=session) if r.key == key)
        definition = qs.definition_of(version)
        return QuestionnaireDetail(
            **_summary_out(row).model_dump(),
            description=definition.text(definition.description),
            languages=definition.languages,
            questions=len(definition.questions()),
            dimensions=[
                DimensionOut(id=d.id, label=definition.text(d.label), items=len(d.items))
                for d in definition.dimensions
            ],
            definition=version.definition,
        )


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
    return ok(await in_thread(_detail, path_key(request), request.app[ENGINE]))


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

    def work() -> QuestionnaireOut:
        with session_scope(request.app[ENGINE]) as session:
            try:
                qs.archive_questionnaire(key, session=session)
            except qs.QuestionnaireNotFound as exc:
                raise ApiError(404, str(exc.args[0])) from None
            row = next(r for r in qs.list_questionnaires(session=session) if r.key == key)
            return _summary_out(row)

    return ok(await in_thread(work))


# --- responses -----------------------------------------------------------------------------


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
    try:
        return await stream_csv(request, f"{key}-responses.csv", rows, raw=raw)
    except qs.QuestionnaireNotFound as exc:
        raise ApiError(404, str(exc.args[0])) from None


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

    def work() -> int:
        with session_scope(request.app[ENGINE]) as session:
            try:
                return rs.import_responses(
                    key, body, session=session, assign_segment=quiz.assign_segment
                )
            except qs.QuestionnaireNotFound as exc:
                raise ApiError(404, str(exc.args[0])) from None
            except rs.ImportError_ as exc:
                raise ApiError(
                    400,
                    f"{len(exc.problems)} problem(s); nothing was imported",
                    problems=exc.problems,
                ) from None

    return ok(ImportedOut(imported=await in_thread(work)), status=201)


# --- respondents ---------------------------------------------------------------------------


class RespondentOut(RespondentPublic):
    sessions: int
    completed: int


def _respondent_id(request: web.Request) -> int:
    return path_int(request, "respondent_id")


@routes.route(
    "GET",
    "/api/respondents/{respondent_id}",
    summary="Look up a respondent",
    tag="respondents",
    roles=OPS,
    response=RespondentOut,
    statuses={400: "bad id", 404: "no such respondent"},
)
async def get_respondent(request: web.Request) -> web.Response:
    respondent_id = _respondent_id(request)

    def work() -> RespondentOut:
        with session_scope(request.app[ENGINE]) as session:
            respondent = session.get(Respondent, respondent_id)
            if respondent is None:
                raise ApiError(404, f"no respondent with id {respondent_id}")
            sessions = session.exec(
                select(func.count())
                .select_from(QuizSession)
                .where(QuizSession.respondent_id == respondent_id)
            ).one()
            completed = session.exec(
                select(func.count())
                .select_from(SessionScore)
                .where(SessionScore.respondent_id == respondent_id)
            ).one()
            return RespondentOut(**respondent.model_dump(), sessions=sessions, completed=completed)

    return ok(await in_thread(work))


class ErasedOut(BaseModel):
    erased: int


@routes.route(
    "DELETE",
    "/api/respondents/{respondent_id}",
    summary="Erase a respondent and everything stored about them",
    tag="respondents",
    roles=OPS,
    response=ErasedOut,
    statuses={400: "bad id", 404: "no such respondent"},
)
async def erase_respondent(request: web.Request) -> web.Response:
    respondent_id = _respondent_id(request)

    key = request.app[SETTINGS].erasure_key()

    def work() -> None:
        with session_scope(request.app[ENGINE]) as session:
            respondent = session.get(Respondent, respondent_id)
            if respondent is None:
                raise ApiError(404, f"no respondent with id {respondent_id}")
            quiz_service.erase_respondent(session=session, respondent=respondent, key=key)

    await in_thread(work)
    return ok(ErasedOut(erased=respondent_id))


# --- the service's own description -----------------------------------------------------------


@routes.route(
    "GET",
    "/api/openapi.json",
    summary="This API, described",
    tag="meta",
    roles=READ,
    response={"type": "object"},
)
async def openapi(request: web.Request) -> web.Response:
    from backend import __version__

    return web.json_response(routes.openapi(title="Psychograph API", version=__version__))


@routes.route(
    "GET",
    "/metrics",
    summary="Prometheus metrics",
    tag="meta",
    roles=READ,
    response={"type": "string"},
    response_media_type="text/plain",
)
async def metrics(request: web.Request) -> web.Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    response = web.Response(body=generate_latest())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
