"""Dashboard pages: read the request, make service calls off the event loop, render HTML."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web
from markupsafe import Markup
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from backend.api.keys import BOT, CHECKER, ENGINE, READER, SCHEDULER, SETTINGS
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
from backend.questionnaire import DefinitionError, decode_text
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


FAVICON = (
    "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'>"
    "<rect width='32' height='32' rx='6' fill='#2d3e50'/>"
    "<circle cx='11' cy='13' r='5' fill='#0072b2'/><circle cx='21' cy='13' r='5' fill='#e69f00'/>"
    "<circle cx='16' cy='21' r='5' fill='#009e73'/></svg>"
)


@routes.get("/favicon.ico")
@routes.get("/favicon.svg")
@page(public=True)
async def favicon(request: web.Request) -> web.StreamResponse:
    """The dashboard's icon (an SVG, which browsers accept at /favicon.ico too)."""
    return web.Response(text=FAVICON, content_type="image/svg+xml")


# --- questionnaires ------------------------------------------------------------------------


@routes.get("/dashboard/questionnaires")
@page()
async def questionnaires(request: web.Request) -> web.StreamResponse:
    rows = await in_thread(_questionnaire_list, request.app[READER])
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
        link=None,
        problems={"summary": summary, "name": name, "lines": lines, "general": general or []},
    )


@dataclass(frozen=True)
class QuestionnaireReport:
    summary: qs.QuestionnaireSummary
    versions: list[tuple[int, str]]
    title: str
    stats: queries.VersionStats | None
    dimension_labels: dict[str, str]
    definition: Any
    version_id: int
    questionnaire_id: int


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
    return QuestionnaireReport(
        summary,
        versions,
        definition.text(definition.title),
        stats,
        labels,
        definition,
        version.id,
        version.questionnaire_id,
    )


@dataclass(frozen=True)
class DeepLink:
    """The bot's link that opens a questionnaire, and its QR code (when the bot is known)."""

    key: str
    url: str | None
    qr: Markup | None


def deep_link(app: web.Application, key: str) -> DeepLink:
    """Return ``https://t.me/<bot>?start=<key>`` for the bot running in this service."""
    application = app.get(BOT)
    username = None
    if application is not None:
        try:
            username = application.bot.username
        except (RuntimeError, AttributeError):  # not initialised yet: no get_me answer
            username = None
    if not username:
        return DeepLink(key, None, None)
    url = f"https://t.me/{username}?start={key}"
    return DeepLink(key, url, charts.qr_code(url))


#: At most this many funnel steps are highlighted as the places people leave.
DROP_HIGHLIGHTS = 3


def funnel_rows(funnel: queries.Funnel) -> list[tuple[str, int, str, bool]]:
    """Return the funnel as bar rows labelled with question text, biggest drop-offs marked."""
    ranked = sorted(
        (s for s in funnel.steps if s.stopped and s.drop_off >= 0.02),
        key=lambda s: s.stopped,
        reverse=True,
    )[:DROP_HIGHLIGHTS]
    hot = {s.question_id for s in ranked}
    rows: list[tuple[str, int, str, bool]] = [
        ("Started", funnel.started, f"{funnel.started:,}", False)
    ]
    for number, step in enumerate(funnel.steps, start=1):
        note = f"{step.reached:,}"
        if step.stopped:
            note += f" · {step.stopped:,} left here ({step.drop_off * 100:.1f}%)"
        rows.append((f"{number}. {step.text}", step.reached, note, step.question_id in hot))
    share = f" ({funnel.completed / funnel.started * 100:.1f}%)" if funnel.started else ""
    rows.append(("Completed", funnel.completed, f"{funnel.completed:,}{share}", False))
    return rows


def distribution_rows(d: queries.Distribution) -> list[tuple[str, int, str, bool]]:
    total = sum(count for _, count in d.counts) or 1
    return [
        (label, count, f"{count:,} ({count / total * 100:.0f}%)", False)
        for label, count in d.counts
    ]


@dataclass(frozen=True)
class SegmentSplit:
    """One question's answers, as shares within each segment."""

    question_id: str
    text: str
    #: (label, [(count, share of the segment's answers)] per segment)
    rows: list[tuple[str, list[tuple[int, float]]]]


def _split(engine: Engine, report: QuestionnaireReport) -> tuple[list[Any], list[SegmentSplit]]:
    def compute() -> tuple[list[Any], list[SegmentSplit]]:
        with Session(engine) as session:
            segments = queries.segment_rows(report.questionnaire_id, session=session)
            counts = queries.answers_by_segment(
                report.definition, report.version_id, report.questionnaire_id, session=session
            )
        out = []
        for qid, question in report.definition.questions().items():
            order = queries.value_order(report.definition, question)
            if not order:
                continue
            by = counts.get(qid, {})
            columns: list[dict[str, int]] = [by.get(s.id or 0, {}) for s in segments]
            totals = [sum(column.values()) for column in columns]
            rows = [
                (
                    label,
                    [
                        (column.get(value, 0), column.get(value, 0) / total if total else 0.0)
                        for column, total in zip(columns, totals, strict=True)
                    ],
                )
                for value, label in order
            ]
            out.append(SegmentSplit(qid, report.definition.text(question.text), rows))
        return segments, out

    # Segment names are read fresh on every request; only the counts are cached.
    value = queries.cached_within(
        ("qs", report.summary.key, report.version_id, id(engine)),
        compute,
        wait=queries.PAGE_WAIT_SECONDS,
    )
    if value is None:
        return [], []
    with Session(engine) as session:
        current = {s.id: s for s in queries.segment_rows(report.questionnaire_id, session=session)}
    segments = [current.get(s.id, s) for s in value[0]]
    return segments, value[1]


@routes.get("/dashboard/questionnaires/{key}")
@page()
async def questionnaire(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    engine = request.app[READER]
    try:
        report = await in_thread(_questionnaire_report, engine, key)
    except qs.QuestionnaireNotFound as exc:
        return _not_found(request, str(exc.args[0]))
    by_segment = request.query.get("by") == "segment"
    context: dict[str, Any] = {
        "report": report,
        "key": key,
        "link": deep_link(request.app, key),
        "by_segment": by_segment,
        "funnel": [],
        "distributions": [],
        "split": None,
        "split_segments": [],
        "counting": report.stats is None,
    }
    if report.stats is not None:
        context["funnel"] = funnel_rows(report.stats.funnel)
        context["distributions"] = [
            (d, distribution_rows(d) if d.counts and d.answered else None)
            for d in report.stats.distributions
        ]
        if by_segment and report.stats.funnel.started:
            segments, split = await in_thread(_split, engine, report)
            context["split"] = split
            context["split_segments"] = [(s, charts.colour(i)) for i, s in enumerate(segments)]
    return render(request, "questionnaire.html", **context)


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
        return await stream_csv(
            request,
            f"{key}-segments.csv",
            ss.export_assignments(engine=engine, questionnaire_key=key),
        )
    except qs.QuestionnaireNotFound as exc:
        return _not_found(request, str(exc.args[0]))


# --- segments ------------------------------------------------------------------------------


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
    from backend.scheduler.jobs import RECLUSTER_JOB_PREFIX

    scheduler = app.get(SCHEDULER)
    if scheduler is not None:
        try:
            job = scheduler.get_job(RECLUSTER_JOB_PREFIX + key)
        except Exception:  # a stopped scheduler: fall back to the settings
            job = None
        if job is not None and getattr(job, "next_run_time", None) is not None:
            when: datetime = job.next_run_time
            return when
        return None
    cron = app[SETTINGS].recluster_cron
    if not cron:
        return None
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(cron, timezone=UTC)
    fire: datetime | None = trigger.get_next_fire_time(None, datetime.now(UTC))
    return fire


@routes.get("/dashboard/segments")
@page()
async def segments_index(request: web.Request) -> web.StreamResponse:
    def work() -> list[Schedule]:
        with Session(request.app[READER]) as session:
            rows = qs.list_questionnaires(session=session)
            segmented = set(ss.segmented_questionnaires(session=session))
            out = []
            for row in rows:
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

    rows = await in_thread(work)
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
        scheduler_here=request.app.get(SCHEDULER) is not None,
    )


@dataclass(frozen=True)
class Trait:
    """What sets a segment apart on one dimension, in words and on the scale."""

    label: str
    sentence: str
    z: float


@dataclass(frozen=True)
class SequenceStep:
    pack_key: str
    item_id: str
    send_after: str
    text: str
    delivered: int
    clicked: int

    @property
    def click_rate(self) -> float | None:
        return self.clicked / self.delivered if self.delivered else None


@dataclass(frozen=True)
class Card:
    segment: Any
    colour: str
    sizes: list[int]
    traits: list[Trait]
    sequence: list[SequenceStep]
    confidence: queries.Confidence | None


@dataclass(frozen=True)
class Transition:
    run_id: int
    previous_run_id: int | None
    #: (previous segment name, [count per new segment])
    rows: list[tuple[str, list[int]]]
    columns: list[str]
    stayed: int
    moved: int


@dataclass(frozen=True)
class SegmentsReport:
    title: str
    cards: list[Card]
    runs: list[Any]
    dimensions: list[str]
    labels: dict[str, str]
    ranges: dict[str, tuple[float, float]]
    #: segment id -> dimension -> (mean, low, high) of the 95% confidence interval
    intervals: dict[int, dict[str, tuple[float, float, float]]]
    overall: dict[str, float]
    transitions: list[Transition]
    #: False while a first count of the outbox runs: the cards show no results yet.
    followups_counted: bool

    @property
    def segments(self) -> list[Any]:
        return [card.segment for card in self.cards]


def _scale(value: float) -> str:
    return f"{value:.1f}"


def _trait_sentence(
    label: str, mean: float, overall: float, z: float, scale: tuple[float, float]
) -> str:
    strength = "much " if abs(z) >= 1.0 else "" if abs(z) >= 0.5 else "slightly "
    side = "higher" if mean >= overall else "lower"
    low, high = scale
    return (
        f"{strength.capitalize() if strength else ''}{side if strength else side.capitalize()} "
        f"{label} than average: {_scale(mean)} vs {_scale(overall)} on the "
        f"{_scale(low).removesuffix('.0')}–{_scale(high).removesuffix('.0')} scale"
    )


def _interval(spread: Any) -> tuple[float, float, float] | None:
    if not isinstance(spread, list) or len(spread) != 3:
        return None
    mean, sd, n = (float(v) for v in spread)
    half = 1.96 * sd / math.sqrt(n) if n > 1 else 0.0
    return (mean, mean - half, mean + half)


def _segments_report(engine: Engine, key: str) -> SegmentsReport:
    from backend.followups import packs_for, segment_view, select_items
    from backend.scoring import ScoringKey
    from backend.services.questionnaires import questionnaire_definition

    with Session(engine) as session:
        questionnaire = qs.get_questionnaire(key, session=session)
        assert questionnaire.id is not None
        definition = qs.definition_of(qs.current_version(key, session=session))
        segments = ss.list_segments(session=session, questionnaire_key=key)
        every = ss.list_segments(session=session, questionnaire_key=key, include_retired=True)
        runs = ss.runs(session=session, questionnaire_key=key, limit=10)
        confidence = queries.membership_confidence(questionnaire.id, session=session)
        loaded = packs_for(session=session, questionnaire_key=key)
        rows = {r.id: r for r in queries.segment_rows(questionnaire.id, session=session)}
        content_definition = questionnaire_definition(key, session=session)
    counted = queries.cached_followup_counts(engine)
    counts = counted or []
    labels = {d.id: definition.text(d.label) for d in definition.dimensions}
    dimensions = [d for d in definition.segmentation_dimensions() if d in labels] or list(labels)
    scoring = ScoringKey.from_definition(definition)
    ranges = dict(zip(scoring.dimensions, scoring.ranges, strict=True))
    total = sum(s.size for s in segments) or 1
    overall = {
        d: sum(s.centroid.get(d, 0.0) * s.size for s in segments) / total
        for d in dimensions
        if all(d in s.centroid for s in segments)
    }
    latest = next((r for r in runs if r.status.value == "succeeded"), None)
    spread = latest.metrics.get("spread", {}) if latest is not None else {}
    intervals: dict[int, dict[str, tuple[float, float, float]]] = {}
    for segment in segments:
        mine = spread.get(str(segment.id), {}) if isinstance(spread, dict) else {}
        intervals[segment.id] = {}
        for d in dimensions:
            point = _interval(mine.get(d))
            if point is None and d in segment.centroid:
                mean = float(segment.centroid[d])
                point = (mean, mean, mean)
            if point is not None:
                intervals[segment.id][d] = point
    cards = []
    for index, segment in enumerate(segments):
        sizes = [
            int(run.metrics["sizes"][str(segment.id)])
            for run in reversed(runs)
            if isinstance(run.metrics.get("sizes"), dict)
            and str(segment.id) in run.metrics["sizes"]
        ]
        traits = []
        for t in segment.traits[:3]:
            dim = str(t.get("dimension", ""))
            if dim not in segment.centroid or dim not in overall or dim not in ranges:
                continue
            label = labels.get(dim, str(t.get("label") or dim))
            z = float(t.get("z", 0.0))
            traits.append(
                Trait(
                    label,
                    _trait_sentence(
                        label, float(segment.centroid[dim]), overall[dim], z, ranges[dim]
                    ),
                    z,
                )
            )
        results = {(c.pack_key, c.item_id): c for c in counts if c.segment_key == str(segment.id)}
        sequence = []
        if segment.id in rows:
            view = segment_view(rows[segment.id], content_definition)
            for pack in loaded:
                for planned in select_items(pack.definition, pack.rules, view):
                    c = results.get((pack.key, planned.item.id))
                    item = planned.item
                    text = item.text or (item.variants[0].text if item.variants else "")
                    sequence.append(
                        SequenceStep(
                            pack.key,
                            item.id,
                            _duration(planned.send_after),
                            text,
                            c.delivered if c else 0,
                            c.clicked if c else 0,
                        )
                    )
        cards.append(
            Card(
                segment,
                charts.colour(index),
                sizes or [segment.size],
                traits,
                sequence,
                confidence.get(segment.id) if confidence else None,
            )
        )
    names = {s.id: s.name for s in every}
    transitions = []
    for run in runs:
        table = run.metrics.get("transitions")
        if not isinstance(table, dict) or not table.get("previous_segments"):
            continue
        previous, new = table["previous_segments"], table["new_segments"]
        matrix = table["counts"]
        stayed = sum(
            matrix[i][j]
            for i, p in enumerate(previous)
            for j, n in enumerate(new)
            if p == n and i < len(matrix) and j < len(matrix[i])
        )
        moved = sum(sum(row) for row in matrix) - stayed
        transitions.append(
            Transition(
                run.id,
                run.metrics.get("previous_run_id"),
                [(names.get(p, f"segment {p}"), list(matrix[i])) for i, p in enumerate(previous)],
                [names.get(n, f"segment {n}") for n in new],
                stayed,
                moved,
            )
        )
    return SegmentsReport(
        definition.text(definition.title),
        cards,
        runs,
        dimensions,
        labels,
        {d: ranges[d] for d in dimensions if d in ranges},
        intervals,
        overall,
        transitions,
        counted is not None,
    )


def _duration(value: Any, *, zero: str = "at once") -> str:
    """Say a delay in words: "at once", "after 2 days"."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return zero
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return f"after {n} {unit}{'s' if n != 1 else ''}"
    return f"after {seconds} s"


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
    task = request.app[TASKS].get(key)
    running = task is not None and not task.done()
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

    def work() -> str | None:
        with session_scope(request.app[ENGINE]) as session:
            questionnaire = qs.get_questionnaire(key, session=session)
            segment = session.get(Segment, segment_id)
            if segment is None or segment.questionnaire_id != questionnaire.id:
                return None
            ss.rename_segment(
                session=session, segment_id=segment_id, name=name, description=description
            )
            return segment.name

    try:
        renamed = await in_thread(work)
    except qs.QuestionnaireNotFound as exc:
        return _not_found(request, str(exc.args[0]))
    except ValueError as exc:
        return await _segments_page(request, key, status=400, error=str(exc))
    if renamed is None:
        return _not_found(request, f"{key!r} has no segment {segment_id}")
    # Nothing cached holds a segment's name, but drop the follow-up counts all the same.
    queries.forget(("fc",))
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
class ItemView:
    """One content item as the marketer wrote it, and where it goes."""

    pack_key: str
    item_id: str
    #: (variant id or None, text as written, button texts)
    wordings: list[tuple[str | None, str, list[str]]]
    send_after: str
    expires_after: str
    #: (segment id, current name) of the segments it goes to
    segments: list[tuple[int, str]]


@dataclass(frozen=True)
class PackView:
    key: str
    title: str
    questionnaire_key: str
    items: list[ItemView]


@dataclass(frozen=True)
class SegmentResults:
    segment_key: str
    name: str
    questionnaire_key: str | None
    segment_id: int | None
    rows: list[queries.FollowupCounts]


@dataclass(frozen=True)
class FollowupsReport:
    packs: list[PackView]
    results: list[SegmentResults] | None
    outbox: dict[str, int]


def _followups_report(engine: Engine) -> FollowupsReport:
    from backend.followups import list_packs, packs_for, segment_view, select_items, status_counts
    from backend.services.questionnaires import questionnaire_definition
    from backend.storage.models import Questionnaire

    packs: list[PackView] = []
    with Session(engine) as session:
        listed = list_packs(session=session)
        for key in sorted({p.questionnaire_key for p in listed}):
            definition = questionnaire_definition(key, session=session)
            try:
                questionnaire = qs.get_questionnaire(key, session=session)
            except qs.QuestionnaireNotFound:
                continue
            assert questionnaire.id is not None
            segments = queries.segment_rows(questionnaire.id, session=session)
            views = [(s, segment_view(s, definition)) for s in segments]
            for pack in packs_for(session=session, questionnaire_key=key):
                goes: dict[str, list[tuple[int, str]]] = defaultdict(list)
                for segment, view in views:
                    for planned in select_items(pack.definition, pack.rules, view):
                        assert segment.id is not None
                        goes[planned.item.id].append((segment.id, segment.name))
                items = []
                for item in pack.definition.items:
                    wordings: list[tuple[str | None, str, list[str]]] = (
                        [
                            (
                                v.id,
                                v.text,
                                [
                                    b.text
                                    for b in (v.buttons if v.buttons is not None else item.buttons)
                                ],
                            )
                            for v in item.variants
                        ]
                        if item.variants
                        else [(None, item.text or "", [b.text for b in item.buttons])]
                    )
                    items.append(
                        ItemView(
                            pack.key,
                            item.id,
                            wordings,
                            (
                                f"{_duration(item.send_after).removeprefix('after ')} "
                                "after joining the segment"
                                if item.send_after
                                else "as soon as a respondent joins the segment"
                            ),
                            "dropped if not sent "
                            + _duration(
                                item.expires_after or pack.definition.expires_after,
                                zero="at once",
                            ).replace("after ", "within "),
                            goes.get(item.id, []),
                        )
                    )
                packs.append(PackView(pack.key, pack.definition.title, key, items))
        # Current names of every segment, retired ones too: rows keep only the segment's id.
        names = {
            str(sid): (name, qkey, sid)
            for sid, name, qkey in session.exec(
                select(Segment.id, Segment.name, Questionnaire.key).join(
                    Questionnaire, col(Questionnaire.id) == col(Segment.questionnaire_id)
                )
            )
        }
    counts = queries.cached_followup_counts(engine)

    def count_outbox() -> dict[str, int]:
        with Session(engine) as session:
            return status_counts(session=session)

    outbox = queries.cached_within(
        ("fo", id(engine)), count_outbox, wait=queries.PAGE_WAIT_SECONDS
    )
    results = None
    if counts is not None:
        grouped: dict[str, list[queries.FollowupCounts]] = defaultdict(list)
        for row in counts:
            grouped[row.segment_key].append(row)
        results = []
        for segment_key, rows in grouped.items():
            name, qkey, sid = names.get(segment_key, (f"segment {segment_key}", None, None))
            results.append(SegmentResults(segment_key, name, qkey, sid, rows))
        results.sort(key=lambda r: (r.questionnaire_key or "", r.name.lower()))
    return FollowupsReport(packs, results, outbox or {})


@routes.get("/dashboard/followups")
@page()
async def followups(request: web.Request) -> web.StreamResponse:
    report = await in_thread(_followups_report, request.app[READER])
    return render(request, "followups.html", report=report, counting=report.results is None)


__all__ = ["SESSION", "routes"]
