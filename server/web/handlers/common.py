"""Small helpers handlers use: route markers and the client's address (env, actor and path
parameters are handed over by ``server.web.api.operation``)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

Handler = Callable[[web.Request], object]


def public(handler: Handler) -> Handler:
    """Mark a handler as needing no authentication."""
    handler.public = True  # type: ignore[attr-defined]
    return handler


def works_read_only(handler: Handler) -> Handler:
    """Mark a write route that also works on a node that cannot write its database."""
    handler.works_read_only = True  # type: ignore[attr-defined]
    return handler


def authenticates_in_statement(handler: Handler) -> Handler:
    """Mark a handler whose service checks the bearer token in its own statement (the
    reveal, issue 28): the middleware leaves a well-formed token to it (``DEFERRED_TOKEN``)
    instead of a round trip of its own (server/web/auth_middleware.py)."""
    handler.authenticates_in_statement = True  # type: ignore[attr-defined]
    return handler


def before_password_change(handler: Handler) -> Handler:
    """Mark a handler as usable while the user must still change its password."""
    handler.before_password_change = True  # type: ignore[attr-defined]
    return handler


def before_totp_setup(handler: Handler) -> Handler:
    """Mark a handler as usable while the user must still enrol in TOTP."""
    handler.before_totp_setup = True  # type: ignore[attr-defined]
    return handler


def client_ip(request: web.Request) -> str:
    """The peer address (Strongroom terminates TLS itself; no proxy headers are trusted)."""
    return request.remote or ""
