"""Every route of the REST API, assembled in one place."""

from __future__ import annotations

from aiohttp import web

from server.handlers import health

API = "/api/v1"


def setup_routes(app: web.Application) -> None:
    """Register the API's routes on ``app``."""
    app.router.add_get(f"{API}/health", health.health)
