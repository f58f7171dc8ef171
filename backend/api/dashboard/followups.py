"""The follow-ups page: each pack's items, where they go, and what happened to them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import Engine
from sqlmodel import col, select

from backend.api.dashboard import queries
from backend.api.dashboard.pages import duration, page, render
from backend.api.db import in_thread, read_only
from backend.api.keys import READER
from backend.followups import list_packs, packs_for, segment_view, select_items, status_counts
from backend.services import questionnaires as qs
from backend.storage.models import Questionnaire
from backend.storage.segment_tables import Segment

routes = web.RouteTableDef()


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
    packs: list[PackView] = []
    with read_only(engine) as session:
        listed = list_packs(session=session)
        for key in sorted({p.questionnaire_key for p in listed}):
            definition = qs.questionnaire_definition(key, session=session)
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
                                f"{duration(item.send_after).removeprefix('after ')} "
                                "after joining the segment"
                                if item.send_after
                                else "as soon as a respondent joins the segment"
                            ),
                            "dropped if not sent "
                            + duration(
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
        with read_only(engine) as session:
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


def add_routes(app: web.Application) -> None:
    app.router.add_routes(routes)
