"""The dashboard's session check (and CSRF on POST), in front of the API's token check."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote

from aiohttp import web

from backend.api.dashboard.auth import SESSION_COOKIE, check_csrf, is_revoked, read_session
from backend.api.dashboard.pages import SESSION, error_page, render
from backend.api.errors import Handler, message_of, status_of
from backend.api.keys import READER, SETTINGS

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


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
    except Exception as exc:
        status = status_of(exc)
        if status is not None:  # a domain error (no such questionnaire): a page says so
            return _secured(error_page(request, status, message_of(exc)))
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
    return _secured(response)


def _secured(response: web.StreamResponse) -> web.StreamResponse:
    response.headers.update(SECURITY_HEADERS)
    return response
