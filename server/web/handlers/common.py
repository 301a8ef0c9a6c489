"""Small helpers every handler uses: route markers and access to env/actor."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from server.services.context import Actor, Env
from server.web.keys import ACTOR, ENV

Handler = Callable[[web.Request], object]


def public(handler: Handler) -> Handler:
    """Mark a handler as needing no authentication."""
    handler.public = True  # type: ignore[attr-defined]
    return handler


def works_read_only(handler: Handler) -> Handler:
    """Mark a write route that also works on a node that cannot write its database."""
    handler.works_read_only = True  # type: ignore[attr-defined]
    return handler


def before_password_change(handler: Handler) -> Handler:
    """Mark a handler as usable while the user must still change its password."""
    handler.before_password_change = True  # type: ignore[attr-defined]
    return handler


def before_totp_setup(handler: Handler) -> Handler:
    """Mark a handler as usable while the user must still enrol in TOTP."""
    handler.before_totp_setup = True  # type: ignore[attr-defined]
    return handler


def env(request: web.Request) -> Env:
    """The shared service environment."""
    return request.app[ENV]


def actor(request: web.Request) -> Actor:
    """The authenticated user of this request."""
    return request[ACTOR]


def client_ip(request: web.Request) -> str:
    """The peer address (Strongroom terminates TLS itself; no proxy headers are trusted)."""
    return request.remote or ""
