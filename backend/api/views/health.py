"""Health checks: liveness, and readiness of the database, the bot and the scheduler."""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy import text

from backend.api.db import in_thread
from backend.api.keys import BOT, ENGINE, JOBS
from backend.api.replies import ok
from backend.api.routes import RouteTable
from backend.storage.engine import retry_stale

routes = RouteTable()


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
        # A pooled connection the database dropped is not unreadiness: ask a fresh one.
        await asyncio.wait_for(in_thread(retry_stale, ping), timeout=5)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; the reason is reported
        checks["database"] = f"unreachable: {type(exc).__name__}"
    bot = app.get(BOT)
    if bot is not None:
        checks["bot"] = "ok" if bot.running else "not running"
    jobs = app.get(JOBS)
    if jobs is not None:
        checks["scheduler"] = "ok" if jobs.running else "not running"
    ready = all(v == "ok" for v in checks.values())
    return web.json_response(
        Health(status="ok" if ready else "not ready", checks=checks).model_dump(),
        status=200 if ready else 503,
    )
