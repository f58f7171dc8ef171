"""The marketer dashboard: server-rendered pages over the services, signed in with API tokens.

:func:`backend.api.app.create_app` puts :func:`setup_dashboard` and the
:func:`dashboard_middleware` in the application; charts are inline SVG, so the pages need no
JavaScript.
"""

import asyncio

from aiohttp import web

from backend.api.dashboard import entry, followups, questionnaire_report, questionnaires, segments
from backend.api.dashboard.middleware import dashboard_middleware
from backend.api.dashboard.pages import TEMPLATES, environment
from backend.api.dashboard.queries.cache import finish_counts

#: Seconds the shutdown waits for background counts before the database closes.
COUNTS_GRACE_SECONDS = 10.0


def setup_dashboard(app: web.Application) -> None:
    """Add the templates and the pages under ``/dashboard/`` (and ``/`` redirecting there)."""
    app[TEMPLATES] = environment()
    for area in (entry, questionnaires, questionnaire_report, segments, followups):
        area.add_routes(app)
    app.on_cleanup.append(_finish_counts)


async def _finish_counts(_app: web.Application) -> None:
    await asyncio.to_thread(finish_counts, COUNTS_GRACE_SECONDS)


__all__ = ["dashboard_middleware", "setup_dashboard"]
