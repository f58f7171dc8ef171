"""Questionnaire pages: the list, uploading a definition, the responses download."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from aiohttp import web
from sqlmodel import Session

from backend.api.dashboard import queries
from backend.api.dashboard.links import deep_link
from backend.api.dashboard.pages import page, render
from backend.api.db import read, write
from backend.api.keys import CHECKER, READER
from backend.api.replies import stream_csv
from backend.questionnaire import DefinitionError, decode_text
from backend.services import questionnaires as qs
from backend.services import responses as rs

routes = web.RouteTableDef()


@routes.get("/dashboard/questionnaires")
@page()
async def questionnaires(request: web.Request) -> web.StreamResponse:
    rows = await read(request, _questionnaire_list)
    uploaded = request.query.get("uploaded")
    if uploaded not in {row.key for row in rows}:
        uploaded = None
    return render(
        request,
        "questionnaires.html",
        rows=rows,
        uploaded=uploaded,
        outcome=request.query.get("outcome"),
        link=deep_link(request.app, uploaded) if uploaded else None,
        problems=None,
    )


def _questionnaire_list(session: Session) -> list[qs.QuestionnaireSummary]:
    return qs.list_questionnaires(session=session)


@dataclass(frozen=True, slots=True)
class SourceLine:
    number: int
    text: str
    messages: list[str]


@routes.post("/dashboard/questionnaires")
@page(writes=True)
async def upload(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    field = form.get("definition")
    if not isinstance(field, web.FileField) or not field.filename:
        return await _upload_refused(request, "Choose a YAML or JSON file to upload.", None, [])
    name = field.filename
    raw = field.file.read()
    fmt = "json" if name.lower().endswith(".json") else "yaml"
    # Shown beside the problems; a bad byte shows as a replacement character on its line.
    source = raw.decode("utf-8", errors="replace")
    try:
        # Decoding, parsing and validation run in the bounded upload checker, off the loop.
        source = decode_text(raw, source=name)
        definition = await request.app[CHECKER].definition(source, source=name, fmt=fmt)
    except DefinitionError as exc:
        by_line: dict[int, list[str]] = defaultdict(list)
        general: list[str] = []
        for issue in exc.issues:
            message = f"{issue.location}: {issue.message}"
            if issue.line is not None:
                by_line[issue.line].append(message)
            else:
                general.append(message)
        lines = [
            SourceLine(number, line, by_line.get(number, []))
            for number, line in enumerate(source.splitlines() or [""], start=1)
        ]
        # A problem past the last line (an unexpected end of file) is shown at the end.
        for number in sorted(n for n in by_line if n > len(lines)):
            general.extend(f"line {number}: {m}" for m in by_line[number])
        count = len(exc.issues)
        summary = f"{name}: {count} problem{'s' if count != 1 else ''}; nothing was imported."
        return await _upload_refused(request, summary, name, lines, general)

    def work(session: Session) -> qs.ImportResult:
        return qs.import_definition(
            definition, session=session, source_name=name, source_text=source
        )

    result = await write(request, work)
    queries.forget(("q", definition.id))
    raise web.HTTPSeeOther(
        f"/dashboard/questionnaires?uploaded={definition.id}&outcome={result.outcome}"
    )


async def _upload_refused(
    request: web.Request,
    summary: str,
    name: str | None,
    lines: list[SourceLine],
    general: list[str] | None = None,
) -> web.Response:
    rows = await read(request, _questionnaire_list)
    return render(
        request,
        "questionnaires.html",
        status=400,
        rows=rows,
        uploaded=None,
        outcome=None,
        link=None,
        problems={"summary": summary, "name": name, "lines": lines, "general": general or []},
    )


@routes.get("/dashboard/questionnaires/{key}/responses.csv")
@page()
async def responses_csv(request: web.Request) -> web.StreamResponse:
    """Stream the same CSV as ``GET /api/questionnaires/{key}/responses.csv``."""
    key = request.match_info["key"]
    rows = rs.export_responses(key, engine=request.app[READER])
    return await stream_csv(request, f"{key}-responses.csv", rows)


def add_routes(app: web.Application) -> None:
    app.router.add_routes(routes)
