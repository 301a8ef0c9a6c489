"""The aiohttp application factory."""

from __future__ import annotations

from aiohttp import web, web_response

from server.core.config import Config
from server.store.keyring import KeyRing
from server.web import lifetimes, parser_errors
from server.web.auth_middleware import auth_middleware
from server.web.idempotency import idempotency_middleware
from server.web.keys import CONFIG
from server.web.middlewares import (
    SERVER_NAME,
    error_middleware,
    read_only_middleware,
    security_headers,
)
from server.web.routes import setup_routes

# Answers the HTTP parser refuses (a malformed request line) never reach the app's
# on_response_prepare hook, and aiohttp names itself and Python's version in their
# Server header. Its default is a module global read when headers are prepared, so
# the product name replaces it there too (ASVS 4.0 V14.3.3: no version disclosure).
web_response.SERVER_SOFTWARE = SERVER_NAME
# Those answers also echoed, and aiohttp's log quoted, the raw bytes around the fault (an
# API key, a login password): they are answered and logged by our rule (issue 26, item 10).
parser_errors.install()

PARSER_MAX_LINE = 64 * 1024


def create_app(config: Config) -> web.Application:
    """Build the Strongroom web application for ``config``.

    Loads the master key first: a missing or loosely-permissioned key file stops
    the server before it listens.
    """
    ring = KeyRing.from_file(config.path(config.security.master_key))
    app = web.Application(
        middlewares=[
            error_middleware,
            read_only_middleware,
            auth_middleware,
            idempotency_middleware,
        ],
        client_max_size=config.server.max_body_bytes,
        # aiohttp refuses a longer request line with a text/plain 400 before any
        # middleware runs; up to this size the request reaches error_middleware, which
        # answers 414 problem+json past MAX_URL (8 KB).
        handler_args={"max_line_size": PARSER_MAX_LINE},
    )
    app[CONFIG] = config
    for lifetime in lifetimes.every(ring):
        app.cleanup_ctx.append(lifetime)
    app.on_response_prepare.append(security_headers)
    setup_routes(app)
    return app
