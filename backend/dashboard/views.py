"""Dashboard pages: read the request, make service calls off the event loop, render HTML."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from backend.api.keys import ENGINE, READER, SCHEDULER, SETTINGS
from backend.api.views import in_thread, stream_csv
from backend.dashboard import charts, queries
from backend.dashboard.app import SESSION, TASKS, local_target, page, render
from backend.dashboard.auth import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    SIGNIN_SECONDS,
    check_signin_csrf,
    issue_session,
    issue_signin_csrf,
    revoke,
    session_seconds,
    set_cookie,
)
from backend.questionnaire import DefinitionError, load_definition
from backend.services import questionnaires as qs
from backend.services import responses as rs
from backend.services import segments as ss
from backend.storage.engine import session_scope
from backend.storage.models import QuestionnaireVersion
from backend.storage.segment_tables import Segment

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
T = TypeVar("T")


def _not_found(request: web.Request, message: str) -> web.Response:
    return render(request, "error.html", status=404, title="Not found", message=message)


# --- entry, sign-in, sign-out --------------------------------------------------------------


@routes.get("/")
@page(public=True)
async def root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/dashboard/")


@routes.get("/dashboard")
@routes.get("/dashboard/")
@page()
async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/dashboard/questionnaires")


@routes.get("/dashboard/sign-in")
@page(public=True)
async def sign_in_form(request: web.Request) -> web.StreamResponse:
    return _sign_in_page(request, error=None, status=200, target=request.query.get("next"))


def _sign_in_page(
    request: web.Request, *, error: str | None, status: int, target: str | None
) -> web.Response:
    token, cookie = issue_signin_csrf(request.app[SETTINGS])
    response = render(
        request,
        "sign_in.html",
        status=status,
        error=error,
        signin_csrf=token,
        next=local_target(target),
    )
    set_cookie(
        response, request, SIGNIN_COOKIE, cookie, SIGNIN_SECONDS, settings=request.app[SETTINGS]
    )
    return response


@routes.post("/dashboard/sign-in")
@page(public=True)
async def sign_in(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    form = await request.post()
    target = str(form.get("next", ""))
    if not check_signin_csrf(
        settings, request.cookies.get(SIGNIN_COOKIE), str(form.get("csrf", ""))
    ):
        return _sign_in_page(
            request, error="The sign-in form expired; please try again.", status=403, target=target
        )
    token = str(form.get("token", "")).strip()
    role = settings.role_for(token) if token else None
    if role is None:
        return _sign_in_page(
            request,
            error="That token is not valid. Use an API token from PSYCHOGRAPH_API_TOKENS.",
            status=401,
            target=target,
        )
    response = web.HTTPSeeOther(local_target(target))
    set_cookie(
        response,
        request,
        SESSION_COOKIE,
        issue_session(settings, token, role),
        session_seconds(settings),
        settings=settings,
    )
    response.del_cookie(SIGNIN_COOKIE, path="/")
    raise response


@routes.post("/dashboard/sign-out")
@page()
async def sign_out(request: web.Request) -> web.StreamResponse:
    await in_thread(revoke, request.app[ENGINE], request[SESSION])
    response = web.HTTPSeeOther("/dashboard/sign-in")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


# --- questionnaires ------------------------------------------------------------------------


@routes.get("/dashboard/questionnaires")
@page()
async def questionnaires(request: web.Request) -> web.StreamResponse:
    rows = await in_thread(_questionnaire_list, request.app[READER])
    return render(
        request,
        "questionnaires.html",
        rows=rows,
        uploaded=request.query.get("uploaded"),
        outcome=request.query.get("outcome"),
        problems=None,
    )


def _questionnaire_list(engine: Engine) -> list[qs.QuestionnaireSummary]:
    with Session(engine) as session:
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
    try:
        source = field.file.read().decode("utf-8")
    except UnicodeDecodeError:
        return await _upload_refused(request, f"{name} is not UTF-8 text.", name, [])
    fmt = "json" if name.lower().endswith(".json") else "yaml"
    try:
        definition = load_definition(source, source=name, fmt=fmt)
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

    def work() -> qs.ImportResult:
        with session_scope(request.app[ENGINE]) as session:
            return qs.import_definition(
                definition, session=session, source_name=name, source_text=source
            )

    result = await in_thread(work)
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
    rows = await in_thread(_questionnaire_list, request.app[READER])
    return render(
        request,
        "questionnaires.html",
        status=400,
        rows=rows,
        uploaded=None,
        outcome=None,
        problems={"summary": summary, "name": name, "lines": lines, "general": general or []},
    )


@dataclass(frozen=True)
class QuestionnaireReport:
    summary: qs.QuestionnaireSummary
    versions: list[tuple[int, str]]
    title: str
    stats: queries.VersionStats | None
    dimension_labels: dict[str, str]


def _questionnaire_report(engine: Engine, key: str) -> QuestionnaireReport:
    with Session(engine) as session:
        version = qs.current_version(key, session=session)
        definition = qs.definition_of(version)
        summary = next(r for r in qs.list_questionnaires(session=session) if r.key == key)
        versions = [
            (number, created.strftime("%Y-%m-%d %H:%M"))
            for number, created in session.exec(
                select(QuestionnaireVersion.version, QuestionnaireVersion.created_at)
                .where(QuestionnaireVersion.questionnaire_id == version.questionnaire_id)
                .order_by(col(QuestionnaireVersion.version).desc())
            ).all()
        ]
    assert version.id is not None
    stats = queries.version_stats(engine, key, version.id, definition)
    labels = {d.id: definition.text(d.label) for d in definition.dimensions}
    return QuestionnaireReport(summary, versions, definition.text(definition.title), stats, labels)


@routes.get("/dashboard/questionnaires/{key}")
@page()
async def questionnaire(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    try:
        report = await in_thread(_questionnaire_report, request.app[READER], key)
    except qs.QuestionnaireNotFound as exc:
        return _not_found(request, str(exc.args[0]))
    if report.stats is None:  # a first count over many answers is still running
        return render(
            request,
            "questionnaire.html",
            report=report,
            key=key,
            funnel_svg="",
            distributions=[],
            counting=True,
        )
    funnel = report.stats.funnel
    steps = [charts.Bar("started", funnel.started)]
    for step in funnel.steps:
        note = f"{step.reached:,}"
        if step.stopped:
            note += f" · {step.stopped:,} stopped here ({step.drop_off * 100:.1f}%)"
        steps.append(charts.Bar(f"{step.question_id}", step.reached, note))
    steps.append(charts.Bar("completed", funnel.completed))
    funnel_svg = charts.bars(
        steps, title="Response funnel", width=900, label_width=150, note_width=300
    )
    distribution_svgs = [
        (
            d,
            charts.bars(
                [charts.Bar(label, count) for label, count in d.counts],
                title=f"Answers to {d.question_id}",
                colour="#6a9f58",
            )
            if d.counts
            else None,
        )
        for d in report.stats.distributions
    ]
    return render(
        request,
        "questionnaire.html",
        report=report,
        key=key,
        funnel_svg=funnel_svg,
        distributions=distribution_svgs,
        counting=False,
    )


@routes.get("/dashboard/questionnaires/{key}/responses.csv")
@page()
async def responses_csv(request: web.Request) -> web.StreamResponse:
    """Stream the same CSV as ``GET /api/questionnaires/{key}/responses.csv``."""
    key = request.match_info["key"]
    rows = rs.export_responses(key, engine=request.app[READER])
    try:
        return await stream_csv(request, f"{key}-responses.csv", rows)
    except qs.QuestionnaireNotFound as exc:
        return _not_found(request, str(exc.args[0]))


@routes.get("/dashboard/segments/{key}/segments.csv")
@page()
async def segments_csv(request: web.Request) -> web.StreamResponse:
    """Respondents with their segment and latest scores, as the segments service exports."""
    key = request.match_info["key"]
    engine = request.app[ENGINE]
    try:
        return await stream_csv(request, f"{key}-segments.csv", ss.export_assignments(engine, key))
    except qs.QuestionnaireNotFound as exc:
        return _not_found(request, str(exc.args[0]))


# --- segments ------------------------------------------------------------------------------


@routes.get("/dashboard/segments")
@page()
async def segments_index(request: web.Request) -> web.StreamResponse:
    def work() -> tuple[list[qs.QuestionnaireSummary], list[str]]:
        with Session(request.app[READER]) as session:
            rows = qs.list_questionnaires(session=session)
            return rows, ss.segmented_questionnaires(session=session)

    rows, segmented = await in_thread(work)
    if len(segmented) == 1:
        raise web.HTTPSeeOther(f"/dashboard/segments/{segmented[0]}")
    return render(request, "segments_index.html", rows=rows, segmented=segmented)


@dataclass(frozen=True)
class SegmentsReport:
    title: str
    segments: list[Any]
    runs: list[Any]
    dimensions: list[str]
    labels: dict[str, str]
    history: dict[int, list[int]]


def _segments_report(engine: Engine, key: str) -> SegmentsReport:
    with Session(engine) as session:
        definition = qs.definition_of(qs.current_version(key, session=session))
        segments = ss.list_segments(key, session=session)
        runs = ss.runs(key, session=session, limit=10)
    labels = {d.id: definition.text(d.label) for d in definition.dimensions}
    dimensions = [d for d in definition.segmentation_dimensions() if d in labels] or list(labels)
    history: dict[int, list[int]] = {}
    for segment in segments:
        # Runs store sizes under metrics["sizes"] when the segments service records them;
        # otherwise only the current size is known.
        sizes = [
            int(run.metrics["sizes"][str(segment.id)])
            for run in reversed(runs)
            if isinstance(run.metrics.get("sizes"), dict)
            and str(segment.id) in run.metrics["sizes"]
        ]
        history[segment.id] = sizes or [segment.size]
    return SegmentsReport(
        definition.text(definition.title), segments, runs, dimensions, labels, history
    )


@routes.get("/dashboard/segments/{key}")
@page()
async def segments(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    return await _segments_page(request, key)


async def _segments_page(
    request: web.Request, key: str, *, status: int = 200, error: str | None = None
) -> web.Response:
    try:
        report = await in_thread(_segments_report, request.app[READER], key)
    except qs.QuestionnaireNotFound as exc:
        return _not_found(request, str(exc.args[0]))
    heatmap = (
        charts.heatmap(
            [s.name for s in report.segments],
            [report.labels[d] for d in report.dimensions],
            [[s.z_scores.get(d) for d in report.dimensions] for s in report.segments],
            sizes=[s.size for s in report.segments],
            title="Segment profiles (z-scores) and sizes",
        )
        if report.segments
        else None
    )
    sparks = {
        s.id: charts.sparkline(report.history[s.id], title=f"Size of {s.name} over the last runs")
        for s in report.segments
    }
    task = request.app[TASKS].get(key)
    return render(
        request,
        "segments.html",
        status=status,
        key=key,
        report=report,
        heatmap=heatmap,
        sparks=sparks,
        error=error,
        running=task is not None and not task.done(),
        notice=request.query.get("notice"),
    )


@routes.post("/dashboard/segments/{key}/{segment_id:[0-9]{1,18}}")
@page(writes=True)
async def rename(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    segment_id = int(request.match_info["segment_id"])
    form = await request.post()
    name = str(form.get("name", ""))
    description = str(form.get("description", ""))

    def work() -> str | None:
        with session_scope(request.app[ENGINE]) as session:
            questionnaire = qs.get_questionnaire(key, session=session)
            segment = session.get(Segment, segment_id)
            if segment is None or segment.questionnaire_id != questionnaire.id:
                return None
            ss.rename_segment(segment_id, session=session, name=name, description=description)
            return segment.name

    try:
        renamed = await in_thread(work)
    except qs.QuestionnaireNotFound as exc:
        return _not_found(request, str(exc.args[0]))
    except ValueError as exc:
        return await _segments_page(request, key, status=400, error=str(exc))
    if renamed is None:
        return _not_found(request, f"{key!r} has no segment {segment_id}")
    raise web.HTTPSeeOther(f"/dashboard/segments/{key}?notice=saved#segment-{segment_id}")


@routes.post("/dashboard/segments/{key}/recluster")
@page(writes=True)
async def recluster_now(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    tasks = request.app[TASKS]
    running = tasks.get(key)
    if running is not None and not running.done():
        raise web.HTTPSeeOther(f"/dashboard/segments/{key}?notice=running")

    def exists() -> None:
        with session_scope(request.app[ENGINE]) as session:
            qs.get_questionnaire(key, session=session)

    try:
        await in_thread(exists)
    except qs.QuestionnaireNotFound as exc:
        return _not_found(request, str(exc.args[0]))
    tasks[key] = asyncio.create_task(
        _recluster(request.app[ENGINE], key, request.app.get(SCHEDULER))
    )
    raise web.HTTPSeeOther(f"/dashboard/segments/{key}?notice=started")


async def _recluster(engine: Engine, key: str, scheduler: Any) -> None:
    from backend.scheduler.jobs import recluster_now

    try:
        await recluster_now(engine, key, trigger="manual", scheduler=scheduler)
    except Exception:  # the run is stored as failed with its message; the page shows it
        log.warning("re-clustering %s from the dashboard failed", key, exc_info=True)


# --- follow-ups ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemStats:
    pack_key: str
    item_id: str
    variant: str
    queued: int
    sent: int
    delivered: int
    clicked: int


@dataclass(frozen=True)
class FollowupsReport:
    packs: list[Any]
    #: questionnaire key -> [(segment name, size, [(pack key, item id)])]
    plans: dict[str, list[tuple[str, int, list[tuple[str, str]]]]]
    items: list[ItemStats]
    by_segment: list[Any]
    outbox: dict[str, int]


def _followups_report(engine: Engine) -> FollowupsReport:
    from backend.followups import (
        followup_stats,
        list_packs,
        questionnaire_definition,
        segment_view,
        select_items,
        status_counts,
    )
    from backend.followups.outbox import packs_for

    with Session(engine) as session:
        packs = list_packs(session=session)
        plans: dict[str, list[tuple[str, int, list[tuple[str, str]]]]] = {}
        for key in sorted({p.questionnaire_key for p in packs}):
            definition = questionnaire_definition(key, session=session)
            if definition is None:
                continue
            questionnaire = qs.get_questionnaire(key, session=session)
            assert questionnaire.id is not None
            loaded = packs_for(key, session=session)
            plans[key] = []
            for segment in queries.segment_rows(questionnaire.id, session=session):
                view = segment_view(segment, definition)
                planned = [
                    (pack.key, p.item.id)
                    for pack in loaded
                    for p in select_items(pack.definition, pack.rules, view)
                ]
                plans[key].append((segment.name, segment.size, planned))
        stats = followup_stats(session=session)
        outbox = status_counts(session=session)
    totals: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in stats:
        counts = totals[(row.pack_key, row.item_id, row.variant or "—")]
        counts[0] += row.queued
        counts[1] += row.sent
        counts[2] += row.delivered
        counts[3] += row.clicked
    items = [ItemStats(*key, *counts) for key, counts in sorted(totals.items())]
    return FollowupsReport(packs, plans, items, stats, outbox)


@routes.get("/dashboard/followups")
@page()
async def followups(request: web.Request) -> web.StreamResponse:
    reader = request.app[READER]
    # The outbox grows with every respondent: its counts are served like the funnel's.
    report = await in_thread(
        queries.cached_within,
        ("f", id(reader)),
        lambda: _followups_report(reader),
        wait=queries.PAGE_WAIT_SECONDS,
    )
    if report is None:  # a first count over a large outbox is still running
        return render(request, "followups.html", report=None, outbox_svg=None, counting=True)
    outbox_svg = (
        charts.bars(
            [charts.Bar(state, count) for state, count in sorted(report.outbox.items())],
            title="Outbox by state",
            label_width=110,
            width=460,
        )
        if report.outbox
        else None
    )
    return render(request, "followups.html", report=report, outbox_svg=outbox_svg, counting=False)


__all__ = ["SESSION", "routes"]
