"""API views, one module per resource; :data:`routes` is the API's whole route table."""

from aiohttp import web

from backend.api.keys import ROUTES
from backend.api.routes import RouteTable
from backend.api.views import (
    content,
    followups,
    health,
    meta,
    questionnaires,
    respondents,
    responses,
    segments,
)

routes = RouteTable.joined(
    health.routes,
    questionnaires.routes,
    responses.routes,
    respondents.routes,
    meta.routes,
    content.routes,
    segments.routes,
    followups.routes,
)


def add_routes(app: web.Application) -> None:
    """Register the API's routes (the OpenAPI document describes the same table)."""
    app[ROUTES] = routes
    routes.register(app)


__all__ = ["add_routes", "routes"]
