"""What every dashboard page shares: its marking, its templates and how it renders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import jinja2
from aiohttp import web

from backend.api.dashboard.auth import DashboardSession

View = Callable[[web.Request], Awaitable[web.StreamResponse]]

TEMPLATES = web.AppKey("dashboard_templates", jinja2.Environment)
SESSION = web.RequestKey("dashboard_session", DashboardSession)


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
        loader=jinja2.PackageLoader("backend.api.dashboard", "templates"),
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


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    """Render the error page: "Not found" and the message a person can act on."""
    title = HTTPStatus(status).phrase.capitalize()
    return render(request, "error.html", status=status, title=title, message=message)


def local_target(value: str | None) -> str:
    """Return a redirect target on the dashboard itself (never another site)."""
    if value and value.startswith("/dashboard/") and not value.startswith("/dashboard//"):
        return value
    return "/dashboard/"


def duration(value: Any, *, zero: str = "at once") -> str:
    """Say a delay in words: "at once", "after 2 days"."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return zero
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return f"after {n} {unit}{'s' if n != 1 else ''}"
    return f"after {seconds} s"
