"""The marketer dashboard: server-rendered pages over the services, signed in with API tokens.

:func:`setup_dashboard` adds the pages to the application :func:`backend.api.app.create_app`
builds; charts are inline SVG, so the pages need no JavaScript.
"""

from backend.dashboard.app import setup_dashboard

__all__ = ["setup_dashboard"]
