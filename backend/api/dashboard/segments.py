"""Segment pages: the schedule, one questionnaire's segments, renaming, re-clustering."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlmodel import Session

from backend.api.dashboard import charts, queries
from backend.api.dashboard.pages import error_page, page, render
from backend.api.dashboard.segment_report import segments_report
from backend.api.db import in_thread, read, write
from backend.api.keys import ENGINE, JOBS, READER, RECLUSTERS, SETTINGS
from backend.api.replies import stream_csv
from backend.scheduler import next_cron_run
from backend.services import questionnaires as qs
from backend.services import segments as ss
from backend.storage.segment_tables import Segment

routes = web.RouteTableDef()


@dataclass(frozen=True)
class Schedule:
    key: str
    title: str
    completed: int
    segmented: bool
    segments: int
    last_run: Any
    since_last: int
    next_run: datetime | None


def _next_run(app: web.Application, key: str) -> datetime | None:
    """When the scheduler will next re-cluster ``key`` (None when nothing is scheduled)."""
    jobs = app[JOBS]
    if jobs is not None:
        return jobs.next_recluster(key)
    return next_cron_run(app[SETTINGS].recluster_cron)


@routes.get("/dashboard/segments")
@page()
async def segments_index(request: web.Request) -> web.StreamResponse:
    def work(session: Session) -> list[Schedule]:
        segmented = set(ss.segmented_questionnaires(session=session))
        out = []
        for row in qs.list_questionnaires(session=session):
            runs = ss.runs(session=session, questionnaire_key=row.key, limit=1)
            out.append(
                Schedule(
                    row.key,
                    row.title,
                    row.completed,
                    row.key in segmented,
                    len(ss.list_segments(session=session, questionnaire_key=row.key)),
                    runs[0] if runs else None,
                    ss.completions_since_last_run(session=session, questionnaire_key=row.key),
                    None,
                )
            )
        return out

    rows = await read(request, work)
    settings = request.app[SETTINGS]
    rows = [
        dataclasses.replace(r, next_run=_next_run(request.app, r.key) if r.segmented else None)
        for r in rows
    ]
    return render(
        request,
        "segments_index.html",
        rows=rows,
        cron=settings.recluster_cron,
        after=settings.recluster_after_completions,
        scheduler_here=request.app[JOBS] is not None,
    )


@routes.get("/dashboard/segments/{key}")
@page()
async def segments(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    return await _segments_page(request, key)


async def _segments_page(
    request: web.Request, key: str, *, status: int = 200, error: str | None = None
) -> web.Response:
    report = await in_thread(segments_report, request.app[READER], key)
    profile = None
    if report.cards and report.ranges:
        dims = [d for d in report.dimensions if d in report.ranges]
        profile = charts.profile_plot(
            [report.labels[d] for d in dims],
            [report.ranges[d] for d in dims],
            [
                charts.ProfileLine(
                    card.segment.name,
                    card.colour,
                    [report.intervals[card.segment.id].get(d) for d in dims],
                )
                for card in report.cards
            ],
            title="Each segment's mean on every dimension, with its 95% confidence interval",
        )
    sparks = {
        card.segment.id: charts.sparkline(
            card.sizes, title=f"Size of {card.segment.name} over the last runs"
        )
        for card in report.cards
    }
    running = request.app[RECLUSTERS].running(key)
    return render(
        request,
        "segments.html",
        status=status,
        key=key,
        report=report,
        profile=profile,
        sparks=sparks,
        heat_legend=[(z, charts.diverging(z)) for z in (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0)],
        diverging=charts.diverging,
        error=error,
        running=running,
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

    def work(session: Session) -> str | None:
        questionnaire = qs.get_questionnaire(key, session=session)
        segment = session.get(Segment, segment_id)
        if segment is None or segment.questionnaire_id != questionnaire.id:
            return None
        ss.rename_segment(
            session=session, segment_id=segment_id, name=name, description=description
        )
        return segment.name

    try:
        renamed = await write(request, work)
    except ValueError as exc:  # a name or description the segment cannot take
        return await _segments_page(request, key, status=400, error=str(exc))
    if renamed is None:
        return error_page(request, 404, f"{key!r} has no segment {segment_id}")
    # Nothing cached holds a segment's name, but drop the follow-up counts all the same.
    queries.forget(("fc",))
    raise web.HTTPSeeOther(f"/dashboard/segments/{key}?notice=saved#segment-{segment_id}")


@routes.post("/dashboard/segments/{key}/recluster")
@page(writes=True)
async def recluster_now(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    reclusters = request.app[RECLUSTERS]
    if reclusters.running(key):
        raise web.HTTPSeeOther(f"/dashboard/segments/{key}?notice=running")
    await read(request, lambda session: qs.get_questionnaire(key, session=session))
    reclusters.start(key, trigger="manual")
    raise web.HTTPSeeOther(f"/dashboard/segments/{key}?notice=started")


@routes.get("/dashboard/segments/{key}/segments.csv")
@page()
async def segments_csv(request: web.Request) -> web.StreamResponse:
    """Respondents with their segment and latest scores, as the segments service exports."""
    key = request.match_info["key"]
    rows = ss.export_assignments(engine=request.app[ENGINE], questionnaire_key=key)
    return await stream_csv(request, f"{key}-segments.csv", rows)


def add_routes(app: web.Application) -> None:
    app.router.add_routes(routes)
