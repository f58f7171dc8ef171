"""Wiring: the dashboard's routes, templates and its session check in front of the API's."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web
from sqlmodel import Session

from backend.api.errors import Handler
from backend.api.keys import READER, SETTINGS
from backend.dashboard.auth import (
    SESSION_COOKIE,
    DashboardSession,
    check_csrf,
    is_revoked,
    read_session,
)

log = logging.getLogger(__name__)

View = Callable[[web.Request], Awaitable[web.StreamResponse]]

TEMPLATES = web.AppKey("dashboard_templates", jinja2.Environment)
#: Background re-clusterings started from the dashboard, by questionnaire key.
TASKS: web.AppKey[dict[str, asyncio.Task[Any]]] = web.AppKey("dashboard_tasks")
SESSION = web.RequestKey("dashboard_session", DashboardSession)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def page(*, public: bool = False, writes: bool = False) -> Callable[[View], View]:
    """Mark a view as a dashboard page: signed-in only unless ``public``; a POST that
    ``writes`` needs a role that may change things."""

    def decorate(view: View) -> View:
        view.__dict__["dashboard_page"] = True
        view.__dict__["dashboard_public"] = public
        view.__dict__["dashboard_writes"] = writes
        return view

    return decorate


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("backend.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["thousands"] = lambda n: f"{n:,}"
    env.filters["percent"] = lambda x: f"{x * 100:.1f}%"
    env.filters["number"] = lambda x, digits=2: "–" if x is None else f"{x:.{digits}f}"
    return env


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """Render a template with the signed-in session (role, CSRF token) in its context."""
    session = request.get(SESSION)
    html = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(
            session=session,
            can_write=session is not None and session.can_write,
            csrf=session.csrf if session is not None else "",
            path=request.path,
            **context,
        )
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def local_target(value: str | None) -> str:
    """Return a redirect target on the dashboard itself (never another site)."""
    if value and value.startswith("/dashboard/") and not value.startswith("/dashboard//"):
        return value
    return "/dashboard/"


@web.middleware
async def dashboard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check the session cookie (and CSRF on POST) of dashboard pages.

    Dashboard pages are served here, past the API's bearer-token middleware: the browser
    signs in once with a token and then carries a signed session cookie instead.
    """
    view = request.match_info.handler
    if not getattr(view, "dashboard_page", False):
        return await handler(request)
    settings = request.app[SETTINGS]
    session = read_session(settings, request.cookies.get(SESSION_COOKIE))
    if session is not None and await asyncio.to_thread(is_revoked, request.app[READER], session):
        session = None  # signed out: a copy of the cookie is worth nothing
    if session is not None:
        request[SESSION] = session
    if request.method == "POST":
        try:
            await request.post()  # read once here; views get aiohttp's cached copy
        except ValueError:  # UnicodeDecodeError and malformed multipart bodies
            return render(
                request,
                "error.html",
                status=400,
                title="Form not readable",
                message="This form's data is not valid UTF-8 form data. "
                "Go back, reload the page and try again.",
            )
    if not getattr(view, "dashboard_public", False):
        if session is None:
            target = quote(request.path_qs if request.method == "GET" else request.path)
            raise web.HTTPSeeOther(f"/dashboard/sign-in?next={target}")
        if request.method == "POST":
            if getattr(view, "dashboard_writes", False) and not session.can_write:
                return render(
                    request,
                    "error.html",
                    status=403,
                    title="Read-only",
                    message=f"The {session.role.value} role can look but not change things. "
                    "Sign in with a marketer or ops token to do this.",
                )
            form = await request.post()
            if not check_csrf(session, str(form.get("csrf", ""))):
                return render(
                    request,
                    "error.html",
                    status=403,
                    title="Form expired",
                    message="This form was not sent from the dashboard or has expired. "
                    "Go back, reload the page and try again.",
                )
    try:
        response = await view(request)
    except web.HTTPException:
        raise
    except Exception:
        # A page that breaks says so as a page, never as the API's JSON error.
        log.exception("dashboard page %s failed", request.path)
        response = render(
            request,
            "error.html",
            status=500,
            title="Something went wrong",
            message="This page could not be shown; the error is in the service's log. "
            "Try again in a moment.",
        )
    response.headers.update(SECURITY_HEADERS)
    return response


def reading(app: web.Application) -> Session:
    """Open a session for reads that takes no write lock."""
    return Session(app[READER], expire_on_commit=False)


async def _finish_tasks(app: web.Application) -> None:
    tasks = [t for t in app[TASKS].values() if not t.done()]
    if tasks:
        # Fits run in threads and cannot be interrupted; give them a moment to store.
        await asyncio.wait(tasks, timeout=10)


def setup_dashboard(app: web.Application) -> None:
    """Add the dashboard's pages under ``/dashboard/`` (and ``/`` redirecting there).

    Call after :func:`backend.api.app.create_app` and before the application starts.
    """
    from backend.api.app import auth_middleware
    from backend.dashboard.views import routes

    app[TEMPLATES] = environment()
    app[TASKS] = {}
    middlewares = app.middlewares
    # The session check must run before the API's bearer-token check, which it replaces
    # for dashboard pages; other middlewares (errors) stay outside it.
    index = next((i for i, m in enumerate(middlewares) if m is auth_middleware), len(middlewares))
    middlewares.insert(index, dashboard_middleware)
    app.router.add_routes(routes)
    app.on_cleanup.append(_finish_tasks)
