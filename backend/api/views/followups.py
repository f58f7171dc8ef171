"""Follow-up views: what was sent, delivered and clicked per item, variant and segment."""

from __future__ import annotations

import dataclasses

from aiohttp import web
from pydantic import BaseModel
from sqlmodel import Session

from backend.api.db import read
from backend.api.replies import ok
from backend.api.routes import READ, RouteTable
from backend.followups import followup_stats

routes = RouteTable()


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

    def work(session: Session) -> list[StatsOut]:
        return [
            StatsOut(**dataclasses.asdict(row))
            for row in followup_stats(session=session, pack_key=pack)
        ]

    return ok(await read(request, work))
