"""Entry pages: the root, sign-in, sign-out and the icon."""

from __future__ import annotations

from aiohttp import web

from backend.api.dashboard.auth import (
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
from backend.api.dashboard.pages import SESSION, local_target, page, render
from backend.api.db import in_thread
from backend.api.keys import ENGINE, SETTINGS

routes = web.RouteTableDef()


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


def add_routes(app: web.Application) -> None:
    app.router.add_routes(routes)
