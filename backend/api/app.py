"""The aiohttp application: API, Telegram webhook, health, metrics and the dashboard.

:func:`create_app` wires them, in one direction: the API's views and the dashboard never
import this module.
"""

from __future__ import annotations

import hmac
import logging
import weakref
from typing import Any

from aiohttp import web
from sqlalchemy import Engine
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from telegram import Update
from telegram.ext import Application

from backend.api import dashboard, views
from backend.api.dashboard import dashboard_middleware
from backend.api.edges import strict_input_middleware
from backend.api.errors import Handler, error_middleware, json_error
from backend.api.keys import (
    BOT,
    CHECKER,
    ENGINE,
    JOBS,
    QUIZ,
    READER,
    RECLUSTERS,
    ROLE,
    SETTINGS,
    BotApplication,
)
from backend.api.reclusters import Reclusters
from backend.scheduler import Jobs
from backend.services.quiz import QuizService
from backend.services.uploads import UploadChecker
from backend.settings import Settings
from backend.storage.engine import make_reader

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: Request bodies above this are refused with 413 (a definition or a response CSV).
MAX_BODY_BYTES = 5 * 1024 * 1024


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Require a bearer token whose role may use the route; health checks are public."""
    roles = getattr(request.match_info.handler, "api_roles", None)
    route = request.match_info.route.resource
    if route is None or request.path == WEBHOOK_PATH or (roles is None and _public(request)):
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorized("send an API token: Authorization: Bearer <token>")
    role = request.app[SETTINGS].role_for(token.strip())
    if role is None:
        return _unauthorized("the API token is not valid")
    if roles is not None and role not in roles:
        allowed = ", ".join(sorted(r.value for r in roles))
        return json_error(
            403,
            f"the {role.value} role may not {request.method} {request.path} (allowed: {allowed})",
        )
    request[ROLE] = role
    return await handler(request)


def _public(request: web.Request) -> bool:
    return request.path in {"/healthz", "/readyz"}


def _unauthorized(message: str) -> web.Response:
    response = json_error(401, message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="psychograph"'
    return response


async def telegram_webhook(request: web.Request) -> web.Response:
    """Take an update from Telegram; refuse requests without the configured secret."""
    settings = request.app[SETTINGS]
    bot = request.app.get(BOT)
    expected = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    given = request.headers.get(SECRET_HEADER, "")
    if bot is None or expected is None:
        return json_error(404, "the webhook is not enabled on this instance")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return json_error(403, "wrong or missing secret token")
    try:
        payload = await request.json()
    except ValueError:
        return json_error(400, "the update is not JSON")
    try:
        update = Update.de_json(payload, bot.bot)
    except Exception:  # a malformed update must not make Telegram retry forever
        log.warning("dropped a malformed webhook update", exc_info=True)
        return json_error(400, "not a Telegram update")
    # Acknowledge only what was processed: a worker killed mid-update, or one whose
    # database is away, leaves the update unacknowledged and Telegram delivers it again
    # (to this worker or another); the respondent's last update id records it once.
    failures = _WEBHOOK_FAILURES.setdefault(bot, {})
    await bot.process_update(update)
    failure = failures.pop(update.update_id, None)
    if failure is not None:
        return json_error(503, f"the update could not be stored now ({type(failure).__name__})")
    return web.Response(status=200)


#: Per bot Application: update id -> the transient error that kept the update from being
#: stored. Kept here, not in the Application's ``bot_data``, whose type is the bot's own.
_WEBHOOK_FAILURES: weakref.WeakKeyDictionary[Application, dict[int, BaseException]] = (
    weakref.WeakKeyDictionary()
)
#: Errors after which an update is worth delivering again: the database was unreachable.
TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)


async def remember_transient_failure(update: object, context: Any) -> None:
    """Error handler: note an update that failed because the database was unreachable."""
    if isinstance(update, Update) and isinstance(context.error, TRANSIENT):
        failures = _WEBHOOK_FAILURES.setdefault(context.application, {})
        failures[update.update_id] = context.error


async def _finish_reclusters(app: web.Application) -> None:
    """Let re-clusterings a marketer started finish before the database closes."""
    await app[RECLUSTERS].finish(grace=30)


async def _close_reader(app: web.Application) -> None:
    if app[READER] is not app[ENGINE]:
        app[READER].dispose()


def create_app(
    settings: Settings,
    engine: Engine,
    *,
    quiz: QuizService | None = None,
    bot: BotApplication | None = None,
    jobs: Jobs | None = None,
) -> web.Application:
    """Build the HTTP application around already-open resources.

    The dashboard's session check runs before the API's bearer-token check, which it
    replaces for dashboard pages; the error middleware stays outside both.
    """
    app = web.Application(
        middlewares=[
            error_middleware,
            strict_input_middleware,
            dashboard_middleware,
            auth_middleware,
        ],
        client_max_size=MAX_BODY_BYTES,
    )
    app[SETTINGS] = settings
    app[ENGINE] = engine
    app[READER] = make_reader(engine)
    app[QUIZ] = quiz or QuizService(engine, erasure_key=settings.erasure_key())
    app[CHECKER] = UploadChecker()
    app[BOT] = bot
    # Tests of the dashboard pass a stand-in that only knows the bot's username.
    if isinstance(bot, Application) and bot not in _WEBHOOK_FAILURES:
        _WEBHOOK_FAILURES[bot] = {}
        bot.add_error_handler(remember_transient_failure)
    app[JOBS] = jobs
    app[RECLUSTERS] = Reclusters(engine, jobs)
    app.on_cleanup.append(_finish_reclusters)
    views.add_routes(app)
    app.router.add_post(WEBHOOK_PATH, telegram_webhook)
    dashboard.setup_dashboard(app)
    app.on_cleanup.append(_close_reader)  # last: the cleanups above may still read
    return app
