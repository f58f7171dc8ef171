"""The service's own description: its OpenAPI document and its Prometheus metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from backend import __version__
from backend.api.keys import ROUTES
from backend.api.routes import READ, RouteTable

routes = RouteTable()


@routes.route(
    "GET",
    "/api/openapi.json",
    summary="This API, described",
    tag="meta",
    roles=READ,
    response={"type": "object"},
)
async def openapi(request: web.Request) -> web.Response:
    document = request.app[ROUTES].openapi(title="Psychograph API", version=__version__)
    return web.json_response(document)


@routes.route(
    "GET",
    "/metrics",
    summary="Prometheus metrics",
    tag="meta",
    roles=READ,
    response={"type": "string"},
    response_media_type="text/plain",
)
async def metrics(request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
