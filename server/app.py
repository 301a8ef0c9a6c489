"""The aiohttp application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from server import db
from server.config import Config
from server.keys import CONFIG, POOL
from server.middlewares import error_middleware, security_headers
from server.routes import setup_routes


def create_app(config: Config) -> web.Application:
    """Build the Strongroom web application for ``config``."""
    app = web.Application(
        middlewares=[error_middleware],
        client_max_size=config.server.max_body_bytes,
    )
    app[CONFIG] = config
    app.cleanup_ctx.append(_database)
    app.on_response_prepare.append(security_headers)
    setup_routes(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    app[POOL] = await db.create_pool(app[CONFIG])
    yield
    await app[POOL].close()
