"""One questionnaire's page: versions, funnel, answer distributions, reliability, split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import Engine
from sqlmodel import col, select

from backend.api.dashboard import charts, queries
from backend.api.dashboard.links import deep_link
from backend.api.dashboard.pages import page, render
from backend.api.db import in_thread, read_only
from backend.api.keys import READER
from backend.services import questionnaires as qs
from backend.storage.models import QuestionnaireVersion

routes = web.RouteTableDef()


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
    with read_only(engine) as session:
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
        with read_only(engine) as session:
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
    with read_only(engine) as session:
        current = {s.id: s for s in queries.segment_rows(report.questionnaire_id, session=session)}
    segments = [current.get(s.id, s) for s in value[0]]
    return segments, value[1]


@routes.get("/dashboard/questionnaires/{key}")
@page()
async def questionnaire(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    engine = request.app[READER]
    report = await in_thread(_questionnaire_report, engine, key)
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


def add_routes(app: web.Application) -> None:
    app.router.add_routes(routes)
